"""Scenario 6: vector search on the embedded on-disk index, 100k and 1M chunks of 384 dims.

The vectors are synthetic but shaped like sentence embeddings: 2,000 topics in a 48-d
latent space (points spread around them), mapped linearly to 384-d unit vectors plus
full-dimensional noise; queries are drawn the same way. They are upserted through
``SqliteVectorIndex`` (SQLite file + in-memory matrix) and queried through a second
instance, as a fresh process would: its first query loads the vectors and, at 1M, trains
the IVF partition and saves it in the file. A third instance then stands for a restarted
process: its first query loads the vectors with the saved partition, and the query
latencies are measured on it. Recall@10 is against exact search (numpy, every row) of
the same vectors.
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
EXACT_TIMED = 30  # queries timed through numpy's exact scan (the baseline); recall uses all 200


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


def exact_top(data: np.ndarray, queries: np.ndarray, k: int, block: int = 65_536) -> list[set[int]]:
    """The exact top ``k`` rows of every query: one matrix product per block of rows."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(data), block):
        scores = queries @ data[start : start + block].T  # (queries, rows of the block)
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        scores = np.concatenate([best_scores, scores], axis=1)
        rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else np.argsort(-scores, axis=1)
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_rows = np.take_along_axis(rows, keep, axis=1)
    return [set(r.tolist()) for r in best_rows]


def vectors(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` data vectors and 200 queries, cached in bench/.cache (generating 1M takes a while)."""
    from bench.corpus import CACHE

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"vectors-{n}.npy"
    generator = Generator()
    if path.exists():
        data = np.load(path, mmap_mode="r")
    else:
        data = generator.vectors(n, seed=1)
        np.save(path, data)
    return np.asarray(data), generator.vectors(200, seed=2)


async def _fill(folder: str, data: np.ndarray, options: dict[str, float]) -> float:
    from adapters.local.vectors import SqliteVectorIndex
    from domain.vectors import VectorRecord

    index = SqliteVectorIndex(folder, **options)  # type: ignore[arg-type]
    started = time.perf_counter()
    try:
        batch = 10_000
        for start in range(0, len(data), batch):
            records = [
                VectorRecord(
                    id=f"src{i // 100}#{i % 100}",
                    values=data[i],
                    metadata={"source_id": f"src{i // 100}", "chunk_index": i % 100},
                )
                for i in range(start, min(start + batch, len(data)))
            ]
            await index.upsert("bench", records)
    finally:
        await index.close()
    return time.perf_counter() - started


async def _first_query(folder: str, query: np.ndarray, options: dict[str, float]) -> float:
    """The first query of a fresh instance: it loads the namespace (and trains or loads its partition)."""
    from adapters.local.vectors import SqliteVectorIndex

    index = SqliteVectorIndex(folder, **options)  # type: ignore[arg-type]
    try:
        t0 = time.perf_counter()
        await index.query("bench", query.tolist(), top_k=10)
        return time.perf_counter() - t0
    finally:
        await index.close()


async def _query(
    folder: str, queries: np.ndarray, options: dict[str, float]
) -> tuple[float, list[float], list[list[int]]]:
    from adapters.local.vectors import SqliteVectorIndex

    index = SqliteVectorIndex(folder, **options)  # type: ignore[arg-type]
    try:
        t0 = time.perf_counter()
        await index.query("bench", queries[-1].tolist(), top_k=10)  # a restarted process: load
        first = time.perf_counter() - t0
        latencies, found = [], []
        for q in queries:
            values = q.tolist()
            t0 = time.perf_counter()
            hits = await index.query("bench", values, top_k=10)
            latencies.append(time.perf_counter() - t0)
            found.append([int(h.metadata["chunk_index"]) + 100 * int(h.id[3:].split("#")[0]) for h in hits])
        return first, latencies, found
    finally:
        await index.close()


def run(ctx: Context) -> list[Row]:
    sizes = [3_000] if ctx.quick else [100_000, 1_000_000]
    options = {"approximate_from": 1_000, "probe_share": 0.2} if ctx.quick else {}
    data_all, queries = vectors(max(sizes))
    if ctx.quick:
        queries = queries[:20]
    rows = []
    for n in sizes:
        data = data_all[:n]
        scenario = f"6 vector search, {n:,} x {DIMENSIONS}"
        with tempfile.TemporaryDirectory(prefix="sluice-bench-vectors-") as folder:
            fill = asyncio.run(_fill(folder, data, options))
            cold = asyncio.run(_first_query(folder, queries[0], options))
            first, latencies, found = asyncio.run(_query(folder, queries, options))
        exact_latencies = []
        for q in queries[:EXACT_TIMED]:  # the baseline: numpy's bare scan of every row
            t0 = time.perf_counter()
            scores = data @ q
            np.argpartition(-scores, 10)[:10]
            exact_latencies.append(time.perf_counter() - t0)
        truth = exact_top(data, queries, 10)
        recall = float(np.mean([len(t & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
        p50, p95 = percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000
        exact50 = percentile(exact_latencies, 50) * 1000
        big = n >= 1_000_000
        rows += [
            Row(scenario, "query p50", p50, "ms", exact50 / p50, "exact numpy scan (speed-up)",
                note=f"exact scan p50 {exact50:.1f} ms"),
            Row(scenario, "query p95", p95, "ms", target=50 if big else None, target_text="< 50 ms" if big else "",
                lower_is_better=True),
            Row(scenario, "recall@10 vs exact", recall, "", target=None, target_text=">= 0.95" if big else "",
                note="exact search below 200k rows" if n < 200_000 and not ctx.quick else ""),
            Row(scenario, "first query of a fresh process (load + partition)", cold, "s",
                note="trains the IVF partition and saves it" if n >= 200_000 and not ctx.quick else ""),
            Row(scenario, "first query of a restarted process (load)", first, "s",
                note="with the saved partition" if n >= 200_000 and not ctx.quick else ""),
            Row(scenario, "upsert through the index", n / fill, "vectors/s"),
        ]  # fmt: skip
        if big:
            rows[-4].target = 0.95
            rows[-4].ratio = recall
            rows[-4].baseline = "of exact"
    return rows
