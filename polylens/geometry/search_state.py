"""The mutable state of one search of :func:`polylens.enumerate_regions`, in arrays.

Every region found so far is a row of growable arrays (code, hint, status, interior
point, radius, output map, how many vertices it has and where its crossings are), every
pair of regions crossed between a row of another (the two regions, the units crossed, how
many times it was crossed), and the vertices of all regions one array, in region order:
no Python object per region or per edge, so a long search holds little more than its
result (``benchmarks/bench_memory.py`` measures it),
and the driver's merge of a batch of expansions is a few array operations. Arrays of
:data:`~polylens.geometry.mapped_arrays.MAPPED_BYTES` and more grow in anonymous memory mapped for them (on Linux, in
place and without copying), whose capacity not yet written holds no memory.
Codes are found again by their hashes (:class:`~polylens.geometry.code_index.CodeIndex`,
a hit confirmed against the stored code). The state is saved to and restored from checkpoints
(:mod:`polylens.geometry.checkpoint`) in the layout of
:data:`~polylens.geometry.checkpoint.LAYOUT`, so a checkpoint does not depend on how the
state is held.
"""

from __future__ import annotations

import numpy as np

from polylens.geometry.code_index import CodeIndex
from polylens.geometry.mapped_arrays import empty, resize, trim_heap
from polylens.geometry.packed_expansions import PackedExpansions

__all__ = ["SearchState", "PENDING", "DONE", "EMPTY"]

PENDING, DONE, EMPTY = 0, 1, 2
"""A region's status: waiting to be expanded, expanded, or found to have no interior."""

GROWTH = 2.0
"""Factor by which a full array grows (its capacity is at most this times its rows; in a
mapped column the capacity not yet written holds no memory, see
:func:`~polylens.geometry.mapped_arrays.empty`)."""

LIST_CHUNK = 1 << 16
"""Regions whose vertex views, or edges whose tuples of units, are made from one list of
Python objects at a time, so that a million regions' temporary objects are not all held
at once."""


def _unit_tuples(units: np.ndarray, counts: np.ndarray, n_units: int) -> list[tuple]:
    """``units`` (shape (u,)) cut into tuples of ``counts`` (shape (e,)) units, one after
    the other; each unit is one shared int object, so that a search's million edges hold
    no int object of their own. The tuples are made :data:`LIST_CHUNK` at a time into a
    list made at its full length, so that neither the offsets of every edge nor a
    growing list's copies are held at once."""
    if units.size == 0:
        return [()] * counts.size
    shared = np.empty(max(n_units, 1), object)
    shared[:n_units] = range(n_units)
    out: list = [None] * counts.size
    offset = 0
    for lo in range(0, counts.size, LIST_CHUNK):
        count = counts[lo:lo + LIST_CHUNK].astype(np.int64)
        start = offset + np.cumsum(count) - count
        offset += int(count.sum())
        part = list(zip(shared[units[np.minimum(start, units.size - 1)]].tolist()))
        for e in np.flatnonzero(count != 1).tolist():
            part[e] = tuple(shared[units[start[e]:start[e] + count[e]]].tolist())
        out[lo:lo + count.size] = part
    return out


class _Columns:
    """Arrays that share a number of rows and grow together (by :data:`GROWTH`).

    Parameters
    ----------
    columns : dict
        Name -> (shape of one row, dtype, fill value of new rows).
    """

    def __init__(self, columns: dict):
        self.spec = columns
        self.n = 0
        self.data = {name: empty(16, shape, dtype) for name, (shape, dtype, _) in columns.items()}

    def append(self, count: int) -> slice:
        """Add ``count`` rows, set to their fill values; the slice of the new rows. Where
        there is no memory for them, it raises with the rows held unchanged (a column
        already grown keeps its capacity)."""
        need = self.n + count
        capacity = min(a.shape[0] for a in self.data.values())
        if need > capacity:
            capacity = max(need, int(capacity * GROWTH) + 1)
            for name in self.spec:
                if self.data[name].shape[0] < capacity:
                    resize(self.data, name, capacity)
        rows = slice(self.n, need)
        for name, (_, _, fill) in self.spec.items():
            self.data[name][rows] = fill
        self.n = need
        return rows

    def drop(self, name: str) -> None:
        """Give back column ``name`` (views of it keep its memory)."""
        del self.data[name], self.spec[name]

    def trim(self) -> None:
        """Give back the rows not used (see :func:`~polylens.geometry.mapped_arrays.resize`)."""
        for name in self.spec:
            resize(self.data, name, self.n)

    def __getitem__(self, name: str) -> np.ndarray:
        """The rows of column ``name`` (a view)."""
        return self.data[name][:self.n]


class SearchState:
    """Regions, crossings and vertices of one search (see the module notes).

    Parameters
    ----------
    n_units, k, n_outputs : int
        Units of the net, dimension of the space, outputs of the net.

    Attributes
    ----------
    next : int
        The first region not yet expanded (regions are expanded in order).
    lp_solves : int
    seconds : float
    degenerate : list of str
    """

    def __init__(self, n_units: int, k: int, n_outputs: int):
        self.n_units, self.k, self.n_outputs = n_units, k, n_outputs
        self.regions = _Columns({
            "codes": ((n_units,), np.int8, 0), "hints": ((2, k), np.float64, np.nan),
            "status": ((), np.int8, PENDING), "points": ((k,), np.float64, np.nan),
            "radii": ((), np.float64, np.nan), "bounded": ((), bool, False), "n_facets": ((), np.int64, 0),
            "maps": ((n_outputs, k + 1), np.float64, np.nan), "vertex_count": ((), np.int32, -1),
            "crossing_start": ((), np.int64, 0),
            "crossing_count": ((), np.int64, 0),
        })
        self.crossings = _Columns({"pair": ((2,), np.int64, 0), "unit_count": ((), np.int32, 0),
                                   "weight": ((), np.int64, 1)})
        self.units = _Columns({"unit": ((), np.int32, 0)})  # each row's units, row after row
        self.vertices = _Columns({"value": ((k,), np.float64, 0.0)})
        self.index = CodeIndex(lambda rows: self.regions.data["codes"][rows])
        self.degenerate: list[str] = []
        self.lp_solves = 0
        self.seconds = 0.0
        self.next = 0

    @property
    def n(self) -> int:
        """Regions found (expanded or not)."""
        return self.regions.n

    def add(self, codes: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """Index of each code (shape (m, n_units)); new ones are appended, pending, with
        their hints (shape (m, 2, k); None: no hint). A code twice in ``codes`` is added
        once, where it first appears.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the search.
        """
        codes = np.ascontiguousarray(codes, dtype=np.int8)
        out, hashes = self.index.find(codes)
        new = np.flatnonzero(out < 0)
        if new.size:
            # The distinct new codes, in the order they first appear: grouped by hash, and
            # by their bytes where two codes of one hash differ.
            _, first, inverse = np.unique(hashes[new], return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            if not np.array_equal(codes[new], codes[new[first[inverse]]]):
                rows = np.hstack([codes[new], np.zeros((new.size, 1), np.int8)])  # a byte more: a net may have no unit
                rows_as_bytes = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
                _, first, inverse = np.unique(rows_as_bytes, return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            rank = np.empty(order.size, np.int64)
            rank[order] = np.arange(order.size)
            out[new] = self.regions.n + rank[inverse.reshape(-1)]
            kept = new[first[order]]
            rows = self.regions.append(kept.size)
            self.regions.data["codes"][rows] = codes[kept]
            if hints is not None:
                self.regions.data["hints"][rows] = hints[kept]
            self.index.add(hashes[kept])
        return out

    def merge(self, batch: PackedExpansions) -> int:
        """Commit a batch of expansions, in order (each region's crossings before the
        next region's, so new regions join the frontier in the order the expansions give
        them); returns how many regions it finished (the others were empty). A batch is
        merged whole or not at all: whatever stops a merge (no memory for the rows it
        adds, an interrupt), the state is put back as it was before it, so that the
        checkpoint written on the way out holds no half-merged batch.

        Raises
        ------
        None of its own
            The batch is taken as made by :mod:`~polylens.geometry.packed_expansions`.
        """
        regions = batch.index
        before = ({name: self.regions.data[name][regions] for name in self.regions.spec},  # copies
                  self.regions.n, self.crossings.n, self.units.n, self.vertices.n, len(self.degenerate),
                  self.lp_solves)
        try:
            return self._merge(batch)
        except BaseException:
            rows, self.regions.n, self.crossings.n, self.units.n, self.vertices.n, notes, self.lp_solves = before
            del self.degenerate[notes:]
            for name, values in rows.items():
                self.regions.data[name][regions] = values
            self.index.truncate(self.regions.n)
            raise

    def _merge(self, batch: PackedExpansions) -> int:
        """:meth:`merge`, with no way back: the in-place changes to rows held before the
        batch (the weights of pairs crossed again) come last."""
        self.lp_solves += int(batch.lp_solves.sum())
        empty = np.array([e is not None for e in batch.empty], bool)
        for e, notes in zip(batch.empty, batch.notes):
            if e is not None:
                self.degenerate.append(e)
            else:
                self.degenerate.extend(notes)
        regions = batch.index
        others = self.add(batch.codes, batch.hints)
        again, more = self._record(regions, others, batch.n_crossings, batch.n_units, batch.units)
        r = self.regions.data
        r["status"][regions] = np.where(empty, EMPTY, DONE)
        ok = regions[~empty]
        for name, values in (("points", batch.point), ("radii", batch.radius), ("bounded", batch.bounded),
                             ("n_facets", batch.n_facets), ("maps", batch.out_map)):
            r[name][ok] = values[~empty]
        has = (batch.n_vertices >= 0) & ~empty
        counts = np.where(has, batch.n_vertices, 0)
        vertex_rows = self.vertices.append(int(counts.sum()))  # in region order, as the regions merge
        self.vertices.data["value"][vertex_rows] = batch.vertices
        r["vertex_count"][regions[has]] = batch.n_vertices[has]
        finished = int(ok.size)
        self.crossings.data["weight"][again] += more
        return finished

    def _record(self, regions: np.ndarray, others: np.ndarray, n_crossings: np.ndarray, n_units: np.ndarray,
                units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record a batch's crossings (``n_crossings[j]`` from region ``regions[j]``, in
        order, to ``others``, shape (C,); the units crossed: ``n_units`` (C,) of them
        each, listed in ``units``), one row per pair: a pair's first crossing in the batch takes a row, or adds to the row of the
        region across when that one was expanded in an earlier batch (its rows are a
        block, ``crossing_start`` and ``crossing_count``, that holds the pair when that
        region saw it); the pair's other crossings in the batch add to its weight. So a
        facet seen from both sides holds one row, as an edge of the result does (after a
        restore too, :meth:`_restore_blocks`), and :meth:`edges` gives what one row per
        crossing gave, whatever the rows."""
        c, r = self.crossings.data, self.regions.data
        mine = np.repeat(regions, n_crossings)
        lo, hi = np.minimum(mine, others), np.maximum(mine, others)
        # Each pair's first crossing in the batch (`lead`, in batch order) and its count.
        key = lo * max(self.n, 1) + hi
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.concatenate([np.ones(min(key.size, 1), bool), key[1:] != key[:-1]]))
        lead_order = np.argsort(order[starts], kind="stable")
        lead, totals = order[starts][lead_order], np.diff(np.append(starts, key.size))[lead_order]
        seen = r["crossing_count"][others[lead]] > 0
        held = np.zeros(lead.size, bool)
        again, more = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if seen.any():
            across = others[lead[seen]]
            start, count = r["crossing_start"][across], r["crossing_count"][across]
            slots = np.arange(int(count.max()))
            inside = slots[None, :] < count[:, None]
            rows = np.where(inside, start[:, None] + slots[None, :], 0)
            match = inside & (c["pair"][rows, 0] == lo[lead[seen], None]) & (c["pair"][rows, 1] == hi[lead[seen], None])
            found = match.any(axis=1)
            again = rows[np.arange(rows.shape[0]), match.argmax(axis=1)][found]
            more = totals[seen][found]
            held[np.flatnonzero(seen)[found]] = True
        new = lead[~held]
        first = self.crossings.n
        crossing_rows = self.crossings.append(new.size)
        c = self.crossings.data
        c["pair"][crossing_rows, 0], c["pair"][crossing_rows, 1] = lo[new], hi[new]
        c["weight"][crossing_rows] = totals[~held]
        unit_ends = np.cumsum(n_units)
        c["unit_count"][crossing_rows] = n_units[new]
        unit_rows = self.units.append(int(n_units[new].sum()))
        pick = np.repeat(unit_ends[new] - n_units[new] - (np.cumsum(n_units[new]) - n_units[new]), n_units[new])
        self.units.data["unit"][unit_rows] = units[pick + np.arange(pick.size)]
        # Each region's rows are contiguous: the batch's crossings come region by region.
        owner = np.searchsorted(np.cumsum(n_crossings), new, side="right")
        per_region = np.bincount(owner, minlength=regions.size)
        r["crossing_start"][regions] = first + np.cumsum(per_region) - per_region
        r["crossing_count"][regions] = per_region
        return again, more

    def _restore_blocks(self, pairs: np.ndarray, status: np.ndarray) -> None:
        """Each region's block of rows (see :meth:`_record`) from restored pairs (shape
        (e, 2), in the order first crossed) and statuses: only the rows whose second
        region is still pending can be crossed again, and those were recorded by their
        first region (regions are expanded in order, so it was expanded first). Its rows
        lie in the rows its expansion recorded, so the block spanning them is no wider."""
        rows = np.flatnonzero(status[pairs[:, 1]] == PENDING)
        owner = pairs[rows, 0]
        if rows.size == 0:
            return
        start = np.full(self.n, rows.max() + 1)
        end = np.zeros(self.n, np.int64)
        np.minimum.at(start, owner, rows)
        np.maximum.at(end, owner, rows)
        has = np.unique(owner)
        self.regions.data["crossing_start"][has] = start[has]
        self.regions.data["crossing_count"][has] = end[has] - start[has] + 1

    def finish(self, regions: np.ndarray | None) -> tuple[list, np.ndarray, np.ndarray, list]:
        """End the search and hand over the parts of its result that are not columns:
        ``(vertices, pairs, crossings, units)``, the vertices of ``regions`` (increasing
        indices; None: every region) as
        :meth:`region_vertices` and the edges as :meth:`edges` give them. What only a
        running search needs (the code index, the hints, the blocks of crossing rows) and
        the capacity not used are given back first, and what each part was made from once
        it is made; the state then serves its columns but neither merges nor saves.

        Raises
        ------
        None of its own
        """
        self.index = None
        for name in ("hints", "crossing_start", "crossing_count"):
            self.regions.drop(name)
        for columns in (self.regions, self.crossings, self.units, self.vertices):
            columns.trim()
        trim_heap()  # the waves' temporaries, before the result's objects are made
        edges = self.edges()  # first: their units (4 bytes a unit and an edge) are given back before the vertices
        self.crossings.drop("unit_count")
        self.units.drop("unit")
        trim_heap()
        vertices = self.region_vertices(regions)
        self.regions.drop("vertex_count")
        return (vertices, *edges)

    def edges(self) -> tuple[np.ndarray, np.ndarray, list]:
        """Every pair of regions crossed between, in the order first crossed:
        ``(pairs (e, 2), crossings (e,), units (list of tuple))``, the arrays views of
        the state's (a pair has one row, see :meth:`_record`); the units are those of the
        first crossing.

        Raises
        ------
        None of its own
        """
        c = self.crossings
        return c["pair"], c["weight"], _unit_tuples(self.units["unit"], c["unit_count"], self.n_units)

    def region_vertices(self, regions: np.ndarray | None = None) -> list[np.ndarray]:
        """Vertices of each region of ``regions`` (increasing indices; None: every
        region), views, shape (0, k) where none are known. The vertices lie in region
        order, so a region's first vertex follows from the counts before it (summed a
        :data:`LIST_CHUNK` of regions at a time).

        Raises
        ------
        ValueError
            If ``regions`` are not increasing.
        RuntimeError
            If the vertex counts do not add up to the vertices held (the state broken:
            vertices not in region order).
        """
        values, count = self.vertices["value"], self.regions["vertex_count"]
        if regions is not None:
            regions = np.asarray(regions, dtype=np.int64)
            if np.any(regions[1:] <= regions[:-1]):
                raise ValueError("SearchState.region_vertices takes increasing region indices")
        counted = int(np.maximum(count, 0).sum(dtype=np.int64))
        if counted != values.shape[0]:
            raise RuntimeError(f"the search's vertex counts add up to {counted}, not to the {values.shape[0]} "
                               "vertices it holds")
        total = self.n if regions is None else len(regions)
        out: list = [None] * total  # at its full length: no copies
        offset, row = 0, 0  # vertices before region `row`
        for lo in range(0, total, LIST_CHUNK):
            part = np.arange(lo, min(lo + LIST_CHUNK, total)) if regions is None else regions[lo:lo + LIST_CHUNK]
            top = int(part[-1]) + 1
            n = np.maximum(count[row:top], 0).astype(np.int64)
            ends = offset + np.cumsum(n)
            start, length = (ends - n)[part - row].tolist(), n[part - row].tolist()
            offset, row = int(ends[-1]), top
            out[lo:lo + len(part)] = [values[s:s + m] for s, m in zip(start, length)]
        return out

    # ---------------------------------------------------------------- checkpoints
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as the arrays of a checkpoint (:data:`~polylens.geometry.checkpoint.LAYOUT`).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the search.
        """
        r, c = self.regions, self.crossings
        with_vertices = np.flatnonzero(r["vertex_count"] >= 0)
        n_vertices = r["vertex_count"][with_vertices]
        done = np.flatnonzero(r["status"] == DONE)
        return {
            "codes": r["codes"].copy(), "status": r["status"].copy(), "points": r["points"].copy(),
            "radii": r["radii"].copy(), "bounded": r["bounded"].copy(), "n_facets": r["n_facets"].copy(),
            "hints": r["hints"].copy(), "edges": c["pair"].copy(), "edge_counts": c["weight"].copy(),
            "edge_unit_lengths": c["unit_count"].astype(np.int64),
            "edge_unit_values": self.units["unit"].astype(np.int64),
            "degenerate": np.array(self.degenerate, dtype=str),
            "vertex_owner": np.repeat(with_vertices, n_vertices),
            "vertex_values": self.vertices["value"].copy(),  # in region order
            "map_owner": done, "map_values": r["maps"][done].copy(),
            "counters": np.array([self.lp_solves, self.seconds]),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], n_units: int, k: int, n_outputs: int) -> "SearchState":
        """The state saved by :meth:`to_arrays` (validated by
        :func:`~polylens.geometry.checkpoint.read_checkpoint`); linear in its size.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the search.
        """
        s = cls(n_units, k, n_outputs)
        codes = data["codes"]
        s.add(codes)
        r = s.regions.data
        n = codes.shape[0]
        for name in ("hints", "status", "points", "radii", "bounded", "n_facets"):
            r[name][:n] = data[name]
        r["maps"][data["map_owner"]] = data["map_values"]
        owners, values = data["vertex_owner"], data["vertex_values"]
        if np.any(owners[1:] < owners[:-1]):  # the blocks in region order (as to_arrays writes them)
            order = np.argsort(owners, kind="stable")
            owners, values = owners[order], values[order]
        if owners.size:
            starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            r["vertex_count"][owners[starts]] = np.diff(np.r_[starts, owners.size])
            rows = s.vertices.append(owners.size)
            s.vertices.data["value"][rows] = values
        edges = data["edges"]
        rows = s.crossings.append(edges.shape[0])
        s.crossings.data["pair"][rows] = edges
        s.crossings.data["weight"][rows] = data["edge_counts"]
        s.crossings.data["unit_count"][rows] = data["edge_unit_lengths"]
        rows = s.units.append(data["edge_unit_values"].size)
        s.units.data["unit"][rows] = data["edge_unit_values"]
        s._restore_blocks(edges, data["status"])
        s.degenerate = data["degenerate"].tolist()
        s.lp_solves, s.seconds = int(data["counters"][0]), float(data["counters"][1])
        pending = np.flatnonzero(data["status"] == PENDING)
        s.next = int(pending[0]) if pending.size else n
        return s
