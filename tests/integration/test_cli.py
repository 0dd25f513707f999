"""The CLI on the local embedded data: ingest with bars, jobs, sources, agents.

Each command runs in this process (click's runner) on a fresh data folder, with the
real services of the embedded mode; the library facade reads back what they did.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import documents
from entrypoints.cli import main
from entrypoints.library import Sluice
from standins.openai import OpenAIStandIn

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "guides").mkdir(parents=True)
    (folder / "returns.md").write_text("# Returns\n\nCustomers may return any item within 30 days of delivery.\n")
    (folder / "guides" / "lamps.txt").write_text("Our lighthouse desk lamps ship from Oslo with a two-year warranty.\n")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / ".hidden.md").write_text("a dot-file is not knowledge")
    return folder


def run(data: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    # A wide terminal, so table cells are not folded across lines.
    base = {"SLUICE_DATA_DIR": str(data), "SLUICE_SERVER": "", "LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    return CliRunner().invoke(main, list(args), input=input, env={**base, **(env or {})}, catch_exceptions=False)


def stored(data: Path, agent_name: str) -> tuple[list, list]:
    """The agent's sources and jobs, read through the library (not through the CLI)."""

    async def read():
        from domain.pagination import PageRequest

        async with Sluice.embedded(data, worker=False) as sluice:
            agents = (await sluice.agents.list_agents(PageRequest(limit=200))).items
            agent = next(a for a in agents if a.name == agent_name)
            sources = (await sluice.sources.list_sources(agent.id, PageRequest(limit=200))).items
            jobs = (await sluice.jobs.list_jobs(agent.id, PageRequest(limit=200))).items
            return sources, jobs

    return asyncio.run(read())


def test_ingest_a_folder_with_wait_creates_the_agent_and_completes_every_file(data: Path, docs: Path) -> None:
    result = run(data, "ingest", str(docs), "--agent", "demo", "--wait")
    assert result.exit_code == 0, result.output
    assert re.search(rf"created agent demo \({UUID}\)", result.output)
    assert "skipped 1 file(s) of other types: .png" in result.output
    assert "2 of 2 ingested into agent demo" in result.output
    assert re.search(r"returns\.md\s+━+\s+100%\s+completed · 1 chunks", result.output), result.output

    sources, jobs = stored(data, "demo")
    assert sorted(s.name for s in sources) == ["guides/lamps.txt", "returns.md"]
    assert [j.status.value for j in jobs] == ["completed", "completed"]

    # The same agent by name the second time: no second "demo".
    again = run(data, "ingest", "-", "--agent", "demo", "--wait", "--name", "note", input="Refunds take five days.")
    assert again.exit_code == 0, again.output
    assert "created agent" not in again.output and "1 of 1 ingested" in again.output

    listed = run(data, "sources", "--agent", "demo")
    assert listed.exit_code == 0
    for name in ("note", "returns.md", "guides/lamps.txt"):
        assert name in listed.output
    assert listed.output.count("completed") == 3

    completed = run(data, "jobs", "--agent", "demo", "--status", "completed")
    assert completed.exit_code == 0 and len(re.findall(UUID, completed.output)) == 3
    assert "no jobs" in run(data, "jobs", "--status", "failed").output


def test_a_failed_job_exits_1_and_says_why(data: Path, docs: Path) -> None:
    # A real embedding service that refuses the key: the job fails at once, with the cause.
    with OpenAIStandIn(api_key="sk-right") as openai:
        env = {"OPENAI_API_KEY": "sk-wrong", "OPENAI_BASE_URL": openai.base_url}
        result = run(data, "ingest", str(docs / "returns.md"), "--agent", "demo", "--wait", env=env)
    assert result.exit_code == 1, result.output
    _, jobs = stored(data, "demo")
    assert [j.status.value for j in jobs] == ["failed"]
    message = " ".join(result.output.split())
    assert f"returns.md: job {jobs[0].id} failed: " in message
    assert jobs[0].error_message and " ".join(jobs[0].error_message.split())[:60] in message
    assert "0 of 1 ingested" in message

    watched = run(data, "jobs", "watch", str(jobs[0].id))
    assert watched.exit_code == 1 and "failed" in watched.output


def test_without_wait_jobs_are_queued_for_a_worker_and_watch_follows_one(data: Path, docs: Path) -> None:
    result = run(data, "ingest", str(docs / "returns.md"), "--agent", "demo")
    assert result.exit_code == 0, result.output
    assert "sluice worker" in result.output
    _, jobs = stored(data, "demo")
    assert [j.status.value for j in jobs] == ["pending"]
    assert str(jobs[0].id) in result.output

    # Nothing runs it yet: `jobs` shows it pending; a worker started next to `watch` ends it.
    assert "pending" in run(data, "jobs", "--agent", "demo").output

    async def worker_then_watch() -> None:
        async with Sluice.embedded(data):  # a worker on the same data, as `sluice worker` would be
            await asyncio.to_thread(lambda: watch_result.append(run(data, "jobs", "watch", str(jobs[0].id))))

    watch_result: list[Result] = []
    asyncio.run(worker_then_watch())
    assert watch_result[0].exit_code == 0, watch_result[0].output
    assert "100%" in watch_result[0].output and "completed" in watch_result[0].output


def test_agents_create_list_and_unknown_names(data: Path) -> None:
    created = run(data, "agents", "create", "support bot")
    assert created.exit_code == 0
    agent_id = re.findall(UUID, created.output)[-1]
    listed = run(data, "agents")
    assert agent_id in listed.output and "support bot" in listed.output
    assert run(data, "sources", "--agent", agent_id).output.strip() == "agent support bot has no sources"
    assert run(data, "sources", "--agent", "Support Bot").exit_code == 0  # names match without case

    unknown = run(data, "sources", "--agent", "nobody")
    assert unknown.exit_code == 1 and "no agent with id or name 'nobody'" in unknown.output
    run(data, "agents", "create", "support bot")
    twice = run(data, "jobs", "--agent", "support bot")
    assert twice.exit_code == 1 and "2 agents are named 'support bot'" in twice.output


def test_a_pdf_is_ingested_locally_like_an_upload(data: Path, tmp_path: Path) -> None:
    pages = documents.page_lines(5)
    (tmp_path / "port.pdf").write_bytes(documents.pdf(pages))
    result = run(data, "ingest", str(tmp_path / "port.pdf"), "--agent", "port", "--wait")
    assert result.exit_code == 0, result.output
    assert re.search(r"port\.pdf\s+━+\s+100%\s+completed", result.output), result.output
    sources, jobs = stored(data, "port")
    assert [(s.type.value, s.content_type) for s in sources] == [("file", "application/pdf")]
    assert jobs[0].progress["pages_total"] == 5 and sources[0].chunk_count >= 1


def test_what_local_data_cannot_take_is_refused_by_name(data: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "report.pdf"
    renamed.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(200))
    result = run(data, "ingest", str(renamed), "https://example.com/", "--agent", "demo")
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "report.pdf: the file is named .pdf but is" in message
    assert "https://example.com/: websites can only be ingested through a server" in message
    assert "nothing was queued" in message
    missing = run(data, "ingest", str(tmp_path / "nope.md"), "--agent", "demo")
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
