"""Which embedder the container builds from the settings."""

from __future__ import annotations

import importlib.util

import pytest

from adapters.hashing.embedder import HashingEmbedder
from adapters.static.embedder import StaticEmbedder
from domain.errors import InvalidInput
from entrypoints.container import build_container
from entrypoints.settings import Settings
from ports.embed import EmbedderRejected


def embedder_for(tmp_path, **env: str):
    return build_container(Settings.from_env({"SLUICE_DATA_DIR": str(tmp_path), **env})).embedder()


def test_the_default_is_the_static_model(tmp_path) -> None:
    embedder = embedder_for(tmp_path)
    assert isinstance(embedder, StaticEmbedder) and embedder.model.startswith("sluice-static-")


def test_hashing_stays_selectable(tmp_path) -> None:
    assert isinstance(embedder_for(tmp_path, SLUICE_EMBEDDER="hashing"), HashingEmbedder)


def test_an_unknown_embedder_is_a_configuration_error() -> None:
    with pytest.raises(InvalidInput, match="SLUICE_EMBEDDER must be one of static, hashing, sentence-transformers"):
        Settings.from_env({"SLUICE_EMBEDDER": "minilm"})


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None, reason="the extra is installed")
def test_sentence_transformers_without_its_extra_says_how_to_install_it(tmp_path) -> None:
    with pytest.raises(EmbedderRejected, match=r"pip install 'sluice\[sentence-transformers\]'"):
        embedder_for(tmp_path, SLUICE_EMBEDDER="sentence-transformers")
