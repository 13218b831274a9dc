"""Regions: the polytope of one code, with its facets and its neighbours.

:func:`region_at` gives the region that holds a point, :func:`region_for_code` the
region of a code; :func:`facets` and :func:`neighbors` give what lies on and across its
boundary. All of them work in the coordinates ``t`` of a :class:`Space` (by default the
input space itself).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_option, invalid
from polylens.errors import InfeasibleRegionError, PolylensError, PolylensWarning
from polylens.geometry.facet_finding import (
    METHODS,
    Facet,
    FacetData,
    box_candidates,
    compute_facets,
)
from polylens.geometry.space import ROUNDOFF, Space, row_dot
from polylens.models.pwlnet import PWLNet

__all__ = ["Region", "Neighbor", "region_at", "region_for_code", "facets", "neighbors"]


@short_repr
@dataclass(frozen=True, eq=False)
class Region:
    """The polytope of one code inside a domain, with the affine map the net applies there.

    Attributes
    ----------
    code : ndarray of shape (n_units,), int8
        Piece of every unit.
    A : ndarray of shape (m, k)
        Unit-norm rows of the H-representation ``A t <= b`` (units first, then domain).
    b : ndarray of shape (m,)
    source : ndarray of shape (m,), int
        Unit index of each row, or ``-(f + 1)`` for domain face ``f``; see :attr:`labels`.
    out_weight : ndarray of shape (n_outputs, k)
    out_bias : ndarray of shape (n_outputs,)
        The network's output on the region is ``out_weight @ t + out_bias``.
    point : ndarray of shape (k,)
        Chebyshev centre: an interior point.
    radius : float
        Chebyshev radius (capped at ``space.radius_cap`` for unbounded regions; see
        :attr:`radius_capped`).
    constant_units : ndarray of int
        Units constant on the whole space (no row).
    tied_units : ndarray of int
        Units sitting on a boundary of their piece throughout the region (see
        :class:`~polylens.geometry.space.HRep`).
    across : ndarray of shape (m,), int8
        The piece its unit takes just across each row (-1 for domain rows).
    candidates : ndarray of int
        Rows that the domain's bounding box does not already make redundant.
    space : Space
        The net, subspace, domain and LP back end this region lives in.
    found_facets : FacetData or None
        The facets found while the region was built from a hint (with the method the
        builder asked for), or None; :attr:`facet_data` starts from them.
    """

    code: np.ndarray
    A: np.ndarray
    b: np.ndarray
    source: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray
    point: np.ndarray
    radius: float
    constant_units: np.ndarray
    tied_units: np.ndarray = field(repr=False)
    across: np.ndarray = field(repr=False)
    candidates: np.ndarray = field(repr=False)
    space: Space = field(repr=False)
    found_facets: FacetData | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        """Dimension ``k`` of the space."""
        return self.A.shape[1]

    @property
    def labels(self) -> list[str]:
        """Readable label of every row."""
        return [_row_label(self.space.net, int(s)) for s in self.source]

    @property
    def radius_capped(self) -> bool:
        """True when the radius is the cap, not the largest ball (unbounded regions)."""
        return self.radius >= self.space.radius_cap * (1 - tol.REDUNDANCY)

    @cached_property
    def facet_data(self) -> FacetData:
        """Facets as arrays, computed once (method ``"auto"``), or :attr:`found_facets`."""
        if self.found_facets is not None:
            return self.found_facets
        return compute_facets(self.A, self.b, self.point, self.space, candidates=self.candidates)

    @property
    def bounded(self) -> bool:
        """Whether the region (inside the domain) is bounded."""
        return self.space.bounded_domain or self.facet_data.bounded

    def output(self, t) -> np.ndarray:
        """The network's output at points ``t`` of shape (n, k) (or one point, (k,)), via
        the region's map; shape (n, n_outputs).

        Raises
        ------
        ValueError
            If ``t`` does not have ``k`` coordinates per point (numpy's matrix product).
        """
        return np.atleast_2d(t) @ self.out_weight.T + self.out_bias

    def contains(self, t, atol: float | None = None) -> np.ndarray:
        """Whether each point of shape (n, k) satisfies every row (to ``atol``; by default
        ``tolerances.REDUNDANCY`` relative to ``|b|`` plus round-off at ``||t||``);
        shape (n,), bool.

        Raises
        ------
        ValueError
            If ``t`` does not have ``k`` coordinates per point, or ``atol`` does not
            broadcast against shape (n, m) (numpy's own errors).
        """
        t = np.atleast_2d(t)
        if atol is None:
            atol = tol.REDUNDANCY * np.abs(self.b)[None, :] + ROUNDOFF * np.abs(t).max(axis=1, initial=0.0)[:, None]
        return np.all(t @ self.A.T <= self.b + atol, axis=1)

    def vertices(self) -> np.ndarray:
        """Finite vertices of the region, shape (n_vertices, k) (``k <= 6``); in a plane
        (``k == 2``) counter-clockwise around :attr:`point` (see :func:`in_order`).

        Raises
        ------
        PolylensError
            Where the hull method does not run (``k > 6``, or Qhull cannot resolve the
            region).
        """
        data = self.facet_data
        if data.vertices is None:
            data = compute_facets(self.A, self.b, self.point, self.space, "hull", self.candidates)
        if data.vertices is None:
            raise PolylensError("vertices are only available where the hull method runs (k <= 6)")
        return in_order(unique_rows(data.vertices), self.point)


@short_repr
@dataclass(frozen=True, eq=False)
class Neighbor:
    """A region across one facet: ``facet`` of the first region, ``region`` beyond it."""

    facet: Facet
    region: Region


def _row_label(net: PWLNet, source: int) -> str:
    return net.unit_label(source) if source >= 0 else f"domain face {-source - 1}"


def unique_rows(points: np.ndarray) -> np.ndarray:
    """Rows of ``points`` (shape (n, k)) with near-duplicates removed, in order: two
    points are one when they agree to ``tolerances.VERTEX_MERGE`` relative to their
    magnitude, plus round-off at the spread of all the points; a row is dropped when an
    earlier row is one with it.

    Only pairs within twice the largest such tolerance of each other in the first
    coordinate are compared (found by sorting), so the cost is ``n log n`` plus the
    near pairs, not ``n**2``.

    Raises
    ------
    ValueError
        If ``points`` is not two-dimensional.
    """
    n = points.shape[0]
    if n <= 1:
        return points
    size = np.abs(points).max(axis=1)
    spread = float(np.max(points.max(axis=0) - points.min(axis=0)))
    reach = tol.VERTEX_MERGE * size.max() + ROUNDOFF * spread
    order = np.argsort(points[:, 0], kind="stable")
    first = points[order, 0]
    ends = np.searchsorted(first, first + 2 * reach, side="right")
    counts = ends - np.arange(n) - 1
    lo = np.repeat(np.arange(n), counts)
    hi = lo + 1 + np.arange(lo.size) - np.repeat(np.cumsum(counts) - counts, counts)
    i, j = order[lo], order[hi]
    atol = tol.VERTEX_MERGE * np.maximum(size[i], size[j]) + ROUNDOFF * spread
    close = np.abs(points[i] - points[j]).max(axis=1, initial=0.0) <= atol
    drop = np.zeros(n, bool)
    drop[np.maximum(i[close], j[close])] = True
    return points[~drop]


def distinct_rows(points: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Which rows :func:`unique_rows` keeps, for many small sets at once: ``points`` of
    shape (n, k) holds set i's ``counts[i]`` rows after those of the sets before it.

    Every pair of rows of a set is compared, with :func:`unique_rows`'s tolerance: that
    function compares only the pairs near in the first coordinate, and every pair it
    could merge is among them, so both keep the same rows. Meant for sets of tens of
    rows (the cost is quadratic in a set's size).

    Returns
    -------
    ndarray of shape (n,), bool

    Raises
    ------
    ValueError
        If ``counts`` does not sum to the number of rows.
    """
    n = points.shape[0]
    if int(np.sum(counts)) != n:
        raise ValueError(f"distinct_rows: counts sum to {int(np.sum(counts))}, not to the {n} rows")
    keep = np.ones(n, bool)
    counts = np.asarray(counts, np.int64)
    if n == 0:
        return keep
    owner = np.repeat(np.arange(counts.size), counts)
    start = np.cumsum(counts) - counts
    size = np.abs(points).max(axis=1)
    spread = (np.maximum.reduceat(points, start[counts > 0]) - np.minimum.reduceat(points, start[counts > 0])).max(axis=1)
    spread_of = np.zeros(counts.size)
    spread_of[counts > 0] = spread
    # Every pair (i, j), i < j, of one set: j runs over the rows after i in its set.
    after = (start + counts)[owner] - np.arange(n) - 1
    i = np.repeat(np.arange(n), after)
    j = i + 1 + np.arange(i.size) - np.repeat(np.cumsum(after) - after, after)
    atol = tol.VERTEX_MERGE * np.maximum(size[i], size[j]) + ROUNDOFF * spread_of[owner[i]]
    close = np.abs(points[i] - points[j]).max(axis=1, initial=0.0) <= atol
    keep[j[close]] = False
    return keep


def in_order(vertices: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The vertices of a region in their order: in a plane (``k == 2``)
    counter-clockwise around the interior point ``centre``, by angle from the direction
    ``-t_0`` (``atan2``); in higher dimension as given.

    Parameters
    ----------
    vertices : ndarray of shape (..., n, k)
        Rows past a region's last vertex may be padding: give them NaN (they sort last).
    centre : ndarray of shape (..., k)

    Raises
    ------
    None of its own
    """
    if vertices.shape[-1] != 2:
        return vertices
    rel = vertices - centre[..., None, :]
    angle = np.arctan2(rel[..., 1], rel[..., 0])
    order = np.argsort(np.where(np.isnan(angle), np.inf, angle), axis=-1, kind="stable")
    return np.take_along_axis(vertices, order[..., None], -2)


def build_region(space: Space, code: np.ndarray, hint=None, method: str = "auto") -> Region:
    """Region of a validated code in ``space``.

    Parameters
    ----------
    hint : tuple (point, direction or None), optional
        Either a point on the region's boundary (a relative-interior point of the facet
        it was reached across) and the direction into the region, or a point believed to
        be inside and ``None``. The region's facets are then found from an interior point
        (on that ray, or the point itself), and its Chebyshev centre from the facet rows
        alone (usually no LP). Without a usable hint, one Chebyshev LP over every
        candidate row gives the interior point.
    method : {"auto", "hull", "lp"}
        Facet method when a hint is used (the facets are computed at once).

    Raises
    ------
    InfeasibleRegionError
        If the code puts a constant unit in a piece it never takes, or the region is
        empty or thinner than the tolerances resolve.
    SolverError
        If an LP of the facet search fails.
    """
    h = space.hrep(code)
    cand = box_candidates(h.A, h.b, space.box)
    def what():
        return f"the region of code {_short(code)}"

    inner = _inner_point(h.A[cand], h.b[cand], hint, space.length) if hint is not None else None
    if inner is None:
        point, radius = space.chebyshev(h.A[cand], h.b[cand], what=what)
        return Region(code, h.A, h.b, h.source, h.out_weight, h.out_bias, point, radius,
                      h.constant_units, h.tied_units, h.across, cand, space)
    data = compute_facets(h.A, h.b, inner, space, method, cand)
    rows = np.concatenate(data.groups) if data.groups else np.zeros(0, int)
    point, radius = space.chebyshev(h.A[rows], h.b[rows], what=what)
    return Region(code, h.A, h.b, h.source, h.out_weight, h.out_bias, point, radius,
                  h.constant_units, h.tied_units, h.across, cand, space, data)


def _inner_point(A, b, hint, length: float):
    """Midpoint of the ray from the hint's boundary point to where it leaves the region,
    or None if that point is not clearly interior (slack above ``INNER_MARGIN``
    relative to the point's magnitude and the step). A ray that never leaves the region
    goes ``length`` far."""
    start, direction = hint
    if direction is None:
        margin = tol.INNER_MARGIN * float(np.max(np.abs(start), initial=0.0))
        return start if np.min(b - row_dot(A, start), initial=np.inf) > margin else None
    slack = b - row_dot(A, start)
    speed = row_dot(A, direction)
    with np.errstate(divide="ignore", invalid="ignore"):
        exits = np.where(speed > tol.RAY_SPEED * np.linalg.norm(direction), slack / speed, np.inf)
    step = exits.min(initial=np.inf)
    step = 0.5 * step if np.isfinite(step) else length
    inner = start + step * direction
    margin = tol.INNER_MARGIN * max(float(np.max(np.abs(inner), initial=0.0)), step)
    if np.min(b - row_dot(A, inner), initial=np.inf) <= margin:
        return None
    return inner


def _short(code: np.ndarray) -> str:
    s = "".join(map(str, code.tolist()))
    return s if len(s) <= 40 else s[:37] + "..."


def region_at(net: PWLNet, x, domain=None, *, origin=None, basis=None, solver: str = "highs") -> Region:
    """The region that holds the point ``x``.

    Parameters
    ----------
    net : PWLNet
    x : array-like of shape (input_dim,) or input_shape, or (k,) with ``basis``
        One point: an input, or subspace coordinates ``t`` when ``basis`` is given. A
        point exactly on a boundary gets the code of the boundary rule (``z > 0`` is on),
        whose region then holds it on its boundary.
    domain : Box, Polyhedron or None, default=None
        In the coordinates of ``x``; ``None`` means all of the space (the region may be
        unbounded: see ``Region.bounded``).
    origin : array-like of shape (input_dim,) or input_shape, optional
        Origin ``x0`` of the subspace ``x = x0 + U t`` (default 0).
    basis : array-like of shape (input_dim, k), optional
        Basis ``U`` of the subspace, one column per direction (default: the whole input
        space). With ``k`` small, a slice through a CNN's input space (e.g. the plane
        through three images) costs a forward pass of ``1 + k`` samples per region.
    solver : str, default="highs"
        LP back end.

    Returns
    -------
    Region

    Raises
    ------
    InvalidParameterError
        If ``net``, ``domain``, ``origin``, ``basis`` or ``solver`` is not valid, if
        ``x`` has the wrong size, is not finite or lies outside ``domain``, or if float64
        cannot resolve a bounded ``domain`` of the subspace (``basis`` too small next to
        ``origin``).
    InfeasibleRegionError
        If the domain is empty or the region of ``x`` has no interior.

    See Also
    --------
    region_for_code : the region of a given code.
    polylens.sampling.codes : sampled codes of a batch of inputs (big models).

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet, Box, region_at
    >>> lin = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.eye(2)); _ = lin.bias.zero_()
    >>> net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()))
    >>> r = region_at(net, [0.5, 0.5], Box(-1, 1))
    >>> r.code.tolist(), round(r.radius, 6), r.bounded
    ([1, 1], 0.5, True)
    """
    space = Space(net, domain, x0=origin, U=basis, solver=solver, func="region_at")
    t = space.check_point(x, "region_at", "x")
    return build_region(space, net.codes(space.to_input(t))[0], hint=(t, None))


def region_for_code(net: PWLNet, code, domain=None, *, origin=None, basis=None, solver: str = "highs") -> Region:
    """The region of a given code (see :func:`region_at` for the parameters).

    Raises
    ------
    InvalidParameterError
        If ``code`` is not a code of ``net`` (shape (n_units,), pieces in range), or
        another parameter is not valid (see :func:`region_at`).
    InfeasibleRegionError
        If no point of the domain has this code (the region is empty or flat).

    See Also
    --------
    region_at : the region that holds a point.
    """
    func = "region_for_code"
    space = Space(net, domain, x0=origin, U=basis, solver=solver, func=func)
    try:
        code = net.check_code(code)
    except (TypeError, ValueError) as err:
        raise invalid(func, "code", f"a code of the net ({err})", code) from None
    return build_region(space, code)


def facets(region: Region, *, method: str = "auto") -> list[Facet]:
    """The irredundant rows of a region's H-representation.

    Parameters
    ----------
    region : Region
    method : {"auto", "hull", "lp"}, default="auto"
        ``"hull"``: LP-free polar convex hull (Qhull), ``k <= 6`` advised; ``"lp"``: ray
        shooting then Clarkson LPs, any dimension; ``"auto"``: hull when ``k <= 6``.

    Returns
    -------
    list of Facet
        One per facet; coincident rows (duplicate units, or a unit on a domain face) form
        one facet.

    Raises
    ------
    InvalidParameterError
        If ``region`` is not a Region or ``method`` is not one of the methods.
    SolverError
        If an LP of the ``"lp"`` method fails.

    See Also
    --------
    neighbors : the regions across the facets.
    """
    if not isinstance(region, Region):
        raise invalid("facets", "region", "a Region (see region_at)", type(region).__name__)
    check_option(method, METHODS, func="facets", name="method")
    data = region.facet_data if method == "auto" else compute_facets(
        region.A, region.b, region.point, region.space, method, region.candidates)
    return [_facet(region, rows, p) for rows, p in zip(data.groups, data.points)]


def _facet(region: Region, rows: np.ndarray, point: np.ndarray) -> Facet:
    src = region.source[rows]
    units = tuple(int(u) for u in src[src >= 0])
    faces = tuple(int(-s - 1) for s in src[src < 0])
    label = " = ".join(_row_label(region.space.net, int(s)) for s in src)
    r0 = int(rows[0])
    return Facet(tuple(int(r) for r in rows), units, faces, region.A[r0].copy(), float(region.b[r0]),
                 np.asarray(point), label)


def crossed_codes(region: Region, groups: list, points: np.ndarray) -> list:
    """Codes of the regions across facets (``groups`` of rows, relative-interior
    ``points`` of shape (n_facets, k)); None across a domain face.

    Every unit of a facet's earliest layer takes the piece its row names; by continuity
    every other unit keeps its piece, except units that may change with them: units of
    later layers on the same facet, and units tied on a boundary throughout the region
    (``region.tied_units``). Those take their piece at a point just across the facet
    (the facet point plus a tiny step along the outward normal; one batched forward pass
    for all facets), where the boundary rule decides ties.

    Raises
    ------
    IndexError
        If ``groups`` name rows the region does not have.
    ValueError
        If ``points`` is not of shape (n_facets, k).
    """
    plan = crossing_plan(region.space.net, region.code, region.source, region.across, region.A, region.tied_units,
                         region.radius, groups, points)
    return settle_crossings(region.space, [plan])[0]


def crossing_plan(net, code: np.ndarray, source: np.ndarray, across: np.ndarray, A: np.ndarray, tied: np.ndarray,
                  radius: float, groups: list, points: np.ndarray) -> tuple[list, list, list]:
    """The first step of :func:`crossed_codes`, on a region's arrays. See
    :func:`settle_crossings`.

    Parameters
    ----------
    net : PWLNet
    code : ndarray of shape (n_units,), int8
    source, across : ndarray of shape (m,)
        Unit of each row (negative: a domain face) and its piece across the row.
    A : ndarray of shape (m, k)
        The region's rows.
    tied : ndarray of int
        Units tied on their boundary throughout the region, increasing.
    radius : float
        Chebyshev radius (sets the probes' step).
    groups : list of ndarray of int
        Each facet's rows.
    points : ndarray of shape (n_facets, k)
        A relative-interior point of each facet.

    Returns
    -------
    codes : list of (ndarray of shape (n_units,) or None)
        Per facet, the code across (None across a domain face).
    recheck : list of (int, ndarray of int)
        Facets whose units a probe must decide, with those units.
    probes : list of ndarray of shape (k,)
        The probes of ``recheck``, in order.

    Raises
    ------
    IndexError
        If ``groups`` name rows the arrays do not have.
    """
    tied_layers = net.unit_layer[tied]
    codes, recheck, probes = [], [], []
    for rows, point in zip(groups, points):
        src = source[rows]
        if src.min() < 0:
            codes.append(None)
            continue
        new = code.copy()
        if src.size == 1:  # one unit flips; the tied units of later layers may follow it
            new[src] = across[rows]
            later = tied[tied_layers > net.unit_layer[src[0]]]
        else:
            layers = net.unit_layer[src]
            first = layers == layers.min()
            new[src[first]] = across[rows][first]
            # A unit named by several coincident rows (equal competitors in a max-pool
            # window) has several candidate pieces: the tie rule decides it, at the probe.
            named, counts = np.unique(src[first], return_counts=True)
            later = np.union1d(np.union1d(src[~first], named[counts > 1]), tied[tied_layers > layers.min()])
        if later.size:
            recheck.append((len(codes), later))
            step = tol.CROSSING_STEP * max(float(np.max(np.abs(point), initial=0.0)), radius)
            probes.append(point + step * A[rows[0]])
        codes.append(new)
    return codes, recheck, probes


def settle_crossings(space, plans: list) -> list:
    """The second step of :func:`crossed_codes`, for the plans of one or many regions
    (from :func:`crossing_plan`): the units each plan must recheck take their pieces at
    its probes (one forward pass for all); returns every plan's codes, completed.

    Raises
    ------
    None of its own
        Inputs come from :func:`crossing_plan`.
    """
    probes = [p for _, _, plan_probes in plans for p in plan_probes]
    found = space.net.codes(space.to_input(np.array(probes))) if probes else np.zeros((0, space.net.n_units), np.int8)
    return apply_probes(plans, found)


def apply_probes(plans: list, probe_codes: np.ndarray) -> list:
    """The plans' codes with the units to recheck read from ``probe_codes`` (the codes
    of the plans' probes, in order); returns every plan's codes.

    Raises
    ------
    None of its own
        Inputs come from :func:`crossing_plan`.
    """
    found = iter(probe_codes)
    for codes, recheck, _ in plans:
        for (i, units), probe_code in zip(recheck, found):
            codes[i][units] = probe_code[units]
    return [codes for codes, _, _ in plans]


def sliver_notes(net, source: np.ndarray, A: np.ndarray, b: np.ndarray, groups: list) -> list[str]:
    """Reports of facets whose coincident rows of one layer are close but not identical:
    the regions between them are thinner than the tolerance and are skipped (rows ``A``,
    ``b`` of a region with their ``source`` units; ``groups``: its facets' rows).

    Raises
    ------
    IndexError
        If ``groups`` name rows the arrays do not have.
    """
    notes = []
    for rows in groups:
        if len(rows) < 2:
            continue
        src = source[rows]
        units = src[src >= 0]
        layers = net.unit_layer[units]
        same = units[layers == layers.min()] if units.size else units
        keep = np.isin(source[rows], same)
        A_g, b_g = A[rows][keep], b[rows][keep]
        if same.size > 1 and (np.any(A_g != A_g[0]) or np.any(b_g != b_g[0])):
            notes.append(f"rows of units {[net.unit_label(int(u)) for u in np.unique(same)]} are distinct but "
                          "closer than the tolerance: the sliver between them is treated as their common boundary")
    return notes


def neighbors(region: Region) -> list[Neighbor]:
    """The regions adjacent to ``region`` across each of its inner facets.

    Facets on the domain's boundary have no neighbour. A neighbour whose region turns
    out empty (a degenerate configuration) is reported with a :class:`PolylensWarning`
    naming the facet, and left out.

    Returns
    -------
    list of Neighbor
        In the order of :func:`facets`.

    Raises
    ------
    InvalidParameterError
        If ``region`` is not a Region.

    See Also
    --------
    facets : the facets crossed.
    polylens.enumerate_regions : every region, by crossing facets from a seed.
    """
    if not isinstance(region, Region):
        raise invalid("neighbors", "region", "a Region (see region_at)", type(region).__name__)
    data = region.facet_data
    out = []
    for rows, point, code in zip(data.groups, data.points, crossed_codes(region, data.groups, data.points)):
        if code is None:
            continue
        facet = _facet(region, rows, point)
        try:
            out.append(Neighbor(facet, build_region(region.space, code, hint=(point, region.A[rows[0]]))))
        except InfeasibleRegionError as err:
            warnings.warn(f"no region across facet {facet.label}: {err}", PolylensWarning, stacklevel=2)
    return out
