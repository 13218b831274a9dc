"""One tiny run of the digits experiments, shared by the experiment tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_digits():
    """:func:`run_digits` on ``DigitsConfig.tiny()`` (a few seconds)."""
    from polylens.experiments.digits import DigitsConfig, run_digits

    return run_digits(DigitsConfig.tiny())
