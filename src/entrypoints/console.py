"""The CLI's commands on agents, sources and jobs: ``ingest``, ``jobs``, ``sources``, ``agents``.

Each works on the local data (as configured for ``sluice serve``) or, with ``--server``
(``SLUICE_SERVER``), on a running server, with ``--key`` (``SLUICE_API_KEY``) when it
asks for one. Progress bars and tables are drawn with rich.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.files import EXTENSIONS
from entrypoints.backends import Backend, BackendError, local_backend, remote_backend

T = TypeVar("T")

# What a folder walk picks up; a file named on the command line is always tried.
INGESTIBLE = frozenset(EXTENSIONS)
STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
    "processing": "cyan",
    "pending": "yellow",
}
JOB_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")

console = Console(highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


# -- plumbing --------------------------------------------------------------------------


def where_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--server`` and ``--key``, from the environment when not given."""
    command = click.option(
        "--key", envvar="SLUICE_API_KEY", default=None, help="API key of the server [SLUICE_API_KEY]."
    )(command)
    return click.option(
        "--server",
        envvar="SLUICE_SERVER",
        default=None,
        metavar="URL",
        help="Act on this server instead of the local data [SLUICE_SERVER].",
    )(command)


@contextlib.asynccontextmanager
async def _backend(server: str | None, key: str | None, *, worker: bool = False) -> AsyncIterator[Backend]:
    if server:
        async with remote_backend(server, key) as remote:
            yield remote
    else:
        from entrypoints.logs import configure_logging

        configure_logging("ERROR")  # a job's failure is reported by the command itself
        async with local_backend(worker=worker) as local:
            yield local


def _run(work: Awaitable[T]) -> T:
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except BackendError as exc:
        raise click.ClickException(exc.message) from exc


async def resolve_agent(backend: Backend, ref: str, *, create: bool = False) -> dict[str, Any]:
    """An agent by id or by name; with ``create``, a new one named ``ref`` if none is."""
    agents = await backend.list_agents()
    by_id = [a for a in agents if a["id"] == ref.lower()]
    if by_id:
        return by_id[0]
    named = [a for a in agents if a["name"] == ref] or [a for a in agents if a["name"].lower() == ref.lower()]
    if len(named) > 1:
        ids = ", ".join(a["id"] for a in named)
        raise BackendError(f"{len(named)} agents are named {ref!r} ({ids}): pass the id")
    if named:
        return named[0]
    if not create:
        raise BackendError(f"no agent with id or name {ref!r} on {backend.where}")
    agent = await backend.create_agent(ref)
    _stderr().print(f"created agent [bold]{agent['name']}[/] ({agent['id']}) on {backend.where}")
    return agent


def _ago(iso: str | None) -> str:
    if not iso:
        return ""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 0:
        return f"in {-seconds:.0f} s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _next_retry(job: dict[str, Any]) -> str:
    at = job.get("scheduledFor")
    if job["status"] != "pending" or not at:
        return ""
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    seconds = (when - datetime.now(UTC)).total_seconds()
    return f"in {seconds:.0f} s" if seconds > 0 else ""


def _percent(job: dict[str, Any]) -> float:
    if job["status"] == "completed":
        return 100.0
    try:
        return max(0.0, min(100.0, float((job.get("progress") or {}).get("percent", 0))))
    except (TypeError, ValueError):
        return 0.0


def _detail(job: dict[str, Any]) -> str:
    status = job["status"]
    progress = job.get("progress") or {}
    if status == "failed":
        return "[red]failed[/] (the reason follows)"
    if status == "cancelled":
        return "[dim]cancelled[/]"
    if status == "completed":
        result = job.get("result") or {}
        chunks = result.get("chunks", progress.get("chunks_total"))
        return "[green]completed[/]" + (f" · {chunks} chunks" if chunks is not None else "")
    parts = [progress.get("stage") or status]
    if progress.get("pages_total"):
        parts.append(f"page {progress.get('pages_done', 0)}/{progress['pages_total']}")
    if progress.get("pages_crawled") is not None:
        parts.append(f"{progress['pages_crawled']} pages")
    if progress.get("chunks_total"):
        parts.append(f"{progress.get('chunks_done', 0)}/{progress['chunks_total']} chunks")
    retry = _next_retry(job)
    if retry:
        parts.append(f"[yellow]retry {retry}[/] after: {_short(job.get('errorMessage') or 'an error')}")
    return " · ".join(str(p) for p in parts)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def _follow(backend: Backend, progress: Progress, task: TaskID, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = {"status": "pending"}
    async for job in backend.watch(job_id):
        progress.update(task, completed=_percent(job), detail=_detail(job))
    if job["status"] == "completed":
        # The final record has the result (chunk count); events do not.
        job = await backend.get_job(job_id)
        progress.update(task, completed=100, detail=_detail(job))
    return job


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, '')}]{status}[/]"


# -- ingest ----------------------------------------------------------------------------


def _targets(inputs: tuple[str, ...]) -> tuple[list[tuple[str, Any, str]], list[Path]]:
    """What to ingest, as (kind, what, name), and the files a folder walk skipped."""
    targets: list[tuple[str, Any, str]] = []
    skipped: list[Path] = []
    for item in inputs:
        if item == "-":
            targets.append(("text", None, "stdin"))
        elif item.startswith(("http://", "https://")):
            targets.append(("url", item, item))
        else:
            path = Path(item)
            if path.is_dir():
                for child in sorted(path.rglob("*")):
                    rel = child.relative_to(path)
                    if any(part.startswith(".") for part in rel.parts) or not child.is_file():
                        continue
                    if child.suffix.lower() in INGESTIBLE:
                        targets.append(("file", child, rel.as_posix()))
                    else:
                        skipped.append(child)
            elif path.is_file():
                targets.append(("file", path, path.name))
            else:
                raise click.BadParameter(f"{item}: no such file or folder (or a URL starting with http)")
    return targets, skipped


async def _ingest(
    backend: Backend, agent_ref: str, targets: list[tuple[str, Any, str]], name: str | None, wait: bool
) -> int:
    agent = await resolve_agent(backend, agent_ref, create=True)
    err = _stderr()
    queued: list[tuple[str, dict[str, Any]]] = []
    failures = 0
    for kind, what, label in targets:
        try:
            if kind == "text":
                text = sys.stdin.read()
                if not text.strip():
                    raise BackendError("stdin: no text to ingest")
                source = await backend.add_text(agent["id"], text, name or "stdin")
            elif kind == "url":
                source = await backend.add_website(agent["id"], what, name)
            else:
                source = await backend.add_file(agent["id"], what, name if name and len(targets) == 1 else label)
        except BackendError as exc:
            failures += 1
            err.print(f"[red]✗[/] {label}: {exc.message}")
            continue
        queued.append((label, source))
    if not queued:
        err.print("[red]nothing was queued[/]")
        return 1
    if not wait:
        table = Table(title=f"queued for agent {agent['name']} on {backend.where}")
        table.add_column("source", overflow="fold")
        for column in ("source id", "job id"):
            table.add_column(column, no_wrap=True)
        for label, source in queued:
            table.add_row(label, source["id"], source.get("jobId") or "")
        console.print(table)
        if backend.where.startswith("local"):
            err.print("jobs run in `sluice serve` or `sluice worker` on this data; --wait runs them here")
        else:
            err.print("follow them with `sluice jobs watch JOB_ID` or --wait")
        return 1 if failures else 0

    with _progress() as progress:
        tasks = [
            (label, progress.add_task(label, total=100, detail="queued"), source["jobId"]) for label, source in queued
        ]
        results = await asyncio.gather(*(_follow(backend, progress, task, job_id) for _, task, job_id in tasks))
    done = sum(job["status"] == "completed" for job in results)
    for (label, _, _), job in zip(tasks, results, strict=True):
        if job["status"] != "completed":
            failures += 1
            reason = job.get("errorMessage") or job["status"]
            err.print(f"[red]✗[/] {label}: job {job['id']} {job['status']}: {reason}")
    summary = f"{done} of {len(targets)} ingested into agent {agent['name']} ({agent['id']})"
    (err if failures else console).print(("[red]" if failures else "[green]") + summary + "[/]")
    return 1 if failures else 0


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="PATH|URL|-...")
@click.option("--agent", "-a", "agent_ref", required=True, help="Agent id or name (a new agent if no agent has it).")
@click.option("--wait", "-w", is_flag=True, help="Follow every job with a progress bar until it ends.")
@click.option("--name", default=None, help="Source name (for stdin, a URL or a single file).")
@where_options
def ingest(
    inputs: tuple[str, ...], agent_ref: str, wait: bool, name: str | None, server: str | None, key: str | None
) -> None:
    """Ingest files, folders (recursively), website URLs or stdin text (-) into an agent.

    Exits 1 when anything could not be queued or (with --wait) did not complete.
    """
    targets, skipped = _targets(inputs)
    if skipped:
        kinds = sorted({p.suffix.lower() or "(none)" for p in skipped})
        _stderr().print(f"skipped {len(skipped)} file(s) of other types: {', '.join(kinds)}")
    if not targets:
        raise click.ClickException("nothing to ingest")

    async def run() -> int:
        # Locally, --wait runs the jobs in this process; without it they wait for a worker.
        async with _backend(server, key, worker=wait) as backend:
            return await _ingest(backend, agent_ref, targets, name, wait)

    code = _run(run())
    if code:
        raise SystemExit(code)


# -- jobs ------------------------------------------------------------------------------


def _jobs_table(rows: list[tuple[dict[str, Any], dict[str, Any]]], names: dict[str, str]) -> Table:
    table = Table()
    table.add_column("job", no_wrap=True)
    for column in ("agent", "source", "status", "progress", "tries", "next retry", "error", "updated"):
        table.add_column(column, overflow="fold")
    for agent, job in rows:
        table.add_row(
            job["id"],
            agent["name"],
            names.get(job["dataSourceId"], job["dataSourceId"]),
            _status(job["status"]),
            f"{_percent(job):.0f}%",
            f"{job['attempts']}/{job['maxAttempts']}",
            _next_retry(job),
            job.get("errorMessage") or "",
            _ago(job.get("updatedAt")),
        )
    return table


@click.group(invoke_without_command=True)
@click.option("--agent", "-a", "agent_ref", default=None, help="Agent id or name (default: every agent).")
@click.option("--status", type=click.Choice(JOB_STATUSES), default=None, help="Only jobs in this status.")
@where_options
@click.pass_context
def jobs(ctx: click.Context, agent_ref: str | None, status: str | None, server: str | None, key: str | None) -> None:
    """List jobs, newest first; `sluice jobs watch ID` follows one."""
    if ctx.invoked_subcommand is not None:
        return

    async def run() -> None:
        async with _backend(server, key) as backend:
            agents = [await resolve_agent(backend, agent_ref)] if agent_ref else await backend.list_agents()
            rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
            names: dict[str, str] = {}
            for agent in agents:
                rows += [(agent, job) for job in await backend.list_jobs(agent["id"], status)]
                names.update({s["id"]: s["name"] for s in await backend.list_sources(agent["id"])})
        rows.sort(key=lambda r: r[1]["createdAt"], reverse=True)
        if not rows:
            console.print(f"no jobs on {backend.where}")
            return
        console.print(_jobs_table(rows, names))

    _run(run())


@jobs.command("watch")
@click.argument("job_id")
@where_options
def watch(job_id: str, server: str | None, key: str | None) -> None:
    """Follow a job with a progress bar until it ends (exit 1 unless it completed)."""

    async def run() -> dict[str, Any]:
        async with _backend(server, key) as backend:
            job = await backend.get_job(job_id)
            with _progress() as progress:
                task = progress.add_task(f"{job['type']} {job['id'][:8]}", total=100, detail=job["status"])
                return await _follow(backend, progress, task, job["id"])

    job = _run(run())
    if job["status"] != "completed":
        _stderr().print(f"[red]job {job['id']} {job['status']}: {job.get('errorMessage') or ''}[/]")
        raise SystemExit(1)


# -- sources and agents ----------------------------------------------------------------


@click.command()
@click.option("--agent", "-a", "agent_ref", required=True, help="Agent id or name.")
@where_options
def sources(agent_ref: str, server: str | None, key: str | None) -> None:
    """List an agent's sources, newest first."""

    async def run() -> None:
        async with _backend(server, key) as backend:
            agent = await resolve_agent(backend, agent_ref)
            items = await backend.list_sources(agent["id"])
        if not items:
            console.print(f"agent {agent['name']} has no sources")
            return
        table = Table(title=f"sources of {agent['name']}")
        table.add_column("source", no_wrap=True)
        for column in ("name", "type", "status", "chunks", "size / url", "updated"):
            table.add_column(column, overflow="fold")
        for s in items:
            size = s.get("url") or (f"{s['sizeBytes']:,} B" if s.get("sizeBytes") is not None else "")
            table.add_row(
                s["id"], s["name"], s["type"], _status(s["status"]), str(s["chunkCount"]), size, _ago(s["updatedAt"])
            )
        console.print(table)

    _run(run())


@click.group(invoke_without_command=True)
@where_options
@click.pass_context
def agents(ctx: click.Context, server: str | None, key: str | None) -> None:
    """List agents (`sluice agents create NAME` adds one)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_agents, server=server, key=key)


@agents.command("list")
@where_options
def list_agents(server: str | None, key: str | None) -> None:
    """List agents with their counts."""

    async def run() -> list[dict[str, Any]]:
        async with _backend(server, key) as backend:
            return [await backend.get_agent(a["id"]) for a in await backend.list_agents()]

    items = _run(run())
    if not items:
        console.print("no agents yet: `sluice agents create NAME`")
        return
    table = Table()
    table.add_column("agent", no_wrap=True)
    for column in ("name", "sources", "chunks", "active", "failed", "created"):
        table.add_column(column, overflow="fold")
    for a in items:
        counts = a.get("counts") or {"sources": "", "chunks": "", "jobs": {}}
        jobs_by = counts["jobs"]
        active = jobs_by.get("pending", 0) + jobs_by.get("processing", 0)
        table.add_row(
            a["id"],
            a["name"],
            str(counts["sources"]),
            str(counts["chunks"]),
            str(active),
            str(jobs_by.get("failed", 0)),
            _ago(a["createdAt"]),
        )
    console.print(table)


@agents.command("create")
@click.argument("name")
@click.option("--description", default=None)
@where_options
def create_agent(name: str, description: str | None, server: str | None, key: str | None) -> None:
    """Create an agent; prints its id."""

    async def run() -> dict[str, Any]:
        async with _backend(server, key) as backend:
            return await backend.create_agent(name, description)

    agent = _run(run())
    console.print(f"created agent [bold]{agent['name']}[/]")
    click.echo(agent["id"])


def register(main: click.Group) -> None:
    for command in (ingest, jobs, sources, agents):
        main.add_command(command)
