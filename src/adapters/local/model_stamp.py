"""Which embedding model made the vectors of an on-disk index.

Vectors of two models are not comparable, and two models of one dimension would mix
without any error: search would just return noise. So the embedded index records the
model that wrote it (``embedding-model.json`` beside ``vectors.sqlite3``) and refuses
to open under another one while it holds vectors, with a message that says how to go
on (the old ``SLUICE_EMBEDDER``, or ``sluice reindex``). An empty index takes any model.

An index written before this record existed was made by the embedders of that time
(``hashing``, the default then, or OpenAI) and is adopted by either; only the static
model, which is newer than the record, refuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

from adapters.local.vectors import FILENAME
from ports.vectors import VectorIndexError

STAMP = "embedding-model.json"
_NEWER_THAN_STAMP = ("sluice-static-",)


class EmbeddingModelChanged(VectorIndexError):
    code = "embedding_model_changed"


def _read(folder: Path) -> dict[str, str] | None:
    try:
        stamp = json.loads((folder / STAMP).read_text())
        return {"model": str(stamp["model"]), "setting": str(stamp.get("setting") or "")}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VectorIndexError(f"{folder / STAMP} is unreadable ({exc}); delete it to record the model again") from exc


def recorded_model(folder: Path) -> str | None:
    stamp = _read(folder)
    return stamp["model"] if stamp else None


def holds_vectors(folder: Path) -> bool:
    path = folder / FILENAME
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
            return conn.execute("SELECT 1 FROM vectors LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise VectorIndexError(f"vector index at {path}: {exc}") from exc


def record_model(folder: Path, model: str, setting: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{STAMP}.{os.getpid()}"
    temporary.write_text(json.dumps({"model": model, "setting": setting}) + "\n")
    temporary.replace(folder / STAMP)


def check_model(folder: Path, model: str, *, embedder_setting: str) -> None:
    """Record ``model`` for the index in ``folder``, or fail if its vectors are another's.

    ``embedder_setting`` is how the user chose the embedder (``SLUICE_EMBEDDER=static``),
    recorded too so that the message can say how to get back to it.
    """
    stamp = _read(folder)
    if stamp and stamp["model"] == model:
        return
    if holds_vectors(folder):
        if stamp is None and not model.startswith(_NEWER_THAN_STAMP):
            record_model(folder, model, embedder_setting)  # written before the record existed, by its kind
            return
        if stamp is None:
            made_by, way_back = "before Sluice recorded embedding models", "SLUICE_EMBEDDER=hashing (the default then)"
        else:
            made_by, way_back = f"with embedding model {stamp['model']!r}", stamp["setting"] or "the former setting"
        raise EmbeddingModelChanged(
            f"the vector index in {folder} was built {made_by}, but the embedder is now {model!r} "
            f"({embedder_setting}); vectors of two models cannot be searched together. Either go back to the "
            f"embedder that built it ({way_back}), or run `sluice reindex` once: it empties the index and "
            "re-processes every source with the new model."
        )
    record_model(folder, model, embedder_setting)
