"""A distributed Sluice on one machine: API and worker processes over PostgreSQL and Redis.

Each cluster gets its own PostgreSQL database, its own SAQ queue name and its own data
folder, so clusters of concurrent test runs never see each other's jobs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from server import Server, free_port

from adapters.sqlalchemy.migrations import upgrade_async
from services import POSTGRES_URL, _admin, blocking, need, port_open


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Database:
    """A fresh migrated PostgreSQL database, dropped on close."""

    def __init__(self, server_url: str = POSTGRES_URL) -> None:
        from sqlalchemy.engine import make_url

        self.server_url = server_url
        server = make_url(server_url)
        if not port_open(server.host or "127.0.0.1", server.port or 5432):
            need("PostgreSQL", f"nothing listens at {server.host}:{server.port}")
        self.name = f"sluice_e2e_{uuid.uuid4().hex[:10]}"
        blocking(_admin(f'CREATE DATABASE "{self.name}"', server_url))
        self.url = server.set(database=self.name).render_as_string(hide_password=False)
        blocking(upgrade_async(self.url))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            blocking(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', self.server_url))


class PrivateRedis:
    """A redis-server of this test's own, so it can be restarted without hurting others."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            need("redis-server", "the binary is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.workdir)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "redis-server to listen")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        wait_for(lambda: not port_open("127.0.0.1", self.port), 10, "redis-server to stop")


class Worker:
    def __init__(self, env: dict[str, str], log: Path, concurrency: int) -> None:
        self.env = env
        self.log = log
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        cmd = [sys.executable, "-m", "sluice", "worker", "--concurrency", str(self.concurrency)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Cluster:
    def __init__(
        self, tmp: Path, *, redis_url: str, env: dict[str, str] | None = None, postgres: str = POSTGRES_URL
    ) -> None:
        self.tmp = tmp
        self.db = Database(postgres)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db.url,
            "REDIS_URL": redis_url,
            "SLUICE_QUEUE_NAME": f"sluice-e2e-{uuid.uuid4().hex[:8]}",
            "SLUICE_DATA_DIR": str(tmp / "data"),
            "LOG_LEVEL": "INFO",
            "JOB_LEASE_SECONDS": "6",
            "JOB_ORPHAN_SECONDS": "5",
            **(env or {}),
        }
        self.api = Server(tmp / "data", env=self.env, args=("--no-worker",))
        self.workers: list[Worker] = []

    def start_api(self) -> Cluster:
        self.api.start()
        return self

    def add_worker(self, concurrency: int = 2) -> Worker:
        worker = Worker(self.env, self.tmp / f"worker-{len(self.workers)}.log", concurrency).start()
        self.workers.append(worker)
        return worker

    def http(self) -> httpx.Client:
        return self.api.client()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.api.stop()
        self.db.close()


__all__ = ["Cluster", "Database", "PrivateRedis", "Worker", "socket", "wait_for"]


class PrivatePostgres:
    """A PostgreSQL server of this test's own (initdb in a temporary folder), so it can be
    stopped and started mid-run without disturbing anyone else's tests."""

    def __init__(self) -> None:
        import glob
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins or shutil.which("runuser") is None:
            need("PostgreSQL server binaries", "pg_ctl/initdb or runuser not found")
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
        self.data = self.dir / "data"
        os.chmod(self.dir, 0o777)
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PrivatePostgres:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"]
        )
        return self

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
