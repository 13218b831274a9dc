"""The digits experiments end to end on a tiny configuration (one shared run)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from polylens.experiments.digits import (
    DigitsConfig,
    activation_scaling,
    interpolation_density,
    layer_outputs,
    train_digits_cnn,
)
from polylens.experiments.figures import FIGURES, save_digits_figures
from polylens.experiments.monosemanticity import METHODS


@pytest.mark.slow
def test_run_digits_trains_a_classifier_better_than_chance(tiny_digits):
    assert tiny_digits.model.test_accuracy > 0.5
    assert set(tiny_digits.seconds) == {"training", "input paths", "hidden paths", "scaling", "groupings", "HDBSCAN"}


@pytest.mark.slow
@pytest.mark.parametrize("space", ["input", "hidden"])
def test_every_interpolation_changes_class_and_is_sampled_on_every_step(tiny_digits, space):
    res, cfg = tiny_digits.paths[space], tiny_digits.config
    assert res.sampled.shape == (cfg.n_pairs, cfg.steps)
    assert res.classes.shape == (cfg.n_pairs, cfg.steps + 1)
    labels = tiny_digits.model.y_test.numpy()
    assert np.all(labels[res.pairs[:, 0]] != labels[res.pairs[:, 1]])
    assert len({frozenset(p) for p in res.pairs.tolist()}) == cfg.n_pairs  # no path twice, either way round
    assert all(c.size >= 1 for c in res.changes)  # endpoints are correctly classified, of different classes
    assert np.array_equal(res.classes[:, 0], labels[res.pairs[:, 0]])
    assert set(res.by_window) == set(cfg.windows)


@pytest.mark.slow
@pytest.mark.parametrize("space", ["input", "hidden"])
def test_sampled_density_agrees_with_the_exact_crossings(tiny_digits, space):
    res = tiny_digits.paths[space]
    assert len(res.exact) == (tiny_digits.config.n_exact_input if space == "input"
                              else tiny_digits.config.n_exact_hidden)
    assert np.all(np.abs(res.agreement - 1) < 0.05)
    assert res.exact[0].sum() == sum(len(u) for u in res.example.units)
    assert res.example.n_crossings == res.exact_crossings[0]


@pytest.mark.slow
def test_hidden_paths_run_in_the_activation_space_of_the_hidden_layer(tiny_digits):
    dm, res = tiny_digits.model, tiny_digits.paths["hidden"]
    acts = layer_outputs(dm.model, dm.X_test[res.pairs[0]], tiny_digits.config.hidden)
    assert res.example.length == pytest.approx(np.linalg.norm(acts[1] - acts[0]))
    assert res.lengths[0] == pytest.approx(res.example.length)


@pytest.mark.slow
def test_scaling_by_one_changes_nothing_and_sampled_counts_match_exact(tiny_digits):
    s = tiny_digits.scaling
    one = s.at(1.0)
    assert s.changed[one] == 0 and s.code_change[one] == 0
    assert np.isnan(s.density[0])  # the interval from 0 is left out
    assert np.all(s.density[1:] > 0)
    assert s.exact_above.size == tiny_digits.config.n_exact_scaled
    assert np.all(s.sampled_above <= s.exact_above) and np.all(s.sampled_below <= s.exact_below)
    up = np.isfinite(s.first_change_up)
    assert np.all(s.first_change_up[up] > 1)


@pytest.mark.slow
def test_groupings_score_every_method_on_the_class_labels(tiny_digits):
    g = tiny_digits.groupings
    assert [s.method for s in g.scores] == list(METHODS)
    for s in g.scores:
        assert s.labels == "class" and s.chance < s.mean <= 1


@pytest.mark.slow
def test_figures_are_written_as_png(tiny_digits, tmp_path):
    paths = save_digits_figures(tiny_digits, tmp_path)
    assert {p.name for p in paths.values()} == set(FIGURES.values())
    for p in paths.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_interpolation_density_names_a_bad_space(tiny_digits):
    with pytest.raises(ValueError, match="`space`"):
        interpolation_density(tiny_digits.model, DigitsConfig.tiny(), "output")


def test_an_unknown_layer_is_named():
    with pytest.raises(ValueError, match="'9'"):
        train_digits_cnn(DigitsConfig(channels=(2, 2), epochs=1, hidden="9"))


def test_layer_outputs_names_a_missing_module():
    with pytest.raises(ValueError, match="nope"):
        layer_outputs(torch.nn.Sequential(torch.nn.ReLU()), torch.zeros(1, 2), "nope")


@pytest.mark.slow
def test_scaling_without_scales_below_one_has_no_exact_rays(tiny_digits):
    s = activation_scaling(tiny_digits.model, replace(DigitsConfig.tiny(), scales=(1.0, 2.0)))
    assert s.exact_above.size == 0 and s.scales.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("field, value", [("n_pairs", 0), ("steps", 1.5), ("window", 0.5), ("scales", ()),
                                          ("n_exact_scaled", True)])
def test_config_names_a_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        replace(DigitsConfig.tiny(), **{field: value})


@pytest.mark.parametrize("n_bins", [512, 385, 1000])
def test_the_coarser_profile_grid_keeps_every_bin_in_runs_of_equal_length(n_bins):
    from polylens.experiments.figures import _coarse

    w = np.random.default_rng(0).poisson(3.0, (4, n_bins)).astype(float)
    c = _coarse(w)
    factor = n_bins // c.shape[1]
    assert c.shape[1] * factor == n_bins and np.allclose(c.sum(axis=1), w.sum(axis=1))
    assert np.allclose(c[:, 0], w[:, :factor].sum(axis=1))
