"""What expanding one region of a search found, and its compact form between processes.

:class:`Expansion` is the result of expanding one region (see
:func:`polylens.geometry.enumeration.expand_batch`). A batch of them sent from a Dask
worker to the driver travels as :class:`PackedExpansions`: a few stacked arrays instead
of thousands of small ones (each small array would cost a frame and a Python object on
both sides, several times the cost of the arrays' bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Expansion", "PackedExpansions", "pack", "unpack"]


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
    outputs on a ``k``-dimensional space."""
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
        codes=np.array([c[0] for c in crossings], dtype=np.int8).reshape(-1, n_units),
        hints=np.array([c[1] for c in crossings], dtype=np.float64).reshape(-1, 2, k),
        n_units=np.array([len(c[2]) for c in crossings], dtype=np.int64),
        units=np.array([u for c in crossings for u in c[2]], dtype=np.int64),
        n_vertices=np.array([-1 if e.vertices is None else e.vertices.shape[0] for e in expansions], dtype=np.int64),
        vertices=np.concatenate([np.zeros((0, k)), *vertices]),
    )


def unpack(packed: PackedExpansions) -> list[Expansion]:
    """The expansions of a packed batch, in order (the inverse of :func:`pack`)."""
    units = packed.units.tolist()
    unit_ends = np.cumsum(packed.n_units).tolist()
    crossings = [
        (code, (hint[0], hint[1]), tuple(units[end - n:end]))
        for code, hint, end, n in zip(packed.codes, packed.hints, unit_ends, packed.n_units.tolist())
    ]
    cross_ends = np.cumsum(packed.n_crossings).tolist()
    vertex_ends = np.cumsum(np.maximum(packed.n_vertices, 0)).tolist()
    out = []
    for j, (index, empty, notes) in enumerate(zip(packed.index.tolist(), packed.empty, packed.notes)):
        nc, nv = int(packed.n_crossings[j]), int(packed.n_vertices[j])
        vertices = None if nv < 0 else packed.vertices[vertex_ends[j] - nv:vertex_ends[j]]
        out.append(Expansion(index, empty, crossings[cross_ends[j] - nc:cross_ends[j]], notes, packed.point[j],
                             float(packed.radius[j]), bool(packed.bounded[j]), int(packed.n_facets[j]), vertices,
                             packed.out_map[j], int(packed.lp_solves[j])))
    return out
