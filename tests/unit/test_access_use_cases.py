"""Access and idempotency use cases on the in-memory adapters."""

from __future__ import annotations

import asyncio

import pytest

from adapters.hashing.embedder import HashingEmbedder
from adapters.memory.blobs import MemoryBlobStore
from adapters.memory.clock import FakeClock, FixedRandom
from adapters.memory.notifier import MemoryNotifier
from adapters.memory.queue import MemoryJobQueue
from adapters.memory.store import MemoryStore
from adapters.memory.vectors import MemoryVectorIndex
from domain.access import ADMIN, OPEN, Role
from domain.errors import Conflict, LimitExceeded, NotFound, Unauthenticated
from domain.idempotency import IdempotencyClaim, fingerprint
from domain.pagination import PageRequest
from domain.services.access import AccessService
from domain.services.agents import AgentService
from domain.services.deps import Limits, Ports, ServiceConfig
from domain.services.maintenance import Maintenance
from domain.services.sources import SourceService

ADMIN_KEY = "admin-key-0123456789"


class World:
    def __init__(self, admin_key: str | None = ADMIN_KEY, **limits: int) -> None:
        self.clock = FakeClock()
        self.blobs = MemoryBlobStore()
        self.ports = Ports(
            store=MemoryStore(),
            queue=MemoryJobQueue(self.clock),
            blobs=self.blobs,
            embedder=HashingEmbedder(),
            vectors=MemoryVectorIndex(),
            notifier=MemoryNotifier(),
            clock=self.clock,
            random=FixedRandom(),
        )
        self.config = ServiceConfig(limits=Limits(**limits), idempotency_ttl_seconds=24 * 3600)
        self.access = AccessService(self.ports, admin_key)
        self.agents = AgentService(self.ports, self.config)
        self.sources = SourceService(self.ports, self.config)
        self.maintenance = Maintenance(self.ports, self.config)

    async def agent_with_key(self, name: str = "docs"):
        agent = self.agents.new_agent(name)
        return agent, await self.access.create_agent(agent)

    async def source_count(self, agent_id) -> int:
        return len((await self.sources.list_sources(agent_id, PageRequest(limit=200))).items)


@pytest.fixture
def world() -> World:
    return World()


async def test_without_an_admin_key_everyone_is_open():
    world = World(admin_key=None)
    assert await world.access.authenticate(None) is OPEN
    assert await world.access.authenticate("anything") is OPEN


async def test_keys_identify_the_admin_and_each_agent(world: World):
    agent, key = await world.agent_with_key()
    assert key.startswith("slk_") and len(key) > 40
    assert await world.access.authenticate(ADMIN_KEY) is ADMIN
    principal = await world.access.authenticate(key)
    assert principal.role is Role.AGENT and principal.agent_id == agent.id and principal.scope() == agent.id
    for bad in (None, "", "slk_unknown", ADMIN_KEY + "x", key[:-1], "x" * 10_000):
        with pytest.raises(Unauthenticated):
            await world.access.authenticate(bad)


async def test_rotation_invalidates_the_old_key_at_once(world: World):
    agent, old = await world.agent_with_key()
    _, new = await world.access.rotate_key(agent.id)
    assert new != old
    with pytest.raises(Unauthenticated):
        await world.access.authenticate(old)
    assert (await world.access.authenticate(new)).agent_id == agent.id
    with pytest.raises(NotFound):
        await world.access.rotate_key(world.agents.new_agent("never stored").id)


async def test_a_deleted_agents_key_stops_working(world: World):
    agent, key = await world.agent_with_key()
    await world.agents.delete_agent(agent.id)
    with pytest.raises(Unauthenticated):
        await world.access.authenticate(key)


async def test_names_over_max_name_chars_are_refused_with_the_setting_named():
    world = World(max_name_chars=10)
    with pytest.raises(LimitExceeded, match="MAX_NAME_CHARS") as caught:
        world.agents.new_agent("eleven char")
    assert caught.value.limit == "max_name_chars"
    agent, _ = await world.agent_with_key("short")
    with pytest.raises(LimitExceeded, match="MAX_NAME_CHARS"):
        await world.sources.create_text_source(agent.id, "some text", name="a much longer name")
    # A name made up from the text is cut to the limit instead.
    source, _ = await world.sources.create_text_source(agent.id, "many words of pasted text here")
    assert len(source.name) <= 10


def claim(key: str = "retry-1", body: str = "text") -> IdempotencyClaim:
    return IdempotencyClaim(key=key, request_hash=fingerprint("text", body))


async def test_a_repeated_claim_answers_with_the_first_source_and_job(world: World):
    agent, _ = await world.agent_with_key()
    first = claim()
    source, job = await world.sources.create_text_source(agent.id, "hello there", idempotency=first)
    assert not first.replayed
    again = claim()
    source2, job2 = await world.sources.create_text_source(agent.id, "hello there", idempotency=again)
    assert again.replayed and (source2.id, job2.id) == (source.id, job.id)
    assert await world.source_count(agent.id) == 1


async def test_the_same_key_with_another_body_is_refused(world: World):
    agent, _ = await world.agent_with_key()
    await world.sources.create_text_source(agent.id, "hello there", idempotency=claim(body="a"))
    with pytest.raises(Conflict) as caught:
        await world.sources.create_text_source(agent.id, "other", idempotency=claim(body="b"))
    assert caught.value.code == "idempotency_key_reused"
    assert await world.source_count(agent.id) == 1


async def test_keys_belong_to_one_agent(world: World):
    first, _ = await world.agent_with_key("a")
    second, _ = await world.agent_with_key("b")
    s1, _ = await world.sources.create_text_source(first.id, "hello", idempotency=claim())
    s2, _ = await world.sources.create_text_source(second.id, "hello", idempotency=claim())
    assert s1.id != s2.id and s2.agent_id == second.id


async def test_racing_requests_with_one_key_create_one_source(world: World):
    agent, _ = await world.agent_with_key()
    claims = [claim() for _ in range(8)]
    results = await asyncio.gather(
        *(world.sources.create_text_source(agent.id, "hello there", idempotency=c) for c in claims)
    )
    assert len({(s.id, j.id) for s, j in results}) == 1
    assert sum(not c.replayed for c in claims) == 1
    assert await world.source_count(agent.id) == 1
    # The losers' stored text was removed: only the winner's blob is left.
    assert len(world.blobs._blobs) == 1


async def test_an_expired_key_is_forgotten_and_may_be_used_again(world: World):
    agent, _ = await world.agent_with_key()
    source, _ = await world.sources.create_text_source(agent.id, "hello", idempotency=claim(body="a"))
    world.clock.advance(25 * 3600)
    again = claim(body="b")  # another body is fine once the first is forgotten
    source2, _ = await world.sources.create_text_source(agent.id, "other", idempotency=again)
    assert source2.id != source.id and not again.replayed
    world.clock.advance(25 * 3600)
    assert await world.maintenance.forget_idempotency_keys() == 1
    assert await world.maintenance.forget_idempotency_keys() == 0


def test_fingerprints_keep_part_boundaries():
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint("text", b"x") == fingerprint("text", "x")


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "line\nbreak"])
def test_bad_idempotency_keys_are_refused(key: str):
    with pytest.raises(Exception, match="Idempotency-Key"):
        IdempotencyClaim(key=key, request_hash="x")


async def test_search_never_shows_a_chunk_of_another_agents_source(world: World):
    from domain.services.search import SearchService
    from domain.vectors import VectorRecord

    mine, _ = await world.agent_with_key("mine")
    theirs, _ = await world.agent_with_key("theirs")
    their_source, _ = await world.sources.create_text_source(theirs.id, "their lighthouse notes")
    # A vector naming another agent's source in my namespace (it cannot get there through
    # the API; the search must not trust the index to be right about ownership).
    query = "lighthouse"
    vector = await world.ports.embedder.embed_query(query)
    stray = VectorRecord(id="x#0", values=vector, metadata={"source_id": str(their_source.id), "text": "secret"})
    await world.ports.vectors.upsert(mine.namespace, [stray])
    hits = await SearchService(world.ports, world.config).search(mine.id, query)
    assert hits == []
