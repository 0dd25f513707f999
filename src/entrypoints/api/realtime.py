"""Real-time job updates: Server-Sent Events and WebSockets.

Every status change and progress step of a job is a ``job_status_update`` event with
``{jobId, sourceId, agentId, status, progress, attempts, maxAttempts, errorMessage,
scheduledFor, updatedAt}``, published to the channels ``job_{jobId}`` and
``agent_{agentId}`` (Redis pub/sub in distributed mode, so an event raised in a worker
reaches clients of any API process). A stream starts with the current state; a job
stream ends after a terminal state.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, Request, WebSocket, get, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from domain.errors import NotFound
from domain.events import EVENT_NAME, JobEvent, agent_channel, job_channel
from domain.services.agents import AgentService
from domain.services.jobs import JobService
from domain.services.watch import WatchService
from entrypoints.api.schemas import Camel, Ok

_encode = msgspec.json.Encoder().encode


class Subscription(Camel, kw_only=True):
    channel: str
    event: str
    sse_url: str
    websocket_url: str
    payload: list[str]


PAYLOAD_KEYS = [
    "jobId",
    "sourceId",
    "agentId",
    "type",
    "status",
    "progress",
    "attempts",
    "maxAttempts",
    "errorMessage",
    "scheduledFor",
    "updatedAt",
]


def payload(event: JobEvent) -> dict[str, Any]:
    return event.payload()


def _subscription(request: Request, kind: str, ident: uuid.UUID, channel: str) -> Subscription:
    base = str(request.base_url).rstrip("/")
    ws_base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return Subscription(
        channel=channel,
        event=EVENT_NAME,
        sse_url=f"{base}/api/realtime/{kind}/{ident}/events",
        websocket_url=f"{ws_base}/api/realtime/{kind}/{ident}/ws",
        payload=PAYLOAD_KEYS,
    )


async def _sse(events: AsyncIterator[JobEvent | None]) -> AsyncIterator[ServerSentEventMessage]:
    with contextlib.suppress(NotFound):  # deleted while watched: the stream just ends
        async for event in events:
            if event is None:
                yield ServerSentEventMessage(comment="keep-alive")
            else:
                yield ServerSentEventMessage(data=_encode(payload(event)).decode(), event=EVENT_NAME)


async def _ws(socket: WebSocket, events: AsyncIterator[JobEvent | None]) -> None:
    """Send the events until the stream ends or the client goes away.

    The client is listened to as well: a quiet stream (an idle agent) would otherwise
    never notice a client that left, and would be held open forever."""
    await socket.accept()

    async def pump() -> None:
        with contextlib.suppress(NotFound):
            async for event in events:
                if event is not None:
                    await socket.send_json({"event": EVENT_NAME, "data": payload(event)})
        await socket.close()

    async def until_gone() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await socket.receive_data("text")

    tasks = {asyncio.create_task(pump()), asyncio.create_task(until_gone())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, WebSocketDisconnect | asyncio.CancelledError):
            raise result


class RealtimeController(Controller):
    path = "/api/realtime"
    tags = ["realtime"]

    @get("/jobs/{job_id:uuid}/subscribe", summary="How to receive a job's updates")
    async def job_subscription(
        self, request: Request, job_id: FromPath[uuid.UUID], jobs: NamedDependency[JobService]
    ) -> Ok[Subscription]:
        await jobs.get_job(job_id)
        return Ok(data=_subscription(request, "jobs", job_id, job_channel(job_id)))

    @get("/agents/{agent_id:uuid}/subscribe", summary="How to receive updates of all an agent's jobs")
    async def agent_subscription(
        self, request: Request, agent_id: FromPath[uuid.UUID], agents: NamedDependency[AgentService]
    ) -> Ok[Subscription]:
        await agents.get_agent(agent_id)
        return Ok(data=_subscription(request, "agents", agent_id, agent_channel(agent_id)))

    @get(
        "/jobs/{job_id:uuid}/events",
        summary="Server-Sent Events: the job's state, then each change, until it finishes",
        media_type="text/event-stream",
    )
    async def job_events(
        self, job_id: FromPath[uuid.UUID], jobs: NamedDependency[JobService], watch: NamedDependency[WatchService]
    ) -> ServerSentEvent:
        await jobs.get_job(job_id)  # 404 before the stream starts
        return ServerSentEvent(_sse(watch.job_events(job_id)), headers={"Cache-Control": "no-cache"})

    @get(
        "/agents/{agent_id:uuid}/events",
        summary="Server-Sent Events: the agent's active jobs, then every change",
        media_type="text/event-stream",
    )
    async def agent_events(
        self, agent_id: FromPath[uuid.UUID], agents: NamedDependency[AgentService], watch: NamedDependency[WatchService]
    ) -> ServerSentEvent:
        await agents.get_agent(agent_id)
        return ServerSentEvent(_sse(watch.agent_events(agent_id)), headers={"Cache-Control": "no-cache"})

    @websocket("/jobs/{job_id:uuid}/ws")
    async def job_socket(
        self, socket: WebSocket, job_id: FromPath[uuid.UUID], watch: NamedDependency[WatchService]
    ) -> None:
        await _ws(socket, watch.job_events(job_id))

    @websocket("/agents/{agent_id:uuid}/ws")
    async def agent_socket(
        self, socket: WebSocket, agent_id: FromPath[uuid.UUID], watch: NamedDependency[WatchService]
    ) -> None:
        await _ws(socket, watch.agent_events(agent_id))
