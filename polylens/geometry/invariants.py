"""Invariant checkers of the exact results, as ``regioncam`` has them.

:func:`check_enumeration` and :func:`check_plane` re-verify a result from the net
itself (a forward pass, not the code that built it) and raise
:class:`~polylens.errors.InvariantError` naming the first violation:

- every region's interior point has the region's code under a forward pass, and the
  region's affine map gives the network's output there;
- edges join two distinct regions, appear once, and the codes of the two regions differ
  exactly in the units crossed (plus units tied on a boundary throughout a region, whose
  piece is decided afresh across every facet);
- with a bounded domain in low dimension, the regions' areas or volumes add up to the
  domain's.
"""

from __future__ import annotations

import numpy as np

from polylens import tolerances as tol
from polylens.errors import InvariantError

__all__ = ["check_enumeration", "check_plane"]

#: Largest dimension in which volumes are summed.
_MAX_VOLUME_DIM = 3


def _fail(what: str, message: str):
    raise InvariantError(f"{what}.check: {message}")


def _check_codes(what: str, net, inputs: np.ndarray, codes: np.ndarray, kind: str) -> None:
    got = net.codes(inputs)
    bad = np.flatnonzero(np.any(got != codes, axis=1))
    if bad.size:
        i = int(bad[0])
        units = np.flatnonzero(got[i] != codes[i])[:5].tolist()
        _fail(what, f"{kind} of region {i} has another code under a forward pass "
                    f"(units {units} differ; {bad.size} regions in all)")


def _check_outputs(what: str, net, inputs: np.ndarray, points: np.ndarray, weight: np.ndarray,
                   bias: np.ndarray) -> None:
    """The affine maps (``weight`` (n, n_out, k), ``bias``) at ``points`` (n, k) give the
    network's outputs at ``inputs``, relative to the magnitude of the terms."""
    pre, want = net.program.run(inputs)
    outputs = np.einsum("nok,nk->no", weight, points) + bias
    terms = np.abs(weight).sum(axis=2) * np.abs(points).max(axis=1)[:, None] + np.abs(bias)
    size = (np.abs(want) + terms).max(axis=1, initial=0.0)
    # A forward pass is only as accurate as the numbers it adds up: its pre-activations.
    inner = np.max([np.abs(z).max(axis=1) for z in pre], axis=0, initial=0.0) if pre else np.zeros(len(size))
    allowed = tol.CHECK_RELATIVE * size + tol.CHECK_ROUNDING * np.finfo(np.float64).eps * inner
    bad = np.flatnonzero(~(np.abs(want - outputs).max(axis=1, initial=0.0) <= allowed))
    if bad.size:
        i = int(bad[0])
        _fail(what, f"the affine map of region {i} gives {outputs[i].tolist()} at its interior point, "
                    f"the network {want[i].tolist()}")


def _check_edges(what: str, n: int, edges: np.ndarray, edge_units: list, codes: np.ndarray, tied) -> None:
    if edges.shape[0] != len(edge_units):
        _fail(what, f"{edges.shape[0]} edges but {len(edge_units)} entries of edge_units")
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        _fail(what, "an edge names a region that does not exist")
    loops = np.flatnonzero(edges[:, 0] == edges[:, 1])
    if loops.size:
        _fail(what, f"edge {int(loops[0])} joins region {int(edges[loops[0], 0])} to itself")
    key = np.sort(edges, axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        e = int(np.sort(first[counts > 1])[0])
        _fail(what, f"regions {key[e].tolist()} are joined by more than one edge")
    for e, ((a, b), units) in enumerate(zip(edges.tolist(), edge_units)):
        differ = set(np.flatnonzero(codes[a] != codes[b]).tolist())
        if not differ:
            _fail(what, f"edge {e} joins regions {a} and {b}, which have the same code")
        allowed = set(units)
        if differ <= allowed and (allowed & differ):
            continue
        extra = differ - allowed - set(tied(a)) - set(tied(b))
        if extra or not allowed & differ:
            _fail(what, f"edge {e} (regions {a} and {b}) crosses units {sorted(allowed)}, but their codes "
                        f"differ in units {sorted(differ)}")


def _domain_volume(domain, k: int) -> float:
    """Volume of a bounded domain (a Box, or a Polyhedron: scipy's half-space
    intersection around its Chebyshev centre, found by scipy's own LP)."""
    from scipy.optimize import linprog
    from scipy.spatial import ConvexHull, HalfspaceIntersection

    from polylens.geometry.domain import Box

    if isinstance(domain, Box):
        return domain.volume(k)
    A, b = domain.constraints(k)
    if k == 1:
        upper, lower = b[A[:, 0] > 0] / A[A[:, 0] > 0, 0], b[A[:, 0] < 0] / A[A[:, 0] < 0, 0]
        return float(upper.min() - lower.max())
    c = np.zeros(k + 1)
    c[-1] = -1.0
    lp = linprog(c, A_ub=np.hstack([A, np.ones((A.shape[0], 1))]), b_ub=b, bounds=[(None, None)] * k + [(0, None)])
    cut = HalfspaceIntersection(np.hstack([A, -b[:, None]]), lp.x[:k])
    return float(ConvexHull(cut.intersections).volume)


def _region_volume(vertices: np.ndarray) -> float:
    from scipy.spatial import ConvexHull

    if vertices.shape[1] == 1:
        return float(vertices.max() - vertices.min()) if vertices.size else 0.0
    return float(ConvexHull(vertices).volume)


def check_enumeration(res) -> None:
    """Re-verify an :class:`~polylens.EnumerationResult` (see the module notes).

    Raises
    ------
    InvariantError
        Naming the first violation.
    """
    what = "EnumerationResult"
    space, net, n = res.space, res.space.net, res.n_regions
    if n == 0:
        if res.complete:
            _fail(what, "a complete result without any region")
        return
    if not np.all(np.isfinite(res.points)) or np.any(~(res.radii > 0)):
        _fail(what, "a region without a finite interior point and a positive radius")
    inside = space.domain_A @ res.points.T <= space.domain_b[:, None]
    if space.domain_b.size and not np.all(inside):
        _fail(what, f"the interior point of region {int(np.flatnonzero(~inside.all(axis=0))[0])} lies outside "
                    "the domain")
    inputs = space.to_input(res.points)
    _check_codes(what, net, inputs, res.codes, "the interior point")
    _check_outputs(what, net, inputs, res.points, res.out_weight, res.out_bias)
    tied: dict[int, np.ndarray] = {}

    def tied_units(i: int) -> np.ndarray:
        if i not in tied:
            tied[i] = space.hrep(res.codes[i]).tied_units
        return tied[i]

    _check_edges(what, n, res.edges, res.edge_units, res.codes, tied_units)
    degree = np.bincount(res.edges.ravel(), minlength=n)
    over = np.flatnonzero(degree > res.n_facets)
    if over.size:
        i = int(over[0])
        _fail(what, f"region {i} has {int(degree[i])} neighbours but {int(res.n_facets[i])} facets")
    if (res.complete and space.bounded_domain and space.dim <= _MAX_VOLUME_DIM
            and all(v.shape[0] > space.dim for v in res.vertices)):
        total = sum(_region_volume(v) for v in res.vertices)
        domain = _domain_volume(space.domain, space.dim)
        if abs(total - domain) > tol.CHECK_RELATIVE * domain:
            _fail(what, f"the regions' volumes add up to {total:.12g}, the domain's is {domain:.12g}")


def check_plane(part) -> None:
    """Re-verify a :class:`~polylens.PlanePartition` (see the module notes).

    Raises
    ------
    InvariantError
        Naming the first violation.
    """
    what = "PlanePartition"
    net, n = part.net, part.n_regions
    if n == 0:
        _fail(what, "no region")
    if part.codes.shape[0] != n or part.out_weight.shape[0] != n:
        _fail(what, f"{n} polygons but {part.codes.shape[0]} codes and {part.out_weight.shape[0]} maps")
    small = [i for i, p in enumerate(part.polygons) if p.shape[0] < 3]
    if small:
        _fail(what, f"region {small[0]} has fewer than 3 vertices")
    centroids = part.centroids()
    inputs = part.origin + centroids @ part.basis.T
    _check_codes(what, net, inputs, part.codes, "the centroid")
    _check_outputs(what, net, inputs, centroids, part.out_weight, part.out_bias)
    _check_edges(what, n, part.edges, part.edge_units, part.codes, lambda i: ())
    areas = part.areas()
    if np.any(~(areas > 0)):
        _fail(what, f"region {int(np.flatnonzero(~(areas > 0))[0])} has no area")
    lo, hi = part.box
    domain = _domain_volume(part.domain, 2)
    total = float(areas.sum())
    if abs(total - domain) > tol.CHECK_RELATIVE * domain:
        _fail(what, f"the regions' areas add up to {total:.12g}, the domain's is {domain:.12g}")
    outside = np.flatnonzero(np.any((centroids < lo) | (centroids > hi), axis=1))
    if outside.size:
        _fail(what, f"the centroid of region {int(outside[0])} lies outside the domain's box")
