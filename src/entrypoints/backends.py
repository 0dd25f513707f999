"""Where the CLI's commands act: the local data (the library facade) or a remote server.

Both answer with the API's JSON shapes (camelCase dicts: an agent, a source with its
``jobId``, a job), so a command renders the same thing whichever it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import msgspec

from domain.errors import NotFound, SluiceError
from domain.jobs import JobStatus
from domain.pagination import PageRequest

TERMINAL = frozenset({"completed", "failed", "cancelled"})
# Sent as text sources to a server that has no file uploads.
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
PAGE = 200


class BackendError(Exception):
    """What a user should read: the server's or the service's own message."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Backend(Protocol):
    where: str

    async def list_agents(self) -> list[dict[str, Any]]: ...
    async def create_agent(self, name: str, description: str | None = None) -> dict[str, Any]: ...
    async def get_agent(self, agent_id: str) -> dict[str, Any]: ...
    async def add_text(self, agent_id: str, text: str, name: str | None) -> dict[str, Any]: ...
    async def add_file(self, agent_id: str, path: Path, name: str) -> dict[str, Any]: ...
    async def add_website(self, agent_id: str, url: str, name: str | None) -> dict[str, Any]: ...
    async def list_sources(self, agent_id: str) -> list[dict[str, Any]]: ...
    async def list_jobs(self, agent_id: str, status: str | None) -> list[dict[str, Any]]: ...
    async def get_job(self, job_id: str) -> dict[str, Any]: ...
    def watch(self, job_id: str) -> AsyncIterator[dict[str, Any]]: ...


def read_text_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BackendError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise BackendError(f"{what} {value!r} is not an id") from exc


def _job_of_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event payload under the names of a job (``id``, ``dataSourceId``)."""
    return {**event, "id": event["jobId"], "dataSourceId": event["sourceId"]}


# -- local -----------------------------------------------------------------------------


class LocalBackend:
    """The data this machine's settings point at (the embedded folder by default)."""

    def __init__(self, sluice: Any, where: str) -> None:
        from entrypoints.library import Sluice

        self.sluice: Sluice = sluice
        self.where = where

    @staticmethod
    def _out(value: Any) -> dict[str, Any]:
        return msgspec.to_builtins(value)

    async def list_agents(self) -> list[dict[str, Any]]:
        from entrypoints.api.schemas import AgentOut

        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.sluice.agents.list_agents(PageRequest.parse(PAGE, cursor))
            out += [self._out(AgentOut.of(a)) for a in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return out

    async def create_agent(self, name: str, description: str | None = None) -> dict[str, Any]:
        from entrypoints.api.schemas import AgentOut

        return self._out(AgentOut.of(await self._call(self.sluice.agents.create_agent(name, description=description))))

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        from entrypoints.api.schemas import AgentOut

        agent = await self._call(self.sluice.agents.get_agent(_uuid(agent_id, "agent")))
        return self._out(AgentOut.of(agent, await self.sluice.agents.stats(agent)))

    async def add_text(self, agent_id: str, text: str, name: str | None) -> dict[str, Any]:
        from entrypoints.api.schemas import SourceOut

        source, _ = await self._call(self.sluice.sources.create_text_source(_uuid(agent_id, "agent"), text, name=name))
        return self._out(SourceOut.of(source))

    async def add_file(self, agent_id: str, path: Path, name: str) -> dict[str, Any]:
        """As an upload: stored once its first bytes agree with its name, then its job."""
        from entrypoints.api.schemas import SourceOut

        async def content() -> AsyncIterator[bytes]:
            with path.open("rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, 1 << 20):
                    yield chunk

        sources = self.sluice.sources
        stored = await self._call(sources.store_file(_uuid(agent_id, "agent"), path.name, content()))
        source, _ = await self._call(sources.create_file_source(stored, name=name))
        return self._out(SourceOut.of(source))

    async def add_website(self, agent_id: str, url: str, name: str | None) -> dict[str, Any]:
        raise BackendError(f"{url}: websites can only be ingested through a server (--server URL)")

    async def list_sources(self, agent_id: str) -> list[dict[str, Any]]:
        from entrypoints.api.schemas import SourceOut

        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self._call(
                self.sluice.sources.list_sources(_uuid(agent_id, "agent"), PageRequest.parse(PAGE, cursor))
            )
            out += [self._out(SourceOut.of(s)) for s in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return out

    async def list_jobs(self, agent_id: str, status: str | None) -> list[dict[str, Any]]:
        from entrypoints.api.schemas import JobOut

        out: list[dict[str, Any]] = []
        cursor = None
        wanted = JobStatus(status) if status else None
        while True:
            page = await self._call(
                self.sluice.jobs.list_jobs(_uuid(agent_id, "agent"), PageRequest.parse(PAGE, cursor), status=wanted)
            )
            out += [self._out(JobOut.of(j)) for j in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return out

    async def get_job(self, job_id: str) -> dict[str, Any]:
        from entrypoints.api.schemas import JobOut

        return self._out(JobOut.of(await self._call(self.sluice.jobs.get_job(_uuid(job_id, "job")))))

    async def watch(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        # The job's own record, read often: it is the truth wherever the worker runs
        # (in this process, or a `sluice worker` on the same data), and a read is cheap.
        last = None
        while True:
            job = await self.get_job(job_id)
            if job["updatedAt"] != last:
                last = job["updatedAt"]
                yield job
            if job["status"] in TERMINAL:
                return
            await asyncio.sleep(0.2)

    @staticmethod
    async def _call(work: Any) -> Any:
        try:
            return await work
        except SluiceError as exc:
            raise BackendError(exc.message, status=404 if isinstance(exc, NotFound) else 400) from exc


@contextlib.asynccontextmanager
async def local_backend(*, worker: bool) -> AsyncIterator[LocalBackend]:
    from entrypoints.library import Sluice
    from entrypoints.settings import Settings

    try:
        settings = Settings.from_env()
    except SluiceError as exc:
        raise BackendError(f"configuration: {exc.message}") from exc
    where = f"local data in {settings.data_dir.resolve()}" if settings.is_embedded_store else "the local database"
    sluice = Sluice.from_env(worker=worker)
    await sluice.start()
    try:
        yield LocalBackend(sluice, where)
    finally:
        await sluice.stop()


# -- remote ----------------------------------------------------------------------------


class RemoteBackend:
    """A Sluice server's HTTP API (``--server``), with an API key when it asks for one."""

    def __init__(self, client: httpx.AsyncClient, server: str) -> None:
        self.client = client
        self.where = f"server {server}"
        self._server = server

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {self._server}: {exc.__class__.__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 401:
            raise BackendError(
                f"{self._server} asks for an API key, or refused this one (--key or SLUICE_API_KEY)", status=401
            )
        if response.status_code >= 400 or not isinstance(body, dict) or body.get("success") is False:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = error.get("message") or f"{response.status_code} {response.reason_phrase}"
            raise BackendError(message, status=response.status_code)
        return body

    async def _all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**(params or {}), "limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
            body = await self._request("GET", path, params=query)
            out += body["data"]
            cursor = (body.get("pagination") or {}).get("nextCursor")
            if not cursor:
                return out

    async def list_agents(self) -> list[dict[str, Any]]:
        return await self._all("/api/agents")

    async def create_agent(self, name: str, description: str | None = None) -> dict[str, Any]:
        body = {"name": name, **({"description": description} if description else {})}
        return (await self._request("POST", "/api/agents", json=body))["data"]

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        return (await self._request("GET", f"/api/agents/{agent_id}"))["data"]

    async def add_text(self, agent_id: str, text: str, name: str | None) -> dict[str, Any]:
        body = {"text": text, **({"name": name} if name else {})}
        return (await self._request("POST", f"/api/agents/{agent_id}/sources/text", json=body))["data"]

    async def add_file(self, agent_id: str, path: Path, name: str) -> dict[str, Any]:
        try:
            with path.open("rb") as handle:
                files = {"file": (path.name, handle)}
                body = await self._request(
                    "POST", f"/api/agents/{agent_id}/sources/file", files=files, data={"name": name}
                )
            return body["data"]
        except BackendError as exc:
            # A server without file uploads still takes plain text as a text source.
            if exc.status in (404, 405) and path.suffix.lower() in TEXT_SUFFIXES:
                return await self.add_text(agent_id, read_text_file(path), name)
            if exc.status in (404, 405):
                raise BackendError(f"{path}: this server has no file uploads") from exc
            raise

    async def add_website(self, agent_id: str, url: str, name: str | None) -> dict[str, Any]:
        body = {"url": url, **({"name": name} if name else {})}
        try:
            return (await self._request("POST", f"/api/agents/{agent_id}/sources/website", json=body))["data"]
        except BackendError as exc:
            if exc.status in (404, 405):
                raise BackendError(f"{url}: this server has no website sources") from exc
            raise

    async def list_sources(self, agent_id: str) -> list[dict[str, Any]]:
        return await self._all(f"/api/agents/{agent_id}/sources")

    async def list_jobs(self, agent_id: str, status: str | None) -> list[dict[str, Any]]:
        return await self._all(f"/api/agents/{agent_id}/jobs", {"status": status} if status else None)

    async def get_job(self, job_id: str) -> dict[str, Any]:
        return (await self._request("GET", f"/api/jobs/{job_id}"))["data"]

    async def watch(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's Server-Sent Events; if the stream breaks, its record, polled."""
        job = await self.get_job(job_id)
        yield job
        if job["status"] in TERMINAL:
            return
        with contextlib.suppress(httpx.HTTPError):
            async with self.client.stream(
                "GET", f"/api/realtime/jobs/{job_id}/events", timeout=httpx.Timeout(10, read=60)
            ) as response:
                if response.status_code == 200:
                    async for event in _sse_events(response):
                        job = {**job, **_job_of_event(event)}
                        yield job
                        if job["status"] in TERMINAL:
                            return
        while job["status"] not in TERMINAL:  # the stream ended early: poll the record
            await asyncio.sleep(0.5)
            job = await self.get_job(job_id)
            yield job


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            with contextlib.suppress(ValueError):
                yield json.loads("\n".join(data))
            data = []


@contextlib.asynccontextmanager
async def remote_backend(server: str, key: str | None) -> AsyncIterator[RemoteBackend]:
    server = server.rstrip("/")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=server, headers=headers, timeout=60) as client:
        yield RemoteBackend(client, server)
