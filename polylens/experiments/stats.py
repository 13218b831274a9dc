"""Uncertainty for the experiments: percentile-bootstrap confidence intervals.

:func:`bootstrap` resamples the *units* of an experiment (input pairs, groups, inputs)
with replacement and recomputes a statistic of them; :func:`mean_ci` is the common case
of a mean. Results are :class:`Estimate` objects that print as ``value (95% CI lo–hi)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, check_number, invalid

__all__ = ["Estimate", "bootstrap", "mean_ci", "difference_ci", "interval"]

N_BOOT = 2000
"""Default bootstrap replicates."""


@short_repr
@dataclass(frozen=True)
class Estimate:
    """A statistic with its percentile-bootstrap confidence interval.

    Attributes
    ----------
    value : float
        The statistic on the data as observed.
    ci : tuple of float
        ``(low, high)`` bounds of the interval (NaN where every replicate was NaN).
    level : float
        Coverage of the interval, e.g. 0.95.
    n : int
        Number of resampled units.
    replicates : ndarray of shape (n_boot,) or None
        The bootstrap replicates (NaN where a replicate was undefined); kept so that
        :func:`polylens.experiments.replication.across_seeds` can resample them as the
        second stage of a two-level bootstrap. Not part of equality or the repr.
    """

    value: float
    ci: tuple[float, float]
    level: float
    n: int
    replicates: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.value:.3g} ({self.level:.0%} CI {self.ci[0]:.3g}–{self.ci[1]:.3g})"


def bootstrap(statistic: Callable[[np.ndarray, np.random.Generator], float], n: int, *, n_boot: int = N_BOOT,
              level: float = 0.95, seed: int = 0) -> Estimate:
    """Percentile-bootstrap interval of a statistic of ``n`` units.

    Parameters
    ----------
    statistic : callable
        ``statistic(index, rng)`` with ``index`` an int array of shape (n,) naming the
        units of one (re)sample, and ``rng`` a generator for statistics that randomise
        (a shuffled baseline draws a fresh shuffle per replicate). Returns a float (NaN
        allowed: such replicates are left out of the interval).
    n : int
        Number of units (at least 1).
    n_boot : int, default=2000
        Replicates.
    level : float, default=0.95
    seed : int, default=0

    Returns
    -------
    Estimate
        ``value`` is ``statistic(arange(n), rng)``.

    Raises
    ------
    InvalidParameterError
        If ``n`` or ``n_boot`` is not a positive int or ``level`` not strictly between 0 and 1.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> est = bootstrap(lambda idx, rng: float(x[idx].mean()), 4, seed=1)
    >>> est.value, est.ci[0] <= 2.5 <= est.ci[1]
    (2.5, True)
    """
    n = check_int(n, func="bootstrap", name="n", low=1)
    n_boot, level = _check_options("bootstrap", n_boot, level)
    rng = np.random.default_rng(seed)
    value = float(statistic(np.arange(n), rng))
    reps = np.array([statistic(rng.integers(0, n, n), rng) for _ in range(int(n_boot))], dtype=np.float64)
    return Estimate(value, interval(reps, level), level, n, reps)


def mean_ci(values, *, n_boot: int = N_BOOT, level: float = 0.95, seed: int = 0) -> Estimate:
    """The mean of ``values`` with its percentile-bootstrap interval.

    Parameters
    ----------
    values : array-like of shape (n,)
        At least one finite value.
    n_boot, level, seed
        See :func:`bootstrap`.

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        If ``values`` is not a non-empty 1-D array of finite numbers.
    InvalidParameterError
        If ``n_boot`` is not a positive int or ``level`` not strictly between 0 and 1.

    Examples
    --------
    >>> str(mean_ci([1.0, 1.0, 1.0]))
    '1 (95% CI 1–1)'
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"mean_ci: `values` must be a non-empty 1-D array of finite numbers; got shape {v.shape}")
    n_boot, level = _check_options("mean_ci", n_boot, level)
    rng = np.random.default_rng(seed)
    reps = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)  # bootstrap(), vectorised
    return Estimate(float(v.mean()), interval(reps, level), level, int(v.size), reps)


def difference_ci(a, b, *, n_boot: int = N_BOOT, level: float = 0.95, seed: int = 0) -> Estimate:
    """``mean(a) - mean(b)`` for two independent samples, each resampled on its own.

    Parameters
    ----------
    a : array-like of shape (n_a,)
    b : array-like of shape (n_b,)
    n_boot, level, seed
        See :func:`bootstrap`.

    Returns
    -------
    Estimate
        ``n`` is ``n_a``.

    Raises
    ------
    ValueError
        If ``a`` or ``b`` is not a non-empty 1-D array of finite numbers.
    InvalidParameterError
        If ``n_boot`` is not a positive int or ``level`` not strictly between 0 and 1.

    Examples
    --------
    >>> est = difference_ci([1.0, 1.0, 1.0], [0.0, 0.5, 1.0])
    >>> est.value, est.ci[0] >= 0
    (0.5, True)
    """
    x, y = (np.asarray(v, dtype=np.float64) for v in (a, b))
    for name, v in (("a", x), ("b", y)):
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"difference_ci: `{name}` must be a non-empty 1-D array of finite numbers; "
                             f"got shape {v.shape}")
    n_boot, level = _check_options("difference_ci", n_boot, level)

    rng = np.random.default_rng(seed)
    reps = (x[rng.integers(0, x.size, (n_boot, x.size))].mean(axis=1)
            - y[rng.integers(0, y.size, (n_boot, y.size))].mean(axis=1))
    return Estimate(float(x.mean() - y.mean()), interval(reps, level), level, int(x.size), reps)


def _check_options(func: str, n_boot, level) -> tuple[int, float]:
    n_boot = check_int(n_boot, func=func, name="n_boot", low=1)
    level = check_number(level, func=func, name="level", low=0.0, high=1.0, low_open=True)
    if level >= 1:
        raise invalid(func, "level", "a number strictly between 0 and 1", level)
    return n_boot, level


def interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN bounds if there are none).

    Raises
    ------
    None of its own
    """
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return float(lo), float(hi)
