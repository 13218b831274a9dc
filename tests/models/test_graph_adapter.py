"""Conformance suite of the traced-graph adapter: every supported layer and architecture.

Each architecture runs the same checks: outputs and codes agree with the torch model's own
forward pass, affine maps agree with ``torch.func.jacrev``, facet crossings land in the
neighbour, and enumeration in a 2-D slice through three inputs finds every code that
dense sampling of the slice finds.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens import Box, PWLNet, UnsupportedLayerError, enumerate_regions, facets, region_at
from polylens import zoo


class FunctionalNet(nn.Module):
    """Functional nonlinearities, concatenation, subtraction and scalar multiplication."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.prelu = nn.PReLU(3)
        self.fc = nn.Linear(3 * 4 * 4 * 2, 4)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = F.max_pool2d(h, 2)
        a = self.prelu(h).clamp(min=0.0)
        b = F.relu6(h * 3.0) - 0.5 * h.abs()
        h = torch.cat([a, -b], dim=1)
        return self.fc(h.reshape(h.shape[0], -1).relu())


class PoolingNet(nn.Module):
    """Stride, dilation, groups, AvgPool, AdaptiveAvgPool, permute, Dropout, Identity."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, stride=1, padding=2, dilation=2)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False)
        self.drop = nn.Dropout(0.3)
        self.pool = nn.AvgPool2d(2)
        self.adapt = nn.AdaptiveAvgPool2d(2)
        self.id = nn.Identity()
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        h = F.leaky_relu(self.c1(x), 0.05)
        h = self.pool(F.hardtanh(self.c2(self.drop(h)), -0.5, 0.5))
        h = self.id(self.adapt(h)).permute(0, 2, 3, 1)
        return self.fc(torch.flatten(h, 1))


def _trained(model, X, y, epochs=3):
    zoo.train_classifier(model, X, y, epochs=epochs, seed=0)
    return model.eval()


@pytest.fixture(scope="module")
def digits():
    return zoo.digits_data(seed=0)


@pytest.fixture(scope="module")
def architectures(digits):
    """(name, model, inputs of the model's shape): trained on digits or random weights."""
    X, y, Xt, _ = digits
    flat = X.reshape(len(X), -1)
    with torch.no_grad():
        cnn_random = zoo.digits_cnn(seed=1).eval()
        for m in cnn_random.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return [
        ("mlp", _trained(zoo.mlp([64, 24, 16, 10]), flat, y), Xt[:3].reshape(3, -1)),
        ("cnn", _trained(zoo.digits_cnn(), X, y), Xt[:3]),
        ("cnn_random_bn", cnn_random, Xt[:3]),
        ("resnet", _trained(zoo.digits_resnet(), X, y), Xt[:3]),
        ("leaky_mlp", _trained(zoo.mlp([64, 16, 16, 10], activation=lambda: nn.LeakyReLU(0.1)), flat, y),
         Xt[:3].reshape(3, -1)),
        ("hardtanh_mlp", _trained(zoo.mlp([64, 16, 16, 10], activation=nn.Hardtanh), flat, y), Xt[:3].reshape(3, -1)),
        ("conv1d", _trained(zoo.digits_conv1d(), X.reshape(len(X), 1, 64), y), Xt[:3].reshape(3, 1, 64)),
        ("functional", _seeded(FunctionalNet, 2), Xt[:3]),
        ("pooling", _seeded(PoolingNet, 3), Xt[:3]),
    ]


def _seeded(cls, seed):
    torch.manual_seed(seed)
    return cls().eval()


def _conv_net(name, architectures):
    model, inputs = next((m, x) for n, m, x in architectures if n == name)
    return model, inputs, PWLNet.from_torch(model, inputs)


NAMES = ["mlp", "cnn", "cnn_random_bn", "resnet", "leaky_mlp", "hardtanh_mlp", "conv1d", "functional", "pooling"]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_the_float64_model(name, architectures):
    model, inputs, net = _conv_net(name, architectures)
    batch = torch.cat([inputs, inputs * 0.5 + 0.1])
    expected = copy.deepcopy(model).double()(batch.double()).detach().numpy()
    np.testing.assert_allclose(net.forward(batch), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_codes_agree_with_the_models_own_activations(name, architectures):
    """Pieces of every nonlinearity module equal those read off its input in torch."""
    model, inputs, net = _conv_net(name, architectures)
    model64 = copy.deepcopy(model).double()
    captured = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, key=key: captured.__setitem__(key, inp[0].detach()))
             for key, m in model64.named_modules() if key in net.layer_names]
    try:
        model64(inputs.double())
    finally:
        for h in hooks:
            h.remove()
    codes = net.codes(inputs)
    for layer, key in enumerate(net.layer_names):
        if key in captured:
            z = captured[key].reshape(len(inputs), -1).numpy()
            lo, hi = net.layer_offsets[layer], net.layer_offsets[layer + 1]
            np.testing.assert_array_equal(codes[:, lo:hi], net.activations[layer].pieces(z))
    assert codes.shape == (len(inputs), net.n_units)


@pytest.mark.parametrize("name", NAMES)
def test_affine_map_equals_jacrev_at_the_point(name, architectures):
    model, inputs, net = _conv_net(name, architectures)
    model64 = copy.deepcopy(model).double()
    x = inputs[1].reshape(-1).double()
    forms = net.affine_forms(net.codes(inputs[1:2])[0])
    jac = torch.func.jacrev(lambda v: model64(v.reshape(1, *inputs.shape[1:])).reshape(-1))(x).detach().numpy()
    np.testing.assert_allclose(forms.out_weight, jac, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(forms.out_weight @ x.numpy() + forms.out_bias, net.forward(inputs[1:2])[0],
                               rtol=1e-9, atol=1e-12)


def _plane(inputs):
    a, b, c = (v.reshape(-1).double().numpy() for v in inputs[:3])
    return a, np.stack([b - a, c - a], axis=1)


@pytest.mark.parametrize("name", NAMES)
def test_facet_crossings_land_in_the_neighbour(name, architectures):
    _, inputs, net = _conv_net(name, architectures)
    origin, basis = _plane(inputs)
    region = region_at(net, [0.3, 0.3], Box(0, 1), origin=origin, basis=basis)
    from polylens import neighbors

    by_rows = {f.rows: nb.region for f, nb in ((nb.facet, nb) for nb in neighbors(region))}
    assert by_rows, "an interior region of the slice has inner facets"
    for facet in facets(region):
        if facet.rows not in by_rows:
            continue
        step = 1e-7 * facet.normal
        across = net.codes(origin + (facet.point + step) @ basis.T)[0]
        inside = net.codes(origin + (facet.point - step) @ basis.T)[0]
        np.testing.assert_array_equal(across, by_rows[facet.rows].code)
        np.testing.assert_array_equal(inside, region.code)
    t = region.point + 0.5 * region.radius * np.array([0.6, -0.8])
    out = region.output(t)[0]
    np.testing.assert_allclose(out, net.forward(origin + t @ basis.T)[0], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_slice_enumeration_finds_every_sampled_code(name, architectures):
    _, inputs, net = _conv_net(name, architectures)
    origin, basis = _plane(inputs)
    lo, hi = np.array([0.3, 0.3]), np.array([0.38, 0.38])
    res = enumerate_regions(net, Box(lo, hi), origin=origin, basis=basis, progress=False)
    assert res.complete and not res.degenerate
    # A jittered grid: exact grid points such as (b + c) / 2 can sit exactly on a
    # boundary (a max-pool tie between equal pixels), where the code has no interior.
    cells = np.stack(np.meshgrid(np.arange(120), np.arange(120)), -1).reshape(-1, 2)
    t = lo + (hi - lo) * (cells + np.random.default_rng(0).uniform(0.01, 0.99, cells.shape)) / 120
    sampled = {c.tobytes() for c in net.codes(origin + t @ basis.T)}
    found = {c.tobytes() for c in res.codes}
    assert sampled <= found
    np.testing.assert_array_equal(net.codes(origin + res.points @ basis.T), res.codes)


def test_split_gives_the_activation_space_subnetwork(architectures):
    model, inputs, net = _conv_net("cnn", architectures)
    tail = net.split(at=net.layer_names[1])
    captured = {}
    model64 = copy.deepcopy(model).double()
    hook = model64.get_submodule(net.layer_names[1]).register_forward_hook(
        lambda m, i, o: captured.__setitem__("a", o.detach()))
    try:
        out = model64(inputs.double()).detach().numpy()
    finally:
        hook.remove()
    np.testing.assert_allclose(tail.forward(captured["a"]), out, rtol=1e-9, atol=1e-12)
    assert tail.n_units == net.n_units - sum(net.layer_sizes[:2])


def test_split_across_a_skip_connection_is_refused(architectures):
    _, _, net = _conv_net("resnet", architectures)
    with pytest.raises(ValueError, match="skip connection"):
        net.split(at=net.layer_names[1])


def test_split_with_unknown_name_lists_the_names(architectures):
    _, _, net = _conv_net("cnn", architectures)
    with pytest.raises(ValueError, match="one of the layer names"):
        net.split(at="nope")


def test_exported_cnn_matches_the_module(architectures):
    model, inputs, net = _conv_net("functional", architectures)
    program = torch.export.export(model, (inputs[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    exported = PWLNet.from_torch(program)
    np.testing.assert_allclose(exported.forward(inputs), net.forward(inputs), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(exported.codes(inputs), net.codes(inputs))


def test_export_with_a_fixed_batch_size_is_refused_with_advice(architectures):
    model, inputs, _ = _conv_net("functional", architectures)
    with pytest.raises(UnsupportedLayerError, match="dynamic_shapes"):
        PWLNet.from_torch(torch.export.export(model, (inputs[:1],)))


def test_conversion_leaves_the_model_untouched(architectures):
    model, inputs, _ = _conv_net("cnn", architectures)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    PWLNet.from_torch(model, inputs)
    after = model.state_dict()
    assert all(after[k].dtype == before[k].dtype and torch.equal(after[k], before[k]) for k in before)
    assert not model.training


class _Wrap(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), inner)

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("layer, label", [
    (nn.GELU(), "GELU"), (nn.SiLU(), "SiLU"), (nn.Softmax(dim=1), "Softmax"), (nn.LayerNorm(4), "LayerNorm"),
    (nn.Tanh(), "Tanh"), (nn.Sigmoid(), "Sigmoid"),
])
def test_non_piecewise_linear_modules_name_the_module(layer, label):
    with pytest.raises(UnsupportedLayerError, match=rf"'body\.1' \({label}\).*sampling"):
        PWLNet.from_torch(_Wrap(layer), torch.zeros(1, 4))


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0].flatten(1)


def test_attention_is_unsupported():
    with pytest.raises(UnsupportedLayerError, match="attn"):
        PWLNet.from_torch(_Attention(), torch.zeros(1, 3, 4))


class _Gated(nn.Module):
    def forward(self, x):
        return F.gelu(x) * torch.sigmoid(x)


def test_functional_nonlinearity_names_the_node():
    with pytest.raises(UnsupportedLayerError, match="gelu"):
        PWLNet.from_torch(_Gated(), torch.zeros(1, 4))


class _Product(nn.Module):
    def forward(self, x):
        return x * x


def test_product_of_two_input_dependent_tensors_is_refused():
    with pytest.raises(UnsupportedLayerError, match="input-dependent"):
        PWLNet.from_torch(_Product(), torch.zeros(1, 4))


def test_batchnorm_in_train_mode_is_refused():
    model = zoo.digits_cnn().train()
    with pytest.raises(UnsupportedLayerError, match=r"'1' \(BatchNorm2d\) is in train mode"):
        PWLNet.from_torch(model, torch.zeros(1, 1, 8, 8))


def test_traced_model_without_example_input_asks_for_one():
    with pytest.raises(ValueError, match="example_input"):
        PWLNet.from_torch(zoo.digits_cnn().eval())
