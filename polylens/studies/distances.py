"""Distances between regions, and shortest facet paths found lazily.

:func:`pair_distances` compares three distances between pairs of regions of an
enumeration (or the regions of data points): the geodesic distance in the region graph
(fewest facets crossed), the Hamming distance of their codes and the Euclidean distance
of their interior points, with their correlations.

:func:`region_path` finds a shortest facet path between the regions of two points
without enumerating anything: A* over neighbours, popping one region at a time (where
the net allows, a region is expanded in one wave of :mod:`polylens.geometry.waves` with
the best open ones, whose expansions wait until the search pops them). Its
bound is the number of distinct first-layer hyperplanes that separate a region from the
target: crossing one facet crosses at most one first-layer hyperplane (coincident units
count once), so the bound never overestimates and the path found is a shortest one. A
tie-break on the full Hamming distance (relucent's heuristic) steers the search.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_array, check_bool, check_int, check_number, check_option, invalid
from polylens.studies._common import adjacency, bfs_distances, check_result, locate_codes

__all__ = ["pair_distances", "PairDistances", "region_path", "region_paths", "RegionPath", "first_layer_groups"]

ASTAR_WAVE = 16
"""Regions that one A* search asks to expand at a time: the one it pops and the best
open ones (where waves serve the net)."""

ASTAR_WAVE_MAX = 64
"""Most regions that :func:`region_paths` expands in one wave for its searches together
(more only when more searches each need one)."""


@short_repr
@dataclass(frozen=True)
class PairDistances:
    """Three distances between pairs of regions.

    Attributes
    ----------
    pairs : ndarray of shape (n_pairs, 2), int
        Region indices.
    geodesic : ndarray of shape (n_pairs,)
        Fewest facets crossed (``inf``: disconnected).
    hamming : ndarray of shape (n_pairs,), int
        Units whose piece differs.
    euclidean : ndarray of shape (n_pairs,)
        Between interior points (Chebyshev centres), in the enumeration's coordinates.
    pearson, spearman : dict
        Correlations ``{"geodesic-hamming": r, "geodesic-euclidean": r, "hamming-euclidean": r}``.
    all_pairs : bool
        Every pair was measured (otherwise a seeded sample).
    geodesic_below_hamming : int
        Pairs with ``geodesic < hamming``: possible only where a facet flips several
        units at once (deeper layers, coincident units).
    """

    pairs: np.ndarray
    geodesic: np.ndarray
    hamming: np.ndarray
    euclidean: np.ndarray
    pearson: dict
    spearman: dict
    all_pairs: bool
    geodesic_below_hamming: int

    def check(self) -> None:
        """One distance of each kind per pair, none negative, and
        ``geodesic_below_hamming`` counts the pairs it names.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        assert self.pairs.shape[0] == self.geodesic.size == self.hamming.size == self.euclidean.size
        assert np.all(self.geodesic >= 0) and np.all(self.hamming >= 0)
        assert self.geodesic_below_hamming == int(np.count_nonzero(self.geodesic < self.hamming))


def pair_distances(result, *, pairs=None, points=None, max_pairs: int = 20000, seed: int = 0) -> PairDistances:
    """Geodesic, Hamming and Euclidean distances between pairs of regions.

    Parameters
    ----------
    result : EnumerationResult
    pairs : array-like of shape (n_pairs, 2), optional
        Region index pairs. Default: every pair when there are at most ``max_pairs``,
        otherwise ``max_pairs`` pairs drawn with ``seed``.
    points : array-like of shape (n_points, k), optional
        Data points: their regions (located through their codes) replace the regions of
        the enumeration as the set pairs are drawn from. Points on a boundary or outside
        the enumerated regions are dropped.
    max_pairs : int, default=20000
    seed : int, default=0

    Returns
    -------
    PairDistances

    Raises
    ------
    InvalidParameterError
        If ``result`` is not an EnumerationResult, or ``max_pairs``, ``seed``, ``points`` or
        ``pairs`` is invalid (an index outside the regions).
    """
    from scipy import stats

    func = "pair_distances"
    result = check_result(result, func)
    max_pairs = check_int(max_pairs, func=func, name="max_pairs", low=1)
    seed = check_int(seed, func=func, name="seed", low=0)
    n = result.n_regions
    pool = np.arange(n)
    if points is not None:
        pts = check_array(points, func=func, name="points", shape=(None, result.space.dim))
        where = locate_codes(result.codes, result.net.codes(result.space.to_input(pts)))
        pool = np.unique(where[where >= 0])
    if pairs is not None:
        pairs = check_array(pairs, func=func, name="pairs", shape=(None, 2), dtype=np.int64)
        if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
            raise invalid(func, "pairs", f"region indices in 0..{n - 1}", pairs)
        all_pairs = False
    else:
        m = pool.size
        if m * (m - 1) // 2 <= max_pairs:
            i, j = np.triu_indices(m, 1)
            pairs, all_pairs = np.stack([pool[i], pool[j]], axis=1), True
        else:
            rng = np.random.default_rng(seed)
            a = rng.integers(0, m, size=(max_pairs, 2))
            a = a[a[:, 0] != a[:, 1]]
            pairs, all_pairs = pool[a], False
    A = adjacency(n, result.edges)
    sources, inverse = np.unique(pairs[:, 0], return_inverse=True)
    dist = bfs_distances(A, sources)
    geodesic = dist[inverse, pairs[:, 1]]
    hamming = np.count_nonzero(result.codes[pairs[:, 0]] != result.codes[pairs[:, 1]], axis=1)
    euclidean = np.linalg.norm(result.points[pairs[:, 0]] - result.points[pairs[:, 1]], axis=1)
    values = {"geodesic": geodesic, "hamming": hamming.astype(float), "euclidean": euclidean}
    finite = np.isfinite(geodesic)
    pearson, spearman = {}, {}
    for a, b in (("geodesic", "hamming"), ("geodesic", "euclidean"), ("hamming", "euclidean")):
        x, y = values[a][finite], values[b][finite]
        ok = x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0
        pearson[f"{a}-{b}"] = float(stats.pearsonr(x, y)[0]) if ok else float("nan")
        spearman[f"{a}-{b}"] = float(stats.spearmanr(x, y)[0]) if ok else float("nan")
    return PairDistances(pairs, geodesic, hamming, euclidean, pearson, spearman, all_pairs,
                         int(np.count_nonzero(geodesic < hamming)))


@short_repr
@dataclass(frozen=True)
class RegionPath:
    """A facet path between the regions of two points, found by :func:`region_path`.

    Attributes
    ----------
    codes : ndarray of shape (length + 1, n_units), int8
        Codes of the regions along the path, start first (empty when not found).
    points : ndarray of shape (length + 1, k)
        An interior point of each.
    units : list of tuple of int
        The unit(s) crossed at each step.
    length : int
        Facets crossed (-1 when not found).
    found : bool
    optimal : bool
        The path is proved shortest: A* with an admissible bound popped the target, or
        the length equals the lower bound.
    lower_bound : int
        A proved lower bound on the shortest length (the best open bound when the search
        stopped at the budget).
    hamming : int
        Hamming distance between the two end codes.
    regions_visited : int
        Regions the search expanded (a few more may have been expanded ahead, in the
        wave of one it expanded, and never popped).
    regions_seen : int
        Regions reached (expanded or queued).
    stop_reason : str
        ``"found"``, ``"max_regions"`` or ``"exhausted"`` (no path inside the domain).
    lp_solves : int
        LPs that building the regions the search popped took (regions built ahead in a
        wave and never popped are not counted).
    seconds : float
    """

    codes: np.ndarray
    points: np.ndarray
    units: list
    length: int
    found: bool
    optimal: bool
    lower_bound: int
    hamming: int
    regions_visited: int
    regions_seen: int
    stop_reason: str
    lp_solves: int
    seconds: float

    def check(self, net=None, origin=None, basis=None) -> None:
        """Consecutive regions differ exactly in the units crossed; with ``net``, every
        point has its region's code.

        Parameters
        ----------
        net : PWLNet, optional
            The net of the search.
        origin, basis : array-like, optional
            Its subspace, as given to :func:`region_path`.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        InvalidParameterError
            With ``net``, if ``net``, ``origin`` or ``basis`` is invalid (from
            :class:`~polylens.geometry.space.Space`).
        SolverError
            With ``net``, if the HiGHS back end is not installed (from
            :class:`~polylens.geometry.space.Space`).
        ValueError
            With ``net``, if ``basis`` has another number of columns than the path's
            points have coordinates.
        """
        assert (self.length == len(self.units) == self.codes.shape[0] - 1) if self.found else self.length == -1
        for (a, b), units in zip(zip(self.codes[:-1], self.codes[1:]), self.units):
            assert set(units) <= set(np.flatnonzero(a != b).tolist())
        assert not self.optimal or (self.found and self.lower_bound == self.length)
        assert not self.found or self.lower_bound <= self.length
        if net is not None and self.found:
            from polylens.geometry.space import Space

            space = Space(net, None, x0=origin, U=basis)
            assert np.array_equal(net.codes(space.to_input(self.points)), self.codes)


def first_layer_groups(net, origin=None, basis=None) -> np.ndarray:
    """Group id of every first-layer unit (units on the same hyperplane, whatever its
    orientation, share one), shape (n_first,); first-layer units are ``0 .. n_first - 1``
    of the code.

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet, or ``origin`` or ``basis`` does not fit it (from
        :class:`~polylens.geometry.space.Space`).
    SolverError
        If the HiGHS back end is not installed (from :class:`~polylens.geometry.space.Space`).
    """
    from polylens.geometry.space import Space

    return _groups_on(net, Space(net, None, x0=origin, U=basis).basis)


def _groups_on(net, basis: np.ndarray) -> np.ndarray:
    """:func:`first_layer_groups` on the subspace whose origin and basis are the rows of
    ``basis`` (shape (1 + k, input_dim))."""
    from polylens.models.activations import Elementwise

    if not net.activations or not isinstance(net.activations[0], Elementwise):
        return np.zeros(0, np.int64)  # no first-layer hyperplanes to count (e.g. a max-pool first)
    n_first = int(net.layer_sizes[0])
    pre, _ = net.frozen_forms(np.zeros(net.n_units, np.int8), basis)
    z = pre[0][:, :n_first]
    rows = np.vstack([z[1:], z[:1]]).T  # (n_first, k + 1): slope | offset
    norms = np.linalg.norm(rows[:, :-1], axis=1)
    live = norms > tol.ZERO_ROW * max(1.0, norms.max(initial=0.0))
    rows[live] /= norms[live, None]
    # Units whose rows agree up to sign share their hyperplanes (relu(a.x) and relu(-a.x)),
    # or may share one (other breakpoints): one group, so the bound stays admissible.
    first = np.argmax(np.abs(rows[:, :-1]) > tol.ZERO_ROW, axis=1)
    rows *= np.where(rows[np.arange(rows.shape[0]), first] < 0, -1.0, 1.0)[:, None]
    key = np.round(rows / tol.COINCIDENT).astype(np.int64)
    key[~live] = np.arange(np.count_nonzero(~live))[:, None] - 2 ** 40  # constant units: own groups
    _, groups = np.unique(key, axis=0, return_inverse=True)
    return groups.reshape(-1)


def _every_move(space, domain, origin, basis, solver: str):
    """Expander of A* nodes across every facet: ``expand(codes, hints)`` -> per node
    ``(interior point, [(code across, (facet point, normal), units crossed)], LPs
    solved)``, the nodes expanded as one batch of the search's task (a wave where the
    net allows)."""
    from polylens.geometry.expansion import SearchSpec, expand_batch

    spec = SearchSpec(space.net, domain, origin, basis, solver, "auto", space=space)

    def expand(codes: list, hints: list) -> list:
        found = expand_batch(spec, (range(len(codes)), codes, hints))
        return [(e.point, e.crossings, e.lp_solves) for e in found]

    return expand


def _differing(space, target: np.ndarray):
    """Expander of A* nodes across the facets of units that differ from ``target`` (see
    :func:`_differing_moves`), one node at a time, as :func:`_every_move`."""
    from polylens.geometry.region import build_region

    def expand(codes: list, hints: list) -> list:
        out = []
        for code in codes:
            before = space.lp_solves
            region = build_region(space, code)
            steps = []
            for rows, point, new in _differing_moves(region, target):
                if new is not None:
                    src = region.source[rows]
                    steps.append((new, np.stack([point, region.A[rows[0]]]), tuple(int(u) for u in src[src >= 0])))
            out.append((region.point, steps, space.lp_solves - before))
        return out

    return expand


def _differing_moves(region, target: np.ndarray) -> list:
    """Facets of ``region`` whose units take another piece in ``target``, found one LP
    per candidate row (the Chebyshev centre of the row's face within its hyperplane):
    ``[(rows, point, new_code)]``. Cheaper than every facet when few units differ."""
    from polylens.geometry.facet_finding import _coincident_with
    from polylens.geometry.region import crossed_codes
    from polylens.solvers import LPStatus

    space = region.space
    A, b, src = region.A, region.b, region.source
    where = float(np.max(np.abs(region.point), initial=0.0))  # the region's distance from the origin
    floor = tol.MIN_RADIUS * max(space.length, where)
    unit = np.clip(src, 0, None)
    cand = np.flatnonzero((src >= 0) & (region.code[unit] != target[unit]))
    done = np.zeros(A.shape[0], bool)
    groups, points = [], []
    k = A.shape[1]
    cap = space.radius_cap
    for j in cand.tolist():
        if done[j]:
            continue
        same = _coincident_with(A, b, [j], where)[0]
        done[same] = True
        others = np.setdiff1d(np.arange(A.shape[0]), same)
        Ao, bo = A[others], b[others]
        along = np.linalg.norm(Ao - np.outer(Ao @ A[j], A[j]), axis=1)
        A_lp = np.vstack([np.hstack([Ao, along[:, None]]), np.append(A[j], 0.0), np.append(-A[j], 0.0)])
        b_lp = np.concatenate([bo, [b[j], -b[j]]])
        c = np.zeros(k + 1)
        c[-1] = -1.0
        lb, ub = np.full(k + 1, -np.inf), np.full(k + 1, np.inf)
        lb[-1], ub[-1] = 0.0, cap
        res = space.backend.solve(c, A_lp, b_lp, lb, ub)
        space.lp_solves += 1
        if res.status == LPStatus.OPTIMAL and res.x[-1] > floor:
            groups.append(same)
            points.append(res.x[:k])
    if not groups:
        return []
    points = np.array(points)
    return list(zip(groups, points, crossed_codes(region, groups, points)))


def region_path(net, a, b, domain=None, *, origin=None, basis=None, max_regions: int = 10000,
                heuristic: str = "first_layer", moves: str = "auto", weight: float = 1.0,
                solver: str = "highs") -> RegionPath:
    """A shortest facet path from the region of ``a`` to the region of ``b``, lazily.

    A* over regions: each step crosses one facet into a neighbour (computed on demand);
    no enumeration, so it runs in any dimension (a 64-dimensional image input, a hidden
    layer's activation space through :meth:`PWLNet.split`). For many pairs of points,
    :func:`region_paths` shares the regions it builds between them.

    Parameters
    ----------
    net : PWLNet
    a, b : array-like of shape (input_dim,) or input_shape, or (k,) with ``basis``
        The two points.
    domain : Box, Polyhedron, (lo, hi) or None, default=None
        Paths stay inside it (``None``: all of the space).
    origin, basis : array-like, optional
        Work on the subspace ``x = origin + basis @ t`` (see :func:`polylens.region_at`).
    max_regions : int, default=10000
        Budget of regions expanded; the search then stops cleanly with ``found=False``
        and the best proved lower bound.
    heuristic : {"first_layer", "hamming"}, default="first_layer"
        ``"first_layer"``: the admissible bound (first-layer hyperplanes separating the
        region from the target), ties broken by the full Hamming distance; the path is
        then shortest. ``"hamming"``: relucent's full-code Hamming distance (faster on
        deep nets, not admissible when one facet flips several units): optimality is
        then claimed only when the length meets the first-layer lower bound.
    moves : {"auto", "all", "differing"}, default="auto"
        ``"all"``: cross every facet (all neighbours; the search is then exact A*).
        ``"differing"``: cross only facets of units whose piece differs from the
        target's, one LP per such row (much cheaper in high dimension, where a region
        has hundreds of facets): the path found is a path, claimed shortest only when
        its length meets the lower bound. ``"auto"``: ``"all"`` up to 6 dimensions.
    weight : float, default=1.0
        Weighted A*: the priority is ``g + weight * h``. Above 1 the search goes
        greedily toward the target (far fewer regions in high dimension) and the path
        is claimed shortest only when its length meets the lower bound.
    solver : str, default="highs"

    Returns
    -------
    RegionPath

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet, an option is invalid, or ``a`` or ``b`` is not a point
        of the domain.

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet
    >>> lin = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.eye(2)); _ = lin.bias.zero_()
    >>> net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()))
    >>> p = region_path(net, [-1.0, -1.0], [1.0, 1.0])
    >>> p.length, p.optimal
    (2, True)
    """
    return _paths("region_path", net, [a], [b], domain, origin, basis, max_regions, heuristic, moves, weight,
                  solver, ("a", "b"))[0]


def region_paths(net, a, b, domain=None, *, origin=None, basis=None, max_regions: int = 10000,
                 heuristic: str = "first_layer", moves: str = "auto", weight: float = 1.0,
                 solver: str = "highs", progress: bool = False) -> list:
    """Shortest facet paths between many pairs of points, sharing the regions built.

    One A* search per pair, as :func:`region_path` runs it, all run in step: each round,
    the regions every search needs next (with the best open ones of each) are expanded
    together, in waves where the net allows. Across every facet (``moves="all"``, the
    default up to 6 dimensions) a region's neighbours do not depend on the target, so
    a region expanded for one search is not built again for another and pairs in one
    part of the space share most of their work; across differing facets only searches
    toward the same target share.

    Parameters
    ----------
    net : PWLNet
    a, b : array-like of shape (n_pairs, input_dim) or (n_pairs, *input_shape), or (n_pairs, k) with ``basis``
        Pair ``i`` runs from ``a[i]`` to ``b[i]``.
    domain, origin, basis, max_regions, heuristic, moves, weight, solver
        As for :func:`region_path`; ``max_regions`` is each pair's budget.
    progress : bool, default=False
        Show a progress bar of the pairs finished.

    Returns
    -------
    list of RegionPath
        One per pair, in order. Each has the length, the optimality proof and the
        counts of its own search (``regions_visited``: the regions it popped;
        ``lp_solves``: the LPs that building those regions took, whichever search built
        them); ``seconds`` is the time from the call's start to the end of that search.
        A region built for one search keeps the interior point it was reached by there,
        so among equally short paths the one returned may differ from
        :func:`region_path`'s for the same pair, and an LP count may move from one pair
        to another.

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet, an option is invalid, ``a`` and ``b`` are not batches
        of the same number of points, or a point is not a point of the domain (named as
        ``a[i]`` or ``b[i]``).

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet
    >>> lin = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.eye(2)); _ = lin.bias.zero_()
    >>> net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()))
    >>> paths = region_paths(net, [[-1.0, -1.0], [1.0, -1.0]], [[1.0, 1.0], [1.0, 1.0]])
    >>> [p.length for p in paths]
    [2, 1]
    """
    func = "region_paths"
    a, b = _batch(a, func, "a"), _batch(b, func, "b")
    if len(a) != len(b):
        raise invalid(func, "b", f"as many points as `a` ({len(a)})", f"{len(b)} points")
    progress = check_bool(progress, func=func, name="progress")
    return _paths(func, net, a, b, domain, origin, basis, max_regions, heuristic, moves, weight, solver,
                  None, progress)


def _batch(x, func: str, name: str):
    """The points of a batch, as a sequence along its first axis."""
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else x
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(func, name, "a batch of points, shape (n_pairs, ...)", x) from None
    if arr.ndim < 2:
        raise invalid(func, name, "a batch of points, shape (n_pairs, ...)", f"an array of shape {arr.shape}")
    return arr


def _paths(func, net, a, b, domain, origin, basis, max_regions, heuristic, moves, weight, solver, names,
           progress=False) -> list:
    """The searches of :func:`region_path` (one pair, its points named ``names``) and of
    :func:`region_paths` (points named ``a[i]``, ``b[i]``), run in step."""
    from polylens.geometry.domain import as_domain
    from polylens.geometry.space import Space
    from polylens.geometry.waves import wave_applies
    from polylens.models.pwlnet import PWLNet

    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", type(net).__name__)
    domain = as_domain(domain, func=func)
    max_regions = check_int(max_regions, func=func, name="max_regions", low=1)
    heuristic = check_option(heuristic, ("first_layer", "hamming"), func=func, name="heuristic")
    moves = check_option(moves, ("auto", "all", "differing"), func=func, name="moves")
    weight = check_number(weight, func=func, name="weight", low=1.0)
    start_time = time.perf_counter()
    space = Space(net, domain, x0=origin, U=basis, solver=solver)
    if names is None:
        shapes = [(space.dim,)] if basis is not None else list(dict.fromkeys([net.input_shape, (net.input_dim,)]))
        for name, points in (("a", a), ("b", b)):
            if points.shape[1:] not in shapes:
                raise invalid(func, name, "a batch of points, shape " + " or ".join(
                    f"(n_pairs, {', '.join(map(str, shape))})" for shape in shapes), f"an array of shape {points.shape}")
    n = len(a)
    if n == 0:
        return []
    ta = np.stack([space.check_point(p, func, names[0] if names else f"a[{i}]") for i, p in enumerate(a)])
    tb = np.stack([space.check_point(p, func, names[1] if names else f"b[{i}]") for i, p in enumerate(b)])
    # Each pair's two codes from one pass of the pair (a point on a boundary gets the
    # same code whatever other pairs are asked with it).
    codes = [net.codes(space.to_input(np.stack([p, q]))) for p, q in zip(ta, tb)]
    every = moves == "all" or (moves == "auto" and space.dim <= 6)
    exact = heuristic == "first_layer" and every and weight == 1.0
    groups = _groups_on(net, space.basis)
    width = ASTAR_WAVE if every and wave_applies(space, "auto") else 1
    # Across every facet a region's moves do not depend on the target: one cache for all
    # searches; across differing facets, one per target.
    caches: dict = {}
    searches = []
    for i, (code_a, code_b) in enumerate(codes):
        key = b"" if every else code_b.tobytes()
        if key not in caches:
            caches[key] = (_every_move(space, domain, origin, basis, solver) if every else _differing(space, code_b), {})
        expand, cache = caches[key]
        hint = np.stack([ta[i], np.full(space.dim, np.nan)])
        search = _astar(code_a, code_b, hint, groups, cache, heuristic=heuristic, weight=weight,
                        exact=exact, max_regions=max_regions, width=width, start_time=start_time)
        searches.append((search, expand, cache))
    return _in_step(searches, width, progress)


def _in_step(searches: list, width: int, progress: bool) -> list:
    """Run A* searches (generators of :func:`_astar`, each with its expander and cache)
    in step: each round, expand what every search asked for, grouped by cache: first
    the region each search needs, then the best open ones of each in turn, up to
    ``width`` per search and ``ASTAR_WAVE_MAX`` in all (or the needed ones, if more)."""
    from tqdm.auto import tqdm

    results: list = [None] * len(searches)
    asked: dict[int, list] = {}
    bar = tqdm(total=len(searches), disable=not progress, unit="path", desc="paths", mininterval=0.5)

    def advance(i: int) -> None:
        try:
            asked[i] = next(searches[i][0])
        except StopIteration as stop:
            asked.pop(i, None)
            results[i] = stop.value
            bar.update(1)

    try:
        for i in range(len(searches)):
            advance(i)
        while asked:
            rounds: dict[int, tuple] = {}  # per cache: its expander, the cache, what to expand
            for rank in range(width):
                for i, wants in asked.items():
                    _, expand, cache = searches[i]
                    batch = rounds.setdefault(id(cache), (expand, cache, {}))[2]
                    if rank < len(wants) and (rank == 0 or len(batch) < max(ASTAR_WAVE_MAX, len(asked))):
                        key, code, hint = wants[rank]
                        batch.setdefault(key, (code, hint))
            for expand, cache, batch in rounds.values():
                keys = list(batch)
                for lo in range(0, len(keys), ASTAR_WAVE_MAX):
                    part = keys[lo:lo + ASTAR_WAVE_MAX]
                    cache.update(zip(part, expand([batch[k][0] for k in part], [batch[k][1] for k in part])))
            for i in list(asked):
                advance(i)
    finally:
        bar.close()
    return results


def _astar(code_a, code_b, hint_a, groups, cache: dict, *, heuristic, weight, exact, max_regions, width,
           start_time):
    """One pair's A* search, as a generator: it yields the regions it needs expanded
    (``[(key, code, hint)]``: the one it pops, then up to ``width - 1`` of the best open
    ones not yet in ``cache``), finds their expansions ``(point, steps, lp_solves)`` in
    ``cache`` when resumed, and returns its :class:`RegionPath`."""
    n_first = groups.size
    n_groups = int(groups.max(initial=-1)) + 1

    def bounds(codes: np.ndarray) -> np.ndarray:
        """First-layer groups separating each code (rows) from the target's."""
        diff = codes[:, :n_first] != code_b[:n_first]
        if n_groups == n_first:  # every unit its own hyperplane
            return np.count_nonzero(diff, axis=1)
        row, unit = np.nonzero(diff)
        hit = np.zeros((codes.shape[0], n_groups), bool)
        hit[row, groups[unit]] = True
        return np.count_nonzero(hit, axis=1)

    def bound(code: np.ndarray) -> int:
        return int(bounds(code[None])[0])

    def ham(code: np.ndarray) -> int:
        return int(np.count_nonzero(code != code_b))

    def priorities(g: int, codes: np.ndarray) -> list:
        h_adm, h_ham = bounds(codes).tolist(), np.count_nonzero(codes != code_b, axis=1).tolist()
        if heuristic == "first_layer":
            return [(g + weight * a, h) for a, h in zip(h_adm, h_ham)]
        return [(g + weight * h, a) for a, h in zip(h_adm, h_ham)]

    key_a, key_b = code_a.tobytes(), code_b.tobytes()
    best_g = {key_a: 0}
    parent: dict[bytes, tuple] = {key_a: (None, ())}
    codes = {key_a: code_a}
    hints = {key_a: hint_a}
    heap = [(*priorities(0, code_a[None])[0], 0, key_a)]
    tie = 1
    closed: set[bytes] = set()
    visited, lp_solves, stop_reason, points = 0, 0, "exhausted", {}
    lower = bound(code_a)

    def need(key: bytes):
        # A region not yet expanded is asked for with the best open ones, which the
        # search is likely to pop next (their expansions wait in the cache).
        if key not in cache:
            batch = [key]
            for entry in heapq.nsmallest(4 * width, heap):
                if len(batch) == width:
                    break
                if entry[3] not in closed and entry[3] not in cache and entry[3] not in batch:
                    batch.append(entry[3])
            yield [(k, codes[k], hints[k]) for k in batch]

    while heap:
        f, _, _, key = heapq.heappop(heap)
        if key in closed:
            continue
        g = best_g[key]
        if exact:
            lower = max(lower, f)
        if key != key_b and visited >= max_regions:
            stop_reason = "max_regions"
            heapq.heappush(heap, (f, _, _, key))
            break
        yield from need(key)
        closed.add(key)
        points[key], steps, lps = cache[key]
        lp_solves += lps
        if key == key_b:
            stop_reason = "found"
            break
        visited += 1
        pushed = []
        for new, hint, crossed in steps:
            nkey = new.tobytes()
            if nkey in closed or best_g.get(nkey, np.inf) <= g + 1:
                continue
            best_g[nkey] = g + 1
            codes[nkey] = new
            hints[nkey] = hint
            parent[nkey] = (key, crossed)
            pushed.append(nkey)
        if pushed:
            for nkey, prio in zip(pushed, priorities(g + 1, np.stack([codes[k] for k in pushed]))):
                heapq.heappush(heap, (*prio, tie, nkey))
                tie += 1
    found = stop_reason == "found"
    if found:
        chain, units = [key_b], []
        while parent[chain[-1]][0] is not None:
            prev, crossed = parent[chain[-1]]
            units.append(crossed)
            chain.append(prev)
        chain.reverse()
        units.reverse()
        path_codes = np.array([codes[k] for k in chain], dtype=np.int8)
        path_points = np.array([points[k] for k in chain])
        length = len(units)
        optimal = exact or length == bound(code_a)
        lower = length if optimal else max(lower, bound(code_a))
    else:
        path_codes = np.zeros((0, code_a.size), np.int8)
        path_points = np.zeros((0, hint_a.shape[1]))
        units, length, optimal = [], -1, False
        if stop_reason == "exhausted":
            lower = max(lower, bound(code_a))
        elif exact and heap:
            lower = max(lower, int(min(h[0] for h in heap)))
    return RegionPath(path_codes, path_points, units, length, found, bool(optimal), int(lower), ham(code_a),
                      visited, len(best_g), stop_reason, lp_solves, time.perf_counter() - start_time)
