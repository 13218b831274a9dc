"""Bootstrap intervals on samples whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from polylens.experiments.stats import bootstrap, difference_ci, mean_ci


def test_bootstrap_interval_covers_the_mean_and_passes_a_generator_to_the_statistic():
    x = np.arange(50, dtype=float)
    est = bootstrap(lambda idx, rng: float(x[idx].mean() + rng.normal(scale=1e-9)), 50, n_boot=500)
    assert est.ci[0] < 24.5 < est.ci[1] and est.n == 50 and est.level == 0.95


def test_mean_ci_of_a_constant_is_a_point_and_prints_as_value_and_interval():
    assert str(mean_ci([2.0, 2.0])) == "2 (95% CI 2–2)"


def test_mean_ci_narrows_as_the_sample_grows():
    rng = np.random.default_rng(0)
    small, large = mean_ci(rng.normal(size=20)), mean_ci(rng.normal(size=2000))
    assert large.ci[1] - large.ci[0] < (small.ci[1] - small.ci[0]) / 4


def test_bootstrap_leaves_nan_replicates_out_of_the_interval():
    est = bootstrap(lambda idx, rng: float("nan") if 0 not in idx else 1.0, 5, n_boot=200)
    assert est.ci == (1.0, 1.0)


def test_difference_ci_separates_two_shifted_samples():
    rng = np.random.default_rng(1)
    est = difference_ci(rng.normal(1.0, 0.1, 100), rng.normal(0.0, 0.1, 80))
    assert est.ci[0] > 0.9 and est.ci[1] < 1.1


@pytest.mark.parametrize("call, match", [
    (lambda: bootstrap(lambda i, r: 0.0, 0), "`n`"),
    (lambda: mean_ci([1.0], n_boot=0), "n_boot"),
    (lambda: mean_ci([1.0], level=1.5), "level"),
    (lambda: mean_ci([]), "values"),
    (lambda: difference_ci([1.0], [np.nan]), "`b`"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
