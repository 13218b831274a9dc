"""Decision regions and their topology: components and Betti numbers over GF(2).

:func:`decision_topology` enumerates a classifier with *class units* appended
(:func:`~polylens.studies.complex.class_net`), so that every region has one predicted
class, builds the cell complex of the partition (:func:`~polylens.studies.complex.cell_complex`)
and measures, exactly:

- the regions of every class, and the connected components of each class's decision
  region (regions joined across facets);
- the Betti numbers of each closed class region and of the decision boundary (the
  facets where the predicted class changes; for one output, where it is 0);
- the decision-boundary subgraph of the region graph.

Over all of R^d (``domain=None``) unbounded cells are truncated as relucent's default
``compactify="truncate"`` does: the partition is cut by a box that holds every vertex
and every region's interior point with a margin (:func:`truncate`). Each cell and each intersection of
cells meets the box in a non-empty convex set, so by the nerve theorem every union of
closed cells keeps its homotopy type.

Betti numbers, two ways (both exact; :func:`betti_numbers`):

- ``"duality"`` (default, linear time): ``b0`` from the 1-skeleton, ``b_{d-1}`` from
  Alexander duality (components of the complement in R^d, minus one: regions joined
  across facets outside the set, and the outside joined to regions with a free facet on
  the domain's boundary), the rest from the Euler characteristic of the cell counts.
  Homology of a compact polyhedron in R^2 or R^3 has no torsion, so these are the
  Betti numbers over GF(2) (and over any field).
- ``"reduction"``: ranks of the cellular boundary matrices over GF(2) (Gaussian
  elimination on bit sets), ``b_k = n_k - rank d_k - rank d_{k+1}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_int, check_number, check_option, invalid
from polylens.errors import ComplexError
from polylens.studies._common import adjacency, check_result
from polylens.studies.complex import CellComplex, cell_complex, class_net

__all__ = ["decision_topology", "DecisionTopology", "betti_numbers", "closure", "truncation_box", "truncate",
           "topology_of", "gf2_rank"]

METHODS = ("duality", "reduction")


def closure(cc: CellComplex, k: int, selected: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the cells of every dimension ``0..k`` of the closure of the
    selected k-cells (``selected`` of shape (n_k,), bool); dimensions above k are empty.

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    masks = [None] * (cc.dim + 1)
    masks[k] = np.asarray(selected, bool)
    for j in range(k, 0, -1):
        masks[j - 1] = np.asarray(cc.boundary[j] @ masks[j].astype(np.int64)).ravel() > 0
    for j in range(k + 1, cc.dim + 1):
        masks[j] = np.zeros(len(cc.cells[j]), bool)
    return masks


def betti_numbers(cc: CellComplex, masks: list[np.ndarray], *, method: str = "duality") -> list[int]:
    """Betti numbers over GF(2) of a closed subcomplex, ``[b0, ..., b_dim]``.

    Parameters
    ----------
    cc : CellComplex
    masks : list of ndarray of bool
        The subcomplex's cells of every dimension (closed under faces, e.g. from
        :func:`closure`).
    method : {"duality", "reduction"}, default="duality"

    Returns
    -------
    list of int

    Raises
    ------
    InvalidParameterError
        If ``method`` is unknown.
    """
    method = check_option(method, METHODS, func="betti_numbers", name="method")
    if method == "reduction":
        return _betti_reduction(cc, masks)
    return _betti_duality(cc, masks)


def _betti_duality(cc: CellComplex, masks: list[np.ndarray]) -> list[int]:
    from scipy.sparse.csgraph import connected_components

    d = cc.dim
    counts = [int(m.sum()) for m in masks]
    if counts[0] == 0:
        return [0] * (d + 1)
    chi = sum((-1) ** k * n for k, n in enumerate(counts))
    verts = np.flatnonzero(masks[0])
    e = cc.boundary[1].tocsc()[:, masks[1]].tocoo()
    remap = np.full(len(cc.cells[0]), -1)
    remap[verts] = np.arange(verts.size)
    order = np.argsort(e.col, kind="stable")  # the two ends of each edge, side by side
    pairs = remap[e.row][order].reshape(-1, 2)
    b0 = int(connected_components(adjacency(verts.size, pairs), directed=False)[0])
    holes = _complement_components(cc, masks) - 1
    betti = [0] * (d + 1)
    betti[0] = b0
    if d == 2:
        betti[1] = holes
        if chi != b0 - holes:
            raise ComplexError(f"betti_numbers: Euler characteristic {chi} disagrees with b0 - b1 = {b0 - holes}")
    else:
        betti[2] = holes
        betti[1] = b0 + holes - chi
    return betti


def _complement_components(cc: CellComplex, masks: list[np.ndarray]) -> int:
    """Components of R^d minus the subcomplex (the outside of the domain is one node)."""
    from scipy.sparse.csgraph import connected_components

    d = cc.dim
    n = len(cc.cells[d])
    free = ~masks[d - 1]
    fr = cc.facet_regions[free]
    outside = n
    a = np.where(fr[:, 0] < 0, outside, fr[:, 0])
    b = fr[:, 1]
    keep = ~masks[d][b] & ((a == outside) | ~masks[d][np.minimum(a, n - 1)])
    graph = adjacency(n + 1, np.stack([a[keep], b[keep]], axis=1))
    _, label = connected_components(graph, directed=False)
    alive = np.append(~masks[d], True)
    return int(np.unique(label[alive]).size)


def _betti_reduction(cc: CellComplex, masks: list[np.ndarray]) -> list[int]:
    d = cc.dim
    counts = [int(m.sum()) for m in masks]
    ranks = [0] * (d + 2)
    for k in range(1, d + 1):
        if counts[k] and counts[k - 1]:
            ranks[k] = gf2_rank(cc.boundary[k][masks[k - 1]][:, masks[k]])
    return [counts[k] - ranks[k] - ranks[k + 1] for k in range(d + 1)]


def gf2_rank(matrix) -> int:
    """Rank over GF(2) of a sparse 0/1 matrix (columns as Python bit sets, eliminated by
    their highest row).

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    m = matrix.tocsc()
    pivots: dict[int, int] = {}
    rank = 0
    for j in range(m.shape[1]):
        rows = m.indices[m.indptr[j]:m.indptr[j + 1]][m.data[m.indptr[j]:m.indptr[j + 1]] % 2 == 1]
        col = 0
        for r in rows.tolist():
            col ^= 1 << r
        while col:
            low = col.bit_length() - 1
            other = pivots.get(low)
            if other is None:
                pivots[low] = col
                rank += 1
                break
            col ^= other
    return rank


def truncation_box(result, margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A box holding every finite vertex and interior point of an enumeration over R^d,
    widened by ``margin`` times its extent (at least ``margin`` on each side).

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    pts = np.vstack([result.points, *[v for v in result.vertices if v.size]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1.0)
    return lo - pad, hi + pad


def truncate(result, margin: float = 1.0):
    """An enumeration over R^d cut by :func:`truncation_box`: the same regions, graph
    and codes, with the vertices of every unbounded region inside the box.

    The cut is computed here rather than by enumerating the box: its vertices can lie
    far out (nearly parallel bent hyperplanes), and the engine's tolerances scale with
    the domain. Each unbounded region keeps its own finite vertices and gains those of
    its intersection with the box's faces (Qhull on its rows and the box's).

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    import dataclasses

    from scipy.spatial import HalfspaceIntersection

    from polylens.geometry.domain import Box
    from polylens.geometry.space import Space

    lo, hi = truncation_box(result, margin)
    space = result.space
    box = Space(space.net, Box(lo, hi), x0=space.x0, U=space.U, solver=space.backend.name)
    vertices = list(result.vertices)
    size = np.maximum(np.abs(lo), np.abs(hi)).max()
    unbounded = np.flatnonzero(~result.bounded)
    for r, (A_r, b_r) in zip(unbounded.tolist(), _region_rows(space, result.codes[unbounded])):
        A = np.vstack([A_r, box.domain_A])
        b = np.concatenate([b_r, box.domain_b])
        cut = HalfspaceIntersection(np.hstack([A, -b[:, None]]), result.points[r]).intersections
        on_box = np.any(np.abs(cut @ box.domain_A.T - box.domain_b) <= tol.TRUNCATION_ON_BOX * size, axis=1)
        vertices[r] = np.vstack([result.vertices[r], cut[on_box]])
    return dataclasses.replace(result, vertices=vertices, space=box,
                               bounded=np.ones(result.n_regions, bool))


def _region_rows(space, codes: np.ndarray) -> list:
    """The rows ``(A, b)`` of the region of every code (those of
    :meth:`~polylens.geometry.space.Space.hrep`), from batched forms."""
    from polylens.geometry.waves import WaveRows, rows_apply

    if not rows_apply(space.net):
        return [(h.A, h.b) for h in space.hreps(codes)]
    out = []
    step = space.net.forms_batch_size(space.basis.shape[0])
    for lo in range(0, codes.shape[0], step):
        rows = WaveRows(space, codes[lo:lo + step])
        out.extend((A[keep], b[keep]) for A, b, keep in zip(rows.A, rows.b, rows.valid))
    return out


@short_repr
@dataclass(frozen=True)
class DecisionTopology:
    """Decision regions of a classifier and their topology (see :func:`decision_topology`).

    Attributes
    ----------
    n_regions : int
        Regions of the partition refined by the class units (each has one class).
    classes : list of int
    class_regions : dict
        Class -> number of (refined) regions predicting it.
    class_components : dict
        Class -> connected components of its decision region (regions joined across
        facets; 0 for a class predicted nowhere).
    class_betti : dict
        Class -> Betti numbers ``[b0, ..., b_d]`` of the closed class region.
    decision_boundary_betti : list of int
        Betti numbers of the decision boundary (``[b0, ..., b_{d-1}]``).
    boundary_edges : ndarray of shape (n, 2), int
        Edges of the region graph across the decision boundary (the decision-boundary
        subgraph).
    box : ndarray of shape (2, d)
        The domain's bounding box, or the truncation box over R^d.
    truncated : bool
        The domain was all of R^d, truncated to ``box``.
    degenerate : list of str
        Degenerate configurations met (class regions touching only at a vertex or an
        edge, notes of the enumeration).
    complex : CellComplex
    result : EnumerationResult
        The enumeration of the net with class units, in ``box``.
    seconds : float
    """

    n_regions: int
    classes: list
    class_regions: dict
    class_components: dict
    class_betti: dict
    decision_boundary_betti: list
    boundary_edges: np.ndarray
    box: np.ndarray
    truncated: bool
    degenerate: list
    complex: CellComplex = field(repr=False)
    result: object = field(repr=False)
    seconds: float = 0.0

    def check(self) -> None:
        """Both Betti methods agree; components never exceed the closed region's b0
        from below; Euler characteristics match alternating face counts.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        cc = self.complex
        for c in self.classes:
            masks = closure(cc, cc.dim, cc.region_class == c)
            assert betti_numbers(cc, masks, method="reduction") == self.class_betti[c]
            chi = sum((-1) ** k * int(m.sum()) for k, m in enumerate(masks))
            assert chi == sum((-1) ** k * b for k, b in enumerate(self.class_betti[c]))
            assert self.class_components[c] >= self.class_betti[c][0]
        masks = closure(cc, cc.dim - 1, _boundary_facets(cc))
        assert betti_numbers(cc, masks, method="reduction")[:cc.dim] == self.decision_boundary_betti

    def summary(self) -> dict:
        """JSON-ready numbers (class keys as strings).

        Raises
        ------
        None of its own
        """
        return {
            "regions": self.n_regions,
            "class_regions": {str(c): v for c, v in self.class_regions.items()},
            "class_components": {str(c): v for c, v in self.class_components.items()},
            "class_betti": {str(c): v for c, v in self.class_betti.items()},
            "decision_boundary_betti": self.decision_boundary_betti,
            "boundary_edges": int(self.boundary_edges.shape[0]),
            "truncated": self.truncated,
            "degenerate": len(self.degenerate),
        }


def _boundary_facets(cc: CellComplex) -> np.ndarray:
    fr = cc.facet_regions
    inner = fr[:, 0] >= 0
    out = np.zeros(fr.shape[0], bool)
    out[inner] = cc.region_class[fr[inner, 0]] != cc.region_class[fr[inner, 1]]
    return out


def decision_topology(net, domain=None, *, method: str = "duality", margin: float = 1.0,
                      max_regions: int | None = None, progress: bool = True) -> DecisionTopology:
    """Decision regions, their components and Betti numbers, exactly (input dim 2 or 3).

    Parameters
    ----------
    net : PWLNet
        A classifier: one output (class 1 where it is > 0) or several (arg-max); input
        dimension 2 or 3.
    domain : Box, Polyhedron, (lo, hi) or None, default=None
        Bounded domain, or ``None`` for all of R^d (truncated, see the module notes).
    method : {"duality", "reduction"}, default="duality"
        How Betti numbers are computed (both exact).
    margin : float, default=1.0
        Over R^d: the truncation box's margin, relative to the extent of the vertices.
    max_regions : int, optional
        Refuse partitions with more regions (the enumeration stops there and an error
        is raised: topology needs every region).
    progress : bool, default=True

    Returns
    -------
    DecisionTopology

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet with 2 or 3 inputs, an option is invalid, or the
        enumeration stops at ``max_regions``.
    ComplexError
        If the regions do not form a face-to-face complex (a degenerate configuration,
        named in the message).

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet
    >>> lin = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.fill_(1.0); _ = lin.bias.zero_()
    >>> topo = decision_topology(PWLNet.from_torch(torch.nn.Sequential(lin)), (-1, 1))
    >>> topo.class_components, topo.decision_boundary_betti
    ({0: 1, 1: 1}, [1, 0])
    """
    from polylens.geometry.domain import as_domain
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.models.pwlnet import PWLNet

    func = "decision_topology"
    start = time.perf_counter()
    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", type(net).__name__)
    if net.input_dim not in (2, 3):
        raise invalid(func, "net", "a net with 2 or 3 inputs", f"{net.input_dim} inputs")
    domain = as_domain(domain, func=func)
    method = check_option(method, METHODS, func=func, name="method")
    margin = check_number(margin, func=func, name="margin", low=0.0, low_open=True)
    max_regions = check_int(max_regions, func=func, name="max_regions", low=1, none_ok=True)
    cn = class_net(net)
    truncated = domain is None
    res = _complete(enumerate_regions(cn, domain, max_regions=max_regions, progress=progress), func)
    if truncated:
        res = truncate(res, margin)
    return topology_of(res, method=method, truncated=truncated, start=start)


def _complete(result, func: str):
    if not result.complete:
        raise invalid(func, "max_regions", "large enough for a complete enumeration",
                      f"a budget that stopped it after {result.n_regions} regions")
    return result


def topology_of(result, *, method: str = "duality", truncated: bool = False, start: float | None = None
                ) -> DecisionTopology:
    """:class:`DecisionTopology` of a complete enumeration of a net with class units in a
    bounded domain (see :func:`decision_topology`).

    Raises
    ------
    InvalidParameterError
        If ``result`` is not a complete EnumerationResult in a bounded domain of dimension
        2 or 3.
    ComplexError
        If the regions do not form a face-to-face complex.
    """
    from scipy.sparse.csgraph import connected_components

    start = time.perf_counter() if start is None else start
    result = check_result(result, "topology_of", complete=True)
    cc = cell_complex(result)
    n_out = result.net.output_dim
    classes = [0, 1] if n_out == 1 else list(range(n_out))
    cls = cc.region_class
    n = result.n_regions
    e = result.edges
    same = cls[e[:, 0]] == cls[e[:, 1]]
    _, comp = connected_components(adjacency(n, e[same]), directed=False)
    degenerate = list(result.degenerate)
    class_regions, class_components, class_betti = {}, {}, {}
    for c in classes:
        mine = cls == c
        class_regions[c] = int(mine.sum())
        class_components[c] = int(np.unique(comp[mine]).size)
        class_betti[c] = betti_numbers(cc, closure(cc, cc.dim, mine), method=method)
        if class_betti[c][0] < class_components[c]:
            degenerate.append(f"class {c}: {class_components[c]} components touch one another at vertices or "
                              f"edges only (the closed region has {class_betti[c][0]})")
    boundary = betti_numbers(cc, closure(cc, cc.dim - 1, _boundary_facets(cc)), method=method)[:cc.dim]
    lo, hi = result.space.box
    return DecisionTopology(n, classes, class_regions, class_components, class_betti, boundary, e[~same],
                            np.stack([lo, hi]), truncated, degenerate, cc, result, time.perf_counter() - start)
