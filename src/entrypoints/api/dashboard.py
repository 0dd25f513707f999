"""The web dashboard: one static page and its script, shipped inside the package.

The page is built in the browser on the JSON API (``fetch`` and the SSE stream), so it
sees exactly what an API client sees and authenticates the same way: an API key kept in
the browser's localStorage, sent as ``Authorization: Bearer`` (``?access_token=`` for
the event stream). Nothing is fetched from another host; there is no build step.
"""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC_DIR = Path(__file__).with_name("static")
# The page is small; revalidating it each time means an upgrade shows at once.
_NO_STALE = CacheControlHeader(no_cache=True)


# The page and its assets hold no data: they are open to all, like /health (the
# API's access guard skips routes marked public); the data is fetched with the key.
PUBLIC = {"public": True}


@get("/", include_in_schema=False, cache_control=_NO_STALE, opt=PUBLIC)
async def dashboard_page() -> Response[bytes]:
    return Response((STATIC_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)


def dashboard_routes() -> list[ControllerRouterHandler]:
    """The page at ``/`` and its script and style sheet under ``/dashboard/``."""
    return [
        dashboard_page,
        create_static_files_router(path="/dashboard", directories=[STATIC_DIR], cache_control=_NO_STALE, opt=PUBLIC),
    ]
