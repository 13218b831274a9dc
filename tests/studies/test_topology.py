"""Decision topology against nets of known shape, the plane mesh, and GF(2) ranks."""

from __future__ import annotations

import _shapes as S
import numpy as np
import pytest
import torch

from polylens import Box, PWLNet, enumerate_regions, plane_partition
from polylens.errors import InvalidParameterError
from polylens.studies.complex import cell_complex, class_net
from polylens.studies.persistence import sublevel_persistence
from polylens.studies.topology import betti_numbers, closure, decision_topology


def _net(module) -> PWLNet:
    return PWLNet.from_torch(module)


@pytest.mark.parametrize("name, domain, class1, class0, boundary", [
    ("disc", (-2, 2), [1, 0, 0], [1, 1, 0], [1, 1]),
    ("disc", None, [1, 0, 0], [1, 1, 0], [1, 1]),
    ("annulus", (-2.5, 2.5), [1, 1, 0], [2, 1, 0], [2, 2]),
    ("two_discs", (-3.5, 3.5), [2, 0, 0], [1, 2, 0], [2, 2]),
])
def test_known_shapes_2d(name, domain, class1, class0, boundary):
    topo = decision_topology(_net(getattr(S, name)()), domain)
    assert topo.class_betti[1] == class1
    assert topo.class_betti[0] == class0
    assert topo.decision_boundary_betti == boundary
    assert topo.class_components == {0: class0[0], 1: class1[0]}
    topo.check()  # the GF(2) reduction agrees; Euler characteristics match face counts


def test_solid_torus_3d():
    topo = decision_topology(_net(S.solid_torus()), (-2, 2))
    assert topo.class_betti[1] == [1, 1, 0, 0]  # a solid torus
    assert topo.class_betti[0] == [1, 1, 1, 0]  # the box with a toroidal cavity
    assert topo.decision_boundary_betti == [1, 2, 1]  # the torus surface
    topo.check()


def test_regions_touching_at_a_vertex_are_reported():
    topo = decision_topology(_net(S.touching_squares()), (-2.5, 2.5))
    assert topo.class_components[1] == 2  # two open squares
    assert topo.class_betti[1] == [1, 0, 0]  # their closures meet at the origin
    assert topo.decision_boundary_betti == [1, 2]
    assert any("touch" in note for note in topo.degenerate)


def _mesh_betti(part, classes):
    """Oracle from the plane mesh alone: vertices merged by coordinates, polygon sides as
    edges, b0 by union-find over shared vertices, b1 = b0 - (V - E + F)."""
    key = {}
    polys = []
    for poly in part.polygons:
        polys.append([key.setdefault(tuple(np.round(p, 9)), len(key)) for p in poly])
    edge_faces: dict = {}
    for f, ids in enumerate(polys):
        for a, b in zip(ids, ids[1:] + ids[:1]):
            edge_faces.setdefault((min(a, b), max(a, b)), []).append(f)

    def betti(faces: set, edges: set) -> list:
        verts = {v for e in edges for v in e} | {v for f in faces for v in polys[f]}
        parent = {v: v for v in verts}

        def find(v):
            while parent[v] != v:
                parent[v] = parent[parent[v]]
                v = parent[v]
            return v

        for a, b in edges:
            parent[find(a)] = find(b)
        b0 = len({find(v) for v in verts})
        return [b0, b0 - (len(verts) - len(edges) + len(faces))]

    out = {}
    for c in (0, 1):
        faces = {f for f in range(len(polys)) if classes[f] == c}
        edges = {e for e, fs in edge_faces.items() if any(f in faces for f in fs)}
        out[c] = betti(faces, edges)
    boundary = {e for e, fs in edge_faces.items() if len(fs) == 2 and classes[fs[0]] != classes[fs[1]]}
    out["boundary"] = betti(set(), boundary)
    return out


@pytest.mark.parametrize("seed", [0, 3])
def test_enumeration_complex_agrees_with_plane_mesh(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10), torch.nn.ReLU(),
                                torch.nn.Linear(10, 1)).double()
    net = _net(model)
    topo = decision_topology(net, (-2, 2))
    part = plane_partition(class_net(net), domain=(-2, 2))
    oracle = _mesh_betti(part, part.predicted_class())
    assert part.n_regions == topo.n_regions
    for c in (0, 1):
        assert topo.class_betti[c][:2] == oracle[c]
    assert topo.decision_boundary_betti == oracle["boundary"]


def test_arrangement_complex_counts_and_euler():
    # n lines in general position in R^2: C(n, 2) vertices, n^2 edges... in a box holding
    # every vertex, the interior vertices are the C(n, 2) crossings.
    n = 6
    net = _net(S.arrangement(n, 2, seed=1))
    res = enumerate_regions(net, None, progress=False)
    from polylens.studies.topology import truncate

    cc = cell_complex(truncate(res))
    inside = ~np.any(cc.signs[:, -cc.n_domain_labels:] == 0, axis=1)
    assert int(inside.sum()) == n * (n - 1) // 2
    assert cc.counts[2] == 1 + n + n * (n - 1) // 2
    assert cc.euler_characteristic == 1  # a box
    cc.check()
    full = [np.ones(c, bool) for c in cc.counts]
    assert betti_numbers(cc, full) == betti_numbers(cc, full, method="reduction") == [1, 0, 0]


@pytest.mark.parametrize("d", [2, 3])
def test_truncation_from_batched_rows_equals_truncation_from_each_hrep(d, monkeypatch):
    import polylens.geometry.waves as waves
    from polylens.studies.topology import truncate

    torch.manual_seed(d)
    model = torch.nn.Sequential(torch.nn.Linear(d, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
                                torch.nn.Linear(5, 1)).double()
    res = enumerate_regions(class_net(_net(model)), None, progress=False)
    batched = truncate(res)
    monkeypatch.setattr(waves, "rows_apply", lambda net: False)
    alone = truncate(res)
    assert (~res.bounded).sum() > 5
    for a, b in zip(batched.vertices, alone.vertices, strict=True):
        assert np.array_equal(a, b)


def test_a_vertex_on_a_neighbours_boundary_that_it_does_not_list_is_an_error():
    from types import SimpleNamespace

    from polylens.errors import ComplexError
    from polylens.studies.complex import _check_t_junctions

    net = _net(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()))
    codes = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0]], np.int8)
    result = SimpleNamespace(n_regions=3, edges=np.array([[0, 1], [1, 2]]), codes=codes, net=net)
    # sign of every vertex on each unit's breakpoint (0: on it) and on the domain face
    signs = np.array([[-1, -1, -1, 1], [0, -1, -1, 1], [1, 0, -1, 1], [1, 1, -1, 1], [0, 0, -1, 1]], np.int8)
    listed = [np.array([0, 1]), np.array([1, 2, 3]), np.array([2, 3])]
    _check_t_junctions(result, listed, signs)  # each unlisted vertex is off its neighbour
    listed[0] = np.array([0, 1, 4])  # vertex 4 fits region 1 (on units 0 and 1), which does not list it
    with pytest.raises(ComplexError, match="vertex 4 lies on the boundary of region 1"):
        _check_t_junctions(result, listed, signs)


def test_arrangement_3d_euler_and_betti():
    net = _net(S.arrangement(5, 3, seed=2))
    res = enumerate_regions(net, Box(-3, 3), progress=False)
    cc = cell_complex(res)
    cc.check()
    assert cc.euler_characteristic == 1
    cls = res.predicted_class()
    for c in (0, 1):
        masks = closure(cc, 3, cls == c)
        b = betti_numbers(cc, masks)
        assert b == betti_numbers(cc, masks, method="reduction")
        assert sum((-1) ** k * v for k, v in enumerate(b)) == sum((-1) ** k * int(m.sum()) for k, m in enumerate(masks))


def test_persistence_of_a_ring():
    # f = |r - 1| - 0.5: the minimum is the whole ring r = 1 (f = -0.5), so a circle is
    # born at -0.5 and filled when the centre (f = 0.5) enters.
    pers = sublevel_persistence(_net(S.ring_function()), (-2.5, 2.5))
    dg = pers.diagram
    h1 = dg[dg[:, 0] == 1]
    assert h1.shape[0] == 1 and np.allclose(h1[0, 1:], [-0.5, 0.5])
    assert pers.betti_at(0.0) == [1, 1, 0]
    assert pers.betti_at(0.6) == [1, 0, 0]
    assert pers.betti_at(-0.6) == [0, 0, 0]
    pers.check()  # Morse relation: sum of (-1)^index = chi of the box


def test_persistence_of_a_cone_has_one_minimum():
    pers = sublevel_persistence(_net(S.disc()), (-2, 2))  # f = 1 - r: a maximum at the origin
    inner = ~pers.on_boundary
    assert pers.critical_index[inner].tolist() == [2]
    assert np.allclose(pers.critical_points[inner], 0.0)
    pers.check()


def test_bad_arguments_are_named():
    net = _net(S.arrangement(3, 4))
    with pytest.raises(InvalidParameterError, match="decision_topology: `net`"):
        decision_topology(net, (-1, 1))
    with pytest.raises(InvalidParameterError, match="`method`"):
        decision_topology(_net(S.disc()), (-2, 2), method="magic")
    with pytest.raises(InvalidParameterError, match="`domain`"):
        decision_topology(_net(S.disc()), "box")
