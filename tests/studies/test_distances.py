"""Distances and lazy A* paths against breadth-first search on the full graph."""

from __future__ import annotations

import _shapes as S
import numpy as np
import pytest
from _nets import make_mlp

from polylens import Box, PWLNet, enumerate_regions
from polylens.errors import InvalidParameterError
from polylens.studies._common import adjacency, bfs_distances, locate_codes
from polylens.studies.distances import pair_distances, region_path, region_paths


def test_arrangement_geodesic_equals_hamming():
    # in a hyperplane arrangement over R^d the graph distance is the number of
    # separating hyperplanes
    res = enumerate_regions(PWLNet.from_torch(S.arrangement(6, 2, seed=2)), None, progress=False)
    dist = pair_distances(res)
    assert dist.all_pairs and np.array_equal(dist.geodesic, dist.hamming)
    dist.check()


def test_geodesic_at_least_hamming_in_a_box():
    res = enumerate_regions(PWLNet.from_torch(S.arrangement(7, 2, seed=3)), Box(-1, 1), progress=False)
    dist = pair_distances(res, max_pairs=50, seed=1)
    assert not dist.all_pairs and dist.pairs.shape[0] <= 50
    assert np.all(dist.geodesic >= dist.hamming) and dist.geodesic_below_hamming == 0


@pytest.fixture(scope="module")
def deep():
    net = PWLNet.from_torch(make_mlp(2, [8, 8], seed=1))
    res = enumerate_regions(net, Box(-3, 3), progress=False)
    return net, res, adjacency(res.n_regions, res.edges)


@pytest.mark.parametrize("seed", range(6))
def test_astar_length_is_bfs_distance(deep, seed):
    net, res, A = deep
    a, b = np.random.default_rng(seed).uniform(-3, 3, (2, 2))
    ia, ib = locate_codes(res.codes, net.codes(np.stack([a, b])))
    path = region_path(net, a, b, (-3, 3))
    assert path.found and path.optimal
    assert path.length == bfs_distances(A, [ia])[0, ib] == path.lower_bound
    assert path.regions_visited <= res.n_regions
    path.check(net)


@pytest.mark.parametrize("seed", range(4))
def test_astar_expanding_ahead_in_waves_finds_the_path_of_one_region_at_a_time(deep, seed, monkeypatch):
    import polylens.geometry.expansion as expansion
    import polylens.geometry.waves as waves

    net, _, _ = deep
    a, b = np.random.default_rng(10 + seed).uniform(-3, 3, (2, 2))
    ahead = region_path(net, a, b, (-3, 3))
    monkeypatch.setattr(waves, "wave_applies", lambda space, method: False)
    monkeypatch.setattr(expansion, "wave_applies", lambda space, method: False)
    alone = region_path(net, a, b, (-3, 3))
    assert np.array_equal(ahead.codes, alone.codes) and np.array_equal(ahead.points, alone.points)
    assert (ahead.units, ahead.length, ahead.regions_visited, ahead.regions_seen) == (
        alone.units, alone.length, alone.regions_visited, alone.regions_seen)


@pytest.mark.parametrize("moves", ["all", "differing"])
def test_paths_of_many_pairs_in_step_are_the_paths_of_one_pair_at_a_time(deep, moves):
    net, res, A = deep
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-3, 3, (2, 7, 2))
    b[1] = a[1]  # a pair inside one region
    b[2] = b[3]  # two searches toward one target
    first = net.program.stages[0]
    w, c = first.weight[0], first.bias[0]
    a[4] = -c * w / (w @ w)  # on unit 0's hyperplane: its code must not depend on the batch
    together = region_paths(net, a, b, (-3, 3), moves=moves)
    ia, ib = locate_codes(res.codes, net.codes(a)), locate_codes(res.codes, net.codes(b))
    bfs = bfs_distances(A, ia)
    for i, path in enumerate(together):
        alone = region_path(net, a[i], b[i], (-3, 3), moves=moves)
        assert np.array_equal(path.codes, alone.codes) and path.units == alone.units
        assert (path.length, path.optimal, path.lower_bound, path.regions_visited, path.regions_seen) == (
            alone.length, alone.optimal, alone.lower_bound, alone.regions_visited, alone.regions_seen)
        # (LP counts may move between pairs: a region shared is charged to one of them)
        if moves == "all":
            assert path.optimal and path.length == bfs[i, ib[i]]
        path.check(net)
    assert together[1].length == 0 and together[1].regions_visited == 0
    assert all(0.0 < p.seconds < np.inf for p in together)


def test_paths_of_many_pairs_stop_each_at_its_budget(deep):
    net, _, _ = deep
    a, b = np.array([[-2.9, -2.9], [0.1, 0.1]]), np.array([[2.9, 2.9], [0.2, 0.1]])
    far, near = region_paths(net, a, b, (-3, 3), max_regions=2)
    assert far.stop_reason == "max_regions" and far.regions_visited == 2 and not far.found
    assert near.found and near.regions_visited <= 2
    assert region_paths(net, np.zeros((0, 2)), np.zeros((0, 2))) == []


def test_budget_stops_cleanly(deep):
    net, res, A = deep
    a, b = np.array([-2.9, -2.9]), np.array([2.9, 2.9])
    ia, ib = locate_codes(res.codes, net.codes(np.stack([a, b])))
    path = region_path(net, a, b, (-3, 3), max_regions=2)
    assert not path.found and path.stop_reason == "max_regions" and path.regions_visited == 2
    assert path.lower_bound <= bfs_distances(A, [ia])[0, ib]
    assert path.length == -1 and path.codes.shape[0] == 0


@pytest.mark.parametrize("W", [[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],  # a duplicated unit
                               [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]])  # the same line, opposite sides
def test_units_on_one_hyperplane_count_once(W):
    from _nets import linear_relu_net

    net = PWLNet.from_torch(linear_relu_net(np.array(W), np.zeros(3)))
    path = region_path(net, [-1.0, -1.0], [1.0, 1.0])
    assert path.length == 2 and path.optimal and path.lower_bound == 2 and path.hamming == 3
    path.check(net)


@pytest.mark.slow
def test_high_dimensional_path_on_the_digits_cnn():
    # 64 inputs, 480 units: no enumeration; facets of differing units only, weighted A*
    from polylens import zoo

    model = zoo.digits_cnn(seed=0, channels=(4, 8)).eval()
    X = zoo.digits_data()[0][:1]
    net = PWLNet.from_torch(model, X)
    a = X[0].numpy().astype(np.float64)
    b = a + 0.003 * np.random.default_rng(0).standard_normal(a.shape)
    path = region_path(net, a, b, max_regions=40, heuristic="hamming", weight=4.0)
    assert path.found and path.regions_visited <= 40
    assert path.length >= max(path.lower_bound, 1)
    path.check(net)  # every step crosses real facets; every point has its code
    stopped = region_path(net, a, b, max_regions=1, heuristic="hamming", weight=4.0)
    assert stopped.stop_reason == "max_regions" and not stopped.found
    (batched,) = region_paths(net, a[None], b[None], max_regions=40, heuristic="hamming", weight=4.0)
    assert np.array_equal(batched.codes, path.codes) and batched.units == path.units


def test_bad_arguments():
    net = PWLNet.from_torch(S.arrangement(3, 2))
    with pytest.raises(InvalidParameterError, match="region_path: `heuristic`"):
        region_path(net, [0.0, 0.0], [1.0, 1.0], heuristic="fast")
    with pytest.raises(InvalidParameterError, match="region_path: `max_regions`"):
        region_path(net, [0.0, 0.0], [1.0, 1.0], max_regions=0)
    with pytest.raises(InvalidParameterError, match="region_paths: `a` must be a batch of points"):
        region_paths(net, [0.0, 0.0], [[1.0, 1.0]])
    with pytest.raises(InvalidParameterError, match=r"region_paths: `b` must be as many points as `a` \(2\)"):
        region_paths(net, [[0.0, 0.0], [0.5, 0.5]], [[1.0, 1.0]])
    with pytest.raises(InvalidParameterError, match=r"region_paths: `b\[1\]` lies outside `domain`"):
        region_paths(net, [[0.0, 0.0], [0.5, 0.5]], [[1.0, 1.0], [3.0, 0.0]], (-2, 2))
    with pytest.raises(InvalidParameterError, match=r"region_paths: `a` must be a batch of points, shape \(n_pairs, 2\)"):
        region_paths(net, np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(InvalidParameterError, match=r"region_paths: `b` must be a batch of points"):
        region_paths(net, [[0.0, 0.0]], [[[1.0, 1.0]]])
    with pytest.raises(InvalidParameterError, match="region_paths: `progress`"):
        region_paths(net, [[0.0, 0.0]], [[1.0, 1.0]], progress="yes")
