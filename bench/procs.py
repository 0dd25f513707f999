"""Sluice processes for the end-to-end scenarios: API, workers, a fresh database.

Everything listens on loopback only. Distributed mode uses the PostgreSQL and Redis of
this machine (the tests' ``SLUICE_TEST_POSTGRES_URL`` and ``SLUICE_TEST_REDIS_URL``) with a fresh
database and a queue name of its own per run, both removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

POSTGRES_URL = os.environ.get("SLUICE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Unavailable(RuntimeError):
    """A service a scenario needs is not running here."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(url_host: str, port: int) -> bool:
    try:
        with socket.create_connection((url_host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _host_port(url: str, default: int) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("+asyncpg", ""))
    return parts.hostname or "127.0.0.1", parts.port or default


def need_services() -> None:
    if not port_open(*_host_port(POSTGRES_URL, 5432)):
        raise Unavailable(f"no PostgreSQL at {POSTGRES_URL}")
    if not port_open(*_host_port(REDIS_URL, 6379)):
        raise Unavailable(f"no Redis at {REDIS_URL}")


async def _admin(statement: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def _drop_queue_keys(queue: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{queue}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


class Process:
    """One ``sluice`` subprocess with its log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sluice", *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Deployment:
    """An API process and its workers (distributed), or one embedded ``sluice serve``."""

    def __init__(self, *, distributed: bool, env: dict[str, str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
        self.distributed = distributed
        self.port = free_port()
        self.database: str | None = None
        self.queue = f"sluice-bench-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "SLUICE_DATA_DIR": str(self.dir / "data"),
            "SLUICE_EMBEDDER": "hashing",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            **(env or {}),
        }
        for name in ("DATABASE_URL", "REDIS_URL", "REDIS_HOST", "OPENAI_API_KEY", "PINECONE_API_KEY"):
            if not (env and name in env):
                self.env.pop(name, None)
        self.api: Process | None = None
        self.workers: list[Process] = []
        if distributed:
            need_services()
            self.database = f"sluice_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_admin(f'CREATE DATABASE "{self.database}"'))
            from sqlalchemy.engine import make_url

            url = make_url(POSTGRES_URL).set(database=self.database).render_as_string(hide_password=False)
            self.env.update(DATABASE_URL=url, REDIS_URL=REDIS_URL, SLUICE_QUEUE_NAME=self.queue)
            subprocess.run([sys.executable, "-m", "sluice", "migrate"], env=self.env, check=True,
                           capture_output=True, timeout=120)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_api(self, timeout: float = 90.0) -> Deployment:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.distributed:
            args.append("--no-worker")
        self.api = Process(args, self.env, self.dir / "api.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api.proc.poll() is not None:
                raise RuntimeError(f"sluice serve exited: {self.api.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"sluice serve did not answer in {timeout}s: {self.api.log.read_text()[-2000:]}")

    def add_worker(self, concurrency: int) -> Process:
        worker = Process(["worker", "--concurrency", str(concurrency)], self.env,
                         self.dir / f"worker-{len(self.workers)}.log")  # fmt: skip
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.api is not None:
            self.api.stop()
        if self.database is not None:
            with contextlib.suppress(Exception):
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            with contextlib.suppress(Exception):
                asyncio.run(_drop_queue_keys(self.queue))
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def deployment(*, distributed: bool, workers: int = 0, concurrency: int = 3, env: dict[str, str] | None = None
               ) -> Iterator[Deployment]:  # fmt: skip
    with Deployment(distributed=distributed, env=env) as d:
        d.start_api()
        for _ in range(workers):
            d.add_worker(concurrency)
        yield d


def wait_workers_ready(d: Deployment, seconds: float = 3.0) -> None:
    """Workers take a moment to import and connect; a warm-up job proves they are up."""
    time.sleep(seconds)
