"""Exact 2-D planes: every region meeting a box of a plane, as polygons.

``plane_partition`` enumerates the regions of the 2-D subspace ``x = origin + s u + t v``
inside a box of ``(s, t)`` (hull method: no LP), and returns each region as a convex
polygon with the affine map the network applies there, the edges between regions with
the units crossed, and the exact decision boundary of a classifier. It works for every
architecture the adapter supports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from polylens import tolerances as tol
from polylens.geometry.domain import Box
from polylens.geometry.enumeration import EnumerationResult, enumerate_regions
from polylens.geometry.polygons import clip_halfplane, line_in_polygon, order_convex, polygon_area
from polylens.models.pwlnet import PWLNet

__all__ = ["PlanePartition", "plane_partition", "decision_segments"]


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
    enumeration : EnumerationResult
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
    enumeration: EnumerationResult

    @property
    def n_regions(self) -> int:
        return len(self.polygons)

    def areas(self) -> np.ndarray:
        """Area of every polygon, shape (n_regions,)."""
        return np.array([polygon_area(p) for p in self.polygons])

    def centroids(self) -> np.ndarray:
        """Vertex centroid of every polygon (an interior point), shape (n_regions, 2)."""
        return np.array([p.mean(axis=0) for p in self.polygons]).reshape(-1, 2)

    def predicted_class(self) -> np.ndarray:
        """Class at each region's centroid (arg-max, or ``output > 0`` for one output)."""
        out = np.einsum("nok,nk->no", self.out_weight, self.centroids()) + self.out_bias
        return (out[:, 0] > 0).astype(int) if out.shape[1] == 1 else np.argmax(out, axis=1)

    def gradient_norms(self) -> np.ndarray:
        """Frobenius norm of the output map's slope on every region, shape (n_regions,)."""
        return np.linalg.norm(self.out_weight.reshape(self.n_regions, -1), axis=1)


def plane_partition(net: PWLNet, origin=None, u=None, v=None, box=(0.0, 1.0), *, progress: bool = False,
                    solver: str = "highs") -> PlanePartition:
    """Every region meeting a box of a plane, as exact polygons.

    Parameters
    ----------
    net : PWLNet
    origin : array-like of shape (input_dim,) or input_shape, optional
        A point of the plane (default 0).
    u, v : array-like of shape (input_dim,) or input_shape, optional
        Directions of the plane (linearly independent). For a net with 2-D input both may
        be omitted: the plane is the input space itself.
    box : Box or (lo, hi), default=(0, 1)
        Bounds of the plane coordinates ``(s, t)``; scalars apply to both.

    Returns
    -------
    PlanePartition

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet, plane_partition
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)))
    >>> part = plane_partition(net, box=(-1, 1))
    >>> round(float(part.areas().sum()), 9)
    4.0
    """
    start = time.perf_counter()
    if not isinstance(net, PWLNet):
        raise TypeError(f"plane_partition: `net` must be a PWLNet; got {type(net).__name__}")
    if u is None and v is None:
        if net.input_dim != 2:
            raise ValueError(f"plane_partition: `u` and `v` are needed for a net with {net.input_dim} inputs")
        basis = np.eye(2)
    elif u is None or v is None:
        raise ValueError("plane_partition: give both `u` and `v` (or neither, for a 2-D input)")
    else:
        basis = np.stack([net.flatten_inputs(u, "u")[0], net.flatten_inputs(v, "v")[0]], axis=1)
        if np.linalg.matrix_rank(basis) < 2:
            raise ValueError("plane_partition: `u` and `v` must be linearly independent")
    domain = box if isinstance(box, Box) else Box(*box)
    res = enumerate_regions(net, domain, origin=origin, basis=basis, progress=progress, solver=solver,
                            method="hull")
    polygons = [order_convex(v) for v in res.vertices]
    out_weight, out_bias = res.out_weight, res.out_bias
    edges = res.edges
    segments = np.array([_shared_edge(polygons[a], polygons[b], res.space.scale) for a, b in edges.tolist()])
    boundary = decision_segments(polygons, out_weight, out_bias)
    lo, hi = res.space.box
    return PlanePartition(polygons, res.codes, out_weight, out_bias, edges, res.edge_units,
                          segments.reshape(-1, 2, 2), boundary, np.stack([lo, hi]),
                          time.perf_counter() - start, res)


def _shared_edge(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Ends of the edge two adjacent convex polygons share, shape (2, 2)."""
    on_b = np.ones(len(a), bool)
    for i in range(len(b)):
        p, q = b[i], b[(i + 1) % len(b)]
        normal = np.array([q[1] - p[1], p[0] - q[0]])
        on_b &= (a - p) @ normal <= tol.COINCIDENT * scale * np.linalg.norm(normal)
    ends = a[on_b]
    if len(ends) < 2:
        return np.full((2, 2), np.nan)
    far = np.argmax(np.linalg.norm(ends - ends[0], axis=1))
    return np.stack([ends[0], ends[far]])


def decision_segments(polygons: list, out_weight: np.ndarray, out_bias: np.ndarray) -> np.ndarray:
    """Exact decision boundary of a classifier over a set of polygons.

    With one output the boundary is ``output == 0``; with several, the set where the two
    largest outputs tie. Returns an array of shape (n_segments, 2, 2).
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
