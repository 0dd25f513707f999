"""The embedded mode's embedding cache: one SQLite file in the data folder.

Vectors are float32 blobs keyed by (space, key); ``used`` orders entries for eviction
(nanoseconds of the last read or write), and after each write the oldest entries past
``max_entries`` are deleted. It is a cache: durability is relaxed (WAL, synchronous
NORMAL), and every SQLite or file-system error becomes ``EmbeddingCacheUnavailable``,
which the caching embedder treats as a miss.

All SQLite work runs on one dedicated thread, so the event loop never blocks and the
connection needs no lock.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ports.embedding_cache import EmbeddingCacheUnavailable

T = TypeVar("T")

FILENAME = "embedding-cache.sqlite3"
_PARAMS = 500  # keys per statement, well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    vector BLOB NOT NULL,
    used INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS embeddings_key ON embeddings (space, key);
CREATE INDEX IF NOT EXISTS embeddings_used ON embeddings (used);
"""


class SqliteEmbeddingCache:
    """An ``EmbeddingCache`` in ``<folder>/embedding-cache.sqlite3``, bounded to ``max_entries``."""

    def __init__(
        self, folder: str | os.PathLike[str], *, max_entries: int = 100_000, busy_timeout: float = 5.0
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = Path(folder) / FILENAME
        self._max = max_entries
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluice-embedding-cache")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @property
    def max_entries(self) -> int:
        return self._max

    async def get_many(self, space: str, keys: Sequence[str]) -> list[list[float] | None]:
        if not keys:
            return []
        return await self._run(self._get_many, space, list(keys))

    async def put_many(self, space: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        if entries:
            blobs = [(key, np.asarray(vector, dtype="<f4").tobytes()) for key, vector in entries]
            await self._run(self._put_many, space, blobs)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=False)

    # -- on the cache's thread ----------------------------------------------------------

    def _get_many(self, conn: sqlite3.Connection, space: str, keys: list[str]) -> list[list[float] | None]:
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), _PARAMS):
            part = keys[start : start + _PARAMS]
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                f"SELECT key, vector FROM embeddings WHERE space = ? AND key IN ({marks})", (space, *part)
            )
            found.update(rows.fetchall())
        if found:
            now = time.time_ns()
            with conn:
                hits = list(found)
                for start in range(0, len(hits), _PARAMS):
                    part = hits[start : start + _PARAMS]
                    marks = ",".join("?" * len(part))
                    conn.execute(
                        f"UPDATE embeddings SET used = ? WHERE space = ? AND key IN ({marks})", (now, space, *part)
                    )
        return [np.frombuffer(found[k], dtype="<f4").tolist() if k in found else None for k in keys]

    def _put_many(self, conn: sqlite3.Connection, space: str, blobs: list[tuple[str, bytes]]) -> None:
        now = time.time_ns()
        with conn:
            conn.executemany(
                "INSERT INTO embeddings (space, key, vector, used) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (space, key) DO UPDATE SET vector = excluded.vector, used = excluded.used",
                [(space, key, blob, now) for key, blob in blobs],
            )
            excess = int(conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]) - self._max
            if excess > 0:
                conn.execute(
                    "DELETE FROM embeddings WHERE rowid IN (SELECT rowid FROM embeddings ORDER BY used, rowid LIMIT ?)",
                    (excess,),
                )

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise EmbeddingCacheUnavailable("the embedding cache is closed")
        call = functools.partial(self._on_thread, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise EmbeddingCacheUnavailable(f"embedding cache at {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
