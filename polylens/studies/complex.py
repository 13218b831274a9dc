"""The polyhedral complex of an enumeration: vertices, edges, faces and regions.

An enumeration in a bounded domain of dimension 2 or 3 (hull method) knows the vertices
of every region. :func:`cell_complex` turns them into a cell complex:

1. every vertex gets its *sign vector*: the side of every breakpoint of every unit and of
   every domain face it lies on (-1, 0 or +1; 0 means on it), from the exact affine
   forms of a region that holds it. Copies of one vertex computed by different regions share a sign vector, which
   is the vertex's global identity (coordinates are only checked, never rounded);
2. the faces of a region are read off its vertices: the vertices on one breakpoint (or
   domain face) form a face; those with at least ``d`` vertices are its facets, and in
   3-D two facets meeting in two vertices meet in an edge;
3. faces shared by several regions are one cell (the same vertex set).

The partition of a piecewise-linear net is a face-to-face complex in general position:
bent hyperplanes never end inside the domain, so a vertex of one region lies on the
boundary of another region only as one of its vertices. Every region is checked against
that (its Euler characteristic, and no vertex of a neighbour on its boundary that it
does not list); a violation is an error that names the region, never a silent wrong
answer.

:func:`class_net` appends *class units* to a net (the output for one logit, the pairwise
output differences for several), so that every region of its enumeration has one
predicted class: the decision boundary is then made of facets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import invalid
from polylens.errors import ComplexError, PolylensError
from polylens.studies._common import check_result

__all__ = ["cell_complex", "CellComplex", "class_net", "ComplexError"]

class _ClassProgram:
    """A program with one more layer of ReLU units ``D @ output`` (see :func:`class_net`)."""

    def __init__(self, base, diff: np.ndarray):
        from polylens.models.activations import relu

        self.base, self.diff = base, diff
        self.blockwise_forms = getattr(base, "blockwise_forms", False)
        self.input_dim, self.input_shape, self.output_dim = base.input_dim, base.input_shape, base.output_dim
        self.activations = list(base.activations) + [relu(diff.shape[0])]
        self.names = list(base.names) + ["class units"]

    def run(self, x: np.ndarray, upto: int | None = None):
        if upto is not None and upto < len(self.base.activations):
            return self.base.run(x, upto)
        pre, out = self.base.run(x)
        return [*pre, out @ self.diff.T], out

    def advance(self, state, stop):
        """As the base program's ``advance``; the class units' input is ``diff @ output``,
        carried with the output after it."""
        from polylens.models.carry import Carried

        n = len(self.base.activations)
        if stop is not None and stop < n:
            return self.base.advance(state, stop)
        if not (isinstance(state, Carried) and state.layer == n):
            out = self.base.advance(state, None).values
            state = Carried(n, np.hstack([out @ self.diff.T, out]))
        return state if stop == n else Carried(None, state.values[:, self.diff.shape[0]:])

    def forms(self, parts, basis, block=None):
        from polylens.models.chain import blockwise

        pre, out = self.base.forms(parts[:-1], basis, block)
        return [*pre, blockwise(out, self.diff, np.zeros(self.diff.shape[0]), block or out.shape[0])], out

    def split(self, layer: int):
        raise PolylensError("a net with class units cannot be split; split the original net")

    def weights(self):
        yield from self.base.weights()
        yield self.diff


def class_net(net):
    """``net`` with class units appended: every region of the result has one class.

    For one output the unit is the output itself (class 1 where it is > 0); for ``n``
    outputs, one unit per pair ``p < q`` holds ``output_p - output_q``. The outputs are
    unchanged.

    Parameters
    ----------
    net : PWLNet

    Returns
    -------
    PWLNet

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet.
    """
    from polylens.models.pwlnet import PWLNet

    if not isinstance(net, PWLNet):
        raise invalid("class_net", "net", "a PWLNet", type(net).__name__)
    n = net.output_dim
    if n == 1:
        diff = np.ones((1, 1))
    else:
        p, q = np.triu_indices(n, 1)
        diff = np.zeros((p.size, n))
        diff[np.arange(p.size), p] = 1.0
        diff[np.arange(p.size), q] = -1.0
    return PWLNet(_ClassProgram(net.program, diff))


@short_repr
@dataclass(frozen=True)
class CellComplex:
    """Cells of every dimension of a partition of a bounded domain (``dim`` 2 or 3).

    Attributes
    ----------
    dim : int
    vertices : ndarray of shape (n_vertices, dim)
    signs : ndarray of shape (n_vertices, n_labels), int8
        Side of every breakpoint and domain face (0: on it).
    cells : list of list of tuple of int
        ``cells[k]``: the k-cells, each as its sorted global vertex ids
        (``cells[dim][i]`` is region ``i``).
    boundary : list of scipy.sparse.csr_matrix
        ``boundary[k]`` (``k >= 1``): incidence of (k-1)-cells (rows) in k-cells
        (columns), entries 1 (GF(2)); ``boundary[0]`` is None.
    facet_regions : ndarray of shape (n_facets, 2), int
        The regions on either side of every (dim-1)-cell, in increasing order (-1, in
        column 0: the domain's outside).
    region_class : ndarray of shape (n_regions,), int
        Predicted class at each region's interior point.
    vertex_values : ndarray of shape (n_vertices, n_outputs)
        Network output at every vertex.
    n_domain_labels : int
        The last ``n_domain_labels`` columns of ``signs`` are the domain's faces.
    """

    dim: int
    vertices: np.ndarray
    signs: np.ndarray = field(repr=False)
    cells: list = field(repr=False)
    boundary: list = field(repr=False)
    facet_regions: np.ndarray
    region_class: np.ndarray
    vertex_values: np.ndarray = field(repr=False)
    n_domain_labels: int = 0

    @property
    def counts(self) -> list[int]:
        """Cells of each dimension, ``[n_0, n_1, ..., n_dim]``.

        Raises
        ------
        None
            Nothing of its own (its inputs are checked by the functions that make them).
        """
        return [len(c) for c in self.cells]

    @property
    def euler_characteristic(self) -> int:
        return int(sum((-1) ** k * n for k, n in enumerate(self.counts)))

    def check(self) -> None:
        """Boundary of a boundary is zero over GF(2); every (d-1)-cell has 1 or 2 sides.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        for k in range(2, self.dim + 1):
            prod = (self.boundary[k - 1] @ self.boundary[k]).tocsr()
            prod.data %= 2
            prod.eliminate_zeros()
            assert prod.nnz == 0, f"boundary^2 != 0 at dimension {k}"
        deg = np.asarray(self.boundary[self.dim].sum(axis=1)).ravel()
        assert np.all((deg >= 1) & (deg <= 2))
        assert np.array_equal(deg, (self.facet_regions >= 0).sum(axis=1))
        assert np.all(self.facet_regions[:, 1] >= 0)


def cell_complex(result) -> CellComplex:
    """The cell complex of a complete enumeration in a bounded domain of dimension 2 or 3.

    Parameters
    ----------
    result : EnumerationResult
        From :func:`polylens.enumerate_regions` with a bounded ``domain`` (and the hull
        method, the default in these dimensions).

    Returns
    -------
    CellComplex

    Raises
    ------
    InvalidParameterError
        If the enumeration is partial, unbounded, or not in dimension 2 or 3.
    ComplexError
        If the regions do not form a face-to-face complex (named in the message).
    """
    func = "cell_complex"
    result = check_result(result, func, complete=True)
    space = result.space
    d = space.dim
    if d not in (2, 3):
        raise invalid(func, "result", "an enumeration in dimension 2 or 3", f"dimension {d}")
    if not space.bounded_domain:
        raise invalid(func, "result", "an enumeration in a bounded domain (see studies.topology for R^d)",
                      "one over an unbounded domain")
    if any(v.shape[0] == 0 for v in result.vertices):
        raise invalid(func, "result", "an enumeration with region vertices (method 'hull' or 'auto')",
                      "one without")
    return _build(result)


def _signed_distances(result, regions: np.ndarray, points: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Signed distance of points of the closures of ``regions`` to every breakpoint
    hyperplane of every unit (through each region's exact affine forms) and to every
    domain face, > 0 above the breakpoint (inside the domain).

    ``points`` (n, k) holds ``counts[i]`` points of region ``regions[i]`` after those of
    the regions before it; the result has shape (n, n_labels), rows in the same order.
    A unit constant on a region is on its breakpoint everywhere (0) or nowhere (+-inf):
    its value is in the units of its layer, not of the input, so comparing it with a
    tolerance relative to the points' size would depend on the input's scale."""
    from polylens.models.activations import Elementwise

    space, net = result.space, result.net
    B, V = regions.size, int(counts.max(initial=0))
    owned = np.arange(V)[None, :] < counts[:, None]
    P = np.zeros((B, V, space.dim))
    P[owned] = points
    pre, _ = net.frozen_forms(result.codes[regions], space.basis)
    forms = np.concatenate(pre, axis=2) if pre else np.zeros((B, 1 + space.dim, 0))
    slopes = forms[:, 1:]
    norms = np.sqrt((slopes * slopes).sum(axis=1))
    z = (P @ slopes + forms[:, :1]) / np.where(norms > 0, norms, 1.0)[:, None, :]
    cols = []
    for act, lo, hi, name in zip(net.activations, net.layer_offsets[:-1], net.layer_offsets[1:], net.layer_names):
        if not isinstance(act, Elementwise):
            raise invalid("cell_complex", "result", "a net of elementwise activations (ReLU, LeakyReLU, "
                          "Hardtanh, Abs...)", f"activation {act!r} in layer {name!r}")
        const = (norms[:, lo:hi] == 0)[:, None, :]
        scale = np.where(const, 1.0, norms[:, None, lo:hi])
        for brk in act.breaks:
            col = z[:, :, lo:hi] - brk / scale
            cols.append(np.where(const, np.where(col == 0, 0.0, np.copysign(np.inf, col)), col))
    cols.append(space.domain_b - P @ space.domain_A.T)
    return np.concatenate(cols, axis=2)[owned]


def _piece_ok(result) -> tuple[np.ndarray, np.ndarray]:
    """For every unit label (unit, break q): the unit's index and q."""
    units, qs = [], []
    for act, lo in zip(result.net.activations, result.net.layer_offsets[:-1]):
        for q in range(act.breaks.size):
            units.append(lo + np.arange(act.n_units))
            qs.append(np.full(act.n_units, q))
    if not units:
        return np.zeros(0, int), np.zeros(0, int)
    # Labels are laid out break by break within each layer (see _signed_distances).
    return np.concatenate(units), np.concatenate(qs)


def _build(result) -> CellComplex:
    from scipy import sparse

    space = result.space
    d = space.dim
    counts = np.array([v.shape[0] for v in result.vertices])
    owner = np.repeat(np.arange(result.n_regions), counts)
    copies = np.concatenate(result.vertices)
    step = result.net.forms_batch_size(1 + d)
    values = np.concatenate([_signed_distances(result, np.arange(lo, min(lo + step, result.n_regions)),
                                               copies[owner_lo:owner_hi], counts[lo:lo + step])
                             for lo, owner_lo, owner_hi in _chunks(counts, step)])
    size = np.maximum(np.abs(copies).max(axis=1), space.length)  # relative, never an absolute floor
    signs = np.sign(values).astype(np.int8)
    signs[np.abs(values) <= tol.COMPLEX_SIGN_ZERO * size[:, None]] = 0
    _, first, gid = np.unique(signs, axis=0, return_index=True, return_inverse=True)
    gid = gid.reshape(-1)
    vertices = copies[first]
    spread = (np.abs(copies - vertices[gid]).max(axis=1) / size).max(initial=0.0)
    if spread > tol.COMPLEX_SAME_VERTEX:
        bad = int(owner[np.argmax(np.abs(copies - vertices[gid]).max(axis=1))])
        raise ComplexError(f"cell_complex: two vertices of region {bad} share a sign vector but lie "
                           f"{spread:.3g} apart (a degenerate configuration)")
    vsigns = signs[first]
    pairs = np.unique(owner * len(vertices) + gid)  # (region, vertex) once each, by region
    region_vertices = np.split(pairs % len(vertices), np.searchsorted(pairs // len(vertices),
                                                                      np.arange(1, result.n_regions)))
    _check_t_junctions(result, region_vertices, vsigns)
    zero = vsigns == 0
    index: list[dict] = [dict() for _ in range(d)]
    cells: list[list] = [[(i,) for i in range(len(vertices))]] + [[] for _ in range(d - 1)] + [[]]
    links: list[list] = [[] for _ in range(d + 1)]  # (child, parent) pairs per parent dimension

    def cell(k: int, verts: tuple) -> int:
        j = index[k].get(verts)
        if j is None:
            j = index[k][verts] = len(cells[k])
            cells[k].append(verts)
        return j

    for r, W in enumerate(region_vertices):
        cells[d].append(tuple(W.tolist()))
        Z = zero[W]
        facets = _distinct_columns(Z[:, Z.sum(axis=0) >= d])
        facet_ids = [cell(d - 1, tuple(W[f].tolist())) for f in facets]
        links[d].extend((f, r) for f in facet_ids)
        n_edges = 0
        if d == 3:
            meet = facets.astype(np.int64) @ facets.T.astype(np.int64)
            a, b = np.nonzero(np.triu(meet >= 2, 1))
            edge_ids = {}
            for i, j in zip(a.tolist(), b.tolist()):
                both = facets[i] & facets[j]
                verts = tuple(W[both].tolist())
                if len(verts) != 2:
                    raise ComplexError(f"cell_complex: two facets of region {r} meet in {len(verts)} vertices; "
                                       "the regions do not form a face-to-face complex")
                e = edge_ids.setdefault(verts, cell(1, verts))
                links[2].extend(((e, facet_ids[i]), (e, facet_ids[j])))
            n_edges = len(edge_ids)
            for verts, e in edge_ids.items():
                links[1].extend((v, e) for v in verts)
        euler = W.size - (n_edges if d == 3 else len(facet_ids)) + (len(facet_ids) if d == 3 else 0)
        if euler != (2 if d == 3 else 0):
            raise ComplexError(f"cell_complex: region {r} has {W.size} vertices, {n_edges} edges and "
                               f"{len(facet_ids)} facets (Euler characteristic {euler}); its vertices are not "
                               "resolved (a degenerate configuration)")
    if d == 2:
        for e, verts in enumerate(cells[1]):
            if len(verts) != 2:
                raise ComplexError(f"cell_complex: an edge holds {len(verts)} vertices; the regions do not form "
                                   "a face-to-face complex")
            links[1].extend((v, e) for v in verts)
    boundary = [None]
    for k in range(1, d + 1):
        pairs = np.array(links[k], dtype=np.int64).reshape(-1, 2)
        key = np.unique(pairs[:, 0] * len(cells[k]) + pairs[:, 1])  # distinct pairs, by child then parent
        pairs = np.stack([key // max(len(cells[k]), 1), key % max(len(cells[k]), 1)], axis=1)
        boundary.append(sparse.csr_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])),
                                          shape=(len(cells[k - 1]), len(cells[k]))))
    top = boundary[d].tocsr()
    facet_regions = np.full((len(cells[d - 1]), 2), -1, np.int64)
    for f in range(top.shape[0]):
        regs = top.indices[top.indptr[f]:top.indptr[f + 1]]
        if regs.size > 2:
            raise ComplexError(f"cell_complex: facet {f} bounds {regs.size} regions")
        facet_regions[f, 2 - regs.size:] = np.sort(regs)
    vertex_values = result.net.forward(space.to_input(vertices))
    classes = result.predicted_class()
    return CellComplex(d, vertices, vsigns, cells, boundary, facet_regions, classes, vertex_values,
                       int(space.domain_b.size))


def _distinct_columns(on: np.ndarray) -> np.ndarray:
    """The distinct columns of a boolean matrix (n, c), as rows (shape (u, n)) in
    lexicographic order (as ``np.unique(on.T, axis=0)``), compared as packed bytes."""
    if on.shape[1] == 0:
        return np.zeros((0, on.shape[0]), bool)
    packed = np.ascontiguousarray(np.packbits(on.T, axis=1))
    _, first = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_index=True)
    return on.T[first]


def _chunks(counts: np.ndarray, step: int):
    """(first region, first row, end row) of consecutive runs of ``step`` regions whose
    ``counts[i]`` rows follow one another."""
    ends = np.concatenate([[0], np.cumsum(counts)])
    for lo in range(0, counts.size, step):
        yield lo, int(ends[lo]), int(ends[min(lo + step, counts.size)])


def _check_t_junctions(result, region_vertices: list, vsigns: np.ndarray) -> None:
    """Raise if a vertex of a region lies on the boundary of a neighbour that does not list
    it (the complex would not be face-to-face)."""
    units, qs = _piece_ok(result)
    n_unit_labels = units.size
    n = result.n_regions
    counts = np.array([W.size for W in region_vertices], np.int64)
    vertex = np.concatenate([np.zeros(0, np.int64), *region_vertices])
    listed = vertex * n + np.repeat(np.arange(n), counts)  # (vertex, region) pairs
    # Every region r, each neighbour s (in the order of the edges), each vertex of r.
    e = result.edges
    frm, to = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
    order = np.lexsort((np.tile(np.arange(e.shape[0]), 2), frm))
    frm, to = frm[order], to[order]
    starts = np.cumsum(counts) - counts
    per = counts[frm]
    at = np.repeat(starts[frm] - (np.cumsum(per) - per), per) + np.arange(per.sum())
    cand_v, cand_r = vertex[at], np.repeat(to, per)
    missing = ~np.isin(cand_v * n + cand_r, listed)
    cand_v, cand_r = cand_v[missing], cand_r[missing]
    if cand_v.size == 0:
        return
    s = vsigns[cand_v, :n_unit_labels]
    piece = result.codes[cand_r][:, units]
    clash = ((s > 0) & (piece <= qs)) | ((s < 0) & (piece > qs))
    fits = ~clash.any(axis=1)
    if fits.any():
        i = int(np.flatnonzero(fits)[0])
        raise ComplexError(f"cell_complex: vertex {cand_v[i]} lies on the boundary of region {cand_r[i]} without "
                           "being one of its vertices (a bent hyperplane ends inside a face: a degenerate "
                           "configuration, e.g. a unit that is identically zero on a region)")
