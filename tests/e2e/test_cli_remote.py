"""The CLI against a running ``sluice serve`` (``--server`` / ``SLUICE_SERVER``), and the
acceptance command run as a real ``sluice`` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from server import Server

from entrypoints.cli import main

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KEY = "cli-admin-key-for-tests"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # API keys on where the build has them: every command below sends SLUICE_API_KEY.
    running = Server(tmp_path_factory.mktemp("cli-remote") / "data", env={"SLUICE_ADMIN_API_KEY": KEY}).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "faq").mkdir(parents=True)
    (folder / "returns.md").write_text("# Returns\n\nCustomers may return any item within 30 days of delivery.\n")
    (folder / "faq" / "shipping.txt").write_text("Parcels leave the Oslo warehouse every weekday at noon.\n")
    return folder


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None, tmp: Path) -> Result:
    # Local data that must stay untouched: every command here goes to the server.
    base = {"SLUICE_DATA_DIR": str(tmp / "local-data"), "COLUMNS": "200", "SLUICE_SERVER": "", "SLUICE_API_KEY": KEY}
    return CliRunner().invoke(main, list(args), input=input, env={**base, **(env or {})}, catch_exceptions=False)


def test_ingest_jobs_sources_and_watch_against_a_server(server: Server, docs: Path, tmp_path: Path) -> None:
    created = run("agents", "create", "remote bot", "--server", server.url, tmp=tmp_path)
    assert created.exit_code == 0, created.output
    agent_id = re.findall(UUID, created.output)[-1]

    result = run("ingest", str(docs), "--agent", "remote bot", "--wait", "--server", server.url, tmp=tmp_path)
    assert result.exit_code == 0, result.output
    assert "2 of 2 ingested into agent remote bot" in result.output
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        sources = api.get(f"/api/agents/{agent_id}/sources").json()["data"]
        jobs = api.get(f"/api/agents/{agent_id}/jobs").json()["data"]
    assert sorted(s["name"] for s in sources) == ["faq/shipping.txt", "returns.md"]
    assert [j["status"] for j in jobs] == ["completed", "completed"]

    # SLUICE_SERVER instead of --server; the agent by id.
    env = {"SLUICE_SERVER": server.url}
    queued = run(
        "ingest", "-", "--agent", agent_id, "--name", "note", input="Refunds take five days.", env=env, tmp=tmp_path
    )
    assert queued.exit_code == 0, queued.output
    job_id = re.findall(UUID, queued.output)[-1]
    watched = run("jobs", "watch", job_id, env=env, tmp=tmp_path)
    assert watched.exit_code == 0 and "100%" in watched.output, watched.output

    listed = run("sources", "--agent", "remote bot", env=env, tmp=tmp_path)
    assert all(name in listed.output for name in ("note", "returns.md", "faq/shipping.txt"))
    jobs_out = run("jobs", "--agent", "remote bot", "--status", "completed", env=env, tmp=tmp_path)
    assert len(re.findall(UUID, jobs_out.output)) == 3
    agents_out = run("agents", env=env, tmp=tmp_path)
    assert agent_id in agents_out.output and "remote bot" in agents_out.output
    assert not (tmp_path / "local-data").exists()  # nothing went to local data


def test_a_server_that_wants_a_key_says_so(server: Server, tmp_path: Path) -> None:
    if httpx.get(f"{server.url}/api/agents", timeout=10).status_code != 401:
        pytest.skip("this build has no API keys yet (SLUICE_ADMIN_API_KEY)")
    refused = run("agents", "--server", server.url, env={"SLUICE_API_KEY": ""}, tmp=tmp_path)
    assert refused.exit_code == 1 and "asks for an API key" in refused.output
    wrong = run("agents", "--server", server.url, "--key", "not-the-key", tmp=tmp_path)
    assert wrong.exit_code == 1 and "refused this one" in wrong.output
    assert run("agents", "--server", server.url, "--key", KEY, tmp=tmp_path).exit_code == 0


def test_a_server_that_cannot_be_reached_is_named(tmp_path: Path) -> None:
    result = run("agents", "--server", "http://127.0.0.1:9", tmp=tmp_path)
    assert result.exit_code == 1 and "cannot reach http://127.0.0.1:9" in result.output


def test_the_acceptance_command_as_a_real_process(tmp_path: Path, docs: Path) -> None:
    """`sluice ingest ./docs --agent demo --wait`, in the folder a user would be in."""
    env = {**os.environ, "SLUICE_DATA_DIR": str(tmp_path / "data"), "SLUICE_SERVER": ""}
    done = subprocess.run(
        [sys.executable, "-m", "sluice", "ingest", "./docs", "--agent", "demo", "--wait"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created agent demo" in done.stderr
    assert "2 of 2 ingested into agent demo" in done.stdout
    assert re.search(r"faq/shipping\.txt\s+━+\s+100%", done.stdout)
