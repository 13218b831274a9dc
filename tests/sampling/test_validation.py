"""Sampled estimates next to the exact engine: density along paths, regions in a disc."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from _models import small_cnn
from _nets import make_mlp
from _paths import march

import polylens
from polylens import UnsupportedLayerError
from polylens.sampling import validate_density, validate_local_complexity

torch.set_num_threads(1)


def oracle_crossings(model):
    """``crossings(net, segment)`` computed by the independent march on the torch model."""
    def crossings(net, segment):
        s, units = march(model, segment[0], segment[1])
        return SimpleNamespace(n_crossings=len(s), units=[np.array([u]) for u in units])
    return crossings


def test_sampled_density_rises_to_the_exact_count_and_never_exceeds_it():
    model = make_mlp(2, [8, 8, 6], out=1, seed=5)
    points = np.array([[-4.0, -3.0], [4.0, 4.0], [3.0, -4.0]])
    res = validate_density(model, points, steps=(1, 2, 8, 64, 2048), crossings=oracle_crossings(model))
    exact = [len(march(model, points[i], points[i + 1])[0]) for i in range(2)]
    assert res.exact == sum(exact) and res.segment_exact.tolist() == exact
    assert np.all(np.diff(res.sampled) >= 0) and np.all(res.segment_sampled <= res.segment_exact)
    assert res.sampled[0] < res.exact == res.sampled[-1]
    assert res.violations.tolist() == [0] * 5 and res.relative_error[-1] == 0
    assert np.all(res.sampled_flips >= res.sampled) and res.sampled_flips[-1] == res.exact_flips == res.exact
    table = res.table()
    assert table.splitlines()[0].startswith("| steps/segment | sampled changes | exact crossings")
    assert len(table.splitlines()) == 2 + 5


def test_validate_density_against_polylens_path_crossings():
    model = make_mlp(3, [6, 6], out=2, seed=1)
    points = np.array([[-2.0, 1.0, 0.5], [2.0, -1.0, 1.5]])
    res = validate_density(model, points, steps=(4096,))
    assert res.sampled[0] == res.exact == res.exact_flips == len(march(model, points[0], points[1])[0])


def test_cnn_with_max_pooling_and_relu6_converges_to_path_crossings():
    model = small_cnn()
    # seed 4: the closest two crossings are 0.0015 of the path apart, more than a step of 1/4096
    points = torch.randn(2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    res = validate_density(model, points, steps=(1, 16, 256, 4096))
    assert res.violations.tolist() == [0] * 4 and np.all(np.diff(res.sampled) >= 0)
    assert res.sampled[-1] == res.exact and res.sampled_flips[-1] == res.exact_flips > res.sampled_flips[0]


@pytest.mark.parametrize("k", [1, 2])
def test_sampled_regions_in_a_disc_approach_the_exact_count_from_below(k):
    model = make_mlp(4, [8, 6], out=1, seed=2)
    x = torch.tensor([0.2, -0.1, 0.3, 0.0], dtype=torch.float64)
    res = validate_local_complexity(model, x, radius=1.5, n_samples=(10, 100, 1000, 8000), k=k, seed=4)
    assert res.outside == 0 and res.k == k and res.exact > 5
    assert np.all(np.diff(res.sampled) >= 0) and np.all(res.sampled <= res.exact)
    assert res.sampled[-1] >= 0.75 * res.exact > res.sampled[0]
    assert res.table().splitlines()[0] == "| samples | distinct codes | exact regions | found |"


def test_exact_disc_count_matches_a_dense_grid_and_excludes_the_box_corners():
    model = make_mlp(2, [10, 10], out=1, seed=3)
    res = validate_local_complexity(model, np.zeros(2), radius=1.0, n_samples=(20000,), basis=np.eye(2))
    net = polylens.PWLNet.from_torch(model)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 401), np.linspace(-1, 1, 401)), -1).reshape(-1, 2)
    in_disc = {r.tobytes() for r in net.codes(grid[np.linalg.norm(grid, axis=1) < 1.0])}
    in_box = {r.tobytes() for r in net.codes(grid)}
    assert res.exact == len(in_disc) < len(in_box)  # 40 regions meet the disc, 54 the box
    assert res.outside == 0 and res.exact - 3 <= res.sampled[-1] <= res.exact


def test_validation_needs_a_model_the_exact_adapter_supports():
    model = nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)).double()
    with pytest.raises(UnsupportedLayerError):
        validate_local_complexity(model, np.zeros(2), radius=1.0, n_samples=(10,))
    with pytest.raises(ValueError, match="disc of dimension 1 or 2"):
        validate_local_complexity(make_mlp(3, [3], seed=0), np.zeros(3), radius=1.0, k=3)
