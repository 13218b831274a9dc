"""PWLNet.from_torch against torch itself: outputs, codes, affine forms, and errors.

The oracles here are torch computations (the model's own forward, forward pre-hooks on
its activation modules, ``torch.func.jacrev``), never polylens code.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from _nets import make_mlp
from _oracles import hooked_preactivations, torch_preactivations_and_output

import polylens
from polylens import PWLNet, UnsupportedLayerError

torch.set_num_threads(1)


def nested_chain(dtype=torch.float64, seed: int = 0) -> nn.Sequential:
    """Every supported module kind, nested two deep; 6 inputs seen as shape (2, 3)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Sequential(nn.Linear(6, 7), nn.ReLU(), nn.Identity()),
        nn.Dropout(0.3),
        nn.Sequential(nn.Sequential(nn.Linear(7, 5), nn.LeakyReLU(0.1)), nn.Linear(5, 5)),
        nn.Linear(5, 4),  # two affine maps in a row: composed by the adapter
        nn.ReLU(),
        nn.Linear(4, 3),
    )
    return model.to(dtype).eval()


def exported(model: nn.Module, example: torch.Tensor):
    return torch.export.export(model, (example,))


@pytest.fixture
def x_batch():
    torch.manual_seed(123)
    return torch.randn(64, 2, 3, dtype=torch.float64)


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("front_end", ["sequential", "export"])
def test_float64_model_outputs_match_torch_to_1e_12(front_end, x_batch):
    model = nested_chain(torch.float64)
    source = model if front_end == "sequential" else exported(model, x_batch[:2])
    net = PWLNet.from_torch(source, input_shape=(2, 3))
    expected = model(x_batch).detach().numpy()
    got = net.forward(x_batch)
    assert got.shape == expected.shape == (64, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # flattened inputs are accepted too
    np.testing.assert_allclose(net.forward(x_batch.reshape(64, 6).numpy()), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("front_end", ["sequential", "export"])
def test_float32_model_outputs_match_torch_to_float32_precision(front_end, x_batch):
    model = nested_chain(torch.float32)
    x32 = x_batch.float()
    source = model if front_end == "sequential" else exported(model, x32[:2])
    net = PWLNet.from_torch(source)
    expected = model(x32).detach().double().numpy()
    got = net.forward(x32)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)
    # and the float64 copy is exact w.r.t. the float32 weights run in float64
    model64 = copy.deepcopy(model).double()
    np.testing.assert_allclose(got, model64(x32.double()).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_export_front_end_takes_input_shape_from_the_program(x_batch):
    model = nested_chain()
    net = PWLNet.from_torch(exported(model, x_batch[:2]))
    assert net.input_shape == (2, 3)
    assert net.input_dim == 6
    assert net.layer_sizes == [7, 5, 4]
    assert net.output_dim == 3


def test_sequential_and_export_front_ends_give_the_same_net(x_batch):
    model = nested_chain()
    a = PWLNet.from_torch(model, input_shape=(2, 3))
    b = PWLNet.from_torch(exported(model, x_batch[:2]))
    assert a.fingerprint() == b.fingerprint()
    assert (a.layer_sizes, a.n_units, a.output_dim) == (b.layer_sizes, b.n_units, b.output_dim)
    np.testing.assert_array_equal(a.preactivations(x_batch), b.preactivations(x_batch))
    code = a.codes(x_batch[:1])[0]
    fa, fb = a.affine_forms(code), b.affine_forms(code)
    np.testing.assert_array_equal(fa.weight, fb.weight)
    np.testing.assert_array_equal(fa.out_weight, fb.out_weight)


def test_layer_names_are_qualified_module_names():
    net = PWLNet.from_torch(nested_chain())
    assert net.layer_names == ["1.1", "3.0.1", "5"]


# ----------------------------------------------------------------------------- codes


@pytest.mark.parametrize("front_end", ["sequential", "export"])
def test_codes_equal_sign_pattern_of_hooked_preactivations(front_end, x_batch):
    model = nested_chain()
    source = model if front_end == "sequential" else exported(model, x_batch[:2])
    net = PWLNet.from_torch(source)
    pre = hooked_preactivations(model, x_batch).numpy()
    assert pre.shape == (64, net.n_units)
    codes = net.codes(x_batch)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, (pre > 0).astype(np.int8))
    np.testing.assert_allclose(net.preactivations(x_batch), pre, rtol=1e-12, atol=1e-12)


def test_codes_with_inplace_relu_match_hooks():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(inplace=True), nn.Linear(6, 4),
                          nn.LeakyReLU(0.05, inplace=True), nn.Linear(4, 2)).double()
    x = torch.randn(50, 3, dtype=torch.float64)
    net = PWLNet.from_torch(model)
    pre = hooked_preactivations(model, x).numpy()
    np.testing.assert_array_equal(net.codes(x), (pre > 0).astype(np.int8))
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_code_of_exactly_zero_preactivation_is_the_lower_piece():
    lin = nn.Linear(2, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2, dtype=torch.float64))
        lin.bias.zero_()
    net = PWLNet.from_torch(nn.Sequential(lin, nn.ReLU(), nn.Linear(2, 1).double()))
    np.testing.assert_array_equal(net.codes([[0.0, 1.0], [-0.0, 0.0], [1e-300, -1e-300]]),
                                  [[0, 1], [0, 0], [1, 0]])


# ----------------------------------------------------------------------------- affine forms


def _point_and_code(model, net, seed):
    torch.manual_seed(seed)
    x = torch.randn(1, 2, 3, dtype=torch.float64)
    return x, net.codes(x)[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_affine_forms_weight_equals_jacrev_of_the_model(seed):
    model = nested_chain(seed=seed)
    net = PWLNet.from_torch(model, input_shape=(2, 3))
    x, code = _point_and_code(model, net, seed + 100)
    forms = net.affine_forms(code)

    def outputs(flat):
        return model(flat.reshape(1, 2, 3))[0]

    def preacts(flat):
        return torch_preactivations_and_output(model, flat.reshape(1, 2, 3))[0][0]

    flat = x.reshape(6)
    jac_out = torch.func.jacrev(outputs)(flat).detach().numpy()
    jac_pre = torch.func.jacrev(preacts)(flat).detach().numpy()
    np.testing.assert_allclose(forms.out_weight, jac_out, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(forms.weight, jac_pre, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_affine_forms_reproduce_outputs_and_preactivations_on_the_region(seed):
    model = nested_chain(seed=seed)
    net = PWLNet.from_torch(model, input_shape=(2, 3))
    torch.manual_seed(seed + 7)
    xs = torch.randn(40, 6, dtype=torch.float64)
    pre_t, out_t = torch_preactivations_and_output(model, xs.reshape(40, 2, 3))
    for x, pre, out in zip(xs.numpy(), pre_t.detach().numpy(), out_t.detach().numpy()):
        forms = net.affine_forms(net.codes(x[None])[0])
        z = forms.weight @ x + forms.bias
        y = forms.out_weight @ x + forms.out_bias
        np.testing.assert_allclose(z, pre, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(pre).max()))
        np.testing.assert_allclose(y, out, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(out).max()))


def test_affine_forms_on_a_subspace_compose_the_full_forms_with_U():
    model = nested_chain(seed=5)
    net = PWLNet.from_torch(model, input_shape=(2, 3))
    rng = np.random.default_rng(9)
    x0 = rng.standard_normal(6)
    U = rng.standard_normal((6, 2))
    code = net.codes(x0[None])[0]
    full = net.affine_forms(code)
    sub = net.affine_forms(code, x0=x0, U=U)
    np.testing.assert_allclose(sub.weight, full.weight @ U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sub.bias, full.weight @ x0 + full.bias, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sub.out_weight, full.out_weight @ U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sub.out_bias, full.out_weight @ x0 + full.out_bias, rtol=1e-12, atol=1e-12)
    # x0 may also be given in the model's input shape
    sub2 = net.affine_forms(code, x0=x0.reshape(2, 3), U=U)
    np.testing.assert_array_equal(sub2.weight, sub.weight)
    # and at t = 0 the forms are the pre-activations at x0
    np.testing.assert_allclose(sub.bias, net.preactivations(x0[None])[0], rtol=1e-12, atol=1e-12)


def test_affine_forms_rejects_bad_code_and_basis():
    net = PWLNet.from_torch(nested_chain())
    with pytest.raises(ValueError, match=r"`code` must have shape \(16,\)"):
        net.affine_forms(np.zeros(15))
    with pytest.raises(ValueError, match=r"piece outside 0\.\.1"):
        net.affine_forms(np.full(16, 2))
    with pytest.raises(ValueError, match=r"`U` must be an array of shape \(6, n\)"):
        net.affine_forms(np.zeros(16), U=np.zeros((5, 2)))


# ----------------------------------------------------------------------------- no side effects


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_conversion_leaves_the_user_model_unchanged(training, dtype):
    model = nested_chain(dtype)
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    PWLNet.from_torch(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert after[k].dtype == dtype
        assert torch.equal(before[k], after[k]), k
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.grad is None for p in model.parameters())


def test_converted_net_does_not_alias_the_model_weights():
    model = nested_chain()
    net = PWLNet.from_torch(model)
    x = np.random.default_rng(0).standard_normal((5, 6))
    y0 = net.forward(x)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    np.testing.assert_array_equal(net.forward(x), y0)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad, qualified, type_name",
    [
        (nn.Tanh(), "1.0", "Tanh"),
        (nn.Sigmoid(), "1.0", "Sigmoid"),
        (nn.ELU(), "1.0", "ELU"),
        (nn.GELU(), "1.0", "GELU"),
    ],
)
def test_unsupported_layer_in_nested_sequential_names_module_and_type(bad, qualified, type_name):
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(bad, nn.Linear(3, 1)))
    with pytest.raises(UnsupportedLayerError) as info:
        PWLNet.from_torch(model)
    msg = str(info.value)
    assert f"'{qualified}'" in msg
    assert type_name in msg
    assert isinstance(info.value, polylens.PolylensError)


def test_unsupported_layer_deeply_nested_gives_full_dotted_name():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(3, 3), nn.Softmax(-1))))
    with pytest.raises(UnsupportedLayerError, match=r"'1\.1\.1'.*Softmax"):
        PWLNet.from_torch(model)


def test_unsupported_op_in_exported_program_names_node_and_op():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    with pytest.raises(UnsupportedLayerError, match=r"'tanh'.*tanh"):
        PWLNet.from_torch(exported(model, torch.randn(1, 2)))


@pytest.mark.parametrize("where, module_name", [("weight", "2"), ("bias", "0")])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_raise_value_error_naming_the_module(where, module_name, value):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        getattr(model[int(module_name)], where).view(-1)[0] = value
    with pytest.raises(ValueError, match=rf"module '{module_name}'"):
        PWLNet.from_torch(model)


@pytest.mark.parametrize("method", ["forward", "codes", "preactivations"])
def test_wrong_input_size_names_x_and_the_expected_shape(method):
    net = PWLNet.from_torch(make_mlp(2, [4]))
    with pytest.raises(ValueError, match=r"`x`.*\(n, 2\)") as info:
        getattr(net, method)(np.zeros((4, 3)))
    assert "(4, 3)" in str(info.value)
    with pytest.raises(ValueError, match=r"`x`.*\(n, 2\)"):
        getattr(net, method)(np.zeros(5))


def test_non_finite_input_raises_value_error_naming_x():
    net = PWLNet.from_torch(make_mlp(2, [4]))
    with pytest.raises(ValueError, match=r"`x` contains NaN"):
        net.forward([[np.nan, 0.0]])


def test_region_at_wrong_input_size_names_x():
    net = PWLNet.from_torch(make_mlp(2, [4]))
    with pytest.raises(ValueError, match=r"`x`.*\(n, 2\)"):
        polylens.region_at(net, [1.0, 2.0, 3.0])


class _Residual(nn.Module):
    """A piecewise-linear model that is not an nn.Sequential (traced by polylens)."""

    def __init__(self, nonlinearity=torch.relu):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 5), nn.Linear(5, 5), nn.Linear(5, 2)
        self.nonlinearity = nonlinearity

    def forward(self, x):
        h = self.nonlinearity(self.a(x))
        h = h + nn.functional.leaky_relu(self.b(h), 0.1)
        return self.out(h)


def test_non_sequential_module_without_example_input_asks_for_it():
    with pytest.raises(ValueError, match="example_input"):
        PWLNet.from_torch(_Residual().double())


@pytest.mark.parametrize("module", [nn.Linear(2, 2), nn.Sequential(nn.Flatten(0), nn.Linear(2, 3))])
def test_other_non_chain_modules_without_example_input_ask_for_it(module):
    with pytest.raises(ValueError, match="example_input"):
        PWLNet.from_torch(module)


def test_non_sequential_module_with_unsupported_op_names_the_traced_node():
    with pytest.raises(UnsupportedLayerError, match=r"'tanh'"):
        PWLNet.from_torch(_Residual(torch.tanh).double(), torch.zeros(1, 3, dtype=torch.float64))


def test_module_that_cannot_be_traced_raises_unsupported_layer_error():
    with pytest.raises(UnsupportedLayerError, match="ModuleList"):
        PWLNet.from_torch(nn.ModuleList([nn.Linear(2, 2)]), torch.zeros(1, 2))


def test_traced_non_sequential_module_matches_torch_outputs_and_jacobian():
    torch.manual_seed(6)
    model = _Residual().double().eval()
    net = PWLNet.from_torch(model, torch.zeros(1, 3, dtype=torch.float64))
    x = torch.randn(30, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12, atol=1e-12)
    for xi in x[:5]:
        forms = net.affine_forms(net.codes(xi[None])[0])
        jac = torch.func.jacrev(lambda v: model(v[None])[0])(xi).detach().numpy()
        np.testing.assert_allclose(forms.out_weight, jac, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(forms.out_weight @ xi.numpy() + forms.out_bias, model(xi[None])[0].detach().numpy(),
                                   rtol=1e-9, atol=1e-12)


def test_traced_module_with_nan_weights_raises_value_error_naming_the_module():
    model = _Residual().double()
    with torch.no_grad():
        model.a.weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"'a'"):
        PWLNet.from_torch(model, torch.zeros(1, 3, dtype=torch.float64))


def test_non_module_raises_type_error():
    with pytest.raises(TypeError, match="module"):
        PWLNet.from_torch("not a model")


def test_mismatched_layer_widths_name_the_module():
    with pytest.raises(ValueError, match=r"module '2' expects 4 features but receives 3"):
        PWLNet.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 1)))


def test_input_shape_with_wrong_size_is_rejected():
    with pytest.raises(ValueError, match="input_shape"):
        PWLNet.from_torch(nested_chain(), input_shape=(3, 3))


def test_exported_program_with_inplace_activations_converts():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(inplace=True), nn.Linear(6, 4),
                          nn.LeakyReLU(0.05, inplace=True), nn.Linear(4, 2)).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    net = PWLNet.from_torch(exported(model, x[:2]))
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_unsupported_activation_options_raise_unsupported_layer_error_even_when_built_directly():
    from polylens.models.activations import Elementwise, MaxPool

    with pytest.raises(UnsupportedLayerError, match="meet at the breaks"):
        Elementwise(3, breaks=[0.0], slopes=[0.0, 1.0], intercepts=[0.0, 1.0], name="step")
    with pytest.raises(UnsupportedLayerError, match="ceil_mode"):
        MaxPool((1, 5, 5), kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=True)


@pytest.mark.parametrize("build, shape", [
    (lambda: make_mlp(4, [8, 8], 3, seed=1, leaky=0.1), (4,)),
    (lambda: polylens.zoo.digits_cnn(seed=2).eval(), (1, 8, 8)),
    (lambda: polylens.zoo.digits_resnet(seed=3).eval(), (1, 8, 8)),
], ids=["leaky-mlp", "digits-cnn", "digits-resnet"])
def test_frozen_forms_of_a_batch_of_codes_equal_each_codes_own_forms(build, shape):
    net = PWLNet.from_torch(build(), torch.zeros(2, *shape))
    rng = np.random.default_rng(0)
    codes = net.codes(rng.normal(size=(5, net.input_dim)))
    basis = rng.normal(size=(3, net.input_dim))
    pre, out = net.frozen_forms(codes, basis)
    assert out.shape == (5, 3, net.output_dim)
    for b, code in enumerate(codes):
        one_pre, one_out = net.frozen_forms(code, basis)
        for z, batched in zip(one_pre, pre, strict=True):
            np.testing.assert_allclose(batched[b], z, rtol=0, atol=1e-13 * np.abs(z).max())
        np.testing.assert_allclose(out[b], one_out, rtol=0, atol=1e-13 * np.abs(one_out).max())
