"""Small seeded models with functional activations, shared modules, pooling and multi-piece
units, shared by the sampling tests (no polylens imports)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class TwoBranch(nn.Module):
    """Functional activations, a shared ReLU module called twice, a residual add."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 6)
        self.act = nn.ReLU()
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = self.act(self.b(h)) + h
        h = self.act(self.b(h)).clamp(min=0.1)
        return self.head(h.abs())


def small_cnn() -> nn.Sequential:
    """1x6x6 -> 3: conv, BatchNorm, ReLU, max-pool, conv, ReLU6 (two boundaries), overlapping max-pool."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(2, stride=1),
        nn.Flatten(), nn.Linear(4 * 2 * 2, 3),
    ).double().eval()


def conv1d_net() -> nn.Sequential:
    """1x12 -> 2: strided conv, LeakyReLU, padded max-pool, conv, Hardtanh."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv1d(1, 2, 5, stride=2, padding=2), nn.LeakyReLU(0.1), nn.MaxPool1d(3, stride=2, padding=1),
        nn.Conv1d(2, 2, 3, padding=1), nn.Hardtanh(-0.5, 0.5), nn.Flatten(), nn.Linear(2 * 3, 2),
    ).double().eval()
