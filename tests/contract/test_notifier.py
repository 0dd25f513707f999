"""The notifier contract: in-process memory, Litestar channels (memory and Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from adapters.channels.notifier import ChannelsNotifier
from adapters.memory.notifier import MemoryNotifier
from domain.events import JobEvent, agent_channel, job_channel


@pytest.fixture(params=["memory", "channels-memory", "channels-redis"])
async def notifier(request):
    if request.param == "memory":
        n = MemoryNotifier()
    elif request.param == "channels-memory":
        n = ChannelsNotifier.memory()
    else:
        url = request.getfixturevalue("redis_url")
        n = ChannelsNotifier.redis(url, prefix=f"sluice_test_{uuid.uuid4().hex[:8]}")
    yield n
    await n.close()


def event(job: str, agent: str, status: str, percent: int = 0) -> JobEvent:
    return JobEvent(
        job_id=job,
        source_id="s",
        agent_id=agent,
        type="process_text",
        status=status,
        progress={"percent": percent},
        attempts=1,
        max_attempts=3,
        error_message=None,
        scheduled_for=None,
        updated_at="2026-01-01T00:00:00Z",
    )


async def take(stream, count: int, timeout: float = 5.0) -> list[JobEvent]:
    out: list[JobEvent] = []
    async with asyncio.timeout(timeout):
        async for item in stream:
            out.append(item)
            if len(out) == count:
                return out
    return out


async def test_subscribers_get_every_event_of_their_channels_in_order(notifier):
    job, agent, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    async with notifier.subscribe([job_channel(job)]) as by_job, notifier.subscribe([agent_channel(agent)]) as by_agent:
        await asyncio.sleep(0.1)  # a Redis subscription is live once the server acknowledged it
        await notifier.publish(event(str(uuid.uuid4()), other, "pending"))  # not ours
        for i, status in enumerate(["pending", "processing", "processing", "completed"]):
            await notifier.publish(event(job, agent, status, percent=i * 30))
        for stream in (by_job, by_agent):
            got = await take(stream, 4)
            assert [e.status for e in got] == ["pending", "processing", "processing", "completed"]
            assert [e.progress["percent"] for e in got] == [0, 30, 60, 90]
            assert all(e.job_id == job for e in got)


async def test_one_subscriber_of_both_channels_gets_an_event_once(notifier):
    job, agent = str(uuid.uuid4()), str(uuid.uuid4())
    async with notifier.subscribe([job_channel(job), agent_channel(agent)]) as stream:
        await asyncio.sleep(0.1)
        await notifier.publish(event(job, agent, "pending"))
        await notifier.publish(event(job, agent, "completed"))
        got = await take(stream, 2)
    assert [e.status for e in got] == ["pending", "completed"]


async def test_publish_without_subscribers_is_fine(notifier):
    await notifier.publish(event(str(uuid.uuid4()), str(uuid.uuid4()), "pending"))
