"""Degenerate configurations and the errors of the exact engine.

Duplicate and opposite units, zero-weight units, dead layers, points exactly on a
boundary, domain faces that coincide with a unit's hyperplane, empty domains and
impossible codes. Expected values come from hand computation or independent oracles
(sampled codes, scipy volumes).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from _nets import linear_relu_net, make_mlp
from _oracles import polytope_volume

from polylens import (
    Box,
    InfeasibleRegionError,
    Polyhedron,
    PolylensError,
    PWLNet,
    enumerate_regions,
    facets,
    neighbors,
    region_at,
    region_for_code,
)

torch.set_num_threads(1)


def linear(W, b) -> nn.Linear:
    W = torch.as_tensor(np.asarray(W, dtype=np.float64))
    layer = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(W)
        layer.bias.copy_(torch.as_tensor(np.asarray(b, dtype=np.float64)))
    return layer


def total_volume(res) -> float:
    return sum(polytope_volume(res.region(i).A, res.region(i).b, res.points[i]) for i in range(res.n_regions))


def sampled_codes(net, box: Box, dim: int, n: int = 20000, seed: int = 0) -> set[bytes]:
    lo, hi = box.bounds(dim)
    pts = np.random.default_rng(seed).uniform(lo, hi, size=(n, dim))
    return {c.tobytes() for c in net.codes(pts)}


# ----------------------------------------------------------------------------- duplicate units


def test_duplicate_units_form_one_facet_and_flip_together():
    # units 0 and 1 are the same neuron; unit 2 is independent
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [0.0, 0.0, 0.0]))
    r = region_at(net, [0.5, 0.5], Box(-1, 1))
    np.testing.assert_array_equal(r.code, [1, 1, 1])
    inner = [f for f in facets(r) if f.units]
    assert sorted(f.units for f in inner) == [(0, 1), (2,)]
    for method in ("hull", "lp"):
        assert sorted(f.units for f in facets(r, method=method) if f.units) == [(0, 1), (2,)]
    across = {nb.facet.units: nb.region.code.tolist() for nb in neighbors(r)}
    assert across == {(0, 1): [0, 0, 1], (2,): [1, 1, 0]}


@pytest.mark.parametrize("method", ["hull", "lp"])
def test_duplicate_units_enumeration_never_separates_the_copies(method):
    W = [[1.0, 0.3], [1.0, 0.3], [-0.2, 1.0], [0.7, -0.6]]
    b = [0.1, 0.1, -0.2, 0.05]
    net = PWLNet.from_torch(linear_relu_net(W, b))
    ref = PWLNet.from_torch(linear_relu_net([W[0], W[2], W[3]], [b[0], b[2], b[3]]))
    res = enumerate_regions(net, Box(-1, 1), progress=False, method=method)
    res_ref = enumerate_regions(ref, Box(-1, 1), progress=False, method=method)
    assert res.complete and res.degenerate == []
    assert res.n_regions == res_ref.n_regions
    np.testing.assert_array_equal(res.codes[:, 0], res.codes[:, 1])
    assert all((0 in u) == (1 in u) for u in res.edge_units)
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_duplicate_units_in_a_hidden_layer_enumerate_like_the_net_without_the_copy():
    model = make_mlp(2, [5, 4], seed=2)
    with torch.no_grad():
        model[2].weight[3] = model[2].weight[1]
        model[2].bias[3] = model[2].bias[1]
    net = PWLNet.from_torch(model)
    res = enumerate_regions(net, Box(-2, 2), progress=False)
    assert res.complete and res.degenerate == []
    np.testing.assert_array_equal(res.codes[:, 6], res.codes[:, 8])
    assert sampled_codes(net, Box(-2, 2), 2) <= {c.tobytes() for c in res.codes}
    assert total_volume(res) == pytest.approx(16.0, rel=1e-9)


def test_scaled_and_opposite_copies_of_a_unit_are_crossed_together():
    # unit 1 = 2 * unit 0 (same hyperplane, same side); unit 2 = -unit 0 (opposite side)
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], [0.2, 0.4, -0.2, 0.0]))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.complete and res.degenerate == []
    assert res.n_regions == 4
    assert {tuple(c) for c in res.codes.tolist()} == {(1, 1, 0, 1), (1, 1, 0, 0), (0, 0, 1, 1), (0, 0, 1, 0)}
    assert sorted(sorted(u) for u in res.edge_units) == [[0, 1, 2], [0, 1, 2], [3], [3]]
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_impossible_code_for_duplicate_units_is_infeasible():
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [1.0, 0.0]], [0.0, 0.0]))
    with pytest.raises(InfeasibleRegionError):
        region_for_code(net, [1, 0], Box(-1, 1))


# ----------------------------------------------------------------------------- constant units


def test_zero_weight_unit_is_constant_and_has_no_row():
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], [0.0, 0.5, 0.0]))
    r = region_at(net, [0.5, -0.5], Box(-1, 1))
    np.testing.assert_array_equal(r.constant_units, [1])
    assert 1 not in r.source.tolist()
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.n_regions == 4
    assert np.all(res.codes[:, 1] == 1)  # bias 0.5 > 0: always on


@pytest.mark.parametrize("bias, piece", [(-0.5, 0), (0.0, 0), (0.5, 1)])
def test_constant_unit_piece_follows_the_sign_of_its_bias(bias, piece):
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 0.0]], [0.0, bias]))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.n_regions == 2
    assert np.all(res.codes[:, 1] == piece)
    if bias != 0.0:  # a unit constant at exactly 0 lies on its own boundary: both pieces touch it
        with pytest.raises(InfeasibleRegionError, match="constant unit"):
            region_for_code(net, [1, 1 - piece], Box(-1, 1))


def test_dead_first_layer_makes_the_whole_box_one_region():
    model = make_mlp(2, [4, 4], seed=0)
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every first-layer unit is off on the box
    net = PWLNet.from_torch(model)
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.n_regions == 1 and res.complete
    assert np.all(res.codes[0, :4] == 0)
    np.testing.assert_array_equal(res.codes[0, 4:], (model[2].bias.detach().numpy() > 0).astype(np.int8))
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_dead_middle_layer_leaves_the_first_layers_arrangement():
    model = make_mlp(2, [5, 4, 3], seed=1)
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.fill_(-1.0)  # layer 2 is off everywhere, so layer 3 is constant
    net = PWLNet.from_torch(model)
    res = enumerate_regions(net, Box(-2, 2), progress=False)
    first_only = enumerate_regions(PWLNet.from_torch(make_mlp(2, [5], seed=1)), Box(-2, 2), progress=False)
    assert res.complete and res.degenerate == []
    assert res.n_regions == first_only.n_regions
    assert np.all(res.codes[:, 5:9] == 0)
    np.testing.assert_array_equal(res.codes[:, 9:], np.tile(model[4].bias.detach().numpy() > 0, (res.n_regions, 1)))
    assert total_volume(res) == pytest.approx(16.0, rel=1e-9)


@pytest.mark.parametrize("w2, n_regions", [([2.0, -1.0, 0.0], 4), ([-2.0, 1.0, 0.0], 4), ([2.0, -1.0, 0.5], 5)])
@pytest.mark.parametrize("seed_point", [None, [0.5, 0.5], [-0.5, -0.5]])
def test_second_layer_boundary_coinciding_with_a_first_layer_boundary(w2, n_regions, seed_point):
    # layer 1: a0 = relu(x), a1 = relu(-x), a2 = relu(y). With w2 = (2, -1, 0) the second-layer
    # unit is 2x for x > 0 and x for x < 0: its boundary is x = 0 on both sides, non-constant.
    model = nn.Sequential(linear([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], [0.0, 0.0, 0.0]), nn.ReLU(),
                          linear([w2], [0.0]), nn.ReLU(), linear([[1.0]], [0.0]))
    net = PWLNet.from_torch(model)
    for method in ("hull", "lp"):
        res = enumerate_regions(net, Box(-1, 1), progress=False, method=method, seed=seed_point)
        assert res.complete and res.degenerate == []
        assert res.n_regions == n_regions
        assert sampled_codes(net, Box(-1, 1), 2) == {c.tobytes() for c in res.codes}
        assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_chain_of_zero_bias_relus_in_1d_has_two_regions():
    # regression: a later-layer unit constant 0 in a region (inputs all off, zero bias) used
    # to keep its piece when the facet was crossed, so regions were lost
    # x -> relu(x) -> relu(.) : the second unit equals the first's output, so its boundary
    # is the first unit's: regions x <= 0 (code 00) and x > 0 (code 11).
    net = PWLNet.from_torch(nn.Sequential(linear([[1.0]], [0.0]), nn.ReLU(), linear([[1.0]], [0.0]), nn.ReLU(),
                                          linear([[1.0]], [0.0])))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert {tuple(c) for c in res.codes.tolist()} == {(0, 0), (1, 1)}
    assert res.degenerate == []


@pytest.mark.parametrize("seed", [0, 2])
def test_bias_free_net_enumeration_tiles_the_box(seed):
    # regression: with an all-off first layer at the seed (seeds 0 and 2) every region but the
    # seed's used to be lost (later-layer units are constant 0 there)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 4, bias=False), nn.ReLU(), nn.Linear(4, 4, bias=False), nn.ReLU(),
                          nn.Linear(4, 1)).double()
    net = PWLNet.from_torch(model)
    assert np.all(net.preactivations(np.array([[0.0, 0.0]])) == 0.0)
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.complete and res.degenerate == []
    assert sampled_codes(net, Box(-1, 1), 2) <= {c.tobytes() for c in res.codes}
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_bias_free_net_enumeration_is_complete_when_no_all_off_cone_exists():
    torch.manual_seed(1)  # for this seed no direction switches every first-layer unit off
    model = nn.Sequential(nn.Linear(2, 4, bias=False), nn.ReLU(), nn.Linear(4, 4, bias=False), nn.ReLU(),
                          nn.Linear(4, 1)).double()
    net = PWLNet.from_torch(model)
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert sampled_codes(net, Box(-1, 1), 2) <= {c.tobytes() for c in res.codes}
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_net_without_hidden_units_has_one_region():
    net = PWLNet.from_torch(nn.Sequential(nn.Linear(2, 2)).double())
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    assert res.n_regions == 1 and res.complete


def test_net_without_hidden_units_region_at_is_the_domain():
    net = PWLNet.from_torch(nn.Sequential(nn.Linear(2, 2)).double())
    r = region_at(net, [0.1, 0.2], Box(-1, 1))
    assert r.code.shape == (0,)
    assert sorted(f.domain_faces for f in facets(r)) == [(0,), (1,), (2,), (3,)]
    assert neighbors(r) == []


# ----------------------------------------------------------------------------- boundaries


def test_point_exactly_on_a_first_layer_boundary_gets_the_lower_piece():
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]))
    x = np.array([0.0, 0.5])
    r = region_at(net, x, Box(-1, 1))
    np.testing.assert_array_equal(r.code, [0, 1])  # z = 0 is "off"
    assert r.contains(x[None])[0]
    np.testing.assert_allclose(r.A @ x - r.b, np.minimum(r.A @ x - r.b, 0))  # no row violated
    assert np.isclose((r.b - r.A @ x).min(), 0.0, atol=1e-12)  # on the boundary
    # over R^2 too, at the corner where both units are 0
    r0 = region_at(net, [0.0, 0.0])
    np.testing.assert_array_equal(r0.code, [0, 0])
    assert r0.contains(np.zeros((1, 2)))[0]


def test_point_exactly_on_a_second_layer_boundary_gets_the_lower_piece():
    # layer 1: a = relu(x + 0.5) (both on near the centre); layer 2: z = a0 - a1, zero on x0 = x1
    model = nn.Sequential(linear(np.eye(2), [0.5, 0.5]), nn.ReLU(), linear([[1.0, -1.0]], [0.0]), nn.ReLU(),
                          linear([[1.0]], [0.0]))
    net = PWLNet.from_torch(model)
    x = np.array([0.25, 0.25])
    assert net.preactivations(x[None])[0, 2] == 0.0
    r = region_at(net, x, Box(-1, 1))
    np.testing.assert_array_equal(r.code, [1, 1, 0])
    assert r.contains(x[None])[0]
    assert np.isclose((r.b - r.A @ x).min(), 0.0, atol=1e-12)


def test_point_on_two_opposite_boundaries_has_no_full_dimensional_region():
    # z0 = x and z1 = -x are both 0 on x = 0, so the rule puts both off: a flat region
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0]))
    with pytest.raises(InfeasibleRegionError):
        region_at(net, [0.0, 0.3], Box(-1, 1))


@pytest.mark.parametrize("W, b", [
    ([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [-1.0, 1.0, 0.3]),    # x = 1 and y = -1 are box faces
    ([[1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]], [-1.0, -1.0, 0.3]),  # both x-faces
])
def test_box_face_on_a_units_hyperplane_still_tiles_the_box(W, b):
    net = PWLNet.from_torch(linear_relu_net(W, b))
    for method in ("hull", "lp"):
        res = enumerate_regions(net, Box(-1, 1), progress=False, method=method)
        assert res.complete and res.degenerate == []
        assert res.n_regions == 2
        assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_box_face_on_a_hidden_units_hyperplane_in_a_deep_net_tiles_the_box():
    model = make_mlp(2, [6, 5], seed=8)
    with torch.no_grad():
        model[0].weight[2] = torch.tensor([0.0, 3.0], dtype=torch.float64)
        model[0].bias[2] = -3.0 * 1.5  # 3 y - 4.5 = 0 on y = 1.5, the box's top face
    net = PWLNet.from_torch(model)
    box = Box([-2.0, -1.0], [2.0, 1.5])
    res = enumerate_regions(net, box, progress=False)
    assert res.complete and res.degenerate == []
    assert np.all(res.codes[:, 2] == 0)
    assert total_volume(res) == pytest.approx(4.0 * 2.5, rel=1e-9)
    assert sampled_codes(net, box, 2) <= {c.tobytes() for c in res.codes}


@pytest.mark.parametrize("method", ["hull", "lp"])
def test_concurrent_hyperplanes_are_enumerated(method):
    # four lines through the origin: 8 sectors (not in general position)
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]], [0.0] * 4))
    for domain in (Box(-1, 1), None):
        res = enumerate_regions(net, domain, progress=False, method=method)
        assert res.complete and res.n_regions == 8 and res.degenerate == []
        assert (~res.bounded).sum() == (0 if domain is not None else 8)
    res = enumerate_regions(net, Box(-1, 1), progress=False, method=method)
    assert total_volume(res) == pytest.approx(4.0, rel=1e-9)


def test_parallel_units_over_r2_give_unbounded_strips():
    # three distinct parallel lines x = 0.5, x = -0.5, x = -0.2 (units 0 and 1 both vary with x only)
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [2.0, 0.0], [1.0, 0.0]], [-0.5, 1.0, 0.2]))
    for method in ("hull", "lp"):
        res = enumerate_regions(net, None, progress=False, method=method)
        assert res.complete and res.n_regions == 4 and res.degenerate == []
        assert not res.bounded.any()
        assert sorted(res.n_facets.tolist()) == [1, 1, 2, 2]


def test_thin_but_resolvable_sliver_between_parallel_units_is_found():
    # units y and y - 1e-7: a strip of width 1e-7 (Chebyshev radius 5e-8, far above 1e-9)
    net = PWLNet.from_torch(linear_relu_net([[0.0, 1.0], [0.0, 1.0], [1.0, 0.3]], [0.0, -1e-7, 0.1]))
    for method in ("hull", "lp"):
        res = enumerate_regions(net, Box(-1, 1), progress=False, method=method)
        assert res.n_regions == 6 and res.degenerate == []
        assert {(1, 0, 1), (1, 0, 0)} <= {tuple(c) for c in res.codes.tolist()}
        assert total_volume(res) == pytest.approx(4.0, rel=1e-12)


def test_sliver_below_tolerance_is_reported_not_silently_dropped():
    # units y and y - 1e-10: the strip between them (codes 10x) is thinner than MIN_RADIUS
    net = PWLNet.from_torch(linear_relu_net([[0.0, 1.0], [0.0, 1.0], [1.0, 0.3]], [0.0, -1e-10, 0.1]))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    found = {tuple(c) for c in res.codes.tolist()}
    assert {(1, 0, 1), (1, 0, 0)} <= found or res.degenerate



@pytest.mark.slow
@pytest.mark.parametrize("d, hidden, seed, budget", [(6, [7, 7], 3791, 3000), (5, [5, 8, 4], 4032, None)])
def test_unbounded_regions_in_high_dimension_keep_every_facet(d, hidden, seed, budget):
    # Over R^5 and R^6 a Qhull facet of an unbounded region's polar points with an offset
    # of a few 1e-15 (a ray seen through round-off) was taken for a vertex at 1e15; the
    # facet points pushed that far lost genuine facets, which the neighbours still saw
    net = PWLNet.from_torch(make_mlp(d, hidden, seed=seed))
    res = enumerate_regions(net, None, progress=False, max_regions=budget)
    res.check()  # among others: no region has more neighbours than facets
    assert res.degenerate == []
    assert budget is not None or res.complete
    far = [np.abs(v).max() for v in res.vertices if v is not None and v.size]
    assert max(far) < 1e12
    if budget is None:  # every region, as the LP method finds them
        lp = enumerate_regions(net, None, progress=False, method="lp")
        assert {c.tobytes() for c in lp.codes} == {c.tobytes() for c in res.codes}


def _sweep(count: int, seed: int) -> list:
    """``count`` seeded cases (dimension 4 to 6, 1 to 3 layers of 3 to 8 units, a net
    seed, over R^d or not)."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(4, 7)), rng.integers(3, 9, int(rng.integers(1, 4))).tolist(),
             int(rng.integers(0, 10_000)), bool(rng.random() < 0.5)) for _ in range(count)]


SWEEP = _sweep(12, seed=17)


@pytest.mark.slow
@pytest.mark.parametrize("d, hidden, seed, unbounded", SWEEP)
def test_random_nets_in_four_to_six_dimensions_pass_every_check(d, hidden, seed, unbounded):
    # A sweep of random nets over R^d and in boxes (seeded): every region's interior point
    # has its code, every edge is a facet seen from both sides, no region has more
    # neighbours than facets, and no adjacency is left degenerate
    net = PWLNet.from_torch(make_mlp(d, hidden, seed=seed))
    res = enumerate_regions(net, None if unbounded else Box(-3, 3), progress=False, max_regions=1500)
    res.check()
    assert not [note for note in res.degenerate if "one side only" in note]

# ----------------------------------------------------------------------------- domains and errors


EMPTY = Polyhedron([[1.0, 0.0], [-1.0, 0.0]], [0.0, -1.0])  # x <= 0 and x >= 1
FLAT = Polyhedron([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0])    # x == 0


@pytest.mark.parametrize("domain", [EMPTY, FLAT], ids=["empty", "flat"])
def test_empty_polyhedron_domain_raises_infeasible(domain, net2d):
    with pytest.raises(InfeasibleRegionError, match="domain"):
        enumerate_regions(net2d, domain, progress=False)
    with pytest.raises(InfeasibleRegionError):
        region_for_code(net2d, net2d.codes([[0.0, 0.0]])[0], domain)


def test_empty_polyhedron_domain_raises_in_region_at(net2d):
    with pytest.raises(InfeasibleRegionError, match="domain"):
        region_at(net2d, [0.0, 0.0], EMPTY)


def test_infeasible_region_error_is_a_polylens_error():
    assert issubclass(InfeasibleRegionError, PolylensError)


@pytest.mark.parametrize("lo, hi", [(1.0, 1.0), (2.0, 1.0), ([0.0, 0.0], [1.0, -1.0]), ([0.0, 1.0], 1.0)])
def test_box_with_lo_not_below_hi_raises_value_error_naming_lo_hi(lo, hi):
    with pytest.raises(ValueError, match=r"`lo`.*`hi`"):
        Box(lo, hi)


@pytest.mark.parametrize("lo, hi", [(np.nan, 1.0), (0.0, np.inf)])
def test_box_with_non_finite_corner_raises_value_error(lo, hi):
    with pytest.raises(ValueError, match="finite"):
        Box(lo, hi)


def test_box_with_mismatched_corner_lengths_names_lo_and_hi():
    with pytest.raises(ValueError, match=r"`lo`.*`hi`"):
        Box([0.0, 0.0, 0.0], [1.0, 1.0])


def test_box_of_wrong_dimension_for_the_space_is_rejected(net2d):
    with pytest.raises(ValueError, match="dimension 2"):
        region_at(net2d, [0.0, 0.0], Box([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]))


def test_polyhedron_validates_its_arrays():
    with pytest.raises(ValueError, match="`A`"):
        Polyhedron([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="zero"):
        Polyhedron([[0.0, 0.0]], [1.0])


def test_region_for_code_of_an_empty_region_raises_infeasible():
    net = PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 1.0]], [-5.0, 0.0]))
    # unit 0 is on only where x > 5: outside the box
    with pytest.raises(InfeasibleRegionError):
        region_for_code(net, [1, 0], Box(-1, 1))
    # but it exists over R^2
    assert region_for_code(net, [1, 0]).code.tolist() == [1, 0]


def test_region_for_code_validates_the_code(net2d):
    with pytest.raises(ValueError, match=r"`code` must have shape \(16,\)"):
        region_for_code(net2d, np.zeros(3, int))
    with pytest.raises(ValueError, match="piece outside"):
        region_for_code(net2d, np.full(16, 3))


def test_region_at_outside_the_domain_raises_value_error(net2d):
    with pytest.raises(ValueError, match="outside `domain`"):
        region_at(net2d, [5.0, 0.0], Box(-1, 1))


@pytest.mark.parametrize("bad", ["qhull", "", None])
def test_bad_method_raises_value_error(net2d, bad):
    with pytest.raises(ValueError, match="`method`"):
        enumerate_regions(net2d, Box(-1, 1), progress=False, method=bad)
    r = region_at(net2d, [0.1, 0.2], Box(-1, 1))
    with pytest.raises(ValueError, match="`method`"):
        facets(r, method=bad)


def test_bad_domain_type_raises_type_error(net2d):
    with pytest.raises(TypeError, match="domain"):
        region_at(net2d, [0.0, 0.0], "box")
