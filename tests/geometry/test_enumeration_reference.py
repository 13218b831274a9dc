"""Enumeration gives the answers saved from the one-region-at-a-time search
(``reference/enumerations.npz``, written before the search expanded the frontier in
waves) on nets over R^k, boxes, a polyhedron, a 2-D slice, the LP method, duplicate and
zero units, and a budget stop; and waves of any size give one answer, bit for bit.

The saved answers were written on one machine. LP solvers and BLAS round differently on
other CPUs, so against the file the discrete fields (codes, order, edges, counts) must be
equal and the floating-point fields (points, radii, vertices, maps) equal to
``FLOAT_RTOL`` of the field's magnitude (each region's vertices taken in the order the
engine now gives them: counter-clockwise in a plane); in one process, on one machine, the wave size
must not change a single bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _enumeration_cases import CASES, flatten, run_case

REFERENCE = Path(__file__).parent / "reference" / "enumerations.npz"


#: Largest difference allowed in a floating-point field against the saved answers, as a
#: fraction of the field's largest magnitude (round-off of another CPU, not of the method).
FLOAT_RTOL = 1e-12


def _in_order(saved, name: str) -> np.ndarray:
    """The saved vertices (written in Qhull's order) in the order regions give them now
    (counter-clockwise in a plane, see ``region.in_order``)."""
    from polylens.geometry.region import in_order

    counts, values, points = (saved[f"{name}/{f}"] for f in ("vertex_counts", "vertex_values", "points"))
    ends = np.cumsum(counts)
    return np.concatenate([values[:0], *(in_order(values[e - n:e], p) for n, e, p in zip(counts, ends, points))])


@pytest.mark.parametrize("name", sorted(CASES))
def test_enumeration_matches_the_saved_answer(name):
    got = flatten(run_case(name))
    with np.load(REFERENCE) as saved:
        for field, value in got.items():
            expected = _in_order(saved, name) if field == "vertex_values" else saved[f"{name}/{field}"]
            assert value.dtype.kind == expected.dtype.kind and value.shape == expected.shape, field
            if value.dtype.kind == "f":
                scale = float(np.abs(expected).max(initial=0.0))
                assert np.allclose(value, expected, rtol=0.0, atol=FLOAT_RTOL * scale), f"{name}: field {field} differs"
            else:
                assert np.array_equal(value, expected), f"{name}: field {field} differs"


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_region_waves_give_the_same_answer_bit_for_bit(name, monkeypatch):
    import polylens.geometry.enumeration as enumeration

    waves = flatten(run_case(name))
    monkeypatch.setattr(enumeration, "BATCH_REGIONS", 1)
    one_by_one = flatten(run_case(name))
    assert waves.keys() == one_by_one.keys()
    for field, value in waves.items():
        assert np.array_equal(value, one_by_one[field]), f"{name}: field {field} differs"


def _unique_rows_by_all_pairs(points):
    """The definition of ``unique_rows``, comparing every pair."""
    from polylens import tolerances as tol
    from polylens.geometry.space import ROUNDOFF

    size = np.abs(points).max(axis=1)
    spread = float(np.max(points.max(axis=0) - points.min(axis=0)))
    atol = tol.VERTEX_MERGE * np.maximum(size[:, None], size[None, :]) + ROUNDOFF * spread
    close = np.abs(points[:, None, :] - points[None, :, :]).max(axis=2) <= atol
    return points[~np.any(np.tril(close, -1), axis=1)]


@pytest.mark.parametrize("seed", range(6))
def test_unique_rows_drops_the_same_rows_as_comparing_every_pair(seed):
    from polylens.geometry.region import unique_rows

    rng = np.random.default_rng(seed)
    k = 1 + seed % 4
    points = rng.standard_normal((60, k)) * 10.0 ** rng.integers(-3, 4)
    copies = points[rng.integers(0, 60, 30)]
    noise = rng.standard_normal(copies.shape) * np.abs(copies).max() * 10.0 ** rng.uniform(-12, -7, (30, 1))
    points = rng.permutation(np.vstack([points, copies + noise, copies[:5]]))
    points[:3, 0] = points[3, 0]  # ties in the sorted coordinate
    assert np.array_equal(unique_rows(points), _unique_rows_by_all_pairs(points))
