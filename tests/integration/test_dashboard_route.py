"""The dashboard is served by the API itself, from files inside the package."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.api.app import create_app
from entrypoints.api.dashboard import STATIC_DIR
from entrypoints.container import build_container
from entrypoints.settings import Settings


@pytest.fixture
async def client(tmp_path):
    settings = Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data")})
    async with AsyncTestClient(create_app(build_container(settings), run_worker=False)) as client:
        yield client


async def test_the_page_and_every_asset_it_names_are_served(client):
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', page.text)
    assert sorted(assets) == ["/dashboard/app.js", "/dashboard/style.css"]
    for asset, media in zip(sorted(assets), ("text/javascript", "text/css"), strict=True):
        response = await client.get(asset)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
        assert response.content == (STATIC_DIR / asset.removeprefix("/dashboard/")).read_bytes()


def test_the_page_loads_nothing_from_another_host():
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), name


async def test_the_page_is_not_in_the_api_schema(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "/" not in paths and not any(p.startswith("/dashboard") for p in paths)
