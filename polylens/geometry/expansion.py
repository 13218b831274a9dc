"""Expanding regions of a search: the pure task, its result, and its compact form.

:func:`expand_batch` is the task of :func:`polylens.enumerate_regions`: the search's
:class:`SearchSpec` and a batch of codes -> one :class:`Expansion` per code (the region's
interior point, facets, the codes across them, its output map). It runs in-process or
on a Dask worker; a batch of expansions sent from a worker to the driver travels as
:class:`PackedExpansions` (:func:`expand_batch_packed`): a few stacked arrays instead
of thousands of small ones (each small array would cost a frame and a Python object on
both sides, several times the cost of the arrays' bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens.errors import InfeasibleRegionError
from polylens.geometry.facet_finding import compute_facets
from polylens.geometry.region import _short, build_region, crossed_codes, in_order, sliver_notes, unique_rows
from polylens.geometry.space import Space
from polylens.geometry.waves import expand_wave, wave_applies, wave_size
from polylens.models.pwlnet import PWLNet
from polylens.parallel import locate

__all__ = ["SearchSpec", "expand_batch", "expand_batch_packed", "Expansion", "PackedExpansions", "pack"]


class SearchSpec:
    """What every expansion task of one search shares (picklable).

    Parameters
    ----------
    net : PWLNet
    domain, origin, basis, solver, method
        As given to :func:`polylens.enumerate_regions` (``domain`` already read by
        :func:`~polylens.geometry.domain.as_domain`).
    space : Space, optional
        The space these arguments give, if already built (it is not pickled).

    Attributes
    ----------
    space : Space
        Built on first use, once per process (a copy sent to a Dask worker builds its
        own).
    """

    def __init__(self, net: PWLNet, domain, origin, basis, solver: str, method: str, space: Space | None = None):
        self.net, self.domain, self.origin, self.basis = net, domain, origin, basis
        self.solver, self.method = solver, method
        self._space = space

    @property
    def space(self) -> Space:
        if self._space is None:
            self._space = Space(self.net, self.domain, x0=self.origin, U=self.basis, solver=self.solver,
                                func="enumerate_regions")
        return self._space

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_space": None}


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


def expand_batch(spec: SearchSpec, batch: tuple, stop: Callable[[], bool] | None = None) -> list[Expansion]:
    """Expand a batch of regions: the pure task of the search, in-process or on a worker.

    Parameters
    ----------
    spec : SearchSpec
    batch : tuple (indices, codes, hints)
        Sequences of length m: index of each region in the search, its code (shape
        (n_units,)) and its hint (shape (2, k), or a pair of arrays of shape (k,): a
        facet point and the direction into the region; a point inside and a NaN
        direction; all NaN: none).
    stop : callable, optional
        Read before each region expanded on its own (after the first): once it returns
        True, the regions not yet expanded are left out (the result is then a prefix of
        the batch). The regions of a wave expanded together
        (:mod:`polylens.geometry.waves`) and all kept.

    Returns
    -------
    list of Expansion
        In the order of ``batch``. A region with no interior is an expansion whose
        ``empty`` says why, not an error.

    Raises
    ------
    SolverError
        If an LP fails; like any error raised while expanding a region, it carries a
        note (and ``polylens_where``, see :func:`polylens.parallel.locate`) naming the
        region and its code.
    InvalidParameterError
        If the space of ``spec`` cannot be built (its net, domain, origin, basis or
        solver is not valid).
    """
    space = spec.space
    indices, codes, hints = batch
    found = [None] * len(indices)
    hints = np.asarray(hints, dtype=np.float64).reshape(len(indices), 2, space.dim)
    if len(indices) and wave_applies(space, spec.method):
        codes = np.asarray(codes, dtype=np.int8).reshape(len(indices), -1)
        step = wave_size(space)  # a wave in parts of bounded forms passes and memory
        for lo in range(0, len(indices), step):
            try:
                found[lo:lo + step] = expand_wave(space, codes[lo:lo + step], hints[lo:lo + step])
            except Exception:  # the one-region route raises it again, naming the region
                pass
    out = []
    for i, code, hint, done in zip(indices, codes, hints, found):
        if done is not None:
            out.append(Expansion(int(i), None, *done))
            continue
        if out and stop is not None and stop():
            break
        out.append(_expand(space, spec.method, int(i), code, hint))
    return out


def expand_batch_packed(spec: SearchSpec, batch: tuple, stop: Callable[[], bool] | None = None) -> PackedExpansions:
    """:func:`expand_batch`, packed for the trip from a worker to the driver.

    Raises
    ------
    SolverError, InvalidParameterError
        As :func:`expand_batch`.
    """
    net = spec.net
    return pack(expand_batch(spec, batch, stop), net.n_units, spec.space.dim, net.output_dim)


def _expand(space: Space, method: str, i: int, code: np.ndarray, hint: np.ndarray) -> Expansion:
    lp_before = space.lp_solves
    try:
        try:
            known = None if np.isnan(hint[0, 0]) else (hint[0], None if np.isnan(hint[1, 0]) else hint[1])
            region = build_region(space, code, known, method)
        except InfeasibleRegionError as err:
            k, n_out = space.dim, space.net.output_dim
            return Expansion(i, f"code {i} reached across a facet has no interior: {err}", [], [],
                             np.full(k, np.nan), np.nan, False, 0, None, np.full((n_out, 1 + k), np.nan),
                             space.lp_solves - lp_before)
        data = region.found_facets if region.found_facets is not None else compute_facets(
            region.A, region.b, region.point, space, method, region.candidates)
        # The units crossed are those whose piece changes: the facet's own units, and any
        # unit of a later layer whose boundary meets the facet there (a max-pool window
        # whose entries all sit at zero on one side changes its arg-max with them).
        crossings = [
            (new, (point, region.A[rows[0]]), tuple(np.flatnonzero(new != region.code).tolist()))
            for rows, point, new in zip(data.groups, data.points, crossed_codes(region, data.groups, data.points))
            if new is not None
        ]
        vertices = None if data.vertices is None else in_order(unique_rows(data.vertices), region.point)
        return Expansion(i, None, crossings, sliver_notes(space.net, region.source, region.A, region.b, data.groups),
                         region.point, region.radius,
                         data.bounded, len(data.groups), vertices,
                         np.hstack([region.out_bias[:, None], region.out_weight]),
                         space.lp_solves - lp_before + data.lp_solves)
    except Exception as err:
        locate(err, f"region {i} (code {_short(code)})")
        raise
