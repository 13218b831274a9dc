"""The search's state in growable arrays: rows kept and filled as they grow, views never
invalidated, codes found again by their hashes."""

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


def test_codes_are_found_again_by_their_hashes():
    rng = np.random.default_rng(0)
    for high in (2, 4):
        state = SearchState(n_units=21, k=2, n_outputs=1)
        codes = rng.integers(0, high, (400, 21), dtype=np.int8)
        first = state.add(codes)
        again = state.add(codes[::-1])
        distinct = np.unique(codes, axis=0).shape[0]
        assert state.n == distinct and np.array_equal(again, first[::-1])
        assert np.array_equal(state.regions["codes"][first], codes)


def test_new_codes_join_in_the_order_they_first_appear_across_many_table_growths():
    rng = np.random.default_rng(1)
    state = SearchState(n_units=70, k=2, n_outputs=1)
    seen: dict = {}
    for _ in range(40):
        batch = rng.integers(0, 2, (500, 70), dtype=np.int8)
        batch[::7] = batch[0]  # repeats inside a batch
        got = state.add(batch)
        for code, index in zip(batch, got):
            assert seen.setdefault(code.tobytes(), len(seen)) == index
    assert state.n == len(seen) and len(state.index) == state.n


def test_codes_whose_hashes_collide_are_told_apart(monkeypatch):
    import polylens.geometry.code_index as code_index

    monkeypatch.setattr(code_index, "code_hashes", lambda codes: np.zeros(codes.shape[0], np.uint64))
    state = SearchState(n_units=5, k=2, n_outputs=1)
    codes = np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [0, 1, 0, 1, 1], [0, 0, 0, 0, 1]], np.int8)
    assert state.add(codes).tolist() == [0, 1, 0, 2]
    assert state.add(codes[::-1]).tolist() == [2, 0, 1, 0]
