"""A planar mesh of convex faces, cut along the zero sets of functions known at its vertices.

This is the engine behind :func:`polylens.plane_partition`. The mesh starts as a box and
is refined layer by layer: on every face of the current mesh, each unit of the next layer
is an affine function of the plane coordinates, so its values at the vertices say
everything about it. ``cut`` splits every face where a function changes sign along the
line where it is zero, for all faces at once (numpy, no LP, no loop over faces). New
vertices get every tracked function's value by linear interpolation along the edge they
split, which is exact because the functions are affine on each face.

Faces are implicit: an edge knows its two vertices, the faces on either side (``-1`` is
the outside of the box) and the unit whose zero set made it (``-1`` for the box). A
face's vertices are the ends of its edges; its vertex average is an interior point.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from polylens import tolerances as tol
from polylens.errors import PolylensError

__all__ = ["PlaneMesh"]


def _grow(arr: np.ndarray, need: int, axis: int = 0) -> np.ndarray:
    """``arr`` with room for at least ``need`` entries along ``axis`` (capacity doubles)."""
    have = arr.shape[axis]
    if need <= have:
        return arr
    shape = list(arr.shape)
    shape[axis] = max(need, 2 * have)
    out = np.empty(shape, dtype=arr.dtype)
    index = [slice(None)] * arr.ndim
    index[axis] = slice(0, have)
    out[tuple(index)] = arr
    return out


class PlaneMesh:
    """Convex faces tiling the box ``[lo[0], hi[0]] x [lo[1], hi[1]]``.

    Parameters
    ----------
    lo, hi : array-like of shape (2,)
        Corners of the box.

    Attributes
    ----------
    n_vertices, n_edges, n_faces : int
    values : ndarray of shape (n_rows, n_vertices)
        Functions tracked at the vertices (set with :meth:`set_values`); every cut
        interpolates them onto its new vertices. A writable view of storage that holds
        one row per vertex (so a vertex's values are contiguous, as the forward passes
        read and write them).
    """

    def __init__(self, lo, hi):
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        self._xy = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
        self._ev = np.array([[0, 1], [1, 2], [2, 3], [3, 0]], dtype=np.int64)
        self._ef = np.array([[0, -1]] * 4, dtype=np.int64)
        self._el = np.full(4, -1, dtype=np.int64)
        self._values = np.zeros((4, 0))
        self.n_vertices, self.n_edges, self.n_faces = 4, 4, 1

    # ------------------------------------------------------------------ views
    @property
    def xy(self) -> np.ndarray:
        """Vertex coordinates, shape (n_vertices, 2)."""
        return self._xy[:self.n_vertices]

    @property
    def edge_vertices(self) -> np.ndarray:
        """Ends of every edge, shape (n_edges, 2)."""
        return self._ev[:self.n_edges]

    @property
    def edge_faces(self) -> np.ndarray:
        """Faces on either side of every edge (-1: outside the box), shape (n_edges, 2)."""
        return self._ef[:self.n_edges]

    @property
    def edge_labels(self) -> np.ndarray:
        """Label of the cut that made every edge (-1: the box), shape (n_edges,)."""
        return self._el[:self.n_edges]

    @property
    def values(self) -> np.ndarray:
        """The tracked functions, shape (n_rows, n_vertices) (a view)."""
        return self._values[:self.n_vertices].T

    @property
    def vertex_values(self) -> np.ndarray:
        """The tracked functions one row per vertex, shape (n_vertices, n_rows) (a view)."""
        return self._values[:self.n_vertices]

    def set_values(self, values: np.ndarray) -> None:
        """Track functions at the vertices through the next cuts.

        Parameters
        ----------
        values : ndarray of shape (m, n_rows), float64, with m >= n_vertices
            One row per vertex (its first ``n_vertices`` rows), then room to grow (see
            :meth:`storage`). Kept, not copied.

        Raises
        ------
        ValueError
            If ``values`` is not a float64 array with a row for every vertex.
        """
        if not (isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 2
                and values.shape[0] >= self.n_vertices):
            raise ValueError(f"PlaneMesh.set_values: `values` must be a float64 array of shape (m, n_rows) with "
                             f"m >= {self.n_vertices}; got {getattr(values, 'shape', type(values).__name__)}")
        self._values = values

    def storage(self, n_rows: int) -> np.ndarray:
        """Uninitialised storage for :meth:`set_values`: a row of ``n_rows`` per vertex
        and room for half as many vertices again, shape (m, n_rows).

        Raises
        ------
        MemoryError
            If numpy cannot allocate it.
        """
        return np.empty((self.n_vertices + self.n_vertices // 2 + 16, n_rows))

    # ------------------------------------------------------------------ refinement
    def cut(self, d: np.ndarray, label: int, eps) -> np.ndarray:
        """Split every face on which ``d`` takes both signs along the line ``d == 0``.

        Parameters
        ----------
        d : ndarray of shape (n_vertices,)
            Values at the vertices of a function that is affine on every face.
        label : int
            Recorded on the new edges (the unit crossed there).
        eps : float or ndarray of shape (n_vertices,)
            Values within ``eps`` (per vertex) of 0 count as 0: the line passes through
            that vertex.

        Returns
        -------
        ndarray of int
            The faces that were split; face ``split[i]`` keeps the side where ``d > 0`` and
            the new face ``n_faces_before + i`` is the side where ``d < 0``.

        Raises
        ------
        PolylensError
            If a face meets the line in only one point (a numerically degenerate face).
        """
        nv, ne, nf = self.n_vertices, self.n_edges, self.n_faces
        s = np.sign(d).astype(np.int8)
        s[np.abs(d) <= eps] = 0
        if not (np.any(s > 0) and np.any(s < 0)):
            return np.zeros(0, np.int64)
        ev, ef = self._ev[:ne], self._ef[:ne]
        s0, s1 = s[ev[:, 0]], s[ev[:, 1]]
        cross = np.flatnonzero(s0 * s1 < 0)
        on_line = s == 0
        if np.any(on_line):
            split = self._mixed_faces(s0, s1, nf)
        else:
            split = np.unique(ef[cross])
            split = split[split >= 0]
        if split.size == 0:
            return split
        k = cross.size
        a, b = ev[cross, 0], ev[cross, 1]
        # Interpolate from the end nearer the line (smaller |d|): the new vertex then
        # carries the round-off of that end's magnitude, not of the far end's.
        near, far = np.where(np.abs(d[a]) <= np.abs(d[b]), a, b), np.where(np.abs(d[a]) <= np.abs(d[b]), b, a)
        t = d[near] / (d[near] - d[far])
        new_v = nv + np.arange(k)
        faces, points = self._line_points(split, cross, new_v, s, on_line)
        self._xy = _grow(self._xy, nv + k)
        self._xy[new_v] = self._xy[near] + t[:, None] * (self._xy[far] - self._xy[near])
        self._values = _grow(self._values, nv + k)
        va, vb = self._values[near], self._values[far]
        self._values[new_v] = va + t[:, None] * (vb - va)
        # Each crossed edge (a, b) becomes (a, m) and (m, b); both halves keep its faces.
        new_e = ne + np.arange(k)
        self._grow_edges(ne + k + split.size * 2)
        ev, ef = self._ev, self._ef
        ev[new_e, 0], ev[new_e, 1] = new_v, b
        ef[new_e] = ef[cross]
        self._el[new_e] = self._el[cross]
        ev[cross, 1] = new_v
        # Every edge of a split face with a negative end lies on its negative side.
        negative = np.concatenate([np.minimum(s0, s1) < 0, s1[cross] < 0])
        negative[cross] = s0[cross] < 0
        child = np.full(nf + 1, -1, dtype=np.int64)  # entry nf answers face -1 (outside)
        child[split] = nf + np.arange(split.size)
        moved = np.flatnonzero(negative)
        for col in (0, 1):
            c = child[ef[moved, col]]
            hit = c >= 0
            ef[moved[hit], col] = c[hit]
        # The cut: an edge between consecutive points where the line meets each split face.
        start, end, owner = _consecutive(faces, points, self._xy)
        n_cut = owner.size
        self._grow_edges(ne + k + n_cut)
        cut_e = ne + k + np.arange(n_cut)
        self._ev[cut_e, 0], self._ev[cut_e, 1] = start, end
        self._ef[cut_e, 0], self._ef[cut_e, 1] = owner, child[owner]
        self._el[cut_e] = label
        self.n_vertices, self.n_edges, self.n_faces = nv + k, ne + k + n_cut, nf + split.size
        return split

    def _grow_edges(self, need: int) -> None:
        self._ev, self._ef, self._el = _grow(self._ev, need), _grow(self._ef, need), _grow(self._el, need)

    def _mixed_faces(self, s0: np.ndarray, s1: np.ndarray, nf: int) -> np.ndarray:
        """Faces with a vertex on each side of the line (slow path when it meets vertices)."""
        ef = self._ef[:s0.size]
        pos, neg = np.zeros(nf + 1, bool), np.zeros(nf + 1, bool)
        pos[ef[(s0 > 0) | (s1 > 0)]] = True
        neg[ef[(s0 < 0) | (s1 < 0)]] = True
        return np.flatnonzero(pos[:nf] & neg[:nf])

    def _line_points(self, split, cross, new_v, s, on_line):
        """Sorted (face, vertex) pairs where the cut line meets the boundary of each split
        face: the new vertices on its crossed edges and its vertices on the line. Called
        before the mesh changes."""
        ev, ef = self.edge_vertices, self.edge_faces
        faces = [ef[cross, 0], ef[cross, 1]]
        points = [new_v, new_v]
        if np.any(on_line):
            is_split = np.zeros(self.n_faces + 1, bool)  # entry n_faces answers face -1
            is_split[split] = True
            for end in (0, 1):
                touch = np.flatnonzero(on_line[ev[:, end]])
                for col in (0, 1):
                    f = ef[touch, col]
                    keep = is_split[f]
                    faces.append(f[keep])
                    points.append(ev[touch[keep], end])
        faces, points = np.concatenate(faces), np.concatenate(points)
        keep = faces >= 0
        width = self.n_vertices + new_v.size
        pairs = np.unique(faces[keep] * width + points[keep])
        return pairs // width, pairs % width

    # ------------------------------------------------------------------ merging
    def merge(self, edges: np.ndarray) -> np.ndarray:
        """Merge the faces on either side of ``edges`` (indices), removing those edges.

        Returns
        -------
        ndarray of shape (old n_faces,)
            New face id of every old face (merged faces get one id).

        Raises
        ------
        IndexError
            If an edge index is out of range.
        """
        nf, ne = self.n_faces, self.n_edges
        pairs = self._ef[edges]
        graph = sparse.coo_matrix((np.ones(len(edges)), (pairs[:, 0], pairs[:, 1])), shape=(nf, nf))
        n, labels = connected_components(graph, directed=False)
        ef = self._ef[:ne]
        inside = ef >= 0
        ef[inside] = labels[ef[inside]]
        self._keep_edges(ef[:, 0] != ef[:, 1])
        self.n_faces = n
        self._join_straight()
        self._drop_loose_vertices()
        return labels

    def _drop_loose_vertices(self) -> None:
        """Forget vertices no edge uses any more (merges leave them inside faces)."""
        used = np.unique(self.edge_vertices)
        if used.size == self.n_vertices:
            return
        new_id = np.full(self.n_vertices, -1, dtype=np.int64)
        new_id[used] = np.arange(used.size)
        self._ev[:self.n_edges] = new_id[self.edge_vertices]
        self._xy[:used.size] = self._xy[used]
        self._values[:used.size] = self._values[used]
        self.n_vertices = used.size

    def _keep_edges(self, keep: np.ndarray) -> None:
        keep = np.flatnonzero(keep)
        self._ev[:keep.size], self._ef[:keep.size], self._el[:keep.size] = (
            self._ev[keep], self._ef[keep], self._el[keep])
        self.n_edges = keep.size

    def _join_straight(self) -> None:
        """Join the two edges at every vertex that only they meet, when they separate the
        same two faces (a merge leaves such vertices in the middle of straight edges)."""
        ev, ef = self.edge_vertices, self.edge_faces
        ends = ev.ravel()
        degree = np.bincount(ends, minlength=self.n_vertices)
        at = np.flatnonzero(degree[ends] == 2)
        at = at[np.argsort(ends[at], kind="stable")]
        vertex, e1, e2 = ends[at[0::2]], at[0::2] // 2, at[1::2] // 2
        pair = np.sort(ef, axis=1)
        far1 = np.where(ev[e1, 0] == vertex, ev[e1, 1], ev[e1, 0])
        far2 = np.where(ev[e2, 0] == vertex, ev[e2, 1], ev[e2, 0])
        u, w = self.xy[far1] - self.xy[vertex], self.xy[far2] - self.xy[vertex]
        straight = np.abs(u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]) <= tol.COLLINEAR * np.hypot(*u.T) * np.hypot(*w.T)
        join = np.all(pair[e1] == pair[e2], axis=1) & (e1 != e2) & straight
        if not np.any(join):
            return
        root = np.arange(self.n_edges)
        alive = np.ones(self.n_edges, bool)

        def find(e: int) -> int:
            while root[e] != e:
                e = root[e]
            return e

        for v, a, b in zip(vertex[join].tolist(), e1[join].tolist(), e2[join].tolist()):
            a, b = find(a), find(b)
            if a == b:
                continue
            far_a = ev[a, 0] if ev[a, 1] == v else ev[a, 1]
            far_b = ev[b, 0] if ev[b, 1] == v else ev[b, 1]
            ev[a] = (far_a, far_b)
            alive[b], root[b] = False, a
        self._keep_edges(alive)

    # ------------------------------------------------------------------ faces
    def face_vertices(self) -> sparse.csr_matrix:
        """Face-by-vertex incidence (CSR, entries 1), shape (n_faces, n_vertices).

        Raises
        ------
        None of its own
        """
        ev, ef = self.edge_vertices, self.edge_faces
        faces = np.concatenate([ef[:, 0], ef[:, 0], ef[:, 1], ef[:, 1]])
        verts = np.concatenate([ev[:, 0], ev[:, 1], ev[:, 0], ev[:, 1]])
        keep = faces >= 0
        m = sparse.csr_matrix((np.ones(int(keep.sum())), (faces[keep], verts[keep])),
                              shape=(self.n_faces, self.n_vertices))
        m.sum_duplicates()
        m.data[:] = 1.0  # each vertex of a face appears on two of its edges
        return m

    def incidence(self) -> sparse.csr_matrix:
        """Face-by-vertex averaging matrix, shape (n_faces, n_vertices): row ``f`` @ a
        vertex function is its average over the vertices of face ``f``.

        Raises
        ------
        None of its own
        """
        m = self.face_vertices()
        counts = np.asarray(m.sum(axis=1)).ravel()
        return sparse.diags(1.0 / counts) @ m

    def polygons(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Every face as its vertices in counter-clockwise order.

        Returns
        -------
        polygons : list of ndarray of shape (n_i, 2)
        centroids : ndarray of shape (n_faces, 2)
            Vertex average of each face (an interior point).

        Raises
        ------
        None of its own
        """
        m = self.incidence()
        centroids = np.asarray(m @ self.xy)
        m = m.tocoo()
        face, vert = m.row, m.col
        rel = self.xy[vert] - centroids[face]
        order = np.lexsort((np.arctan2(rel[:, 1], rel[:, 0]), face))
        counts = np.bincount(face, minlength=self.n_faces)
        return np.split(self.xy[vert[order]], np.cumsum(counts)[:-1]), centroids


def _consecutive(faces: np.ndarray, points: np.ndarray, xy: np.ndarray):
    """Edges joining consecutive points of each face along its line.

    ``faces``/``points`` are sorted by face (from ``np.unique``). A convex face meets a
    line in two points, unless the line runs through vertices lying on it: then the
    points are ordered along the line and joined one after another.
    """
    counts = np.bincount(faces)
    if np.any(counts[faces] < 2):
        bad = int(faces[counts[faces] < 2][0])
        raise PolylensError(
            f"plane splitting: face {bad} meets a cut line in only one point (a numerically degenerate face); "
            "use plane_partition(..., method='enumerate') for this plane"
        )
    if np.all(counts[faces] == 2):
        return points[0::2], points[1::2], faces[0::2]
    p = xy[points]
    first = np.r_[0, np.flatnonzero(np.diff(faces)) + 1]
    spread = np.maximum.reduceat(p, first) - np.minimum.reduceat(p, first)
    axis = (spread[:, 1] > spread[:, 0]).astype(int)
    along = p[np.arange(len(points)), np.repeat(axis, np.diff(np.r_[first, len(points)]))]
    order = np.lexsort((along, faces))
    faces, points = faces[order], points[order]
    same = faces[:-1] == faces[1:]
    return points[:-1][same], points[1:][same], faces[:-1][same]
