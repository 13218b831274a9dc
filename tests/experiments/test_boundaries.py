"""The near-class-change contrast and its baselines on planted densities."""

from __future__ import annotations

import numpy as np
import pytest

from polylens.experiments.boundaries import _intervals, _paired_quotient, binned, contrast_near_changes, density_profile
from polylens.experiments.stats import bootstrap

N_PATHS, N_BINS = 60, 200


def _flat(seed: int = 0) -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return rng.poisson(4.0, (N_PATHS, N_BINS)).astype(float), rng


def test_a_planted_boundary_at_each_class_change_is_found_and_beats_both_baselines():
    w, rng = _flat()
    pos = rng.uniform(0.1, 0.9, N_PATHS)
    w[np.arange(N_PATHS), (pos * N_BINS).astype(int)] += 40  # a dense boundary at every class change
    res = contrast_near_changes(w, [np.array([p]) for p in pos], window=0.02, n_boot=300)
    assert res.ratio.ci[0] > 2
    assert res.uniform.ci[1] < res.ratio.ci[0] and res.permuted.ci[1] < res.ratio.ci[0]
    assert res.excess.ci[0] > 1.5


def test_no_peak_gives_ratios_near_one():
    w, rng = _flat(1)
    pos = [rng.uniform(0, 1, rng.integers(1, 3)) for _ in range(N_PATHS)]
    res = contrast_near_changes(w, pos, n_boot=300)
    for est in (res.ratio, res.uniform, res.permuted, res.excess):
        assert abs(est.value - 1) < 0.1 and est.ci[0] < 1.02 and est.ci[1] > 0.98


def test_a_bump_in_the_middle_of_every_path_is_caught_by_the_permuted_baseline():
    w, rng = _flat(2)
    w[:, 80:120] *= 2  # denser in the middle of every path, wherever the class changes
    pos = rng.uniform(0.4, 0.6, N_PATHS)  # class changes fall in the middle too
    res = contrast_near_changes(w, [np.array([p]) for p in pos], n_boot=300)
    assert res.ratio.ci[0] > 1.3  # the raw ratio says "peak" ...
    assert res.uniform.ci[1] < res.ratio.ci[0]  # ... and uniform positions do not explain it ...
    assert res.excess.ci[0] < 1 < res.excess.ci[1]  # ... but other paths' positions do


def _near_ratio_by_hand(w: np.ndarray, window_of: list[float], window: float) -> float:
    """Pooled density near the given change positions (one per path) over density elsewhere,
    bin by bin from the bin centres."""
    centres = (np.arange(w.shape[1]) + 0.5) / w.shape[1]
    near = np.array([np.abs(centres - c) <= window + 1e-12 for c in window_of])
    return (w[near].sum() / near.sum()) / (w[~near].sum() / (~near).sum())


def test_the_permuted_baseline_never_gives_a_path_its_own_class_changes():
    rng = np.random.default_rng(6)
    w = rng.poisson(4.0, (2, N_BINS)).astype(float)
    pos = np.array([0.3, 0.7])
    w[np.arange(2), (pos * N_BINS).astype(int)] += 60  # a peak where each path's own class changes
    res = contrast_near_changes(w, [np.array([p]) for p in pos], window=0.03, n_boot=50)
    assert res.permuted.value == pytest.approx(_near_ratio_by_hand(w, [0.7, 0.3], 0.03), rel=1e-12)
    assert res.ratio.value == pytest.approx(_near_ratio_by_hand(w, [0.3, 0.7], 0.03), rel=1e-12)


def test_the_permuted_baseline_is_the_mean_over_all_other_paths():
    w, rng = _flat(7)
    w, pos = w[:4], rng.uniform(0.1, 0.9, 4)
    res = contrast_near_changes(w, [np.array([p]) for p in pos], window=0.04, n_boot=50)
    centres = (np.arange(N_BINS) + 0.5) / N_BINS
    near = np.abs(centres[None, :] - pos[:, None]) <= 0.04 + 1e-12  # near[q]: bins near path q's change
    pairs = [(p, q) for p in range(4) for q in range(4) if p != q]
    near_count = sum(w[p, near[q]].sum() for p, q in pairs) / 3
    near_len = sum(near[q].sum() for p, q in pairs) / 3
    expected = (near_count / near_len) / ((w.sum() - near_count) / (w.size - near_len))
    assert res.permuted.value == pytest.approx(expected, rel=1e-12)


def test_the_paired_quotient_is_the_bootstrap_of_the_quotient_statistic():
    rng = np.random.default_rng(8)
    x, y = rng.random(40), rng.random(40) + 0.5
    a = bootstrap(lambda idx, _r: float(x[idx].sum()), 40, n_boot=200, seed=3)
    b = bootstrap(lambda idx, _r: float(y[idx].sum()), 40, n_boot=200, seed=3)
    q = bootstrap(lambda idx, _r: float(x[idx].sum()) / float(y[idx].sum()), 40, n_boot=200, seed=3)
    got = _paired_quotient(a, b)
    assert (got.value, got.ci, got.level, got.n) == (q.value, q.ci, q.level, q.n)
    np.testing.assert_array_equal(got.replicates, q.replicates)


def test_excess_is_ratio_over_permuted_replicate_by_replicate():
    w, rng = _flat(9)
    pos = [rng.uniform(0.2, 0.8, rng.integers(1, 3)) for _ in range(N_PATHS)]
    res = contrast_near_changes(w, pos, window=0.03, n_boot=200, seed=4)
    np.testing.assert_array_equal(res.excess.replicates, res.ratio.replicates / res.permuted.replicates)
    assert res.excess.value == res.ratio.value / res.permuted.value


def test_paths_without_a_class_change_are_left_out():
    w, rng = _flat(3)
    pos = [np.array([0.5]) if p % 2 else np.array([]) for p in range(N_PATHS)]
    assert contrast_near_changes(w, pos, n_boot=50).n_paths == N_PATHS // 2


def test_density_profile_peaks_at_offset_zero_for_a_planted_boundary():
    w, rng = _flat(4)
    pos = rng.uniform(0.2, 0.8, N_PATHS)
    w[np.arange(N_PATHS), (pos * N_BINS).astype(int)] += 40
    offsets, profile, permuted = density_profile(w, [np.array([p]) for p in pos], half_width=0.1)
    assert offsets[np.argmax(profile)] == 0.0
    assert profile.max() > 3 * np.nanmax(permuted)


def test_window_ranges_are_disjoint_and_cover_every_bin_centre_near_a_change():
    rng = np.random.default_rng(5)
    pos = np.where(rng.random((30, 3)) < 0.3, np.nan, rng.random((30, 3)))
    centres = (np.arange(50) + 0.5) / 50
    expected = (np.abs(centres[None, None] - pos[:, :, None]) <= 0.07 + 1e-12).any(axis=1)
    lo, hi = _intervals(pos, 50, 0.07)
    covered = np.zeros((30, 50), dtype=int)
    for p in range(30):
        for a, b in zip(lo[p], hi[p]):
            covered[p, a:b] += 1
    assert covered.max() == 1 and np.array_equal(covered == 1, expected)


def test_binned_counts_weights_and_rejects_positions_outside_the_path():
    assert binned(np.array([0.05, 0.05, 0.95]), np.array([1.0, 2.0, 5.0]), 10).tolist() == \
        [3.0] + [0.0] * 8 + [5.0]
    with pytest.raises(ValueError, match="positions"):
        binned(np.array([1.5]), None, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(changes=[np.array([0.5])]), "changes"),
    (dict(window=0.7), "window"),
    (dict(window=0.0), "window"),
    (dict(window=True), "window"),
    (dict(changes=[np.array([2.0])] * N_PATHS), r"changes\[0\]"),
    (dict(changes=[np.array([])] * N_PATHS), "no path"),
])
def test_contrast_names_a_bad_argument(kwargs, match):
    w, _ = _flat()
    args = dict(weights=w, changes=[np.array([0.5])] * N_PATHS) | kwargs
    with pytest.raises(ValueError, match=match):
        contrast_near_changes(args.pop("weights"), args.pop("changes"), **args)


@pytest.mark.parametrize("half_width", [-0.1, 0.5, True])
def test_density_profile_names_a_bad_half_width(half_width):
    w, _ = _flat()
    with pytest.raises(ValueError, match="half_width"):
        density_profile(w, [np.array([0.5])] * N_PATHS, half_width=half_width)
