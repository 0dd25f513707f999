"""``OpenAIEmbedder``: the embeddings API through the official SDK, with Sluice's own policy.

* Requests are planned within the API's limits by ``adapters.openai.requests`` (cl100k
  token counts; at most 2048 inputs and 250,000 tokens per request; inputs over 8,191
  tokens cut with a warning; empty inputs never sent, they get the zero vector).
  Equal texts in one call are embedded once.
* At most ``max_in_flight`` requests are in flight per process, and each first reserves
  its request and tokens from the ``RateLimiter`` (shared by all workers through Redis
  in distributed mode), waiting its turn rather than drawing 429s.
* 429 and 5xx (and 408, 409, timeouts, connection errors): wait what ``retry-after-ms``
  or ``Retry-After`` says, else exponential backoff with full jitter, for at most
  ``max_attempts`` attempts and ``max_wait_seconds`` per call (``query_wait_seconds``
  for a search's query, which someone is waiting for); then
  ``EmbedderUnavailable``, so the job is retried later by the runner, never lost.
  The SDK's own retries are off (``max_retries=0``) so this is the one policy.
* 400, 401, 403, 404 (and a 429 ``insufficient_quota``) are ``EmbedderRejected``, with a
  message that names the cause (the key, the model, the quota).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

from adapters.openai.requests import Prepared, RequestLimits, plan, prepare
from domain.retry import RetryPolicy
from ports.embed import EmbedderRejected, EmbedderUnavailable, Embeddings
from ports.ratelimit import RateLimited, RateLimiter

log = logging.getLogger("sluice.embed.openai")

DEFAULT_MODEL = "text-embedding-3-small"
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_RETRYABLE_STATUS = {408, 409, 429}


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or a date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIEmbedder:
    """An ``Embedder`` over OpenAI's ``/embeddings`` (or any compatible server).

    ``dimensions`` is the model's unless given (then sent as the request's
    ``dimensions`` when it differs, as text-embedding-3 models allow); a model Sluice
    does not know needs it. ``batch_size`` (what a caller should hand over at once)
    is one full request's worth of inputs, so the runner's batches fill requests.
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        dimensions: int | None = None,
        limiter: RateLimiter | None = None,
        max_in_flight: int = 4,
        max_attempts: int = 6,
        max_wait_seconds: float = 120.0,
        query_wait_seconds: float = 10.0,
        backoff: RetryPolicy | None = None,
        timeout_seconds: float = 60.0,
        batch_size: int = 2048,
        limits: RequestLimits | None = None,
        rnd: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        import openai

        if dimensions is None and model not in KNOWN_DIMENSIONS:
            raise ValueError(
                f"the dimension of embedding model {model!r} is not known: set OPENAI_EMBEDDING_DIMENSIONS"
            )
        if max_in_flight < 1 or max_attempts < 1 or batch_size < 1:
            raise ValueError("max_in_flight, max_attempts and batch_size must be at least 1")
        self._openai = openai
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_seconds)
        self._model = model
        self._dimensions = dimensions or KNOWN_DIMENSIONS[model]
        # Only text-embedding-3 models (and servers mimicking them) take "dimensions".
        self._send_dimensions = dimensions is not None and dimensions != KNOWN_DIMENSIONS.get(model)
        self._where = base_url or "OpenAI"
        self._limiter = limiter
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._max_attempts = max_attempts
        self._max_wait = max_wait_seconds
        # A search waits for its query vector: it gets a short budget, a job a long one.
        self._query_wait = min(max_wait_seconds, query_wait_seconds)
        self._backoff = backoff or RetryPolicy(base_seconds=0.5, cap_seconds=20.0)
        self._batch_size = batch_size
        limits = limits or RequestLimits()
        if limiter is not None and 0 < limiter.tokens_per_period < limits.max_request_tokens:
            # A request larger than a minute's token budget would be refused outright.
            limits = RequestLimits(
                limits.max_inputs,
                max(limits.max_input_tokens, limiter.tokens_per_period),
                limits.max_input_tokens,
            )
        self._limits = limits
        self._rnd = rnd
        self._sleep = sleep

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def batch_tokens(self) -> int:
        """One request's worth of tokens: batches cut there are sent as one full request."""
        return self._limits.max_request_tokens

    @property
    def limiter(self) -> RateLimiter | None:
        return self._limiter

    @property
    def limits(self) -> RequestLimits:
        return self._limits

    async def embed_documents(self, texts: Sequence[str]) -> Embeddings:
        return await self._embed(texts, self._max_wait)

    async def embed_query(self, text: str) -> Sequence[float]:
        return (await self._embed([text], self._query_wait)).vectors[0]

    async def _embed(self, texts: Sequence[str], budget: float) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], tokens=0)
        unique = list(dict.fromkeys(texts))
        prepared: list[Prepared] = await asyncio.to_thread(lambda: [prepare(t, self._limits) for t in unique])
        sendable = [i for i, p in enumerate(prepared) if p.tokens > 0]
        requests = plan([prepared[i].tokens for i in sendable], self._limits)
        vectors: dict[str, list[float]] = {}
        tokens = 0
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._request([prepared[sendable[p]] for p in positions], budget))
                    for positions in requests
                ]
        except ExceptionGroup as failed:
            # The first failure cancelled the other requests; it is the one to report.
            raise _first(failed) from None
        for positions, task in zip(requests, tasks, strict=True):
            batch_vectors, batch_tokens = task.result()
            tokens += batch_tokens
            for p, vector in zip(positions, batch_vectors, strict=True):
                vectors[unique[sendable[p]]] = vector
        zero = [0.0] * self._dimensions
        return Embeddings(vectors=[vectors.get(t, zero) for t in texts], tokens=tokens)

    async def close(self) -> None:
        """Closes the HTTP client and the rate limiter it was given (it owns both)."""
        try:
            await self._client.close()
        finally:
            if self._limiter is not None:
                await self._limiter.close()

    # -- one request, with the rate limit and the retry policy -------------------------

    async def _request(self, inputs: list[Prepared], budget: float) -> tuple[list[list[float]], int]:
        counted = sum(p.tokens for p in inputs)
        started = time.monotonic()
        attempt = 0
        async with self._in_flight:
            while True:
                attempt += 1
                await self._take_budget(counted, started, budget)
                try:
                    response = await self._client.embeddings.create(
                        model=self._model,
                        input=[p.text for p in inputs],
                        dimensions=self._dimensions if self._send_dimensions else self._openai.omit,
                    )
                except self._openai.OpenAIError as exc:
                    reason, wait = self._classify(exc)
                    delay = self._backoff.delay(attempt, self._rnd()) if wait is None else wait
                    spent = time.monotonic() - started
                    if attempt >= self._max_attempts or spent + delay > budget:
                        raise EmbedderUnavailable(
                            f"the embedding service is unavailable: {reason} "
                            f"(gave up after {attempt} attempt(s) in {spent:.0f}s; the job will be retried)",
                            retried=True,
                        ) from exc
                    log.info("embedding request failed (%s); attempt %d again in %.1fs", reason, attempt + 1, delay)
                    await self._sleep(delay)
                    continue
                return self._vectors(response, len(inputs)), _usage(response) or counted

    async def _take_budget(self, tokens: int, started: float, budget: float) -> None:
        if self._limiter is None:
            return
        left = max(0.0, budget - (time.monotonic() - started))
        try:
            wait = await self._limiter.reserve(1, tokens, max_wait=left)
        except RateLimited as exc:
            raise EmbedderUnavailable(
                f"the embedding rate limit (OPENAI_RPM/OPENAI_TPM) is spent for the next {exc.retry_after:.0f}s; "
                "the job will be retried",
                retried=True,
            ) from exc
        if wait > 0:
            await self._sleep(wait)

    def _classify(self, exc: Exception) -> tuple[str, float | None]:
        """(reason, server-requested wait) of a retryable error; raises ``EmbedderRejected`` otherwise."""
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            return f"{self._where} timed out", None
        if isinstance(exc, openai.APIConnectionError):
            return f"{self._where} cannot be reached ({exc})", None
        if not isinstance(exc, openai.APIStatusError):
            return f"unexpected answer from {self._where} ({type(exc).__name__}: {exc})", None
        status, message = exc.status_code, _message(exc)
        if status == 429 and exc.code == "insufficient_quota":
            raise EmbedderRejected(
                f"the embedding account has no quota left (429 insufficient_quota): check its billing. {message}"
            ) from exc
        if status in _RETRYABLE_STATUS or status >= 500:
            label = "rate limited" if status == 429 else f"server error {status}"
            return f"{label}: {message}", retry_after(exc.response.headers)
        raise EmbedderRejected(self._rejection(status, message)) from exc

    def _rejection(self, status: int, message: str) -> str:
        if status == 401:
            return f"{self._where} refused the API key (401): check OPENAI_API_KEY. {message}"
        if status == 403:
            return f"{self._where} denied access to model {self._model!r} (403): check the key's rights. {message}"
        if status == 404:
            return (
                f"unknown embedding model {self._model!r} at {self._where} (404): "
                f"check OPENAI_EMBEDDING_MODEL. {message}"
            )
        return f"{self._where} rejected the embedding request ({status}): {message}"

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != expected:
            raise EmbedderUnavailable(f"{self._where} answered {len(data)} embeddings for {expected} inputs")
        vectors = [list(item.embedding) for item in data]
        for vector in vectors:
            if len(vector) != self._dimensions:
                raise EmbedderRejected(
                    f"model {self._model!r} answered {len(vector)}-dimensional vectors, expected {self._dimensions}: "
                    "set OPENAI_EMBEDDING_DIMENSIONS to the model's dimension"
                )
        return vectors


def _first(group: BaseExceptionGroup) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _usage(response: Any) -> int:
    usage = getattr(response, "usage", None)
    return int(getattr(usage, "prompt_tokens", 0) or 0)


def _message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)
