"""Webhook use cases through their public entries, on the in-memory adapters: the outbox
written with each outcome, deliveries signed, retried with backoff, given up, refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest

from adapters.hashing.embedder import HashingEmbedder
from adapters.memory.blobs import MemoryBlobStore
from adapters.memory.clock import FakeClock, FixedRandom
from adapters.memory.notifier import MemoryNotifier
from adapters.memory.queue import MemoryJobQueue
from adapters.memory.store import MemoryStore
from adapters.memory.vectors import MemoryVectorIndex
from adapters.memory.webhooks import MemoryWebhookSender, Slow
from domain.errors import InvalidInput, NotFound, PermanentError
from domain.events import JobEvent
from domain.jobs import JobStatus
from domain.pagination import PageRequest
from domain.retry import RetryPolicy
from domain.services.agents import AgentService
from domain.services.deliverer import WebhookDeliverer
from domain.services.deps import Ports, ServiceConfig
from domain.services.jobs import JobService
from domain.services.maintenance import Maintenance
from domain.services.runner import JobRunner
from domain.services.sources import SourceService
from domain.services.webhooks import WebhookService
from domain.sources import ChunkingOptions, ChunkUnit
from domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookOptions, verify
from ports.embed import Embeddings

URL = "https://hooks.example.com/sluice"
HOSTS = {"hooks.example.com": "93.184.215.14", "intranet.example.com": "10.0.0.7"}


class FailingEmbedder:
    """Fails every text that contains FAIL for good; embeds the rest."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.model, self.dimensions, self.batch_size = self.inner.model, self.inner.dimensions, 8

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        if any("FAIL" in t for t in texts):
            raise PermanentError("the embedding service refused this text")
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str):
        return await self.inner.embed_query(text)

    async def close(self) -> None:
        pass


class World:
    def __init__(self, *, max_attempts: int = 4, timeout: float = 0.2) -> None:
        self.clock = FakeClock()
        self.queue = MemoryJobQueue(self.clock)
        self.sender = MemoryWebhookSender(hosts=HOSTS)
        self.store = MemoryStore()
        self.ports = Ports(
            store=self.store,
            queue=self.queue,
            blobs=MemoryBlobStore(),
            embedder=FailingEmbedder(),
            vectors=MemoryVectorIndex(),
            notifier=MemoryNotifier(),
            clock=self.clock,
            random=FixedRandom(1.0),
            webhook_sender=self.sender,
        )
        self.config = ServiceConfig(
            chunking=ChunkingOptions(size=64, overlap=0, unit=ChunkUnit.CHARACTERS),
            max_attempts=2,
            worker_id="worker-a",
            webhooks=WebhookOptions(
                max_attempts=max_attempts,
                retry=RetryPolicy(base_seconds=30, cap_seconds=3600),
                timeout_seconds=timeout,
            ),
        )
        self.agents = AgentService(self.ports, self.config)
        self.sources = SourceService(self.ports, self.config)
        self.jobs = JobService(self.ports)
        self.webhooks = WebhookService(self.ports, self.config)
        self.runner = JobRunner(self.ports, self.config, heartbeat_seconds=3600)
        self.maintenance = Maintenance(self.ports, self.config)
        self.deliverer = WebhookDeliverer(self.ports, self.config)

    async def deliveries(self, agent_id: uuid.UUID) -> list[WebhookDelivery]:
        return (await self.webhooks.list_deliveries(agent_id, PageRequest(limit=200))).items

    async def finished_job(self, agent_id: uuid.UUID, text: str = "some notes to index"):
        _, job = await self.sources.create_text_source(agent_id, text)
        await self.queue.drain(self.runner.run)
        return await self.jobs.get_job(job.id)


@pytest.fixture
def world() -> World:
    return World()


async def test_a_completed_job_is_posted_once_signed_with_the_realtime_payload(world: World):
    agent = await world.agents.create_agent("docs")
    hook = await world.webhooks.set_webhook(agent.id, URL)
    job = await world.finished_job(agent.id)
    assert job.status is JobStatus.COMPLETED
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.PENDING and delivery.job_id == job.id

    assert await world.deliverer.deliver_due() == 1
    assert await world.deliverer.deliver_due() == 0
    [sent] = world.sender.sent
    assert sent.url == URL and sent.address == "93.184.215.14"
    assert verify(hook.secret, sent.body, sent.headers["X-Sluice-Signature"])
    document = json.loads(sent.body)
    assert document["event"] == "job.completed" and document["deliveredAt"].endswith("Z")
    assert document["job"] == JobEvent.of(job).payload()
    assert sent.headers["X-Sluice-Delivery"] == str(delivery.id)
    assert sent.headers["X-Sluice-Timestamp"] == str(int(world.clock.now().timestamp()))
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1 and delivery.last_status_code == 200


async def test_failed_and_cancelled_jobs_are_announced_too(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    failed = await world.finished_job(agent.id, "this one will FAIL")
    assert failed.status is JobStatus.FAILED
    _, pending = await world.sources.create_text_source(agent.id, "cancel me")
    await world.jobs.cancel_job(pending.id)
    await world.deliverer.deliver_due()
    events = {json.loads(s.body)["event"]: json.loads(s.body)["job"] for s in world.sender.sent}
    assert set(events) == {"job.failed", "job.cancelled"}
    assert events["job.failed"]["errorMessage"] == "the embedding service refused this text"
    assert events["job.cancelled"]["jobId"] == str(pending.id)


async def test_no_webhook_means_no_delivery(world: World):
    agent = await world.agents.create_agent("docs")
    await world.finished_job(agent.id)
    assert await world.deliveries(agent.id) == []
    assert await world.deliverer.deliver_due() == 0 and world.sender.attempts == []


async def test_only_subscribed_events_are_delivered(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL, events=["failed"])
    await world.finished_job(agent.id)
    assert await world.deliveries(agent.id) == []
    await world.finished_job(agent.id, "FAIL here")
    [delivery] = await world.deliveries(agent.id)
    assert delivery.event.wire_name == "job.failed"


async def test_500s_and_timeouts_are_retried_with_backoff_until_accepted(world: World):
    agent = await world.agents.create_agent("docs")
    hook = await world.webhooks.set_webhook(agent.id, URL)
    world.sender.answer(URL, 500, Slow(5.0), 503, 200)
    await world.finished_job(agent.id)
    schedule = []
    for attempt in (1, 2, 3):
        assert await world.deliverer.deliver_due() == 1
        [delivery] = await world.deliveries(agent.id)
        assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == attempt
        wait = (delivery.next_attempt_at - world.clock.now()).total_seconds()
        schedule.append((wait, delivery.last_error))
        assert await world.deliverer.deliver_due() == 0  # not before its time
        world.clock.advance(wait)
    assert schedule == [(30, "HTTP 500"), (60, "no answer within 0.2s"), (120, "HTTP 503")]
    assert await world.deliverer.deliver_due() == 1
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 4
    # One delivery, four attempts, each signed afresh, all with the same id.
    assert len(world.sender.attempts) == 4
    [accepted] = world.sender.sent[-1:]
    assert verify(hook.secret, accepted.body, accepted.headers["X-Sluice-Signature"])
    assert {s.headers["X-Sluice-Delivery"] for s in world.sender.sent} == {str(delivery.id)}
    assert [s.headers["X-Sluice-Attempt"] for s in world.sender.sent] == ["1", "3", "4"]


async def test_it_gives_up_after_max_attempts_with_the_last_error(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    world.sender.answer(URL, *[500] * 10)
    await world.finished_job(agent.id)
    for _ in range(10):
        await world.deliverer.deliver_due()
        world.clock.advance(3600)
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 4
    assert delivery.last_error == "HTTP 500 (gave up after 4 attempts)" and delivery.last_status_code == 500
    assert len(world.sender.attempts) == 4


async def test_a_url_resolving_to_an_internal_address_fails_at_once_without_sending(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, "https://intranet.example.com/hook")
    await world.finished_job(agent.id)
    await world.deliverer.deliver_due()
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 1
    assert "10.0.0.7" in delivery.last_error and "private" in delivery.last_error
    assert world.sender.sent == []


async def test_internal_urls_are_refused_when_set(world: World):
    agent = await world.agents.create_agent("docs")
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://169.254.169.254/", "http://[fd00::1]/"):
        with pytest.raises(InvalidInput, match="internal addresses are refused"):
            await world.webhooks.set_webhook(agent.id, url)
    with pytest.raises(NotFound):
        await world.webhooks.get_webhook(agent.id)


async def test_setting_again_rotates_the_secret_and_pending_deliveries_use_the_new_one(world: World):
    agent = await world.agents.create_agent("docs")
    first = await world.webhooks.set_webhook(agent.id, URL)
    await world.finished_job(agent.id)
    second = await world.webhooks.set_webhook(agent.id, URL, events=["completed"])
    assert second.secret != first.secret and second.created_at == first.created_at
    assert (await world.webhooks.get_webhook(agent.id)).secret == second.secret
    await world.deliverer.deliver_due()
    [sent] = world.sender.sent
    assert verify(second.secret, sent.body, sent.headers["X-Sluice-Signature"])
    assert not verify(first.secret, sent.body, sent.headers["X-Sluice-Signature"])


async def test_a_removed_webhook_sends_nothing_more(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    await world.finished_job(agent.id)
    await world.webhooks.delete_webhook(agent.id)
    with pytest.raises(NotFound, match="webhook"):
        await world.webhooks.delete_webhook(agent.id)
    await world.deliverer.deliver_due()
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.FAILED and "removed" in delivery.last_error
    assert world.sender.attempts == []
    await world.finished_job(agent.id)
    assert len(await world.deliveries(agent.id)) == 1


async def test_a_job_failed_by_the_reconciler_is_announced(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    _, job = await world.sources.create_text_source(agent.id, "a job whose workers keep dying")
    for _ in range(2):  # max_attempts=2: claim, "die", reclaim
        assert await world.runner._claim(job.id) is not None
        world.clock.advance(world.config.lease_seconds)
        await world.maintenance.reclaim_expired()
    assert (await world.jobs.get_job(job.id)).status is JobStatus.FAILED
    [delivery] = await world.deliveries(agent.id)
    assert delivery.event.wire_name == "job.failed" and "stopped responding" in delivery.payload["errorMessage"]


async def test_two_deliverers_never_send_one_delivery_twice(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    for i in range(20):
        await world.sources.create_text_source(agent.id, f"document number {i}")
    await world.queue.drain(world.runner.run)
    world.sender.answer(URL, *[Slow(0.01)] * 20)
    other = WebhookDeliverer(world.ports, ServiceConfig(worker_id="worker-b", webhooks=world.config.webhooks))
    counts = await asyncio.gather(world.deliverer.deliver_due(), other.deliver_due())
    assert sum(counts) == 20 and all(counts)
    ids = [s.headers["X-Sluice-Delivery"] for s in world.sender.sent]
    assert len(ids) == len(set(ids)) == 20


async def test_a_sender_that_died_mid_send_is_replaced_after_its_claim_runs_out(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    await world.finished_job(agent.id)

    class Crash(BaseException):
        pass

    world.sender.answer(URL, Crash())
    with pytest.raises(Crash):
        await world.deliverer.deliver_due()
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.SENDING and delivery.locked_by == "worker-a"
    other = WebhookDeliverer(world.ports, ServiceConfig(worker_id="worker-b", webhooks=world.config.webhooks))
    assert await other.deliver_due() == 0  # the claim still holds
    world.clock.advance(world.config.webhooks.claim.total_seconds())
    assert await other.deliver_due() == 1
    [delivery] = await world.deliveries(agent.id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 2


async def test_cleanup_prunes_finished_deliveries_after_the_retention(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    await world.finished_job(agent.id)
    await world.deliverer.deliver_due()
    world.sender.answer(URL, 500)
    await world.finished_job(agent.id)
    await world.deliverer.deliver_due()  # this one waits for its retry
    world.clock.advance(8 * 86400)
    await world.maintenance.cleanup()
    [left] = await world.deliveries(agent.id)
    assert left.status is DeliveryStatus.PENDING


async def test_deleting_the_agent_deletes_its_webhook_and_deliveries(world: World):
    agent = await world.agents.create_agent("docs")
    await world.webhooks.set_webhook(agent.id, URL)
    await world.finished_job(agent.id)
    await world.agents.delete_agent(agent.id)
    assert await world.deliverer.deliver_due() == 0
    with pytest.raises(NotFound, match="agent"):
        await world.webhooks.get_webhook(agent.id)
