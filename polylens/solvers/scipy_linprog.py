"""LP back end calling ``scipy.optimize.linprog(method="highs")``."""

from __future__ import annotations

from typing import Any

import numpy as np

from polylens.solvers.base import LPBackend
from polylens.solvers.result import LPResult, LPStatus

__all__ = ["ScipyBackend"]

#: ``linprog``'s status codes are the ones :class:`LPStatus` copies.
_STATUSES = {int(status): status for status in LPStatus}


class ScipyBackend(LPBackend):
    """Solve LPs with ``scipy.optimize.linprog(method="highs")``, one call per solve.

    Parameters
    ----------
    **options
        Passed to ``linprog`` as its ``options`` dict (e.g. ``time_limit=1.0``,
        ``presolve=False``, ``dual_feasibility_tolerance=1e-9``).

    Raises
    ------
    SolverError
        If ``scipy.optimize`` does not import.
    """

    name = "scipy"
    supports_warm_start = False
    requires = "scipy.optimize"

    def __init__(self, **options: Any) -> None:
        self._linprog = self._import_library().linprog
        self._options = options

    def _solve(
        self, c: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lb: np.ndarray, ub: np.ndarray
    ) -> LPResult:
        active = b_ub < np.inf  # linprog rejects infinite right-hand sides
        has_rows = bool(active.any())
        result = self._linprog(
            c,
            A_ub=A_ub[active] if has_rows else None,
            b_ub=b_ub[active] if has_rows else None,
            bounds=np.column_stack((lb, ub)),
            method="highs",
            options=self._options,
        )
        status = _STATUSES.get(result.status, LPStatus.ERROR)
        message = f"scipy linprog: {result.message}"
        if status != LPStatus.OPTIMAL:
            return LPResult(status, message, None, None, self.name)
        x = np.asarray(result.x, dtype=np.float64)
        return LPResult(status, message, x, float(result.fun), self.name)
