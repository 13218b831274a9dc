"""Puts this folder on ``sys.path`` for ``_shapes`` (nets of known topology)."""

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
