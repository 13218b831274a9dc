"""Scale invariance of the exact engine (issue 13): the partition of a net does not change
when the inputs, the domain and the basis are scaled together, or when a layer's
pre-activations are scaled, and polylens's answers must not either, wherever float64 can
resolve them; where it cannot, a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nets import make_mlp

from polylens import Box, PWLNet, enumerate_regions, path_crossings, plane_partition
from polylens.errors import InfeasibleRegionError, InvalidParameterError


def _codes(res) -> set:
    return {tuple(c) for c in res.codes.tolist()}


@pytest.fixture(scope="module")
def net_8_8():
    """The issue's 2-8-8-1 net (seed 0, torch default init): 156 regions over R^2."""
    return PWLNet.from_torch(make_mlp(2, [8, 8], seed=0))


@pytest.fixture(scope="module")
def plane_codes(net_8_8):
    return _codes(enumerate_regions(net_8_8, None, progress=False))


# ----------------------------------------------------------------------------- reproductions


@pytest.mark.parametrize("half", [1e9, 1e12])
def test_huge_box_holds_every_region_of_the_plane(net_8_8, plane_codes, half):
    # main: 37 regions in Box(-1e9, 1e9) with complete=True, 29 in Box(-1e12, 1e12)
    assert len(plane_codes) == 156
    res = enumerate_regions(net_8_8, Box(-half, half), progress=False)
    res.check()
    assert res.complete and res.degenerate == []
    assert _codes(res) == plane_codes


@pytest.mark.parametrize("half", [1e4, 1e9, 1e12])
def test_path_along_the_diagonal_of_a_huge_box_finds_every_crossing(net_8_8, half):
    # main: 20 crossings at 1e4, 0 at 1e9, 1 at 1e12
    base = path_crossings(net_8_8, [[-1e4, -1e4], [1e4, 1e4]])
    path = path_crossings(net_8_8, [[-half, -half], [half, half]])
    assert base.n_crossings == path.n_crossings == 20
    assert np.array_equal(base.codes, path.codes)


def _scaled_16(factor: float) -> torch.nn.Sequential:
    seq = make_mlp(2, [16, 16], seed=0)
    with torch.no_grad():
        seq[0].weight.mul_(factor)
        seq[0].bias.mul_(factor)
        seq[2].bias.mul_(factor)
    return seq


def test_pre_activations_scaled_by_1e_minus_12_keep_the_partition():
    # main: 1 region with complete=True (127 expected) and 8 crossings (17 expected)
    base, scaled = PWLNet.from_torch(_scaled_16(1.0)), PWLNet.from_torch(_scaled_16(1e-12))
    want = enumerate_regions(base, Box(-1, 1), progress=False)
    got = enumerate_regions(scaled, Box(-1, 1), progress=False)
    got.check()
    assert want.n_regions == got.n_regions == 127 and got.complete
    assert _codes(got) == _codes(want)
    assert path_crossings(scaled, [[-1, -1], [1, 1]]).n_crossings == 17
    part = plane_partition(scaled, domain=(-1, 1))
    part.check()
    assert part.n_regions == 127


def _vertex(seq) -> np.ndarray:
    """Where units 0 and 1 of the first layer are both 0 (4 regions meet there)."""
    W, b = seq[0].weight.detach().numpy(), seq[0].bias.detach().numpy()
    return np.linalg.solve(W[:2], -b[:2])


@pytest.mark.parametrize("zoom", [1e-3, 1e-9, 1e-12, 1e-13])
def test_zoom_on_a_vertex_sees_the_four_regions_meeting_there(zoom):
    # main: 1 region (enumerate) and 2 (plane) at 1e-12; IndexError in plane_partition at 1e-13
    seq = make_mlp(2, [8, 8], seed=0)
    net, x0 = PWLNet.from_torch(seq), _vertex(seq)
    basis = zoom * np.eye(2)
    res = enumerate_regions(net, Box(-1, 1), origin=x0, basis=basis, progress=False)
    res.check()
    assert res.n_regions == 4 and res.complete and res.degenerate == []
    part = plane_partition(net, x0, basis[:, 0], basis[:, 1], domain=(-1, 1))
    part.check()
    assert part.n_regions == 4
    assert {tuple(c) for c in part.codes.tolist()} == _codes(res)


@pytest.mark.parametrize("zoom", [1e-15, 1e-16])
def test_zoom_beyond_float64_is_refused_with_a_clear_error(zoom):
    seq = make_mlp(2, [8, 8], seed=0)
    net, x0 = PWLNet.from_torch(seq), _vertex(seq)
    basis = zoom * np.eye(2)
    with pytest.raises(InvalidParameterError, match="float64 cannot resolve `domain`"):
        plane_partition(net, x0, basis[:, 0], basis[:, 1], domain=(-1, 1))
    with pytest.raises(InvalidParameterError, match="float64 cannot resolve"):
        enumerate_regions(net, Box(-1, 1), origin=x0, basis=basis, progress=False)


def test_zoom_at_the_edge_of_float64_never_reports_a_wrong_complete_result():
    # at 1e-14 the points origin + basis @ t are known to ~0.03 of the box: the engine
    # either resolves the four regions or says it cannot, never fewer regions "complete"
    seq = make_mlp(2, [8, 8], seed=0)
    net, x0 = PWLNet.from_torch(seq), _vertex(seq)
    try:
        res = enumerate_regions(net, Box(-1, 1), origin=x0, basis=1e-14 * np.eye(2), progress=False)
    except (InfeasibleRegionError, InvalidParameterError):
        return
    assert res.n_regions == 4 or res.degenerate


# ----------------------------------------------------------------------------- properties

_FACTORS = [10.0 ** e for e in (-12, -7, -3, 5, 9, 12)]


def _random_net(seed: int) -> PWLNet:
    return PWLNet.from_torch(make_mlp(2, [5, 4], seed=seed))


@pytest.mark.parametrize("seed, factor", list(zip(range(6), _FACTORS)))
def test_scaling_domain_and_basis_together_changes_nothing(seed, factor):
    net = _random_net(seed)
    want = enumerate_regions(net, Box(-1, 1), progress=False)
    got = enumerate_regions(net, Box(-factor, factor), basis=np.eye(2) / factor, progress=False)
    got.check()
    assert got.complete and got.degenerate == []
    assert _codes(got) == _codes(want) and got.edges.shape == want.edges.shape
    plane = plane_partition(net, domain=(-1, 1))
    scaled = plane_partition(net, None, [1 / factor, 0.0], [0.0, 1 / factor], domain=(-factor, factor))
    scaled.check()
    assert {tuple(c) for c in scaled.codes.tolist()} == {tuple(c) for c in plane.codes.tolist()}
    assert scaled.n_regions == plane.n_regions
    over_r2 = enumerate_regions(net, None, basis=np.eye(2) / factor, progress=False)
    assert _codes(over_r2) == _codes(enumerate_regions(net, None, progress=False))


def _scale_inputs(seq: torch.nn.Sequential, factor: float) -> torch.nn.Sequential:
    """The same partition on inputs scaled by ``factor``: the first layer's weights / factor."""
    with torch.no_grad():
        seq[0].weight.div_(factor)
    return seq


@pytest.mark.parametrize("seed, factor", list(zip(range(6), _FACTORS)))
def test_scaling_the_inputs_of_a_path_changes_nothing(seed, factor):
    points = np.array([[-1.5, -0.5], [0.3, 1.2], [1.4, -1.1]])
    want = path_crossings(_random_net(seed), points)
    got = path_crossings(PWLNet.from_torch(_scale_inputs(make_mlp(2, [5, 4], seed=seed), factor)), points * factor)
    assert got.n_crossings == want.n_crossings
    assert np.array_equal(got.codes, want.codes)
    assert np.allclose(got.positions, want.positions * factor, rtol=1e-9)


def _scale_layer(seq: torch.nn.Sequential, layer: int, factor: float) -> torch.nn.Sequential:
    """Scale the pre-activations of hidden ``layer`` by ``factor`` (its weights and bias),
    undone by the next layer's weights: the same function and partition."""
    linears = [m for m in seq if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        linears[layer].weight.mul_(factor)
        linears[layer].bias.mul_(factor)
        linears[layer + 1].weight.div_(factor)
    return seq


@pytest.mark.parametrize("seed, factor", list(zip(range(6), _FACTORS)))
def test_scaling_a_layers_pre_activations_changes_nothing(seed, factor):
    layer = seed % 2
    net = _random_net(seed)
    scaled = PWLNet.from_torch(_scale_layer(make_mlp(2, [5, 4], seed=seed), layer, factor))
    want = enumerate_regions(net, Box(-1, 1), progress=False)
    got = enumerate_regions(scaled, Box(-1, 1), progress=False)
    got.check()
    assert got.complete and got.degenerate == []
    assert _codes(got) == _codes(want) and got.edges.shape == want.edges.shape
    part = plane_partition(scaled, domain=(-1, 1))
    part.check()
    assert part.n_regions == want.n_regions
    points = [[-1.0, -0.8], [1.0, 0.9]]
    assert np.array_equal(path_crossings(scaled, points).codes, path_crossings(net, points).codes)
