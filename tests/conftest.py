"""Shared fixtures: real services for the tests that need them."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite starts dozens of Python processes (servers, workers, the CLI); with
# PYTHONDONTWRITEBYTECODE set (as on our CI machines) each would compile every import
# again, about a second apiece. Let them cache bytecode (__pycache__ is git-ignored).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# Test helpers (tests/services.py, stand-in servers) import as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

import services  # noqa: E402
from services import _admin, blocking  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database of this session's own; dropped at the end."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from adapters.sqlalchemy.migrations import upgrade_async

    server = make_url(services.POSTGRES_URL)
    if not services.port_open(server.host or "127.0.0.1", server.port or 5432):
        services.need("PostgreSQL", f"nothing listens at {server.host}:{server.port or 5432}")
    name = f"sluice_test_{uuid.uuid4().hex[:12]}"
    try:
        blocking(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        services.need("PostgreSQL", f"cannot create a database: {exc}")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        blocking(upgrade_async(url))
        yield url
    finally:
        blocking(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    """The shared Redis (tests must use their own key prefixes and queue names)."""
    from urllib.parse import urlparse

    url = urlparse(services.REDIS_URL)
    if not services.port_open(url.hostname or "127.0.0.1", url.port or 6379):
        services.need("Redis", f"nothing listens at {services.REDIS_URL}")
    return services.REDIS_URL


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, for the S3 blob store with its real client."""
    from moto.server import ThreadedMotoServer

    port = services.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
