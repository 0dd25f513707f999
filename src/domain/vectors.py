"""Vector records: the deterministic identity and the metadata of a stored chunk."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.chunking import Chunk

ID_SEPARATOR = "#"


def vector_id(source_id: uuid.UUID | str, chunk_index: int) -> str:
    """``{source_id}#{chunk_index}``: a re-run overwrites its vectors instead of duplicating."""
    return f"{source_id}{ID_SEPARATOR}{chunk_index}"


def source_prefix(source_id: uuid.UUID | str) -> str:
    """The id prefix shared by every vector of one source (for listing and deleting)."""
    return f"{source_id}{ID_SEPARATOR}"


def parse_vector_id(vid: str) -> tuple[str, int]:
    source, _, index = vid.rpartition(ID_SEPARATOR)
    if not source or not index.isdigit():
        raise ValueError(f"not a Sluice vector id: {vid!r}")
    return source, int(index)


def chunk_metadata(
    *,
    source_id: uuid.UUID,
    agent_id: uuid.UUID,
    namespace: str,
    chunk: Chunk,
    created_at: datetime,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The seed's metadata (exactly its keys), then what a source type adds (page, url, title...)."""
    meta: dict[str, Any] = {
        "source_id": str(source_id),
        "agent_id": str(agent_id),
        "chunk_index": chunk.index,
        "text": chunk.text,
        "char_count": chunk.char_count,
        "word_count": chunk.word_count,
        "namespace": namespace,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
    }
    if extra:
        for key, value in extra.items():
            meta.setdefault(key, value)
    return meta


@dataclass(frozen=True, slots=True)
class VectorRecord:
    id: str
    values: Sequence[float]
    metadata: dict[str, Any]

    @property
    def source_id(self) -> str:
        return str(self.metadata["source_id"])


@dataclass(frozen=True, slots=True)
class VectorMatch:
    id: str
    score: float
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VectorFilter:
    """A query filter. Only narrowing filters exist: the namespace is always the agent's."""

    source_ids: frozenset[str] | None = None

    def accepts(self, metadata: Mapping[str, Any]) -> bool:
        return self.source_ids is None or str(metadata.get("source_id")) in self.source_ids
