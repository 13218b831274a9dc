"""One tiny run of the digits experiments, shared by the experiment tests."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)  # the exact engine's many small torch operations only slow down with more


@pytest.fixture(scope="session")
def tiny_digits():
    """:func:`run_digits` on ``DigitsConfig.tiny()`` (a few seconds)."""
    from polylens.experiments.digits import DigitsConfig, run_digits

    return run_digits(DigitsConfig.tiny())
