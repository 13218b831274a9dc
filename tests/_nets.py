"""Small seeded torch models shared by the tests (no polylens imports)."""

from __future__ import annotations

import numpy as np
import torch


def make_mlp(d: int, hidden: list[int], out: int = 1, seed: int = 0, *, leaky: float | None = None,
             dtype=torch.float64) -> torch.nn.Sequential:
    """A seeded ``nn.Sequential`` MLP: Linear/ReLU (or LeakyReLU) blocks, then a Linear head."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = d
    for h in hidden:
        layers.append(torch.nn.Linear(width, h))
        layers.append(torch.nn.LeakyReLU(leaky) if leaky is not None else torch.nn.ReLU())
        width = h
    layers.append(torch.nn.Linear(width, out))
    return torch.nn.Sequential(*layers).to(dtype)


def linear_relu_net(W, b, head=None):
    """A one-hidden-layer ReLU net with the given first-layer weights (float64 torch model)."""
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
    out = torch.nn.Linear(W.shape[0], 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W))
        lin.bias.copy_(torch.from_numpy(b))
        if head is None:
            out.weight.copy_(torch.linspace(1.0, 2.0, W.shape[0], dtype=torch.float64)[None, :])
        else:
            out.weight.copy_(torch.as_tensor(head, dtype=torch.float64).reshape(1, -1))
        out.bias.fill_(0.25)
    return torch.nn.Sequential(lin, torch.nn.ReLU(), out)
