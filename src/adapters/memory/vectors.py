"""An in-memory vector index: exact cosine similarity over numpy, one dict per namespace.

It serves the fast tests and any single process that needs no persistence. It keeps
metadata as JSON text, exactly as the on-disk index does, so a caller gets the same
errors and fresh copies from both (checked by ``tests/contract/test_vector_index.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from domain.vectors import VectorFilter, VectorMatch, VectorRecord
from ports.vectors import VectorIndexError


@dataclass(slots=True)
class _Entry:
    unit: np.ndarray  # the L2-normalised vector (float32)
    source_id: str
    metadata_json: str


@dataclass(slots=True)
class _Namespace:
    entries: dict[str, _Entry] = field(default_factory=dict)
    # (ids, unit rows, source ids) stacked for search; dropped on every write.
    stacked: tuple[list[str], np.ndarray, np.ndarray] | None = None

    @property
    def dimensions(self) -> int | None:
        for entry in self.entries.values():
            return len(entry.unit)
        return None

    def search_view(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        if self.stacked is None:
            ids = list(self.entries)
            entries = self.entries.values()
            units = np.stack([e.unit for e in entries])
            sources = np.array([e.source_id for e in entries], dtype=object)
            self.stacked = (ids, units, sources)
        return self.stacked


class MemoryVectorIndex:
    """A ``VectorIndex`` held in this process's memory; everything is lost on exit."""

    def __init__(self) -> None:
        self._namespaces: dict[str, _Namespace] = {}
        self._closed = False

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        self._check_open()
        if not records:
            return
        units = _unit_rows(_as_matrix([r.values for r in records], what="record"))
        prepared = [(r.id, _source_id(r), _dump_metadata(r)) for r in records]
        ns = self._namespaces.setdefault(namespace, _Namespace())
        _check_dimensions(namespace, ns.dimensions, units.shape[1])
        for (vid, source_id, metadata_json), unit in zip(prepared, units, strict=True):
            ns.entries[vid] = _Entry(unit=unit, source_id=source_id, metadata_json=metadata_json)
        ns.stacked = None

    async def query(
        self,
        namespace: str,
        vector: Sequence[float],
        *,
        top_k: int,
        filter: VectorFilter | None = None,
    ) -> list[VectorMatch]:
        self._check_open()
        if top_k < 1:
            raise VectorIndexError(f"top_k must be at least 1, got {top_k}")
        query = _unit_rows(_as_matrix([vector], what="query vector"))[0]
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.entries:
            return []
        _check_dimensions(namespace, ns.dimensions, len(query))
        ids, units, sources = ns.search_view()
        scores = units @ query
        candidates = np.arange(len(ids))
        if filter is not None and filter.source_ids is not None:
            candidates = np.flatnonzero(np.isin(sources, list(filter.source_ids)))
        # Exact search: a full stable sort is fine at the sizes this adapter serves.
        best = candidates[np.argsort(-scores[candidates], kind="stable")[:top_k]]
        return [
            VectorMatch(
                id=ids[i],
                score=float(np.clip(scores[i], -1.0, 1.0)),
                metadata=json.loads(ns.entries[ids[i]].metadata_json),
            )
            for i in best
        ]

    async def list_ids(self, namespace: str, prefix: str) -> list[str]:
        self._check_open()
        ns = self._namespaces.get(namespace)
        return [] if ns is None else sorted(vid for vid in ns.entries if vid.startswith(prefix))

    async def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        self._check_open()
        ns = self._namespaces.get(namespace)
        if ns is None:
            return
        for vid in ids:
            if ns.entries.pop(vid, None) is not None:
                ns.stacked = None

    async def delete_source(self, namespace: str, source_id: str) -> None:
        self._check_open()
        ns = self._namespaces.get(namespace)
        if ns is not None:
            await self.delete_ids(namespace, [k for k, e in ns.entries.items() if e.source_id == source_id])

    async def delete_namespace(self, namespace: str) -> None:
        self._check_open()
        self._namespaces.pop(namespace, None)

    async def count(self, namespace: str, *, source_id: str | None = None) -> int:
        self._check_open()
        ns = self._namespaces.get(namespace)
        if ns is None:
            return 0
        if source_id is None:
            return len(ns.entries)
        return sum(1 for e in ns.entries.values() if e.source_id == source_id)

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True
        self._namespaces.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise VectorIndexError("the vector index is closed")


def _as_matrix(rows: Sequence[Sequence[float]], *, what: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore"):  # too large for float32 becomes inf, refused below
            matrix = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise VectorIndexError(f"every {what} must be a list of numbers of one dimension: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise VectorIndexError(f"every {what} must be a non-empty list of numbers")
    if not np.isfinite(matrix).all():
        raise VectorIndexError(f"a {what} holds a NaN or infinite value (or one too large for float32)")
    return matrix


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0.0, norms, 1.0)  # a zero vector scores 0 against anything


def _check_dimensions(namespace: str, expected: int | None, got: int) -> None:
    if expected is not None and expected != got:
        raise VectorIndexError(
            f"namespace {namespace!r} holds {expected}-dimensional vectors, got {got} dimensions "
            "(was the embedding model changed?)"
        )


def _source_id(record: VectorRecord) -> str:
    if record.metadata.get("source_id") is None:
        raise VectorIndexError(f"vector {record.id!r} has no source_id in its metadata")
    return record.source_id


def _dump_metadata(record: VectorRecord) -> str:
    try:
        return json.dumps(record.metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise VectorIndexError(f"metadata of vector {record.id!r} is not JSON-serialisable: {exc}") from exc
