"""A static semantic embedder: a token-embedding table distilled from all-MiniLM-L6-v2.

A text's vector is the normalised sum of its word-piece tokens' vectors (the table's
rows already carry each token's weight). The table was built once by
``scripts/build_static_model.py`` and ships in ``model/`` beside this file; running it
needs numpy and the ``tokenizers`` package only, no PyTorch and no network. It knows
that "refund" and "money back" are related, which the hashing embedder cannot; it is a
few points below MiniLM itself (see docs/embedding-quality.md) and hundreds of times
faster.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adapters.local.threaded_embedder import ThreadedEmbedder
from ports.embed import EmbedderRejected, Embeddings

MODEL_DIR = Path(__file__).resolve().parent / "model"

# Texts per tokenizer call: bounds the transient id arrays; tokenizers parallelises
# within a call.
_TEXTS_PER_PASS = 2048


class StaticEmbedder(ThreadedEmbedder):
    """Embeds texts with a static token-embedding table (model2vec-style).

    The model (about 8 MB on disk, 31 MB in memory) loads on first use, in a worker
    thread, so building the container stays instant. ``tokens`` in the result is the
    number of word-piece tokens embedded.
    """

    def __init__(self, model_dir: str | Path = MODEL_DIR, *, batch_size: int = 512) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._dir = Path(model_dir)
        try:
            meta = json.loads((self._dir / "model.json").read_text())
            self._name = str(meta["name"])
            self._dimensions = int(meta["dimensions"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EmbedderRejected(f"the static embedding model in {self._dir} is missing or damaged: {exc}") from exc
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._table: np.ndarray | None = None
        self._tokenizer: Any = None

    @property
    def model(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def embed_sync(self, texts: Sequence[str]) -> Embeddings:
        """The blocking computation behind ``embed_documents`` (for scripts and benchmarks)."""
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), _TEXTS_PER_PASS):
            matrix, count = self.embed_matrix(texts[start : start + _TEXTS_PER_PASS])
            vectors.extend(matrix.tolist())
            tokens += count
        return Embeddings(vectors=vectors, tokens=tokens)

    def embed_matrix(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """Unit vectors of ``texts`` as a float32 (len(texts), dimensions) matrix, and the token count."""
        table, tokenizer = self._load()
        # Lone surrogates cannot cross into Rust; any other character can.
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        matrix = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        total = 0
        for row, encoding in enumerate(tokenizer.encode_batch(clean, add_special_tokens=False)):
            ids = encoding.ids
            if ids:
                # One text at a time: gathering a whole batch's rows at once would hold
                # tokens x dimensions floats (a gigabyte for 2,000 long chunks).
                matrix[row] = table[ids].sum(axis=0)
                total += len(ids)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms > 0.0, norms, 1.0)  # a text without tokens stays the zero vector
        return matrix, total

    def _load(self) -> tuple[np.ndarray, Any]:
        if self._table is not None:
            return self._table, self._tokenizer
        with self._lock:
            if self._table is None:
                from tokenizers import Tokenizer

                try:
                    tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
                    with np.load(self._dir / "embeddings.npz") as data:
                        table = data["embeddings"].astype(np.float32) * data["scales"][:, None]
                except Exception as exc:  # any failure to read the shipped files is the same fault
                    raise EmbedderRejected(
                        f"the static embedding model in {self._dir} cannot be loaded: {exc}"
                    ) from exc
                tokenizer.no_padding()
                tokenizer.no_truncation()
                if table.shape != (tokenizer.get_vocab_size(), self._dimensions):
                    raise EmbedderRejected(
                        f"the static embedding model in {self._dir} is damaged: table {table.shape}, "
                        f"vocabulary {tokenizer.get_vocab_size()}, {self._dimensions} dimensions"
                    )
                self._tokenizer = tokenizer
                self._table = table
        return self._table, self._tokenizer
