"""The OpenAI embedder with the real SDK against the stand-in: limits, retries, errors."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from adapters.memory.ratelimit import MemoryRateLimiter
from adapters.openai.embedder import OpenAIEmbedder, retry_after
from adapters.openai.requests import RequestLimits, minimum_requests, plan
from adapters.tiktoken.measure import encoding
from ports.embed import EmbedderRejected, EmbedderUnavailable
from standins.openai import OpenAIStandIn


class Sleeps:
    """Records the waits the embedder asks for, without waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def server():
    with OpenAIStandIn() as running:
        yield running


@pytest.fixture
async def make(server):
    made: list[OpenAIEmbedder] = []

    def build(**options) -> OpenAIEmbedder:
        options = {"api_key": server.api_key, "base_url": server.base_url, "dimensions": 32, **options}
        made.append(OpenAIEmbedder(**options))
        return made[-1]

    yield build
    for embedder in made:
        await embedder.close()


def chunks(n: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"term{i}" for i in range(3000)] + ["river", "sluice", "gate", "water", "flow"]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(words // 2, words))) + f" ({i})" for i in range(n)]


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


# -- request planning ---------------------------------------------------------------------------


@pytest.mark.parametrize(("words", "bound"), [(30, "inputs"), (150, "tokens")])
async def test_ten_thousand_chunks_take_the_minimum_number_of_requests(server, make, words, bound) -> None:
    texts = chunks(10_000, words, seed=words)
    sizes = [tokens(t) for t in texts]
    limits = RequestLimits()
    minimum = minimum_requests(sizes, limits)
    result = await make().embed_documents(texts)

    assert len(server.embedding_requests()) == len(server.batches) == minimum
    assert len(result.vectors) == 10_000 and result.tokens == sum(sizes) == server.embedded_tokens
    assert all(inputs <= 2048 and used <= 250_000 for inputs, used in server.batches)
    by_inputs, by_tokens = -(-10_000 // 2048), -(-sum(sizes) // 250_000)
    assert minimum == (by_inputs if bound == "inputs" else by_tokens)


def test_plan_keeps_order_and_limits() -> None:
    limits = RequestLimits(max_inputs=3, max_request_tokens=10, max_input_tokens=6)
    assert plan([4, 4, 1, 1, 6, 1, 1, 1, 1], limits) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert plan([], limits) == []
    with pytest.raises(ValueError):
        plan([7], limits)


async def test_an_input_over_8191_tokens_is_cut_and_logged(server, make, caplog) -> None:
    long_text = " ".join(f"word{i}" for i in range(6000))
    assert tokens(long_text) > 8191
    with caplog.at_level(logging.WARNING, logger="sluice.embed.openai"):
        result = await make().embed_documents([long_text, "short"])
    assert len(result.vectors) == 2
    [request] = server.embedding_requests()
    sent = request.body["input"][0]
    assert long_text.startswith(sent) and tokens(sent) <= 8191 and tokens(sent) > 8000
    assert "cut to its first" in caplog.text


async def test_empty_texts_are_never_sent_and_duplicates_go_once(server, make) -> None:
    result = await make().embed_documents(["", "same", "other", "same", ""])
    [request] = server.embedding_requests()
    assert request.body["input"] == ["same", "other"]
    assert result.vectors[0] == [0.0] * 32 == result.vectors[4]
    assert result.vectors[1] == result.vectors[3] and any(result.vectors[1])
    assert (await make().embed_documents([""])).tokens == 0
    assert len(server.embedding_requests()) == 1


async def test_tokens_are_what_the_server_counted(server, make) -> None:
    texts = chunks(50, 40, seed=3)
    result = await make().embed_documents(texts)
    assert result.tokens == server.embedded_tokens == sum(tokens(t) for t in texts)


# -- 429 and 5xx: waits, backoff, budget ------------------------------------------------------


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


async def test_429_waits_what_retry_after_says(server, make) -> None:
    sleeps = Sleeps()
    server.faults.fail_next(1, 429, retry_after="1")
    server.faults.fail_next(1, 429, retry_after="7", retry_after_ms="250")
    result = await make(sleep=sleeps).embed_documents(["a text"])
    assert len(result.vectors) == 1
    assert sleeps.delays == [1.0, 0.25]
    assert len(server.embedding_requests()) == 3


async def test_5xx_without_retry_after_backs_off_exponentially_with_jitter(server, make) -> None:
    sleeps = Sleeps()
    server.faults.fail_next(3, 500)
    await make(sleep=sleeps, rnd=lambda: 0.5).embed_documents(["a text"])
    assert sleeps.delays == [0.25, 0.5, 1.0]  # ceilings 0.5, 1, 2 seconds, halved by the draw


async def test_a_spent_budget_is_transient_and_says_so(server, make) -> None:
    server.faults.fail_next(10, 503)
    with pytest.raises(EmbedderUnavailable, match="gave up after 3 attempt") as caught:
        await make(sleep=Sleeps(), max_attempts=3).embed_documents(["a text"])
    assert caught.value.transient and "server error 503" in caught.value.message
    assert len(server.embedding_requests()) == 3


async def test_a_retry_after_beyond_the_budget_gives_up_at_once(server, make) -> None:
    server.faults.fail_next(1, 429, retry_after="600")
    with pytest.raises(EmbedderUnavailable, match="rate limited"):
        await make(sleep=Sleeps(), max_wait_seconds=60).embed_documents(["a text"])
    assert len(server.embedding_requests()) == 1


async def test_a_slow_server_times_out_as_transient(server, make) -> None:
    server.faults.delay = 1.0
    started = time.monotonic()
    with pytest.raises(EmbedderUnavailable, match="timed out"):
        await make(timeout_seconds=0.2, max_attempts=2, sleep=Sleeps()).embed_documents(["a text"])
    assert time.monotonic() - started < 3


async def test_an_unreachable_server_is_transient(make) -> None:
    embedder = make(base_url="http://127.0.0.1:1/v1", max_attempts=2, sleep=Sleeps())
    with pytest.raises(EmbedderUnavailable, match="cannot be reached"):
        await embedder.embed_documents(["a text"])


# -- permanent errors name their cause ---------------------------------------------------------


async def test_a_bad_key_is_permanent_and_named(server, make) -> None:
    with pytest.raises(EmbedderRejected, match="refused the API key \\(401\\): check OPENAI_API_KEY"):
        await make(api_key="sk-wrong").embed_documents(["a text"])
    assert len(server.embedding_requests()) == 1  # never retried


async def test_an_unknown_model_is_permanent_and_named(make) -> None:
    with pytest.raises(EmbedderRejected, match=r"unknown embedding model 'text-embedding-9' .*OPENAI_EMBEDDING_MODEL"):
        await make(model="text-embedding-9", dimensions=32).embed_documents(["a text"])


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, None, "denied access to model"),
        (400, None, "rejected the embedding request \\(400\\)"),
        (429, "insufficient_quota", "no quota left"),
    ],
)
async def test_other_refusals_are_permanent(server, make, status, code, expected) -> None:
    server.faults.fail_next(1, status, body={"error": {"message": "nope", "type": "x", "code": code}})
    with pytest.raises(EmbedderRejected, match=expected):
        await make().embed_documents(["a text"])


async def test_a_model_that_takes_no_dimensions_is_refused_clearly(make) -> None:
    with pytest.raises(EmbedderRejected, match="does not support specifying dimensions"):
        await make(model="text-embedding-ada-002", dimensions=256).embed_documents(["a text"])


def test_an_unknown_model_needs_its_dimension() -> None:
    with pytest.raises(ValueError, match="OPENAI_EMBEDDING_DIMENSIONS"):
        OpenAIEmbedder(api_key="k", model="nomic-embed-text")


# -- concurrency and the rate limit ------------------------------------------------------------


async def test_requests_in_flight_are_bounded(server, make) -> None:
    server.faults.delay = 0.1
    limits = RequestLimits(max_inputs=10)
    result = await make(max_in_flight=2, limits=limits).embed_documents([f"text {i}" for i in range(80)])
    assert len(result.vectors) == 80
    assert len(server.embedding_requests()) == 8
    assert server.max_in_flight == 2


async def test_calls_wait_their_turn_in_the_rate_limit(server, make) -> None:
    sleeps = Sleeps()
    limiter = MemoryRateLimiter(requests_per_period=2, period=1.0, clock=lambda: 0.0)  # 2 a second; time stands still
    embedder = make(limiter=limiter, max_in_flight=1, limits=RequestLimits(max_inputs=1), sleep=sleeps)
    await embedder.embed_documents(["one", "two", "three", "four"])
    assert len(server.embedding_requests()) == 4
    assert sleeps.delays == [0.5, 1.0]


async def test_a_rate_limit_spent_beyond_the_budget_is_transient(make) -> None:
    limiter = MemoryRateLimiter(tokens_per_period=100, period=60.0)
    embedder = make(limiter=limiter, max_wait_seconds=5, sleep=Sleeps())
    await embedder.embed_documents(["word " * 90])
    with pytest.raises(EmbedderUnavailable, match="OPENAI_RPM/OPENAI_TPM"):
        await embedder.embed_documents(["word " * 50])


async def test_requests_never_exceed_a_minutes_token_budget(server, make) -> None:
    limiter = MemoryRateLimiter(tokens_per_period=20_000, period=60.0)
    embedder = make(limiter=limiter, sleep=Sleeps(), max_wait_seconds=1000)
    assert embedder.limits.max_request_tokens == 20_000
    await embedder.embed_documents(chunks(300, 100, seed=9))
    assert server.batches and all(used <= 20_000 for _, used in server.batches)


async def test_a_query_gives_up_sooner_than_a_job(server, make) -> None:
    server.faults.fail_next(1, 429, retry_after="30")
    embedder = make(sleep=Sleeps(), max_wait_seconds=120, query_wait_seconds=10)
    with pytest.raises(EmbedderUnavailable, match="rate limited"):
        await embedder.embed_query("where is my order?")
    server.faults.fail_next(1, 429, retry_after="30")
    assert len((await embedder.embed_documents(["where is my order?"])).vectors) == 1
