"""Convex domains the exact engine works inside: boxes and general H-polyhedra.

``None`` stands for all of R^k wherever a domain is accepted. A domain is given in the
coordinates ``t`` of the space being studied (the input space, or a subspace of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens.errors import InvalidParameterError

__all__ = ["Box", "Polyhedron", "Domain", "as_domain"]


@short_repr
@dataclass(frozen=True, init=False)
class Box:
    """The axis-aligned box ``lo <= t <= hi``.

    Parameters
    ----------
    lo, hi : float or array-like of shape (k,)
        Corners; scalars are broadcast to the dimension of the space they are used in.

    Examples
    --------
    >>> Box(-1, 1).bounds(2)
    (array([-1., -1.]), array([1., 1.]))
    """

    lo: np.ndarray
    hi: np.ndarray

    def __init__(self, lo, hi):
        lo_arr = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi_arr = np.atleast_1d(np.asarray(hi, dtype=np.float64))
        if lo_arr.ndim != 1 or hi_arr.ndim != 1:
            raise InvalidParameterError(f"Box: `lo` and `hi` must be scalars or 1-D; got shapes {lo_arr.shape}, {hi_arr.shape}")
        if not (np.all(np.isfinite(lo_arr)) and np.all(np.isfinite(hi_arr))):
            raise InvalidParameterError(f"Box: `lo` and `hi` must be finite; got lo={lo_arr}, hi={hi_arr}")
        if lo_arr.size != hi_arr.size and 1 not in (lo_arr.size, hi_arr.size):
            raise InvalidParameterError(f"Box: `lo` and `hi` must have the same length (or be scalars); "
                             f"got lengths {lo_arr.size} and {hi_arr.size}")
        lo_b, hi_b = np.broadcast_arrays(lo_arr, hi_arr)
        if np.any(lo_b >= hi_b):
            raise InvalidParameterError(f"Box: every `lo` must be below `hi` (the box would be empty); got lo={lo_arr}, hi={hi_arr}")
        object.__setattr__(self, "lo", lo_arr)
        object.__setattr__(self, "hi", hi_arr)

    def bounds(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Corners broadcast to ``dim`` coordinates.

        Raises
        ------
        InvalidParameterError
            If a corner has neither 1 nor ``dim`` coordinates.
        """
        if self.lo.shape[0] not in (1, dim) or self.hi.shape[0] not in (1, dim):
            raise InvalidParameterError(
                f"Box: corners of length {self.lo.shape[0]}/{self.hi.shape[0]} do not fit a space of dimension {dim}"
            )
        return np.broadcast_to(self.lo, (dim,)).copy(), np.broadcast_to(self.hi, (dim,)).copy()

    def constraints(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``A t <= b`` with unit-norm rows: ``t_i <= hi_i`` then ``-t_i <= -lo_i``.

        Raises
        ------
        InvalidParameterError
            If a corner has neither 1 nor ``dim`` coordinates.
        """
        lo, hi = self.bounds(dim)
        eye = np.eye(dim)
        return np.vstack([eye, -eye]), np.concatenate([hi, -lo])

    def volume(self, dim: int) -> float:
        """Volume of the box in ``dim`` dimensions.

        Raises
        ------
        InvalidParameterError
            If a corner has neither 1 nor ``dim`` coordinates.
        """
        lo, hi = self.bounds(dim)
        return float(np.prod(hi - lo))


@short_repr
@dataclass(frozen=True, init=False)
class Polyhedron:
    """The convex set ``{t : A t <= b}`` (bounded or not).

    Parameters
    ----------
    A : array-like of shape (m, k)
    b : array-like of shape (m,)

    Rows are normalised to unit norm. Emptiness is checked where the domain is used
    (an empty domain raises :class:`~polylens.errors.InfeasibleRegionError`).
    """

    A: np.ndarray
    b: np.ndarray

    def __init__(self, A, b):
        A = np.asarray(A, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if A.ndim != 2 or b.shape != (A.shape[0],):
            raise InvalidParameterError(f"Polyhedron: `A` must be (m, k) and `b` (m,); got {A.shape} and {b.shape}")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise InvalidParameterError("Polyhedron: `A` and `b` must be finite")
        norms = np.linalg.norm(A, axis=1)
        if np.any(norms == 0):
            raise InvalidParameterError(f"Polyhedron: rows {np.flatnonzero(norms == 0).tolist()} of `A` are zero")
        object.__setattr__(self, "A", A / norms[:, None])
        object.__setattr__(self, "b", b / norms)

    def constraints(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``A t <= b`` (unit-norm rows).

        Raises
        ------
        InvalidParameterError
            If ``A`` does not have ``dim`` columns.
        """
        if self.A.shape[1] != dim:
            raise InvalidParameterError(f"Polyhedron: `A` has {self.A.shape[1]} columns but the space has dimension {dim}")
        return self.A, self.b


Domain = Box | Polyhedron | None


def as_domain(domain, *, func: str, name: str = "domain") -> Box | Polyhedron | None:
    """The one reading of a ``domain=`` argument, shared by every public function.

    Parameters
    ----------
    domain : Box, Polyhedron, (lo, hi) or None
        ``None`` is all of R^k; a pair ``(lo, hi)`` of scalars or per-coordinate arrays is
        ``Box(lo, hi)``.
    func, name : str
        The public function and the parameter, named in the error.

    Raises
    ------
    InvalidParameterError
        For anything else, or a pair that is no box (``lo >= hi``, not finite).

    Examples
    --------
    >>> as_domain((-1, 1), func="f")
    Box(lo=[-1.0], hi=[1.0])
    """
    from polylens._validation import invalid

    if domain is None or isinstance(domain, (Box, Polyhedron)):
        return domain
    if isinstance(domain, (tuple, list)) and len(domain) == 2:
        try:
            return Box(*domain)
        except (ValueError, TypeError) as err:
            raise invalid(func, name, f"a valid (lo, hi) pair ({err})", domain) from None
    raise invalid(func, name, "a Box, a Polyhedron, a (lo, hi) pair or None", domain)
