"""Translate SQLAlchemy and driver exceptions into the store port's errors.

Everything the adapter awaits runs inside ``translate_errors()``, so no asyncpg,
sqlite3 or SQLAlchemy exception crosses the port:

* the database cannot be reached, dropped the connection, timed out, is locked or
  shutting down -> ``StoreUnavailable`` (transient: retrying later may succeed);
* a unique or primary key violation -> ``DuplicateKey``;
* anything else (other constraint violations, bad SQL, a missing schema) -> ``StoreError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from domain.errors import SluiceError
from ports.store import DuplicateKey, StoreError, StoreUnavailable

# SQLSTATE classes that say "the server or the connection is in trouble, not your query":
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (admin shutdown, cannot connect now, query cancelled by a
# timeout), 58 system error, 40 transaction rollback (serialization failure, deadlock).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "40"})
_UNIQUE_VIOLATION = "23505"

# SQLite result codes that mean "try again later" rather than "this statement is wrong".
_TRANSIENT_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise any database failure in the block as the port's error, ``from`` the original."""
    try:
        yield
    except SluiceError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


def translate(exc: BaseException) -> SluiceError:
    """The port error that stands for ``exc`` (which the caller chains with ``from``)."""
    if isinstance(exc, SluiceError):
        return exc
    if isinstance(exc, sa_exc.IntegrityError):
        if _is_unique_violation(exc.orig):
            return DuplicateKey(f"already stored: {_first_line(exc.orig)}")
        return StoreError(f"constraint violated: {_first_line(exc.orig)}")
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or _is_transient_driver_error(exc.orig):
            return StoreUnavailable(f"database unavailable: {_first_line(exc.orig)}")
        return StoreError(f"database error: {_first_line(exc.orig)}")
    if isinstance(exc, sa_exc.TimeoutError):  # no connection free in the pool in time
        return StoreUnavailable(f"database unavailable: {exc}")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return StoreError(f"database error: {exc}")
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | ConnectionError):
        # Raised by asyncpg.connect() before SQLAlchemy wraps anything: refused, reset, DNS.
        return StoreUnavailable(f"database unreachable: {exc or type(exc).__name__}")
    if _is_transient_driver_error(exc):
        return StoreUnavailable(f"database unavailable: {_first_line(exc)}")
    return StoreError(f"database error: {type(exc).__name__}: {exc}")


def _is_unique_violation(orig: BaseException | None) -> bool:
    if getattr(orig, "sqlstate", None) == _UNIQUE_VIOLATION:
        return True
    name = getattr(orig, "sqlite_errorname", "")
    return name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _is_transient_driver_error(orig: BaseException | None) -> bool:
    if orig is None:
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES:
        return True
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        return sqlite_name.startswith(_TRANSIENT_SQLITE_ERRORS)
    if _is_asyncpg_connection_error(orig):
        return True
    # An SQLAlchemy-adapted driver error keeps the driver's own exception as its cause.
    cause = orig.__cause__
    if cause is not None and cause is not orig and _is_asyncpg_connection_error(cause):
        return True
    # InterfaceError / OperationalError without finer detail: the connection, not the SQL.
    return type(orig).__name__ in ("InterfaceError", "OperationalError")


def _is_asyncpg_connection_error(exc: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is only needed for PostgreSQL
        return False
    # InterfaceError covers "connection is closed"; PostgresConnectionError the rest.
    return isinstance(exc, asyncpg.exceptions.InterfaceError | asyncpg.exceptions.PostgresConnectionError)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
