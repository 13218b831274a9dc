"""The space a question is asked in: a net, a subspace ``x = x0 + U t`` and a domain.

:class:`Space` turns a code into the labelled H-representation of its region (the rows
of every unit and of the domain), finds the region's Chebyshev centre with one LP, and
holds what every region of the same question shares (domain rows, bounding box, scale,
LP back end).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from polylens import tolerances as tol
from polylens.errors import InfeasibleRegionError
from polylens.geometry.domain import Box, Polyhedron
from polylens.models.pwlnet import PWLNet
from polylens.solvers import LPStatus, get_backend

__all__ = ["Space", "HRep"]


class HRep:
    """Rows ``A t <= b`` of one code's region, before its centre is known.

    Attributes
    ----------
    A : ndarray of shape (m, k)
        Unit-norm rows: every non-constant row of the units, then the domain's.
    b : ndarray of shape (m,)
    source : ndarray of shape (m,), int
        Unit index (into the code) of each row; ``-(f + 1)`` for domain face ``f``.
    across : ndarray of shape (m,), int8
        The unit's piece just across each row (-1 for domain rows).
    constant_units : ndarray of int
        Units with a row that does not depend on ``t`` (it holds throughout the space).
    tied_units : ndarray of int
        Units with a constant row that holds with equality: they sit on a boundary of
        their piece throughout the region (a max-pool window of equal dead entries, a
        ReLU whose input is identically 0), so their piece must be decided afresh
        whenever a facet is crossed.
    out_weight : ndarray of shape (n_outputs, k)
    out_bias : ndarray of shape (n_outputs,)
    """

    __slots__ = ("A", "b", "source", "across", "constant_units", "tied_units", "out_weight", "out_bias")

    def __init__(self, A, b, source, across, constant_units, tied_units, out_weight, out_bias):
        self.A, self.b, self.source, self.across = A, b, source, across
        self.constant_units, self.tied_units = constant_units, tied_units
        self.out_weight, self.out_bias = out_weight, out_bias


class Space:
    """A net restricted to ``x = x0 + U t`` (``t`` in R^k) and to a convex domain.

    Parameters
    ----------
    net : PWLNet
    domain : Box, Polyhedron or None
        In ``t`` coordinates; ``None`` is all of R^k.
    x0 : ndarray of shape (input_dim,), optional
        Origin of the subspace (default 0).
    U : ndarray of shape (input_dim, k), optional
        Basis of the subspace (default the identity: ``t`` is the input).
    solver : str, default="highs"
        LP back end name (see :func:`polylens.solvers.get_backend`).
    """

    def __init__(self, net: PWLNet, domain=None, x0=None, U=None, solver: str = "highs"):
        if not isinstance(net, PWLNet):
            raise TypeError(f"`net` must be a PWLNet (see PWLNet.from_torch); got {type(net).__name__}")
        self.net = net
        self.x0 = np.zeros(net.input_dim) if x0 is None else net.flatten_inputs(x0, "x0")[0]
        if U is None:
            self.U = None
            self.dim = net.input_dim
        else:
            self.U = np.asarray(U, dtype=np.float64)
            if self.U.ndim != 2 or self.U.shape[0] != net.input_dim or not np.all(np.isfinite(self.U)):
                raise ValueError(f"`U` must be a finite array of shape ({net.input_dim}, k); got {self.U.shape}")
            self.dim = self.U.shape[1]
        self.basis = np.vstack([self.x0, np.eye(self.dim) if self.U is None else self.U.T])
        self.backend = get_backend(solver)
        self.domain = domain
        if domain is None:
            self.domain_A, self.domain_b = np.zeros((0, self.dim)), np.zeros(0)
        elif isinstance(domain, (Box, Polyhedron)):
            self.domain_A, self.domain_b = domain.constraints(self.dim)
        else:
            raise TypeError(f"`domain` must be a Box, a Polyhedron or None; got {type(domain).__name__}")
        self.box = self._bounding_box()
        self.bounded_domain = self.box is not None and bool(np.all(np.isfinite(self.box)))
        finite = np.abs(self.box[np.isfinite(self.box)]) if self.box is not None else np.zeros(0)
        self.scale = float(max(1.0, finite.max(initial=0.0)))
        self.lp_solves = 0

    # ------------------------------------------------------------------ domain
    def _bounding_box(self) -> np.ndarray | None:
        """Array of shape (2, k) of per-coordinate bounds (may hold ±inf), or None."""
        if self.domain is None:
            return None
        if isinstance(self.domain, Box):
            return np.stack(self.domain.bounds(self.dim))
        box = np.empty((2, self.dim))
        for i in range(self.dim):
            for side, sign in ((0, 1.0), (1, -1.0)):
                c = np.zeros(self.dim)
                c[i] = sign
                res = self.backend.solve(c, self.domain_A, self.domain_b)
                if res.status == LPStatus.INFEASIBLE:
                    raise InfeasibleRegionError("the domain Polyhedron(A, b) is empty")
                box[side, i] = sign * res.fun if res.success else sign * -np.inf
        return box

    def seed_point(self) -> np.ndarray:
        """A point well inside the domain: its Chebyshev centre (0 for all of R^k)."""
        if self.domain is None:
            return np.zeros(self.dim)
        point, _ = self.chebyshev(self.domain_A, self.domain_b, what=lambda: "the domain")
        return point

    def check_point(self, t, func: str, name: str) -> np.ndarray:
        """Validate one point of the space (shape (k,), or an input when ``U`` is None)
        and check it lies in the domain; returns it as float64 of shape (k,)."""
        if self.U is None:
            xf = self.net.flatten_inputs(t, name)
            if xf.shape[0] != 1:
                raise ValueError(f"{func}: `{name}` must be one point; got a batch of {xf.shape[0]}")
            point = xf[0]
        else:
            point = np.asarray(t, dtype=np.float64).reshape(-1)
            if point.shape != (self.dim,) or not np.all(np.isfinite(point)):
                raise ValueError(f"{func}: `{name}` must be a finite point of shape ({self.dim},); got {np.shape(t)}")
        if self.domain_b.size and np.any(self.domain_A @ point > self.domain_b + tol.REDUNDANCY * self.scale):
            raise ValueError(f"{func}: `{name}` lies outside `domain`")
        return point

    def to_input(self, t) -> np.ndarray:
        """Map subspace coordinates, shape (n, k) or (k,), to flat inputs (n, input_dim)."""
        t = np.atleast_2d(np.asarray(t, dtype=np.float64))
        return self.x0 + (t if self.U is None else t @ self.U.T)

    # ------------------------------------------------------------------ regions
    def hrep(self, code: np.ndarray) -> HRep:
        """Labelled H-representation of the region of ``code`` (validated code)."""
        pre, out = self.net.frozen_forms(code, self.basis)
        A_u, b_u, src_u, across_u, constant, tied = self.unit_rows(code, pre)
        A = np.vstack([A_u, self.domain_A])
        b = np.concatenate([b_u, self.domain_b])
        n_dom = self.domain_b.shape[0]
        source = np.concatenate([src_u, -1 - np.arange(n_dom)])
        across = np.concatenate([across_u, np.full(n_dom, -1, np.int8)])
        return HRep(A, b, source, across, constant, tied, out[1:].T, out[0])

    def unit_rows(self, code, pre: list[np.ndarray]):
        """Normalised rows of every unit from its layer's input forms.

        ``pre[l]`` has shape (1 + k, n_in_l): row 0 the offset, rows 1.. the slopes.
        Returns ``(A, b, source, across, constant_units, tied_units)``; raises
        InfeasibleRegionError if a constant row is violated (the code is impossible).
        """
        net = self.net
        parts_A, parts_b, parts_src, parts_across = [], [], [], []
        for act, forms, lo, pieces in zip(net.activations, pre, net.layer_offsets, net.split_code(code)):
            rows = act.rows(pieces)
            z = forms[:, rows.pos]
            second = rows.neg >= 0
            if np.any(second):
                z[:, second] -= forms[:, rows.neg[second]]
            parts_A.append(rows.sign[:, None] * z[1:].T)
            parts_b.append(rows.offset - rows.sign * z[0])
            parts_src.append(lo + rows.unit)
            parts_across.append(rows.across)
        A = np.vstack(parts_A) if parts_A else np.zeros((0, self.dim))
        b = np.concatenate(parts_b) if parts_b else np.zeros(0)
        source = np.concatenate(parts_src) if parts_src else np.zeros(0, int)
        across = np.concatenate(parts_across) if parts_across else np.zeros(0, np.int8)
        norms = np.sqrt(np.einsum("ij,ij->i", A, A))
        constant = norms <= tol.ZERO_ROW * max(1.0, norms.max(initial=0.0))
        violated = constant & (b < -tol.REDUNDANCY * self.scale)
        if np.any(violated):
            raise InfeasibleRegionError(
                f"the code puts constant unit(s) {[net.unit_label(u) for u in source[violated][:3]]} "
                "in a piece they never take"
            )
        if not constant.any():
            empty = np.zeros(0, int)
            return A / norms[:, None], b / norms, source, across, empty, empty
        keep = ~constant
        tied = constant & (np.abs(b) <= tol.REDUNDANCY * self.scale)
        return (A[keep] / norms[keep, None], b[keep] / norms[keep], source[keep], across[keep],
                _distinct_sorted(source[constant]), _distinct_sorted(source[tied]))

    def chebyshev(self, A: np.ndarray, b: np.ndarray, what=lambda: "the region") -> tuple[np.ndarray, float]:
        """Centre and radius of the largest ball in ``{A t <= b}`` (unit-norm rows).

        The radius is capped at :data:`polylens.tolerances.RADIUS_CAP` times the scale
        (unbounded regions). With few rows (``C(m + 1, k + 1) <= SMALL_LP``) the LP is
        solved exactly by enumerating its vertices; otherwise by the LP back end.

        ``what`` is a callable that names the set in error messages.

        Raises
        ------
        InfeasibleRegionError
            If the set is empty or thinner than :data:`polylens.tolerances.MIN_RADIUS`.
        """
        k = A.shape[1]
        cap = tol.RADIUS_CAP * self.scale
        found = _chebyshev_by_vertices(A, b, cap) if comb(A.shape[0] + 1, k + 1) <= SMALL_LP else None
        if found is None:
            found = self._chebyshev_lp(A, b, cap, what)
        point, radius = found
        if radius <= tol.MIN_RADIUS * self.scale:
            raise InfeasibleRegionError(
                f"{what()} is thinner than the tolerance (Chebyshev radius {radius:.3g}); "
                "it is a lower-dimensional piece of a boundary"
            )
        return point, radius

    def _chebyshev_lp(self, A, b, cap, what):
        """Chebyshev LP; with many rows, by constraint generation: solve on a working set
        of rows, add the rows its solution violates, repeat (exact at convergence)."""
        if A.shape[0] <= WORKING_SET:
            return self._chebyshev_lp_rows(A, b, cap, what)
        work = np.argsort(np.abs(b))[:WORKING_SET]
        while True:
            point, radius = self._chebyshev_lp_rows(A[work], b[work], cap, what)
            excess = A @ point + radius - b
            violated = np.flatnonzero(excess > tol.REDUNDANCY * self.scale)
            if violated.size == 0:
                return point, radius
            worst = violated[np.argsort(-excess[violated])[:WORKING_SET]]
            work = np.union1d(work, worst)

    def _chebyshev_lp_rows(self, A, b, cap, what):
        k = A.shape[1]
        A_lp = np.hstack([A, np.ones((A.shape[0], 1))])
        c = np.zeros(k + 1)
        c[-1] = -1.0
        lb = np.full(k + 1, -np.inf)
        ub = np.full(k + 1, np.inf)
        lb[-1], ub[-1] = 0.0, cap
        res = self.backend.solve(c, A_lp, b, lb, ub)
        self.lp_solves += 1
        if res.status == LPStatus.INFEASIBLE:
            raise InfeasibleRegionError(f"{what()} is empty")
        if not res.success:
            raise InfeasibleRegionError(f"the Chebyshev LP of {what()} failed: {res.message}")
        return res.x[:k], float(res.x[-1])


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a small int array (``np.unique`` without its overhead)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if values.size else values


#: Rows per round of the constraint-generation Chebyshev LP.
WORKING_SET = 1000

#: Largest number of candidate vertices for which the Chebyshev LP is solved by
#: enumerating them (``C(m + 1, k + 1)`` for m rows in dimension k) instead of an LP.
SMALL_LP = 512


@lru_cache(maxsize=256)
def _subsets(n: int, size: int) -> np.ndarray:
    return np.array(list(combinations(range(n), size)), dtype=np.intp).reshape(-1, size)


def _chebyshev_by_vertices(A: np.ndarray, b: np.ndarray, cap: float):
    """Exact Chebyshev LP ``max r : A t + r <= b, r <= cap`` by vertex enumeration.

    Every vertex of the feasible set in ``(t, r)`` solves k + 1 tight rows; the best
    feasible one is the optimum (the set is pointed when A has full column rank).
    Returns None when no vertex qualifies (rank-deficient rows): the caller uses an LP.
    """
    m, k = A.shape
    M = np.zeros((m + 1, k + 1))
    M[:m, :k] = A
    M[:m, k] = 1.0
    M[m, k] = 1.0
    rhs = np.append(b, cap)
    idx = _subsets(m + 1, k + 1)
    systems = M[idx]
    try:
        sol = np.linalg.solve(systems, rhs[idx][..., None])[..., 0]
    except np.linalg.LinAlgError:  # some subsets are singular: keep the others
        ok = np.abs(np.linalg.det(systems)) > 1e-12
        if not np.any(ok):
            return None
        sol = np.linalg.solve(systems[ok], rhs[idx[ok]][..., None])[..., 0]
    feasible = np.all(sol @ M.T <= rhs + tol.REDUNDANCY * max(1.0, cap), axis=1)
    if not np.any(feasible):
        return None
    best = sol[feasible][np.argmax(sol[feasible, k])]
    return best[:k], float(best[k])
