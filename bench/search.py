"""Scenario 6: vector search on the embedded on-disk index, 100k and 1M chunks of 384 dims.

The vectors are synthetic but shaped like sentence embeddings: 2,000 topics in a 48-d
latent space (points spread around them), mapped linearly to 384-d unit vectors plus
full-dimensional noise; queries are drawn the same way. They are upserted through ``SqliteVectorIndex`` (SQLite file + in-memory
matrix, a fresh process's full load included in the first query) and queried through it;
recall@10 is against exact search (numpy, every row) of the same vectors.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

import numpy as np

from bench.common import Context, Row, percentile

DIMENSIONS = 384
LATENT = 48  # intrinsic dimension: sentence embeddings live near a low-dimensional manifold
TOPICS = 2_000
NOISE = 0.15  # full-dimensional noise, relative to the signal's norm


class Generator:
    """Synthetic embeddings: topic centres in a 48-d latent space, mapped linearly to 384-d."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.topics = rng.standard_normal((TOPICS, LATENT), dtype=np.float32)
        self.lift = rng.standard_normal((LATENT, DIMENSIONS), dtype=np.float32) / np.sqrt(LATENT)

    def vectors(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, DIMENSIONS), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            latent = self.topics[rng.integers(0, TOPICS, size=m)]
            latent += 0.7 * rng.standard_normal((m, LATENT), dtype=np.float32)
            block = latent @ self.lift
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            block += rng.standard_normal((m, DIMENSIONS), dtype=np.float32) * (NOISE / np.sqrt(DIMENSIONS))
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start : start + m] = block
        return out


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    out = []
    for q in queries:
        scores = data @ q
        out.append(set(np.argpartition(-scores, k)[:k].tolist()))
    return out
