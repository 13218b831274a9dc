"""The exact engine against independent oracles.

Every expected value here comes from a computation that shares no code with polylens:
closed-form counts of hyperplane arrangements, scipy's HalfspaceIntersection/ConvexHull
volumes, direct ``scipy.optimize.linprog`` redundancy tests, and torch/numpy forward passes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _nets import make_mlp
from _oracles import (
    coincident_groups,
    irredundant_groups,
    polytope_vertices,
    polytope_volume,
    sample_in_polytope,
)
from scipy.optimize import linprog

from polylens import Box, PWLNet, enumerate_regions, facets, neighbors, region_at

torch.set_num_threads(1)

# ----------------------------------------------------------------------------- arrangements


def arrangement_regions(n: int, d: int) -> int:
    """Regions of n hyperplanes in general position in R^d (Zaslavsky / Buck)."""
    return sum(math.comb(n, i) for i in range(d + 1))


def arrangement_unbounded(n: int, d: int) -> int:
    """Unbounded regions of n hyperplanes in general position in R^d: 2 * sum_{i<d} C(n-1, i).

    (The unbounded regions correspond to the regions of the arrangement "at infinity",
    a central arrangement of n hyperplanes in general position in R^d, which has
    2 * sum_{i<d} C(n-1, i) regions. d=2: 2n; d=1: 2.)
    """
    return 2 * sum(math.comb(n - 1, i) for i in range(d))


def test_arrangement_formulas_on_known_values():
    # n lines in the plane: 1 + n + C(n, 2) regions, 2n unbounded.
    assert arrangement_regions(3, 2) == 7 and arrangement_unbounded(3, 2) == 6
    assert arrangement_regions(4, 2) == 11 and arrangement_unbounded(4, 2) == 8
    # 4 planes in general position in R^3: 15 regions, only the tetrahedron bounded.
    assert arrangement_regions(4, 3) == 15 and arrangement_unbounded(4, 3) == 14
    # points on a line: n + 1 intervals, 2 unbounded.
    assert arrangement_regions(5, 1) == 6 and arrangement_unbounded(5, 1) == 2


@pytest.mark.parametrize("method", ["hull", "lp"])
@pytest.mark.parametrize("d, n, seed", [(1, 5, 0), (2, 3, 1), (2, 7, 2), (2, 10, 3), (3, 4, 4), (3, 7, 5)])
def test_one_layer_net_over_rd_has_arrangement_counts(d, n, seed, method):
    net = PWLNet.from_torch(make_mlp(d, [n], seed=seed))
    res = enumerate_regions(net, None, progress=False, method=method)
    assert res.complete and res.stop_reason == "complete"
    assert res.degenerate == []
    assert res.n_regions == arrangement_regions(n, d)
    assert int((~res.bounded).sum()) == arrangement_unbounded(n, d)
    # every code is distinct
    assert len({c.tobytes() for c in res.codes}) == res.n_regions


@pytest.mark.parametrize("method", ["hull", "lp"])
def test_one_layer_net_in_a_box_holding_every_vertex_has_every_arrangement_region(method):
    # All C(n, 2) intersection points of the lines lie inside the box: then the box holds
    # every region of the arrangement and its bounded ones are the engine's bounded ones.
    model = make_mlp(2, [6], seed=11)
    net = PWLNet.from_torch(model)
    W, c = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    corners = [np.linalg.solve(W[[i, j]], -c[[i, j]]) for i in range(6) for j in range(i + 1, 6)]
    reach = float(np.abs(corners).max())
    over_r2 = enumerate_regions(net, None, progress=False, method=method)
    in_box = enumerate_regions(net, Box(-4 * reach, 4 * reach), progress=False, method=method)
    assert in_box.n_regions == over_r2.n_regions == arrangement_regions(6, 2)
    assert {c.tobytes() for c in in_box.codes} == {c.tobytes() for c in over_r2.codes}


# ----------------------------------------------------------------------------- volumes

VOLUME_CASES = [
    pytest.param(2, [8, 8], 3, None, Box(-2, 2), id="2d-relu-8x8"),
    pytest.param(2, [6, 6, 6], 1, None, Box([-1.5, -1.0], [2.0, 1.0]), id="2d-relu-6x6x6"),
    pytest.param(2, [8, 8], 7, 0.1, Box(-2, 2), id="2d-leaky-8x8"),
    pytest.param(3, [6, 5], 5, None, Box([-1, -2, -1.5], [2, 1, 1.5]), id="3d-relu-6x5"),
    pytest.param(3, [5, 5, 4], 2, None, Box(-1, 1), id="3d-relu-5x5x4"),
]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hull", "lp"])
@pytest.mark.parametrize("d, hidden, seed, leaky, box", VOLUME_CASES)
def test_region_volumes_sum_to_the_box_volume(d, hidden, seed, leaky, box, method):
    net = PWLNet.from_torch(make_mlp(d, hidden, out=2, seed=seed, leaky=leaky))
    res = enumerate_regions(net, box, progress=False, method=method)
    assert res.complete and res.degenerate == []
    assert res.bounded.all()
    vols = np.array([polytope_volume(res.region(i).A, res.region(i).b, res.points[i])
                     for i in range(res.n_regions)])
    assert np.all(vols > 0)
    box_volume = float(np.prod(box.bounds(d)[1] - box.bounds(d)[0]))
    assert vols.sum() == pytest.approx(box_volume, rel=1e-9)


def test_hull_and_lp_methods_find_the_same_regions_and_edges(net2d):
    box = Box(-2, 2)
    a = enumerate_regions(net2d, box, progress=False, method="hull")
    b = enumerate_regions(net2d, box, progress=False, method="lp")

    def edge_set(r):
        return {frozenset((r.codes[i].tobytes(), r.codes[j].tobytes())) for i, j in r.edges}

    assert {c.tobytes() for c in a.codes} == {c.tobytes() for c in b.codes}
    assert edge_set(a) == edge_set(b)


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("d, hidden, seed, box", [
    (2, [8, 8], 3, Box(-2, 2)),
    (3, [6, 5], 5, Box([-1, -2, -1.5], [2, 1, 1.5])),
])
def test_random_points_fall_in_exactly_one_region(d, hidden, seed, box):
    net = PWLNet.from_torch(make_mlp(d, hidden, out=2, seed=seed))
    res = enumerate_regions(net, box, progress=False)
    lo, hi = box.bounds(d)
    pts = np.random.default_rng(seed).uniform(lo, hi, size=(3000, d))

    # (a) by codes: every sampled code was enumerated
    codes = net.codes(pts)
    enumerated = {c.tobytes(): i for i, c in enumerate(res.codes)}
    assert all(c.tobytes() in enumerated for c in codes)
    assert len({c.tobytes() for c in codes}) <= res.n_regions

    # (b) by H-representations: min slack of each region's rows at each point
    regions = [res.region(i) for i in range(res.n_regions)]
    slack = np.stack([np.min(r.b[None, :] - pts @ r.A.T, axis=1) for r in regions], axis=1)
    clear = np.all(np.abs(slack) > 1e-8, axis=1)  # well away from every boundary
    assert clear.mean() > 0.99
    inside = slack[clear] > 0
    np.testing.assert_array_equal(inside.sum(axis=1), 1)
    owner = np.argmax(inside, axis=1)
    np.testing.assert_array_equal(res.codes[owner], codes[clear])


@pytest.mark.parametrize("domain", [Box(-2, 2), None], ids=["box", "R2"])
def test_interior_points_have_their_regions_code(net2d, domain):
    res = enumerate_regions(net2d, domain, progress=False)
    np.testing.assert_array_equal(net2d.codes(res.points), res.codes)
    # and they are interior: the Chebyshev ball of radius res.radii fits in every row
    for i in range(res.n_regions):
        r = res.region(i)
        assert np.all(r.b - r.A @ res.points[i] >= res.radii[i] * (1 - 1e-9) - 1e-12)
        assert res.radii[i] > 0


# ----------------------------------------------------------------------------- neighbours


@pytest.mark.parametrize("domain", [Box(-2, 2), None], ids=["box", "R2"])
def test_neighbor_relation_is_symmetric(net2d, domain):
    rng = np.random.default_rng(0)
    starts = rng.uniform(-1.5, 1.5, size=(4, 2))
    for x in starts:
        r = region_at(net2d, x, domain)
        nbs = neighbors(r)
        assert nbs, "a region of a net with crossing units has neighbours"
        for nb in nbs:
            back = [m.region.code for m in neighbors(nb.region)]
            assert any(np.array_equal(c, r.code) for c in back)


@pytest.mark.slow
def test_enumeration_edges_are_unique_and_degrees_match_facet_counts(net2d):
    box = Box(-2, 2)
    res = enumerate_regions(net2d, box, progress=False)
    pairs = [tuple(e) for e in res.edges.tolist()]
    assert all(a < b for a, b in pairs)
    assert len(pairs) == len(set(pairs))
    assert len(res.edge_units) == len(pairs)
    degree = np.bincount(res.edges.ravel(), minlength=res.n_regions)
    for i in range(res.n_regions):
        r = res.region(i)
        groups = irredundant_groups(r.A, r.b)  # independent facets
        domain_facets = sum(1 for g in groups if np.any(r.source[list(g)] < 0))
        assert res.n_facets[i] == len(groups)
        assert degree[i] + domain_facets == len(groups), i
    # each edge's units are exactly the units whose pieces differ between its ends
    for (a, b), units in zip(pairs, res.edge_units):
        assert tuple(np.flatnonzero(res.codes[a] != res.codes[b]).tolist()) == tuple(sorted(units))


# ----------------------------------------------------------------------------- facets


FACET_CASES = [
    pytest.param(2, [8, 8], 3, Box(-2, 2), id="2d-box"),
    pytest.param(2, [6, 6], 3, None, id="2d-R2"),
    pytest.param(3, [5, 5, 4], 2, Box(-1, 1), id="3d-box"),
    pytest.param(3, [5, 4], 1, None, id="3d-R3"),
]


@pytest.mark.slow
@pytest.mark.parametrize("d, hidden, seed, domain", FACET_CASES)
def test_facets_agree_with_lp_redundancy_oracle(d, hidden, seed, domain):
    net = PWLNet.from_torch(make_mlp(d, hidden, out=2, seed=seed))
    res = enumerate_regions(net, domain, progress=False)
    for i in range(0, res.n_regions, 3):  # every third region keeps this fast
        r = res.region(i)
        expected = irredundant_groups(r.A, r.b)
        for method in ("hull", "lp"):
            fs = facets(r, method=method)
            got = sorted(tuple(sorted(f.rows)) for f in fs)
            assert got == expected, (i, method)
            for f in fs:
                slack = r.b - r.A @ f.point
                rows = list(f.rows)
                # on its hyperplane, inside every other row, strictly inside the rows
                # that do not contain the facet (a relative-interior point)
                assert np.abs(slack[rows]).max() <= 1e-9
                assert slack.min() >= -1e-9
                others = np.setdiff1d(np.arange(len(r.b)), rows)
                assert slack[others].min() > 1e-12
                np.testing.assert_allclose(f.normal, r.A[rows[0]])
                assert f.offset == pytest.approx(r.b[rows[0]])
                assert f.normal @ f.point == pytest.approx(f.offset, abs=1e-9)
                assert f.units == tuple(int(s) for s in r.source[rows] if s >= 0)
                assert f.domain_faces == tuple(int(-s - 1) for s in r.source[rows] if s < 0)


def test_coincident_rows_oracle_groups_duplicates():
    A = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    b = np.array([1.0, 2.0, 1.0, 1.0])
    groups = [tuple(g) for g in coincident_groups(A, b)]
    assert groups == [(0, 1), (2,), (3,)]


# ----------------------------------------------------------------------------- output maps


@pytest.mark.parametrize("d, hidden, seed, leaky, box", [
    (2, [8, 8], 3, None, Box(-2, 2)),
    (2, [8, 8], 7, 0.1, Box(-2, 2)),
    (3, [6, 5], 5, None, Box(-1, 1)),
])
def test_region_output_map_reproduces_the_network(d, hidden, seed, leaky, box):
    model = make_mlp(d, hidden, out=3, seed=seed, leaky=leaky)
    net = PWLNet.from_torch(model)
    res = enumerate_regions(net, box, progress=False)
    rng = np.random.default_rng(seed)
    for i in range(0, res.n_regions, 2):
        r = res.region(i)
        verts = polytope_vertices(r.A, r.b, res.points[i])
        pts = sample_in_polytope(verts, 20, rng)
        with torch.no_grad():
            expected = model(torch.from_numpy(pts)).numpy()
        got = r.output(pts)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(expected).max()))
        np.testing.assert_array_equal(net.codes(pts), np.repeat(r.code[None], len(pts), axis=0))


@pytest.mark.parametrize("domain", [Box(-2, 2), None], ids=["box", "R2"])
def test_points_just_across_a_facet_have_the_neighbors_code(net2d, domain):
    rng = np.random.default_rng(1)
    for x in rng.uniform(-1.5, 1.5, size=(4, 2)):
        r = region_at(net2d, x, domain)
        fs = {f.rows: f for f in facets(r)}
        for nb in neighbors(r):
            f = nb.facet
            assert f.rows in fs
            step = 1e-7
            inside = f.point - step * f.normal
            across = f.point + step * f.normal
            np.testing.assert_array_equal(net2d.codes(inside[None])[0], r.code)
            np.testing.assert_array_equal(net2d.codes(across[None])[0], nb.region.code)
            assert nb.region.contains(across[None])[0]
            # the neighbour shares the facet: it has the reversed half-space as a facet
            shared = [g for g in facets(nb.region)
                      if np.allclose(g.normal, -f.normal, atol=1e-9) and g.offset == pytest.approx(-f.offset, abs=1e-9)]
            assert len(shared) == 1
            assert set(shared[0].units) == set(f.units)


# ----------------------------------------------------------------------------- centres, vertices


def chebyshev_radius(A: np.ndarray, b: np.ndarray, cap: float) -> float:
    """Largest ball in {A t <= b} (radius capped at ``cap``), by a direct linprog."""
    k = A.shape[1]
    A_lp = np.hstack([A, np.linalg.norm(A, axis=1)[:, None]])
    c = np.zeros(k + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=A_lp, b_ub=b, bounds=[(None, None)] * k + [(0.0, cap)], method="highs")
    assert res.status == 0, res.message
    return -res.fun


@pytest.mark.parametrize("d, domain", [(2, Box(-2, 2)), (3, Box(-1, 1)), (2, None), (3, None)],
                         ids=["2d-box", "3d-box", "R2", "R3"])
@pytest.mark.slow
def test_radii_are_chebyshev_radii_and_bounded_flags_match_the_cone_test(d, domain):
    from _oracles import recession_cone_nonzero

    net = PWLNet.from_torch(make_mlp(d, [6, 5], seed=3))
    res = enumerate_regions(net, domain, progress=False)
    for i in range(0, res.n_regions, 2):
        r = res.region(i)
        # over R^d the radius is capped at RADIUS_CAP times the space's length (the median
        # distance of the hyperplanes at the origin from it)
        cap = None if domain is not None else res.space.radius_cap
        assert res.radii[i] == pytest.approx(chebyshev_radius(r.A, r.b, cap), rel=1e-9, abs=1e-12)
        unbounded = domain is None and recession_cone_nonzero(r.A)
        assert r.bounded == (not unbounded) == bool(res.bounded[i])


@pytest.mark.parametrize("d, box", [(2, Box(-2, 2)), (3, Box(-1, 1))])
def test_region_vertices_match_halfspace_intersection(d, box):
    net = PWLNet.from_torch(make_mlp(d, [6, 5], seed=3))
    res = enumerate_regions(net, box, progress=False)
    for i in range(0, res.n_regions, 2):
        r = res.region(i)
        got = r.vertices()
        expected = polytope_vertices(r.A, r.b, r.point)
        assert got.shape == expected.shape
        dist = np.linalg.norm(got[:, None, :] - expected[None, :, :], axis=2)
        assert dist.min(axis=1).max() <= 1e-9
        assert dist.min(axis=0).max() <= 1e-9


def test_neighbors_in_3d_are_symmetric_and_lie_just_across_their_facets(net3d):
    for x in np.random.default_rng(2).uniform(-0.8, 0.8, size=(3, 3)):
        r = region_at(net3d, x, Box(-1, 1))
        for nb in neighbors(r):
            f = nb.facet
            across = f.point + 1e-7 * f.normal
            np.testing.assert_array_equal(net3d.codes(across[None])[0], nb.region.code)
            assert any(np.array_equal(m.region.code, r.code) for m in neighbors(nb.region))


def test_region_at_accepts_inputs_in_the_models_shape():
    model = torch.nn.Sequential(torch.nn.Flatten(), *make_mlp(4, [5, 5], seed=1))
    net = PWLNet.from_torch(model, input_shape=(2, 2))
    x = np.array([[0.3, -0.2], [0.1, 0.4]])
    r = region_at(net, x, Box(-1, 1))
    np.testing.assert_array_equal(r.code, net.codes(x[None])[0])
    assert r.contains(x.reshape(1, 4))[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(x[None])).numpy()
    np.testing.assert_allclose(r.output(x.reshape(1, 4)), expected, rtol=1e-9)
