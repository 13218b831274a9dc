"""One conformance suite for every available LP back end (and the registry)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from polylens.errors import SolverError
from polylens.solvers import (
    BACKENDS,
    LPBackend,
    LPResult,
    LPStatus,
    available_backends,
    get_backend,
)
from polylens.solvers.highs import HighsBackend

INF = np.inf
AVAILABLE = available_backends()
#: Back-end options that stop the solver before it can finish (cvxpy has no portable one).
STOP_EARLY = {"highs": {"simplex_iteration_limit": 0}, "scipy": {"maxiter": 0}}


class Case(NamedTuple):
    """A small LP and its known outcome; ``x`` is None when the minimiser is not unique."""

    c: list[float]
    A_ub: list[list[float]]
    b_ub: list[float]
    lb: list[float] | None
    ub: list[float] | None
    status: LPStatus
    x: list[float] | None = None
    fun: float | None = None


def _no_rows(n_vars: int) -> np.ndarray:
    return np.zeros((0, n_vars))


OPTIMA = {
    "vertex": Case(
        [-1, -1], [[1, 2], [3, 1]], [4, 6], [0, 0], None, LPStatus.OPTIMAL, [1.6, 1.2], -2.8
    ),
    "free variables": Case(
        [1, 1], [[-1, 0], [0, -1], [1, 1]], [1, 2, 10], None, None, LPStatus.OPTIMAL, [-1, -2], -3
    ),
    "bounds only": Case([1, -2], _no_rows(2), [], [0, -1], [3, 4], LPStatus.OPTIMAL, [0, 4], -8),
    "active lower bound": Case([-1, 0], [[1, 1]], [5], [0, 2], None, LPStatus.OPTIMAL, [3, 2], -3),
    "fixed variable": Case([0, -1], [[1, 1]], [3], [1, 1], [1, 3], LPStatus.OPTIMAL, [1, 2], -2),
    "one variable": Case([1], [[-1]], [-3], None, None, LPStatus.OPTIMAL, [3], 3),
    "equality from two rows": Case(
        [1, -1], [[1, 1], [-1, -1]], [1, -1], [0, 0], None, LPStatus.OPTIMAL, [0, 1], -1
    ),
    "degenerate redundant rows": Case(
        [-1, -1],
        [[1, 0], [1, 0], [0, 1], [1, 1], [2, 0], [-1, 0], [0, -1], [1, 1]],
        [1, 1, 1, 2, 2, 0, 0, 2],
        None,
        None,
        LPStatus.OPTIMAL,
        [1, 1],
        -2,
    ),
    "row switched off": Case([-1], [[1], [1]], [INF, 2], None, None, LPStatus.OPTIMAL, [2], -2),
    "optimal face": Case([-1, -1], [[1, 1]], [1], [0, 0], None, LPStatus.OPTIMAL, None, -1),
    "zero objective": Case([0, 0], [[1, 1]], [1], [0, 0], None, LPStatus.OPTIMAL, None, 0),
}

FAILURES = {
    "infeasible rows": Case([1, 1], [[1, 1], [-1, -1]], [1, -2], None, None, LPStatus.INFEASIBLE),
    "infeasible bounds": Case([1], _no_rows(1), [], [1], [0], LPStatus.INFEASIBLE),
    "rows against bounds": Case([1, 0], [[1, 0]], [-1], [0, 0], [1, 1], LPStatus.INFEASIBLE),
    "infeasible with unbounded ray": Case(
        [-1, 0], [[0, 1], [0, -1]], [1, -2], None, None, LPStatus.INFEASIBLE
    ),
    "free without rows": Case([1, 0], _no_rows(2), [], None, None, LPStatus.UNBOUNDED),
    "unbounded ray": Case([-1, -1], [[1, -1]], [1], [0, 0], None, LPStatus.UNBOUNDED),
    "unbounded along a bound": Case([-1, 0], [[0, 1]], [1], [0, None], None, LPStatus.UNBOUNDED),
}


def _arrays(case: Case) -> tuple[np.ndarray, ...]:
    """``(c, A_ub, b_ub, lb, ub)`` of a case as float arrays (None in a bound list: infinite)."""
    def bounds(values: list[float] | None, missing: float) -> np.ndarray | None:
        if values is None:
            return None
        return np.array([missing if v is None else v for v in values], dtype=float)

    return (
        np.array(case.c, dtype=float),
        np.array(case.A_ub, dtype=float).reshape(-1, len(case.c)),
        np.array(case.b_ub, dtype=float),
        bounds(case.lb, -INF),
        bounds(case.ub, INF),
    )


def _assert_same(result: LPResult, expected: LPResult) -> None:
    """Same status, and the same optimum to 1e-7 (relative, or absolute near 0)."""
    assert result.status == expected.status, (result.message, expected.message)
    if expected.success:
        assert result.fun == pytest.approx(expected.fun, rel=1e-7, abs=1e-7)


def _random_polytope(rng: np.random.Generator, n_vars: int, n_rows: int) -> tuple[np.ndarray, ...]:
    """Unit-norm rows 0.2 to 1.5 away from a random centre, and a box of half-width 5.

    Returns ``A_ub`` of shape (n_rows, n_vars), ``b_ub`` of shape (n_rows,) and
    ``lb``, ``ub`` of shape (n_vars,).
    """
    A = rng.normal(size=(n_rows, n_vars))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    centre = rng.normal(size=n_vars)
    b = A @ centre + rng.uniform(0.2, 1.5, size=n_rows)
    return A, b, centre - 5.0, centre + 5.0


@pytest.fixture(scope="module", params=AVAILABLE)
def backend(request: pytest.FixtureRequest) -> LPBackend:
    return get_backend(request.param)


# ---------------------------------------------------------------------------- solve


@pytest.mark.parametrize("case", OPTIMA.values(), ids=OPTIMA.keys())
def test_known_optimum(backend: LPBackend, case: Case) -> None:
    c, A, b, lb, ub = _arrays(case)
    result = backend.solve(c, A, b, lb, ub)
    assert result.status == LPStatus.OPTIMAL and result.success, result.message
    assert result.backend == backend.name
    assert isinstance(result.fun, float)
    assert result.x.dtype == np.float64 and result.x.shape == c.shape
    assert result.fun == pytest.approx(case.fun, rel=1e-7, abs=1e-7)
    assert result.fun == pytest.approx(c @ result.x, rel=1e-7, abs=1e-7)
    assert np.all(A @ result.x <= b + 1e-7)
    if case.x is not None:
        np.testing.assert_allclose(result.x, case.x, atol=1e-6)


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
def test_infeasible_and_unbounded(backend: LPBackend, case: Case) -> None:
    result = backend.solve(*_arrays(case))
    assert result.status == case.status, result.message
    assert not result.success
    assert result.x is None and result.fun is None
    assert result.message


@pytest.mark.parametrize("name", sorted(STOP_EARLY))
def test_work_limit_gives_iteration_limit(name: str) -> None:
    if name not in AVAILABLE:
        pytest.skip(f"{name} is not installed")
    c, A, b, lb, ub = _arrays(OPTIMA["vertex"])
    result = get_backend(name, **STOP_EARLY[name]).solve(c, A, b, lb, ub)
    assert result.status == LPStatus.ITERATION_LIMIT, result.message
    assert result.x is None and result.fun is None


def test_random_lps_agree_across_backends() -> None:
    if len(AVAILABLE) < 2:
        pytest.skip("needs two back ends")
    backends = [get_backend(name) for name in AVAILABLE]
    rng = np.random.default_rng(20240611)
    statuses = set()
    for _ in range(25):
        n_vars, n_rows = int(rng.integers(1, 6)), int(rng.integers(0, 25))
        A = rng.normal(size=(n_rows, n_vars))
        b = rng.normal(size=n_rows) + 0.3
        lb = np.where(rng.random(n_vars) < 0.4, -INF, rng.normal(size=n_vars) - 1)
        ub = np.where(rng.random(n_vars) < 0.4, INF, rng.normal(size=n_vars) + 1)
        c = rng.normal(size=n_vars)
        reference, *others = (solver.solve(c, A, b, lb, ub) for solver in backends)
        statuses.add(reference.status)
        for result in others:
            _assert_same(result, reference)
    assert {LPStatus.OPTIMAL, LPStatus.INFEASIBLE, LPStatus.UNBOUNDED} <= statuses


# -------------------------------------------------------------------------- session


def test_session_matches_fresh_solves(backend: LPBackend) -> None:
    rng = np.random.default_rng(7)
    A, b, lb, ub = _random_polytope(rng, n_vars=3, n_rows=15)
    session = backend.session(A, b, lb, ub)
    statuses = set()
    for k in range(24):
        c = rng.normal(size=3)
        overrides: dict[str, np.ndarray] = {}
        if k % 3 == 1:  # switch rows off and move others
            row_upper = b + rng.uniform(-0.1, 0.5, size=b.shape)
            row_upper[rng.choice(15, size=3, replace=False)] = INF
            overrides["row_upper"] = row_upper
        if k % 4 == 2:  # free some columns (may make the LP unbounded)
            overrides["lb"] = np.where(rng.random(3) < 0.5, -INF, lb)
            overrides["ub"] = np.where(rng.random(3) < 0.5, INF, ub)
        if k % 8 == 5:  # an empty box
            overrides["lb"], overrides["ub"] = ub, lb
        result = session.solve(c, **overrides)
        expected = backend.solve(
            c, A, overrides.get("row_upper", b), overrides.get("lb", lb), overrides.get("ub", ub)
        )
        _assert_same(result, expected)
        statuses.add(result.status)
    assert LPStatus.OPTIMAL in statuses and LPStatus.INFEASIBLE in statuses


@pytest.mark.parametrize(
    "override",
    [
        {"row_upper": [INF, INF, 2, 2]},
        {"row_upper": [-1, 1, 1, 1]},  # infeasible with lb = 0
        {"lb": [-INF, -INF]},  # unbounded below
        {"ub": [0.25, 0.5]},
    ],
    ids=["rows off", "infeasible rows", "free columns", "tight columns"],
)
def test_override_does_not_leak(backend: LPBackend, override: dict[str, list[float]]) -> None:
    A = np.array([[1.0, 0], [0, 1], [1, 1], [1, -1]])
    b = np.array([1.0, 1, 1.5, 0.5])
    session = backend.session(A, b, lb=[0, 0], ub=[1, 1])
    c = np.array([-1.0, -2.0])
    before = session.solve(c)
    session.solve(c, **override)
    after = session.solve(c)
    assert before.success and after.success
    np.testing.assert_allclose(after.x, before.x, atol=1e-7)
    assert after.fun == pytest.approx(before.fun, rel=1e-9, abs=1e-9)


def test_session_survives_failures(backend: LPBackend) -> None:
    A, b, lb, ub = _random_polytope(np.random.default_rng(3), n_vars=4, n_rows=12)
    session = backend.session(A, b, lb, ub)
    c = np.ones(4)
    expected = backend.solve(c, A, b, lb, ub)
    assert session.solve(c, row_upper=b - 100).status == LPStatus.INFEASIBLE
    _assert_same(session.solve(c), expected)
    no_rows = np.full(12, INF)
    assert session.solve(c, row_upper=no_rows, lb=np.full(4, -INF)).status == LPStatus.UNBOUNDED
    _assert_same(session.solve(c), expected)


def test_session_with_zero_rows(backend: LPBackend) -> None:
    session = backend.session(np.zeros((0, 2)), np.zeros(0), lb=[-1, -1], ub=[1, 2])
    result = session.solve([1.0, -1.0])
    np.testing.assert_allclose(result.x, [-1, 2], atol=1e-7)
    assert session.solve([1.0, 0.0], lb=[-INF, -1]).status == LPStatus.UNBOUNDED
    assert session.solve([1.0, 1.0], row_upper=np.zeros(0)).fun == pytest.approx(-2)


def test_session_keeps_its_own_copy(backend: LPBackend) -> None:
    A = np.array([[1.0], [-1.0]])
    b = np.array([2.0, 0.0])
    session = backend.session(A, b)
    b[0] = 100.0
    A[0, 0] = -1.0
    assert session.solve([-1.0]).fun == pytest.approx(-2)


# ----------------------------------------------------------------------- validation

GOOD = {"c": [1.0, 1.0], "A_ub": [[1.0, 0.0]], "b_ub": [1.0], "lb": [0.0, 0.0], "ub": [1.0, 1.0]}
BAD_SOLVE_INPUTS = {
    "c wrong length": ("c", [1.0]),
    "c with NaN": ("c", [np.nan, 1.0]),
    "c infinite": ("c", [INF, 1.0]),
    "c not numeric": ("c", ["a", "b"]),
    "A_ub 1-D": ("A_ub", [1.0, 0.0]),
    "A_ub without columns": ("A_ub", np.zeros((1, 0))),
    "A_ub with NaN": ("A_ub", [[np.nan, 0.0]]),
    "A_ub infinite": ("A_ub", [[INF, 0.0]]),
    "b_ub wrong length": ("b_ub", [1.0, 2.0]),
    "b_ub with NaN": ("b_ub", [np.nan]),
    "b_ub -inf": ("b_ub", [-INF]),
    "lb wrong shape": ("lb", [[0.0, 0.0]]),
    "lb +inf": ("lb", [INF, 0.0]),
    "ub with NaN": ("ub", [np.nan, 1.0]),
    "ub -inf": ("ub", [-INF, 1.0]),
}


@pytest.mark.parametrize("argument, value", BAD_SOLVE_INPUTS.values(), ids=BAD_SOLVE_INPUTS.keys())
def test_solve_rejects_bad_input(backend: LPBackend, argument: str, value: object) -> None:
    kwargs = {**GOOD, argument: value}
    expected = rf"{type(backend).__name__}\.solve: argument '{argument}'"
    with pytest.raises(ValueError, match=expected):
        backend.solve(**kwargs)


@pytest.mark.parametrize(
    "argument, value",
    [("A_ub", [[[1.0]]]), ("b_ub", [1.0, 2.0]), ("lb", [0.0]), ("ub", [1.0, np.nan])],
)
def test_session_rejects_bad_input(backend: LPBackend, argument: str, value: object) -> None:
    kwargs = {key: GOOD[key] for key in ("A_ub", "b_ub", "lb", "ub")} | {argument: value}
    expected = rf"{type(backend).__name__}\.session: argument '{argument}'"
    with pytest.raises(ValueError, match=expected):
        backend.session(**kwargs)


@pytest.mark.parametrize(
    "argument, value",
    [("c", [1.0, 2.0, 3.0]), ("row_upper", [1.0, 2.0]), ("row_upper", [-INF]), ("lb", [np.nan, 0])],
)
def test_session_solve_rejects_bad_input(backend: LPBackend, argument: str, value: object) -> None:
    session = backend.session(GOOD["A_ub"], GOOD["b_ub"])
    kwargs = {"c": GOOD["c"], argument: value}
    with pytest.raises(ValueError, match=rf"\.solve: argument '{argument}'"):
        session.solve(**kwargs)


# ------------------------------------------------------------------ registry, result


def test_registry_lists_every_backend() -> None:
    assert set(AVAILABLE) <= set(BACKENDS)
    for name in AVAILABLE:
        backend = get_backend(name)
        assert backend.name == name
        assert isinstance(backend.supports_warm_start, bool)


def test_unknown_backend_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="get_backend: `name` must be one of") as info:
        get_backend("simplex-by-hand")
    for name in BACKENDS:
        assert name in str(info.value)


def test_missing_library_raises_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HighsBackend, "requires", "polylens_missing_lp_library")
    assert "highs" not in available_backends()
    with pytest.raises(SolverError, match="pip install polylens_missing_lp_library"):
        get_backend("highs")


def test_import_is_lazy() -> None:
    code = "import sys, polylens.solvers; sys.exit('cvxpy' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_status_codes_follow_scipy() -> None:
    assert [int(s) for s in LPStatus] == [0, 1, 2, 3, 4]
    names = ["OPTIMAL", "ITERATION_LIMIT", "INFEASIBLE", "UNBOUNDED", "ERROR"]
    assert [s.name for s in LPStatus] == names


def test_result_is_frozen() -> None:
    result = LPResult(LPStatus.INFEASIBLE, "no point", None, None, "test")
    assert not result.success
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = LPStatus.OPTIMAL  # type: ignore[misc]


# ---------------------------------------------------------------------- HiGHS only


@pytest.mark.skipif("highs" not in AVAILABLE, reason="highspy is not installed")
def test_highs_rejects_unknown_option() -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        get_backend("highs", no_such_option=1)


@pytest.mark.skipif("highs" not in AVAILABLE, reason="highspy is not installed")
def test_highs_time_limit_is_per_solve() -> None:
    # HiGHS counts time_limit over a model's life; the session must not run out. The limit
    # is a quarter of the measured total time of the solves, so a limit counted over the
    # session's life would be hit, while each single solve (about 1/2000 of the total)
    # stays far below it even on a loaded machine.
    A, b, lb, ub = _random_polytope(np.random.default_rng(0), n_vars=5, n_rows=100)
    objectives = np.random.default_rng(1).normal(size=(2000, 5))
    free = get_backend("highs").session(A, b, lb, ub)
    start = time.perf_counter()
    for c in objectives:
        free.solve(c)
    total = time.perf_counter() - start
    session = get_backend("highs", time_limit=total / 4).session(A, b, lb, ub)
    assert all(session.solve(c).success for c in objectives)
