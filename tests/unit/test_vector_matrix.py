"""The in-memory matrix of the on-disk index: exact below a size, IVF-approximate above."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.local.matrix import VectorMatrix, unit_rows


def clustered(n: int, seed: int, dims: int = 32, topics: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((topics, dims)).astype(np.float32)
    points = centres[rng.integers(0, topics, n)] + 0.6 * rng.standard_normal((n, dims)).astype(np.float32)
    return unit_rows(points)


def exact(matrix: VectorMatrix, query: np.ndarray, k: int, sources=None) -> list[tuple[str, float]]:
    if sources is None:
        return matrix._exact(query, k, None)
    codes = [matrix._code_of[s] for s in sources]
    return matrix._exact(query, k, np.flatnonzero(np.isin(matrix._codes[: matrix.size], codes)))


def test_small_namespaces_are_searched_exactly():
    matrix = VectorMatrix(32, approximate_from=10_000)
    data = clustered(2_000, 1)
    matrix.upsert([f"v{i}" for i in range(len(data))], ["s"] * len(data), data)
    query = clustered(1, 2)[0]
    assert matrix.search(query, 10) == exact(matrix, query, 10)
    assert matrix._ivf is None


def test_every_cell_probed_gives_the_exact_answers_through_writes():
    # The partition's bookkeeping (cells of rows upserted, replaced, moved by removals)
    # is checked by probing every cell: then the answer must be the exact one.
    matrix = VectorMatrix(32, approximate_from=100, probe_share=1.0)
    data = clustered(3_000, 3)
    ids = [f"v{i}" for i in range(len(data))]
    matrix.upsert(ids, [f"s{i % 7}" for i in range(len(data))], data)
    queries = clustered(20, 4)
    for q in queries[:5]:
        assert matrix.search(q, 10) == exact(matrix, q, 10)
    assert matrix._ivf is not None
    rng = np.random.default_rng(5)
    matrix.remove([ids[i] for i in rng.choice(len(ids), 700, replace=False)])
    matrix.upsert(ids[:300], ["s1"] * 300, clustered(300, 6))  # replace some, re-add removed ones
    matrix.upsert([f"new{i}" for i in range(500)], ["s9"] * 500, clustered(500, 7))
    for q in queries[5:]:
        assert matrix.search(q, 10) == exact(matrix, q, 10)
        assert matrix.search(q, 5, {"s1", "s9"}) == exact(matrix, q, 5, {"s1", "s9"})


def test_approximate_search_finds_most_of_the_exact_top_ten():
    matrix = VectorMatrix(32, approximate_from=1_000)
    data = clustered(20_000, 8)
    matrix.upsert([f"v{i}" for i in range(len(data))], ["s"] * len(data), data)
    recalls = []
    for q in clustered(50, 9):
        truth = {vid for vid, _ in exact(matrix, q, 10)}
        got = matrix.search(q, 10)
        assert len(got) == 10
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        recalls.append(len(truth & {vid for vid, _ in got}) / 10)
    assert matrix._ivf is not None and matrix._ivf.probes < matrix._ivf.lists
    assert np.mean(recalls) >= 0.9


@pytest.mark.parametrize("rows", [1_000, 2_500])
def test_the_partition_is_retrained_when_the_namespace_doubles(rows):
    matrix = VectorMatrix(32, approximate_from=500)
    data = clustered(rows * 3, 10)
    matrix.upsert([f"v{i}" for i in range(rows)], ["s"] * rows, data[:rows])
    matrix.search(data[0], 3)
    first = matrix._ivf
    matrix.upsert([f"v{i}" for i in range(rows, 3 * rows)], ["s"] * 2 * rows, data[rows:])
    assert matrix.search(data[-1], 1)[0][0] == f"v{3 * rows - 1}"
    assert matrix._ivf is not first and matrix._ivf.trained_rows == 3 * rows
