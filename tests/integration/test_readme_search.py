"""The README's curl walk-through, run as written against the default embedded server.

The requests are read from README.md itself (the ``-d '...'`` bodies of its curl
steps, in order: agent, text source, search), and so is the answer the README shows,
so the two cannot drift. Nothing is configured but the data folder: the default
embedder (the static semantic model) must find the answer to a query that shares no
content word with it.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from adapters.hashing.embedder import tokenize
from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings

README = Path(__file__).parents[2] / "README.md"


def walkthrough() -> tuple[dict, dict, dict, str]:
    text = README.read_text()
    section = text[text.index("## Walk-through with curl") :]
    section = section[: section.index("\n## ", 3)]
    # The first three bodies; the later steps (a file, the metrics) have their own tests.
    agent, source, search, *_ = (json.loads(body) for body in re.findall(r"-d '([^']*)'", section))
    shown = re.search(r'"data": \[\{"id": "[^"]*", "score": [0-9.]+, "text": "([^"]*)"', section)
    assert shown, "the README shows the search's answer"
    return agent, source, search, shown.group(1)


@pytest.fixture
async def client(tmp_path):
    settings = Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path / "data")})  # nothing else: the defaults
    async with AsyncTestClient(create_app(build_container(settings))) as client:
        yield client


async def test_the_paraphrased_query_of_the_readme_finds_its_answer_first(client) -> None:
    agent_body, source_body, search_body, answer = walkthrough()
    # A paraphrase: no word of the query (beyond stopwords) is in the answer.
    assert not set(tokenize(search_body["query"])) & set(tokenize(answer))

    agent = (await client.post("/api/agents", json=agent_body)).json()["data"]
    created = await client.post(f"/api/agents/{agent['id']}/sources/text", json=source_body)
    assert created.status_code == 201, created.text
    job_id = created.json()["data"]["jobId"]
    async with asyncio.timeout(30):
        while (job := (await client.get(f"/api/jobs/{job_id}")).json()["data"])["status"] not in {
            "completed",
            "failed",
        }:
            await asyncio.sleep(0.05)
    assert job["status"] == "completed", job
    assert job["result"]["chunks"] == source_body["text"].count("\n\n") + 1  # one chunk per paragraph
    assert job["result"]["embedding_model"].startswith("sluice-static-")

    hits = (await client.post(f"/api/agents/{agent['id']}/search", json=search_body)).json()["data"]
    assert len(hits) == search_body["topK"]
    assert hits[0]["text"] == answer, [(h["score"], h["text"]) for h in hits]
    assert hits[0]["score"] > hits[1]["score"]
