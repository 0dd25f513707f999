"""ASGI factory for uvicorn (``--reload`` needs an import string, so options travel in
the environment set by ``sluice serve``)."""

from __future__ import annotations

import os

from litestar import Litestar

from entrypoints.api.app import create_app
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def create() -> Litestar:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    run_worker = os.environ.get("SLUICE_RUN_WORKER", "1") != "0"
    from entrypoints.container import build_container

    return create_app(build_container(settings), run_worker=run_worker)
