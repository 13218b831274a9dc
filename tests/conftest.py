"""Shared test set-up: single-threaded torch and small seeded nets.

Helpers without polylens imports live next to this file: ``_nets.py`` (seeded torch
models) and ``_oracles.py`` (independent numpy/scipy/torch oracles). This file puts
``tests/`` on ``sys.path`` so test modules can import them under
``--import-mode=importlib``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from _nets import make_mlp  # noqa: E402


@pytest.fixture
def net2d():
    """A 2-8-8-2 ReLU PWLNet (float64), seed 3: 49 regions in Box(-2, 2)."""
    from polylens import PWLNet

    return PWLNet.from_torch(make_mlp(2, [8, 8], out=2, seed=3))


@pytest.fixture
def net3d():
    """A 3-6-5-1 ReLU PWLNet (float64), seed 5."""
    from polylens import PWLNet

    return PWLNet.from_torch(make_mlp(3, [6, 5], out=1, seed=5))
