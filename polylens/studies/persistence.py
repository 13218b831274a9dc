"""Sublevel sets of a scalar output: persistence diagram, Betti numbers, critical vertices.

A net's output ``f`` is affine on every cell of its partition, so its sublevel sets
``{f <= t}`` are modelled exactly by the *lower-star filtration* of the cell complex: a
cell enters at the largest value of ``f`` on its vertices. :func:`sublevel_persistence`
reduces the boundary matrix of that filtration over GF(2) (the standard column
algorithm) and reads off:

- the persistence diagram (birth, death, dimension; ``death = inf`` for classes that
  never die), zero-length pairs left out;
- the Betti numbers of any sublevel set (:meth:`Persistence.betti_at`);
- the PL Morse critical vertices with their indices: a pair born at a k-cell makes the
  top vertex of that cell critical of index k, its death at a (k+1)-cell makes that
  cell's top vertex critical of index k + 1. Vertices on the domain's boundary are
  critical for the function restricted to the domain (reported with ``on_boundary``).

The domain is a box, or R^d truncated as in :mod:`polylens.studies.topology`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, check_number, invalid
from polylens.studies.complex import CellComplex, cell_complex

__all__ = ["sublevel_persistence", "Persistence", "persistence_of"]


@short_repr
@dataclass(frozen=True)
class Persistence:
    """Persistent homology of the sublevel sets of a scalar output.

    Attributes
    ----------
    diagram : ndarray of shape (n_pairs, 3)
        Rows ``(dimension, birth, death)``; ``death`` is ``inf`` for essential classes.
    critical_vertices : ndarray of shape (n_critical,), int
        Vertex ids (into ``complex.vertices``).
    critical_points : ndarray of shape (n_critical, d)
    critical_index : ndarray of shape (n_critical,), int
        Morse index of each critical vertex.
    critical_values : ndarray of shape (n_critical,)
    on_boundary : ndarray of shape (n_critical,), bool
        The vertex lies on the domain's boundary (the box, or the truncation box).
    betti_total : list of int
        Betti numbers of the whole domain (the essential classes).
    degenerate : list of str
        Vertices with several critical cells (not a Morse function there).
    complex : CellComplex
    seconds : float
    """

    diagram: np.ndarray
    critical_vertices: np.ndarray
    critical_points: np.ndarray
    critical_index: np.ndarray
    critical_values: np.ndarray
    on_boundary: np.ndarray
    betti_total: list
    degenerate: list
    complex: CellComplex = field(repr=False)
    seconds: float = 0.0

    def betti_at(self, t: float) -> list[int]:
        """Betti numbers ``[b0, ..., b_d]`` of the sublevel set ``{f <= t}``.

        Raises
        ------
        InvalidParameterError
            If ``t`` is not a number.
        """
        t = check_number(t, func="Persistence.betti_at", name="t")
        dims, birth, death = self.diagram[:, 0].astype(int), self.diagram[:, 1], self.diagram[:, 2]
        alive = (birth <= t) & (death > t)
        return np.bincount(dims[alive], minlength=self.complex.dim + 1).tolist()

    def check(self) -> None:
        """Critical indices alternate into the Euler characteristic of the domain (Morse
        relation: sum of (-1)^index over critical cells = chi), and no class dies
        before it is born.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        chi_betti = sum((-1) ** k * b for k, b in enumerate(self.betti_total))
        assert chi_betti == self.complex.euler_characteristic
        assert int(np.sum((-1.0) ** self.critical_index)) == chi_betti
        assert np.all(self.diagram[:, 1] <= self.diagram[:, 2])


def sublevel_persistence(net, domain=None, *, margin: float = 1.0, max_regions: int | None = None,
                         progress: bool = True) -> Persistence:
    """Persistence diagram and critical vertices of a scalar output's sublevel sets.

    Parameters
    ----------
    net : PWLNet
        One output; 2 or 3 inputs.
    domain : Box, Polyhedron, (lo, hi) or None, default=None
        ``None``: all of R^d, truncated (see :mod:`polylens.studies.topology`).
    margin : float, default=1.0
        Truncation margin over R^d.
    max_regions : int, optional
        Refuse partitions with more regions.
    progress : bool, default=True

    Returns
    -------
    Persistence

    Raises
    ------
    InvalidParameterError
        If ``net`` is not a PWLNet with one output and 2 or 3 inputs, ``margin`` or
        ``max_regions`` is invalid, or the enumeration stops at ``max_regions``.
    ComplexError
        If the regions do not form a face-to-face complex.
    """
    from polylens.geometry.domain import as_domain
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.models.pwlnet import PWLNet
    from polylens.studies.topology import _complete, truncate

    func = "sublevel_persistence"
    start = time.perf_counter()
    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet", type(net).__name__)
    if net.output_dim != 1 or net.input_dim not in (2, 3):
        raise invalid(func, "net", "a net with one output and 2 or 3 inputs",
                      f"{net.input_dim} inputs and {net.output_dim} outputs")
    domain = as_domain(domain, func=func)
    margin = check_number(margin, func=func, name="margin", low=0.0, low_open=True)
    max_regions = check_int(max_regions, func=func, name="max_regions", low=1, none_ok=True)
    res = _complete(enumerate_regions(net, domain, max_regions=max_regions, progress=progress), func)
    if domain is None:
        res = truncate(res, margin)
    return persistence_of(cell_complex(res), start=start)


def persistence_of(cc: CellComplex, *, start: float | None = None) -> Persistence:
    """:class:`Persistence` of the lower-star filtration of output 0 on a cell complex.

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    start = time.perf_counter() if start is None else start
    f = cc.vertex_values[:, 0]
    d = cc.dim
    sizes = [len(c) for c in cc.cells]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    value = np.concatenate([f] + [np.array([f[list(c)].max() for c in cc.cells[k]]) for k in range(1, d + 1)])
    dim = np.repeat(np.arange(d + 1), sizes)
    top = np.concatenate([np.arange(sizes[0])] + [np.array([c[int(np.argmax(f[list(c)]))] for c in cc.cells[k]])
                                                   for k in range(1, d + 1)])
    order = np.lexsort((dim, value))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    csc = [None] + [cc.boundary[k].tocsc() for k in range(1, d + 1)]
    columns: list[int] = []
    for j in order.tolist():
        k = int(dim[j])
        if k == 0:
            columns.append(0)
            continue
        local = j - offsets[k]
        col = csc[k]
        rows = col.indices[col.indptr[local]:col.indptr[local + 1]]
        mask = 0
        for r in rank[offsets[k - 1] + rows].tolist():
            mask ^= 1 << r
        columns.append(mask)
    pivot_of: dict[int, int] = {}
    pairs = []
    for i in range(len(columns)):
        c = columns[i]
        while c:
            low = c.bit_length() - 1
            other = pivot_of.get(low)
            if other is None:
                break
            c ^= columns[other]
        columns[i] = c
        if c:
            low = c.bit_length() - 1
            pivot_of[low] = i
            pairs.append((low, i))
    killed = {a for a, _ in pairs} | {b for _, b in pairs}
    cell = order  # filtration position -> cell id
    diagram, crit_cells = [], []
    degenerate = []
    for a, b in pairs:
        ca, cb = cell[a], cell[b]
        if value[ca] < value[cb]:
            diagram.append((dim[ca], value[ca], value[cb]))
            crit_cells.extend([ca, cb])
    essential = [cell[i] for i in range(len(columns)) if i not in killed]
    for c in essential:
        diagram.append((dim[c], value[c], np.inf))
        crit_cells.append(c)
    crit_cells = np.array(crit_cells, dtype=np.int64)
    verts = top[crit_cells] if crit_cells.size else np.zeros(0, np.int64)
    index = dim[crit_cells] if crit_cells.size else np.zeros(0, np.int64)
    uniq, counts = np.unique(verts, return_counts=True)
    for v in uniq[counts > 1]:
        degenerate.append(f"vertex {int(v)} carries {int(counts[uniq == v][0])} critical cells (not Morse there)")
    on_boundary = np.any(cc.signs[verts][:, cc.signs.shape[1] - cc.n_domain_labels:] == 0, axis=1) if verts.size else np.zeros(0, bool)
    betti_total = np.bincount(np.array([dim[c] for c in essential], dtype=np.int64), minlength=d + 1).tolist()
    diagram = np.array(diagram, dtype=np.float64).reshape(-1, 3)
    return Persistence(diagram, verts, cc.vertices[verts], index, f[verts], on_boundary, betti_total, degenerate,
                       cc, time.perf_counter() - start)
