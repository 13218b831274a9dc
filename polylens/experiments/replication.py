"""Seeds as the unit of replication: a statistic measured on several trained models.

Every headline number of the experiments is measured on ``S`` models trained from
different seeds. Within one model it has a bootstrap distribution over that model's
items (paths, groups, inputs: :class:`polylens.experiments.stats.Estimate` keeps the
replicates). :func:`across_seeds` combines the models by a two-stage bootstrap: a
replicate draws ``S`` seeds with replacement, then for every drawn seed one of its
within-model replicates (itself a resample of that model's items), and averages them.
Its interval therefore carries both the spread between trained models and the
uncertainty within each. It is the standard hierarchical bootstrap (resample clusters,
then units within clusters), slightly conservative: the spread of the per-seed values
already contains each model's within-model noise, which the second stage adds once more.

:class:`SeedSummary` also says in how many seeds the statistic's own within-model
interval lies above (or below) a reference value, the per-seed verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, check_number, invalid
from polylens.experiments.stats import N_BOOT, Estimate, interval

__all__ = ["SeedSummary", "across_seeds"]


@short_repr
@dataclass(frozen=True)
class SeedSummary:
    """A statistic over independently trained models.

    Attributes
    ----------
    mean : float
        Mean over seeds of the per-seed values.
    sd : float
        Standard deviation of the per-seed values (``ddof=1``; 0 with one seed).
    ci : tuple of float
        Two-stage bootstrap interval (seeds, then items within each seed).
    level : float
    values : tuple of float
        The per-seed values, in seed order.
    seed_ci : tuple of (float, float)
        Every seed's own within-model interval.
    seeds : tuple of int
        The seeds.
    ref : float or None
        The reference value the verdict compares with (1 for a ratio, 0 for a difference).
    n_above, n_below : int
        Seeds whose own interval lies wholly above / below ``ref`` (0 without ``ref``).
    """

    mean: float
    sd: float
    ci: tuple[float, float]
    level: float
    values: tuple[float, ...]
    seed_ci: tuple[tuple[float, float], ...]
    seeds: tuple[int, ...]
    ref: float | None = None
    n_above: int = 0
    n_below: int = 0

    @property
    def n_seeds(self) -> int:
        return len(self.values)

    @property
    def side(self) -> str:
        """Where the pooled interval lies against ``ref``: "above", "below" or "within"."""
        if self.ref is None:
            raise ValueError("SeedSummary.side: this summary has no reference value")
        if self.ci[0] > self.ref:
            return "above"
        if self.ci[1] < self.ref:
            return "below"
        return "within"

    def to_dict(self) -> dict:
        """Plain JSON-ready values.

        Raises
        ------
        None of its own
        """
        return {"mean": self.mean, "sd": self.sd, "ci": list(self.ci), "level": self.level,
                "values": list(self.values), "seed_ci": [list(c) for c in self.seed_ci], "seeds": list(self.seeds),
                "ref": self.ref, "n_above": self.n_above, "n_below": self.n_below}

    @classmethod
    def from_dict(cls, d: dict) -> "SeedSummary":
        """The inverse of :meth:`to_dict`.

        Raises
        ------
        KeyError
            If ``d`` lacks a field of :meth:`to_dict`.
        TypeError, ValueError
            If a field does not hold what :meth:`to_dict` writes (a number, a list of numbers).
        """
        return cls(float(d["mean"]), float(d["sd"]), tuple(d["ci"]), float(d["level"]), tuple(d["values"]),
                   tuple(tuple(c) for c in d["seed_ci"]), tuple(int(s) for s in d["seeds"]), d["ref"],
                   int(d["n_above"]), int(d["n_below"]))


def across_seeds(estimates, seeds=None, *, ref: float | None = None, n_boot: int = N_BOOT, level: float = 0.95,
                 rng_seed: int = 0) -> SeedSummary:
    """Combine one statistic measured on several trained models (one :class:`Estimate` per seed).

    Parameters
    ----------
    estimates : sequence of Estimate
        One per seed, each with its bootstrap ``replicates`` (as
        :func:`~polylens.experiments.stats.bootstrap`, ``mean_ci`` and ``difference_ci``
        return them). An estimate without replicates counts as exact within its model.
    seeds : sequence of int, optional
        The seeds (default ``0..S-1``), recorded in the summary.
    ref : float, optional
        Reference value of the per-seed verdict (1 for a ratio, 0 for a difference).
    n_boot : int, default=2000
        Two-stage replicates.
    level : float, default=0.95
    rng_seed : int, default=0

    Returns
    -------
    SeedSummary

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``estimates`` is not a non-empty sequence of :class:`Estimate`, ``n_boot`` not a
        positive int, ``level`` not in (0, 1], ``ref`` not None or a finite number, or
        ``seeds`` not one per estimate.
    TypeError, ValueError
        If a seed cannot be converted with ``int()``.

    Examples
    --------
    >>> from polylens.experiments.stats import mean_ci
    >>> s = across_seeds([mean_ci([1.0, 1.0]), mean_ci([3.0, 3.0])], ref=0.0)
    >>> s.mean, s.values, s.n_above
    (2.0, (1.0, 3.0), 2)
    """
    ests = list(estimates)
    if not ests or not all(isinstance(e, Estimate) for e in ests):
        raise invalid("across_seeds", "estimates", "a non-empty sequence of Estimate", estimates)
    n_boot = check_int(n_boot, func="across_seeds", name="n_boot", low=1)
    level = check_number(level, func="across_seeds", name="level", low=0.0, high=1.0, low_open=True)
    ref = check_number(ref, func="across_seeds", name="ref", none_ok=True)
    seeds = tuple(range(len(ests))) if seeds is None else tuple(int(s) for s in seeds)
    if len(seeds) != len(ests):
        raise invalid("across_seeds", "seeds", f"{len(ests)} seeds, one per estimate", seeds)
    values = np.array([e.value for e in ests], dtype=np.float64)
    rng = np.random.default_rng(rng_seed)
    reps = []
    for e in ests:
        r = np.asarray(e.replicates if e.replicates is not None else [e.value], dtype=np.float64)
        r = r[np.isfinite(r)]
        reps.append(r if r.size else np.array([np.nan]))
    sizes = np.array([r.size for r in reps])
    table = np.full((len(reps), sizes.max()), np.nan)
    for k, r in enumerate(reps):
        table[k, :r.size] = r
    drawn = rng.integers(0, len(ests), (n_boot, len(ests)))  # stage 1: seeds
    pick = (rng.random(drawn.shape) * sizes[drawn]).astype(np.int64)  # stage 2: a resample within each
    pooled = table[drawn, pick].mean(axis=1)
    above = sum(ref is not None and e.ci[0] > ref for e in ests)
    below = sum(ref is not None and e.ci[1] < ref for e in ests)
    return SeedSummary(
        mean=float(values.mean()),
        sd=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        ci=interval(pooled, level),
        level=level,
        values=tuple(float(v) for v in values),
        seed_ci=tuple((float(e.ci[0]), float(e.ci[1])) for e in ests),
        seeds=seeds,
        ref=ref,
        n_above=int(above),
        n_below=int(below),
    )
