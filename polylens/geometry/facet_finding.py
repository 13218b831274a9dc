"""Facets: the irredundant rows of a region's H-representation.

Two exact methods share one cheap pre-pass (rows whose half-space holds the whole domain
box are redundant; coincident rows are grouped and decided together):

- ``"hull"`` (default for ``k <= HULL_MAX_DIM``): no LP. Shift the interior point ``c``
  to the origin; row ``a t <= b`` becomes the polar point ``a / (b - a c)``. The region's
  facets are exactly the polar points that are vertices of the convex hull of the polar
  points and the origin (Qhull), the hull's facets give the region's vertices and extreme
  rays, and the region is bounded iff the origin lies strictly inside that hull.
- ``"lp"`` (any dimension): rays shot from ``c`` find facets for free (the first row a
  ray hits is a facet); every undecided row then gets a Clarkson test, one LP against the
  facets found so far: either the row is redundant, or a ray toward the LP's optimum
  finds a new facet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_option
from polylens.errors import SolverError
from polylens.geometry.space import ROUNDOFF, coordinate_sum, lp_length, row_dot, slack_tolerance

__all__ = ["Facet", "FacetData", "compute_facets", "box_candidates", "box_holds", "same_halfspace",
           "HULL_MAX_DIM", "METHODS"]

#: Largest dimension in which ``method="auto"`` uses the LP-free hull method.
HULL_MAX_DIM = 6

METHODS = ("auto", "hull", "lp")

_N_RANDOM_RAYS = 64


@short_repr
@dataclass(frozen=True)
class Facet:
    """One facet of a region.

    Attributes
    ----------
    rows : tuple of int
        Indices into ``region.A`` of the (coincident) rows that define this facet.
    units : tuple of int
        Units whose boundary it is (indices into the code); empty for a domain face.
    domain_faces : tuple of int
        Domain faces that coincide with it (empty for an inner facet).
    normal : ndarray of shape (k,)
        Outward unit normal.
    offset : float
        The facet lies on ``normal @ t == offset``.
    point : ndarray of shape (k,)
        A point in the relative interior of the facet.
    label : str
        Readable description ("layer 0 (1) unit 3", "domain face 2", ...).
    """

    rows: tuple[int, ...]
    units: tuple[int, ...]
    domain_faces: tuple[int, ...]
    normal: np.ndarray
    offset: float
    point: np.ndarray
    label: str


@short_repr
@dataclass(frozen=True)
class FacetData:
    """Facets of a region as arrays (what the engine uses internally).

    Attributes
    ----------
    groups : list of ndarray of int
        For each facet, the indices of its coincident rows in ``region.A``.
    points : ndarray of shape (n_facets, k)
        A relative-interior point of each facet.
    bounded : bool
    vertices : ndarray of shape (n_vertices, k) or None
        Finite vertices of the region (``"hull"`` method only; None also where Qhull
        cannot resolve them: a region of a bounded domain that it sees as unbounded).
    lp_solves : int
        LPs this computation solved.
    method : str
    """

    groups: list
    points: np.ndarray
    bounded: bool
    vertices: np.ndarray | None
    lp_solves: int
    method: str


def compute_facets(A, b, point, space, method: str = "auto", candidates=None) -> FacetData:
    """Irredundant rows of ``{A t <= b}`` given a strictly interior ``point``.

    Parameters
    ----------
    A : ndarray of shape (m, k)
        Unit-norm rows.
    b : ndarray of shape (m,)
    point : ndarray of shape (k,)
        Strictly interior point (e.g. the Chebyshev centre).
    space : Space
        Supplies the domain's bounding box and the LP back end.
    method : {"auto", "hull", "lp"}
    candidates : ndarray of int, optional
        Rows not already known to be redundant (default: :func:`box_candidates`).

    Returns
    -------
    FacetData

    Raises
    ------
    InvalidParameterError
        If ``method`` is not one of :data:`METHODS`.
    SolverError
        If an LP of the ``"lp"`` method (also the fallback where Qhull cannot decide)
        fails, or no generic ray toward an LP's optimum is found.
    """
    check_option(method, METHODS, func="facets", name="method")
    k = A.shape[1]
    cand = box_candidates(A, b, space.box) if candidates is None else candidates
    use_hull = method == "hull" or (method == "auto" and k <= HULL_MAX_DIM)
    where = float(np.max(np.abs(point), initial=0.0))
    result = None
    if use_hull:
        result = _hull_facets(A[cand], _slack(A[cand], b[cand], point), point)
    used = "hull" if result is not None else "lp"
    if result is None:
        distinct = cand[_distinct(A[cand], b[cand], where)]
        result = _lp_facets(A[distinct], b[distinct], _slack(A[distinct], b[distinct], point), point, space)
        local, points, bounded, vertices, lps = result
        result = (np.searchsorted(cand, distinct[local]), points, bounded, vertices, lps)
    local, points, bounded, vertices, lps = result
    if used == "hull" and space.bounded_domain and not bounded:
        # Qhull saw a ray in a region the domain bounds: the far vertices are beyond its
        # precision (a strip far longer than it is wide), so they are unknown.
        vertices = None
    groups = _coincident_with(A[cand], b[cand], local, where)
    keep = _genuine(A[cand], b[cand], groups, points)
    # Facets in the order of their first rows: whichever of its coincident rows the hull
    # kept, a facet comes in the same place.
    order = sorted(np.flatnonzero(keep).tolist(), key=lambda i: int(groups[i][0]))
    return FacetData([cand[groups[i]] for i in order], points[order],
                     bounded or space.bounded_domain, vertices, lps, used)


def _slack(A, b, point) -> np.ndarray:
    """Slack of every row at the interior ``point``, kept above the tolerance (relative
    to the numbers compared) so that a row through the point does not divide by 0
    (products by :func:`~polylens.geometry.space.row_dot`, as the wave search's)."""
    floor = slack_tolerance(b, point, tol.MIN_RADIUS)
    return np.maximum(b - row_dot(A, point), np.maximum(floor, np.finfo(np.float64).tiny))


def _genuine(A, b, groups, points) -> np.ndarray:
    """Which facets are genuine: a relative-interior point of a facet lies on no row
    outside its own coincident group. A row that only touches a lower-dimensional face
    (weakly redundant, kept by round-off) fails: its point lies on other rows too."""
    if not groups:
        return np.zeros(0, bool)
    size = tol.REDUNDANCY * np.abs(b)[None, :] + ROUNDOFF * np.abs(points).max(axis=1, initial=0.0)[:, None]
    tight = np.abs(b[None, :] - row_dot(A[None, :, :], points)) <= size
    for i, g in enumerate(groups):
        tight[i, g] = False
    return ~tight.any(axis=1)


def box_candidates(A, b, box) -> np.ndarray:
    """Rows that can touch the region: those the bounding box does not satisfy whole.

    Parameters
    ----------
    box : ndarray of shape (2, k) or None
        Per-coordinate bounds (may hold infinities); None keeps every row.

    Returns
    -------
    ndarray of int
        Indices of the rows kept, increasing.

    Raises
    ------
    ValueError
        If ``box`` does not broadcast against the rows of ``A`` (shape (2, k)).
    """
    if box is None:
        return np.arange(A.shape[0])
    return np.flatnonzero(~box_holds(A, b, box))


def box_holds(A: np.ndarray, b: np.ndarray, box) -> np.ndarray:
    """Which rows ``A t <= b`` (shapes (..., m, k) and (..., m)) hold on the whole box
    ``(lo, hi)`` (each of shape (k,), may hold infinities), with a tolerance relative to
    the numbers compared.

    Raises
    ------
    ValueError
        If the shapes do not broadcast (numpy's own error).
    """
    lo, hi = box
    with np.errstate(invalid="ignore"):
        reach = np.maximum(A * hi, A * lo)  # the larger is the product with the bound A points to
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            reach = np.where(A == 0, 0.0, reach)
        reach = coordinate_sum(reach)
        return reach < b - (tol.REDUNDANCY * np.abs(b) + ROUNDOFF * np.abs(reach))


def same_halfspace(A1: np.ndarray, b1: np.ndarray, A2: np.ndarray, b2: np.ndarray, where) -> np.ndarray:
    """Whether rows ``A1 t <= b1`` and ``A2 t <= b2`` (shapes (..., k) and (...),
    broadcasting) are the same half-space, near a region at distance ``where`` (sup
    norm, broadcasting against ``b1``) from the origin: their normals within
    ``COINCIDENT``, their offsets within ``COINCIDENT`` of the larger plus the round-off
    of a product there.

    Raises
    ------
    ValueError
        If the shapes do not broadcast (numpy's own error).
    """
    with np.errstate(invalid="ignore"):
        diff = np.abs(A1 - A2).max(axis=-1, initial=0.0)
        size = tol.COINCIDENT * np.maximum(np.abs(b1), np.abs(b2)) + ROUNDOFF * where
        return (diff <= tol.COINCIDENT) & (np.abs(b1 - b2) <= size)


def _close(A, b, rows, where: float) -> np.ndarray:
    """Boolean matrix (len(rows), m): row i of A coincides with row ``rows[r]``, near a
    region at distance ``where`` (sup norm) from the origin."""
    return same_halfspace(A[None, :, :], b[None, :], A[rows][:, None, :], b[rows][:, None], where)


def _coincident_with(A, b, reps, where: float) -> list:
    """For each representative row, every row that is the same half-space."""
    if len(reps) == 0:
        return []
    return [np.flatnonzero(r) for r in _close(A, b, np.asarray(reps), where)]


def _distinct(A, b, where: float) -> np.ndarray:
    """Indices of one row per class of coincident rows (the first of each)."""
    m = A.shape[0]
    if m == 0:
        return np.zeros(0, int)
    close = _close(A, b, np.arange(m), where)
    return np.flatnonzero(~np.any(np.tril(close, -1), axis=1))


def _hull_facets(A, slack, point):
    """Polar-hull method; returns None when Qhull cannot decide (then LPs take over)."""
    m, k = A.shape
    if m == 0:
        return np.zeros(0, int), np.zeros((0, k)), False, np.zeros((0, k)), 0
    hull, basis = None, None
    if m >= k and k >= 2:
        try:
            hull = ConvexHull(np.vstack([np.zeros(k), A / slack[:, None]]))
        except QhullError:
            hull = None  # flat: the rows do not span R^k, or Qhull's precision gave up
    if hull is None:
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        rank = int(np.sum(sv > tol.RANK * sv[0]))
        if rank == k and k >= 2:
            return None
        basis = vt[:rank].T
        polar = (A @ basis) / slack[:, None]
        if rank == 1:
            return _facets_1d(polar[:, 0], basis, point, rank == k)
        try:
            hull = ConvexHull(np.vstack([np.zeros(rank), polar]))
        except QhullError:
            return None
    rank = hull.points.shape[1]
    normals, offsets = hull.equations[:, :-1], hull.equations[:, -1]
    ray = -offsets <= tol.POLAR_RAY * np.abs(hull.points).max()
    finite_vertices = normals[~ray] / -offsets[~ray, None]
    simplices = hull.simplices
    n_pts = m + 1
    idx = simplices[~ray].ravel()
    counts = np.bincount(idx, minlength=n_pts).astype(float)
    rep_finite = np.repeat(finite_vertices, rank, axis=0)
    sums = np.stack([np.bincount(idx, weights=rep_finite[:, j], minlength=n_pts) for j in range(rank)], axis=1)
    verts = hull.vertices[hull.vertices != 0]
    local = np.sort(verts) - 1
    ids = local + 1
    pts = sums[ids] / np.maximum(counts[ids], 1.0)[:, None]
    if np.any(ray):
        ridx = simplices[ray].ravel()
        rep_ray = np.repeat(normals[ray], rank, axis=0)
        ray_sums = np.stack([np.bincount(ridx, weights=rep_ray[:, j], minlength=n_pts) for j in range(rank)], axis=1)
        reach = np.abs(finite_vertices).max() if finite_vertices.size else 1.0
        ray_norm = np.linalg.norm(ray_sums[ids], axis=1, keepdims=True)
        pts = pts + ray_sums[ids] / np.where(ray_norm > 0, ray_norm, 1.0) * reach
    bounded = basis is None and not np.any(ray)
    if basis is None:
        return local, point + pts, bounded, point + finite_vertices, 0
    return local, point + pts @ basis.T, bounded, point + finite_vertices @ basis.T, 0


def _facets_1d(values, basis, point, full):
    """Rank-one case: the rows are parallel; at most one facet on each side."""
    local, pts = [], []
    for side in (1.0, -1.0):
        mask = side * values > 0
        if np.any(mask):
            i = int(np.flatnonzero(mask)[np.argmax(side * values[mask])])
            local.append(i)
            pts.append(point + basis[:, 0] / values[i])
    k = basis.shape[0]
    bounded = full and len(local) == 2
    verts = np.array(pts) if bounded else np.zeros((0, k))
    return np.array(local, int), np.array(pts).reshape(-1, k), bounded, verts, 0


def _first_hits(A, slack, point, directions):
    """For each ray ``point + lam * d``, the first row hit and the hit point.

    Returns (rows, points) for the rays whose first hit is unique (no tie), as arrays.
    """
    speed = directions @ A.T
    norms = np.linalg.norm(directions, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(speed > tol.RAY_SPEED * norms[:, None], slack / speed, np.inf)
    if lam.shape[1] == 0:
        return np.zeros(0, int), np.zeros((0, A.shape[1]))
    first = np.argmin(lam, axis=1)
    best = lam[np.arange(lam.shape[0]), first]
    lam2 = lam.copy()
    lam2[np.arange(lam.shape[0]), first] = np.inf
    second = lam2.min(axis=1)
    with np.errstate(invalid="ignore"):
        reach = best + float(np.max(np.abs(point), initial=0.0)) / norms
        ok = np.isfinite(best) & ~(second - best <= ROUNDOFF * reach)
    return first[ok], point + best[ok, None] * directions[ok]


def _lp_facets(A, b, slack, point, space):
    """Ray shooting, then one Clarkson LP per undecided row (on rows divided by
    :func:`~polylens.geometry.space.lp_length`, so the LP sees numbers of order 1)."""
    m, k = A.shape
    rng = np.random.default_rng(0)
    directions = np.vstack([A, np.eye(k), -np.eye(k), rng.standard_normal((_N_RANDOM_RAYS, k))])
    hit_rows, hit_points = _first_hits(A, slack, point, directions)
    found: dict[int, np.ndarray] = {}
    for r, p in zip(hit_rows.tolist(), hit_points):
        found.setdefault(r, p)
    lps = 0
    if m:
        length = lp_length(b)
        b_lp = b / length
        session = space.backend.session(A, b_lp)
        undecided = [j for j in range(m) if j not in found]
        if len(undecided) > 2 * k:
            box, lps = _region_box(session, k)
            keep = set(box_candidates(A, b, box * length).tolist())
            undecided = [j for j in undecided if j in keep]
        where = float(np.max(np.abs(point), initial=0.0)) / length
        while undecided:
            j = undecided.pop()
            upper = np.full(m, np.inf)
            facet_rows = np.fromiter(found, int, len(found))
            upper[facet_rows] = b_lp[facet_rows]
            upper[j] = b_lp[j] + max(abs(b_lp[j]), where, 1.0)
            res = session.solve(-A[j], row_upper=upper)
            lps += 1
            if not res.success:
                raise SolverError(f"Clarkson LP for row {j} failed: {res.message}")
            if A[j] @ res.x <= b_lp[j] + tol.REDUNDANCY * (abs(b_lp[j]) + np.max(np.abs(res.x))):
                continue
            new = _ray_toward(A, slack, point, res.x * length, rng)
            if new is None:
                raise SolverError(f"could not find a generic ray toward the optimum of row {j}")
            found.setdefault(new[0], new[1])
            if new[0] != j:
                undecided.append(j)
    local = np.array(sorted(found), int)
    points = np.array([found[i] for i in local]).reshape(-1, k)
    bounded, extra = (True, 0) if space.bounded_domain else _is_bounded(A, space)
    return local, points, bounded, None, lps + extra


def _region_box(session, k: int):
    """Tight bounding box of the region (2k LPs, ±inf where unbounded), shape (2, k)."""
    box = np.empty((2, k))
    for i in range(k):
        for side, sign in ((0, 1.0), (1, -1.0)):
            c = np.zeros(k)
            c[i] = sign
            res = session.solve(c)
            box[side, i] = sign * res.fun if res.success else -sign * np.inf
    return box, 2 * k


def _ray_toward(A, slack, point, target, rng):
    """First row hit on the ray from ``point`` toward ``target`` (perturbed on ties)."""
    d = target - point
    for attempt in range(8):
        jitter = 0 if attempt == 0 else rng.standard_normal(d.shape) * tol.RAY_JITTER * np.linalg.norm(d) * attempt
        rows, pts = _first_hits(A, slack, point, (d + jitter)[None, :])
        if rows.size:
            return int(rows[0]), pts[0]
    return None


def _is_bounded(A, space) -> tuple[bool, int]:
    """Stiemke test: ``{A t <= b}`` is bounded iff A has full column rank and some
    ``lam >= 1`` has ``A.T @ lam == 0``. Returns (bounded, LPs solved)."""
    m, k = A.shape
    if m == 0 or np.linalg.matrix_rank(A) < k:
        return False, 0
    res = space.backend.solve(
        np.ones(m), np.vstack([A.T, -A.T]), np.zeros(2 * k), np.ones(m), np.full(m, np.inf)
    )
    return bool(res.success), 1
