"""Studies do not depend on the scale of the inputs: a net and the same net reading its
input scaled by ``s`` (first layer's weights divided by ``s``, domain multiplied by ``s``)
give identical statistics, Betti numbers and class components."""

from __future__ import annotations

import copy

import _shapes as S
import pytest
import torch

from polylens import PWLNet, enumerate_regions
from polylens.studies.statistics import graph_statistics
from polylens.studies.topology import decision_topology


def _mlp(sizes, seed) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(a, b).double(), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1]).double())


def _scaled(module: torch.nn.Sequential, s: float) -> PWLNet:
    """``x -> module(x / s)``."""
    module = copy.deepcopy(module)
    with torch.no_grad():
        module[0].weight /= s
    return PWLNet.from_torch(module)


def _studies(net: PWLNet, domain):
    stats = graph_statistics(enumerate_regions(net, domain, progress=False)).summary()
    topo = decision_topology(net, domain, progress=False)
    return stats, topo.class_components, topo.class_betti, topo.decision_boundary_betti


@pytest.mark.slow
@pytest.mark.parametrize("module, box", [
    (_mlp([2, 6, 6, 1], 0), 3.0),
    (_mlp([2, 6, 6, 1], 0), None),
    (S.annulus(), 2.5),
    (_mlp([3, 5, 1], 2), None),
], ids=["mlp-2d-box", "mlp-2d-Rd", "annulus-box", "mlp-3d-Rd"])
@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_studies_do_not_depend_on_input_scale(module, box, s):
    domain = None if box is None else (-box, box)
    scaled_domain = None if box is None else (-box * s, box * s)
    assert _studies(_scaled(module, s), scaled_domain) == _studies(PWLNet.from_torch(module), domain)
