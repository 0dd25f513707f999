"""The ``sluice`` command."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import uuid

import click

from domain.errors import SluiceError
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SluiceError as exc:
        raise click.ClickException(f"configuration: {exc.message}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sluice")
def main() -> None:
    """Sluice: turn an agent's files, text and websites into searchable vectors."""


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that might resolve anywhere


def _check_vector_model(settings: Settings) -> None:
    """Refuse to start, with one readable line, on an index built with another embedding model."""
    if settings.pinecone.api_key:
        return
    from adapters.local.model_stamp import check_model
    from entrypoints.container import build_container, embedder_setting

    model = build_container(settings).embedder().model
    try:
        check_model(settings.data_dir / "vectors", model, embedder_setting=embedder_setting(settings))
    except SluiceError as exc:
        raise click.ClickException(exc.message) from exc


@main.command()
@click.option("--host", default=None, help="Address to listen on [SLUICE_HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [SLUICE_PORT, default 8000].")
@click.option("--no-worker", is_flag=True, help="API only; jobs run in separate `sluice worker` processes.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str | None, port: int | None, no_worker: bool, reload: bool) -> None:
    """Run the HTTP API, with its integrated worker unless --no-worker."""
    import uvicorn

    settings = _settings()
    configure_logging(settings.log_level)
    os.environ["SLUICE_RUN_WORKER"] = "0" if no_worker else "1"
    host = host or settings.host
    port = port or settings.port
    if not settings.auth_enabled:
        if not is_loopback(host):
            raise click.UsageError(
                f"refusing to listen on {host}: authentication is off (SLUICE_ADMIN_API_KEY is not set), "
                "so anyone who can reach the port could do everything. Set SLUICE_ADMIN_API_KEY, "
                "or listen on a loopback address (127.0.0.1, ::1, localhost)."
            )
        click.echo(f"Authentication is off (no SLUICE_ADMIN_API_KEY): listening on loopback only ({host}:{port}).")
    _check_vector_model(settings)
    mode = "embedded" if settings.is_embedded_store and not settings.redis.url else "distributed"
    click.echo(
        f"Sluice {mode} mode: data in {settings.data_dir.resolve()}"
        if mode == "embedded"
        else "Sluice distributed mode"
    )
    uvicorn.run(
        "entrypoints.asgi:create",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[os.path.dirname(os.path.dirname(__file__))] if reload else None,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the structured logging set up by configure_logging
        timeout_graceful_shutdown=15,
        # Longer than the idle timeout of common load balancers and HTTP client pools
        # (60 s), so the server never closes a kept-alive connection a client is about
        # to reuse: uvicorn's 5 s default made busy clients fail with a read error.
        timeout_keep_alive=75,
    )


@main.command()
@click.option("--concurrency", type=int, default=None, help="Jobs in parallel [JOB_CONCURRENCY, default 3].")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def worker(concurrency: int | None, reload: bool) -> None:
    """Run jobs in this process (a worker separate from the API)."""
    settings = _settings()
    configure_logging(settings.log_level)
    _check_vector_model(settings)
    if reload:
        import watchfiles

        source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        click.echo(f"watching {source} for changes")
        watchfiles.run_process(source, target=_worker_process, args=(concurrency,))
        return
    asyncio.run(_run_worker(settings, concurrency))


def _worker_process(concurrency: int | None) -> None:
    """Entry of the child process that --reload restarts."""
    settings = _settings()
    configure_logging(settings.log_level)
    asyncio.run(_run_worker(settings, concurrency))


async def _run_worker(settings: Settings, concurrency: int | None) -> None:
    from entrypoints.container import build_container
    from entrypoints.runtime import Worker, close, migrate

    container = build_container(settings)
    if settings.is_embedded_store:
        await migrate(container)
    # Embedded, the API's in-process queue cannot reach this process: the worker takes
    # pending jobs straight from the table, as soon as they are committed.
    grace = 0.0 if not settings.redis.url else None
    runtime = Worker(container, concurrency=concurrency, grace_seconds=grace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    click.echo(f"worker {container.config().worker_id} running {runtime.concurrency} job(s) at a time")
    await stop.wait()
    click.echo("stopping: finishing running jobs")
    await runtime.stop()
    await close(container)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        from entrypoints.container import build_container
        from entrypoints.runtime import close
        from entrypoints.runtime import migrate as do_migrate

        container = build_container(settings)
        await do_migrate(container)
        await close(container)

    asyncio.run(run())
    click.echo(f"database is up to date ({'SQLite' if settings.is_embedded_store else 'PostgreSQL'})")


@main.command()
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds each check may take.")
def check(timeout: float) -> None:
    """Check the deployment: services reachable, a job end to end, queue health."""
    settings = _settings()
    configure_logging("ERROR")

    async def run() -> bool:
        from entrypoints.check import Checker
        from entrypoints.container import build_container
        from entrypoints.runtime import close

        container = build_container(settings)
        checker = Checker(container, timeout=timeout)
        try:
            ok = await checker.run()
        finally:
            await close(container)
        for line in checker.lines:
            click.echo(f"{'PASS' if line.ok else 'FAIL'}  {line.name}: {line.detail}")
        return ok

    if not asyncio.run(run()):
        raise SystemExit(1)


@main.command()
@click.argument("agent_id", type=click.UUID)
@click.argument("query")
@click.option("--top-k", "-k", type=int, default=5, show_default=True)
def search(agent_id: uuid.UUID, query: str, top_k: int) -> None:
    """Search an agent's chunks (local data)."""
    settings = _settings()
    configure_logging("WARNING")

    async def run() -> list:
        from entrypoints.container import build_container
        from entrypoints.runtime import close

        container = build_container(settings)
        try:
            return await container.search().search(agent_id, query, top_k=top_k)
        finally:
            await close(container)

    try:
        hits = asyncio.run(run())
    except SluiceError as exc:
        raise click.ClickException(exc.message) from exc
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet if len(snippet) <= 240 else snippet[:237] + "..."
        click.echo(f"{rank}. {hit.score:.3f}  {hit.source_name or hit.source_id} #{hit.chunk_index}")
        click.echo(f"   {snippet}")


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reindex(yes: bool) -> None:
    """Empty the local vector index and re-process every source with the current embedder.

    Run it (with the server stopped) after changing SLUICE_EMBEDDER on a data folder
    that holds vectors of the former model; the jobs it queues run when the server or a
    worker starts. Searches find a source again once its job has completed.
    """
    settings = _settings()
    configure_logging("WARNING")
    if settings.pinecone.api_key:
        raise click.ClickException("reindex empties the local vector index; with Pinecone, re-process sources instead")
    if not yes:
        click.confirm(
            f"empty the vector index in {settings.data_dir / 'vectors'} and re-process every source?", abort=True
        )

    async def run() -> tuple[int, int]:
        from adapters.local.model_stamp import record_model
        from adapters.local.vectors import FILENAME
        from domain.errors import Conflict
        from domain.pagination import PageRequest
        from entrypoints.container import build_container, embedder_setting
        from entrypoints.runtime import close
        from entrypoints.runtime import migrate as do_migrate

        container = build_container(settings)
        folder = settings.data_dir / "vectors"
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{FILENAME}{suffix}").unlink(missing_ok=True)
        record_model(folder, container.embedder().model, embedder_setting(settings))
        queued = skipped = 0
        try:
            await do_migrate(container)
            agents, sources = container.agents(), container.sources()
            agent_page = await agents.list_agents(PageRequest(limit=200))
            while True:
                for agent in agent_page.items:
                    page = await sources.list_sources(agent.id, PageRequest(limit=200))
                    while True:
                        for source in page.items:
                            try:
                                await sources.reprocess_source(agent.id, source.id)
                                queued += 1
                            except Conflict:
                                skipped += 1  # its active job re-embeds it anyway
                        if not page.next_cursor:
                            break
                        page = await sources.list_sources(agent.id, PageRequest.parse(200, page.next_cursor))
                if not agent_page.next_cursor:
                    break
                agent_page = await agents.list_agents(PageRequest.parse(200, agent_page.next_cursor))
        finally:
            await close(container)
        return queued, skipped

    queued, skipped = asyncio.run(run())
    click.echo(
        f"vector index emptied; {queued} source(s) queued for re-processing"
        + (f", {skipped} already had an active job" if skipped else "")
        + " (they run when `sluice serve` or a worker starts)"
    )


# ingest, jobs, sources, agents: on the local data or a server (entrypoints.console).
from entrypoints.console import register  # noqa: E402

register(main)
