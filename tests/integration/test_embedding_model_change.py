"""Changing the embedder of a data folder never mixes two models' vectors silently.

The on-disk index records the model that wrote it; a folder built with another model
refuses to start with a message naming both and the two ways on, and ``sluice reindex``
re-embeds every source with the new one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import pytest
from click.testing import CliRunner

from adapters.local.model_stamp import STAMP, EmbeddingModelChanged, check_model, recorded_model
from domain.pagination import PageRequest
from entrypoints.cli import main
from entrypoints.library import Sluice

POLICY = (
    "Customers may return any item within 30 days of delivery for a full refund.\n\n"
    "Our lighthouse-shaped desk lamps ship from Oslo and carry a two-year warranty."
)


async def ingest(data_dir, **env: str) -> tuple[uuid.UUID, str]:
    async with Sluice.embedded(data_dir, **env) as sluice:
        agent = await sluice.agents.create_agent("shop")
        _, job = await sluice.sources.create_text_source(agent.id, POLICY, name="policy")
        assert (await sluice.wait(job.id, timeout=30)).status.value == "completed"
        return agent.id, sluice.container.embedder().model


async def test_a_folder_built_with_hashing_refuses_the_static_default_then_reindex_moves_it(tmp_path) -> None:
    data = tmp_path / "data"
    agent_id, hashing_model = await ingest(data, SLUICE_EMBEDDER="hashing")
    assert hashing_model.startswith("sluice-hashing-") and recorded_model(data / "vectors") == hashing_model

    with pytest.raises(EmbeddingModelChanged) as refused:
        async with Sluice.embedded(data) as sluice:  # the default embedder: static
            await sluice.search.search(agent_id, "warranty", top_k=1)  # pragma: no cover - never reached
    message = str(refused.value)
    assert hashing_model in message and "sluice-static-" in message
    assert "SLUICE_EMBEDDER=hashing" in message and "sluice reindex" in message

    # `sluice serve` and `sluice worker` say so in one line instead of starting.
    for command in ("serve", "worker"):
        env = {"SLUICE_DATA_DIR": str(data), "SLUICE_EMBEDDER": ""}
        refused_cli = await asyncio.to_thread(CliRunner().invoke, main, [command], env=env)
        assert refused_cli.exit_code == 1 and "sluice reindex" in refused_cli.output, refused_cli.output

    # Going back to the embedder that built it still works.
    async with Sluice.embedded(data, SLUICE_EMBEDDER="hashing", JOB_CONCURRENCY="1") as sluice:
        assert await sluice.search.search(agent_id, "lamps warranty", top_k=1)

    env = {"SLUICE_DATA_DIR": str(data), "SLUICE_EMBEDDER": ""}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["reindex", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 source(s) queued" in result.output
    assert recorded_model(data / "vectors").startswith("sluice-static-")

    async with Sluice.embedded(data) as sluice:
        jobs = (await sluice.jobs.list_jobs(agent_id, PageRequest())).items  # newest first: the re-run
        assert (await sluice.wait(jobs[0].id, timeout=30)).status.value == "completed"
        hits = await sluice.search.search(agent_id, "what guarantee comes with the lights?", top_k=1)
        assert "warranty" in hits[0].text


def test_an_empty_index_takes_any_model_and_records_it(tmp_path) -> None:
    folder = tmp_path / "vectors"
    check_model(folder, "model-a", embedder_setting="SLUICE_EMBEDDER=a")
    assert recorded_model(folder) == "model-a" and (folder / STAMP).exists()
    check_model(folder, "model-b", embedder_setting="SLUICE_EMBEDDER=b")  # nothing stored yet: no conflict
    assert recorded_model(folder) == "model-b"


def _legacy_index(folder) -> None:
    """An index with one vector and no record of its model, as Sluice wrote before."""
    folder.mkdir(parents=True)
    with sqlite3.connect(folder / "vectors.sqlite3") as conn:
        conn.execute("CREATE TABLE vectors (namespace TEXT, id TEXT)")
        conn.execute("INSERT INTO vectors VALUES ('ns', 'a#0')")


def test_an_unrecorded_index_is_adopted_by_the_embedders_of_its_time_only(tmp_path) -> None:
    old = tmp_path / "old"
    _legacy_index(old)
    check_model(old, "sluice-hashing-v2-384", embedder_setting="SLUICE_EMBEDDER=hashing")
    assert recorded_model(old) == "sluice-hashing-v2-384"

    newer = tmp_path / "newer"
    _legacy_index(newer)
    with pytest.raises(EmbeddingModelChanged, match="before Sluice recorded embedding models"):
        check_model(newer, "sluice-static-minilm-l6-v2-256", embedder_setting="SLUICE_EMBEDDER=static")
    assert recorded_model(newer) is None
