"""Paths by segment splitting (values carried layer to layer) against the exact engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nets import linear_relu_net

from polylens import PWLNet, path_crossings, zoo
from polylens.errors import InvalidParameterError

torch.set_num_threads(1)


def _same(net, points):
    """Both routes on one polyline: equal codes, units and on_boundary, positions to
    1e-9 of the path length; returns the split route's answer."""
    split = path_crossings(net, points)
    enum = path_crossings(net, points, method="enumerate")
    np.testing.assert_array_equal(split.codes, enum.codes)
    assert split.n_crossings == enum.n_crossings
    np.testing.assert_allclose(split.positions, enum.positions, rtol=0, atol=1e-9 * split.length)
    for a, b in zip(split.units, enum.units):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(split.on_boundary, enum.on_boundary)
    np.testing.assert_allclose(split.outputs, enum.outputs, rtol=1e-9, atol=1e-9)
    return split


def _sampled_positions_agree(net, points, path, n=100_001):
    """Dense sampling oracle on a straight path: the sampled code changes exactly where
    (between the samples around) the reported crossings are, and only there. The two
    end samples are left out: a path that ends on a boundary has no crossing there."""
    a, b = np.asarray(points[0], float), np.asarray(points[-1], float)
    s = np.linspace(0.0, 1.0, n)[1:-1]
    codes = net.codes(a + s[:, None] * (b - a))
    change = np.flatnonzero(np.any(codes[1:] != codes[:-1], axis=1))
    cell = np.searchsorted(s * path.length, path.positions) - 1  # sample interval of every crossing
    assert set(change.tolist()) <= set(cell.tolist())
    for i in change:
        j = np.flatnonzero(cell == i)
        np.testing.assert_array_equal(np.unique(np.concatenate([path.units[k] for k in j])),
                                      np.flatnonzero(codes[i] != codes[i + 1]))


@pytest.mark.parametrize("activation", [torch.nn.ReLU, lambda: torch.nn.LeakyReLU(0.1), torch.nn.Hardtanh])
def test_mlp_paths_match_enumeration(activation):
    net = PWLNet.from_torch(zoo.mlp([3, 16, 16, 16, 4], activation=activation, seed=2))
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2, 3)) * 5
    path = _same(net, points)
    assert path.n_crossings > 2
    _sampled_positions_agree(net, points, path)


def test_multi_segment_polyline_matches_enumeration():
    net = PWLNet.from_torch(zoo.mlp([2, 12, 12, 3], seed=4))
    _same(net, [[-1.8, -1.1], [1.3, 1.7], [1.9, -1.5], [-0.5, 0.2]])


def test_digits_cnn_path_matches_enumeration():
    torch.manual_seed(0)
    model = zoo.digits_cnn(seed=1).eval()
    net = PWLNet.from_torch(model, torch.zeros(2, 1, 8, 8))
    X, _, Xt, _ = zoo.digits_data(seed=0)
    a, b = (v.reshape(-1).double().numpy() for v in Xt[:2])
    path = _same(net, [a, b])
    assert path.n_crossings > 5
    _sampled_positions_agree(net, [a, b], path, n=20_001)


def test_digits_resnet_path_matches_enumeration():
    model = zoo.digits_resnet(seed=3).eval()
    net = PWLNet.from_torch(model, torch.zeros(2, 1, 8, 8))
    _, _, Xt, _ = zoo.digits_data(seed=0)
    a, b, c = (v.reshape(-1).double().numpy() for v in Xt[3:6])
    path = _same(net, [a, b, c])
    assert path.n_crossings > 5


def test_hidden_layer_path_matches_enumeration():
    model = zoo.digits_cnn(seed=2).eval()
    net = PWLNet.from_torch(model, torch.zeros(2, 1, 8, 8))
    _, _, Xt, _ = zoo.digits_data(seed=0)
    x = Xt[:2].reshape(2, -1).double().numpy()
    tail = net.split(at=net.layer_names[1])
    acts = net.activations[1].apply(net.program.run(x)[0][1])
    _same(tail, acts)


def _units_net():
    # unit 0: x, unit 1: y, unit 2: x + y - 1
    return PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, -1.0]))


@pytest.mark.parametrize("points", [
    [[-1.0, 0.0], [2.0, 0.0]],  # along the boundary y = 0
    [[-1.0, 1.0], [1.0, 1.0]],  # through the vertex (0, 1)
    [[0.0, 0.5], [0.4, 0.5]],  # starting on x = 0
    [[-1.0, -1.0], [2.0, 1.5]],
    [[1.0, 0.0], [-1.0, 2.0]],  # along x + y = 1, through the vertex (0, 1)
])
def test_degenerate_paths_match_enumeration(points):
    _same(_units_net(), points)


def test_units_tied_on_part_of_a_path():
    first, second = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    with torch.no_grad():
        for lin in (first, second):
            lin.weight.fill_(1.0)
            lin.bias.zero_()
    net = PWLNet.from_torch(torch.nn.Sequential(first, torch.nn.ReLU(), second, torch.nn.ReLU()))
    assert _same(net, [[-1.0], [-0.5]]).on_boundary.tolist() == [1]
    assert _same(net, [[-1.0], [1.0]]).on_boundary.tolist() == []


def test_bad_method_is_refused():
    net = _units_net()
    with pytest.raises(InvalidParameterError, match="method"):
        path_crossings(net, [[0.0, 0.0], [1.0, 1.0]], method="march")


@pytest.mark.parametrize("half", [1.0, 1e4, 1e12])
def test_long_diagonal_paths_match_enumeration(half):
    """The roots near the origin of a segment 1e12 long: interpolated from the nearer
    end, with tolerances of the numbers where they are."""
    from _nets import make_mlp

    net = PWLNet.from_torch(make_mlp(2, [8, 8], seed=0))
    _same(net, [[-half, -half], [half, half]])


def test_breakpoints_handed_on_in_short_runs_give_the_same_pieces(monkeypatch):
    """Runs of a few breakpoints per block (as a wide net gets) change nothing."""
    from polylens.geometry import segment_split

    model = zoo.digits_resnet(seed=3).eval()
    net = PWLNet.from_torch(model, torch.zeros(2, 1, 8, 8))
    _, _, Xt, _ = zoo.digits_data(seed=0)
    points = Xt[3:5].reshape(2, -1).double().numpy()
    whole = path_crossings(net, points)
    monkeypatch.setattr(segment_split, "_BLOCK", 3000)  # 3 to a few breakpoints per run
    runs = _same(net, points)
    np.testing.assert_array_equal(runs.codes, whole.codes)
    np.testing.assert_array_equal(runs.positions, whole.positions)
