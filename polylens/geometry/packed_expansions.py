"""What expanding regions found, one object per region or stacked for a batch.

:class:`Expansion` is one region's expansion (its interior point, facets, the codes
across them, its output map); :class:`PackedExpansions` a batch of them as a few stacked
arrays, the form in which a batch travels from a worker to the driver and is merged
(each small array would cost a frame and a Python object on both sides, several times
the cost of the arrays' bytes). The wave route (:mod:`polylens.geometry.waves`) makes
its batches packed from the start; :func:`pack` packs expansions of the one-region route,
:func:`join` puts packed batches in the order of their regions, :func:`head` keeps a
batch's first regions and :func:`unpack` gives the expansions back one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr

__all__ = ["Expansion", "PackedExpansions", "pack", "unpack", "join", "head"]


@short_repr
@dataclass(frozen=True, eq=False, slots=True)
class Expansion:
    """What expanding one region found.

    Attributes
    ----------
    index : int
        The region's index in the search.
    empty : str or None
        Why the region has no interior (a degenerate configuration), or None; the fields
        below are then placeholders.
    crossings : list of (ndarray of shape (n_units,), (ndarray of shape (k,), ndarray of shape (k,)), tuple of int)
        Per inner facet: the code across it, the hint to build that region (a point of
        the facet and the facet's outward normal) and the unit(s) crossed.
    notes : list of str
        Degenerate configurations met (slivers).
    point : ndarray of shape (k,)
    radius : float
    bounded : bool
    n_facets : int
    vertices : ndarray of shape (n_vertices, k) or None
        Where the hull method ran.
    out_map : ndarray of shape (n_outputs, 1 + k)
        ``[out_bias | out_weight]``.
    lp_solves : int
    """

    index: int
    empty: str | None
    crossings: list
    notes: list
    point: np.ndarray
    radius: float
    bounded: bool
    n_facets: int
    vertices: np.ndarray | None
    out_map: np.ndarray
    lp_solves: int


@short_repr
@dataclass(frozen=True, eq=False)
class PackedExpansions:
    """A batch of ``m`` expansions as stacked arrays (``C`` crossings, ``V`` vertices).

    Attributes
    ----------
    index, lp_solves, n_facets : ndarray of shape (m,), int64
    empty : list of (str or None)
    notes : list of list of str
    point : ndarray of shape (m, k)
    radius : ndarray of shape (m,)
    bounded : ndarray of shape (m,), bool
    out_map : ndarray of shape (m, n_outputs, 1 + k)
    n_crossings : ndarray of shape (m,), int64
    codes : ndarray of shape (C, n_units), int8
    hints : ndarray of shape (C, 2, k)
        Facet point and outward normal of each crossing.
    n_units : ndarray of shape (C,), int64
        Units crossed on each crossing, listed in ``units`` (shape (sum(n_units),)).
    units : ndarray, int64
    n_vertices : ndarray of shape (m,), int64
        -1 where the region has no vertex list; the vertices are rows of ``vertices``
        (shape (V, k)).
    vertices : ndarray
    """

    index: np.ndarray
    lp_solves: np.ndarray
    n_facets: np.ndarray
    empty: list
    notes: list
    point: np.ndarray
    radius: np.ndarray
    bounded: np.ndarray
    out_map: np.ndarray
    n_crossings: np.ndarray
    codes: np.ndarray
    hints: np.ndarray
    n_units: np.ndarray
    units: np.ndarray
    n_vertices: np.ndarray
    vertices: np.ndarray


def pack(expansions: list[Expansion], n_units: int, k: int, n_outputs: int) -> PackedExpansions:
    """Stack a batch of expansions of a net with ``n_units`` units and ``n_outputs``
    outputs on a ``k``-dimensional space.

    Raises
    ------
    ValueError
        If an expansion's arrays do not have the shapes that ``n_units``, ``k`` and
        ``n_outputs`` give.
    """
    crossings = [c for e in expansions for c in e.crossings]
    vertices = [e.vertices for e in expansions if e.vertices is not None]
    return PackedExpansions(
        index=np.array([e.index for e in expansions], dtype=np.int64),
        lp_solves=np.array([e.lp_solves for e in expansions], dtype=np.int64),
        n_facets=np.array([e.n_facets for e in expansions], dtype=np.int64),
        empty=[e.empty for e in expansions],
        notes=[e.notes for e in expansions],
        point=np.array([e.point for e in expansions], dtype=np.float64).reshape(-1, k),
        radius=np.array([e.radius for e in expansions], dtype=np.float64),
        bounded=np.array([e.bounded for e in expansions], dtype=bool),
        out_map=np.array([e.out_map for e in expansions], dtype=np.float64).reshape(-1, n_outputs, 1 + k),
        n_crossings=np.array([len(e.crossings) for e in expansions], dtype=np.int64),
        codes=np.array([c[0] for c in crossings], dtype=np.int8).reshape(len(crossings), n_units),
        hints=np.array([c[1] for c in crossings], dtype=np.float64).reshape(-1, 2, k),
        n_units=np.array([len(c[2]) for c in crossings], dtype=np.int64),
        units=np.array([u for c in crossings for u in c[2]], dtype=np.int64),
        n_vertices=np.array([-1 if e.vertices is None else e.vertices.shape[0] for e in expansions], dtype=np.int64),
        vertices=np.concatenate([np.zeros((0, k)), *vertices]),
    )


_REGION_ARRAYS = ("index", "lp_solves", "n_facets", "point", "radius", "bounded", "out_map", "n_crossings",
                  "n_vertices")
"""The fields of :class:`PackedExpansions` with one array row a region."""

_REGION_LISTS = ("empty", "notes")
"""The fields with one list entry a region."""

_CROSSING_ARRAYS = ("codes", "hints", "n_units")
"""The fields with one row a crossing (``units`` and ``vertices`` are cut by counts)."""


def unpack(batch: PackedExpansions) -> list[Expansion]:
    """The expansions of a packed batch, one by one, in its order (their arrays are views
    of the batch's).

    Raises
    ------
    None of its own
        The batch is taken as made by :func:`pack` or :func:`join`.
    """
    crossing_ends = np.cumsum(batch.n_crossings).tolist()
    unit_ends = np.cumsum(batch.n_units).tolist()
    vertex_ends = np.cumsum(np.maximum(batch.n_vertices, 0)).tolist()
    units = batch.units.tolist()
    out, c, v = [], 0, 0
    for j, index in enumerate(batch.index.tolist()):
        crossings = []
        for i in range(c, crossing_ends[j]):
            first = unit_ends[i - 1] if i else 0
            crossings.append((batch.codes[i], (batch.hints[i, 0], batch.hints[i, 1]), tuple(units[first:unit_ends[i]])))
        c = crossing_ends[j]
        vertices = None if batch.n_vertices[j] < 0 else batch.vertices[v:vertex_ends[j]]
        v = vertex_ends[j]
        out.append(Expansion(index, batch.empty[j], crossings, batch.notes[j], batch.point[j], float(batch.radius[j]),
                             bool(batch.bounded[j]), int(batch.n_facets[j]), vertices, batch.out_map[j],
                             int(batch.lp_solves[j])))
    return out


def join(parts: list[PackedExpansions]) -> PackedExpansions:
    """The regions of packed batches (at least one; each in increasing ``index``) as one
    batch in increasing ``index``, each region with its crossings, units and vertices.

    Raises
    ------
    None of its own
        The batches are taken as made by :func:`pack` for one net and space.
    """
    parts = [p for p in parts if p.index.size] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    lists = {name: [x for p in parts for x in getattr(p, name)] for name in _REGION_LISTS}
    arrays = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in (*_REGION_ARRAYS, *_CROSSING_ARRAYS, "units", "vertices")}
    order = np.argsort(arrays["index"], kind="stable")
    crossings = _segments(arrays["n_crossings"], order)
    units = _segments(arrays["n_units"], crossings)
    vertices = _segments(np.maximum(arrays["n_vertices"], 0), order)
    return PackedExpansions(
        **{name: arrays[name][order] for name in _REGION_ARRAYS},
        **{name: [values[i] for i in order.tolist()] for name, values in lists.items()},
        **{name: arrays[name][crossings] for name in _CROSSING_ARRAYS},
        units=arrays["units"][units], vertices=arrays["vertices"][vertices])


def head(batch: PackedExpansions, count: int) -> PackedExpansions:
    """The first ``count`` regions of ``batch``, with their crossings, units and vertices.

    Raises
    ------
    None of its own
    """
    crossings = int(batch.n_crossings[:count].sum())
    return PackedExpansions(
        **{name: getattr(batch, name)[:count] for name in (*_REGION_ARRAYS, *_REGION_LISTS)},
        **{name: getattr(batch, name)[:crossings] for name in _CROSSING_ARRAYS},
        units=batch.units[:int(batch.n_units[:crossings].sum())],
        vertices=batch.vertices[:int(np.maximum(batch.n_vertices[:count], 0).sum())])


def _segments(counts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rows of the segments ``order`` (of consecutive segments of ``counts`` rows each),
    one segment after another."""
    counts = counts.astype(np.int64)
    starts = np.cumsum(counts) - counts
    taken = counts[order]
    return np.repeat(starts[order] - (np.cumsum(taken) - taken), taken) + np.arange(int(taken.sum()))
