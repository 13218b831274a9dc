"""The interface every LP back end implements, and the input checks they share.

Every back end solves the same problem::

    minimise    c @ x
    subject to  A_ub @ x <= b_ub
                lb <= x <= ub

with ``A_ub`` a dense array of shape (n_rows, n_vars) (``n_rows`` may be 0),
``b_ub`` of shape (n_rows,) (``+inf`` switches a row off) and ``lb``/``ub`` of shape
(n_vars,) (``-inf``/``+inf`` leave a side free; None leaves every variable free).
The public entry points (:meth:`LPBackend.solve`, :meth:`LPBackend.session`,
:meth:`LPSession.solve`) check their input and raise :class:`ValueError` on bad input;
back ends implement :meth:`LPBackend._solve` (and optionally
:meth:`LPBackend._session`) on checked float64 arrays.
"""

from __future__ import annotations

import abc
import importlib
from types import ModuleType
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from polylens.errors import SolverError
from polylens.solvers.result import LPResult

__all__ = ["LPBackend", "LPSession"]


def _as_float_array(value: ArrayLike, func: str, arg: str) -> np.ndarray:
    """Convert ``value`` to a float64 array, or raise a ValueError naming ``arg``."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{func}: argument '{arg}' must be a numeric array; "
            f"got {type(value).__name__} ({exc})"
        ) from None


def _check_vector(
    value: ArrayLike, func: str, arg: str, size: int, what: str, forbid: tuple[float, ...]
) -> np.ndarray:
    """Check a 1-D input of length ``size``: no NaN and none of the values in ``forbid``.

    Parameters
    ----------
    value : array_like of shape (size,)
        The input.
    func, arg : str
        The public function and the argument, for the error message.
    size : int
        The expected length.
    what : str
        What the entries are, for the error message (e.g. "one per row of A_ub").
    forbid : tuple of float
        Infinite values the argument may not hold (NaN is always forbidden).

    Returns
    -------
    numpy.ndarray of shape (size,)
        ``value`` as float64 (not copied when it already is).
    """
    array = _as_float_array(value, func, arg)
    if array.shape != (size,):
        raise ValueError(
            f"{func}: argument '{arg}' must have shape ({size},) ({what}); "
            f"got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        _reject_values(array, func, arg, forbid)
    return array


def _reject_values(array: np.ndarray, func: str, arg: str, forbid: tuple[float, ...]) -> None:
    """Raise a ValueError if ``array`` holds NaN or one of the values in ``forbid``."""
    checks = [("NaN", np.isnan(array))] + [(str(value), array == value) for value in forbid]
    for label, mask in checks:
        hits = np.flatnonzero(mask)
        if hits.size:
            raise ValueError(
                f"{func}: argument '{arg}' must not contain {label}; "
                f"got {label} at index {hits[:5].tolist()}"
            )


def _check_objective(c: ArrayLike, func: str, n_vars: int) -> np.ndarray:
    """Check the cost vector: shape (n_vars,), finite."""
    return _check_vector(c, func, "c", n_vars, "one cost per variable", (np.inf, -np.inf))


def _check_row_upper(b: ArrayLike, func: str, arg: str, n_rows: int) -> np.ndarray:
    """Check row upper bounds: shape (n_rows,), no NaN or -inf (+inf switches a row off)."""
    return _check_vector(b, func, arg, n_rows, "one per row of A_ub", (-np.inf,))


def _check_lower(lb: ArrayLike, func: str, n_vars: int) -> np.ndarray:
    """Check column lower bounds: shape (n_vars,), no NaN or +inf."""
    return _check_vector(lb, func, "lb", n_vars, "one per variable", (np.inf,))


def _check_upper(ub: ArrayLike, func: str, n_vars: int) -> np.ndarray:
    """Check column upper bounds: shape (n_vars,), no NaN or -inf."""
    return _check_vector(ub, func, "ub", n_vars, "one per variable", (-np.inf,))


def _check_matrix(A_ub: ArrayLike, func: str) -> np.ndarray:
    """Check the constraint matrix: 2-D with at least one column, finite.

    Returns
    -------
    numpy.ndarray of shape (n_rows, n_vars)
    """
    A = _as_float_array(A_ub, func, "A_ub")
    if A.ndim != 2 or A.shape[1] == 0:
        raise ValueError(
            f"{func}: argument 'A_ub' must be 2-D of shape (n_rows, n_vars) with "
            f"n_vars >= 1; got shape {A.shape}"
        )
    if not np.isfinite(A).all():
        raise ValueError(f"{func}: argument 'A_ub' must be finite (no NaN or inf)")
    return A


def _check_constraints(
    func: str,
    A_ub: ArrayLike,
    b_ub: ArrayLike,
    lb: ArrayLike | None,
    ub: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check the constraint data of an LP; None bounds become free (-inf / +inf).

    Returns
    -------
    A_ub : numpy.ndarray of shape (n_rows, n_vars)
    b_ub : numpy.ndarray of shape (n_rows,)
    lb, ub : numpy.ndarray of shape (n_vars,)
    """
    A = _check_matrix(A_ub, func)
    n_rows, n_vars = A.shape
    b = _check_row_upper(b_ub, func, "b_ub", n_rows)
    lb = np.full(n_vars, -np.inf) if lb is None else _check_lower(lb, func, n_vars)
    ub = np.full(n_vars, np.inf) if ub is None else _check_upper(ub, func, n_vars)
    return A, b, lb, ub


class LPSession:
    """A reusable LP over a fixed constraint matrix; only the objective and bounds vary.

    This default implementation calls the back end's one-shot solve each time;
    back ends that can keep a model alive (HiGHS) override :meth:`_solve`.

    Parameters
    ----------
    backend : LPBackend
        The back end that solves.
    A_ub : numpy.ndarray of shape (n_rows, n_vars)
    b_ub : numpy.ndarray of shape (n_rows,)
    lb, ub : numpy.ndarray of shape (n_vars,)
        Checked float64 arrays, owned by the session (see :meth:`LPBackend.session`).
        They are kept as the attributes of the same names; treat them as read-only.
    """

    def __init__(
        self,
        backend: LPBackend,
        A_ub: np.ndarray,
        b_ub: np.ndarray,
        lb: np.ndarray,
        ub: np.ndarray,
    ) -> None:
        self.backend = backend
        self.A_ub = A_ub
        self.b_ub = b_ub
        self.lb = lb
        self.ub = ub

    @property
    def n_rows(self) -> int:
        """The number of rows of ``A_ub``."""
        return self.A_ub.shape[0]

    @property
    def n_vars(self) -> int:
        """The number of variables (columns of ``A_ub``)."""
        return self.A_ub.shape[1]

    def solve(
        self,
        c: ArrayLike,
        row_upper: ArrayLike | None = None,
        lb: ArrayLike | None = None,
        ub: ArrayLike | None = None,
    ) -> LPResult:
        """Minimise ``c @ x`` over the session's polyhedron.

        Parameters
        ----------
        c : array_like of shape (n_vars,)
            The finite objective.
        row_upper : array_like of shape (n_rows,), optional
            Row upper bounds replacing ``b_ub`` for this solve only (``+inf`` switches
            a row off). None keeps the session's ``b_ub``.
        lb, ub : array_like of shape (n_vars,), optional
            Column bounds replacing the session's for this solve only. None keeps the
            session's bounds (not "free").

        Returns
        -------
        LPResult

        Raises
        ------
        ValueError
            On a wrong shape, NaN, an infinite cost, ``-inf`` in ``row_upper`` or ``ub``,
            or ``+inf`` in ``lb``.
        """
        func = f"{type(self).__name__}.solve"
        c = _check_objective(c, func, self.n_vars)
        if row_upper is None:
            row_upper = self.b_ub
        else:
            row_upper = _check_row_upper(row_upper, func, "row_upper", self.n_rows)
        lb = self.lb if lb is None else _check_lower(lb, func, self.n_vars)
        ub = self.ub if ub is None else _check_upper(ub, func, self.n_vars)
        return self._solve(c, row_upper, lb, ub)

    def _solve(
        self, c: np.ndarray, row_upper: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        """Solve on checked arrays.

        ``row_upper``, ``lb`` and ``ub`` are the session's own arrays (the identical
        objects) unless this solve overrides them.
        """
        return self.backend._solve(c, self.A_ub, row_upper, lb, ub)


class LPBackend(abc.ABC):
    """An LP solver behind the polylens interface.

    Attributes
    ----------
    name : str
        The registry name (see :data:`polylens.solvers.BACKENDS`).
    supports_warm_start : bool
        Whether :meth:`session` reuses solver state between solves.
    requires : str
        The module the back end imports; it is installed with the package named by
        its first component.
    """

    name: ClassVar[str]
    supports_warm_start: ClassVar[bool]
    requires: ClassVar[str]

    @classmethod
    def is_available(cls) -> bool:
        """Whether the back end's library imports.

        Raises
        ------
        None of its own
            An ``ImportError`` from the library is the answer False.
        """
        try:
            importlib.import_module(cls.requires)
        except ImportError:
            return False
        return True

    @classmethod
    def _import_library(cls) -> ModuleType:
        """Import the back end's library, or raise :class:`SolverError` naming the package."""
        try:
            return importlib.import_module(cls.requires)
        except ImportError as exc:
            package = cls.requires.partition(".")[0]
            raise SolverError(
                f"the '{cls.name}' LP back end needs the package '{package}', which does not "
                f"import ({exc}); install it with `pip install {package}`"
            ) from exc

    def solve(
        self,
        c: ArrayLike,
        A_ub: ArrayLike,
        b_ub: ArrayLike,
        lb: ArrayLike | None = None,
        ub: ArrayLike | None = None,
    ) -> LPResult:
        """Minimise ``c @ x`` subject to ``A_ub @ x <= b_ub`` and ``lb <= x <= ub``.

        Parameters
        ----------
        c : array_like of shape (n_vars,)
            The finite objective.
        A_ub : array_like of shape (n_rows, n_vars)
            The finite, dense constraint matrix; ``n_rows`` may be 0.
        b_ub : array_like of shape (n_rows,)
            Row upper bounds; ``+inf`` switches a row off.
        lb, ub : array_like of shape (n_vars,), optional
            Column bounds (``-inf``/``+inf`` allowed); None means free.

        Returns
        -------
        LPResult

        Raises
        ------
        ValueError
            On inconsistent shapes, NaN, infinite costs or matrix entries, or an
            infinite bound on the wrong side.
        """
        func = f"{type(self).__name__}.solve"
        A, b, lb, ub = _check_constraints(func, A_ub, b_ub, lb, ub)
        c = _check_objective(c, func, A.shape[1])
        return self._solve(c, A, b, lb, ub)

    def session(
        self,
        A_ub: ArrayLike,
        b_ub: ArrayLike,
        lb: ArrayLike | None = None,
        ub: ArrayLike | None = None,
    ) -> LPSession:
        """Set up a reusable LP over a fixed constraint matrix.

        Parameters
        ----------
        A_ub : array_like of shape (n_rows, n_vars)
        b_ub : array_like of shape (n_rows,)
        lb, ub : array_like of shape (n_vars,), optional
            As in :meth:`solve`; the arrays are copied.

        Returns
        -------
        LPSession

        Raises
        ------
        ValueError
            As :meth:`solve`.
        """
        checked = _check_constraints(f"{type(self).__name__}.session", A_ub, b_ub, lb, ub)
        return self._session(*(np.array(array) for array in checked))

    @abc.abstractmethod
    def _solve(
        self, c: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        """Solve on checked float64 arrays (shapes as in :meth:`solve`; bounds never None)."""

    def _session(
        self, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPSession:
        """Build a session on checked arrays that the session may keep."""
        return LPSession(self, A_ub, b_ub, lb, ub)
