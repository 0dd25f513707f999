"""Reaching the real services some tests need (PostgreSQL, Redis, stand-in servers).

A test that needs a service calls ``need(name, reason)`` when the service is absent: it
is skipped on a developer's machine and FAILS when ``SLUICE_REQUIRE_SERVICES=1`` (CI),
so a missing service can never turn a red suite green.
"""

from __future__ import annotations

import os
import socket

import pytest

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
