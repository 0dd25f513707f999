"""The static embedder: what it means by similarity, and how it fails.

The port's promises are in tests/contract/test_embedder.py; here, that the shipped
table is semantic (a paraphrase sharing no word with a text still finds it), that it
needs no PyTorch, and that a missing or damaged model is a clear ``EmbedderRejected``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from adapters.hashing.embedder import tokenize
from adapters.static.embedder import MODEL_DIR, StaticEmbedder
from ports.embed import EmbedderRejected

POLICY = [
    "Customers may return any item within 30 days of delivery for a full refund.",
    "Refunds are paid to the original card within five business days.",
    "Our lighthouse-shaped desk lamps ship from Oslo and carry a two-year warranty.",
    "The quarterly report shows revenue growth in the European market.",
    "Install the package with pip and run the test suite.",
]


def best(vectors, query) -> int:
    return int(np.argmax(np.asarray(vectors) @ np.asarray(query)))


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder()


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ("how long until the money reaches my bank account?", 1),
        ("what guarantee comes with the lights?", 2),
        ("how is the company's income developing abroad?", 3),
    ],
)
def test_a_paraphrase_without_shared_words_finds_its_text(embedder: StaticEmbedder, query: str, answer: int) -> None:
    documents = embedder.embed_sync(POLICY).vectors
    assert best(documents, embedder.embed_sync([query]).vectors[0]) == answer
    # The query shares no content word with its answer: words alone could not find it.
    assert not set(tokenize(query)) & set(tokenize(POLICY[answer]))


def test_vectors_are_unit_length_and_a_text_without_tokens_is_zero(embedder: StaticEmbedder) -> None:
    result = embedder.embed_sync(["some words", "", " \n "])
    assert np.linalg.norm(result.vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert not np.any(result.vectors[1]) and not np.any(result.vectors[2])
    assert result.tokens == 2


def test_describes_the_shipped_model(embedder: StaticEmbedder) -> None:
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    assert embedder.model == meta["name"] and embedder.model.startswith("sluice-static-")
    assert embedder.dimensions == meta["dimensions"] == len(embedder.embed_sync(["x"]).vectors[0])
    size = sum(p.stat().st_size for p in MODEL_DIR.iterdir())
    assert size <= 20 * 1024 * 1024


def test_runs_without_pytorch() -> None:
    """Embedding with the static model never imports torch (nor sentence-transformers)."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"
        "from adapters.static.embedder import StaticEmbedder\n"
        "print(len(StaticEmbedder().embed_sync(['a refund policy']).vectors[0]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == StaticEmbedder().dimensions


def test_a_missing_model_is_rejected_with_its_folder(tmp_path) -> None:
    with pytest.raises(EmbedderRejected, match="missing or damaged"):
        StaticEmbedder(tmp_path / "nowhere")


def test_a_damaged_table_is_rejected_on_first_use(tmp_path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    (folder / "embeddings.npz").write_bytes(b"not a numpy archive")
    embedder = StaticEmbedder(folder)  # loads lazily
    with pytest.raises(EmbedderRejected, match="cannot be loaded"):
        embedder.embed_sync(["text"])


def test_a_table_of_the_wrong_shape_is_rejected(tmp_path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    np.savez(folder / "embeddings.npz", embeddings=np.zeros((10, 4), np.int8), scales=np.ones(10, np.float32))
    with pytest.raises(EmbedderRejected, match="damaged"):
        StaticEmbedder(folder).embed_sync(["text"])
