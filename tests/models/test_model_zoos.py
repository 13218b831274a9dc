"""Hugging Face vision models through the exact engine (random-init configs, no downloads).

Each model is built from a tiny ``transformers`` config and converted the way a user
would: ``PWLNet.from_torch(model, x, output="logits")`` (torch.fx cannot trace these
models, so the adapter exports them with ``torch.export``), and as a user-made
``torch.export`` program after ``run_decompositions()``. The conformance checks of
``_conformance.py`` then run against the model itself. Models with a layer that is not
piecewise linear are refused with the node named.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from polylens import PWLNet, UnsupportedLayerError

transformers = pytest.importorskip("transformers", reason="the Hugging Face tests need `transformers` "
                                                          "(pip install transformers; it is in the `test` extra)")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _conformance as conf  # noqa: E402

torch.set_num_threads(1)


class Logits(nn.Module):
    """The model's ``.logits``: the reference forward pass the checks compare with."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits


def _randomise_batchnorm(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _build(name):
    torch.manual_seed(0)
    if name == "resnet_basic":
        model = transformers.ResNetForImageClassification(transformers.ResNetConfig(
            layer_type="basic", depths=[1, 1], hidden_sizes=[4, 8], embedding_size=4, num_labels=3))
    elif name == "resnet_bottleneck":
        model = transformers.ResNetForImageClassification(transformers.ResNetConfig(
            layer_type="bottleneck", depths=[1, 1], hidden_sizes=[8, 16], embedding_size=4, num_labels=3))
    elif name == "mobilenet_v2":
        model = transformers.MobileNetV2ForImageClassification(transformers.MobileNetV2Config(
            depth_multiplier=0.25, image_size=16, num_labels=3))
    else:
        model = transformers.RegNetForImageClassification(transformers.RegNetConfig(
            layer_type="x", depths=[1, 1], hidden_sizes=[8, 16], embedding_size=8, groups_width=4, num_labels=3))
    inputs = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return _randomise_batchnorm(model), inputs


_CACHE: dict = {}


def _converted(name, route):
    if (name, route) not in _CACHE:
        model, inputs = _build(name)
        if route == "auto":
            net = PWLNet.from_torch(model, inputs, output="logits")
        else:
            net = PWLNet.from_torch(conf.source(Logits(model), inputs, route))
        _CACHE[name, route] = (Logits(model).eval(), inputs, net)
    return _CACHE[name, route]


CASES = [pytest.param("resnet_basic", "auto")] + [
    pytest.param(name, route, marks=pytest.mark.slow)
    for name, route in [("resnet_basic", "export_decomposed"), ("resnet_bottleneck", "auto"),
                        ("mobilenet_v2", "auto"), ("regnet_x", "auto"), ("regnet_x", "export_decomposed")]]


@pytest.mark.parametrize("name, route", CASES)
def test_hugging_face_model_conforms(name, route):
    model, inputs, net = _converted(name, route)
    conf.check_outputs(model, inputs, net)
    codes, checked = conf.check_codes(model, inputs, net, prefix="model." if route == "auto" else "")
    assert checked == len(net.layer_names)  # every layer is an activation module
    conf.check_affine_map_on_a_slice(model, inputs, net)
    conf.check_facet_crossings(inputs, net)
    conf.check_conversion_at_fresh_points(model, inputs, net)


def test_mobilenet_v2_layers_are_covered():
    """ReLU6 (as Hardtanh), depthwise convolutions, constant padding and residual adds."""
    if ("mobilenet_v2", "auto") not in _CACHE:
        pytest.skip("runs after the slow MobileNetV2 conformance case")
    model, _, net = _CACHE["mobilenet_v2", "auto"]
    assert {repr(a) for a in net.activations} == {"Hardtanh(0, 6)"}
    assert any(m.groups > 1 and m.groups == m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.slow
def test_regnet_with_squeeze_excitation_is_refused_with_the_node_named():
    torch.manual_seed(0)
    model = transformers.RegNetForImageClassification(transformers.RegNetConfig(
        layer_type="y", depths=[1], hidden_sizes=[8], embedding_size=8, groups_width=4, num_labels=3)).eval()
    with pytest.raises(UnsupportedLayerError, match=r"node 'sigmoid'.*attention"):
        PWLNet.from_torch(model, torch.rand(1, 3, 16, 16), output="logits")


@pytest.mark.slow
def test_convnext_with_gelu_is_refused_with_the_node_named():
    torch.manual_seed(0)
    model = transformers.ConvNextForImageClassification(transformers.ConvNextConfig(
        depths=[1], hidden_sizes=[8], num_stages=1, num_labels=3)).eval()
    with pytest.raises(UnsupportedLayerError, match=r"node '(layer_norm|gelu)\w*'.*module 'model\.convnext"):
        PWLNet.from_torch(model, torch.rand(1, 3, 16, 16), output="logits")
