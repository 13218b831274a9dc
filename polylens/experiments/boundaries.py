"""Is polytope density higher near class changes? A contrast with shuffled-position baselines.

Each path (an interpolation between two inputs) is cut into ``n_bins`` equal bins of its
length; ``weights[p, g]`` counts the boundaries crossed in bin ``g`` of path ``p`` (sampled
code changes or exact crossings). Given where the predicted class changes on each path,
:func:`contrast_near_changes` compares the density within ``window`` (a fraction of the
path) of a class change with the density elsewhere, pooled over paths:

    ratio = (near boundaries / near length) / (other boundaries / other length)

A ratio above 1 says boundaries crowd around class changes. Two baselines give the ratio
that positions unrelated to the density would give, computed the same way:

* ``uniform`` -- every path's class changes placed uniformly at random along it;
* ``permuted`` -- every path given another path's class-change positions, averaged over
  all the other paths (the expectation over random derangements, so no path ever keeps
  its own changes). This keeps where on a path class changes tend to fall (near the
  middle, for interpolations between two confidently classified inputs), so it controls
  for density that merely varies along paths (e.g. a bump in the middle of every
  interpolation).

Intervals are percentile bootstraps over paths, with a fresh uniform draw in every
replicate.
:func:`density_profile` averages the density around class changes, offset by offset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_number, invalid
from polylens.experiments.stats import N_BOOT, Estimate, bootstrap, interval

__all__ = ["BoundaryContrast", "contrast_near_changes", "density_profile", "binned"]

BASELINE_DRAWS = 100
"""Random draws averaged for a randomised baseline's point value."""


@short_repr
@dataclass(frozen=True)
class BoundaryContrast:
    """Density near class changes against density elsewhere, with baselines.

    Attributes
    ----------
    ratio : Estimate
        Density within ``window`` of a class change over the density elsewhere.
    uniform : Estimate
        The same ratio with class changes placed uniformly at random on each path.
    permuted : Estimate
        The same ratio with each path given another path's class-change positions (the
        mean over all other paths).
    excess : Estimate
        ``ratio / permuted``, paired within each bootstrap replicate: above 1 when the
        crowding is specific to each path's own class changes.
    window : float
        Half-width of the window around a class change, as a fraction of the path.
    n_paths : int
        Paths with at least one class change (the resampled units).
    near_fraction : float
        Fraction of the pooled path length that lies near a class change.
    """

    ratio: Estimate
    uniform: Estimate
    permuted: Estimate
    excess: Estimate
    window: float
    n_paths: int
    near_fraction: float

    def summary(self) -> str:
        """One sentence with the numbers.

        Raises
        ------
        None of its own
        """
        return (f"density within ±{self.window * 100:g}% of the path around a class change is {self.ratio} times the "
                f"density elsewhere; baselines: class changes placed uniformly {self.uniform}, taken from another "
                f"path {self.permuted}; observed / permuted {self.excess} ({self.n_paths} paths)")


def binned(positions: np.ndarray, weights: np.ndarray | None, n_bins: int) -> np.ndarray:
    """Weights of events at positions in [0, 1] summed into ``n_bins`` equal bins.

    Parameters
    ----------
    positions : ndarray of shape (n_events,)
        Fractions of the path (a position of exactly 1 falls in the last bin).
    weights : ndarray of shape (n_events,), optional
        Default 1 per event.
    n_bins : int

    Returns
    -------
    ndarray of shape (n_bins,)

    Raises
    ------
    ValueError
        If a position lies outside [0, 1].

    Examples
    --------
    >>> binned(np.array([0.0, 0.1, 0.6, 1.0]), None, 2).tolist()
    [2.0, 2.0]
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.size and (pos.min() < 0 or pos.max() > 1):
        raise ValueError(f"binned: `positions` must lie in [0, 1]; got range {pos.min()}..{pos.max()}")
    return np.histogram(pos, bins=n_bins, range=(0.0, 1.0), weights=weights)[0].astype(np.float64)


def contrast_near_changes(weights: np.ndarray, changes: list[np.ndarray], *, window: float = 0.05,
                          n_boot: int = N_BOOT, seed: int = 0) -> BoundaryContrast:
    """Boundary density near class changes over density elsewhere, with two baselines.

    Parameters
    ----------
    weights : ndarray of shape (n_paths, n_bins)
        Boundaries crossed per bin of each path (non-negative).
    changes : list of ndarray
        Per path, the positions (fractions of the path, in [0, 1]) where the predicted
        class changes. Paths without a change are left out.
    window : float, default=0.05
        Half-width of the window around each change, as a fraction of the path.
    n_boot : int, default=2000
    seed : int, default=0

    Returns
    -------
    BoundaryContrast

    Raises
    ------
    ValueError
        If ``weights`` is not a non-negative finite array of shape (n_paths, n_bins >= 2),
        ``changes`` does not have one entry per path or holds a position outside [0, 1], or
        no path has a class change.
    polylens.errors.InvalidParameterError
        If ``window`` is not a number in (0, 0.5), or ``n_boot`` not a positive int (the
        latter named by :func:`~polylens.experiments.stats.bootstrap`).

    Examples
    --------
    A planted peak: every path has 10 boundaries in the bin of its class change and 1 per
    bin elsewhere.

    >>> w = np.ones((30, 100))
    >>> pos = np.random.default_rng(0).uniform(0.1, 0.9, 30)
    >>> w[np.arange(30), (pos * 100).astype(int)] = 10
    >>> res = contrast_near_changes(w, [np.array([p]) for p in pos], window=0.05, n_boot=200)
    >>> res.ratio.value > 1.5 > res.permuted.ci[1]
    True
    """
    W, pos = _validate(weights, changes, window)
    n, G = W.shape
    rng = np.random.default_rng(seed)
    C = np.concatenate([np.zeros((n, 1)), np.cumsum(W, axis=1)], axis=1)  # C[p, g]: weight of bins < g
    lo, hi = _intervals(pos, G, window)
    # Path p with path q's windows: near boundaries cross[p, q], near length near_len[q].
    cross = (C[:, hi] - C[:, lo]).sum(axis=2)
    near_len, total = (hi - lo).sum(axis=1), C[:, -1]

    def observed(idx, _rng):
        return _ratio(cross[idx, idx].sum(), near_len[idx].sum(), total[idx].sum(), idx.size * G)

    def uniform(idx, r):
        a, b = _intervals(_uniform_like(pos[idx], r), G, window)
        rows = idx[:, None]
        return _ratio((C[rows, b] - C[rows, a]).sum(), (b - a).sum(), total[idx].sum(), idx.size * G)

    def permuted(idx, _rng):
        other = idx[None, :] != idx[:, None]  # unit k may take unit j's changes: another path
        with np.errstate(invalid="ignore"):
            share = other / other.sum(axis=1, keepdims=True)  # NaN rows: a resample of one path
        return _ratio((share * cross[np.ix_(idx, idx)]).sum(), (share * near_len[idx]).sum(), total[idx].sum(),
                      idx.size * G)

    kw = dict(n_boot=n_boot, seed=seed)
    uniform_value = np.mean([uniform(np.arange(n), rng) for _ in range(BASELINE_DRAWS)])
    ratio, permuted_est = bootstrap(observed, n, **kw), bootstrap(permuted, n, **kw)
    return BoundaryContrast(
        ratio=ratio,
        uniform=replace(bootstrap(uniform, n, **kw), value=float(uniform_value)),
        permuted=permuted_est,
        excess=_paired_quotient(ratio, permuted_est),
        window=float(window),
        n_paths=int(n),
        near_fraction=float(near_len.sum() / (n * G)),
    )


def density_profile(weights: np.ndarray, changes: list[np.ndarray], *, half_width: float = 0.25,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean relative density around class changes, bin offset by bin offset.

    Each path's weights are divided by their mean (1 = the path's average density); the
    profile averages them over every class change at offsets up to ``half_width``.

    Parameters
    ----------
    weights : ndarray of shape (n_paths, n_bins)
    changes : list of ndarray
        As in :func:`contrast_near_changes`.
    half_width : float, default=0.25
        Largest offset, as a fraction of the path.
    seed : int, default=0
        The derangements of the baseline profile.

    Returns
    -------
    offsets : ndarray of shape (n_offsets,)
        Offsets from the class change, fractions of the path.
    profile : ndarray of shape (n_offsets,)
        Mean relative density at each offset (NaN where no change has that offset).
    permuted : ndarray of shape (n_offsets,)
        The same with each path given another path's class-change positions (mean of
        :data:`BASELINE_DRAWS` random derangements; NaN with fewer than 2 paths).

    Raises
    ------
    ValueError
        If ``weights`` or ``changes`` is refused as in :func:`contrast_near_changes`.
    polylens.errors.InvalidParameterError
        If ``half_width`` is not a number in [0, 0.5).
    """
    W, pos = _validate(weights, changes, None)
    if not 0 <= check_number(half_width, func="density_profile", name="half_width", low=0.0) < 0.5:
        raise invalid("density_profile", "half_width", "a fraction of the path in [0, 0.5)", half_width)
    mean = W.mean(axis=1, keepdims=True)
    keep = mean[:, 0] > 0
    R, pos = W[keep] / mean[keep], pos[keep]
    G = W.shape[1]
    h = int(round(half_width * G))
    offsets = np.arange(-h, h + 1)
    rng = np.random.default_rng(seed)
    if len(pos) < 2:
        baseline = np.full(offsets.shape, np.nan)
    else:
        baseline = np.nanmean([_profile(R, pos[_derangement(len(pos), rng)], offsets)
                               for _ in range(BASELINE_DRAWS)], axis=0)
    return offsets / G, _profile(R, pos, offsets), baseline


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` (n >= 2) with no fixed point: one cycle
    through all of them (Sattolo's algorithm)."""
    order = rng.permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.roll(order, -1)
    return out


def _profile(R: np.ndarray, pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    G = R.shape[1]
    rows, cols = np.nonzero(np.isfinite(pos))
    centre = np.minimum((pos[rows, cols] * G).astype(np.int64), G - 1)
    at = centre[:, None] + offsets[None, :]
    valid = (at >= 0) & (at < G)
    vals = np.where(valid, R[rows[:, None], np.clip(at, 0, G - 1)], 0.0)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, vals.sum(axis=0) / counts, np.nan)


def _validate(weights, changes, window) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the paths with a change, shape (n, n_bins), and their change positions
    padded with NaN, shape (n, max_changes); ``window`` None is not checked."""
    W = np.asarray(weights, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] < 2 or not np.all(np.isfinite(W)) or np.any(W < 0):
        raise ValueError(f"`weights` must be a non-negative finite array of shape (n_paths, n_bins >= 2); "
                         f"got shape {W.shape}")
    if len(changes) != W.shape[0]:
        raise ValueError(f"`changes` must list the class changes of each of the {W.shape[0]} paths; "
                         f"got {len(changes)} entries")
    if window is not None and not 0 < check_number(window, func="contrast_near_changes", name="window") < 0.5:
        raise invalid("contrast_near_changes", "window", "a fraction of the path in (0, 0.5)", window)
    pos = [np.asarray(c, dtype=np.float64).reshape(-1) for c in changes]
    for p, c in enumerate(pos):
        if c.size and (not np.all(np.isfinite(c)) or c.min() < 0 or c.max() > 1):
            raise ValueError(f"`changes[{p}]` must hold positions in [0, 1]; got {c.tolist()}")
    keep = [p for p, c in enumerate(pos) if c.size]
    if not keep:
        raise ValueError("`changes`: no path has a class change")
    width = max(pos[p].size for p in keep)
    padded = np.full((len(keep), width), np.nan)
    for row, p in enumerate(keep):
        padded[row, :pos[p].size] = pos[p]
    return W[keep], padded


def _intervals(pos: np.ndarray, n_bins: int, window: float) -> tuple[np.ndarray, np.ndarray]:
    """The bins whose centre lies within ``window`` of a position of their path, as
    disjoint bin ranges ``[lo, hi)``: two int arrays of shape (n, k), from positions of
    shape (n, k) padded with NaN (padding gives empty ranges)."""
    pos = np.sort(pos, axis=1)  # NaN last; equal widths keep the ranges in order
    c = pos * n_bins - 0.5  # bin g has its centre at g + 0.5 in these units
    valid = np.isfinite(c)
    lo = np.where(valid, np.clip(np.ceil(c - window * n_bins), 0, n_bins), 0).astype(np.int64)
    hi = np.where(valid, np.clip(np.floor(c + window * n_bins) + 1, 0, n_bins), 0).astype(np.int64)
    before = np.concatenate([np.zeros((len(pos), 1), np.int64), np.maximum.accumulate(hi, axis=1)[:, :-1]], axis=1)
    lo = np.maximum(lo, before)  # cut what an earlier range already covers
    return lo, np.maximum(hi, lo)


def _uniform_like(pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As many uniform positions per path as ``pos`` has (NaN padding kept)."""
    return np.where(np.isfinite(pos), rng.random(pos.shape), np.nan)


def _paired_quotient(a: Estimate, b: Estimate) -> Estimate:
    """``a / b`` replicate by replicate, for two bootstraps of the same seed, size and
    number of replicates whose statistics draw nothing from the generator: both then
    resampled the same units in every replicate, so this is the bootstrap of the
    quotient statistic (the same numbers, without evaluating both statistics again)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = a.replicates / b.replicates
        value = np.float64(a.value) / np.float64(b.value)
    return Estimate(float(value), interval(reps, a.level), a.level, a.n, reps)


def _ratio(near: float, near_len: float, total: float, total_len: float) -> float:
    """(near / near_len) / ((total - near) / (total_len - near_len)); NaN if undefined."""
    far, far_len = total - near, total_len - near_len
    if near_len == 0 or far_len == 0 or far <= 0:
        return float("nan")
    return float((near / near_len) / (far / far_len))
