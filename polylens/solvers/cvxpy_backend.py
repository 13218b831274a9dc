"""LP back end calling any solver installed for ``cvxpy``.

Status policy: cvxpy's ``*_inaccurate`` statuses keep their meaning
(``optimal_inaccurate`` is OPTIMAL, with ``x`` and ``fun`` set,
``infeasible_inaccurate`` INFEASIBLE, ``unbounded_inaccurate`` UNBOUNDED) and the
message says "inaccurate", so a caller that needs certified answers can test for it;
``infeasible_or_unbounded`` is resolved by a feasibility solve (zero objective);
``user_limit`` is ITERATION_LIMIT; a solver error (raised or reported) is ERROR.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from polylens.solvers.base import LPBackend
from polylens.solvers.result import LPResult, LPStatus

__all__ = ["CvxpyBackend"]

#: cvxpy status strings and what they mean here (absent: ERROR).
_STATUSES = {
    "optimal": LPStatus.OPTIMAL,
    "optimal_inaccurate": LPStatus.OPTIMAL,
    "infeasible": LPStatus.INFEASIBLE,
    "infeasible_inaccurate": LPStatus.INFEASIBLE,
    "unbounded": LPStatus.UNBOUNDED,
    "unbounded_inaccurate": LPStatus.UNBOUNDED,
    "user_limit": LPStatus.ITERATION_LIMIT,
}

#: The cvxpy status that needs a feasibility solve to tell its two cases apart, and
#: the start of the warning cvxpy gives with it.
_INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
_INFEASIBLE_OR_UNBOUNDED_WARNING = r"\s*The problem is either infeasible or unbounded"


class CvxpyBackend(LPBackend):
    """Solve LPs with a solver installed for cvxpy.

    Parameters
    ----------
    solver : str, optional
        A name from ``cvxpy.installed_solvers()`` (e.g. ``"CLARABEL"``, ``"HIGHS"``);
        None lets cvxpy choose its default for LPs.
    **solver_options
        Passed to ``cvxpy.Problem.solve`` (e.g. ``verbose=True`` or solver settings).

    Raises
    ------
    SolverError
        If ``cvxpy`` does not import.
    ValueError
        If ``solver`` is not installed.
    """

    name = "cvxpy"
    supports_warm_start = False
    requires = "cvxpy"

    def __init__(self, solver: str | None = None, **solver_options: Any) -> None:
        self._cp = self._import_library()
        installed = self._cp.installed_solvers()
        if solver is not None:
            from polylens._validation import check_option

            check_option(solver, installed, func="CvxpyBackend", name="solver")
        self._solver = solver
        self._options = solver_options

    def _solve(
        self, c: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        cp = self._cp
        problem, x = self._problem(c, A_ub, b_ub, lb, ub)
        try:
            with warnings.catch_warnings():
                # The status is resolved below; cvxpy's advice to re-solve is noise here.
                warnings.filterwarnings("ignore", message=_INFEASIBLE_OR_UNBOUNDED_WARNING)
                problem.solve(solver=self._solver, **self._options)
        except cp.error.SolverError as exc:
            return self._failure(LPStatus.ERROR, f"cvxpy ({self._solver or 'default'}): {exc}")
        said = f"cvxpy ({problem.solver_stats.solver_name}): {problem.status}"
        if problem.status == _INFEASIBLE_OR_UNBOUNDED:
            return self._disambiguate(said, A_ub, b_ub, lb, ub)
        status = _STATUSES.get(problem.status, LPStatus.ERROR)
        if status != LPStatus.OPTIMAL:
            return self._failure(status, said)
        value = np.asarray(x.value, dtype=np.float64).reshape(-1)
        return LPResult(status, said, value, float(problem.value), self.name)

    def _problem(
        self, c: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> tuple[Any, Any]:
        """The cvxpy problem and its variable; rows with ``b_ub = +inf`` and infinite
        bounds are left out."""
        cp = self._cp
        x = cp.Variable(c.shape[0])
        active = b_ub < np.inf
        constraints = [A_ub[active] @ x <= b_ub[active]] if active.any() else []
        lower, upper = np.flatnonzero(lb > -np.inf), np.flatnonzero(ub < np.inf)
        if lower.size:
            constraints.append(x[lower] >= lb[lower])
        if upper.size:
            constraints.append(x[upper] <= ub[upper])
        return cp.Problem(cp.Minimize(c @ x), constraints), x

    def _disambiguate(
        self, said: str, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        """Resolve "infeasible or unbounded" by solving with a zero objective."""
        feasibility = self._solve(np.zeros(A_ub.shape[1]), A_ub, b_ub, lb, ub)
        found = {LPStatus.OPTIMAL: LPStatus.UNBOUNDED, LPStatus.INFEASIBLE: LPStatus.INFEASIBLE}
        status = found.get(feasibility.status, LPStatus.ERROR)
        return self._failure(
            status, f"{said}; a feasibility solve (zero objective) found: {feasibility.message}"
        )

    def _failure(self, status: LPStatus, message: str) -> LPResult:
        return LPResult(status, message, None, None, self.name)
