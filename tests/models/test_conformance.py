"""One conformance suite for every supported architecture over every route.

The architectures of the README's supported-model list, each converted three ways
(``torch.fx`` on the module, a ``torch.export`` program, and the same program after
``run_decompositions()``), and every conversion checked against torch itself (see
``_conformance.py``): outputs, codes against hooked activations, the affine map on a 2-D
slice against ``torch.func.jacrev``, facet crossings into the neighbour, and the
adapter's own output check at fresh points. On the fx route, enumeration in a 2-D slice
also finds every code that dense sampling finds; on the export routes the codes equal
those of the fx route.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from polylens import Box, enumerate_regions, zoo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _conformance as conf  # noqa: E402

torch.set_num_threads(1)


def _seeded(cls, seed):
    torch.manual_seed(seed)
    model = cls().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


def _trained(model, X, y, epochs=3):
    zoo.train_classifier(model, X, y, epochs=epochs, seed=0)
    return model.eval()


@pytest.fixture(scope="module")
def architectures():
    """name -> (model, three inputs of the model's shape): trained on digits or random weights."""
    X, y, Xt, _ = zoo.digits_data(seed=0)
    flat = X.reshape(len(X), -1)
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return {
        "mlp": (_trained(zoo.mlp([64, 24, 16, 10]), flat, y), Xt[:3].reshape(3, -1)),
        "cnn": (_trained(zoo.digits_cnn(), X, y), Xt[:3]),
        "cnn_random_bn": (_seeded(zoo.digits_cnn, 1), Xt[:3]),
        "resnet": (_trained(zoo.digits_resnet(), X, y), Xt[:3]),
        "leaky_mlp": (_trained(zoo.mlp([64, 16, 16, 10], activation=lambda: nn.LeakyReLU(0.1)), flat, y),
                      Xt[:3].reshape(3, -1)),
        "hardtanh_mlp": (_trained(zoo.mlp([64, 16, 16, 10], activation=nn.Hardtanh), flat, y), Xt[:3].reshape(3, -1)),
        "conv1d": (_trained(zoo.digits_conv1d(), X.reshape(len(X), 1, 64), y), Xt[:3].reshape(3, 1, 64)),
        "functional": (_seeded(conf.FunctionalNet, 2), Xt[:3]),
        "pooling": (_seeded(conf.PoolingNet, 3), Xt[:3]),
        "mobile_block": (_seeded(conf.MobileBlock, 4), Xt[:3]),
        "resnet18_style": (zoo.resnet18_style(seed=5, widths=(4, 4, 8, 8), n_classes=5), images),
    }


NAMES = ["mlp", "cnn", "cnn_random_bn", "resnet", "leaky_mlp", "hardtanh_mlp", "conv1d", "functional", "pooling",
         "mobile_block", "resnet18_style"]
#: Decomposing a program costs seconds per architecture: one runs in the fast tier, the
#: rest are marked slow (they run in the full suite).
_FAST_DECOMPOSED = {"cnn_random_bn", "mobile_block"}
CASES = [pytest.param(name, route, marks=[pytest.mark.slow] if route == "export_decomposed"
                      and name not in _FAST_DECOMPOSED else [])
         for name in NAMES for route in conf.ROUTES]


@pytest.fixture(scope="module")
def converted(architectures):
    cache: dict = {}

    def get(name, route):
        if (name, route) not in cache:
            model, inputs = architectures[name]
            cache[name, route] = conf.convert(model, inputs, route)
        return (*architectures[name], cache[name, route])

    return get


@pytest.mark.parametrize("name, route", CASES)
def test_outputs_match_the_float64_model(name, route, converted):
    model, inputs, net = converted(name, route)
    conf.check_outputs(model, inputs, net)


@pytest.mark.parametrize("name, route", CASES)
def test_codes_agree_with_the_models_own_activations(name, route, converted):
    model, inputs, net = converted(name, route)
    codes, checked = conf.check_codes(model, inputs, net)
    assert checked or name in ("resnet", "functional", "pooling")  # functional activations only
    if route != "fx":
        reference = converted(name, "fx")[2]
        assert net.layer_sizes == reference.layer_sizes
        np.testing.assert_array_equal(codes, reference.codes(inputs))


@pytest.mark.parametrize("name, route", CASES)
def test_affine_map_on_a_slice_equals_jacrev(name, route, converted):
    model, inputs, net = converted(name, route)
    conf.check_affine_map_on_a_slice(model, inputs, net)


@pytest.mark.parametrize("name, route", CASES)
def test_facet_crossings_land_in_the_neighbour(name, route, converted):
    _, inputs, net = converted(name, route)
    conf.check_facet_crossings(inputs, net)


@pytest.mark.parametrize("name, route", CASES)
def test_conversion_check_passes_at_fresh_points(name, route, converted):
    model, inputs, net = converted(name, route)
    conf.check_conversion_at_fresh_points(model, inputs, net)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n != "resnet18_style"])
def test_slice_enumeration_finds_every_sampled_code(name, converted):
    _, inputs, net = converted(name, "fx")
    origin, basis = conf.plane(inputs)
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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn", "resnet18_style"])
def test_layer_names_agree_across_routes(name, converted):
    """Layers named after their activation modules keep their names on every route."""
    names = [converted(name, route)[2].layer_names for route in conf.ROUTES]
    assert names[0] == names[1] == names[2]
