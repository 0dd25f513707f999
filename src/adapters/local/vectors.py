"""The embedded on-disk vector index: SQLite for storage, numpy for search.

Vectors (float32 blobs) and metadata (JSON) live in one SQLite file in the data folder,
so they survive restarts and several processes on one machine (the API and workers)
can share them. Search runs over an in-memory matrix per namespace (``VectorMatrix``),
loaded on first use and kept in step with this process's writes; a query first reads
the namespace's generation (one primary-key lookup) and catches up with what other
processes wrote since (see ``vector_tables``). The IVF partition of a large namespace is
saved in the file too, so that another process (or this one after a restart) loads it
with the vectors instead of training it again.

All SQLite and numpy work runs on one dedicated thread: the event loop never blocks,
the connection and the cache need no locks, and each call sees the writes of the calls
made before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np

from adapters.local import vector_tables as tables
from adapters.local.ivf import Ivf, probes_for
from adapters.local.matrix import VectorMatrix, unit_rows
from domain.vectors import VectorFilter, VectorMatch, VectorRecord
from ports.vectors import VectorIndexError, VectorIndexUnavailable

T = TypeVar("T")

FILENAME = "vectors.sqlite3"

# A partition is saved again once this share of a namespace's rows had to be assigned to
# cells by this process (it was trained here, or much was written since it was saved).
_RESAVE_SHARE = 0.1
# A saved partition is adopted only if it knows the cells of this share of the rows;
# below, the namespace has changed too much and is partitioned afresh.
_ADOPT_SHARE = 0.5
# How long saving a partition waits for another process's write (it is only a cache).
_SAVE_BUSY_MS = 200
# Rows read from SQLite before they are placed into their cells' blocks, when loading.
_LOAD_CHUNK = 65_536


@dataclass(slots=True)
class _Cached:
    generation: int
    matrix: VectorMatrix | None  # None: the namespace held no vectors at that generation


class SqliteVectorIndex:
    """A ``VectorIndex`` stored in ``<folder>/vectors.sqlite3`` and searched in memory.

    ``cache_bytes`` bounds the memory of cached namespace matrices (least recently
    queried namespaces are dropped first; the one being queried is always kept).
    ``busy_timeout`` is how long a write waits for another process's transaction
    before giving up with ``VectorIndexUnavailable``. ``approximate_from`` and
    ``probe_share`` tune the approximate search of large namespaces (``matrix``).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        cache_bytes: int = 2 << 30,
        busy_timeout: float = 10.0,
        approximate_from: int | None = None,
        probe_share: float | None = None,
    ) -> None:
        self.path = Path(folder) / FILENAME
        self._matrix_options: dict[str, Any] = {
            k: v for k, v in (("approximate_from", approximate_from), ("probe_share", probe_share)) if v is not None
        }
        self._cache_bytes = cache_bytes
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluice-vectors")
        self._conn: sqlite3.Connection | None = None  # opened on the executor thread, on first use
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._closed = False

    # -- the port ---------------------------------------------------------------------

    async def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        if records:
            await self._run(self._upsert, namespace, records)

    async def query(
        self,
        namespace: str,
        vector: Sequence[float],
        *,
        top_k: int,
        filter: VectorFilter | None = None,
    ) -> list[VectorMatch]:
        if top_k < 1:
            raise VectorIndexError(f"top_k must be at least 1, got {top_k}")
        source_ids = None if filter is None else filter.source_ids
        return await self._run(self._query, namespace, vector, top_k, source_ids)

    async def list_ids(self, namespace: str, prefix: str) -> list[str]:
        return await self._run(tables.list_ids, namespace, prefix)

    async def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        if ids:
            await self._run(self._delete_ids, namespace, list(ids))

    async def delete_source(self, namespace: str, source_id: str) -> None:
        await self._run(self._delete_source, namespace, source_id)

    async def delete_namespace(self, namespace: str) -> None:
        await self._run(self._delete_namespace, namespace)

    async def count(self, namespace: str, *, source_id: str | None = None) -> int:
        sql = "SELECT count(*) FROM vectors WHERE namespace = ?"
        args: tuple[str, ...] = (namespace,)
        if source_id is not None:
            sql += " AND source_id = ?"
            args += (source_id,)
        return await self._run(lambda conn: int(conn.execute(sql, args).fetchone()[0]))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # later calls fail fast; calls already queued run first
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=False)

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise VectorIndexError("the vector index is closed")
        call = functools.partial(self._on_thread, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            if self._conn is None:
                self._conn = tables.connect(self.path, busy_timeout=self._busy_timeout)
            return fn(self._conn, *args)
        except sqlite3.Error as exc:
            raise tables.translate(exc, self.path) from exc
        except OSError as exc:  # the folder cannot be created or opened
            raise VectorIndexUnavailable(f"vector index at {self.path}: {exc}") from exc

    def _close_connection(self) -> None:
        self._cache.clear()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    # -- writes (on the executor thread) ----------------------------------------------------

    def _upsert(self, conn: sqlite3.Connection, namespace: str, records: Sequence[VectorRecord]) -> None:
        batch = _Batch.of(records)
        with tables.transaction(conn, write=True):
            _check_dimensions(namespace, tables.stored_dimensions(conn, namespace), batch.dimensions)
            before, after = tables.next_generation(conn, namespace)
            conn.executemany(
                "INSERT INTO vectors (namespace, id, source_id, version, vector, metadata)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, id) DO UPDATE SET"
                " source_id = excluded.source_id, version = excluded.version,"
                " vector = excluded.vector, metadata = excluded.metadata",
                batch.rows(namespace, after),
            )
            tables.record_write(conn, namespace, after, deleted=False)

        def apply(matrix: VectorMatrix | None) -> VectorMatrix:
            if matrix is None or matrix.dimensions != batch.dimensions:
                # The namespace was empty: start afresh (it may take a new dimension).
                matrix = VectorMatrix(batch.dimensions, **self._matrix_options)
            matrix.upsert(batch.ids, batch.source_ids, unit_rows(batch.vectors))
            return matrix

        self._follow(namespace, before, after, apply)

    def _delete_ids(self, conn: sqlite3.Connection, namespace: str, ids: list[str]) -> None:
        with tables.transaction(conn, write=True):
            changes = conn.total_changes
            conn.executemany("DELETE FROM vectors WHERE namespace = ? AND id = ?", ((namespace, i) for i in ids))
            if conn.total_changes == changes:
                return  # nothing was there: other processes need not reload
            before, after = tables.next_generation(conn, namespace)
            tables.record_write(conn, namespace, after, deleted=True)
        self._follow(namespace, before, after, functools.partial(_remove, ids=ids))

    def _delete_source(self, conn: sqlite3.Connection, namespace: str, source_id: str) -> None:
        where = "FROM vectors WHERE namespace = ? AND source_id = ?"
        with tables.transaction(conn, write=True):
            ids = [row[0] for row in conn.execute(f"SELECT id {where}", (namespace, source_id))]
            if not ids:
                return
            conn.execute(f"DELETE {where}", (namespace, source_id))
            before, after = tables.next_generation(conn, namespace)
            tables.record_write(conn, namespace, after, deleted=True)
        self._follow(namespace, before, after, functools.partial(_remove, ids=ids))

    def _delete_namespace(self, conn: sqlite3.Connection, namespace: str) -> None:
        with tables.transaction(conn, write=True):
            tables.delete_partition(conn, namespace)
            if conn.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,)).rowcount == 0:
                return
            before, after = tables.next_generation(conn, namespace)
            tables.record_write(conn, namespace, after, deleted=True)
        self._follow(namespace, before, after, lambda _matrix: None)

    def _follow(
        self,
        namespace: str,
        before: int,
        after: int,
        apply: Callable[[VectorMatrix | None], VectorMatrix | None],
    ) -> None:
        """Brings the cached matrix to the generation this process just committed.

        Only a cache exactly at ``before`` is this one write away from the truth; any
        other was passed by another process, and the next query catches up or reloads.
        """
        cached = self._cache.get(namespace)
        if cached is None:
            return
        if cached.generation != before:
            del self._cache[namespace]
            return
        try:
            cached.matrix = apply(cached.matrix)
        except BaseException:
            del self._cache[namespace]
            raise
        cached.generation = after
        self._evict(keep=namespace)

    # -- search (on the executor thread) ------------------------------------------------------

    def _query(
        self,
        conn: sqlite3.Connection,
        namespace: str,
        vector: Sequence[float],
        top_k: int,
        source_ids: frozenset[str] | None,
    ) -> list[VectorMatch]:
        query = unit_rows(_as_matrix([vector], what="query vector"))[0]
        if source_ids is not None and not source_ids:
            return []
        # One read transaction: the generation, the matrix and the metadata agree.
        with tables.transaction(conn, write=False):
            matrix = self._current_matrix(conn, namespace)
            if matrix is None or matrix.size == 0:
                return []
            _check_dimensions(namespace, matrix.dimensions, len(query))
            hits = matrix.search(query, top_k, source_ids)
            metadata = tables.fetch_metadata(conn, namespace, [vid for vid, _ in hits])
        if matrix.partition is not None and matrix.unsaved > _RESAVE_SHARE * matrix.size:
            _save_partition(conn, namespace, self._cache[namespace].generation, matrix, self._busy_timeout)
        return [VectorMatch(id=vid, score=score, metadata=json.loads(metadata[vid])) for vid, score in hits]

    def _current_matrix(self, conn: sqlite3.Connection, namespace: str) -> VectorMatrix | None:
        state = tables.namespace_state(conn, namespace)
        if state is None:
            return None  # never written
        cached = self._cache.get(namespace)
        try:
            if cached is None or not _caught_up(conn, namespace, cached, state):
                loaded = _load(conn, namespace, state.generation, self._matrix_options)
                cached = self._cache[namespace] = _Cached(state.generation, loaded)
        except BaseException:
            self._cache.pop(namespace, None)  # maybe half caught up: reload next time
            raise
        self._cache.move_to_end(namespace)
        self._evict(keep=namespace)
        return cached.matrix

    def _evict(self, *, keep: str) -> None:
        total = sum(c.matrix.nbytes for c in self._cache.values() if c.matrix is not None)
        for name in list(self._cache):
            if total <= self._cache_bytes:
                break
            if name != keep:
                dropped = self._cache.pop(name)
                total -= dropped.matrix.nbytes if dropped.matrix is not None else 0


# -- helpers ------------------------------------------------------------------------------------


def _caught_up(conn: sqlite3.Connection, namespace: str, cached: _Cached, state: tables.NamespaceState) -> bool:
    """Brings ``cached`` to ``state`` by reading only newer rows, when that is enough."""
    if cached.generation == state.generation:
        return True
    if cached.matrix is None or cached.matrix.size == 0 or cached.generation < state.last_delete:
        return False  # rows were deleted since (or it was empty, maybe of another dimension)
    _read_into(conn, namespace, cached.matrix, since=cached.generation)
    cached.generation = state.generation
    return True


def _load(conn: sqlite3.Connection, namespace: str, generation: int, options: dict[str, Any]) -> VectorMatrix | None:
    dimensions = tables.stored_dimensions(conn, namespace)
    if dimensions is None:
        return None
    matrix = VectorMatrix(dimensions, **options)
    rows = tables.count_since(conn, namespace, 0)
    if rows >= matrix.approximate_from and _load_partitioned(conn, namespace, generation, matrix, rows):
        return matrix
    # Headroom, so that catching up with a few rows written elsewhere is not a copy of all.
    matrix.reserve(rows + max(1024, rows // 8))
    _read_into(conn, namespace, matrix, since=0)
    return matrix


def _load_partitioned(
    conn: sqlite3.Connection, namespace: str, generation: int, matrix: VectorMatrix, rows: int
) -> bool:
    """Loads the rows into the saved partition's cells, if there is a partition worth adopting.

    A row keeps its saved cell only if it was not written after the partition was saved
    (``version <= saved.generation``); every other row is assigned to its nearest cell.
    """
    saved = tables.saved_partition(conn, namespace)
    if (
        saved is None
        or saved.dimensions != matrix.dimensions
        or saved.generation > generation  # cannot happen with one file; never trust it if it does
        or rows >= 2 * saved.trained_rows  # the first query would train again anyway
        or tables.count_until(conn, namespace, saved.generation) < _ADOPT_SHARE * rows
    ):
        return False
    try:
        centroids, ids, cells = tables.read_partition(conn, namespace)
    except (ValueError, VectorIndexError):  # unreadable (JSON or shapes): only a cache, load without
        return False
    probes = probes_for(len(centroids), matrix.probe_share, saved.trained_rows, matrix.probed_rows)
    ivf = Ivf(centroids, trained_rows=saved.trained_rows, probes=probes)
    expected = np.bincount(cells, minlength=ivf.lists) * (rows / max(1, len(cells)))
    cell_of = dict(zip(ids, cells.tolist(), strict=True))
    del ids, cells
    matrix.adopt(ivf, expected)
    # Rows are placed in chunks of several fetches: fewer, longer appends to each cell's block.
    chunk: list[tuple[tuple[str, ...], tuple[str, ...], np.ndarray, np.ndarray]] = []
    pending = 0
    for batch in tables.rows_since(conn, namespace, 0, matrix.dimensions):
        batch_ids, source_ids, versions, vectors = batch
        known = np.fromiter((cell_of.get(vid, -1) for vid in batch_ids), np.int16, len(batch_ids))
        known[np.asarray(versions) > saved.generation] = -1  # written since: its saved cell may be stale
        chunk.append((batch_ids, source_ids, known, vectors))
        pending += len(batch_ids)
        if pending >= _LOAD_CHUNK:
            _place_chunk(matrix, chunk)
            chunk, pending = [], 0
    _place_chunk(matrix, chunk)
    return True


def _place_chunk(
    matrix: VectorMatrix, chunk: list[tuple[tuple[str, ...], tuple[str, ...], np.ndarray, np.ndarray]]
) -> None:
    if chunk:
        matrix.upsert(
            [vid for ids, _, _, _ in chunk for vid in ids],
            [sid for _, source_ids, _, _ in chunk for sid in source_ids],
            unit_rows(np.concatenate([vectors for _, _, _, vectors in chunk])),
            cells=np.concatenate([known for _, _, known, _ in chunk]),
        )


def _save_partition(
    conn: sqlite3.Connection, namespace: str, generation: int, matrix: VectorMatrix, busy_timeout: float
) -> None:
    """Saves the matrix's partition for other processes; skipped if the file is busy.

    ``generation`` is the one the matrix is at: every row's cell holds for that state.
    """
    ivf = matrix.partition
    assert ivf is not None
    ids, cells = matrix.assignments()
    matrix.unsaved = 0  # also on failure: not retried on every query
    try:
        conn.execute(f"PRAGMA busy_timeout = {_SAVE_BUSY_MS}")
        with tables.transaction(conn, write=True):
            tables.save_partition(
                conn,
                namespace,
                generation,
                trained_rows=ivf.trained_rows,
                centroids=ivf.centroids,
                ids=ids,
                cells=cells,
            )
    except (sqlite3.OperationalError, sqlite3.DataError):
        pass  # busy, read-only, full or too big: the partition is only a cache
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def _read_into(conn: sqlite3.Connection, namespace: str, matrix: VectorMatrix, *, since: int) -> None:
    for ids, source_ids, _versions, vectors in tables.rows_since(conn, namespace, since, matrix.dimensions):
        matrix.upsert(ids, source_ids, unit_rows(vectors))


def _remove(matrix: VectorMatrix | None, *, ids: list[str]) -> VectorMatrix | None:
    if matrix is not None:
        matrix.remove(ids)
    return matrix


@dataclass(slots=True)
class _Batch:
    """An upsert batch, validated and converted before the write transaction opens."""

    ids: list[str]
    source_ids: list[str]
    vectors: np.ndarray  # float32 (n, dimensions), as given
    metadata: list[str]

    @classmethod
    def of(cls, records: Sequence[VectorRecord]) -> _Batch:
        # Last one wins when a batch repeats an id, as if the records were written in turn.
        latest = list({r.id: r for r in records}.values())
        vectors = _as_matrix([r.values for r in latest], what="record")
        source_ids: list[str] = []
        metadata: list[str] = []
        for record in latest:
            if record.metadata.get("source_id") is None:
                raise VectorIndexError(f"vector {record.id!r} has no source_id in its metadata")
            source_ids.append(record.source_id)
            metadata.append(_metadata_json(record))
        return cls(ids=[r.id for r in latest], source_ids=source_ids, vectors=vectors, metadata=metadata)

    @property
    def dimensions(self) -> int:
        return int(self.vectors.shape[1])

    def rows(self, namespace: str, version: int) -> Iterator[tuple[str, str, str, int, bytes, str]]:
        for vid, source_id, vector, metadata in zip(
            self.ids, self.source_ids, self.vectors, self.metadata, strict=True
        ):
            yield namespace, vid, source_id, version, vector.tobytes(), metadata


_ENCODER = msgspec.json.Encoder()
_SCALARS = (str, int, bool, type(None))


def _metadata_json(record: VectorRecord) -> str:
    """The record's metadata as JSON text.

    Flat metadata of plain values (a chunk's: ids, text, counts, names) is encoded by
    msgspec, several times faster than ``json``; anything else goes through ``json``,
    whose errors (a NaN, an object that is not JSON) are the ones reported.
    """
    meta = record.metadata
    if all(type(k) is str for k in meta) and all(
        type(v) in _SCALARS or (type(v) is float and math.isfinite(v)) for v in meta.values()
    ):
        with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: let json say what it says
            return _ENCODER.encode(meta).decode()
    try:
        return json.dumps(meta, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise VectorIndexError(f"metadata of vector {record.id!r} cannot be stored as JSON: {exc}") from exc


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


def _check_dimensions(namespace: str, expected: int | None, got: int) -> None:
    if expected is not None and expected != got:
        raise VectorIndexError(
            f"namespace {namespace!r} holds {expected}-dimensional vectors, got {got} dimensions "
            "(was the embedding model changed?)"
        )
