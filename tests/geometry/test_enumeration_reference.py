"""Enumeration gives exactly the answers saved from the one-region-at-a-time search
(``reference/enumerations.npz``, written before the search expanded the frontier in
waves): every field, bit for bit, on nets over R^k, boxes, a polyhedron, a 2-D slice,
the LP method, duplicate and zero units, and a budget stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _enumeration_cases import CASES, flatten, run_case

REFERENCE = Path(__file__).parent / "reference" / "enumerations.npz"


@pytest.mark.parametrize("name", sorted(CASES))
def test_enumeration_matches_the_saved_answer_bit_for_bit(name):
    got = flatten(run_case(name))
    with np.load(REFERENCE) as saved:
        for field, value in got.items():
            expected = saved[f"{name}/{field}"]
            assert value.dtype.kind == expected.dtype.kind and value.shape == expected.shape, field
            assert np.array_equal(value, expected), f"{name}: field {field} differs"
