"""Exact 2-D planes: every region meeting a box of a plane, as polygons.

``plane_partition`` cuts the box of ``(s, t)`` on the plane ``x = origin + s u + t v``
layer by layer with the frozen affine forms (:mod:`polylens.geometry.splitting`; no LP,
vectorised over faces) and returns each region as a convex polygon with the affine map
the network applies there, the edges between regions with the units crossed, and the
exact decision boundary of a classifier. It works for every architecture the adapter
supports. ``method="enumerate"`` walks the region graph instead (one region at a time,
an independent computation of the same partition).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_bool, check_option, invalid
from polylens.errors import InvalidParameterError, PolylensError
from polylens.geometry.domain import Box, Polyhedron, as_domain
from polylens.geometry.enumeration import enumerate_regions
from polylens.geometry.invariants import check_plane
from polylens.geometry.polygons import (
    clip_halfplane,
    line_in_polygon,
    order_convex,
    polygon_area,
)
from polylens.geometry.space import ROUNDOFF, Space, one_input
from polylens.geometry.splitting import split_plane
from polylens.models.predict import predicted_class
from polylens.models.pwlnet import PWLNet

__all__ = ["PlanePartition", "plane_partition", "decision_segments"]


@short_repr
@dataclass(frozen=True)
class PlanePartition:
    """Regions of a plane box as polygons (coordinates ``(s, t)`` of the plane).

    Attributes
    ----------
    polygons : list of ndarray of shape (n_i, 2)
        Vertices of each region, counter-clockwise.
    codes : ndarray of shape (n_regions, n_units), int8
    out_weight : ndarray of shape (n_regions, n_outputs, 2)
    out_bias : ndarray of shape (n_regions, n_outputs)
        The output on region ``i`` is ``out_weight[i] @ (s, t) + out_bias[i]``.
    edges : ndarray of shape (n_edges, 2), int
        Adjacent regions.
    edge_units : list of tuple of int
        Unit(s) crossed on each edge.
    edge_segments : ndarray of shape (n_edges, 2, 2)
        Ends of each shared edge.
    decision_boundary : ndarray of shape (n_segments, 2, 2)
        Segments where the predicted class changes (one output: ``output == 0``).
    box : ndarray of shape (2, 2)
        ``[[s_lo, t_lo], [s_hi, t_hi]]``.
    seconds : float
        Compute time.
    method : str
        ``"split"`` or ``"enumerate"`` (see :func:`plane_partition`).
    origin : ndarray of shape (input_dim,)
    basis : ndarray of shape (input_dim, 2)
        The plane is ``x = origin + basis @ (s, t)``.
    domain : Box or Polyhedron
        The domain of ``(s, t)``.
    net : PWLNet
    """

    polygons: list
    codes: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray
    edges: np.ndarray
    edge_units: list
    edge_segments: np.ndarray
    decision_boundary: np.ndarray
    box: np.ndarray
    seconds: float
    method: str
    origin: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    domain: Box | Polyhedron = field(repr=False)
    net: PWLNet = field(repr=False)

    @property
    def n_regions(self) -> int:
        return len(self.polygons)

    def areas(self) -> np.ndarray:
        """Area of every polygon, shape (n_regions,).

        Raises
        ------
        None of its own
        """
        return np.array([polygon_area(p) for p in self.polygons])

    def centroids(self) -> np.ndarray:
        """Vertex centroid of every polygon (an interior point), shape (n_regions, 2).

        Raises
        ------
        None of its own
        """
        return np.array([p.mean(axis=0) for p in self.polygons]).reshape(-1, 2)

    def predicted_class(self) -> np.ndarray:
        """Class at each region's centroid (arg-max, or ``output > 0`` for one output).

        Raises
        ------
        None of its own
        """
        out = np.einsum("nok,nk->no", self.out_weight, self.centroids()) + self.out_bias
        return predicted_class(out)

    def check(self) -> None:
        """Re-verify the partition from the net: every centroid has its region's code
        and output, neighbours differ exactly in the units crossed, and the areas add up
        to the domain's (see :mod:`polylens.geometry.invariants`).

        Raises
        ------
        InvariantError
            Naming the first violation.
        """
        check_plane(self)

    def gradient_norms(self) -> np.ndarray:
        """Frobenius norm of the output map's slope on every region, shape (n_regions,).

        Raises
        ------
        None of its own
        """
        return np.linalg.norm(self.out_weight.reshape(self.n_regions, -1), axis=1)


METHODS = ("split", "enumerate")


def plane_partition(net: PWLNet, origin=None, u=None, v=None, domain=(0.0, 1.0), *, method: str = "split",
                    progress: bool = True, solver: str = "highs", box=None) -> PlanePartition:
    """Every region meeting a domain of a plane, as exact polygons.

    Parameters
    ----------
    net : PWLNet
    origin : array-like of shape (input_dim,) or input_shape, optional
        A point of the plane (default 0).
    u, v : array-like of shape (input_dim,) or input_shape, optional
        Directions of the plane (linearly independent). For a net with 2-D input both may
        be omitted: the plane is the input space itself.
    domain : Box, (lo, hi) or Polyhedron, default=(0, 1)
        Bounds of the plane coordinates ``(s, t)`` (see :func:`polylens.as_domain`);
        scalars apply to both. A bounded :class:`~polylens.Polyhedron` needs
        ``method="enumerate"``.
    method : {"split", "enumerate"}, default="split"
        ``"split"`` cuts the box layer by layer, all faces at once, from the values of
        every layer's inputs at the mesh vertices (no LP); the output map of a region is
        fitted to the exact outputs at its vertices (exact frozen forms for faces too
        thin for the fit, see ``tolerances.THIN_FACE``). A vertex within
        ``tolerances.VERTEX_ON_LINE`` of a breakpoint, relative to the unit's own range
        over the box, counts as lying on it, so regions thinner than that are not
        resolved. ``"enumerate"`` walks the region graph from facet to facet (hull
        method), an independent check of the same partition.
    progress : bool, default=True
        Show a progress bar.
    solver : str, default="highs"
        LP back end of ``method="enumerate"`` (its Chebyshev centres).
    box : Box or (lo, hi), optional
        Deprecated name of ``domain``.

    Returns
    -------
    PlanePartition

    Raises
    ------
    InvalidParameterError
        For a bad ``net``, ``origin``, ``u``, ``v`` (missing, of the wrong size, not
        finite, or parallel), ``domain`` (an unbounded one, or a Polyhedron with
        ``method="split"``), ``method`` or ``solver``; or when float64 cannot resolve the
        domain on this plane (``u`` and ``v`` too small next to ``origin``).
    PolylensError
        If plane splitting meets a numerically degenerate face (``method="enumerate"``
        then still works), or if Qhull cannot resolve a region's vertices with
        ``method="enumerate"`` (``method="split"`` then still works).

    See Also
    --------
    polylens.enumerate_regions : the same partition in any dimension, as a graph.
    polylens.sampling.codes : sampled codes of any batch of inputs (e.g. a grid on the
        plane), for models too big for the exact engine.

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet, plane_partition
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)))
    >>> part = plane_partition(net, domain=(-1, 1))
    >>> round(float(part.areas().sum()), 9)
    4.0
    """
    start = time.perf_counter()
    func = "plane_partition"
    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", type(net).__name__)
    if box is not None:
        warnings.warn("plane_partition: `box` is deprecated; pass `domain`", DeprecationWarning, stacklevel=2)
        domain = box
    method = check_option(method, METHODS, func=func, name="method")
    progress = check_bool(progress, func=func, name="progress")
    if u is None and v is None:
        if net.input_dim != 2:
            raise InvalidParameterError(f"{func}: `u` and `v` are needed for a net with {net.input_dim} inputs")
        basis = np.eye(2)
    elif u is None or v is None:
        raise InvalidParameterError(f"{func}: give both `u` and `v` (or neither, for a 2-D input)")
    else:
        basis = np.stack([one_input(net, u, func, "u"), one_input(net, v, func, "v")], axis=1)
        if np.linalg.matrix_rank(basis) < 2:
            raise InvalidParameterError(f"{func}: `u` and `v` must be linearly independent")
    domain = as_domain(domain, func=func)
    if domain is None:
        raise invalid(func, "domain", "a bounded Box, (lo, hi) pair or Polyhedron", domain)
    space = Space(net, domain, x0=origin, U=basis, solver=solver, func=func)
    if not space.bounded_domain:
        raise invalid(func, "domain", "bounded", domain)
    if method == "enumerate":
        return _enumerated(space, progress, solver, start)
    if not isinstance(domain, Box):
        raise InvalidParameterError(f"{func}: method='split' cuts a box; a Polyhedron `domain` needs "
                                    "method='enumerate' (or pass its bounding Box)")
    lo, hi = space.box
    x0 = space.x0
    result = split_plane(net, x0, basis, lo, hi, progress=progress)
    mesh = result.mesh
    polygons, centroids = mesh.polygons()
    out_weight, out_bias = _output_maps(net, result, space.basis, centroids, float(np.max(hi - lo)))
    edges, edge_units, segments = _mesh_edges(mesh, result.codes)
    classes = _vertex_classes(result.outputs)
    mixed = _faces_with_mixed(mesh, classes)
    boundary = decision_segments([polygons[i] for i in mixed], out_weight[mixed], out_bias[mixed])
    return PlanePartition(polygons, result.codes, out_weight, out_bias, edges, edge_units, segments, boundary,
                          np.stack([lo, hi]), time.perf_counter() - start, method, x0, basis, domain, net)


def _enumerated(space: Space, progress: bool, solver: str, start: float) -> PlanePartition:
    res = enumerate_regions(space.net, space.domain, origin=space.x0, basis=space.U, progress=progress,
                            solver=solver, method="hull")
    missing = [i for i, v in enumerate(res.vertices) if v.shape[0] < 3]
    if missing:
        raise PolylensError(
            f"plane_partition(method='enumerate'): the vertices of region {missing[0]} (and {len(missing) - 1} "
            "more) are beyond Qhull's precision (a strip far longer than it is wide); use method='split'"
        )
    polygons = [order_convex(v) for v in res.vertices]
    edges = res.edges
    segments = np.array([_shared_edge(polygons[a], polygons[b]) for a, b in edges.tolist()])
    boundary = decision_segments(polygons, res.out_weight, res.out_bias)
    lo, hi = res.space.box
    return PlanePartition(polygons, res.codes, res.out_weight, res.out_bias, edges, res.edge_units,
                          segments.reshape(-1, 2, 2), boundary, np.stack([lo, hi]),
                          time.perf_counter() - start, "enumerate", space.x0, space.U, space.domain, space.net)


def _output_maps(net, result, rows, centroids, size: float):
    """Affine output map of every face, fitted to the exact outputs at its vertices.

    Faces where the fit would lose digits take the exact frozen forms of their code
    instead: faces whose vertices spread less than ``THIN_FACE`` of their extent, of
    their distance from the origin or of the box's ``size`` along some direction (the
    mesh's vertices carry the round-off of the box's size), and faces whose outputs vary,
    or whose output at the centroid is, less than ``THIN_FACE`` of their outputs'
    magnitude at the vertices. Their forms come from batched frozen passes on the plane
    whose origin and basis are the rows of ``rows`` (shape (3, input_dim)).
    """
    mesh, y = result.mesh, result.outputs
    avg = mesh.incidence()
    mean_y = np.asarray(avg @ y)
    m = avg.tocoo()
    face, vert = m.row, m.col
    dp = mesh.xy[vert] - centroids[face]
    dy = y[vert] - mean_y[face]
    n = mesh.n_faces
    S = np.zeros((n, 2, 2))
    B = np.zeros((n, 2, y.shape[1]))
    for i in range(2):
        for j in range(2):
            S[:, i, j] = np.bincount(face, dp[:, i] * dp[:, j], minlength=n)
        for o in range(y.shape[1]):
            B[:, i, o] = np.bincount(face, dp[:, i] * dy[:, o], minlength=n)
    counts = np.bincount(face, minlength=n)[:, None, None]
    spread = np.linalg.eigvalsh(S / counts)
    where = np.abs(centroids).max(axis=1) ** 2
    thin = spread[:, 0] < tol.THIN_FACE ** 2 * np.maximum(np.maximum(spread[:, 1], where), size ** 2)
    y_spread = np.bincount(face, (dy ** 2).sum(axis=1), minlength=n)
    y_size = np.bincount(face, (y[vert] ** 2).sum(axis=1), minlength=n)
    thin |= ~(y_spread > tol.THIN_FACE ** 2 * y_size)
    # The fit is accurate to round-off at the vertices' outputs: where the output at the
    # centroid is much smaller than those, it would lose its digits.
    thin |= ~((mean_y ** 2).sum(axis=1) * counts[:, 0, 0] > tol.THIN_FACE ** 2 * y_size)
    S[thin] = np.eye(2)
    weight = np.linalg.solve(S, B).transpose(0, 2, 1)
    thin = np.flatnonzero(thin)
    per_pass = net.forms_batch_size(rows.shape[0])
    for start in range(0, thin.size, per_pass):
        faces = thin[start:start + per_pass]
        _, out = net.frozen_forms(np.asarray(result.codes)[faces], rows)
        weight[faces] = out[:, 1:].transpose(0, 2, 1)
        mean_y[faces] = np.einsum("nok,nk->no", weight[faces], centroids[faces]) + out[:, 0]
    return weight, mean_y - np.einsum("nok,nk->no", weight, centroids)


def _mesh_edges(mesh, codes):
    """Adjacent regions, the units crossed between them, and the shared edges' ends."""
    ef, ev = mesh.edge_faces, mesh.edge_vertices
    inner = np.flatnonzero(np.all(ef >= 0, axis=1))
    pair = np.sort(ef[inner], axis=1)
    key = pair[:, 0] * mesh.n_faces + pair[:, 1]
    order = np.argsort(key, kind="stable")
    inner, pair, key = inner[order], pair[order], key[order]
    first = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    edges = pair[first]
    # Collinear pieces of one shared edge: keep the two extreme ends along it.
    ends = mesh.xy[ev[inner]]
    direction = np.repeat(ends[first, 1] - ends[first, 0], np.diff(np.r_[first, inner.size]), axis=0)
    along = np.einsum("nek,nk->ne", ends, direction)
    lo_pick = np.argmin(along, axis=1)
    hi_pick = np.argmax(along, axis=1)
    lo_pt, lo_val = ends[np.arange(inner.size), lo_pick], along[np.arange(inner.size), lo_pick]
    hi_pt, hi_val = ends[np.arange(inner.size), hi_pick], along[np.arange(inner.size), hi_pick]
    group = np.repeat(np.arange(first.size), np.diff(np.r_[first, inner.size]))
    lo_sel = _argext(lo_val, group, first.size, np.minimum)
    hi_sel = _argext(hi_val, group, first.size, np.maximum)
    segments = np.stack([lo_pt[lo_sel], hi_pt[hi_sel]], axis=1)
    return edges, _crossed_units(codes, edges), segments


def _argext(values: np.ndarray, group: np.ndarray, n: int, ufunc) -> np.ndarray:
    """Index of the extreme (``np.minimum``/``np.maximum``) value of every group."""
    best = np.full(n, np.inf if ufunc is np.minimum else -np.inf)
    ufunc.at(best, group, values)
    hit = np.flatnonzero(values == best[group])
    pick = np.empty(n, np.int64)
    pick[group[hit[::-1]]] = hit[::-1]
    return pick


def _crossed_units(codes: np.ndarray, edges: np.ndarray) -> list:
    """The units whose piece differs between the two regions of every edge (in chunks of
    edges of about 2^24 code entries, so that wide CNN codes stay in memory)."""
    out = []
    chunk = max(1, 2 ** 24 // max(codes.shape[1], 1))
    for start in range(0, len(edges), chunk):
        a, b = edges[start:start + chunk].T
        rows, units = np.nonzero(codes[a] != codes[b])
        bounds = np.searchsorted(rows, np.arange(len(a) + 1))
        out.extend(tuple(units[i:j].tolist()) for i, j in zip(bounds[:-1], bounds[1:]))
    return out


def _vertex_classes(outputs: np.ndarray) -> np.ndarray:
    """Predicted class at every vertex (``output > 0`` for one output)."""
    return predicted_class(outputs)


def _faces_with_mixed(mesh, classes: np.ndarray) -> np.ndarray:
    """Faces whose vertices do not all predict the same class (the decision boundary can
    only cross those: the difference of two outputs is affine on a face)."""
    ef, ev = mesh.edge_faces, mesh.edge_vertices
    differ = classes[ev[:, 0]] != classes[ev[:, 1]]
    faces = ef[differ].ravel()
    return np.unique(faces[faces >= 0])


def _shared_edge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ends of the edge two adjacent convex polygons share, shape (2, 2); a vertex of
    ``a`` is on ``b`` to ``COINCIDENT`` relative to the polygons' extent (plus round-off
    at their magnitude)."""
    both = np.vstack([a, b])
    size = tol.COINCIDENT * float(np.max(both.max(axis=0) - both.min(axis=0))) + ROUNDOFF * float(np.abs(both).max())
    on_b = np.ones(len(a), bool)
    for i in range(len(b)):
        p, q = b[i], b[(i + 1) % len(b)]
        normal = np.array([q[1] - p[1], p[0] - q[0]])
        on_b &= (a - p) @ normal <= size * np.linalg.norm(normal)
    ends = a[on_b]
    if len(ends) < 2:
        return np.full((2, 2), np.nan)
    far = np.argmax(np.linalg.norm(ends - ends[0], axis=1))
    return np.stack([ends[0], ends[far]])


def decision_segments(polygons: list, out_weight: np.ndarray, out_bias: np.ndarray) -> np.ndarray:
    """Exact decision boundary of a classifier over a set of polygons.

    With one output the boundary is ``output == 0``; with several, the set where the two
    largest outputs tie. Returns an array of shape (n_segments, 2, 2).

    Raises
    ------
    ValueError
        If the polygons, weights (n, n_outputs, 2) and biases (n, n_outputs) do not match.
    """
    segments = []
    for poly, W, c in zip(polygons, out_weight, out_bias):
        if W.shape[0] == 1:
            pieces = [(W[0], -c[0], poly)]
        elif len(set(np.argmax(poly @ W.T + c, axis=1).tolist())) == 1:
            # The difference of two outputs is affine, so it peaks at a vertex: when every
            # vertex predicts the same class, so does the whole polygon.
            continue
        else:
            pieces = []
            for p in range(W.shape[0]):
                for q in range(p + 1, W.shape[0]):
                    cell = poly
                    for r in range(W.shape[0]):
                        if r not in (p, q):  # where class p beats class r
                            cell = clip_halfplane(cell, W[r] - W[p], c[p] - c[r])
                    pieces.append((W[p] - W[q], c[q] - c[p], cell))
        for a, b, cell in pieces:
            seg = line_in_polygon(cell, a, b) if np.any(a) else None
            if seg is not None:
                segments.append(seg)
    return np.array(segments).reshape(-1, 2, 2)
