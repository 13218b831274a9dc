"""Seeds as the unit of replication: the two-stage bootstrap on planted per-seed values,
HDBSCAN on planted Hamming clusters, and report.json round trips."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from polylens.errors import InvalidParameterError
from polylens.experiments.monosemanticity import hdbscan_codes, hdbscan_purity
from polylens.experiments.record import digits_record, read_record, write_record
from polylens.experiments.replication import SeedSummary, across_seeds
from polylens.experiments.stats import Estimate, mean_ci


def test_planted_per_seed_values_give_their_mean_spread_and_the_exact_seed_level_interval():
    # Within each seed every item equals the seed's value, so only the seeds vary: the
    # two-stage interval must be the percentile interval of the mean of 5 seeds drawn
    # with replacement from {1, ..., 5}, which enumeration gives exactly.
    planted = [1.0, 2.0, 3.0, 4.0, 5.0]
    ests = [mean_ci(np.full(30, v), seed=k) for k, v in enumerate(planted)]
    s = across_seeds(ests, seeds=[10, 11, 12, 13, 14], ref=0.0, n_boot=40_000)
    means = np.array([np.mean(c) for c in itertools.product(planted, repeat=5)])
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert s.mean == 3.0 and s.values == tuple(planted) and s.seeds == (10, 11, 12, 13, 14)
    assert s.sd == pytest.approx(np.std(planted, ddof=1))
    assert s.ci[0] == pytest.approx(lo, abs=0.05) and s.ci[1] == pytest.approx(hi, abs=0.05)
    assert s.n_above == 5 and s.n_below == 0


def test_identical_seeds_leave_the_within_model_interval_of_the_pooled_mean():
    # Every seed has the same items: between-seed spread is 0 and the pooled interval comes
    # from the items alone. Its half-width is that of one seed's interval over sqrt(S)
    # (S independent within-seed draws averaged), up to Monte Carlo error.
    x = np.random.default_rng(0).normal(size=200)
    ests = [mean_ci(x, seed=k, n_boot=4000) for k in range(4)]
    s = across_seeds(ests, n_boot=20_000)
    one = ests[0].ci[1] - ests[0].ci[0]
    assert s.sd == 0.0 and s.mean == pytest.approx(x.mean())
    assert s.ci[1] - s.ci[0] == pytest.approx(one / 2, rel=0.1)


def test_both_levels_widen_the_interval_and_the_verdict_counts_seeds():
    rng = np.random.default_rng(1)
    # 8 seeds whose means spread by about the within-model standard error (0.2): the
    # pooled variance is the sum of both over S, so the interval is ~sqrt(2) wider than
    # with the seeds' values taken as exact.
    noisy = [mean_ci(rng.normal(0.0, 2.0, 100), seed=k) for k in range(8)]
    exact = [Estimate(float(e.value), (e.value, e.value), 0.95, 1) for e in noisy]  # no within-model noise
    both, between = across_seeds(noisy, n_boot=20_000), across_seeds(exact, n_boot=20_000)
    assert both.ci[1] - both.ci[0] > 1.2 * (between.ci[1] - between.ci[0])
    planted = [Estimate(0.5, (0.2, 0.8), 0.95, 10), Estimate(-0.5, (-0.9, -0.1), 0.95, 10),
               Estimate(0.1, (-0.2, 0.4), 0.95, 10)]
    s = across_seeds(planted, ref=0.0)
    assert (s.n_above, s.n_below) == (1, 1)


def test_across_seeds_refuses_what_is_not_a_list_of_estimates():
    with pytest.raises(InvalidParameterError, match="across_seeds: `estimates`"):
        across_seeds([])
    with pytest.raises(InvalidParameterError, match="`seeds`"):
        across_seeds([mean_ci([1.0])], seeds=[0, 1])


def test_seed_summary_round_trips_through_json():
    s = across_seeds([mean_ci([1.0, 2.0], seed=0), mean_ci([2.0, 4.0], seed=1)], ref=1.0)
    assert SeedSummary.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def _planted_codes(n_per=40, n_bits=96, flips=3, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.random((3, n_bits)) < 0.5
    labels = np.repeat(np.arange(3), n_per)
    bits = protos[labels].copy()
    for row in bits:
        row[rng.choice(n_bits, flips, replace=False)] ^= True
    return bits, labels


def test_hdbscan_on_hamming_distances_recovers_planted_code_clusters():
    from sklearn.metrics import adjusted_rand_score

    bits, labels = _planted_codes()
    found = hdbscan_codes(bits, min_cluster_size=10)
    assert np.mean(found < 0) < 0.05
    kept = found >= 0
    assert adjusted_rand_score(labels[kept], found[kept]) == 1.0
    score = hdbscan_purity(bits, {"planted": labels}, min_cluster_size=10)[0]
    assert score.n_clusters == 3 and score.mean.value == 1.0 and score.weighted == 1.0
    assert score.chance < 0.6  # random groups of ~40 out of 3 equal classes


@pytest.mark.slow
def test_report_json_round_trips(tmp_path, tiny_digits):
    record = {"schema": 1, "digits": [digits_record([tiny_digits])]}
    path = write_record(record, tmp_path / "report.json")
    back = read_record(path)
    assert json.dumps(back, sort_keys=True) == json.dumps(json.loads(json.dumps(record)), sort_keys=True)
    d = back["digits"][0]
    assert d["seeds"] == [tiny_digits.config.seed] and d["architecture"] == tiny_digits.config.architecture
    p1 = d["prediction1"]["purity"]["spline codes"]
    assert p1["mean"] == pytest.approx(tiny_digits.groupings.score("spline codes", "class").mean)
    assert SeedSummary.from_dict(p1).values == (p1["mean"],)
