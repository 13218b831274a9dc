"""Exact 1-D paths and 2-D planes, checked against sampling and against each other."""

from __future__ import annotations

import numpy as np
import pytest
from _nets import linear_relu_net

from polylens import Box, PWLNet, enumerate_regions, path_crossings, plane_partition, zoo
from polylens.geometry.polygons import polygon_area


@pytest.fixture(scope="module")
def mlp2d():
    return PWLNet.from_torch(zoo.mlp([2, 12, 12, 3], seed=4))


@pytest.fixture(scope="module")
def cnn():
    X, y, Xt, _ = zoo.digits_data(seed=0)
    model = zoo.digits_cnn(channels=(4, 8))
    zoo.train_classifier(model, X, y, epochs=2, seed=0)
    return PWLNet.from_torch(model, Xt[:1]), Xt[:3].reshape(3, -1).double().numpy()


# ----------------------------------------------------------------------------- planes


def test_polygon_areas_sum_to_the_box_area(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    assert part.areas().sum() == pytest.approx(16.0, rel=1e-9)


def test_every_centroid_has_its_polygons_code(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    np.testing.assert_array_equal(mlp2d.codes(part.centroids()), part.codes)


def test_polygons_match_enumeration_one_to_one(mlp2d):
    part = plane_partition(mlp2d, domain=(-1.5, 1.0))
    res = enumerate_regions(mlp2d, Box(-1.5, 1.0), progress=False)
    assert {c.tobytes() for c in part.codes} == {c.tobytes() for c in res.codes}
    assert part.n_regions == res.n_regions


def test_dense_sampling_finds_no_missing_code(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    rng = np.random.default_rng(0)
    samples = rng.uniform(-2, 2, (40_000, 2))
    assert {c.tobytes() for c in mlp2d.codes(samples)} <= {c.tobytes() for c in part.codes}


def test_output_maps_reproduce_the_network(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    c = part.centroids()
    np.testing.assert_allclose(np.einsum("nok,nk->no", part.out_weight, c) + part.out_bias, mlp2d.forward(c),
                               rtol=1e-9, atol=1e-12)


def test_decision_boundary_separates_classes_exactly(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    assert len(part.decision_boundary) > 0
    mids = part.decision_boundary.mean(axis=1)
    along = part.decision_boundary[:, 1] - part.decision_boundary[:, 0]
    normal = np.stack([-along[:, 1], along[:, 0]], 1) / np.linalg.norm(along, axis=1, keepdims=True)
    out = mlp2d.forward(mids)
    top2 = np.sort(out, axis=1)[:, -2:]
    np.testing.assert_allclose(top2[:, 0], top2[:, 1], atol=1e-9)  # the two best classes tie
    left = mlp2d.forward(mids + 1e-6 * normal).argmax(1)
    right = mlp2d.forward(mids - 1e-6 * normal).argmax(1)
    assert np.mean(left != right) > 0.95  # the class changes across (bar segments ending at a triple point)


def test_shared_edges_lie_on_both_polygons(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    for (a, b), seg in zip(part.edges[:50], part.edge_segments[:50]):
        for poly in (part.polygons[a], part.polygons[b]):
            for point in seg:
                assert _on_boundary(poly, point)


def _on_boundary(poly, point, atol=1e-9):
    d = []
    for p, q in zip(poly, np.roll(poly, -1, axis=0)):
        t = np.clip((point - p) @ (q - p) / ((q - p) @ (q - p)), 0, 1)
        d.append(np.linalg.norm(p + t * (q - p) - point))
    return min(d) <= atol


def test_plane_through_three_cnn_inputs(cnn):
    net, (a, b, c) = cnn
    part = plane_partition(net, a, b - a, c - a, domain=(0.3, 0.38))
    assert part.areas().sum() == pytest.approx(0.08 ** 2, rel=1e-9)
    np.testing.assert_array_equal(net.codes(a + part.centroids() @ np.stack([b - a, c - a])), part.codes)


def test_plane_needs_directions_for_big_inputs(cnn):
    net, _ = cnn
    with pytest.raises(ValueError, match="`u` and `v`"):
        plane_partition(net)


def test_collinear_directions_are_refused(mlp2d):
    with pytest.raises(ValueError, match="linearly independent"):
        plane_partition(mlp2d, [0, 0], [1, 1], [2, 2])


# ----------------------------------------------------------------------------- paths


def _sampled_changes(net, a, b, n=200_001):
    s = np.linspace(0, 1, n)
    codes = net.codes(a + s[:, None] * (b - a))
    change = np.flatnonzero(np.any(codes[1:] != codes[:-1], axis=1))
    return s, codes, change


def test_path_finds_every_sampled_sign_change_with_its_unit(mlp2d):
    a, b = np.array([-1.7, -0.4]), np.array([1.6, 1.1])
    path = path_crossings(mlp2d, [a, b])
    s, codes, change = _sampled_changes(mlp2d, a, b)
    length = np.linalg.norm(b - a)
    for i in change:
        lo, hi = s[i] * length, s[i + 1] * length
        j = np.flatnonzero((path.positions >= lo - 1e-12) & (path.positions <= hi + 1e-12))
        assert j.size == 1, "one exact crossing inside every sampled change"
        np.testing.assert_array_equal(path.units[j[0]], np.flatnonzero(codes[i] != codes[i + 1]))
    assert path.n_crossings == change.size  # no crossing that sampling at 2e5 points misses here


def test_crossings_lie_on_the_plane_partition_edges(mlp2d):
    part = plane_partition(mlp2d, domain=(-2, 2))
    path = path_crossings(mlp2d, [[-1.8, -1.1], [1.3, 1.7], [1.9, -1.5]])
    boundary = [np.array(p) for p in part.polygons]
    for point in path.points:
        assert any(_on_boundary(poly, point, atol=1e-8) for poly in boundary)
    np.testing.assert_array_equal(mlp2d.codes(path.points[:0]).shape, (0, mlp2d.n_units))


def test_pieces_and_outputs_are_consistent(mlp2d):
    path = path_crossings(mlp2d, [[-1.8, -1.1], [1.3, 1.7]])
    mids = 0.5 * (path.breaks[:-1] + path.breaks[1:])
    points = np.array([-1.8, -1.1]) + mids[:, None] / path.length * np.array([3.1, 2.8])
    np.testing.assert_array_equal(mlp2d.codes(points), path.codes)
    np.testing.assert_allclose(path.outputs, mlp2d.forward(points), rtol=1e-12)
    centres, density = path.density_windows(10)
    assert density.sum() * path.length / 10 == pytest.approx(path.n_crossings)


def _units_net():
    # unit 0: x, unit 1: y, unit 2: x + y - 1
    return PWLNet.from_torch(linear_relu_net([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, -1.0]))


def test_path_along_a_boundary_reports_the_unit_on_it():
    path = path_crossings(_units_net(), [[-1.0, 0.0], [2.0, 0.0]])  # runs along y = 0
    assert 1 in path.on_boundary.tolist()
    assert all(1 not in u.tolist() for u in path.units)
    assert path.positions.tolist() == pytest.approx([1.0, 2.0])  # x = 0, then x + y = 1


@pytest.mark.parametrize("start, end", [([-1.0, 0.0], [2.0, 0.0]), ([-1.0, 1.0], [1.0, 1.0]), ([-1.0, -1.0], [2.0, 1.5])])
def test_units_tied_along_a_segment_are_those_tied_in_every_built_region(start, end):
    from functools import reduce

    from polylens.geometry.paths import _tied_along

    net = _units_net()
    direction = np.subtract(end, start) / np.linalg.norm(np.subtract(end, start))
    res = enumerate_regions(net, Box(0.0, float(np.linalg.norm(np.subtract(end, start)))), origin=np.array(start),
                            basis=direction[:, None], progress=False)
    order = np.argsort(res.points[:, 0])
    expected = reduce(np.intersect1d, [res.region(int(i)).tied_units for i in order])
    np.testing.assert_array_equal(_tied_along(res, order), expected)


def test_a_unit_tied_on_part_of_a_path_only_is_not_on_the_boundary():
    # unit 0: relu(x); unit 1: relu(relu(x)) has a constant zero row (tied) where x < 0 only
    import torch

    first, second = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    with torch.no_grad():
        for lin in (first, second):
            lin.weight.fill_(1.0)
            lin.bias.zero_()
    net = PWLNet.from_torch(torch.nn.Sequential(first, torch.nn.ReLU(), second, torch.nn.ReLU()))
    assert path_crossings(net, [[-1.0], [-0.5]]).on_boundary.tolist() == [1]
    assert path_crossings(net, [[-1.0], [1.0]]).on_boundary.tolist() == []


def test_path_through_a_vertex_is_one_crossing_with_two_units():
    path = path_crossings(_units_net(), [[-1.0, 1.0], [1.0, 1.0]])  # x = 0 and x + y = 1 meet at (0, 1)
    assert path.n_crossings == 1
    assert path.units[0].tolist() == [0, 2]


def test_path_starting_on_a_boundary_starts_with_the_piece_it_enters():
    net = _units_net()
    path = path_crossings(net, [[0.0, 0.5], [0.4, 0.5]])  # starts on x = 0
    assert path.n_crossings == 0
    np.testing.assert_array_equal(path.codes[0], net.codes([[0.2, 0.5]])[0])


def test_path_in_activation_space_of_a_split_net(cnn):
    net, (a, b, _) = cnn
    tail = net.split(at=net.layer_names[1])
    pre = net.program.run(np.stack([a, b]))[0][1]  # inputs of the second nonlinearity
    acts = net.activations[1].apply(pre)
    np.testing.assert_allclose(tail.forward(acts), net.forward(np.stack([a, b])), rtol=1e-9, atol=1e-12)
    path = path_crossings(tail, acts)
    mids = 0.5 * (path.breaks[:-1] + path.breaks[1:]) / path.length
    np.testing.assert_array_equal(tail.codes(acts[0] + mids[:, None] * (acts[1] - acts[0])), path.codes)


def test_bad_paths_are_refused(mlp2d):
    with pytest.raises(ValueError, match="at least 2"):
        path_crossings(mlp2d, [[0.0, 0.0]])
    with pytest.raises(ValueError, match="differ"):
        path_crossings(mlp2d, [[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="points"):
        path_crossings(mlp2d, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def test_polygon_area_helper_is_the_shoelace_formula():
    assert polygon_area(np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float)) == pytest.approx(2.0)


@pytest.mark.slow
def test_equal_max_pool_competitors_do_not_duplicate_regions():
    """Regression: blank image corners make two entries of a max-pool window the same
    constant on the whole plane; crossing a facet must not give the window the later of
    the two pieces (a duplicate region) but the tie rule's first one."""
    X, y, Xt, _ = zoo.digits_data(seed=0)
    model = zoo.digits_cnn()
    zoo.train_classifier(model, X, y, epochs=5, seed=0)
    net = PWLNet.from_torch(model, Xt[:1])
    a, b, c = (v.reshape(-1).double().numpy() for v in Xt[:3])
    part = plane_partition(net, a, b - a, c - a, domain=(0, 0.25))
    assert part.areas().sum() == pytest.approx(0.0625, rel=1e-9)
    assert len({code.tobytes() for code in part.codes}) == part.n_regions
    np.testing.assert_array_equal(net.codes(a + part.centroids() @ np.stack([b - a, c - a])), part.codes)
