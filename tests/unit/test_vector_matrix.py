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
    return matrix.search(query, k, sources, exact=True)


class Reference:
    """What the matrix should hold, kept apart from it: brute force over plain dicts."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[np.ndarray, str]] = {}

    def upsert(self, matrix: VectorMatrix, ids, sources, units, **kwargs) -> None:
        matrix.upsert(ids, sources, units, **kwargs)
        self.rows.update(zip(ids, zip(units, sources, strict=True), strict=True))

    def remove(self, matrix: VectorMatrix, ids) -> None:
        matrix.remove(ids)
        for vid in ids:
            self.rows.pop(vid, None)

    def best(self, query: np.ndarray, k: int, sources=None) -> list[tuple[str, float]]:
        rows = self.rows.items()
        scored = [(vid, float(unit @ query)) for vid, (unit, source) in rows if sources is None or source in sources]
        return sorted(scored, key=lambda pair: -pair[1])[:k]


def same(got: list[tuple[str, float]], expected: list[tuple[str, float]]) -> bool:
    return [vid for vid, _ in got] == [vid for vid, _ in expected] and np.allclose(
        [s for _, s in got], [s for _, s in expected], atol=1e-5
    )


def test_small_namespaces_are_searched_exactly():
    matrix = VectorMatrix(32, approximate_from=10_000)
    data = clustered(2_000, 1)
    reference = Reference()
    reference.upsert(matrix, [f"v{i}" for i in range(len(data))], ["s"] * len(data), data)
    query = clustered(1, 2)[0]
    assert same(matrix.search(query, 10), reference.best(query, 10))
    assert matrix.partition is None


def test_every_cell_probed_gives_the_exact_answers_through_writes():
    # The partition's bookkeeping (cells of rows upserted, replaced, moved by removals)
    # is checked by probing every cell: then the answer must be the exact one.
    matrix = VectorMatrix(32, approximate_from=100, probe_share=1.0)
    reference = Reference()
    data = clustered(3_000, 3)
    ids = [f"v{i}" for i in range(len(data))]
    reference.upsert(matrix, ids, [f"s{i % 7}" for i in range(len(data))], data)
    queries = clustered(20, 4)
    for q in queries[:5]:
        assert same(matrix.search(q, 10), reference.best(q, 10))
    assert matrix.partition is not None
    rng = np.random.default_rng(5)
    reference.remove(matrix, [ids[i] for i in rng.choice(len(ids), 700, replace=False)])
    reference.upsert(matrix, ids[:300], ["s1"] * 300, clustered(300, 6))  # replace some, re-add removed ones
    reference.upsert(matrix, [f"new{i}" for i in range(500)], ["s9"] * 500, clustered(500, 7))
    assert matrix.size == len(reference.rows)
    for q in queries[5:]:
        assert same(matrix.search(q, 10), reference.best(q, 10))
        assert same(matrix.search(q, 5, {"s1", "s9"}), reference.best(q, 5, {"s1", "s9"}))
        assert same(matrix.search(q, 3, {"s9", "unknown"}), reference.best(q, 3, {"s9"}))
        many = {f"s{i}" for i in range(1, 12)}  # more codes than are compared one by one
        assert same(matrix.search(q, 7, many), reference.best(q, 7, many))
        assert same(matrix.search(q, 7, many, exact=True), reference.best(q, 7, many))
    assert matrix.search(queries[0], 3, {"unknown"}) == []


def test_approximate_search_finds_most_of_the_exact_top_ten():
    matrix = VectorMatrix(32, approximate_from=1_000, probed_rows=0)  # the share of cells alone
    data = clustered(20_000, 8)
    matrix.upsert([f"v{i}" for i in range(len(data))], ["s"] * len(data), data)
    recalls = []
    for q in clustered(50, 9):
        truth = {vid for vid, _ in exact(matrix, q, 10)}
        got = matrix.search(q, 10)
        assert len(got) == 10
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        recalls.append(len(truth & {vid for vid, _ in got}) / 10)
    assert matrix.partition is not None and matrix.partition.probes < matrix.partition.lists
    assert np.mean(recalls) >= 0.9


@pytest.mark.parametrize("rows", [1_000, 2_500])
def test_the_partition_is_retrained_when_the_namespace_doubles(rows):
    matrix = VectorMatrix(32, approximate_from=500)
    data = clustered(rows * 3, 10)
    matrix.upsert([f"v{i}" for i in range(rows)], ["s"] * rows, data[:rows])
    matrix.search(data[0], 3)
    first = matrix.partition
    matrix.upsert([f"v{i}" for i in range(rows, 3 * rows)], ["s"] * 2 * rows, data[rows:])
    assert matrix.search(data[-1], 1)[0][0] == f"v{3 * rows - 1}"
    assert matrix.partition is not first and matrix.partition.trained_rows == 3 * rows


def test_an_adopted_partition_places_rows_where_it_says_and_assigns_the_rest():
    # A loading process adopts a partition saved by another: rows it knows keep their
    # cell (no assignment work), rows it does not know are assigned here and counted.
    data = clustered(6_000, 11)
    ids = [f"v{i}" for i in range(len(data))]
    trained = VectorMatrix(32, approximate_from=1_000, probe_share=0.3)
    trained.upsert(ids[:5_000], ["s"] * 5_000, data[:5_000])
    trained.search(data[0], 5)
    ivf = trained.partition
    assert ivf is not None and trained.unsaved == 5_000
    saved_ids, saved_cells = trained.assignments()
    cell_of = dict(zip(saved_ids, saved_cells.tolist(), strict=True))

    loaded = VectorMatrix(32, approximate_from=1_000, probe_share=0.3)
    loaded.adopt(ivf, np.bincount(saved_cells, minlength=ivf.lists))
    known = np.array([cell_of.get(vid, -1) for vid in ids], dtype=np.int16)
    reference = Reference()
    reference.upsert(loaded, ids, ["s"] * len(ids), data, cells=known)
    assert loaded.partition is ivf and loaded.unsaved == 1_000
    assert dict(zip(*loaded.assignments(), strict=True)) == {
        **cell_of,
        **dict(zip(ids[5_000:], ivf.assign(data[5_000:]).tolist(), strict=True)),
    }
    for q in clustered(10, 12):
        assert same(loaded.search(q, 10, exact=True), reference.best(q, 10))
        assert len(loaded.search(q, 10)) == 10
    # adopting again, into a filled matrix, is refused
    with pytest.raises(ValueError):
        loaded.adopt(ivf, np.zeros(ivf.lists))


def test_a_filter_with_few_rows_among_many_is_searched_exactly():
    matrix = VectorMatrix(32, approximate_from=1_000, probe_share=0.05)
    reference = Reference()
    data = clustered(8_000, 13)
    sources = ["rare" if i % 400 == 0 else "common" for i in range(len(data))]
    reference.upsert(matrix, [f"v{i}" for i in range(len(data))], sources, data)
    for q in clustered(10, 14):
        matrix.search(q, 10)  # trains the partition
        # 20 rare rows: too few for the probed cells to hold ten of them, so all are searched
        assert same(matrix.search(q, 10, {"rare"}), reference.best(q, 10, {"rare"}))
    assert matrix.partition is not None
    # Writes between filtered searches: new rare rows are found, removed ones are not.
    q = clustered(1, 15)[0]
    reference.upsert(matrix, ["added", "v400"], ["rare", "common"], clustered(2, 16))
    reference.remove(matrix, ["v0", "v800"])
    assert same(matrix.search(q, 30, {"rare"}), reference.best(q, 30, {"rare"}))
    assert {vid for vid, _ in matrix.search(q, 30, {"rare"})} == {
        vid for vid, (_, s) in reference.rows.items() if s == "rare"
    }


def test_rows_kept_in_many_blocks_are_all_searched_and_regrouped(monkeypatch):
    # Without a partition rows fill blocks of a bounded size; small blocks here, so
    # that writes, removals and the regrouping into cells cross many of them.
    monkeypatch.setattr("adapters.local.matrix._BLOCK_ROWS", 300)
    matrix = VectorMatrix(32, approximate_from=3_000, probe_share=1.0)
    reference = Reference()
    data = clustered(4_000, 17)
    ids = [f"v{i}" for i in range(len(data))]
    for start in range(0, 2_800, 700):
        reference.upsert(matrix, ids[start : start + 700], ["a"] * 700, data[start : start + 700])
    reference.remove(matrix, ids[:1_500:3])
    reference.upsert(matrix, ids[10:20], ["b"] * 10, clustered(10, 18))
    queries = clustered(5, 19)
    for q in queries:
        assert same(matrix.search(q, 10), reference.best(q, 10))
        assert same(matrix.search(q, 4, {"b"}), reference.best(q, 4, {"b"}))
    assert matrix.partition is None and matrix.nbytes >= matrix.size * 32 * 4
    reference.upsert(matrix, ids[2_800:], ["a"] * 1_200, data[2_800:])
    for q in queries:
        assert same(matrix.search(q, 10), reference.best(q, 10))  # regrouped into cells: all probed
    assert matrix.partition is not None and matrix.size == len(reference.rows)


@pytest.mark.parametrize(("rows", "probed_rows", "share"), [(20_000, 5_000, 0.25), (20_000, 100, 0.025)])
def test_a_query_probes_a_share_of_the_cells_and_at_least_some_rows(rows, probed_rows, share):
    matrix = VectorMatrix(32, approximate_from=1_000, probe_share=0.025, probed_rows=probed_rows)
    data = clustered(rows, 20)
    matrix.upsert([f"v{i}" for i in range(rows)], ["s"] * rows, data)
    matrix.search(data[0], 10)
    ivf = matrix.partition
    assert ivf is not None and ivf.probes == int(np.ceil(ivf.lists * share))
