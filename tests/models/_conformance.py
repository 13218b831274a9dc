"""The model-adapter conformance checks, shared by every architecture and every route.

A *route* is how a model reaches ``PWLNet.from_torch``: ``"fx"`` (the module itself),
``"export"`` (a ``torch.export`` program with a dynamic batch) or
``"export_decomposed"`` (the same after ``run_decompositions()``). Every check compares
the converted net with torch itself: the float64 model's forward pass, forward hooks on
its activation modules, ``torch.func.jacrev``, and the codes on both sides of a facet.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens import Box, PWLNet, facets, neighbors, region_at

ROUTES = ["fx", "export", "export_decomposed"]


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


class MobileBlock(nn.Module):
    """An inverted residual as MobileNetV2 builds it: constant padding with a non-zero
    value, ZeroPad2d, a depthwise convolution, BatchNorm, ReLU6 (module and functional),
    a residual add, adaptive average pooling and flatten."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(1, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU6()
        self.depthwise = nn.Conv2d(4, 4, 3, groups=4)
        self.pad = nn.ZeroPad2d(1)
        self.project = nn.Conv2d(4, 1, 3)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.act(self.bn(self.expand(x)))
        h = F.relu6(self.depthwise(F.pad(h, (1, 1, 1, 1), value=0.5)))
        h = x + self.project(self.pad(h))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(h, 2), 1))


def source(model, inputs, route: str):
    """What the route hands to ``PWLNet.from_torch``: the module, or an exported program."""
    if route == "fx":
        return model
    program = torch.export.export(model, (inputs[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    return program.run_decompositions() if route == "export_decomposed" else program


def convert(model, inputs, route: str) -> PWLNet:
    if route == "fx":
        return PWLNet.from_torch(model, inputs)
    return PWLNet.from_torch(source(model, inputs, route))  # the program carries its input shape


def float64(model):
    return copy.deepcopy(model).double().eval()


def check_outputs(model, inputs, net) -> None:
    batch = torch.cat([inputs, inputs * 0.5 + 0.1])
    with torch.no_grad():
        expected = float64(model)(batch.double()).reshape(len(batch), -1).numpy()
    np.testing.assert_allclose(net.forward(batch), expected, rtol=1e-9, atol=1e-12)


def check_codes(model, inputs, net, prefix: str = "") -> tuple[np.ndarray, int]:
    """The pieces of every layer named after an activation module (its path less
    ``prefix``) equal those of its hooked input. Returns the codes and how many layers
    were compared."""
    model64 = float64(model)
    captured: dict = {}
    calls: dict = {}

    def record(key, inp):
        calls[key] = calls.get(key, 0) + 1
        captured[key if calls[key] == 1 else f"{key}@{calls[key]}"] = inp[0].detach().clone()

    handles = [m.register_forward_pre_hook(lambda mod, inp, key=key.removeprefix(prefix): record(key, inp))
               for key, m in model64.named_modules() if key.removeprefix(prefix) in net.layer_names]
    try:
        with torch.no_grad():
            model64(inputs.double())
    finally:
        for h in handles:
            h.remove()
    codes = net.codes(inputs)
    assert codes.shape == (len(inputs), net.n_units)
    checked = 0
    for layer, key in enumerate(net.layer_names):
        if key in captured:
            z = captured[key].reshape(len(inputs), -1).numpy()
            lo, hi = net.layer_offsets[layer], net.layer_offsets[layer + 1]
            np.testing.assert_array_equal(codes[:, lo:hi], net.activations[layer].pieces(z))
            checked += 1
    return codes, checked


def plane(inputs):
    a, b, c = (v.reshape(-1).double().numpy() for v in inputs[:3])
    return a, np.stack([b - a, c - a], axis=1)


def check_affine_map_on_a_slice(model, inputs, net) -> None:
    """The output map of the region at a point of a 2-D slice equals jacrev of the
    model along the slice, and reproduces the model's output there."""
    model64 = float64(model)
    origin, basis = plane(inputs)
    t0 = np.array([0.3, 0.3])
    x = origin + basis @ t0
    forms = net.affine_forms(net.codes(x[None])[0], x0=origin, U=basis)
    o, u = torch.from_numpy(origin), torch.from_numpy(basis)
    jac = torch.func.jacrev(lambda t: model64((o + u @ t).reshape(1, *inputs.shape[1:])).reshape(-1))(
        torch.from_numpy(t0)).detach().numpy()
    np.testing.assert_allclose(forms.out_weight, jac, rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        y = model64(torch.from_numpy(x).reshape(1, *inputs.shape[1:])).reshape(-1).numpy()
    np.testing.assert_allclose(forms.out_weight @ t0 + forms.out_bias, y, rtol=1e-9, atol=1e-12)


def check_facet_crossings(inputs, net) -> None:
    """Stepping across each facet of a slice region lands in the neighbour polylens
    reports; the region's output map is the net's output inside it."""
    origin, basis = plane(inputs)
    region = region_at(net, [0.3, 0.3], Box(0, 1), origin=origin, basis=basis)
    by_rows = {nb.facet.rows: nb.region for nb in neighbors(region)}
    assert by_rows, "an interior region of the slice has inner facets"
    for facet in facets(region):
        if facet.rows not in by_rows:
            continue
        step = 1e-7 * facet.normal
        np.testing.assert_array_equal(net.codes(origin + (facet.point + step) @ basis.T)[0], by_rows[facet.rows].code)
        np.testing.assert_array_equal(net.codes(origin + (facet.point - step) @ basis.T)[0], region.code)
    t = region.point + 0.5 * region.radius * np.array([0.6, -0.8])
    np.testing.assert_allclose(region.output(t)[0], net.forward(origin + t @ basis.T)[0], rtol=1e-9, atol=1e-10)


def check_conversion_at_fresh_points(model, inputs, net) -> None:
    """The adapter's own check (item 1 of the trust issue) passes at points it did not see."""
    from polylens.models.verify import check_conversion, probe_inputs

    model64 = float64(model)

    def forward(x):
        with torch.no_grad():
            return model64(torch.from_numpy(x).reshape(len(x), *net.input_shape)).reshape(len(x), -1).numpy()

    check_conversion(net.program, forward, probe_inputs(inputs[2].reshape(-1).double().numpy(), seed=7))
