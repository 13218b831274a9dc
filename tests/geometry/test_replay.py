"""Replay of saved degenerate cases (``data/*.npz``): nets and questions on which the
exact engine once gave a wrong or no answer. Each file holds a ReLU MLP (``layers``,
``W0``, ``b0``, ...), the question (``call``: ``"enumerate"``, ``"plane"`` or ``"path"``,
with ``lo``/``hi``, ``origin``/``basis`` or ``points``), the expected number of regions
or crossings (``expected``) and a ``note`` saying what went wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from polylens import Box, PWLNet, enumerate_regions, path_crossings, plane_partition

CASES = sorted((Path(__file__).parent / "data").glob("*.npz"))


def _net(data) -> PWLNet:
    layers = []
    for i in range(int(data["layers"])):
        W, b = data[f"W{i}"], data[f"b{i}"]
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    return PWLNet.from_torch(torch.nn.Sequential(*layers[:-1]))


def test_there_are_saved_cases():
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_saved_case(path):
    with np.load(path) as data:
        net, call, expected = _net(data), str(data["call"]), int(data["expected"])
        origin = data.get("origin")
        basis = data.get("basis")
        if call == "enumerate":
            res = enumerate_regions(net, Box(data["lo"], data["hi"]), origin=origin, basis=basis, progress=False)
            res.check()
            assert res.complete and res.degenerate == [], str(data["note"])
            assert res.n_regions == expected, str(data["note"])
        elif call == "plane":
            u, v = (None, None) if basis is None else (basis[:, 0], basis[:, 1])
            part = plane_partition(net, origin, u, v, domain=(data["lo"], data["hi"]))
            part.check()
            assert part.n_regions == expected, str(data["note"])
        else:
            assert path_crossings(net, data["points"]).n_crossings == expected, str(data["note"])
