"""Sampled density along paths, under activation scaling and around a point, against
exact crossings computed independently (tests/sampling/_paths.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from _nets import linear_relu_net, make_mlp
from _paths import march, one_layer_crossings

from polylens import PolylensError
from polylens.sampling import local_complexity, path_density, scale_activations

torch.set_num_threads(1)


def _segment_units(points, steps, res):
    """Units whose bit changes in each step, from the sampled codes."""
    bits = res.codes.unpack()
    return [set(np.flatnonzero(bits[k] != bits[k + 1])) for k in range(len(bits) - 1)]


# ----------------------------------------------------------------------------- one hidden layer


@pytest.mark.parametrize("steps", [1, 3, 50])
def test_one_hidden_layer_density_equals_the_closed_form_count_at_any_step_count(steps):
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(25, 3)), rng.normal(size=25)
    model = linear_relu_net(W, b)
    points = rng.normal(scale=2.0, size=(4, 3))
    res = path_density(model, points, steps=steps)
    exact = [one_layer_crossings(W, b, points[i], points[i + 1]) for i in range(3)]
    np.testing.assert_array_equal(res.segment_flips, exact)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    np.testing.assert_allclose(res.segment_lengths, lengths)
    assert res.density == pytest.approx(sum(exact) / lengths.sum())
    assert res.t.shape == (3 * steps + 1,) and res.t[-1] == pytest.approx(lengths.sum())


# ----------------------------------------------------------------------------- deep nets


@pytest.mark.parametrize("seed, leaky", [(3, None), (5, None), (7, 0.2)])
def test_deep_net_sampled_count_never_exceeds_exact_per_step_and_converges(seed, leaky):
    model = make_mlp(2, [8, 8, 6], out=1, seed=seed, leaky=leaky)
    p0, p1 = np.array([-4.0, -3.0]), np.array([4.0, 4.0])
    s_exact, u_exact = march(model, p0, p1)
    counts = []
    for steps in (1, 4, 16, 64, 4096):
        res = path_density(model, np.stack([p0, p1]), steps=steps)
        for k, flipped in enumerate(_segment_units(None, steps, res)):
            lo, hi = k / steps, (k + 1) / steps
            crossed = set(u_exact[(s_exact > lo) & (s_exact <= hi)].tolist())
            assert flipped <= crossed, f"step {k} of {steps}: units {flipped - crossed} flipped without a crossing"
        counts.append(res.n_flips)
        assert res.n_changes <= res.n_flips
    assert counts == sorted(counts)  # nested grids: refining never loses a change
    assert counts[-1] == len(s_exact) > counts[0]


def test_path_in_activation_space_counts_only_downstream_sites():
    model = make_mlp(3, [6, 7, 5], out=2, seed=11)
    x = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    acts = model[:2](x).detach().numpy()  # outputs of module "1" (the first ReLU)
    res = path_density(model, x, steps=2048, at="1")
    assert res.sites == ["3", "5"]
    np.testing.assert_allclose(res.segment_lengths, np.linalg.norm(np.diff(acts, axis=0), axis=1))
    exact = [len(march(model[2:], acts[i], acts[i + 1])[0]) for i in range(2)]
    np.testing.assert_array_equal(res.segment_flips, exact)


def test_path_density_errors_name_the_argument():
    model = make_mlp(2, [3], seed=0)
    with pytest.raises(ValueError, match="`steps`"):
        path_density(model, np.zeros((2, 2)), steps=0)
    with pytest.raises(ValueError, match="`points`"):
        path_density(model, np.zeros((1, 2)), steps=4)
    with pytest.raises(ValueError, match="zero length"):
        path_density(model, np.ones((3, 2)), steps=4)
    with pytest.raises(ValueError, match=r"`at`: no module or site named 'relu' in the model; modules include"):
        path_density(model, np.eye(2), steps=4, at="relu")
    with pytest.raises(PolylensError, match="no site runs after `at` module '1'"):
        path_density(model, np.eye(2), steps=4, at="1")


# ----------------------------------------------------------------------------- scaling


def test_scaling_a_layers_activations_matches_running_the_rest_of_the_net_on_scaled_vectors():
    model = make_mlp(4, [10, 12, 8], out=3, seed=2)
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    scales = [0.0, 0.5, 1.0, 2.0, 8.0]
    res = scale_activations(model, x, "1", scales)
    a = model[:2](x)
    assert res.sites == ["3", "5"]
    np.testing.assert_allclose(res.norms, a.norm(dim=1).detach().numpy())
    for i, s in enumerate(scales):
        z = model[2](s * a)
        z2 = model[4](model[3](z))
        bits = torch.cat([z > 0, z2 > 0], dim=1).numpy()
        np.testing.assert_array_equal(res.codes[i * 5:(i + 1) * 5].unpack(), bits)
        np.testing.assert_allclose(res.outputs[i], model[2:](s * a).detach().numpy())
        np.testing.assert_array_equal(res.predictions[i], model[2:](s * a).argmax(1).numpy())
    ref = scales.index(1.0)
    assert np.all(res.hamming[ref] == 0) and np.all(np.isnan(res.density[ref]))
    assert np.all(res.crossed >= res.hamming)
    assert res.hamming[-1].sum() > 0  # the code is not scale-invariant
    np.testing.assert_allclose(res.density[-1], res.crossed[-1] / (7.0 * res.norms))
    np.testing.assert_array_equal(res.prediction_changed, res.predictions != res.predictions[ref][None])


def test_scale_activations_errors_name_the_argument():
    model = make_mlp(2, [3, 3], seed=0)
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="`scales`"):
        scale_activations(model, x, "1", [])
    with pytest.raises(ValueError, match="`site`: no module or site named 'nope'"):
        scale_activations(model, x, "nope", [2.0])
    with pytest.raises(ValueError, match="`x`"):
        scale_activations(model, torch.zeros(2, dtype=torch.float64), "1", [2.0])


# ----------------------------------------------------------------------------- neighbourhoods


def test_local_complexity_flips_exactly_the_hyperplanes_closer_than_the_radius():
    rng = np.random.default_rng(4)
    W, b = rng.normal(size=(30, 2)), rng.normal(size=30)
    model = linear_relu_net(W, b)
    x = np.array([0.3, -0.2])
    dist = np.abs(W @ x + b) / np.linalg.norm(W, axis=1)
    radius = float(np.sort(dist)[4] + 1e-3)  # five hyperplanes meet the disc
    res = local_complexity(model, x, radius=radius, n_samples=4000, seed=1)
    np.testing.assert_array_equal(res.flipped_units, dist < radius)
    assert res.n_flipped == 5 and res.site_flipped.tolist() == [5]
    bits = res.codes.unpack()
    assert res.n_distinct == len({row.tobytes() for row in bits})
    assert np.all(np.linalg.norm(res.offsets, axis=1) <= radius)
    small = local_complexity(model, x, radius=0.5 * float(dist.min()), n_samples=200)
    assert (small.n_distinct, small.n_flipped) == (1, 0)


def test_random_disc_samples_lie_in_the_plane_of_an_orthonormal_basis():
    model = make_mlp(6, [10], seed=1)
    x = torch.randn(6, dtype=torch.float64)
    res = local_complexity(model, x, radius=0.8, n_samples=300, k=2, seed=3)
    U = res.basis
    assert U.shape == (6, 2)
    np.testing.assert_allclose(U.T @ U, np.eye(2), atol=1e-12)
    pts = x.numpy() + res.offsets @ U.T
    expected = (model[0](torch.from_numpy(pts)) > 0).numpy()
    np.testing.assert_array_equal(res.codes[1:].unpack(), expected)
    same = local_complexity(model, x, radius=0.8, n_samples=300, basis=U, seed=3)
    assert same.basis is not None and np.array_equal(same.basis, U)


def test_local_complexity_errors_name_the_argument():
    model = make_mlp(3, [4], seed=0)
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="`radius`"):
        local_complexity(model, x, radius=-1.0, n_samples=10)
    with pytest.raises(ValueError, match="`n_samples`"):
        local_complexity(model, x, radius=1.0, n_samples=0)
    with pytest.raises(ValueError, match="`k`"):
        local_complexity(model, x, radius=1.0, n_samples=10, k=4)
    with pytest.raises(ValueError, match="`basis` must be an array with orthonormal columns"):
        local_complexity(model, x, radius=1.0, n_samples=10, basis=np.ones((3, 2)))
    with pytest.raises(ValueError, match="`basis` must be an array of shape"):
        local_complexity(model, x, radius=1.0, n_samples=10, basis=np.eye(2))


def test_gelu_model_density_is_marked_approximate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.GELU(), nn.Linear(16, 1)).double()
    res = path_density(model, np.array([[-2.0, 0.0], [2.0, 1.0]]), steps=32)
    assert res.approximate and res.n_flips > 0
