"""Keyset pagination: newest first, stable under concurrent inserts."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from domain.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last item of a page: items strictly older than (created_at, id)."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            stamp, _, ident = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
            created_at = datetime.fromisoformat(stamp)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(created_at=created_at, id=uuid.UUID(ident))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("cursor is not one this server issued") from exc


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")

    @classmethod
    def parse(cls, limit: int | None, cursor: str | None, *, max_limit: int = MAX_PAGE_SIZE) -> PageRequest:
        size = DEFAULT_PAGE_SIZE if limit is None else limit
        if not 1 <= size <= max_limit:
            raise InvalidInput(f"limit must be between 1 and {max_limit}")
        return cls(limit=size, cursor=Cursor.decode(cursor) if cursor else None)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
