"""The webhook sender port's contract, on every adapter: httpx (a real receiver on
127.0.0.1) and memory (receivers in memory).

Both get the same world: ``receiver.test`` leads to the receiver, ``internal.test``
resolves to 10.1.2.3; ``sender`` allows private networks (the real receiver is on
loopback), ``strict`` does not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.httpx.webhooks import HttpxWebhookSender
from adapters.httpx.webhooks import resolve as system_resolve
from adapters.memory import webhooks as memory
from ports.webhooks import WebhookBlocked, WebhookSender, WebhookUnreachable
from receiver import Receiver, Redirect, Slow

BODY = '{"event":"job.completed","job":{"jobId":"j1","text":"ünïcödé"}}'.encode()
HEADERS = {"Content-Type": "application/json", "X-Sluice-Signature": "sha256=abc", "X-Sluice-Delivery": "d-1"}
PUBLIC = "93.184.215.14"


@dataclass
class World:
    kind: str
    sender: WebhookSender
    strict: WebhookSender
    url: str
    script: Callable[..., None]
    received: Callable[[], list[tuple[bytes, dict[str, str]]]]


@pytest.fixture
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def _memory_answers(answers: tuple[Any, ...]) -> list[memory.Answer]:
    out: list[memory.Answer] = []
    for answer in answers:
        if isinstance(answer, Slow):
            out.append(memory.Slow(answer.seconds, answer.status))
        elif isinstance(answer, Redirect):
            out.append(answer.status)
        else:
            out.append(answer)
    return out


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture(params=["memory", "httpx"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        hosts = {"internal.test": "10.1.2.3", "receiver.test": PUBLIC}
        sender = memory.MemoryWebhookSender(hosts=hosts, allow_private_networks=True)
        url = "http://receiver.test/hook"
        yield World(
            "memory",
            sender,
            memory.MemoryWebhookSender(hosts=hosts),
            url,
            lambda *answers: sender.answer(url, *_memory_answers(answers)),
            lambda: [(s.body, _lower(s.headers)) for s in sender.sent],
        )
        return
    http: Receiver = request.getfixturevalue("http_receiver")
    table = {"internal.test": "10.1.2.3", "receiver.test": "127.0.0.1"}

    async def resolve(host: str, port: int) -> list[str]:
        return [table[host]] if host in table else await system_resolve(host, port)

    loose = HttpxWebhookSender(allow_private_networks=True, resolver=resolve)
    strict = HttpxWebhookSender(resolver=resolve)
    try:
        yield World(
            "httpx",
            loose,
            strict,
            f"http://receiver.test:{http.port}/hook",
            http.script,
            lambda: [(r.body, _lower(r.headers)) for r in http.requests()],
        )
    finally:
        await loose.close()
        await strict.close()


async def test_post_sends_the_body_and_headers_and_returns_the_status(world: World) -> None:
    assert await world.sender.post(world.url, BODY, HEADERS, timeout=5) == 200
    [(body, headers)] = world.received()
    assert body == BODY
    for name, value in HEADERS.items():
        assert headers[name.lower()] == value


async def test_an_error_status_is_an_answer_not_an_exception(world: World) -> None:
    world.script(500, 404)
    assert await world.sender.post(world.url, BODY, HEADERS, timeout=5) == 500
    assert await world.sender.post(world.url, BODY, HEADERS, timeout=5) == 404
    assert await world.sender.post(world.url, BODY, HEADERS, timeout=5) == 200


async def test_redirects_are_not_followed(world: World) -> None:
    world.script(Redirect(f"http://{PUBLIC}/elsewhere"))
    assert await world.sender.post(world.url, BODY, HEADERS, timeout=5) == 302
    assert len(world.received()) == 1


async def test_a_slow_receiver_times_out_as_unreachable(world: World) -> None:
    world.script(Slow(2.0))
    started = time.monotonic()
    with pytest.raises(WebhookUnreachable, match="no answer within"):
        await world.sender.post(world.url, BODY, HEADERS, timeout=0.3)
    assert time.monotonic() - started < 1.5


async def test_a_name_that_does_not_resolve_is_unreachable(world: World) -> None:
    with pytest.raises(WebhookUnreachable, match="resolve"):
        await world.sender.post("http://nowhere.invalid/hook", BODY, HEADERS, timeout=5)


@pytest.mark.parametrize("url", ["http://internal.test/hook", "http://127.0.0.1:9/hook", "http://[::ffff:10.0.0.1]/"])
async def test_internal_addresses_are_refused_without_sending(world: World, url: str) -> None:
    with pytest.raises(WebhookBlocked, match="resolves to"):
        await world.strict.post(url, BODY, HEADERS, timeout=5)
    assert world.received() == []


async def test_a_refused_connection_is_unreachable(world: World) -> None:
    if world.kind == "memory":
        world.script(WebhookUnreachable("connection refused"))
        url = world.url
    else:
        url = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
    with pytest.raises(WebhookUnreachable):
        await world.sender.post(url, BODY, HEADERS, timeout=5)


async def test_concurrent_posts_all_arrive(world: World) -> None:
    statuses = await asyncio.gather(*(world.sender.post(world.url, BODY, HEADERS, timeout=5) for _ in range(10)))
    assert statuses == [200] * 10 and len(world.received()) == 10


# -- httpx only: how it keeps the SSRF check and the connection together ------------------------


async def test_httpx_connects_to_the_checked_address_and_keeps_the_host_name(http_receiver: Receiver) -> None:
    looked_up: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    sender = HttpxWebhookSender(allow_private_networks=True, resolver=resolve)
    try:
        url = f"http://hooks.example.com:{http_receiver.port}/in?x=1"
        assert await sender.post(url, BODY, HEADERS, timeout=5) == 200
    finally:
        await sender.close()
    [request] = http_receiver.requests()
    assert looked_up == ["hooks.example.com"]  # one lookup; the connection went to its answer
    assert request.header("Host") == f"hooks.example.com:{http_receiver.port}" and request.path == "/in?x=1"
    assert (request.header("User-Agent") or "").startswith("Sluice-Webhooks/")


async def test_httpx_refuses_a_name_when_any_of_its_addresses_is_internal() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return [PUBLIC, "169.254.169.254"]

    sender = HttpxWebhookSender(resolver=resolve)
    try:
        with pytest.raises(WebhookBlocked, match="metadata"):
            await sender.post("https://mixed.example.com/hook", BODY, HEADERS, timeout=5)
    finally:
        await sender.close()


async def test_httpx_refuses_other_schemes() -> None:
    sender = HttpxWebhookSender()
    try:
        with pytest.raises(WebhookBlocked, match="http or https"):
            await sender.post("ftp://example.com/x", BODY, HEADERS, timeout=5)
    finally:
        await sender.close()
