"""Reaching the real services some tests need (PostgreSQL, Redis, stand-in servers).

A test that needs a service calls ``need(name, reason)`` when the service is absent: it
is skipped on a developer's machine and FAILS when ``SLUICE_REQUIRE_SERVICES=1`` (CI),
so a missing service can never turn a red suite green.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REQUIRE_SERVICES = os.environ.get("SLUICE_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")

POSTGRES_URL = os.environ.get("SLUICE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def need(name: str, reason: str) -> None:
    message = f"{name} is not available: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (SLUICE_REQUIRE_SERVICES=1 makes this a failure)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to completion from a synchronous fixture.

    On a thread of its own: a session fixture may first be requested from inside a
    running event loop (``request.getfixturevalue`` in an async test).
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


async def _admin(statement: str, server_url: str | None = None) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    url = server_url or POSTGRES_URL
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()
