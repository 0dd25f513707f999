"""The SQLite side of the embedded vector index: schema, transactions and statements.

Every function here runs on the index's own thread with its one connection. The
``namespaces`` table is the cross-process cache protocol: ``generation`` is bumped by
every write, each vector row records the ``version`` (generation) that last wrote it,
and ``last_delete`` is the generation of the latest deletion. A process whose cached
matrix is at generation ``g`` can therefore catch up by reading the rows with
``version > g``, unless something was deleted after ``g`` (then it reloads).

The ``partitions`` table keeps, per namespace, the IVF partition a process trained (see
``adapters.local.matrix``): its centroids and the cell of every row it held at generation
``generation``. A row whose ``version`` is at most that generation has not been written
since, so its saved cell is still its cell; any other row is assigned afresh. A loading
process thus reuses the partition without ever trusting it for a row written later.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ports.vectors import VectorIndexError, VectorIndexUnavailable

SCHEMA_VERSION = 2

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS namespaces (
        name TEXT PRIMARY KEY,
        -- never reset, not even when the namespace is deleted: a process can then
        -- never mistake a recreated namespace for the one it has cached
        generation INTEGER NOT NULL,
        last_delete INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS vectors (
        namespace TEXT NOT NULL,
        id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        vector BLOB NOT NULL,    -- float32, native byte order, as given (not normalised)
        metadata TEXT NOT NULL,  -- JSON, last: loading the vectors never reads past them
        PRIMARY KEY (namespace, id)
    )""",
    "CREATE INDEX IF NOT EXISTS vectors_by_source ON vectors (namespace, source_id)",
    # Catching up reads rows by version; a full load uses it too, as it walks rows
    # roughly in insertion order (the primary key order would seek all over the file).
    "CREATE INDEX IF NOT EXISTS vectors_by_version ON vectors (namespace, version)",
    # Added in schema 2; a version-1 file gains it when first opened (IF NOT EXISTS above).
    """CREATE TABLE IF NOT EXISTS partitions (
        namespace TEXT PRIMARY KEY,
        generation INTEGER NOT NULL,    -- the saved cells hold for rows with version <= generation
        trained_rows INTEGER NOT NULL,  -- rows the centroids were trained for (retrained at twice that)
        dimensions INTEGER NOT NULL,
        centroids BLOB NOT NULL,        -- float32 (lists, dimensions), native byte order
        cells BLOB NOT NULL,            -- int16 per id, native byte order
        ids TEXT NOT NULL               -- JSON list of the ids, in the order of cells
    )""",
)

# SQLite primary result codes that say "try again later" rather than "this is wrong".
_TRANSIENT_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_INTERRUPT,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}
_MAX_SQL_PARAMS = 500
FETCH_BATCH = 8192


@dataclass(frozen=True, slots=True)
class NamespaceState:
    generation: int
    last_delete: int


def connect(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """Opens (creating if needed) the index file; refuses one written by a newer schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        # WAL: readers never block the writer nor each other, across processes.
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable against a crashed process; a power cut may lose the last
        # commits, which the jobs table will have the jobs re-run for anyway.
        conn.execute("PRAGMA synchronous = NORMAL")
        with transaction(conn, write=True):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise VectorIndexError(
                    f"{path} has schema version {version}, newer than this Sluice understands ({SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool) -> Iterator[None]:
    """One transaction; a writer takes the lock up front so it cannot deadlock upgrading."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # the first error is the one worth reporting
                conn.execute("ROLLBACK")
        raise


def namespace_state(conn: sqlite3.Connection, namespace: str) -> NamespaceState | None:
    row = conn.execute("SELECT generation, last_delete FROM namespaces WHERE name = ?", (namespace,)).fetchone()
    return None if row is None else NamespaceState(generation=row[0], last_delete=row[1])


def next_generation(conn: sqlite3.Connection, namespace: str) -> tuple[int, int]:
    """``(before, after)`` for a write about to happen inside the current transaction."""
    state = namespace_state(conn, namespace)
    before = 0 if state is None else state.generation
    return before, before + 1


def record_write(conn: sqlite3.Connection, namespace: str, generation: int, *, deleted: bool) -> None:
    conn.execute(
        "INSERT INTO namespaces (name, generation, last_delete) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (name) DO UPDATE SET generation = ?2,"
        " last_delete = CASE WHEN ?4 THEN ?2 ELSE last_delete END",
        (namespace, generation, generation if deleted else 0, deleted),
    )


def stored_dimensions(conn: sqlite3.Connection, namespace: str) -> int | None:
    row = conn.execute("SELECT length(vector) FROM vectors WHERE namespace = ? LIMIT 1", (namespace,)).fetchone()
    return None if row is None else int(row[0]) // 4


def count_since(conn: sqlite3.Connection, namespace: str, version: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM vectors WHERE namespace = ? AND version > ?", (namespace, version)
    ).fetchone()
    return int(row[0])


def count_until(conn: sqlite3.Connection, namespace: str, version: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM vectors WHERE namespace = ? AND version <= ?", (namespace, version)
    ).fetchone()
    return int(row[0])


def rows_since(
    conn: sqlite3.Connection, namespace: str, version: int, dimensions: int
) -> Iterator[tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], np.ndarray]]:
    """Batches of ``(ids, source_ids, versions, vectors)`` written after ``version`` (0: all)."""
    cursor = conn.execute(
        "SELECT id, source_id, version, vector FROM vectors INDEXED BY vectors_by_version"
        " WHERE namespace = ? AND version > ? ORDER BY version",
        (namespace, version),
    )
    while rows := cursor.fetchmany(FETCH_BATCH):
        ids, source_ids, versions, blobs = zip(*rows, strict=True)
        raw = b"".join(blobs)
        if len(raw) != len(rows) * dimensions * 4:
            raise VectorIndexError(f"namespace {namespace!r} mixes vector dimensions: the index is corrupt")
        yield ids, source_ids, versions, np.frombuffer(raw, dtype=np.float32).reshape(len(rows), dimensions)


@dataclass(frozen=True, slots=True)
class SavedPartition:
    generation: int
    trained_rows: int
    dimensions: int


def saved_partition(conn: sqlite3.Connection, namespace: str) -> SavedPartition | None:
    """What the namespace's saved partition is, without reading it."""
    row = conn.execute(
        "SELECT generation, trained_rows, dimensions FROM partitions WHERE namespace = ?", (namespace,)
    ).fetchone()
    return None if row is None else SavedPartition(*row)


def read_partition(conn: sqlite3.Connection, namespace: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The saved ``(centroids, ids, cells)``; the caller checked ``saved_partition`` in this transaction."""
    dimensions, centroids, ids, cells = conn.execute(
        "SELECT dimensions, centroids, ids, cells FROM partitions WHERE namespace = ?", (namespace,)
    ).fetchone()
    ids = json.loads(ids)
    cells = np.frombuffer(cells, dtype=np.int16)
    centroids = np.frombuffer(centroids, dtype=np.float32)
    lists = len(centroids) // dimensions
    cells_fit = not len(cells) or 0 <= cells.min() <= cells.max() < lists
    if len(ids) != len(cells) or len(centroids) % dimensions or not cells_fit:
        raise VectorIndexError(f"the saved partition of namespace {namespace!r} is corrupt")
    return centroids.reshape(-1, dimensions), ids, cells


def save_partition(
    conn: sqlite3.Connection,
    namespace: str,
    generation: int,
    *,
    trained_rows: int,
    centroids: np.ndarray,
    ids: list[str],
    cells: np.ndarray,
) -> None:
    """Saves a partition unless one saved at a later generation is there already.

    At the same generation the new one wins: it may replace one that could not be read.
    """
    conn.execute(
        "INSERT INTO partitions (namespace, generation, trained_rows, dimensions, centroids, cells, ids)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace) DO UPDATE SET"
        " generation = excluded.generation, trained_rows = excluded.trained_rows,"
        " dimensions = excluded.dimensions, centroids = excluded.centroids, cells = excluded.cells,"
        " ids = excluded.ids WHERE excluded.generation >= partitions.generation",
        (
            namespace,
            generation,
            trained_rows,
            centroids.shape[1],
            np.ascontiguousarray(centroids, dtype=np.float32).tobytes(),
            np.ascontiguousarray(cells, dtype=np.int16).tobytes(),
            json.dumps(ids),
        ),
    )


def delete_partition(conn: sqlite3.Connection, namespace: str) -> None:
    conn.execute("DELETE FROM partitions WHERE namespace = ?", (namespace,))


def fetch_metadata(conn: sqlite3.Connection, namespace: str, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), _MAX_SQL_PARAMS):
        part = ids[start : start + _MAX_SQL_PARAMS]
        marks = ",".join("?" * len(part))
        sql = f"SELECT id, metadata FROM vectors WHERE namespace = ? AND id IN ({marks})"
        found.update(conn.execute(sql, (namespace, *part)).fetchall())
    return found


def list_ids(conn: sqlite3.Connection, namespace: str, prefix: str) -> list[str]:
    # A range on the primary key, not LIKE: LIKE folds case and treats '%' and '_' as
    # wildcards, and would not use the index.
    upper = prefix_upper_bound(prefix)
    sql = "SELECT id FROM vectors WHERE namespace = ? AND id >= ?"
    args: tuple[str, ...] = (namespace, prefix)
    if upper is not None:
        sql += " AND id < ?"
        args += (upper,)
    return [row[0] for row in conn.execute(sql + " ORDER BY id", args)]


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    SQLite compares TEXT as UTF-8 bytes, which orders like code points, so bumping the
    last code point that can be bumped gives the exclusive end of the range.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # surrogates cannot be stored as UTF-8
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def translate(exc: sqlite3.Error, path: Path) -> VectorIndexError | VectorIndexUnavailable:
    """The port's error for a SQLite one: locks and I/O trouble are worth retrying."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        transient = code & 0xFF in _TRANSIENT_CODES
    else:
        transient = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
    if transient:
        return VectorIndexUnavailable(f"vector index at {path} is unavailable: {exc}")
    return VectorIndexError(f"vector index at {path} failed: {exc}")
