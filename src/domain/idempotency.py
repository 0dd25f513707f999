"""Idempotent submission: a client retry with the same ``Idempotency-Key`` creates nothing new.

The first request with a key records ``(agent, key, request fingerprint) -> (source, job)``
in the same transaction that creates the source, so either both exist or neither. A
repeat with the same fingerprint answers with the recorded source and job; a repeat with
another fingerprint is a client bug (the key was reused for a different request) and is
refused. Records expire after a while (``IDEMPOTENCY_TTL_HOURS``): a key is meant to
cover retries, not to name a request forever.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import Conflict, InvalidInput

MAX_KEY_LENGTH = 255
DEFAULT_TTL = timedelta(hours=24)


def fingerprint(*parts: bytes | str) -> str:
    """SHA-256 over the parts, each length-prefixed so ``("ab", "c")`` != ``("a", "bc")``."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(slots=True)
class IdempotencyClaim:
    """What a request asks: its key and the fingerprint of what it sends.

    ``replayed`` is set by the use case when it answered from an earlier request, so the
    endpoint can say so (``Idempotent-Replayed: true``).
    """

    key: str
    request_hash: str
    replayed: bool = False

    def __post_init__(self) -> None:
        if not 1 <= len(self.key) <= MAX_KEY_LENGTH:
            raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
        if not all(" " <= ch <= "~" for ch in self.key):
            raise InvalidInput("Idempotency-Key must be printable ASCII")


@dataclass(slots=True)
class IdempotencyRecord:
    agent_id: uuid.UUID
    key: str
    request_hash: str
    source_id: uuid.UUID
    job_id: uuid.UUID
    created_at: datetime

    def expired(self, now: datetime, ttl: timedelta = DEFAULT_TTL) -> bool:
        return self.created_at <= now - ttl

    def check(self, claim: IdempotencyClaim) -> None:
        """Refuse a key reused for a different request."""
        if claim.request_hash != self.request_hash:
            raise Conflict(
                f"Idempotency-Key {claim.key!r} was already used for a different request; "
                "use a new key for a new request",
                code="idempotency_key_reused",
            )
