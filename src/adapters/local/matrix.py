"""One namespace's vectors in memory: a float32 matrix of unit rows.

Cosine similarity of unit vectors is their dot product, so an exact query is one
matrix-vector product (BLAS) and an ``argpartition`` for the top k: ~12 ms over 100k
384-d vectors on a 2-core machine, but ~10x that at a million. From ``APPROXIMATE_FROM``
rows on, a query is answered approximately through an IVF partition (``adapters.local.ivf``):
it scores only the rows of the cells nearest to it. The partition is trained on first such
query and again each time the namespace has doubled since; rows written in between are
assigned to their nearest cell as they come. Below the threshold search stays exact.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from adapters.local.ivf import Ivf, lists_for

# Namespaces from this many rows on are searched approximately (see the module docstring).
APPROXIMATE_FROM = 200_000
# Share of the IVF cells a query probes: recall@10 >= 0.95 on clustered 384-d data.
PROBE_SHARE = 0.015

# Below this share of rows passing a filter, score only the chosen rows (copying them
# is cheaper than scoring everything); above it, score all and mask.
_SUBSET_SHARE = 0.25


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32); a zero row stays zero and scores 0 against anything."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0.0, norms, 1.0)).astype(np.float32, copy=False)


class VectorMatrix:
    """Unit vectors of one dimension with their ids and source ids, kept in step with writes.

    Rows are stored densely: a removed row is replaced by the last one, so search never
    skips holes. Capacity grows geometrically, so appending batch after batch is
    amortised O(rows written).
    """

    def __init__(
        self, dimensions: int, *, approximate_from: int | None = None, probe_share: float | None = None
    ) -> None:
        self.dimensions = dimensions
        self.approximate_from = APPROXIMATE_FROM if approximate_from is None else approximate_from
        self.probe_share = PROBE_SHARE if probe_share is None else probe_share
        self._ivf: Ivf | None = None
        self._cells = np.empty(0, dtype=np.int16)  # per row: its IVF cell (while there is an IVF)
        # Rows ordered by cell and where each cell starts in that order: rebuilt on the first
        # query after a write, so a query reads its cells' rows without scanning every row.
        self._layout: tuple[np.ndarray, np.ndarray] | None = None
        self._rows = np.empty((0, dimensions), dtype=np.float32)
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._codes = np.empty(0, dtype=np.int32)  # per row: the code of its source id
        self._code_of: dict[str, int] = {}

    @property
    def size(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._codes.nbytes + self._cells.nbytes

    def reserve(self, rows: int) -> None:
        """Makes room for ``rows`` rows at once (a load knows its size: no regrowing)."""
        if rows > len(self._rows):
            self._resize(rows)

    def upsert(self, ids: Sequence[str], source_ids: Sequence[str], units: np.ndarray) -> None:
        """Adds or replaces rows. ``ids`` must be distinct; ``units`` are unit rows."""
        start = self.size
        if start + len(ids) > len(self._rows):
            self._resize(max(start + len(ids), start + start // 2, 1024))
        codes = np.fromiter(
            (self._code_of.setdefault(s, len(self._code_of)) for s in source_ids), np.int32, len(source_ids)
        )
        if self._row_of.keys().isdisjoint(ids):
            # All new (a load, or fresh chunks): append in bulk.
            end = start + len(ids)
            self._row_of.update(zip(ids, range(start, end), strict=True))
            self._ids.extend(ids)
            self._rows[start:end] = units
            self._codes[start:end] = codes
            if self._ivf is not None:
                self._cells[start:end] = self._ivf.assign(units)
                self._layout = None
            return
        rows = np.empty(len(ids), dtype=np.int64)
        for i, vid in enumerate(ids):
            row = self._row_of.get(vid)
            if row is None:
                row = self._row_of[vid] = len(self._ids)
                self._ids.append(vid)
            rows[i] = row
        self._rows[rows] = units
        self._codes[rows] = codes
        if self._ivf is not None:
            self._cells[rows] = self._ivf.assign(units)
            self._layout = None

    def remove(self, ids: Collection[str]) -> None:
        self._layout = None
        for vid in ids:
            row = self._row_of.pop(vid, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            moved = self._ids.pop()
            if row != last:
                self._ids[row] = moved
                self._row_of[moved] = row
                self._rows[row] = self._rows[last]
                self._codes[row] = self._codes[last]
                if self._ivf is not None:
                    self._cells[row] = self._cells[last]

    def search(
        self, query: np.ndarray, top_k: int, source_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``top_k`` best rows for a unit ``query``: ``(id, cosine)``, best first.

        Exact while the rows to search (all, or those of ``source_ids``) are fewer than
        ``approximate_from``; approximate (IVF) from there on.
        """
        n = self.size
        candidates: np.ndarray | None = None
        if source_ids is not None:
            wanted = [self._code_of[s] for s in source_ids if s in self._code_of]
            chosen = np.isin(self._codes[:n], wanted)
            candidates = np.flatnonzero(chosen)
            if len(candidates) >= self.approximate_from:
                found = self._approximate(query, top_k, chosen, len(candidates))
                return self._exact(query, top_k, candidates) if found is None else found
        elif n >= self.approximate_from:
            found = self._approximate(query, top_k, None, n)
            return self._exact(query, top_k, None) if found is None else found
        return self._exact(query, top_k, candidates)

    def _exact(self, query: np.ndarray, top_k: int, candidates: np.ndarray | None) -> list[tuple[str, float]]:
        n = self.size
        if candidates is None:
            scores = self._rows[:n] @ query
        elif len(candidates) < _SUBSET_SHARE * n:
            scores = self._rows[candidates] @ query
        else:
            scores = (self._rows[:n] @ query)[candidates]
        return self._best(scores, top_k, candidates)

    def _approximate(
        self, query: np.ndarray, top_k: int, chosen: np.ndarray | None, eligible: int
    ) -> list[tuple[str, float]] | None:
        """The best rows of the probed IVF cells; None if they hold too few of the ``eligible`` rows."""
        ivf = self._index()
        order, starts = self._cell_layout(ivf)
        probed = np.flatnonzero(ivf.probed(query))
        candidates = np.concatenate([order[starts[c] : starts[c + 1]] for c in probed])
        if chosen is not None:
            candidates = candidates[chosen[candidates]]
        if len(candidates) < min(top_k, eligible):
            return None
        return self._best(self._rows[candidates] @ query, top_k, candidates)

    def _index(self) -> Ivf:
        """The IVF partition, trained now if there is none or the rows have doubled since."""
        n = self.size
        if self._ivf is None or n >= 2 * self._ivf.trained_rows:
            units = self._rows[:n]
            self._ivf = Ivf.train(units, lists=lists_for(n), probe_share=self.probe_share)
            if len(self._cells) < len(self._rows):
                self._cells = np.empty(len(self._rows), dtype=np.int16)
            self._cells[:n] = self._ivf.assign(units)
            self._layout = None
        return self._ivf

    def _cell_layout(self, ivf: Ivf) -> tuple[np.ndarray, np.ndarray]:
        if self._layout is None:
            cells = self._cells[: self.size]
            order = np.argsort(cells, kind="stable")
            starts = np.searchsorted(cells[order], np.arange(ivf.lists + 1))
            self._layout = (order, starts)
        return self._layout

    def _best(self, scores: np.ndarray, top_k: int, candidates: np.ndarray | None) -> list[tuple[str, float]]:
        k = min(top_k, len(scores))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")]
        rows = best if candidates is None else candidates[best]
        ids = self._ids
        return [(ids[r], min(1.0, max(-1.0, float(s)))) for r, s in zip(rows, scores[best], strict=True)]

    def _resize(self, capacity: int) -> None:
        rows = np.empty((capacity, self.dimensions), dtype=np.float32)
        codes = np.empty(capacity, dtype=np.int32)
        rows[: self.size] = self._rows[: self.size]
        codes[: self.size] = self._codes[: self.size]
        self._rows, self._codes = rows, codes
        if self._ivf is not None:
            cells = np.empty(capacity, dtype=np.int16)
            cells[: self.size] = self._cells[: self.size]
            self._cells = cells
