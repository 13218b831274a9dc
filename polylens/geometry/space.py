"""The space a question is asked in: a net, a subspace ``x = x0 + U t`` and a domain.

:class:`Space` turns a code into the labelled H-representation of its region (the rows
of every unit and of the domain), finds the region's Chebyshev centre with one LP, and
holds what every region of the same question shares (domain rows, bounding box, length,
LP back end).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from polylens import tolerances as tol
from polylens._validation import check_array, invalid
from polylens.errors import InfeasibleRegionError, InvalidParameterError
from polylens.geometry.domain import Box, as_domain
from polylens.models.pwlnet import PWLNet
from polylens.solvers import LPStatus, get_backend

__all__ = ["Space", "HRep", "slack_tolerance", "lp_length", "one_input", "ROUNDOFF"]


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
    domain : Box, Polyhedron, (lo, hi) or None
        In ``t`` coordinates; ``None`` is all of R^k.
    x0 : array-like of shape (input_dim,) or input_shape, optional
        Origin of the subspace (default 0); the public functions call it ``origin``.
    U : array-like of shape (input_dim, k), optional
        Basis of the subspace (default the identity: ``t`` is the input); the public
        functions call it ``basis``.
    solver : str, default="highs"
        LP back end name (see :func:`polylens.solvers.get_backend`).
    func : str, default="Space"
        The public function that builds this space, named in error messages.

    Attributes
    ----------
    length : float
        A length of the problem in ``t`` (the extent of a bounded domain, or the median
        distance of the hyperplanes at ``t = 0`` from the origin): it scales with ``t``
        and caps the Chebyshev radius of unbounded regions.
    resolution : float
        How finely float64 resolves ``t``: the points ``x0 + U t`` carry a rounding error
        of about ``eps * ||x0||``, which is ``resolution`` in ``t`` (0 without ``x0``).

    Raises
    ------
    InvalidParameterError
        For a bad ``net``, ``domain``, ``x0``/``U`` (named ``origin``/``basis``) or
        ``solver``; or when float64 cannot resolve a bounded domain of the subspace
        (its basis is too small next to its origin).
    InfeasibleRegionError
        If the domain is empty.
    """

    def __init__(self, net: PWLNet, domain=None, x0=None, U=None, solver: str = "highs", func: str = "Space"):
        if not isinstance(net, PWLNet):
            raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", type(net).__name__)
        self.net = net
        self.func = func
        self.x0 = np.zeros(net.input_dim) if x0 is None else one_input(net, x0, func, "origin")
        if U is None:
            self.U = None
            self.dim = net.input_dim
        else:
            self.U = check_array(U, func=func, name="basis", shape=(net.input_dim, None))
            if self.U.shape[1] < 1:
                raise invalid(func, "basis", f"an array of shape ({net.input_dim}, k) with k >= 1",
                              f"an array of shape {self.U.shape}")
            self.dim = self.U.shape[1]
        self.basis = np.vstack([self.x0, np.eye(self.dim) if self.U is None else self.U.T])
        self.backend = get_backend(solver, func=func, param="solver")
        self.domain = as_domain(domain, func=func)
        if self.domain is None:
            self.domain_A, self.domain_b = np.zeros((0, self.dim)), np.zeros(0)
        else:
            try:
                self.domain_A, self.domain_b = self.domain.constraints(self.dim)
            except ValueError as err:
                raise invalid(func, "domain", f"a domain of dimension {self.dim} ({err})", self.domain) from None
        self.box = self._bounding_box()
        self.bounded_domain = self.box is not None and bool(np.all(np.isfinite(self.box)))
        self.resolution = self._resolution()
        self.length = self._length()
        self.lp_solves = 0
        if self.resolution > 0 and self.bounded_domain:
            self.seed_point()  # refuses a domain float64 cannot resolve

    # ------------------------------------------------------------------ scales
    def _resolution(self) -> float:
        """Rounding error of ``t`` from that of the points ``x0 + U t`` (0 without x0)."""
        size = float(np.linalg.norm(self.x0))
        if size == 0.0:
            return 0.0
        smallest = 1.0 if self.U is None else float(np.linalg.svd(self.U, compute_uv=False)[-1])
        if smallest == 0.0:
            return np.inf
        return tol.ROUNDING * np.finfo(np.float64).eps * size / smallest

    def _length(self) -> float:
        """See the class docstring: ``length``."""
        if self.bounded_domain:
            return float(np.max(self.box[1] - self.box[0]))
        distances = [np.abs(self.domain_b)]
        code = self.net.codes(self.to_input(np.zeros(self.dim)))[0]
        pre, _ = self.net.frozen_forms(code, self.basis)
        try:
            distances.append(np.abs(self.unit_rows(code, pre)[1]))
        except InfeasibleRegionError:
            pass
        distances = np.concatenate(distances)
        distances = distances[np.isfinite(distances) & (distances > 0)]
        return float(np.median(distances)) if distances.size else 1.0

    def thin(self, point: np.ndarray, radius: float, resolve: bool = True) -> bool:
        """Whether the Chebyshev ball (``point``, ``radius``) of a set is below what the
        arithmetic resolves: no larger than the round-off of a product with a unit row at
        ``point`` (:data:`ROUNDOFF` times ``max |point|``); with ``resolve``, also no
        larger than ``RESOLVED`` times the space's :attr:`resolution`.

        Both bounds scale with the inputs, so scaling the domain, the basis and the
        pre-activations together keeps a region's verdict. A thinner set is a
        lower-dimensional piece of a boundary as far as float64 can tell; anything
        larger is kept, however thin against its rows' distances from the origin.

        Raises
        ------
        ValueError
            If ``point`` is not 1-D (numpy's own error).
        """
        return bool(self.thin_many(np.asarray(point)[None], np.array([radius]), resolve)[0])

    def thin_many(self, point: np.ndarray, radius: np.ndarray, resolve: bool = True) -> np.ndarray:
        """:meth:`thin` for G balls at once: ``point`` of shape (G, k), ``radius`` (G,);
        shape (G,), bool.

        Raises
        ------
        ValueError
            If the shapes do not match (numpy's own error).
        """
        floor = ROUNDOFF * np.abs(point).max(axis=1, initial=0.0)
        if resolve:
            floor = np.maximum(floor, tol.RESOLVED * self.resolution)
        return ~(radius > floor)

    @property
    def radius_cap(self) -> float:
        """Chebyshev radius cap of unbounded regions (``RADIUS_CAP * length``)."""
        return tol.RADIUS_CAP * self.length

    # ------------------------------------------------------------------ domain
    def _bounding_box(self) -> np.ndarray | None:
        """Array of shape (2, k) of per-coordinate bounds (may hold ±inf), or None."""
        if self.domain is None:
            return None
        if isinstance(self.domain, Box):
            return np.stack(self.domain.bounds(self.dim))
        length = lp_length(self.domain_b)
        session = self.backend.session(self.domain_A, self.domain_b / length)
        box = np.empty((2, self.dim))
        for i in range(self.dim):
            for side, sign in ((0, 1.0), (1, -1.0)):
                c = np.zeros(self.dim)
                c[i] = sign
                res = session.solve(c)
                if res.status == LPStatus.INFEASIBLE:
                    raise InfeasibleRegionError("the domain Polyhedron(A, b) is empty")
                box[side, i] = sign * res.fun * length if res.success else sign * -np.inf
        return box

    def seed_point(self) -> np.ndarray:
        """A point well inside the domain: its Chebyshev centre (0 for all of R^k).

        Raises
        ------
        InvalidParameterError
            If float64 cannot resolve the domain in this subspace (see :attr:`resolution`).
        InfeasibleRegionError
            If the domain is empty or flat.
        """
        if self.domain is None:
            return np.zeros(self.dim)
        point, radius = self.chebyshev(self.domain_A, self.domain_b, what=lambda: "the domain", resolve=False)
        if not radius > tol.RESOLVED * self.resolution:
            raise InvalidParameterError(
                f"{self.func}: float64 cannot resolve `domain` in this subspace: its points origin + basis @ t "
                f"are only known to about {self.resolution:.3g} in t (|origin| = {np.linalg.norm(self.x0):.3g}), "
                f"while the domain's inner radius is {radius:.3g}; use a larger `basis` (and domain in its "
                "units) or move `origin` nearer to 0"
            )
        return point

    def check_point(self, t, func: str, name: str) -> np.ndarray:
        """Validate one point of the space (shape (k,), or an input when ``U`` is None)
        and check it lies in the domain; returns it as float64 of shape (k,).

        Raises
        ------
        InvalidParameterError
            Naming ``func`` and ``name``, if the point has the wrong shape, is not finite
            or lies outside the domain.
        """
        if self.U is None:
            point = one_input(self.net, t, func, name)
        else:
            point = check_array(t, func=func, name=name, shape=(self.dim,))
        if self.domain_b.size and np.any(
                self.domain_A @ point > self.domain_b + slack_tolerance(self.domain_b, point)):
            raise InvalidParameterError(f"{func}: `{name}` lies outside `domain`")
        return point

    def to_input(self, t) -> np.ndarray:
        """Map subspace coordinates, shape (n, k) or (k,), to flat inputs (n, input_dim).

        Raises
        ------
        ValueError
            If ``t`` does not have ``k`` columns.
        """
        t = np.atleast_2d(np.asarray(t, dtype=np.float64))
        return self.x0 + (t if self.U is None else t @ self.U.T)

    # ------------------------------------------------------------------ regions
    def hrep(self, code: np.ndarray) -> HRep:
        """Labelled H-representation of the region of ``code`` (validated code).

        Raises
        ------
        InfeasibleRegionError
            If the code puts a constant unit in a piece it never takes (see
            :meth:`unit_rows`).
        """
        return self._hrep(code, *self.net.frozen_forms(code, self.basis))

    def hreps(self, codes: np.ndarray) -> list[HRep]:
        """:meth:`hrep` of every code of a batch (shape (B, n_units)), the affine forms
        in batched passes.

        Raises
        ------
        InfeasibleRegionError
            As :meth:`hrep`, for the first code that fails.
        """
        out = []
        step = self.net.forms_batch_size(self.basis.shape[0])
        for lo in range(0, codes.shape[0], step):
            pre, maps = self.net.frozen_forms(codes[lo:lo + step], self.basis)
            out.extend(self._hrep(code, [p[i] for p in pre], maps[i]) for i, code in enumerate(codes[lo:lo + step]))
        return out

    def _hrep(self, code: np.ndarray, pre: list[np.ndarray], out: np.ndarray) -> HRep:
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
        Constant and tied units are decided relative to their own layer (its largest
        row norm and its largest pre-activation magnitude), so scaling a layer's
        pre-activations changes nothing.

        Returns ``(A, b, source, across, constant_units, tied_units)``.

        Raises
        ------
        InfeasibleRegionError
            If a constant row is violated (the code is impossible).
        """
        net = self.net
        parts_A, parts_b, parts_src, parts_across, parts_const, parts_tied = [], [], [], [], [], []
        for act, forms, lo, pieces in zip(net.activations, pre, net.layer_offsets, net.split_code(code)):
            rows = act.rows(pieces)
            z = forms[:, rows.pos]
            second = rows.neg >= 0
            if np.any(second):
                z[:, second] -= forms[:, rows.neg[second]]
            A_l = rows.sign[:, None] * z[1:].T
            b_l = rows.offset - rows.sign * z[0]
            norms = np.sqrt((A_l * A_l).sum(axis=1))
            constant = norms <= tol.ZERO_ROW * norms.max(initial=0.0)
            size = max(float(np.max(np.abs(forms[0]), initial=0.0)), float(np.max(np.abs(rows.offset), initial=0.0)))
            parts_A.append(A_l)
            parts_b.append(b_l)
            parts_src.append(lo + rows.unit)
            parts_across.append(rows.across)
            parts_const.append(constant)
            parts_tied.append(constant & (np.abs(b_l) <= tol.TIED * size))
            violated = constant & (b_l < -tol.TIED * size)
            if np.any(violated):
                raise InfeasibleRegionError(
                    f"the code puts constant unit(s) {[net.unit_label(u) for u in (lo + rows.unit)[violated][:3]]} "
                    "in a piece they never take"
                )
        if not parts_A:
            return (np.zeros((0, self.dim)), np.zeros(0), np.zeros(0, int), np.zeros(0, np.int8),
                    np.zeros(0, int), np.zeros(0, int))
        A, b = np.vstack(parts_A), np.concatenate(parts_b)
        source, across = np.concatenate(parts_src), np.concatenate(parts_across)
        constant, tied = np.concatenate(parts_const), np.concatenate(parts_tied)
        keep = ~constant
        norms = np.sqrt((A[keep] * A[keep]).sum(axis=1))
        return (A[keep] / norms[:, None], b[keep] / norms, source[keep], across[keep],
                _distinct_sorted(source[constant]), _distinct_sorted(source[tied]))

    def chebyshev(self, A: np.ndarray, b: np.ndarray, what=lambda: "the region",
                  resolve: bool = True) -> tuple[np.ndarray, float]:
        """Centre and radius of the largest ball in ``{A t <= b}`` (unit-norm rows).

        The radius is capped at :attr:`radius_cap` (unbounded regions). With few rows
        (``C(m + 1, k + 1) <= SMALL_LP``) the LP is solved exactly by enumerating its
        vertices; otherwise by the LP back end, on rows divided by :func:`lp_length`.

        ``what`` is a callable that names the set in error messages; with ``resolve``
        false, a ball below the space's resolution is returned rather than refused.

        Raises
        ------
        InfeasibleRegionError
            If the set is empty or thinner than the tolerances resolve (see :meth:`thin`).
        """
        k = A.shape[1]
        cap = self.radius_cap
        found = None
        if comb(A.shape[0] + 1, k + 1) <= SMALL_LP:
            ok, point, radius = chebyshev_by_vertices(A[None], b[None], cap)
            found = (point[0], float(radius[0])) if ok[0] else None
        if found is None:
            length = lp_length(b)
            point, radius = self._chebyshev_lp(A, b / length, cap / length, what)
            found = point * length, radius * length
        point, radius = found
        if self.thin(point, radius, resolve):
            raise InfeasibleRegionError(
                f"{what()} is thinner than the tolerance (Chebyshev radius {radius:.3g}); "
                "it is a lower-dimensional piece of a boundary"
                + (f" or below the resolution {self.resolution:.3g} of this subspace" if self.resolution else "")
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
            violated = np.flatnonzero(excess > tol.REDUNDANCY * (np.abs(b) + np.max(np.abs(point))))
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


def coordinate_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` coordinate by coordinate in order: the same bits as numpy's
    sum over a short last axis (a plain loop below eight terms), in fewer steps.

    Raises
    ------
    IndexError
        If ``x`` has no last axis or it is empty.
    """
    out = x[..., 0]
    for j in range(1, x.shape[-1]):
        out = out + x[..., j]
    return out


def row_dot(A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row products ``A[..., i, :] @ t[..., :]`` (shapes (..., m, k), (..., k) -> (..., m)),
    summed coordinate by coordinate in order: each product's bits depend on its own
    numbers only, not on the batch around it (a BLAS product's may).

    Raises
    ------
    ValueError
        If the shapes do not broadcast (numpy's own error).
    """
    t = t[..., None, :]
    out = A[..., 0] * t[..., 0]
    for j in range(1, A.shape[-1]):
        out = out + A[..., j] * t[..., j]
    return out


def slack_tolerance(b, t, rel: float = tol.REDUNDANCY):
    """Tolerance on a slack ``b - a @ t`` (unit rows ``a``), relative to the numbers it
    compares: ``rel`` times the row's distance ``|b|`` from the origin, plus the
    round-off of ``a @ t`` at the magnitude ``||t||_inf`` of the point.

    Raises
    ------
    None of its own
        ``t`` enters only through its largest magnitude, so ``b`` and ``t`` need not
        share a shape; ``ValueError`` if an array ``rel`` does not broadcast against
        ``b``.
    """
    return rel * np.abs(b) + ROUNDOFF * float(np.max(np.abs(t), initial=0.0))


def lp_length(b: np.ndarray) -> float:
    """A length to divide the rows' offsets by before an LP (the median nonzero
    ``|b|``, or 1): LP back ends' absolute tolerances then act on numbers of order 1,
    whatever the units of ``t``.

    Raises
    ------
    None of its own
        ``b`` (an ndarray) may hold infinities and NaNs: they are ignored.
    """
    b = np.abs(b[np.isfinite(b)])
    b = b[b > 0]
    return float(np.median(b)) if b.size else 1.0


def one_input(net: PWLNet, x, func: str, name: str) -> np.ndarray:
    """One finite input of ``net`` (shape ``input_shape`` or (input_dim,)) as a flat
    float64 vector.

    Raises
    ------
    InvalidParameterError
        Naming ``func`` and ``name``, if ``x`` is not one input of that shape or is not
        finite.
    """
    shapes = f"{net.input_shape}" if net.input_shape == (net.input_dim,) else f"{net.input_shape} or ({net.input_dim},)"
    try:
        arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(func, name, f"an input of shape {shapes}", x) from None
    if arr.ndim and arr.shape[0] == 1 and arr.shape[1:] in (net.input_shape, (net.input_dim,)):
        arr = arr[0]  # a batch of one
    if arr.shape not in (net.input_shape, (net.input_dim,)):
        raise invalid(func, name, f"one input of shape {shapes} (a batch (n, {net.input_dim}) with n = 1)",
                      f"an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise invalid(func, name, "finite (no NaN or infinity)", x)
    return net.flatten_inputs(arr, name)[0]


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a small int array (``np.unique`` without its overhead)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if values.size else values


#: Round-off of a product ``a @ t`` with a unit row, relative to ``||t||``.
ROUNDOFF = tol.RESOLVED * np.finfo(np.float64).eps

#: Rows per round of the constraint-generation Chebyshev LP.
WORKING_SET = 1000

#: Largest number of candidate vertices for which the Chebyshev LP is solved by
#: enumerating them (``C(m + 1, k + 1)`` for m rows in dimension k) instead of an LP.
SMALL_LP = 512


@lru_cache(maxsize=256)
def _subsets(n: int, size: int) -> np.ndarray:
    return np.array(list(combinations(range(n), size)), dtype=np.intp).reshape(-1, size)


def chebyshev_by_vertices(A: np.ndarray, b: np.ndarray, cap: float, counts: np.ndarray | None = None):
    """Exact Chebyshev LP ``max r : A t + r <= b, r <= cap`` by vertex enumeration, for G
    sets of unit-norm rows at once (``A`` of shape (G, m, k), ``b`` (G, m); set g has
    its first ``counts[g]`` rows, default all m; the rest are padding).

    Every vertex of the feasible set in ``(t, r)`` solves k + 1 tight rows; the best
    feasible one is the optimum (the set is pointed when A has full column rank); of
    several, the one nearest the origin. Each set is solved on its own numbers only
    (one LAPACK solve per system), so its answer does not depend on the others.

    Returns
    -------
    found : ndarray of shape (G,), bool
        False where no vertex qualifies (rank-deficient rows): the caller uses an LP.
    point : ndarray of shape (G, k)
    radius : ndarray of shape (G,)

    Raises
    ------
    None of its own
    """
    G, m, k = A.shape
    counts = np.full(G, m) if counts is None else counts
    # Set g: its rows, then the cap's row, then zero rows (no vertex, always satisfied),
    # so its subsets come in the order they would alone.
    position = np.arange(m + 1)[None, :]
    real = position < counts[:, None]
    M = np.zeros((G, m + 1, k + 1))
    M[:, :m, :k] = np.where(real[:, :m, None], A, 0.0)
    M[:, :, k] = real | (position == counts[:, None])
    rhs = np.where(real, np.concatenate([b, np.zeros((G, 1))], axis=1), 0.0)
    rhs[np.arange(G), counts] = cap
    idx = _subsets(m + 1, k + 1)
    if idx.shape[0] == 0:
        return np.zeros(G, bool), np.zeros((G, k)), np.zeros(G)
    systems = M[:, idx]
    # Near-singular subsets (parallel rows) have no vertex, only round-off far away.
    ok = np.abs(np.linalg.det(systems)) > tol.RANK
    group = np.nonzero(ok)[0]
    sol = np.linalg.solve(systems[ok], rhs[:, idx][ok][..., None])[..., 0]
    # Slack test relative to the row's offset and the radius, plus round-off at the
    # vertex's magnitude.
    size = np.abs(sol[:, :k]).max(axis=1, initial=0.0)
    slack_tol = tol.REDUNDANCY * (np.abs(rhs[group]) + np.abs(sol[:, k:])) + ROUNDOFF * size[:, None]
    lhs = M[group, :, 0] * sol[:, None, 0]  # M @ sol, summed in order as np.sum would
    for j in range(1, k + 1):
        lhs += M[group, :, j] * sol[:, None, j]
    feasible = np.all(lhs <= rhs[group] + slack_tol, axis=1)
    radius = np.full(ok.shape, -np.inf)
    radius[ok] = np.where(feasible, sol[:, k], -np.inf)
    found = np.isfinite(radius.max(axis=1, initial=-np.inf))
    # Among the optimal vertices (an unbounded region has many at the cap), the one
    # nearest the origin: its coordinates carry the least round-off.
    sizes = np.full(ok.shape, np.inf)
    sizes[ok] = size
    top = np.argmax(radius, axis=1)
    rows = np.arange(G)
    best_r, best_size = radius[rows, top], sizes[rows, top]
    slack_tol = tol.REDUNDANCY * np.abs(best_r)[:, None] + ROUNDOFF * np.maximum(sizes, best_size[:, None])
    near = np.where(np.isfinite(radius) & (radius >= best_r[:, None] - slack_tol), sizes, np.inf)
    pick = np.argmin(near, axis=1)
    solutions = np.zeros(ok.shape + (k + 1,))
    solutions[ok] = sol
    best = solutions[rows, pick]
    return found, best[:, :k], best[:, k]
