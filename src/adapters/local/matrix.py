"""One namespace's vectors in memory: float32 unit rows, stored cell by cell.

Cosine similarity of unit vectors is their dot product, so an exact query is one
matrix-vector product per block of rows and an ``argpartition`` for the top k. Small
namespaces keep their rows in blocks of up to 64k rows and are searched exactly. From ``APPROXIMATE_FROM`` rows on,
a query is answered approximately through an IVF partition (``adapters.local.ivf``): the
rows are regrouped so that each IVF cell's rows are one contiguous block, and a query
scores only the blocks of the cells nearest to it, straight from memory (no gather of
scattered rows, no temporary copy). The partition is trained on the first such query and
again each time the namespace has doubled since; rows written in between go to their
nearest cell's block as they come. A partition saved by another process can be adopted
instead of trained (``adopt``), see ``adapters.local.vectors``.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from adapters.local.ivf import SAMPLE_PER_LIST, Ivf, lists_for

# Namespaces from this many rows on are searched approximately (see the module docstring).
APPROXIMATE_FROM = 200_000
# Share of the IVF cells a query probes. On the clustered 384-d data of bench/search.py at
# 1M rows (1000 cells), recall@10 by probes: 10: 0.943, 15: 0.957, 20: 0.968, 25: 0.974,
# 40: 0.986; a query's cost grows with the rows probed (25 cells: ~25k rows, ~2-4 ms).
# 2.5% keeps a margin over the 0.95 aimed at, which 1.5% barely met.
PROBE_SHARE = 0.025
# ... and at least enough cells for about this many rows: a smaller namespace has fewer,
# coarser cells (sqrt(rows)), and the same share of them finds less (same data, 2.5%:
# recall 0.90 at 250k rows, 0.93 at 500k; probing ~25k rows: 0.977 and 0.966), while
# scoring 25k rows costs the same ~1-3 ms at any size.
PROBED_ROWS = 25_000

# Below this share of a block's rows passing a filter, score only the chosen rows
# (copying them is cheaper than scoring everything); above it, score all and mask.
_SUBSET_SHARE = 0.25
# Where a row is: cell * _PACK + position in the cell's block (one int per id).
_PACK = 1 << 32
# Rows regrouped per step when the partition is (re)built: bounds the temporary copies.
_REGROUP_BATCH = 65_536
# Without a partition the rows are kept in blocks of at most this many (all searched):
# when the partition is built, each block is freed as soon as its rows are moved, so
# regrouping a namespace never holds two copies of it.
_BLOCK_ROWS = 65_536


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32); a zero row stays zero and scores 0 against anything."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0.0, norms, 1.0)).astype(np.float32, copy=False)


def scores_of(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Dot products of ``rows`` with ``query``, computed on the calling thread alone.

    einsum rather than BLAS (``rows @ query``): OpenBLAS splits a matrix-vector product
    over every core, and on a busy machine waiting for its other threads costs more than
    the product itself (15k rows of 384: 16 ms p50 threaded, 0.8 ms on one thread, at
    load 6 on 2 cores). The product is memory-bound, so one thread loses little when idle.
    """
    return np.einsum("ij,j->i", rows, query)


class _Cell:
    """One block of rows: unit vectors, source codes and ids, dense (no holes)."""

    __slots__ = ("codes", "ids", "rows")

    def __init__(self, dimensions: int, capacity: int) -> None:
        self.rows = np.empty((capacity, dimensions), dtype=np.float32)
        self.codes = np.empty(capacity, dtype=np.int32)
        self.ids: list[str] = []

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.codes.nbytes

    def grow(self, need: int, limit: int | None = None) -> int:
        """Makes room for ``need`` rows in all (growing by half, to ``limit`` at most); the bytes added."""
        capacity = len(self.rows)
        if need <= capacity:
            return 0
        before = self.nbytes
        capacity = max(need, min(capacity + capacity // 2, limit or capacity * 2), 16)
        used = len(self.ids)
        rows = np.empty((capacity, self.rows.shape[1]), dtype=np.float32)
        codes = np.empty(capacity, dtype=np.int32)
        rows[:used] = self.rows[:used]
        codes[:used] = self.codes[:used]
        self.rows, self.codes = rows, codes
        return self.nbytes - before


class _Filter:
    """The source codes a search keeps."""

    # Up to this many codes, comparing is faster than looking each row's code up in a table.
    _COMPARED = 8

    def __init__(self, codes: list[int], known: int) -> None:
        self.codes = codes
        self.table = np.zeros(known, dtype=bool)
        self.table[codes] = True

    def matches(self, codes: np.ndarray) -> np.ndarray:
        """Whether each of ``codes`` is kept."""
        if len(self.codes) > self._COMPARED:
            return self.table[codes]
        kept = codes == self.codes[0]
        for code in self.codes[1:]:
            kept |= codes == code
        return kept


def _capacity(rows: int) -> int:
    """Room for a block of ``rows``: some headroom, so that new rows rarely copy it."""
    return rows + rows // 8 + 16 if rows else 0


class VectorMatrix:
    """Unit vectors of one dimension with their ids and source ids, kept in step with writes.

    Each cell's block is dense: a removed row is replaced by the block's last one, so
    search never skips holes. Blocks grow geometrically, so appending batch after batch
    is amortised O(rows written).
    """

    def __init__(
        self,
        dimensions: int,
        *,
        approximate_from: int | None = None,
        probe_share: float | None = None,
        probed_rows: int | None = None,
    ) -> None:
        self.dimensions = dimensions
        self.approximate_from = APPROXIMATE_FROM if approximate_from is None else approximate_from
        self.probe_share = PROBE_SHARE if probe_share is None else probe_share
        self.probed_rows = PROBED_ROWS if probed_rows is None else probed_rows
        self._ivf: Ivf | None = None  # None: one cell, searched exactly
        self._cells = [_Cell(dimensions, 0)]
        self._nbytes = 0
        self._where: dict[str, int] = {}  # id -> cell * _PACK + position
        self._code_of: dict[str, int] = {}  # source id -> code
        self._code_rows = np.zeros(0, dtype=np.int64)  # per code: how many rows hold it
        # Every row's code, cell and position, cell after cell: built for a filtered search
        # of all cells, dropped by any write.
        self._flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Rows whose cell was computed here since the partition was trained, adopted or
        # marked saved: what a saved copy of the partition would not tell another process.
        self.unsaved = 0

    @property
    def size(self) -> int:
        return len(self._where)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def partition(self) -> Ivf | None:
        return self._ivf

    def reserve(self, rows: int) -> None:
        """Makes room for ``rows`` more rows at once (a load knows its size: less regrowing)."""
        if self._ivf is None:
            last = self._cells[-1]
            self._nbytes += last.grow(min(_BLOCK_ROWS, len(last.ids) + rows))

    def adopt(self, ivf: Ivf, expected: np.ndarray) -> None:
        """Takes a partition trained elsewhere; ``expected[c]``: about how many rows cell c will get.

        Only for an empty matrix: rows then come with their cells (``upsert(cells=...)``).
        """
        if self.size:
            raise ValueError("a partition is adopted before any row is added")
        self._ivf = ivf
        self._flat = None
        self._cells = [_Cell(self.dimensions, _capacity(int(expected[c]))) for c in range(ivf.lists)]
        self._nbytes = sum(cell.nbytes for cell in self._cells)
        self.unsaved = 0

    def assignments(self) -> tuple[list[str], np.ndarray]:
        """Every id and its cell (int16), to save the partition."""
        ids = [vid for cell in self._cells for vid in cell.ids]
        cells = np.repeat(np.arange(len(self._cells), dtype=np.int16), [len(c.ids) for c in self._cells])
        return ids, cells

    def upsert(
        self, ids: Sequence[str], source_ids: Sequence[str], units: np.ndarray, cells: np.ndarray | None = None
    ) -> None:
        """Adds or replaces rows. ``ids`` must be distinct; ``units`` are unit rows.

        ``cells``, with a partition: the cell of each row when known (-1 where not), as a
        saved partition tells a loading process; rows without one are assigned here.
        """
        if not self._where.keys().isdisjoint(ids):
            self.remove([vid for vid in ids if vid in self._where])
        codes = np.fromiter(
            (self._code_of.setdefault(s, len(self._code_of)) for s in source_ids), np.int32, len(source_ids)
        )
        if len(self._code_rows) < len(self._code_of):
            grown = np.zeros(max(len(self._code_of), 2 * len(self._code_rows)), dtype=np.int64)
            grown[: len(self._code_rows)] = self._code_rows
            self._code_rows = grown
        counts = np.bincount(codes)
        self._code_rows[: len(counts)] += counts
        if self._ivf is None:
            self._append(list(ids), codes, units)
            return
        if cells is None:
            cell_of = self._ivf.assign(units)
            self.unsaved += len(ids)
        else:
            cell_of = np.asarray(cells, dtype=np.int16).copy()
            unknown = (cell_of < 0) | (cell_of >= self._ivf.lists)
            if unknown.any():
                cell_of[unknown] = self._ivf.assign(units[unknown])
                self.unsaved += int(unknown.sum())
        self._place(list(ids), codes, units, cell_of)

    def remove(self, ids: Collection[str]) -> None:
        self._flat = None
        cells, where, code_rows = self._cells, self._where, self._code_rows
        for vid in ids:
            packed = where.pop(vid, None)
            if packed is None:
                continue
            c, row = divmod(packed, _PACK)
            cell = cells[c]
            last = len(cell.ids) - 1
            code_rows[cell.codes[row]] -= 1
            if row != last:
                moved = cell.ids[last]
                cell.ids[row] = moved
                where[moved] = packed
                cell.rows[row] = cell.rows[last]
                cell.codes[row] = cell.codes[last]
            cell.ids.pop()

    def search(
        self,
        query: np.ndarray,
        top_k: int,
        source_ids: Collection[str] | None = None,
        *,
        exact: bool = False,
    ) -> list[tuple[str, float]]:
        """The ``top_k`` best rows for a unit ``query``: ``(id, cosine)``, best first.

        Exact while the rows to search (all, or those of ``source_ids``) are fewer than
        ``approximate_from`` (or when ``exact``); approximate (IVF) from there on.
        """
        allowed: _Filter | None = None
        eligible = self.size
        if source_ids is not None:
            wanted = [self._code_of[s] for s in source_ids if s in self._code_of]
            eligible = int(self._code_rows[wanted].sum()) if wanted else 0
            if eligible == 0:
                return []
            allowed = _Filter(wanted, len(self._code_of))
        if not exact and eligible >= self.approximate_from:
            found = self._scan(query, top_k, self._index().probed(query).tolist(), allowed)
            if len(found) >= min(top_k, eligible):
                return found
            # the probed cells hold too few of the chosen rows: search them all
        return self._scan(query, top_k, range(len(self._cells)), allowed)

    def _scan(
        self, query: np.ndarray, top_k: int, cells: Iterable[int], allowed: _Filter | None
    ) -> list[tuple[str, float]]:
        """The best rows of ``cells`` (of the ``allowed`` source codes, if given)."""
        parts: list[np.ndarray] = []
        origins: list[tuple[int, np.ndarray | None]] = []  # per part: its cell, and positions if not all
        if allowed is not None and isinstance(cells, range) and len(self._cells) > 1:
            # Every cell, filtered: find the chosen rows in one pass over all codes, then
            # visit only the cells that hold some (a filter often picks a few documents).
            for c, chosen in self._chosen_by_cell(allowed):
                parts.append(scores_of(self._cells[c].rows[chosen], query))
                origins.append((c, chosen))
            cells = ()
        for c in cells:
            cell = self._cells[c]
            used = len(cell.ids)
            if used == 0:
                continue
            if allowed is None:
                parts.append(scores_of(cell.rows[:used], query))
                origins.append((c, None))
                continue
            chosen = np.flatnonzero(allowed.matches(cell.codes[:used]))
            if len(chosen) == 0:
                continue
            if len(chosen) < _SUBSET_SHARE * used:
                parts.append(scores_of(cell.rows[chosen], query))
            else:
                parts.append(scores_of(cell.rows[:used], query)[chosen])
            origins.append((c, chosen))
        if not parts:
            return []
        scores = parts[0] if len(parts) == 1 else np.concatenate(parts)
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")]
        offsets = np.cumsum([0] + [len(p) for p in parts])
        part_of = np.searchsorted(offsets, best, side="right") - 1
        found = []
        for i, p, score in zip(best.tolist(), part_of.tolist(), scores[best].tolist(), strict=True):
            c, chosen = origins[p]
            row = i - int(offsets[p])
            if chosen is not None:
                row = int(chosen[row])
            found.append((self._cells[c].ids[row], min(1.0, max(-1.0, score))))
        return found

    def _chosen_by_cell(self, allowed: _Filter) -> Iterable[tuple[int, np.ndarray]]:
        """Per cell holding rows of the ``allowed`` codes: the cell and their positions."""
        if self._flat is None:
            sizes = np.array([len(cell.ids) for cell in self._cells])
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            codes = np.concatenate([cell.codes[: len(cell.ids)] for cell in self._cells])
            cell_of = np.repeat(np.arange(len(self._cells), dtype=np.int32), sizes)
            self._flat = (codes, cell_of, np.arange(len(codes)) - np.repeat(starts, sizes))
        codes, cell_of, positions = self._flat
        hits = np.flatnonzero(allowed.matches(codes))
        hit_cells = cell_of[hits]
        cuts = [0, *(np.flatnonzero(hit_cells[1:] != hit_cells[:-1]) + 1).tolist(), len(hits)]
        for a, b in itertools.pairwise(cuts):
            if a < b:
                yield int(hit_cells[a]), positions[hits[a:b]]

    def _index(self) -> Ivf:
        """The IVF partition, trained now if there is none or the rows have doubled since."""
        n = self.size
        if self._ivf is None or n >= 2 * self._ivf.trained_rows:
            sample = self._sample(min(n, lists_for(n) * SAMPLE_PER_LIST))
            self._regroup(Ivf.train(sample, rows=n, probe_share=self.probe_share, min_probed_rows=self.probed_rows))
        assert self._ivf is not None
        return self._ivf

    def _sample(self, size: int, seed: int = 0) -> np.ndarray:
        """``size`` distinct rows drawn at random."""
        sizes = np.array([len(cell.ids) for cell in self._cells])
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        picked = np.sort(np.random.default_rng(seed).choice(int(offsets[-1]), size=size, replace=False))
        out = np.empty((size, self.dimensions), dtype=np.float32)
        bounds = np.searchsorted(picked, offsets)
        for c, cell in enumerate(self._cells):
            a, b = bounds[c], bounds[c + 1]
            if a < b:
                out[a:b] = cell.rows[picked[a:b] - offsets[c]]
        return out

    def _regroup(self, ivf: Ivf) -> None:
        """Moves every row into the block of its cell under ``ivf``."""
        old = self._cells
        assigned = [ivf.assign(cell.rows[: len(cell.ids)]) for cell in old]
        counts = np.bincount(np.concatenate(assigned), minlength=ivf.lists) if assigned else np.zeros(ivf.lists)
        self._ivf = ivf
        self._flat = None
        self._cells = [_Cell(self.dimensions, _capacity(int(counts[c]))) for c in range(ivf.lists)]
        self._nbytes = sum(cell.nbytes for cell in self._cells)
        self._where = {}
        for i, cell in enumerate(old):
            for start in range(0, len(cell.ids), _REGROUP_BATCH):
                end = min(start + _REGROUP_BATCH, len(cell.ids))
                self._place(cell.ids[start:end], cell.codes[start:end], cell.rows[start:end], assigned[i][start:end])
            old[i] = _Cell(self.dimensions, 0)  # frees the block as soon as it is moved
        self.unsaved = self.size

    def _place(self, ids: list[str], codes: np.ndarray, units: np.ndarray, cell_of: np.ndarray) -> None:
        """Appends rows to the blocks of their cells."""
        order = np.argsort(cell_of, kind="stable")
        ordered = cell_of[order]
        cuts = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), len(order)]
        units, codes = units[order], codes[order]
        ids = [ids[i] for i in order.tolist()]
        for a, b in itertools.pairwise(cuts):
            if a < b:
                self._extend(int(ordered[a]), ids[a:b], codes[a:b], units[a:b])

    def _append(self, ids: list[str], codes: np.ndarray, units: np.ndarray) -> None:
        """Appends rows without a partition: to the last block, then to new ones."""
        done = 0
        while done < len(ids):
            room = _BLOCK_ROWS - len(self._cells[-1].ids)
            if room <= 0:  # a namespace this big fills a new block too: no regrowing
                self._cells.append(_Cell(self.dimensions, _BLOCK_ROWS))
                self._nbytes += self._cells[-1].nbytes
                continue
            end = done + min(room, len(ids) - done)
            self._extend(len(self._cells) - 1, ids[done:end], codes[done:end], units[done:end], limit=_BLOCK_ROWS)
            done = end

    def _extend(self, c: int, ids: list[str], codes: np.ndarray, units: np.ndarray, limit: int | None = None) -> None:
        self._flat = None
        cell = self._cells[c]
        used, added = len(cell.ids), len(ids)
        self._nbytes += cell.grow(used + added, limit)
        cell.rows[used : used + added] = units
        cell.codes[used : used + added] = codes
        cell.ids.extend(ids)
        first = c * _PACK + used
        self._where.update(zip(ids, range(first, first + added), strict=True))
