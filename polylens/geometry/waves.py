"""Expanding a whole wave of regions at once (the search's fast path in low dimension).

:func:`expand_wave` does what :func:`~polylens.geometry.expansion.expand_batch_packed` does
region by region, with the steps array operations over the wave: the frozen affine
forms of every code in one batched product, the units' rows, the box pruning, the inner
point on each hint's ray, the facets, the Chebyshev centres (exact, by vertex
enumeration, for the whole wave at once) and the codes across the facets. In a plane
(``k == 2``) the facets too are found for the whole wave at once: a gift wrap of every
region's polar points in step, with the relative-interior point of every facet (a
region near-degenerate for the gift wrap takes Qhull, as in higher dimension); in
dimension 3 to ``HULL_MAX_DIM`` they are found region by region (Qhull, as on the
one-region route) on the wave's rows.

It serves nets whose program's batched forms are bit-stable (a dense chain, with or
without the class units of :func:`~polylens.studies.complex.class_net`, or a traced
program on the CPU whose matrix products run block by block: CNNs, residual nets) and
whose units each have one breakpoint (ReLU, LeakyReLU, PReLU) or are max-pool windows,
with the hull method: :func:`wave_applies`. Units tied on their breakpoint throughout a
region and coincident rows are decided as on the one-region route: the rows coincident
with a facet's row form its group, and the pieces that may change across a facet are
read at probes just across it (one forward pass for the wave). Inside such a wave, a
region takes the one-region route (``expansion._expand``) whenever the batched steps
do not cover it: the seed (no hint), a constant row violated, a hint that gives no
clearly interior point, polar points that span only a line, near-coincident rows the
hull tells apart, a
Chebyshev problem without a vertex, and any code that is not a region (its error is
the one-region route's). Every step treats each region on its own (no operation mixes
the numbers of two regions), so a region's expansion does not depend on the wave it is
in (but for the probes, below): a search gives the same result, bit for bit, whatever
the size of its waves; and
the steps compute what the one-region route computes, in the same arithmetic
(:func:`~polylens.geometry.space.row_dot`, the same forms and rows), so both routes
give the same points, radii and maps bit for bit. Probe codes come from one forward pass
of the wave's probes rather than of the region's: a probe's code could differ only if
it lay within round-off of a boundary.

In a plane the decisions are those of the polar-hull method of
:mod:`polylens.geometry.facet_finding` (the same polar points, the same tolerances for
rays, weakly redundant rows and coincident rows), but the gift wrap's arithmetic differs
from Qhull's: facet points and vertices agree with the one-region route to round-off, not
bit for bit. On a sliver the round-off is times its length over its Chebyshev radius:
a sweep of traced CNN slices found vertices a few 1e-12 apart on slivers of radius 1e-5. (each region's vertices come in the order of
:func:`~polylens.geometry.region.in_order`, as on the one-region route).
"""

from __future__ import annotations

from math import comb

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from polylens import tolerances as tol
from polylens.errors import InfeasibleRegionError
from polylens.geometry.facet_finding import HULL_MAX_DIM, box_holds, same_halfspace
from polylens.geometry.packed_expansions import PackedExpansions
from polylens.geometry.region import apply_probes, crossing_plan, distinct_rows, in_order, sliver_notes, unique_rows
from polylens.geometry.space import ROUNDOFF, SMALL_LP, Space, chebyshev_by_vertices, coordinate_sum, row_dot
from polylens.models.activations import Elementwise, MaxPool

__all__ = ["wave_applies", "wave_size", "expand_wave", "rows_apply", "WaveRows"]

WAVE_MIN_CODES = 16
"""Fewest codes a forms pass of bounded size (``PWLNet.forms_batch_size``) must hold for
waves to serve a net: above that size (the VGG-style CNN's pass holds 6) a region's
cost is its forward passes, and waves of a few regions gave no gain."""

WAVE_SLOTS = 2 ** 18
"""Most row slots (regions times the row slots of one, see :class:`WaveRows`) in one call
of :func:`expand_wave`: its working arrays take about 200 bytes a slot at their peak
(measured on a 2-D net of 1,414 units and the digits-CNN slice: about 50 MiB for this
many), so a wave of a wide net is expanded in parts of bounded memory (a wave's result
does not depend on how it is cut, the probes aside: see the module notes). Smaller
parts cost calls: parts of a quarter of this size made the digits-CNN slice (42 regions
a part) about 10% slower."""

FEW_ROWS = 64
"""A wave whose regions have at most this many row slots keeps every slot (those that
are no rows marked not valid) for the gift wrap and the facet checks; with more, the
slots that are no rows, and the rows that cannot matter, are left out first."""

WIDE_POINTS = 32
"""Regions of a wave that keep more polar points than this after the filter of
:func:`_outer_points` take the gift wrap apart from the others."""

CALL_SUBSETS = 1000
"""Padding subsets that cost about as much as a call of
:func:`~polylens.geometry.space.chebyshev_by_vertices` (see :func:`_row_buckets`)."""

DISTINCT_AT_ONCE = 64
"""Regions with at most this many vertices have their duplicate vertices found together
(:func:`~polylens.geometry.region.distinct_rows`); larger ones one by one."""


def wave_applies(space: Space, method: str) -> bool:
    """Whether :func:`expand_wave` serves a search: dimension 2 to ``HULL_MAX_DIM``, the
    hull method, a program whose batched forms are bit-stable (``blockwise_forms``: a
    dense chain, with or without class units, or a traced program that says so) and
    whose activations each have one breakpoint per unit or are max pooling, small enough
    that one forms pass holds at least ``WAVE_MIN_CODES`` codes (a larger net's regions
    cost mostly its forward passes, which a wave does not share).

    Raises
    ------
    None of its own
    """
    return (2 <= space.dim <= HULL_MAX_DIM and method in ("auto", "hull")
            and space.net.forms_batch_size(space.dim + 1) >= WAVE_MIN_CODES
            and getattr(space.net.program, "blockwise_forms", False) and rows_apply(space.net))


def wave_size(space: Space) -> int:
    """Regions per call of :func:`expand_wave` (at least 1): as many as one forms pass
    holds (``PWLNet.forms_batch_size``) and no more than :data:`WAVE_SLOTS` row slots.

    Raises
    ------
    None of its own
    """
    net = space.net
    slots = space.domain_b.shape[0] + sum(
        int(np.count_nonzero(a.windows >= 0)) if isinstance(a, MaxPool) else a.n_units for a in net.activations)
    return max(1, min(net.forms_batch_size(space.dim + 1), WAVE_SLOTS // max(slots, 1)))


def rows_apply(net) -> bool:
    """Whether :class:`WaveRows` serves ``net``: it has units, each of one breakpoint
    (ReLU, LeakyReLU, PReLU) or a max-pool window.

    Raises
    ------
    None of its own
    """
    return net.n_units > 0 and all(
        (isinstance(a, Elementwise) and a.breaks.size == 1) or isinstance(a, MaxPool) for a in net.activations)


def expand_wave(space: Space, codes: np.ndarray, hints: np.ndarray) -> PackedExpansions:
    """What expanding each region of a wave finds, where the batched steps cover it.

    Parameters
    ----------
    space : Space
        A space that :func:`wave_applies` accepts.
    codes : ndarray of shape (B, n_units), int8
    hints : ndarray of shape (B, 2, k)
        Facet point and direction into the region; a point inside and a NaN direction;
        all NaN where there is none.

    Returns
    -------
    PackedExpansions
        The expansions of the regions the batched steps cover, their ``index`` their
        positions in the wave (increasing); the others are left to the one-region
        route.

    Raises
    ------
    None of its own
        Inputs are taken as validated by the caller (the search).
    """
    B = codes.shape[0]
    wave = WaveRows(space, codes)
    inner, ok = _inner_points(wave, hints, wave.usable & np.isfinite(hints[:, 0, 0]), space.length)
    qhull = np.zeros(B, bool)  # plane regions whose facets come from Qhull
    if space.dim == 2:
        hull = _polar_hulls(wave, inner, ok, space.bounded_domain)
        # Regions near-degenerate for the gift wrap take Qhull, as on the one-region route.
        again = ok & ~hull.ok
        if again.any():
            qhull = _take(hull, _hull_facets(wave, inner, again, space), again)
    else:
        hull = _hull_facets(wave, inner, ok, space)
    ok = hull.ok
    points = np.full((B, space.dim), np.nan)
    radii = np.full(B, np.nan)
    # The Chebyshev centre from the facets' rows, group after group (as build_region).
    cheb_rows, n_rows = hull.facet_rows.copy(), hull.n_facets.copy()
    for i, groups in hull.groups.items():  # groups are disjoint: at most m rows, less than the width
        rows = np.concatenate(groups)
        cheb_rows[i, :rows.size], n_rows[i] = rows, rows.size
    small = np.array([comb(int(n) + 1, space.dim + 1) <= SMALL_LP for n in n_rows], bool)
    for bucket in _row_buckets(n_rows[ok & small], space.dim):
        group = np.flatnonzero(ok & small & np.isin(n_rows, bucket))
        counts = n_rows[group]
        rows = cheb_rows[group, :int(counts.max())]
        pad = np.arange(rows.shape[1])[None, :] >= counts[:, None]
        rows = np.where(pad, 0, rows)
        A, b = wave.A[group[:, None], rows], wave.b[group[:, None], rows]
        found, point, radius = chebyshev_by_vertices(A, b, space.radius_cap, counts)
        found &= ~space.thin_many(point, radius)
        ok[group[~found]] = False
        points[group[found]], radii[group[found]] = point[found], radius[found]
    for i in np.flatnonzero(ok & ~small).tolist():
        rows = cheb_rows[i, :n_rows[i]]
        before = space.lp_solves
        try:
            points[i], radii[i] = space.chebyshev(wave.A[i, rows], wave.b[i, rows])
        except InfeasibleRegionError:
            ok[i] = False
        hull.lp_solves[i] += space.lp_solves - before
    maps = wave.out.transpose(0, 2, 1)
    if space.dim == 2:
        most = int(hull.n_vertices.max(initial=0))
        padded = np.where(np.arange(most)[None, :, None] < hull.n_vertices[:, None, None],
                          hull.vertices[:, :most], np.nan)
        ordered = in_order(padded, np.where(ok[:, None], points, 0.0))
        listed = hull.vertex_list
        hull.vertex_list = [v[:n] for v, n in zip(ordered, hull.n_vertices.tolist())]
        for i in np.flatnonzero(qhull & ok).tolist():
            hull.vertex_list[i] = None if listed[i] is None else in_order(listed[i], points[i])
    done = np.flatnonzero(ok)
    lane, across, hints_across, n_units, units = _crossings(space, wave, codes, hull, radii, done.tolist())
    vertices = [hull.vertex_list[i] for i in done.tolist()]
    return PackedExpansions(
        index=done, lp_solves=hull.lp_solves[done], n_facets=hull.n_facets[done], empty=[None] * done.size,
        notes=[sliver_notes(space.net, wave.source[i], wave.A[i], wave.b[i], hull.groups[i]) if i in hull.groups
               else [] for i in done.tolist()],
        point=points[done], radius=radii[done], bounded=hull.bounded[done], out_map=np.ascontiguousarray(maps[done]),
        n_crossings=np.bincount(lane, minlength=B)[done], codes=across, hints=hints_across, n_units=n_units,
        units=units, n_vertices=np.array([-1 if v is None else v.shape[0] for v in vertices], np.int64),
        vertices=np.concatenate([np.zeros((0, space.dim)), *(v for v in vertices if v is not None)]))


def _row_buckets(counts: np.ndarray, k: int) -> list[list[int]]:
    """The numbers of Chebyshev rows of a wave's regions (``counts``, shape (G,)) grouped
    for :func:`~polylens.geometry.space.chebyshev_by_vertices`, which solves every
    (k + 1)-subset of a group's longest list for each region: from the longest down, a
    number joins the group before it unless its regions' padding subsets would cost
    more than a call of its own (:data:`CALL_SUBSETS`)."""
    values, sizes = np.unique(counts, return_counts=True)
    buckets: list[list[int]] = []
    for value, size in zip(values[::-1].tolist(), sizes[::-1].tolist()):
        if buckets and size * (comb(buckets[-1][0] + 1, k + 1) - comb(value + 1, k + 1)) <= CALL_SUBSETS:
            buckets[-1].append(value)
        else:
            buckets.append([value])
    return buckets


def _take(hull: _Hulls, other: _Hulls, regions: np.ndarray) -> np.ndarray:
    """Copy into ``hull`` what ``other`` decided for ``regions`` (shape (B,), bool): its
    facets, boundedness, vertex lists (in ``vertex_list``; ``n_vertices`` 0) and LPs.
    Returns the regions it decided."""
    took = regions & other.ok
    hull.ok |= took
    for name in ("n_facets", "facet_rows", "facet_points", "bounded", "lp_solves"):
        getattr(hull, name)[took] = getattr(other, name)[took]
    hull.n_vertices[took] = 0
    for i in np.flatnonzero(took).tolist():
        hull.vertex_list[i] = other.vertex_list[i]
        if i in other.groups:
            hull.groups[i] = other.groups[i]
    return took


def _crossings(space: Space, wave: WaveRows, codes: np.ndarray, hull: _Hulls, radii: np.ndarray,
               regions: list) -> tuple:
    """The crossings of every inner facet of the given regions of a wave, as
    :func:`~polylens.geometry.region.crossed_codes` finds them: a facet of one row flips
    its unit, and the tied units of later layers take their pieces at a probe just
    across (``crossing_plan``'s one-row case, for all such facets at once); a facet of
    coincident rows is planned by :func:`~polylens.geometry.region.crossing_plan`. The
    probes of the wave go through one forward pass.

    Parameters
    ----------
    codes : ndarray of shape (B, n_units), int8
        The wave's codes.
    hull : _Hulls
        The wave's facets.
    radii : ndarray of shape (B,)
        Chebyshev radii.
    regions : list of int
        The regions of the wave to cross from, increasing.

    Returns
    -------
    lane : ndarray of shape (C,), int
        The region of each crossing, region after region, each region's in facet order.
    across : ndarray of shape (C, n_units), int8
        The code across.
    hints : ndarray of shape (C, 2, k)
        A point of the facet and its outward normal.
    n_units : ndarray of shape (C,), int64
        Units crossed (whose piece changes), listed in ``units`` (increasing per crossing).
    units : ndarray of shape (sum(n_units),), int64
    """
    net = space.net
    grouped = [i for i in regions if i in hull.groups]
    plain = np.array([i for i in regions if i not in hull.groups], np.int64)
    # Facets of one row, all at once: (region, facet) pairs of inner facets.
    count = hull.n_facets[plain]
    lane = np.repeat(plain, count)
    facet = np.arange(lane.size) - np.repeat(np.cumsum(count) - count, count)
    row = hull.facet_rows[lane, facet]
    unit = wave.source[lane, row]
    inner = unit >= 0
    lane, facet, row, unit = lane[inner], facet[inner], row[inner], unit[inner]
    point = hull.facet_points[lane, facet]
    normal = wave.A[lane, row]
    new = codes[lane].copy()
    new[np.arange(lane.size), unit] = wave.across[lane, row]
    recheck = wave.tied[lane] & (net.unit_layer[None, :] > net.unit_layer[unit][:, None])
    probed = np.flatnonzero(recheck.any(axis=1))
    step = tol.CROSSING_STEP * np.maximum(_max_abs(point[probed]), radii[lane[probed]])
    probes = [point[probed] + step[:, None] * normal[probed]]
    plans = [crossing_plan(net, codes[i], wave.source[i], wave.across[i], wave.A[i], np.flatnonzero(wave.tied[i]),
                           float(radii[i]), hull.groups[i], hull.facet_points[i, :hull.n_facets[i]]) for i in grouped]
    probes += [np.reshape(p, (-1, space.dim)) for _, _, plan_probes in plans for p in plan_probes]
    probes = np.concatenate(probes)
    found = net.codes(space.to_input(probes)) if probes.shape[0] else np.zeros((0, net.n_units), np.int8)
    new[probed] = np.where(recheck[probed], found[:probed.size], new[probed])
    lanes, across, points, normals = [lane], [new], [point], [normal]
    for i, settled in zip(grouped, apply_probes(plans, found[probed.size:])):
        kept = [f for f, code in enumerate(settled) if code is not None]
        lanes.append(np.full(len(kept), i, np.int64))
        across.append(np.array([settled[f] for f in kept], np.int8).reshape(len(kept), net.n_units))
        points.append(hull.facet_points[i, kept])
        normals.append(wave.A[i, hull.facet_rows[i, kept]])
    lane = np.concatenate(lanes)
    order = np.argsort(lane, kind="stable")  # region after region, each in facet order
    lane, across = lane[order], np.concatenate(across)[order]
    hints = np.stack([np.concatenate(points)[order], np.concatenate(normals)[order]], axis=1)
    crossing, units = np.nonzero(across != codes[lane])
    return lane, across, hints, np.bincount(crossing, minlength=lane.size).astype(np.int64), units.astype(np.int64)


class WaveRows:
    """The labelled rows ``A t <= b`` of every code of a wave (units, then domain), for a
    net that :func:`rows_apply` accepts: the rows of
    :meth:`~polylens.geometry.space.Space.hrep`, bit for bit, for many codes at once.

    Every code has the same row slots: one per unit of a breakpoint, one per entry of a
    max-pool window (the window's own winner is a slot that is no row), then the
    domain's faces; each region keeps the slots that are its rows, in their order
    (padded to the wave's longest list).

    Attributes
    ----------
    A : ndarray of shape (B, m, k)
        Unit-norm rows (padding past a region's last row is not ``valid``).
    b : ndarray of shape (B, m)
    valid : ndarray of shape (B, m), bool
        Rows of the region (not constant) that the domain's box does not make redundant.
    source : ndarray of shape (B, m), int
        Unit of each row, ``-(f + 1)`` for domain face ``f``.
    across : ndarray of shape (B, m), int8
        The unit's piece across the row.
    tied : ndarray of shape (B, n_units), bool
        Units tied on their boundary throughout the region (a constant row at 0).
    usable : ndarray of shape (B,), bool
        False where a constant row is violated (the code is not a region: the one-region
        route says why).
    out : ndarray of shape (B, 1 + k, n_outputs)
        The output's affine forms.
    """

    def __init__(self, space: Space, codes: np.ndarray):
        net = space.net
        B = codes.shape[0]
        pre, self.out = net.frozen_forms(codes, space.basis)
        parts_A, parts_b, parts_norm, parts_src, parts_across, parts_row, parts_tied = [], [], [], [], [], [], []
        usable = np.ones(B, bool)
        for act, forms, pieces, lo in zip(net.activations, pre, net.split_code(codes), net.layer_offsets):
            unit, across, z, sign, offset, real = _slot_rows(act, forms, pieces)
            A_l = sign[:, :, None] * z[:, 1:].transpose(0, 2, 1)
            b_l = offset - sign * z[:, 0]
            norms = np.sqrt(coordinate_sum(A_l * A_l))
            constant = real & (norms <= tol.ZERO_ROW * norms.max(axis=1, initial=0.0)[:, None])
            size = np.maximum(np.abs(forms[:, 0]).max(axis=1, initial=0.0), np.abs(offset).max(axis=1, initial=0.0))
            usable &= ~np.any(constant & (b_l < -tol.TIED * size[:, None]), axis=1)
            parts_tied.append(constant & (np.abs(b_l) <= tol.TIED * size[:, None]))
            parts_A.append(A_l)
            parts_b.append(b_l)
            parts_norm.append(norms)
            parts_src.append(lo + unit)
            parts_across.append(np.broadcast_to(across, b_l.shape))
            parts_row.append(real & ~constant)
        n_dom = space.domain_b.shape[0]
        source = np.concatenate([*parts_src, -1 - np.arange(n_dom)])
        region, slot = np.nonzero(np.concatenate(parts_tied, axis=1))
        self.tied = np.zeros((B, net.n_units), bool)
        self.tied[region, source[slot]] = True
        # Only the slots that are rows, in their order (most slots of a CNN are none);
        # the domain's rows (unit norm) are divided by 1.
        row = np.concatenate([*parts_row, np.ones((B, n_dom), bool)], axis=1)
        lanes = np.arange(B)[:, None]
        A = np.concatenate([*parts_A, np.broadcast_to(space.domain_A, (B, n_dom, space.dim))], axis=1)
        b = np.concatenate([*parts_b, np.broadcast_to(space.domain_b, (B, n_dom))], axis=1)
        scale = np.concatenate([*parts_norm, np.ones((B, n_dom))], axis=1)
        if row.shape[1] > FEW_ROWS and not row.all():
            index, row = _compact(row)
            A, b, scale = A[lanes, index], b[lanes, index], scale[lanes, index]
        else:
            index = np.broadcast_to(np.arange(row.shape[1]), row.shape)
        scale = np.where(row, scale, 1.0)
        A = np.where(row[:, :, None], A / scale[:, :, None], 0.0)
        b = np.where(row, b / scale, np.inf)
        valid = row if space.box is None else row & ~box_holds(A, b, space.box)
        # The rows the domain's box leaves, in their order.
        keep, self.valid = _compact(valid) if valid.shape[1] > FEW_ROWS else (np.broadcast_to(
            np.arange(valid.shape[1]), valid.shape), valid)
        index = index[lanes, keep]
        self.A, self.b, self.source = A[lanes, keep], b[lanes, keep], source[index]
        self.across = np.concatenate([*parts_across, np.full((B, n_dom), -1, np.int8)], axis=1)[lanes, index].astype(
            np.int8)
        self.usable = usable


def _slot_rows(act, forms: np.ndarray, pieces: np.ndarray):
    """The row slots of one layer for a wave, in the order of ``act.rows``: ``(unit,
    across, z, sign, offset, real)``, where slot ``s`` reads ``sign * z[..., s] <= offset``
    (``z`` of shape (B, 1 + k, n_slots)) and ``real`` (B, n_slots) marks the slots that are
    rows (see :meth:`~polylens.models.activations.Activation.rows`, whose arithmetic this is)."""
    B = pieces.shape[0]
    if isinstance(act, MaxPool):
        unit, j = np.nonzero(act.windows >= 0)
        win = act.windows[unit[None, :], pieces[:, unit].astype(np.int64)]  # (B, n_slots)
        z = forms[:, :, act.windows[unit, j]] - np.take_along_axis(forms, np.broadcast_to(
            win[:, None, :], (B, forms.shape[1], unit.size)), axis=2)
        ones = np.ones((B, unit.size))
        return unit, j.astype(np.int8), z, ones, np.zeros((B, unit.size)), j[None, :] != pieces[:, unit]
    sign = np.where(pieces == 1, -1.0, 1.0)
    unit = np.arange(pieces.shape[1])
    return unit, (1 - pieces).astype(np.int8), forms, sign, sign * act.breaks[0], np.ones(pieces.shape, bool)


def _max_abs(x: np.ndarray) -> np.ndarray:
    return np.abs(x).max(axis=-1, initial=0.0)


def _inner_points(wave: WaveRows, hints: np.ndarray, ok: np.ndarray, length: float):
    """Midpoint of each hint's ray inside its region, or the hint's point where it has
    no direction (see ``region._inner_point``), and where it is clearly interior."""
    start, direction = hints[:, 0], hints[:, 1]
    at_point = np.isnan(direction[:, 0])  # a point believed inside: kept if clearly so
    valid = wave.valid
    with np.errstate(invalid="ignore", divide="ignore"):
        slack = wave.b - row_dot(wave.A, start)
        speed = row_dot(wave.A, direction)
        moving = valid & (speed > tol.RAY_SPEED * np.sqrt((direction * direction).sum(axis=1))[:, None])
        exits = np.where(moving, slack / speed, np.inf)
        step = exits.min(axis=1, initial=np.inf)
        step = np.where(np.isfinite(step), 0.5 * step, length)
        inner = np.where(at_point[:, None], start, start + step[:, None] * direction)
        margin = tol.INNER_MARGIN * np.where(at_point, _max_abs(start), np.maximum(_max_abs(inner), step))
        left = np.where(valid, wave.b - row_dot(wave.A, inner), np.inf).min(axis=1, initial=np.inf)
    return inner, ok & (left > margin)


class _Hulls:
    """Facets of every region of a wave from its polar hull.

    Attributes
    ----------
    ok : ndarray of shape (B,), bool
    n_facets : ndarray of shape (B,), int
    facet_rows : ndarray of shape (B, F), int
        First row of each region's facets, increasing (padded).
    facet_points : ndarray of shape (B, F, k)
    bounded : ndarray of shape (B,), bool
    n_vertices : ndarray of shape (B,), int
    vertices : ndarray of shape (B, V, k)
        Finite vertices of a plane's regions, counter-clockwise (padded).
    vertex_list : list of (ndarray of shape (n_i, k) or None)
        Each region's finite vertices (None where they are unknown).
    groups : dict
        Region -> its facets' rows (a list of increasing arrays), for the regions where
        a facet has coincident rows; elsewhere a facet's one row is its ``facet_rows``.
    lp_solves : ndarray of shape (B,), int
    """

    def __init__(self, B: int, m: int, k: int):
        self.groups: dict = {}
        self.lp_solves = np.zeros(B, np.int64)
        self.vertex_list: list = [None] * B
        self.ok = np.zeros(B, bool)
        self.n_facets = np.zeros(B, np.int64)
        self.facet_rows = np.zeros((B, m + 1), np.int64)
        self.facet_points = np.zeros((B, m + 1, k))
        self.bounded = np.zeros(B, bool)
        self.n_vertices = np.zeros(B, np.int64)
        self.vertices = np.zeros((B, m + 1, k))


def _polar_hulls(wave: WaveRows, inner: np.ndarray, ok: np.ndarray, bounded_domain: bool) -> _Hulls:
    """The polar-hull method of :mod:`~polylens.geometry.facet_finding` for every region
    at once: a row ``a t <= b`` is the polar point ``a / (b - a c)`` seen from the inner
    point ``c``; the facets are the polar points on the hull of the polar points and the
    origin, found by a gift wrap (counter-clockwise, all regions in step)."""
    B, m, k = wave.A.shape
    hulls = _Hulls(B, m, k)
    live = np.flatnonzero(ok)
    if live.size == 0:
        return hulls
    A, b, valid, c, polar = _polar(wave, inner, live)
    # Point 0 is the origin; points 1.. the rows' polar points.
    pts = np.concatenate([np.zeros((live.size, 1, k)), polar], axis=1)
    member = np.concatenate([np.ones((live.size, 1), bool), valid], axis=1)
    L = live.size
    scale = _max_abs(pts.reshape(L, -1))
    # Where there are enough points for leaving some out to pay, only those not deep
    # inside the hull take part (`index`: their numbers).
    if pts.shape[1] <= FEW_ROWS:
        _wrap(hulls, live, A, b, valid, c, np.broadcast_to(np.arange(pts.shape[1]), member.shape), pts, member,
              scale, bounded_domain)
        return hulls
    index, pts, member = _outer_points(pts, member, 4.0 * tol.COINCIDENT * scale)
    # A few regions (slivers, whose polar points make a needle) keep most of their points:
    # they are wrapped apart, so that the others' arrays stay as narrow as their points.
    kept = member.sum(axis=1)
    wide = kept > WIDE_POINTS
    for part in (np.flatnonzero(~wide), np.flatnonzero(wide)):
        if part.size:
            width = int(kept[part].max())
            _wrap(hulls, live[part], A[part], b[part], valid[part], c[part], index[part, :width], pts[part, :width],
                  member[part, :width], scale[part], bounded_domain)
    return hulls


def _wrap(hulls: _Hulls, live: np.ndarray, A: np.ndarray, b: np.ndarray, valid: np.ndarray, c: np.ndarray,
          index: np.ndarray, pts: np.ndarray, member: np.ndarray, scale: np.ndarray, bounded_domain: bool) -> None:
    """The gift wrap of :func:`_polar_hulls` and the steps after it, for the regions
    ``live`` (L,) of a wave: their rows ``A`` (L, m, k), ``b``, ``valid`` (L, m) and inner
    points ``c`` (L, k); the numbers ``index`` (L, n) of the polar points taken (0: the
    origin; r + 1: row r), their coordinates ``pts`` (L, n, k) and membership (L, n); the
    size ``scale`` (L,) of each region's polar points. Writes the regions' entries of
    ``hulls``."""
    L, m, k = A.shape
    order, n_hull, closed = _gift_wrap(pts, member)
    order = order[:, :int(n_hull.max())]
    # Edge j runs from order[j] to order[j + 1] (the last one back to the start); edge
    # j - 1 is the one before it (the last one before edge 0).
    lanes, edges = np.arange(L)[:, None], np.arange(order.shape[1])[None, :]
    wrap = np.maximum(n_hull - 1, 0)[:, None]
    after = np.where(edges >= wrap, 0, edges + 1)
    before = np.where(edges == 0, wrap, edges - 1)
    nxt = order[lanes, after]
    in_hull = edges < n_hull[:, None]
    p, q = pts[lanes, order], pts[lanes, nxt]
    d = q - p
    norm = np.sqrt(coordinate_sum(d * d))
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = np.stack([d[:, :, 1], -d[:, :, 0]], axis=2) / norm[:, :, None]
        height = coordinate_sum(normal * p)  # -offset of the edge's line
        ray = in_hull & (height <= tol.POLAR_RAY * scale[:, None])
        finite = in_hull & ~ray
        rel_vertex = np.where(finite[:, :, None], normal / height[:, :, None], 0.0)
    reach = np.where(finite, _max_abs(rel_vertex), 0.0).max(axis=1)
    reach = np.where(np.any(finite, axis=1), reach, 1.0)
    # A hull vertex's facet point: the mean of its two edges' finite vertices, pushed
    # along its ray edges (if any) as far as the farthest finite vertex.
    prev_finite, prev_ray = finite[lanes, before], ray[lanes, before]
    prev_vertex, prev_normal = rel_vertex[lanes, before], normal[lanes, before]
    # Near-degenerate regions go the one-region route: a polar point within round-off
    # of the line of a hull edge it does not end (in the region: a row through a vertex
    # it does not bound, or the origin on an edge: a region at the edge of being
    # unbounded), or a hull vertex nearly on the line of its two neighbours.
    turn = prev_normal[:, :, 0] * normal[:, :, 1] - prev_normal[:, :, 1] * normal[:, :, 0]
    good = ~np.any(in_hull & ~(turn > tol.COINCIDENT), axis=1)
    with np.errstate(invalid="ignore"):
        cross = d[:, :, None, 0] * pts[:, None, :, 1] - d[:, :, None, 1] * pts[:, None, :, 0]
        off_line = np.abs(cross - (d[:, :, 0] * p[:, :, 1] - d[:, :, 1] * p[:, :, 0])[:, :, None]) / norm[:, :, None]
        size = np.maximum(np.maximum(_max_abs(p), _max_abs(q))[:, :, None], _max_abs(pts)[:, None, :])
    near = in_hull[:, :, None] & member[:, None, :] & ~(off_line > tol.COINCIDENT * size)
    near[lanes, edges, order] = False
    near[lanes, edges, nxt] = False
    # Rows coincident with an edge's end rows sit on their polar points: they join their
    # groups (`_settle`), they are not near-degenerate.
    lane, edge, point = np.nonzero(near)
    row, where = index[lane, point] - 1, _max_abs(c)[lane]
    for end in (index[lane, order[lane, edge]] - 1, index[lane, nxt[lane, edge]] - 1):
        twin = (row >= 0) & (end >= 0) & same_halfspace(A[lane, row], b[lane, row], A[lane, end], b[lane, end], where)
        near[lane[twin], edge[twin], point[twin]] = False
    good &= ~near.any(axis=(1, 2))
    count = finite.astype(float) + prev_finite
    sums = rel_vertex + np.where(prev_finite[:, :, None], prev_vertex, 0.0)
    fp = sums / np.maximum(count, 1.0)[:, :, None]
    with np.errstate(invalid="ignore"):
        ray_sum = np.where(ray[:, :, None], normal, 0.0) + np.where(prev_ray[:, :, None], prev_normal, 0.0)
        ray_norm = np.sqrt(coordinate_sum(ray_sum * ray_sum))
        fp = fp + ray_sum / np.where(ray_norm > 0, ray_norm, 1.0)[:, :, None] * reach[:, None, None]
    fp = fp + c[:, None, :]
    is_facet = in_hull & (order > 0)
    good &= closed & (n_hull >= 3) & ~(bounded_domain & np.any(ray, axis=1))
    good &= ~np.any(in_hull & ~(norm > 0), axis=1)
    # Facets in increasing row order, with their points.
    row = np.where(is_facet, index[lanes, order] - 1, m)
    sort = np.argsort(row, axis=1, kind="stable")
    n_facets = is_facet.sum(axis=1)
    _settle(hulls, live, A, b, valid, c, np.take_along_axis(row, sort, 1), np.take_along_axis(fp, sort[:, :, None], 1),
            n_facets, good)
    hulls.bounded[live] = bounded_domain | ~np.any(ray, axis=1)
    vert_order = np.argsort(~finite, axis=1, kind="stable")
    hulls.n_vertices[live] = finite.sum(axis=1)
    hulls.vertices[live, :order.shape[1]] = np.take_along_axis(rel_vertex, vert_order[:, :, None], 1) + c[:, None, :]


def _settle(hulls: _Hulls, live: np.ndarray, A: np.ndarray, b: np.ndarray, valid: np.ndarray, c: np.ndarray,
            rows: np.ndarray, points: np.ndarray, n_facets: np.ndarray, good: np.ndarray) -> None:
    """The steps after the hull, for the live regions of a wave at once, as
    :func:`~polylens.geometry.facet_finding.compute_facets` takes them: the rows
    coincident with a facet's row join its group; a facet whose point lies on a row
    outside its group is not genuine (weakly redundant) and is dropped; the facets come
    in the order of their groups' first rows. Writes ``ok``, ``n_facets``, ``facet_rows``
    (each facet's first row), ``facet_points`` and ``groups`` of ``hulls``.

    ``A`` (L, m, k), ``b`` and ``valid`` (L, m): the live regions' rows; ``c`` (L, k):
    their inner points; ``rows`` (L, F): the rows of the hull's facets, their first
    ``n_facets`` entries; ``points`` (L, F, k): their facet points; ``good`` (L,): the
    regions whose hull decided them. A region where a row is coincident with the rows
    of two hull facets is left to the one-region route."""
    L, m, k = A.shape
    width = int(n_facets.max(initial=0))
    rows, points = rows[:, :width], points[:, :width]
    has = np.arange(width)[None, :] < n_facets[:, None]
    safe_rows = np.where(has, rows, 0)
    lanes, facets = np.arange(L)[:, None], np.arange(width)[None, :]
    fa = np.take_along_axis(A, safe_rows[:, :, None], 1)
    fb = np.take_along_axis(b, safe_rows, 1)
    fp_size = _max_abs(points)
    where = _max_abs(c)
    with np.errstate(invalid="ignore"):
        own_gap = np.where(has, np.abs(fb - row_dot(fa[:, :, None, :], points)[:, :, 0]), 0.0)
    # Only rows that can come near a facet point are compared (`index`: their numbers):
    # a unit row whose slack at c exceeds the farthest facet point's distance by more
    # than the tolerances below stays clear of every facet point.
    if m > FEW_ROWS:
        index, A, b, valid, safe_rows = _near_rows(A, b, valid, c, points, has, safe_rows, fb, fp_size, own_gap, where)
    else:
        index = np.broadcast_to(np.arange(m), (L, m))
    m_near = A.shape[1]
    # The gap of every such row at every facet point.
    with np.errstate(invalid="ignore"):
        gap = np.abs(b[:, None, :] - row_dot(A[:, None, :, :], points))
    group = np.zeros(gap.shape, bool)
    group[lanes, facets, safe_rows] = has
    # Coincident rows (the same half-space as a facet's row, ``facet_finding._close``)
    # pass near its facet point (triangle inequality), so only those rows are compared.
    own_gap = np.where(group, gap, 0.0).max(axis=2)
    reach = 2.0 * (tol.COINCIDENT * (np.abs(b)[:, None, :] + np.abs(fb)[:, :, None] + k * fp_size[:, :, None])
                   + ROUNDOFF * (where[:, None, None] + fp_size[:, :, None]) + own_gap[:, :, None])
    near = np.nonzero(has[:, :, None] & valid[:, None, :] & ~group & (gap <= reach))
    first = np.where(has, safe_rows, m_near)
    if near[0].size:
        region, facet, row = near
        same = same_halfspace(A[region, row], b[region, row], fa[region, facet], fb[region, facet], where[region])
        region, facet, row = region[same], facet[same], row[same]
        group[region, facet, row] = True
        np.minimum.at(first, (region, facet), row)
    # A row in two groups (near-coincident rows the hull told apart): the one-region route.
    good &= ~np.any(group.sum(axis=1) > 1, axis=1)
    # Genuine facets: the facet point lies on no row outside its group.
    tight = valid[:, None, :] & ~group & (gap <= tol.REDUNDANCY * np.abs(b)[:, None, :] + ROUNDOFF * fp_size[:, :, None])
    keep = has & ~tight.any(axis=2)
    order = np.argsort(np.where(keep, first, m_near + 1), axis=1, kind="stable")
    hulls.ok[live] = good
    hulls.n_facets[live] = keep.sum(axis=1)
    hulls.facet_rows[live, :width] = index[lanes, np.minimum(np.take_along_axis(first, order, 1), m_near - 1)]
    hulls.facet_points[live, :width] = np.take_along_axis(points, order[:, :, None], 1)
    for j in np.flatnonzero(good & np.any(keep & (group.sum(axis=2) > 1), axis=1)).tolist():
        hulls.groups[live[j]] = [index[j, np.flatnonzero(group[j, f])] for f in order[j, :int(keep[j].sum())].tolist()]


def _near_rows(A, b, valid, c, points, has, safe_rows, fb, fp_size, own_gap, where):
    """The rows of each region that can pass within `_settle`'s tolerances of one of its
    facet points, gathered: ``(index, A, b, valid, facet_rows)`` with ``index`` (L, m')
    their numbers (padding rows are not valid) and the facet rows renumbered. A unit row
    ``a`` (slack ``s`` at the inner point ``c``) has gap at least ``s - |p - c|`` at a
    point ``p``; rows whose bound exceeds twice the largest tolerance are left out.

    ``A`` (L, m, k), ``b``, ``valid`` (L, m): the rows; ``c`` (L, k): inner points;
    ``points`` (L, F, k), ``has`` (L, F), ``safe_rows`` (L, F), ``fb``, ``fp_size``,
    ``own_gap`` (L, F): the facets' points, which are real, their rows, offsets, sizes
    and their own rows' gaps; ``where`` (L,): each region's distance from the origin."""
    L, m, _ = A.shape
    lanes = np.arange(L)[:, None]
    with np.errstate(invalid="ignore"):
        slack = b - row_dot(A, c)
        dist = np.sqrt(coordinate_sum((points - c[:, None, :]) ** 2))
    far = np.where(has, dist, 0.0).max(axis=1, initial=0.0)
    size = np.where(has, fp_size, 0.0).max(axis=1, initial=0.0)
    top = np.where(has, np.abs(fb), 0.0).max(axis=1, initial=0.0)
    k = A.shape[2]
    bound = (2.0 * (tol.COINCIDENT * (np.abs(b) + (top + k * size)[:, None]) + (ROUNDOFF * (where + size)
             + own_gap.max(axis=1, initial=0.0))[:, None]) + tol.REDUNDANCY * np.abs(b) + ROUNDOFF * size[:, None])
    with np.errstate(invalid="ignore"):
        keep = valid & ~(slack - far[:, None] > 2.0 * bound + ROUNDOFF * (np.abs(b) + far[:, None]))
    keep[np.nonzero(has)[0], safe_rows[has]] = True  # the facets' own rows stay
    index, real = _compact(keep)
    position = np.zeros((L, m), np.int64)
    lane, slot = np.nonzero(real)
    position[lane, index[lane, slot]] = slot
    return index, A[lanes, index], b[lanes, index], real, position[lanes, safe_rows]


def _outer_points(pts: np.ndarray, member: np.ndarray, margin: np.ndarray):
    """The points of each set (``pts`` (L, n, 2), ``member`` (L, n)) but those deeper than
    ``margin`` (L,) inside the polygon of the set's extreme points in eight directions
    (Akl-Toussaint): such a point is no vertex of the set's hull and lies farther than
    ``margin`` from every line of a hull edge. Point 0, the origin, is always kept, and
    every point that is not a member must sit there. Returns ``(index, pts, member)``:
    the numbers of the points kept (L, n'; padding points are not members) and their
    coordinates and membership."""
    L = pts.shape[0]
    lanes = np.arange(L)[:, None]
    # Points that are no members sit at the origin, point 0 (a member): they win no tie.
    x, y = np.ascontiguousarray(pts[:, :, 0]), np.ascontiguousarray(pts[:, :, 1])
    # Extreme points in the directions (1, 0), (1, 1), (0, 1), ... counter-clockwise.
    corners = np.stack([np.argmax(v, axis=1) for v in (x, x + y, y, y - x, -x, -x - y, -y, x - y)])
    cx, cy = x[lanes[:, 0], corners], y[lanes[:, 0], corners]
    deep = np.ones(x.shape, bool)
    sides = np.zeros(L, bool)
    for j in range(8):
        sx, sy = cx[(j + 1) % 8] - cx[j], cy[(j + 1) % 8] - cy[j]
        length = np.sqrt(sx * sx + sy * sy)
        # Left of the side from corner j to corner j + 1, by more than the margin.
        deep &= (sx[:, None] * y - sy[:, None] * x > (sx * cy[j] - sy * cx[j] + margin * length)[:, None]) | (
            length == 0)[:, None]
        sides |= length > 0
    keep = member & ~(deep & sides[:, None])
    keep[:, 0] = True
    index, real = _compact(keep)
    return index, pts[lanes, index], real


def _compact(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each row of ``mask`` (L, n) is True, in order: ``(index, real)`` of shape
    (L, w), ``w`` the most in a row (at least 1); past a row's count the index is 0 and
    ``real`` False."""
    counts = mask.sum(axis=1)
    width = max(int(counts.max(initial=0)), 1)
    lane, position = np.nonzero(mask)
    index = np.zeros((mask.shape[0], width), np.int64)
    index[lane, np.arange(lane.size) - np.repeat(np.cumsum(counts) - counts, counts)] = position
    return index, np.arange(width)[None, :] < counts[:, None]


def _polar(wave: WaveRows, inner: np.ndarray, live: np.ndarray):
    """Rows ``A`` (L, m, k), ``b``, ``valid`` (L, m) and inner points ``c`` (L, k) of the
    live regions, with their rows' polar points ``a / (b - a c)`` (L, m, k; 0 where not
    valid), the slack kept above its tolerance as in ``facet_finding._slack``."""
    A, b, valid, c = wave.A[live], wave.b[live], wave.valid[live], inner[live]
    floor = np.maximum(tol.MIN_RADIUS * np.abs(b) + ROUNDOFF * _max_abs(c)[:, None], np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        slack = np.maximum(b - row_dot(A, c), floor)
        polar = np.where(valid[:, :, None], A / slack[:, :, None], 0.0)
    return A, b, valid, c, polar


def _hull_facets(wave: WaveRows, inner: np.ndarray, ok: np.ndarray, space: Space) -> _Hulls:
    """Facets of every region of a wave in dimension 3 to ``HULL_MAX_DIM``: the polar-hull
    method of :func:`~polylens.geometry.facet_finding.compute_facets`, Qhull on each
    region's polar points and the steps around it for the whole wave at once, in the
    one-region route's arithmetic (the same sums in the same order), so the facet points
    and vertices are that route's bit for bit. A region whose rows Qhull cannot take
    (fewer than ``k`` rows, flat polar points) or where a row is coincident with the rows
    of two facets is left to the one-region route (coincident rows otherwise form their
    facet's group, in ``_settle``)."""
    B, m, k = wave.A.shape
    hulls = _Hulls(B, m, k)
    live = np.flatnonzero(ok)
    if live.size == 0:
        return hulls
    A, b, valid, c, polar = _polar(wave, inner, live)
    L, slots = live.size, m + 1  # slot 0 of a region: the origin; slot r + 1: its row r
    # Region j's points for Qhull: the origin, then its rows' polar points in row order
    # (the first 1 + n[j] of points[j]); to_slot[j] numbers them by their slots.
    index, real = _compact(valid)
    n = real.sum(axis=1)
    points = np.zeros((L, 1 + index.shape[1], k))
    points[:, 1:] = np.where(real[:, :, None], polar[np.arange(L)[:, None], index], 0.0)
    to_slot = np.arange(L)[:, None] * slots + np.concatenate([np.zeros((L, 1), np.int64), index + 1], axis=1)
    scale = _max_abs(points.reshape(L, -1))
    good = np.zeros(L, bool)
    equations, simplices = [], []
    for j in np.flatnonzero(n >= k).tolist():
        try:
            hull = ConvexHull(points[j, :1 + n[j]])
        except QhullError:
            continue
        good[j] = True
        equations.append(hull.equations)
        simplices.append(hull.simplices)
    if not equations:
        return hulls
    eq = np.concatenate(equations)
    lanes = np.flatnonzero(good)
    owner = np.repeat(lanes, [e.shape[0] for e in equations])
    simplex = to_slot[owner[:, None], np.concatenate(simplices)]
    normals, offsets = eq[:, :-1], eq[:, -1]
    ray = -offsets <= tol.POLAR_RAY * scale[owner]
    finite_vertices = normals[~ray] / -offsets[~ray, None]
    vertex_owner = owner[~ray]
    # A facet's point: the mean of the finite vertices of the hull facets through its
    # polar point, pushed along their rays (if any) as far as the farthest finite vertex.
    idx = simplex[~ray].ravel()
    counts = np.bincount(idx, minlength=L * slots).astype(float)
    spread = np.repeat(finite_vertices, k, axis=0)
    sums = np.stack([np.bincount(idx, weights=spread[:, t], minlength=L * slots) for t in range(k)], axis=1)
    # The facets' slots: the hull vertices (Qhull's, the points of its simplices) but the
    # origin, in slot order.
    facet = np.unique(simplex)
    facet = facet[facet % slots != 0]
    facet_owner = facet // slots
    pts = sums[facet] / np.maximum(counts[facet], 1.0)[:, None]
    has_ray = np.bincount(owner[ray], minlength=L) > 0
    if ray.any():
        ridx = simplex[ray].ravel()
        spread = np.repeat(normals[ray], k, axis=0)
        ray_sums = np.stack([np.bincount(ridx, weights=spread[:, t], minlength=L * slots) for t in range(k)], axis=1)
        reach = np.full(L, -np.inf)
        np.maximum.at(reach, vertex_owner, np.abs(finite_vertices).max(axis=1, initial=0.0))
        reach = np.where(np.isfinite(reach), reach, 1.0)
        along = ray_sums[facet]
        norm = np.linalg.norm(along, axis=1, keepdims=True)
        pushed = pts + along / np.where(norm > 0, norm, 1.0) * reach[facet_owner][:, None]
        pts = np.where(has_ray[facet_owner][:, None], pushed, pts)
    n_facets = np.bincount(facet_owner, minlength=L)
    position = np.arange(facet.size) - (np.cumsum(n_facets) - n_facets)[facet_owner]
    width = int(n_facets.max(initial=0))
    rows = np.full((L, width), m)
    rows[facet_owner, position] = facet % slots - 1
    points = np.zeros((L, width, k))
    points[facet_owner, position] = c[facet_owner] + pts
    _settle(hulls, live, A, b, valid, c, rows, points, n_facets, good)
    hulls.bounded[live] = space.bounded_domain | ~has_ray
    n_vertices = np.bincount(vertex_owner, minlength=L)
    vertices = c[vertex_owner] + finite_vertices
    small = n_vertices <= DISTINCT_AT_ONCE
    keep = np.ones(vertex_owner.size, bool)
    keep[small[vertex_owner]] = distinct_rows(vertices[small[vertex_owner]], n_vertices[small])
    ends = np.cumsum(n_vertices)[:-1]
    for j, v, kept in zip(range(L), np.split(vertices, ends), np.split(keep, ends)):
        if hulls.ok[live[j]]:
            # Qhull saw a ray in a region the domain bounds: its far vertices are unknown.
            unknown = space.bounded_domain and has_ray[j]
            hulls.vertex_list[live[j]] = None if unknown else (v[kept] if small[j] else unique_rows(v))
    return hulls


def _gift_wrap(pts: np.ndarray, member: np.ndarray):
    """Counter-clockwise hull of every set of points at once (Jarvis march in step).

    Parameters
    ----------
    pts : ndarray of shape (L, n, 2)
    member : ndarray of shape (L, n), bool
        Which points belong to each set.

    Returns
    -------
    order : ndarray of shape (L, n), int
        Hull vertices in counter-clockwise order (first ``n_hull`` entries), from the
        rightmost point (highest among the rightmost); collinear points on an edge are
        left out.
    n_hull : ndarray of shape (L,), int
    closed : ndarray of shape (L,), bool
        Whether the march came back to its start within ``n`` steps.
    """
    L, n, _ = pts.shape
    x = np.where(member, pts[:, :, 0], -np.inf)
    top = x.max(axis=1)
    y = np.where(member & (x == top[:, None]), pts[:, :, 1], -np.inf)
    start = np.argmax(y, axis=1)
    order = np.zeros((L, n), np.int64)
    order[:, 0] = start
    n_hull = np.ones(L, np.int64)
    closed = np.zeros(L, bool)
    current = start.copy()
    heading = np.tile([0.0, 1.0], (L, 1))
    rows = np.arange(L)
    active = rows.copy()
    for step in range(n):
        cur = pts[active, current[active]]
        d = pts[active] - cur[:, None, :]
        h = heading[active]
        cross = h[:, None, 0] * d[:, :, 1] - h[:, None, 1] * d[:, :, 0]
        dot = h[:, None, 0] * d[:, :, 0] + h[:, None, 1] * d[:, :, 1]
        angle = np.arctan2(cross, dot)
        angle = np.where(angle < 0, angle + 2 * np.pi, angle)
        dist = coordinate_sum(d * d)
        usable = member[active] & (dist > 0)
        angle = np.where(usable, angle, np.inf)
        best = angle.min(axis=1)
        far = np.where(angle == best[:, None], dist, -1.0)
        nxt = np.argmax(far, axis=1)
        found = np.isfinite(best)
        back = found & (nxt == start[active])
        closed[active[back]] = True
        go = found & ~back
        if step == n - 1:
            break
        moving = active[go]
        order[moving, n_hull[moving]] = nxt[go]
        n_hull[moving] += 1
        heading[moving] = d[go, nxt[go]]
        current[moving] = nxt[go]
        active = moving
        if active.size == 0:
            break
    return order, n_hull, closed
