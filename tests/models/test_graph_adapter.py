"""The traced-graph adapter: splitting, export programs, and the errors for what it refuses.

The per-architecture checks (outputs, codes, affine maps, facets) are the conformance
suite in ``test_conformance.py``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens import PWLNet, UnsupportedLayerError, zoo
from polylens.errors import ConversionError, InvalidParameterError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _conformance as conf  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models():
    """name -> (model, inputs of the model's shape)."""
    X, y, Xt, _ = zoo.digits_data(seed=0)
    cnn = zoo.digits_cnn()
    zoo.train_classifier(cnn, X, y, epochs=2, seed=0)
    torch.manual_seed(2)
    return {"cnn": (cnn.eval(), Xt[:3]), "resnet": (zoo.digits_resnet().eval(), Xt[:3]),
            "functional": (conf.FunctionalNet().eval(), Xt[:3])}


def _conv_net(name, models):
    model, inputs = models[name]
    return model, inputs, PWLNet.from_torch(model, inputs)


def test_split_gives_the_activation_space_subnetwork(models):
    model, inputs, net = _conv_net("cnn", models)
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


def test_split_across_a_skip_connection_is_refused(models):
    _, _, net = _conv_net("resnet", models)
    with pytest.raises(ValueError, match="skip connection"):
        net.split(at=net.layer_names[1])


def test_split_with_unknown_name_lists_the_names(models):
    _, _, net = _conv_net("cnn", models)
    with pytest.raises(ValueError, match="one of the layer names"):
        net.split(at="nope")


def test_exported_cnn_matches_the_module(models):
    model, inputs, net = _conv_net("functional", models)
    program = torch.export.export(model, (inputs[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    exported = PWLNet.from_torch(program)
    np.testing.assert_allclose(exported.forward(inputs), net.forward(inputs), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(exported.codes(inputs), net.codes(inputs))


def test_export_with_a_fixed_batch_size_is_refused_with_advice(models):
    model, inputs, _ = _conv_net("functional", models)
    with pytest.raises(UnsupportedLayerError, match="dynamic_shapes"):
        PWLNet.from_torch(torch.export.export(model, (inputs[:1],)))


def test_conversion_leaves_the_model_untouched(models):
    model, inputs, _ = _conv_net("cnn", models)
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


# ----------------------------------------------------------------------------- what adapters refuse (trust issue)


class _Padded(nn.Module):
    """Constant padding with a non-zero value in front of a convolution."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 6 * 6, 2)

    def forward(self, x):
        return self.fc(F.relu(self.c(F.pad(x, (1, 1, 1, 1), value=0.7))).flatten(1))


def test_constant_padding_with_a_non_zero_value_is_exact():
    torch.manual_seed(0)
    model = _Padded().eval()
    x = torch.rand(1, 1, 6, 6)
    net = PWLNet.from_torch(model, x)
    forms = net.affine_forms(net.codes(x)[0])
    model64 = copy.deepcopy(model).double()
    conv = lambda v: model64.c(F.pad(v.reshape(1, 1, 6, 6), (1, 1, 1, 1), value=0.7)).reshape(-1)  # noqa: E731
    flat = x.double().reshape(-1)
    np.testing.assert_allclose(forms.weight, torch.func.jacrev(conv)(flat).detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(forms.weight @ flat.numpy() + forms.bias, conv(flat).detach().numpy(),
                               rtol=1e-9, atol=1e-12)


class _ShiftedLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x) + 0.2


def test_linear_subclass_with_its_own_forward_is_traced_through():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), _ShiftedLinear(4, 1)).double()
    x = torch.randn(20, 2, dtype=torch.float64)
    net = PWLNet.from_torch(model)
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(x), model(x).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["forward", "pre"])
@pytest.mark.parametrize("example", [None, torch.zeros(1, 2)])
def test_module_with_forward_hooks_is_refused(kind, example):
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    if kind == "forward":
        handle = model[2].register_forward_hook(lambda m, i, o: o + 0.2)
    else:
        handle = model[2].register_forward_pre_hook(lambda m, i: (i[0] * 2,))
    try:
        with pytest.raises(UnsupportedLayerError, match=r"module '2' \(Linear\) has forward hooks"):
            PWLNet.from_torch(model, example)
    finally:
        handle.remove()
    PWLNet.from_torch(model, example)  # without the hook it converts


def test_batchnorm_without_running_statistics_says_why():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU()).eval()
    with pytest.raises(UnsupportedLayerError, match=r"'1' \(BatchNorm2d\) has track_running_stats=False"):
        PWLNet.from_torch(model, torch.zeros(1, 1, 5, 5))


class _Options(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.layer = layer

    def forward(self, x):
        return self.layer(self.conv(x)).flatten(1)


class _ActiveDropout(nn.Module):
    def forward(self, x):
        return F.dropout(x.flatten(1), 0.5, True)


@pytest.mark.parametrize("model, match", [
    (_Options(nn.MaxPool2d(3, ceil_mode=True)), r"'layer' \(MaxPool2d\): max pooling with ceil_mode=True"),
    (_Options(nn.MaxPool2d(2, return_indices=True)), r"'layer' \(MaxPool2d\): return_indices=True"),
    (_ActiveDropout(), r"'dropout'.*active \(random\) dropout"),
])
def test_unsupported_layer_options_raise_unsupported_layer_error(model, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        PWLNet.from_torch(model, torch.zeros(1, 1, 8, 8))


def test_example_input_of_the_wrong_size_names_the_shape_and_the_node():
    with pytest.raises(InvalidParameterError, match=r"input of shape \(1, 5, 5\).*module 'fc' \(Linear\)"):
        PWLNet.from_torch(_Padded().eval(), torch.zeros(1, 1, 5, 5))


def test_model_on_the_meta_device_is_refused():
    with pytest.raises(InvalidParameterError, match="meta device"):
        PWLNet.from_torch(_Padded().to("meta"), torch.zeros(1, 1, 6, 6))
    with pytest.raises(InvalidParameterError, match="`example_input` is on the meta device"):
        PWLNet.from_torch(_Padded(), torch.zeros(1, 1, 6, 6, device="meta"))


def test_a_wrong_constant_part_is_caught_and_named(monkeypatch):
    """The conversion check catches a broken adapter: without the constant parts
    removed from the linear rows, the first affine node with a constant (the padding
    with 0.7) is named."""
    import polylens.models.graph as graph

    monkeypatch.setattr(graph, "_subtract", lambda out, constant, first_only, block: out)
    with pytest.raises(ConversionError, match=r"linear part\) first differs at node 'pad' \(call_function pad\)"):
        PWLNet.from_torch(_Padded().eval(), torch.rand(1, 1, 6, 6))


def test_a_forward_that_differs_from_its_trace_is_caught_and_named(monkeypatch):
    import polylens.models.graph as graph

    original = graph.GraphProgram._call

    def wrong(self, node, args, kwargs):
        out = original(self, node, args, kwargs)
        return out + 1.0 if node.name == "c" else out

    monkeypatch.setattr(graph.GraphProgram, "_call", wrong)
    with pytest.raises(ConversionError, match=r"forward pass.*first differs at module 'c' \(Conv2d\)"):
        PWLNet.from_torch(_Padded().eval(), torch.rand(1, 1, 6, 6))


def test_a_forward_replaced_on_the_instance_is_refused():
    model = _Padded().eval()
    model.c.forward = lambda x: torch.relu(F.conv2d(x, model.c.weight, model.c.bias))
    with pytest.raises(UnsupportedLayerError, match=r"module 'c' \(Conv2d\).*forward"):
        PWLNet.from_torch(model, torch.rand(1, 1, 6, 6))


# ----------------------------------------------------------------------------- output selection


class _DictOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))

    def forward(self, x):
        return {"logits": self.body(x), "hidden": x}


@pytest.mark.parametrize("output", ["logits", lambda y: y["logits"]])
def test_output_selector_picks_the_tensor_to_study(output):
    torch.manual_seed(0)
    model = _DictOutput().eval()
    x = torch.rand(4, 1, 8, 8)
    net = PWLNet.from_torch(model, x, output=output)
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(x), model.double()(x.double())["logits"].numpy(), rtol=1e-12, atol=1e-12)
    assert net.layer_names == ["body.1"]


def test_a_dict_output_without_a_selector_asks_for_one():
    with pytest.raises(UnsupportedLayerError, match="output='logits'"):
        PWLNet.from_torch(_DictOutput().eval(), torch.zeros(1, 1, 8, 8))


def test_an_unknown_output_key_lists_the_keys():
    with pytest.raises(InvalidParameterError, match=r"`output`.*\['logits', 'hidden'\]"):
        PWLNet.from_torch(_DictOutput().eval(), torch.zeros(1, 1, 8, 8), output="nope")


# ----------------------------------------------------------------------------- export programs


def test_exported_input_shape_reads_the_program():
    from polylens.models import exported_input_shape

    model = zoo.digits_cnn().eval()
    program = torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    assert exported_input_shape(program) == (1, 8, 8)
    with pytest.raises(InvalidParameterError, match="`example_input` has samples of shape"):
        PWLNet.from_torch(program, torch.zeros(1, 1, 9, 9))


def test_a_module_torch_fx_cannot_trace_goes_through_torch_export():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            if x.shape[-1] != 4:  # shape-dependent control flow: torch.fx fails, torch.export does not
                raise ValueError("expects 4 features")
            return torch.relu(self.fc(x))

    torch.manual_seed(0)
    model = Branchy().eval()
    x = torch.randn(5, 4)
    net = PWLNet.from_torch(model, x)
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(x), model.double()(x.double()).numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- activations by layer name


@pytest.mark.parametrize("route", ["fx", "export"])
def test_activations_at_equal_the_hooked_module_outputs_and_feed_split(route, models):
    model, inputs, _ = _conv_net("cnn", models)
    net = conf.convert(model, inputs, route)
    model64 = copy.deepcopy(model).double()
    captured = {}
    handles = [model64.get_submodule(name).register_forward_hook(
        lambda m, i, o, name=name: captured.__setitem__(name, o.detach().numpy())) for name in net.layer_names]
    try:
        with torch.no_grad():
            out = model64(inputs.double()).numpy()
    finally:
        for h in handles:
            h.remove()
    for name in net.layer_names:
        acts = net.activations_at(inputs, name)
        np.testing.assert_allclose(acts, captured[name], rtol=1e-12, atol=1e-12)
    last = net.layer_names[-1]
    np.testing.assert_allclose(net.split(at=last).forward(net.activations_at(inputs, last)), out,
                               rtol=1e-9, atol=1e-12)


def test_activations_at_an_unknown_layer_lists_the_names(models):
    _, inputs, net = _conv_net("cnn", models)
    with pytest.raises(InvalidParameterError, match=r"PWLNet.activations_at: `name` must be one of the layer names"):
        net.activations_at(inputs, "nope")


class _PadModes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.pads = nn.ModuleList([nn.ReflectionPad2d(1), nn.ReplicationPad2d(1), nn.ConstantPad2d(1, -0.3)])

    def forward(self, x):
        h = torch.relu(self.conv(F.pad(x, (1, 1, 1, 1), mode="circular")))
        return torch.cat([p(h).flatten(1) for p in self.pads], dim=1)


@pytest.mark.parametrize("route", ["fx", "export"])
def test_every_padding_mode_is_exact(route):
    torch.manual_seed(0)
    model = _PadModes().eval()
    x = torch.rand(3, 1, 5, 5)
    net = conf.convert(model, x, route)
    conf.check_outputs(model, x, net)
    conf.check_affine_map_on_a_slice(model, x, net)


def test_decomposed_reflection_padding_is_refused_with_the_node_named():
    """run_decompositions() writes reflect/circular padding as copies into an empty
    float32 buffer, which is not modelled: refused, not approximated."""
    model = _PadModes().eval()
    x = torch.rand(2, 1, 5, 5)
    with pytest.raises(UnsupportedLayerError, match=r"node '\w+' \(call_function"):
        conf.convert(model, x, "export_decomposed")


class _TokenMixer(nn.Module):
    """Per-token Linear and a matmul by a constant on a (n, tokens, features) batch."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 12)
        self.mix = nn.Parameter(torch.randn(12, 6))

    def forward(self, x):
        h = torch.relu(self.proj(x.reshape(x.shape[0], 4, 16)))
        return (torch.relu(h @ self.mix)).flatten(1)


class _LeftProduct(nn.Module):
    """A constant matrix on the left of the batch: its rows mix, block by block or not."""

    def __init__(self):
        super().__init__()
        self.left = nn.Parameter(torch.randn(5, 4))

    def forward(self, x):
        return torch.relu(self.left @ x.reshape(x.shape[0], 4, 16)).flatten(1)


@pytest.mark.parametrize("name", ["cnn", "resnet", "functional", "mixer", "export"])
def test_forms_of_a_batch_of_codes_equal_each_code_alone_bit_for_bit(models, name):
    if name == "mixer":
        torch.manual_seed(0)
        model, inputs = _TokenMixer(), torch.rand(3, 64)
    elif name == "export":
        model, inputs = models["cnn"]
        model = torch.export.export(model, (inputs,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    else:
        model, inputs = models[name]
    net = PWLNet.from_torch(model, inputs)
    assert net.program.blockwise_forms
    rng = np.random.default_rng(5)
    codes = net.codes(rng.uniform(-1, 1, (30, net.input_dim)))
    basis = rng.standard_normal((3, net.input_dim))
    pre, out = net.frozen_forms(codes, basis)
    for i, code in enumerate(codes):
        pre_i, out_i = net.frozen_forms(code, basis)
        assert all(np.array_equal(p[i], q) for p, q in zip(pre, pre_i)) and np.array_equal(out[i], out_i)


def test_a_constant_matrix_on_the_left_of_the_batch_makes_forms_not_blockwise():
    torch.manual_seed(0)
    net = PWLNet.from_torch(_LeftProduct(), torch.rand(2, 64))
    assert not net.program.blockwise_forms
