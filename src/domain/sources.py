"""Sources: the knowledge an agent is given (pasted text, an uploaded file, a website)."""

from __future__ import annotations

import enum
import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.agents import clean_name
from domain.errors import InvalidInput
from domain.jobs import JobStatus, JobType


class SourceType(str, enum.Enum):
    TEXT = "text"
    FILE = "file"
    WEBSITE = "website"

    @property
    def job_type(self) -> JobType:
        return _JOB_TYPES[self]

    def __str__(self) -> str:
        return self.value


_JOB_TYPES = {
    SourceType.TEXT: JobType.PROCESS_TEXT,
    SourceType.FILE: JobType.PROCESS_FILE,
    SourceType.WEBSITE: JobType.CRAWL_WEBSITE,
}


class ChunkUnit(str, enum.Enum):
    TOKENS = "tokens"
    CHARACTERS = "characters"

    def __str__(self) -> str:
        return self.value


# An embedding model reads at most 8,191 tokens (OpenAI's limit); a chunk must fit.
MAX_CHUNK_TOKENS = 8191
MAX_CHUNK_CHARACTERS = 32_000
# Below this a chunk cannot always hold one code point's tokens (up to 4 in cl100k).
MIN_CHUNK_SIZE = 16


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    size: int = 512
    overlap: int = 64
    unit: ChunkUnit = ChunkUnit.TOKENS

    def __post_init__(self) -> None:
        limit = MAX_CHUNK_TOKENS if self.unit is ChunkUnit.TOKENS else MAX_CHUNK_CHARACTERS
        if not MIN_CHUNK_SIZE <= self.size <= limit:
            raise InvalidInput(f"chunk size must be between {MIN_CHUNK_SIZE} and {limit} {self.unit}")
        if not 0 <= self.overlap < self.size:
            raise InvalidInput("chunk overlap must be at least 0 and smaller than the chunk size")

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "overlap": self.overlap, "unit": self.unit.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, default: ChunkingOptions) -> ChunkingOptions:
        if not data:
            return default
        return cls(
            size=int(data.get("size", default.size)),
            overlap=int(data.get("overlap", default.overlap)),
            unit=ChunkUnit(data.get("unit", default.unit.value)),
        )


@dataclass(slots=True)
class Source:
    """A source of an agent. Its status follows its latest job."""

    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    type: SourceType
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    options: dict[str, Any] = field(default_factory=dict)
    blob_key: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    url: str | None = None
    chunk_count: int = 0
    error_message: str | None = None
    latest_job_id: uuid.UUID | None = None

    @classmethod
    def new(
        cls,
        *,
        agent_id: uuid.UUID,
        name: str,
        type: SourceType,
        now: datetime,
        options: dict[str, Any] | None = None,
        source_id: uuid.UUID | None = None,
    ) -> Source:
        return cls(
            id=source_id or uuid.uuid4(),
            agent_id=agent_id,
            name=clean_name(name),
            type=type,
            status=JobStatus.PENDING,
            created_at=now,
            updated_at=now,
            options=dict(options or {}),
        )

    def chunking(self, default: ChunkingOptions) -> ChunkingOptions:
        return ChunkingOptions.from_dict(self.options.get("chunking"), default)

    def follow(self, status: JobStatus, now: datetime, *, error: str | None = None) -> None:
        """Mirror the state of this source's latest job."""
        self.status = status
        self.error_message = error
        self.updated_at = now


_WORDS = re.compile(r"\S+")  # str.split()'s words: re's \s is str.isspace()


def default_text_name(text: str) -> str:
    """A readable name for pasted text without one: its first words."""
    # Only the first words are read: splitting a 10 MB text whole took 0.3 s of the event loop.
    words = [m.group() for m in itertools.islice(_WORDS.finditer(text), 8)]
    if not words:
        raise InvalidInput("text must not be empty")
    name = " ".join(words[:8])
    return name if len(name) <= 80 else name[:77] + "..."


def text_head(data: bytes, words: int = 9) -> str:
    """The start of the UTF-8 ``data`` as text, long enough to hold its first ``words``
    words whole (or all of it): what the default name and the emptiness check read,
    without decoding a large text whole (a 15 MB text with one emoji is a 60 MB str)."""
    size = 4096
    while size < len(data):
        # A prefix may end inside a character: "ignore" drops only that partial one.
        head = data[:size].decode("utf-8", "ignore")
        if sum(1 for _ in itertools.islice(_WORDS.finditer(head), words)) >= words:
            return head  # the first words - 1 are whole: a whitespace follows each
        size *= 8
    return data.decode("utf-8")


def default_website_name(url: str) -> str:
    """A readable name for a website without one: its host and path."""
    name = url.split("://", 1)[-1].rstrip("/")
    return name if len(name) <= 80 else name[:77] + "..."


def validate_metadata(metadata: dict[str, Any] | None, *, max_keys: int = 32, max_bytes: int = 4096) -> dict[str, Any]:
    """User metadata copied onto every vector: flat, small, scalar values only."""
    if not metadata:
        return {}
    if len(metadata) > max_keys:
        raise InvalidInput(f"metadata holds more than {max_keys} keys")
    size = 0
    clean: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise InvalidInput("metadata keys must be non-empty strings of at most 64 characters")
        if key in RESERVED_METADATA_KEYS:
            raise InvalidInput(f"metadata key {key!r} is reserved")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"metadata list {key!r} must hold strings only")
        elif not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"metadata value of {key!r} must be a string, number, boolean or list of strings")
        size += len(key) + len(str(value))
        clean[key] = value
    if size > max_bytes:
        raise InvalidInput(f"metadata is larger than {max_bytes} bytes")
    return clean


RESERVED_METADATA_KEYS = frozenset(
    {
        "source_id",
        "agent_id",
        "chunk_index",
        "text",
        "char_count",
        "word_count",
        "namespace",
        "created_at",
        "page",
        "url",
        "title",
        "source_name",
        "source_type",
    }
)
