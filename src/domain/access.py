"""Who is calling: the admin, one agent, or anyone (when no admin key is configured).

An agent's API key reaches that agent's sources, jobs, real-time streams and search and
nothing else; another agent's ids answer "not found", so existence is never revealed.
Keys are random (256 bits), shown once, and stored as their SHA-256 (a slow hash adds
nothing against a key that cannot be guessed).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

KEY_PREFIX = "slk_"


class Role(str, enum.Enum):
    ADMIN = "admin"
    AGENT = "agent"
    OPEN = "open"  # authentication is off (no admin key configured; loopback only)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    agent_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is not Role.AGENT

    def can_reach(self, agent_id: uuid.UUID) -> bool:
        return self.is_admin or self.agent_id == agent_id

    def scope(self) -> uuid.UUID | None:
        """The agent every query must be limited to (None: unrestricted)."""
        return None if self.is_admin else self.agent_id


ADMIN = Principal(Role.ADMIN)
OPEN = Principal(Role.OPEN)


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times reveal nothing about the key."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class ApiKey:
    """An agent's stored key: only its hash is kept, the key itself is shown once."""

    id: uuid.UUID
    agent_id: uuid.UUID
    key_hash: str
    created_at: datetime

    @classmethod
    def issue(cls, agent_id: uuid.UUID, now: datetime) -> tuple[ApiKey, str]:
        """A new key for the agent: the record to store and the key to show once."""
        key = generate_api_key()
        return cls(id=uuid.uuid4(), agent_id=agent_id, key_hash=hash_api_key(key), created_at=now), key


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when absent or another scheme)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
