"""The outcome of one LP solve, shared by every back end."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr

__all__ = ["LPStatus", "LPResult"]


class LPStatus(enum.IntEnum):
    """How an LP solve ended (the codes follow scipy's ``OptimizeResult.status``).

    ======================  =====================================================
    ``OPTIMAL = 0``         An optimum was found; ``x`` and ``fun`` are set.
    ``ITERATION_LIMIT = 1`` A work limit (iterations, time, ...) stopped the
                            solver before it proved optimality.
    ``INFEASIBLE = 2``      The constraints admit no point.
    ``UNBOUNDED = 3``       The constraints are feasible and the objective is
                            unbounded below.
    ``ERROR = 4``           Numerical trouble or a solver failure; no answer.
    ======================  =====================================================
    """

    OPTIMAL = 0
    ITERATION_LIMIT = 1
    INFEASIBLE = 2
    UNBOUNDED = 3
    ERROR = 4


@short_repr
@dataclass(frozen=True)
class LPResult:
    """The result of minimising ``c @ x`` over a polyhedron.

    Attributes
    ----------
    status : LPStatus
        How the solve ended.
    message : str
        What the solver said, in words.
    x : numpy.ndarray of shape (n_vars,) or None
        A minimiser (float64) when ``status`` is ``OPTIMAL``, else None.
    fun : float or None
        The minimum ``c @ x`` when ``status`` is ``OPTIMAL``, else None.
    backend : str
        The name of the back end that produced the result.
    """

    status: LPStatus
    message: str
    x: np.ndarray | None
    fun: float | None
    backend: str

    @property
    def success(self) -> bool:
        """True when an optimum was found."""
        return self.status == LPStatus.OPTIMAL
