"""Layer-by-layer plane splitting against the region-graph walk and against sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nets import linear_relu_net, make_mlp

from polylens import PWLNet, plane_partition, zoo
from polylens.geometry.mesh import PlaneMesh
from polylens.geometry.polygons import polygon_area
from polylens.geometry.splitting import split_plane
from polylens.models.carry import Carried


def _same_partition(net, units: bool = True, **kw):
    """Split and enumerate the same plane box; check they agree region by region (and,
    with ``units``, on the units crossed at every edge)."""
    split = plane_partition(net, **kw)
    walk = plane_partition(net, method="enumerate", **kw)
    key = {c.tobytes(): i for i, c in enumerate(walk.codes)}
    assert split.n_regions == walk.n_regions == len({c.tobytes() for c in split.codes})
    match = np.array([key[c.tobytes()] for c in split.codes])
    np.testing.assert_allclose(split.areas(), walk.areas()[match], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(split.out_weight, walk.out_weight[match], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(split.out_bias, walk.out_bias[match], rtol=1e-6, atol=1e-9)

    def edge_set(part):
        return {(frozenset((part.codes[a].tobytes(), part.codes[b].tobytes())), tuple(sorted(set(u))) if units else ())
                for (a, b), u in zip(part.edges.tolist(), part.edge_units)}

    assert edge_set(split) == edge_set(walk)
    lengths = [np.linalg.norm(p.decision_boundary[:, 1] - p.decision_boundary[:, 0], axis=1).sum()
               for p in (split, walk)]
    assert lengths[0] == pytest.approx(lengths[1], rel=1e-7, abs=1e-12)
    return split


def test_split_matches_the_region_walk_on_a_relu_mlp():
    part = _same_partition(PWLNet.from_torch(zoo.mlp([2, 12, 12, 3], seed=4)), domain=(-2, 2))
    assert part.method == "split"


@pytest.mark.parametrize("act", [torch.nn.LeakyReLU(0.1), torch.nn.Hardtanh(-0.5, 0.5), torch.nn.ReLU6(),
                                 torch.nn.PReLU(8, 0.3)], ids=["leaky", "hardtanh", "relu6", "prelu"])
def test_split_matches_the_region_walk_on_other_activations(act):
    torch.manual_seed(1)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 8), act, torch.nn.Linear(8, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 2))
    _same_partition(PWLNet.from_torch(seq), domain=(-3, 3))


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.inp, self.a, self.b, self.out = (torch.nn.Linear(2, 8), torch.nn.Linear(8, 8),
                                              torch.nn.Linear(8, 8), torch.nn.Linear(8, 3))

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h + self.b(torch.relu(self.a(h)))
        return self.out(torch.relu(h))


def test_split_matches_the_region_walk_on_a_residual_net():
    _same_partition(PWLNet.from_torch(_Residual(), torch.zeros(1, 2)), domain=(-2, 2))


@pytest.mark.slow
def test_split_matches_the_region_walk_on_a_maxpool_cnn():
    X, y, Xt, _ = zoo.digits_data(seed=0)
    model = zoo.digits_cnn(channels=(4, 8))
    zoo.train_classifier(model, X, y, epochs=2, seed=0)
    net = PWLNet.from_torch(model, Xt[:1])
    a, b, c = Xt[:3].reshape(3, -1).double().numpy()
    # The walk also lists a max-pool window at an edge where its tied entries keep their
    # piece; the split lists the units whose piece differs, checked here from the codes.
    part = _same_partition(net, units=False, origin=a, u=b - a, v=c - a, domain=(0.3, 0.36))
    np.testing.assert_array_equal(net.codes(a + part.centroids() @ np.stack([b - a, c - a])), part.codes)
    for (i, j), crossed in zip(part.edges.tolist(), part.edge_units):
        assert crossed == tuple(np.flatnonzero(part.codes[i] != part.codes[j]).tolist())


# ----------------------------------------------------------------------------- carried values
class _ResBlockNet(torch.nn.Module):
    """A ResNet-style net on 1x6x6: padded conv + BatchNorm (eval) + in-place ReLU, a
    residual add, a max pool, a tuple-valued node (``chunk``) and a batch-size query made
    before the first nonlinearity and read after the last."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.stem = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(2)
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(2)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(9, 3)
        with torch.no_grad():
            for bn in (self.bn, self.bn2):
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)
        self.eval()

    def forward(self, x):
        n = x.size(0)
        h = torch.relu_(self.bn(self.stem(torch.nn.functional.pad(x, (1, 1, 1, 1), value=0.1))[..., 1:-1, 1:-1]))
        h = torch.relu(h + self.bn2(self.conv(h)))
        a, b = torch.chunk(self.pool(h), 2, dim=1)
        return self.head((a - b).view(n, -1))


def _resnet_net():
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    return PWLNet.from_torch(_ResBlockNet(), x), x.reshape(3, -1).double().numpy()


def test_advance_from_carried_values_matches_a_run_from_the_input():
    net, x = _resnet_net()
    points = x[:1] + np.random.default_rng(0).normal(0, 0.3, (7, x.shape[1]))
    pre, out = net.program.run(points)
    state = net.program.advance(points, 0)
    for layer in range(len(net.activations)):
        if layer:
            halves = [net.program.advance(Carried(state.layer, rows, state.layout), layer)
                      for rows in (state.values[:3], state.values[3:])]  # in blocks, as the splitter runs it
            state = Carried(layer, np.concatenate([h.values for h in halves]), halves[0].layout)
        np.testing.assert_allclose(state.values[:, :net.activations[layer].n_in], pre[layer], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net.program.advance(state, None).values, out, rtol=1e-12, atol=1e-12)


def test_split_matches_the_region_walk_on_a_resnet_style_block():
    net, x = _resnet_net()
    a, b, c = x
    part = _same_partition(net, units=False, origin=a, u=b - a, v=c - a, domain=(0.3, 0.5))
    assert part.n_regions > 10
    np.testing.assert_array_equal(net.codes(a + part.centroids() @ np.stack([b - a, c - a])), part.codes)


@pytest.mark.parametrize("domain", [(0.1, 0.5), (0.25, 0.4)])
def test_an_edge_where_a_pool_window_turns_with_a_relu_names_both_units_on_both_routes(domain):
    """On these boxes a ReLU unit's boundary is also a max-pool window's (its entries
    all sit at zero on one side); the region walk used to name only the ReLU unit."""
    net, x = _resnet_net()
    a, b, c = x
    part = _same_partition(net, origin=a, u=b - a, v=c - a, domain=domain)
    part.check()
    plane_partition(net, a, b, c, domain=domain, method="enumerate", progress=False).check()
    assert any(len(units) > 1 for units in part.edge_units)


def test_carried_outputs_at_the_vertices_match_a_forward_pass():
    net, x = _resnet_net()
    a, b, c = x
    basis = np.stack([b - a, c - a], axis=1)
    result = split_plane(net, a, basis, np.array([0.2, 0.2]), np.array([0.5, 0.5]), progress=False)
    assert result.mesh.n_faces > 10
    fresh = net.forward(a + result.mesh.xy @ basis.T)
    np.testing.assert_allclose(result.outputs, fresh, rtol=1e-9, atol=1e-9 * np.abs(fresh).max())


def test_split_matches_the_region_walk_on_the_digits_resnet():
    X, _, Xt, _ = zoo.digits_data(seed=0)
    net = PWLNet.from_torch(zoo.digits_resnet(channels=4).eval(), Xt[:1])
    a, b, c = Xt[:3].reshape(3, -1).double().numpy()
    _same_partition(net, units=False, origin=a, u=b - a, v=c - a, domain=(0.3, 0.34))


def test_tied_units_cut_once_and_cross_together():
    W = np.array([[1.0, 0.5], [1.0, 0.5], [2.0, 1.0], [-0.3, 1.0]])  # units 0-2: one line
    b = np.array([0.1, 0.1, 0.2, -0.2])
    net = PWLNet.from_torch(linear_relu_net(W, b))
    part = _same_partition(net, domain=(-1, 1))
    assert part.n_regions == 4
    assert (0, 1, 2) in part.edge_units


def test_lines_through_existing_vertices_split_along_diagonals():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [1.0, 1.0]])  # four lines through the origin
    net = PWLNet.from_torch(linear_relu_net(W, np.zeros(4)))
    part = _same_partition(net, domain=(-1, 1))
    assert part.n_regions == 8
    np.testing.assert_allclose(part.areas(), 0.5)


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Hardtanh], ids=["relu", "hardtanh"])
def test_a_unit_on_its_break_over_part_of_the_box_takes_the_lower_piece_there(activation):
    """The second unit is act(act(x)): above its break on one side of the first unit's
    line and exactly on it on the other, without crossing; it used to get one piece for
    the whole box."""
    lin1, lin2 = torch.nn.Linear(2, 1), torch.nn.Linear(1, 1)
    with torch.no_grad():
        lin1.weight[:] = torch.tensor([[1.5, 0.3]])
        lin1.bias[:] = 0.1
        lin2.weight[:] = 1.0
        lin2.bias[:] = 0.0
    model = torch.nn.Sequential(lin1, activation(), lin2, activation(), torch.nn.Linear(1, 1)).double()
    net = PWLNet.from_torch(model)
    part = _same_partition(net, domain=(-2, 2))
    part.check()
    np.testing.assert_array_equal(net.codes(part.centroids()), part.codes)


def test_a_unit_identically_at_its_break_is_in_the_lower_piece():
    W = np.array([[1.0, 0.3], [0.0, 0.0], [-0.4, 1.0]])
    net = PWLNet.from_torch(linear_relu_net(W, np.array([0.1, 0.0, 0.2])))
    part = plane_partition(net, domain=(-1, 1))
    assert part.n_regions == 4
    assert not np.any(part.codes[:, 1])
    np.testing.assert_array_equal(net.codes(part.centroids()), part.codes)


def test_split_of_a_wide_mlp_finds_every_sampled_code():
    net = PWLNet.from_torch(make_mlp(2, [32, 32, 32], seed=3))
    part = plane_partition(net, domain=(-1, 1))
    assert part.areas().sum() == pytest.approx(4.0, rel=1e-9)
    samples = np.random.default_rng(0).uniform(-1, 1, (100_000, 2))
    assert {c.tobytes() for c in net.codes(samples)} <= {c.tobytes() for c in part.codes}
    np.testing.assert_array_equal(net.codes(part.centroids()), part.codes)


def test_split_refuses_a_box_whose_carried_values_would_not_fit_in_memory(monkeypatch):
    import polylens.geometry.splitting as splitting
    from polylens.errors import PolylensError

    net = PWLNet.from_torch(make_mlp(2, [16, 16], seed=2))
    monkeypatch.setattr(splitting, "_available_memory", lambda: 1000)
    with pytest.raises(PolylensError, match=r"layer '1' needs [\d.]+ MiB .* split a smaller box"):
        split_plane(net, np.zeros(2), np.eye(2), -np.ones(2), np.ones(2), progress=False)


def test_unknown_method_is_refused():
    net = PWLNet.from_torch(zoo.mlp([2, 3, 1], seed=0))
    with pytest.raises(ValueError, match="`method`"):
        plane_partition(net, domain=(-1, 1), method="lp")


# ----------------------------------------------------------------------------- the mesh


def _areas(mesh):
    polygons, _ = mesh.polygons()
    return np.array([polygon_area(p) for p in polygons])


def test_mesh_cut_splits_only_faces_the_line_crosses():
    mesh = PlaneMesh([0, 0], [2, 1])
    first = mesh.cut(mesh.xy[:, 0] - 1.0, label=0, eps=1e-12)  # x = 1
    second = mesh.cut(mesh.xy[:, 0] - 1.5, label=1, eps=1e-12)  # x = 1.5: right half only
    assert first.tolist() == [0] and len(second) == 1
    assert mesh.n_faces == 3
    np.testing.assert_allclose(sorted(_areas(mesh)), [0.5, 0.5, 1.0])
    assert sorted(mesh.edge_labels.tolist()) == [-1] * 8 + [0, 1]


def test_mesh_cut_through_a_vertex_connects_the_vertices_on_the_line():
    mesh = PlaneMesh([-1, -1], [1, 1])
    mesh.cut(mesh.xy[:, 0], 0, 1e-12)
    mesh.cut(mesh.xy[:, 1], 1, 1e-12)
    split = mesh.cut(mesh.xy[:, 0] - mesh.xy[:, 1], 2, 1e-12)  # through (-1,-1), (0,0), (1,1)
    assert len(split) == 2 and mesh.n_faces == 6
    np.testing.assert_allclose(_areas(mesh).sum(), 4.0)


def test_mesh_cut_interpolates_tracked_values():
    mesh = PlaneMesh([0, 0], [1, 1])
    mesh.set_values(np.stack([3 * mesh.xy[:, 0] + 2 * mesh.xy[:, 1] + 1], axis=1))
    mesh.cut(mesh.xy[:, 0] - 0.25, 0, 1e-12)
    np.testing.assert_allclose(mesh.values[0], 3 * mesh.xy[:, 0] + 2 * mesh.xy[:, 1] + 1)


def test_mesh_merge_removes_the_shared_edge_and_its_straight_vertices():
    mesh = PlaneMesh([0, 0], [1, 1])
    mesh.cut(mesh.xy[:, 0] - 0.5, 0, 1e-12)
    labels = mesh.merge(np.flatnonzero(mesh.edge_labels == 0))
    assert mesh.n_faces == 1 and labels.tolist() == [0, 0]
    polygons, _ = mesh.polygons()
    assert len(polygons[0]) == 4  # the cut's ends on the box were joined away
    assert polygon_area(polygons[0]) == pytest.approx(1.0)
