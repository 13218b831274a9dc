"""LP back ends behind one small interface.

Every back end minimises ``c @ x`` subject to ``A_ub @ x <= b_ub`` and
``lb <= x <= ub`` (see :class:`LPBackend`) and returns an :class:`LPResult`.
Back ends are looked up by name in :data:`BACKENDS`; their libraries are imported
only when a back end is built, so importing this package stays cheap.

>>> from polylens.solvers import get_backend
>>> get_backend("highs").solve([1.0], [[-1.0]], [2.0]).fun
-2.0
"""

from __future__ import annotations

import importlib
from typing import Any

from polylens.solvers.base import LPBackend, LPSession
from polylens.solvers.result import LPResult, LPStatus

__all__ = [
    "BACKENDS",
    "LPBackend",
    "LPResult",
    "LPSession",
    "LPStatus",
    "available_backends",
    "get_backend",
]

#: Back-end names and where their classes live ("module:Class").
BACKENDS: dict[str, str] = {
    "highs": "polylens.solvers.highs:HighsBackend",
    "scipy": "polylens.solvers.scipy_linprog:ScipyBackend",
    "cvxpy": "polylens.solvers.cvxpy_backend:CvxpyBackend",
}


def _backend_class(name: str, func: str = "get_backend", param: str = "name") -> type[LPBackend]:
    """The class registered under ``name``; InvalidParameterError listing the names if
    unknown, naming the public function ``func`` and its parameter ``param``."""
    from polylens._validation import check_option

    check_option(name, BACKENDS, func=func, name=param)
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_backend(name: str = "highs", *, func: str = "get_backend", param: str = "name", **options: Any) -> LPBackend:
    """Build the LP back end registered under ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`BACKENDS`.
    func, param : str, default="get_backend", "name"
        The public function and its parameter that ``name`` came from, named in the
        error (e.g. ``func="region_at", param="solver"``).
    **options
        Passed to the back end's constructor (HiGHS options for "highs",
        ``linprog`` options for "scipy", ``solver=`` and solve options for "cvxpy").

    Returns
    -------
    LPBackend

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``name`` is not registered (a ``ValueError``).
    polylens.errors.SolverError
        If the back end's library is not installed (the message names the package).
    """
    return _backend_class(name, func, param)(**options)


def available_backends() -> list[str]:
    """The registered back ends whose library imports, in registry order.

    Raises
    ------
    None of its own
        A back end whose library fails to import is left out, not reported.
    """
    return [name for name in BACKENDS if _backend_class(name).is_available()]
