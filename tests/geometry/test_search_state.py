"""The search's state in growable arrays: rows kept and filled as they grow, views never
invalidated, codes found again by their packed keys."""

from __future__ import annotations

import numpy as np

from polylens.geometry.search_state import SearchState, _Columns


def test_columns_grow_keeping_their_rows_and_filling_the_new_ones():
    cols = _Columns({"x": ((3,), np.float64, np.nan), "n": ((), np.int64, -1)})
    for i in range(300):
        rows = cols.append(5)
        cols.data["x"][rows] = i
    assert cols.n == 1500
    assert np.array_equal(cols["x"][:, 0], np.repeat(np.arange(300.0), 5)) and np.all(cols["n"] == -1)
    assert cols.data["x"].shape[0] >= cols.n


def test_a_view_taken_before_growth_stays_valid():
    cols = _Columns({"x": ((2,), np.float64, 0.0)})
    rows = cols.append(10)
    cols.data["x"][rows] = 7.0
    view = cols["x"]
    rows = cols.append(100_000)  # grows while the view refers to the array
    cols.data["x"][rows] = 1.0
    assert view.shape == (10, 2) and np.all(view == 7.0)
    assert np.all(cols["x"][:10] == 7.0) and np.all(cols["x"][10:] == 1.0)
    cols.trim()
    assert cols.data["x"].shape == (100_010, 2) and np.all(cols["x"][10:] == 1.0)


def test_codes_are_found_again_by_packed_and_by_raw_keys():
    rng = np.random.default_rng(0)
    for packed, high in ((True, 2), (False, 4)):
        state = SearchState(n_units=21, k=2, n_outputs=1, packed=packed)
        codes = rng.integers(0, high, (400, 21), dtype=np.int8)
        first = state.add(codes)
        again = state.add(codes[::-1])
        distinct = np.unique(codes, axis=0).shape[0]
        assert state.n == distinct and np.array_equal(again, first[::-1])
        assert np.array_equal(state.regions["codes"][first], codes)
