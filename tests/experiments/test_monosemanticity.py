"""Purity and the four groupings on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from polylens.experiments.monosemanticity import METHODS, compare_groupings, purity
from polylens.experiments.stats import mean_ci


def _planted(n_per_class: int = 40, seed: int = 0):
    """Four classes; three neurons, each active on two classes (polysemantic), with
    random magnitudes; every class has its own on/off pattern (a pure polytope)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n_per_class)
    pattern = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)[y]
    acts = pattern * rng.uniform(0.5, 1.5, size=pattern.shape)
    return acts, pattern, y


def test_purity_is_one_for_a_perfectly_separated_clustering():
    y = np.array([3, 3, 1, 1, 1, 7])
    assert purity(y, [np.array([0, 1]), np.array([2, 3, 4]), np.array([5])]).tolist() == [1.0, 1.0, 1.0]


def test_purity_is_the_majority_fraction():
    y = np.array(["a", "b", "b", "c"])
    assert purity(y, [np.array([0, 1, 2, 3]), np.array([0, 3])]).tolist() == [0.5, 0.5]


def test_purity_rejects_an_empty_group():
    with pytest.raises(ValueError, match=r"groups\[1\]"):
        purity(np.zeros(3, int), [np.array([0]), np.array([], dtype=int)])


def test_codes_find_pure_polytopes_where_neurons_are_polysemantic():
    acts, bits, y = _planted()
    res = compare_groupings(acts, bits, {"class": y}, n_groups=4, group_size=30, seed=0)
    assert res.score("spline codes", "class").mean == 1.0
    assert res.score("neurons", "class").mean < 0.8  # each neuron's top set mixes two classes
    assert res.fill["spline codes"] == 0.0


def test_every_group_of_every_method_has_group_size_distinct_members():
    acts, bits, y = _planted()
    res = compare_groupings(acts, bits, y, n_groups=3, group_size=25, seed=1)
    assert set(res.groups) == set(METHODS)
    for method, groups in res.groups.items():
        assert len(groups) == 3, method
        assert all(g.size == 25 and np.unique(g).size == 25 for g in groups), method
    assert [s.method for s in res.scores] == list(METHODS)
    assert {s.labels for s in res.scores} == {"label"}


def test_default_group_size_fits_at_least_half_the_clusters():
    acts, bits, y = _planted()
    res = compare_groupings(acts, bits, {"class": y}, n_groups=4, seed=0)
    assert 1 <= res.group_size <= len(y) // 4
    assert res.fill["spline codes"] <= 0.5 and res.fill["activations"] <= 0.5


def test_random_labels_give_purity_near_the_computed_chance():
    rng = np.random.default_rng(2)
    acts, bits, _ = _planted(n_per_class=60)
    noise = rng.integers(0, 2, size=len(acts))  # labels unrelated to the activations
    res = compare_groupings(acts, bits, {"noise": noise}, n_groups=4, group_size=2, seed=0)
    # Two balanced labels, groups of two: purity is 1 if both members agree, else 1/2.
    assert res.score("spline codes", "noise").chance == pytest.approx(0.75, abs=0.02)
    for s in res.scores:
        assert abs(s.mean - s.chance) < 0.3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # NMF on noise; not scored here
def test_random_groups_purity_lies_in_the_bootstrap_interval_of_chance():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, size=2000)
    groups = [rng.choice(2000, 20, replace=False) for _ in range(300)]
    est = mean_ci(purity(y, groups))
    res = compare_groupings(np.abs(rng.normal(size=(2000, 4))), rng.random((2000, 8)) > 0.5, {"y": y},
                            n_groups=2, group_size=20, seed=0)
    chance = res.score("NMF", "y").chance
    assert est.ci[0] <= chance <= est.ci[1]


def test_nmf_convergence_is_recorded_not_warned(monkeypatch):
    import warnings

    from polylens.experiments import monosemanticity

    acts, bits, y = _planted()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        done = compare_groupings(acts, bits, {"class": y}, n_groups=4, seed=0)
        monkeypatch.setattr(monosemanticity, "NMF_MAX_ITER", 1)
        cut = compare_groupings(acts, bits, {"class": y}, n_groups=4, seed=0)
    assert done.nmf_converged and 0 < done.nmf_iterations < 500
    assert not cut.nmf_converged and cut.nmf_iterations == 1


def test_to_markdown_lists_every_method_and_label_set():
    acts, bits, y = _planted()
    res = compare_groupings(acts, bits, {"class": y, "parity": y % 2}, n_groups=4, seed=0)
    table = res.to_markdown()
    assert table.count("\n") == 2 + 2 * len(METHODS) - 1
    assert "| parity | NMF |" in table and "| class | spline codes |" in table


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_groups=0), "n_groups"),
    (dict(group_size=10_000), "group_size"),
])
def test_compare_groupings_names_a_bad_argument(kwargs, match):
    acts, bits, y = _planted()
    with pytest.raises(ValueError, match=match):
        compare_groupings(acts, bits, y, **kwargs)


def test_compare_groupings_checks_shapes_against_activations():
    acts, bits, y = _planted()
    with pytest.raises(ValueError, match="bits"):
        compare_groupings(acts, bits[1:], y)
    with pytest.raises(ValueError, match="'class'"):
        compare_groupings(acts, bits, {"class": y[1:]})


def test_compare_groupings_refuses_activations_without_a_varying_unit():
    acts, bits, y = _planted()
    with pytest.raises(ValueError, match="`activations` is constant"):
        compare_groupings(np.zeros_like(acts), bits, y, n_groups=4)
