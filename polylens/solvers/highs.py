"""LP back end calling HiGHS through ``highspy`` directly.

HiGHS is handed the LP's dual. The LP ``min c @ x`` s.t. ``G @ x <= h`` with
``G = [A_ub; I; -I]`` and ``h = [b_ub; ub; -lb]`` (shape (n_rows + 2 n_vars,)) has the
dual ::

    minimise    h @ y
    subject to  G.T @ y = -c          (n_vars equality rows)
                0 <= y <= u           (u_k = 0 where h_k is infinite, else +inf)

whose row duals are a minimiser ``x`` of the LP. Its simplex basis is
n_vars x n_vars instead of (n_rows + ...) x (n_rows + ...), which roughly halves solve
times for the tall LPs polylens solves (few variables, many rows). A new objective
``c`` only moves the dual's row bounds, so the previous basis stays dual feasible and
the dual simplex warm-starts well; an overridden row or column bound changes the
dual's costs and column bounds.

Status translation (dual LP -> LP): optimal -> OPTIMAL; unbounded -> INFEASIBLE;
infeasible or "unbounded or infeasible" -> a feasibility solve (``c = 0``) decides
between UNBOUNDED and INFEASIBLE; iteration, time and other limits ->
ITERATION_LIMIT; anything else -> ERROR. Messages quote HiGHS's words.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np

from polylens.errors import SolverError
from polylens.solvers.base import LPBackend, LPSession
from polylens.solvers.result import LPResult, LPStatus

__all__ = ["DEFAULT_OPTIONS", "HIGHS_INFINITY", "HighsBackend", "HighsSession"]

#: Options set on every model before the caller's: silent, no presolve (tiny LPs
#: solve faster without it, and warm starts need the model as given).
DEFAULT_OPTIONS: dict[str, Any] = {"output_flag": False, "presolve": "off"}

#: HiGHS reads bounds and costs of this size or more as infinite (its
#: ``infinite_bound`` and ``infinite_cost`` options); so does this back end, for
#: ``b_ub``/``row_upper``, ``ub`` and ``-lb``.
HIGHS_INFINITY = 1e20

#: HiGHS model statuses (by name) that mean a work limit stopped the solver.
_LIMIT_STATUSES = (
    "kIterationLimit",
    "kTimeLimit",
    "kSolutionLimit",
    "kObjectiveBound",
    "kObjectiveTarget",
    "kInterrupt",
)


def _dual_matrix(A_ub: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dual's constraint matrix ``G.T`` in compressed sparse column form.

    Column ``k`` of ``G.T`` is row ``k`` of ``G = [A_ub; I; -I]``.

    Parameters
    ----------
    A_ub : numpy.ndarray of shape (n_rows, n_vars)

    Returns
    -------
    start : numpy.ndarray of shape (n_rows + 2 n_vars + 1,), int32
        Column ``k`` holds entries ``start[k]:start[k + 1]``.
    index : numpy.ndarray of shape (nnz,), int32
        Row index (variable of the LP) of each entry.
    value : numpy.ndarray of shape (nnz,), float64
        Value of each entry.
    """
    identity = np.eye(A_ub.shape[1])
    G = np.vstack((A_ub, identity, -identity))
    nonzero = G != 0
    start = np.concatenate(([0], np.cumsum(nonzero.sum(axis=1)))).astype(np.int32)
    index = np.nonzero(nonzero)[1].astype(np.int32)
    return start, index, G[nonzero]


def _dual_columns(
    row_upper: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Costs and upper bounds of the dual's columns (one per row of ``G``).

    Parameters
    ----------
    row_upper : numpy.ndarray of shape (n_rows,)
    lb, ub : numpy.ndarray of shape (n_vars,)

    Returns
    -------
    cost, upper : numpy.ndarray of shape (n_rows + 2 n_vars,)
        ``h`` with infinite entries (``>= HIGHS_INFINITY``) set to 0, and the column
        upper bounds: 0 (the constraint is off) where ``h`` is infinite, else +inf.
    """
    h = np.concatenate((row_upper, ub, -lb))
    finite = h < HIGHS_INFINITY
    return np.where(finite, h, 0.0), np.where(finite, np.inf, 0.0)


_banner_shown = False


@contextlib.contextmanager
def _banner_silenced():
    """Hide the banner HiGHS writes to the C-level stdout when its first object is made
    (before any option can turn it off); later objects print nothing."""
    global _banner_shown
    if _banner_shown:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _banner_shown = True


class HighsBackend(LPBackend):
    """Solve LPs with HiGHS's simplex method through ``highspy`` (see the module notes).

    Parameters
    ----------
    **options
        HiGHS options (e.g. ``time_limit=1.0``, ``simplex_iteration_limit=1000``)
        set on every model after :data:`DEFAULT_OPTIONS`, which they may override.
        They apply to the dual LP that HiGHS solves. ``time_limit`` (seconds) holds
        for each solve: HiGHS itself counts it over a model's whole life, so a
        session moves it forward before every solve.

    Raises
    ------
    SolverError
        If ``highspy`` does not import.
    ValueError
        If HiGHS rejects an option name or value.
    """

    name = "highs"
    supports_warm_start = True
    requires = "highspy"

    def __init__(self, **options: Any) -> None:
        self._highspy = self._import_library()
        self._options = {**DEFAULT_OPTIONS, **options}
        self._oneshot = self._new_highs()  # also rejects bad options now, not at the first solve
        self._time_limit = float(self._options.get("time_limit", np.inf))

    def _new_highs(self) -> Any:
        """A fresh ``highspy.Highs`` with the back end's options set."""
        highspy = self._highspy
        with _banner_silenced():
            highs = highspy.Highs()
        for key, value in self._options.items():
            try:
                accepted = highs.setOptionValue(key, value) == highspy.HighsStatus.kOk
            except TypeError:  # a value of no type HiGHS takes
                accepted = False
            if not accepted:
                raise ValueError(
                    f"HighsBackend: HiGHS rejected the option {key}={value!r}; "
                    "see the HiGHS documentation for option names and types"
                )
        return highs

    def _new_model(
        self, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray, highs: Any = None
    ) -> Any:
        """A ``highspy.Highs`` holding the dual of the LP, for ``c = 0``.

        Parameters
        ----------
        A_ub : numpy.ndarray of shape (n_rows, n_vars)
        b_ub : numpy.ndarray of shape (n_rows,)
        lb, ub : numpy.ndarray of shape (n_vars,)
        highs : highspy.Highs, optional
            An existing object to load the model into (its previous model is replaced);
            default a new one.
        """
        highspy = self._highspy
        n_vars = A_ub.shape[1]
        cost, upper = _dual_columns(b_ub, lb, ub)
        lp = highspy.HighsLp()
        lp.num_col_ = cost.shape[0]
        lp.num_row_ = n_vars
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(cost.shape[0])
        lp.col_upper_ = upper
        lp.row_lower_ = np.zeros(n_vars)
        lp.row_upper_ = np.zeros(n_vars)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = _dual_matrix(A_ub)
        highs = self._new_highs() if highs is None else highs
        if highs.passModel(lp) == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the LP (passModel returned kError)")
        return highs

    def _solve(
        self, c: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        """One-shot solve: a session on the back end's reusable HiGHS object."""
        return HighsSession(self, A_ub, b_ub, lb, ub, highs=self._oneshot)._solve(c, b_ub, lb, ub)

    def _session(
        self, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> HighsSession:
        return HighsSession(self, A_ub, b_ub, lb, ub)


class HighsSession(LPSession):
    """One live HiGHS model of the LP's dual, warm-started from solve to solve.

    Each solve sets the dual's row bounds to ``-c``; a solve that overrides
    ``row_upper``, ``lb`` or ``ub`` also rewrites the dual's costs and column bounds,
    and the next solve without overrides restores them.

    Parameters
    ----------
    backend : HighsBackend
    A_ub : numpy.ndarray of shape (n_rows, n_vars)
    b_ub : numpy.ndarray of shape (n_rows,)
    lb, ub : numpy.ndarray of shape (n_vars,)
    highs : highspy.Highs, optional
        Object to hold the model (default a new one).
    """

    backend: HighsBackend

    def __init__(
        self,
        backend: HighsBackend,
        A_ub: np.ndarray,
        b_ub: np.ndarray,
        lb: np.ndarray,
        ub: np.ndarray,
        highs: Any = None,
    ) -> None:
        super().__init__(backend, A_ub, b_ub, lb, ub)
        highspy = backend._highspy
        self._highs = backend._new_model(A_ub, b_ub, lb, ub, highs)
        self._statuses = highspy.HighsModelStatus
        self._run_error = highspy.HighsStatus.kError
        limits = (getattr(self._statuses, name, None) for name in _LIMIT_STATUSES)
        self._limits = tuple(status for status in limits if status is not None)
        self._vars = np.arange(self.n_vars, dtype=np.int32)
        self._dual_cols = np.arange(self.n_rows + 2 * self.n_vars, dtype=np.int32)
        self._dual_lower = np.zeros(self._dual_cols.shape[0])
        self._overridden = False

    def _solve(
        self, c: np.ndarray, row_upper: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        highs = self._highs
        rhs = -c
        highs.changeRowsBounds(self.n_vars, self._vars, rhs, rhs)
        override = row_upper is not self.b_ub or lb is not self.lb or ub is not self.ub
        if override or self._overridden:
            cost, upper = _dual_columns(row_upper, lb, ub)
            highs.changeColsCost(cost.shape[0], self._dual_cols, cost)
            highs.changeColsBounds(cost.shape[0], self._dual_cols, self._dual_lower, upper)
            self._overridden = override
        if self.backend._time_limit < np.inf:
            highs.setOptionValue("time_limit", highs.getRunTime() + self.backend._time_limit)
        if highs.run() == self._run_error:
            return self._failure(LPStatus.ERROR, "HiGHS: run() returned kError")
        return self._result(c)

    def _result(self, c: np.ndarray) -> LPResult:
        """Translate the dual's outcome (see the module notes) into the LP's."""
        highs = self._highs
        status = highs.getModelStatus()
        said = f"HiGHS: {highs.modelStatusToString(status)}"
        if status == self._statuses.kOptimal:
            x = np.array(highs.getSolution().row_dual, dtype=np.float64)
            return LPResult(LPStatus.OPTIMAL, said, x, float(c @ x), self.backend.name)
        if status == self._statuses.kUnbounded:
            return self._failure(LPStatus.INFEASIBLE, f"{said} (dual LP), so the LP is infeasible")
        if status in (self._statuses.kInfeasible, self._statuses.kUnboundedOrInfeasible):
            return self._feasibility(f"{said} (dual LP)")
        if status in self._limits:
            return self._failure(LPStatus.ITERATION_LIMIT, said)
        return self._failure(LPStatus.ERROR, said)

    def _feasibility(self, said: str) -> LPResult:
        """Tell an unbounded LP from an infeasible one by solving it with ``c = 0``.

        For ``c = 0`` the dual is feasible (``y = 0``); it is bounded exactly when
        the LP is feasible. The next solve sets the row bounds again.
        """
        highs = self._highs
        zero = np.zeros(self.n_vars)
        highs.changeRowsBounds(self.n_vars, self._vars, zero, zero)
        highs.run()
        status = highs.getModelStatus()
        found = f"{said}; with c = 0 HiGHS found: {highs.modelStatusToString(status)}"
        if status == self._statuses.kOptimal:
            return self._failure(LPStatus.UNBOUNDED, f"{found}, so the LP is unbounded")
        if status in (self._statuses.kUnbounded, self._statuses.kUnboundedOrInfeasible):
            return self._failure(LPStatus.INFEASIBLE, f"{found}, so the LP is infeasible")
        if status in self._limits:
            return self._failure(LPStatus.ITERATION_LIMIT, found)
        return self._failure(LPStatus.ERROR, found)

    def _failure(self, status: LPStatus, message: str) -> LPResult:
        return LPResult(status, message, None, None, self.backend.name)
