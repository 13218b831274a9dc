"""Expanding regions of a search: the pure task.

:func:`expand_batch_packed` is the task of :func:`polylens.enumerate_regions`: the
search's :class:`SearchSpec` and a batch of codes -> what expanding each found (the
region's interior point, facets, the codes across them, its output map), as one
:class:`~polylens.geometry.packed_expansions.PackedExpansions`: the form in which a
batch travels from a worker to the driver. It runs in-process or on a Dask worker. The
wave route (:mod:`polylens.geometry.waves`) expands most regions, a batch in parts, and
packs them as it goes; the others take the one-region route (:func:`_expand`), whose
:class:`~polylens.geometry.packed_expansions.Expansion` objects are packed and joined
with them in batch order. :func:`expand_batch` gives the same, one expansion a region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from polylens.errors import InfeasibleRegionError
from polylens.geometry.facet_finding import compute_facets
from polylens.geometry.packed_expansions import Expansion, PackedExpansions, head, join, pack, unpack
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


def expand_batch_packed(spec: SearchSpec, batch: tuple, stop: Callable[[], bool] | None = None) -> PackedExpansions:
    """Expand a batch of regions: the pure task of the search, in-process or on a worker.

    Parameters
    ----------
    spec : SearchSpec
    batch : tuple (indices, codes, hints)
        Sequences of length m: index of each region in the search, its code (shape
        (n_units,)) and its hint (shape (2, k), or a pair of arrays of shape (k,):
        a facet point and the direction into the region; a point inside and a NaN
        direction; all NaN: none).
    stop : callable, optional
        Read before each region expanded on its own (after the first): once it returns
        True, the regions not yet expanded are left out (the result is then a prefix of
        the batch). The regions of a wave expanded together
        (:mod:`polylens.geometry.waves`) are all kept, up to that region.

    Returns
    -------
    PackedExpansions
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
    space, net = spec.space, spec.net
    indices, codes, hints = batch
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    m = indices.size
    codes = np.asarray(codes, dtype=np.int8).reshape(m, net.n_units)
    hints = np.asarray(hints, dtype=np.float64).reshape(m, 2, space.dim)
    parts, served = [], np.zeros(m, bool)  # parts: positions in the batch as their index
    if m and wave_applies(space, spec.method):
        step = wave_size(space)  # a wave in parts of bounded forms passes and memory
        for lo in range(0, m, step):
            try:
                part = expand_wave(space, codes[lo:lo + step], hints[lo:lo + step])
            except Exception:  # the one-region route raises it again, naming the region
                continue
            part = replace(part, index=part.index + lo)
            served[part.index] = True
            parts.append(part)
    alone, positions, end = [], [], m
    for position in np.flatnonzero(~served).tolist():
        if position and stop is not None and stop():
            end = position
            break
        alone.append(_expand(space, spec.method, int(indices[position]), codes[position], hints[position]))
        positions.append(position)
    if alone or not parts:
        parts.append(replace(pack(alone, net.n_units, space.dim, net.output_dim), index=np.array(positions, np.int64)))
    out = join(parts)
    if end < m:
        out = head(out, int(np.searchsorted(out.index, end)))
    return replace(out, index=indices[out.index])


def expand_batch(spec: SearchSpec, batch: tuple, stop: Callable[[], bool] | None = None) -> list[Expansion]:
    """:func:`expand_batch_packed`, one expansion a region (views of its arrays).

    Raises
    ------
    SolverError, InvalidParameterError
        As :func:`expand_batch_packed`.
    """
    return unpack(expand_batch_packed(spec, batch, stop))


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
