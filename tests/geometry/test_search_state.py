"""The search's state in growable arrays: rows kept and filled as they grow, views never
invalidated, codes found again by their hashes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from polylens.geometry.mapped_arrays import mapping
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


def _resident_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status; mremap is Linux's")
def test_capacity_not_yet_used_holds_no_memory():
    cols = _Columns({"x": ((1 << 20,), np.int8, 3)})  # rows of 1 MiB
    before = _resident_mib()
    cols.append(17)
    cols.append(17)  # grows (in place) to 67 rows, 34 of them written
    grown = _resident_mib() - before
    assert cols.data["x"].shape[0] == 67 and mapping(cols.data["x"]) is not None
    assert grown < 50  # the 34 MiB written, not the 67 MiB of capacity
    assert np.all(cols["x"] == 3)


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


def _expansion(index: int, crossings: list, k: int = 2):
    from polylens.geometry.expansion import Expansion

    return Expansion(index, None, [(np.array(code, np.int8), (np.zeros(k), np.ones(k)), units)
                                   for code, units in crossings],
                     [], np.zeros(k), 1.0, True, len(crossings), None, np.zeros((1, k + 1)), 0)


def _merged(batches: list, state: SearchState | None = None) -> SearchState:
    from polylens.geometry.expansion import pack

    state = state or SearchState(n_units=3, k=2, n_outputs=1)
    if state.n == 0:
        state.add(np.array([[0, 0, 0]], np.int8))
    for batch in batches:
        state.merge(pack([_expansion(i, c) for i, c in batch], 3, 2, 1))
    return state


# Region codes: 0 = 000, 1 = 100, 2 = 010, 3 = 110.
BATCHES = [
    [(0, [([1, 0, 0], (0,)), ([0, 1, 0], (1,))])],
    [(1, [([0, 0, 0], (0,)), ([1, 1, 0], (1,)), ([1, 1, 0], (1, 2))]),  # 1 -> 3 twice (two facets)
     (2, [([0, 0, 0], (1,)), ([1, 1, 0], (0,))])],
    [(3, [([1, 0, 0], (1,)), ([0, 1, 0], (0,)), ([0, 0, 1], (2,))])],  # 3 -> 4: seen from one side
]


def test_a_facet_seen_from_both_sides_holds_one_crossing_row_and_edges_count_every_crossing():
    state = _merged(BATCHES)
    pairs, counts, units = state.edges()
    assert pairs.tolist() == [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]]
    assert counts.tolist() == [2, 2, 3, 2, 1]
    assert units == [(0,), (1,), (1,), (0,), (2,)]  # those of each pair's first crossing
    assert state.crossings.n == len(pairs)


def test_crossings_after_a_restore_count_with_those_before_it():
    whole = _merged(BATCHES)
    part = _merged(BATCHES[:2])
    restored = SearchState.from_arrays(part.to_arrays(), 3, 2, 1)
    resumed = _merged(BATCHES[2:], restored)
    for got, want in zip(resumed.edges(), whole.edges()):
        assert np.array_equal(np.asarray(got), np.asarray(want))
    assert resumed.crossings.n == whole.crossings.n == 5  # one row per pair after the restore too


def test_a_batch_that_crosses_no_facet_records_no_crossing():
    state = _merged([[(0, [])]])
    pairs, counts, units = state.edges()
    assert pairs.shape == (0, 2) and counts.size == 0 and units == [] and state.crossings.n == 0


def test_a_finished_state_hands_over_its_edges_as_views_and_gives_back_the_rest():
    state = _merged(BATCHES)
    vertices, pairs, counts, units = state.finish(np.arange(state.n))
    assert np.shares_memory(pairs, state.crossings.data["pair"]) and pairs.tolist()[-1] == [3, 4]
    assert counts.tolist() == [2, 2, 3, 2, 1] and units == [(0,), (1,), (1,), (0,), (2,)]
    assert len(vertices) == state.n and all(v.shape == (0, 2) for v in vertices)
    assert state.index is None and not {"hints", "vertex_count"} & set(state.regions.data)
    assert "unit" not in state.units.data


def test_edge_units_of_a_search_share_one_int_object_per_unit():
    import torch

    from polylens import PWLNet, enumerate_regions

    torch.manual_seed(0)
    net = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 400), torch.nn.ReLU()).double())
    res = enumerate_regions(net, None, progress=False, max_regions=2000)
    ints = {id(u) for units in res.edge_units for u in units}
    assert len(res.edge_units) > 1000 and len(ints) <= 400
    assert all(type(u) is int for units in res.edge_units for u in units)


def test_region_vertices_follow_from_the_counts_in_region_order_and_a_restore_sorts_the_blocks():
    import torch

    from polylens import PWLNet, enumerate_regions
    from polylens.geometry import search_state

    torch.manual_seed(1)
    net = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 30), torch.nn.ReLU()).double())
    res = enumerate_regions(net, ([-2, -2], [2, 2]), progress=False)
    state = SearchState(net.n_units, 2, net.output_dim)
    for i, v in enumerate(res.vertices):  # a region with no vertices known (count -1) between each
        state.add(np.stack([res.codes[i], 1 - res.codes[i]]))
        rows = state.vertices.append(v.shape[0])
        state.vertices.data["value"][rows] = v
        state.regions.data["vertex_count"][2 * i] = v.shape[0]
    assert state.n == 2 * res.n_regions  # no complement is another region's code
    subset = np.arange(0, state.n, 3)
    search_state.LIST_CHUNK, chunk = 7, search_state.LIST_CHUNK  # several chunks
    try:
        every, some = state.region_vertices(None), state.region_vertices(subset)
    finally:
        search_state.LIST_CHUNK = chunk
    assert all(np.array_equal(every[2 * i], v) and every[2 * i + 1].shape == (0, 2) for i, v in enumerate(res.vertices))
    assert all(np.array_equal(a, every[i]) for a, i in zip(some, subset))
    arrays = state.to_arrays()
    blocks = np.split(np.arange(arrays["vertex_owner"].size),
                      np.flatnonzero(np.diff(arrays["vertex_owner"])) + 1)[::-1]  # last region's block first
    order = np.concatenate(blocks)
    arrays["vertex_owner"], arrays["vertex_values"] = arrays["vertex_owner"][order], arrays["vertex_values"][order]
    restored = SearchState.from_arrays(arrays, net.n_units, 2, net.output_dim)
    assert all(np.array_equal(a, b) for a, b in zip(restored.region_vertices(None), every))
    with pytest.raises(ValueError, match="increasing"):
        state.region_vertices(np.array([1, 2, 2]))


# ----------------------------------------------------------------------------- failures lose nothing


@pytest.mark.parametrize("rows", [(1 << 22) + 1, 3], ids=["mapped", "ordinary"])
def test_a_resize_without_memory_leaves_the_column_as_it_was(rows, monkeypatch):
    import polylens.geometry.mapped_arrays as mapped_arrays

    columns = {"x": mapped_arrays.empty(rows, (), np.int8)}
    columns["x"][:] = 5
    assert (mapping(columns["x"]) is not None) == (rows > 3)

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(mapped_arrays, "empty", no_memory)
    monkeypatch.setattr(mapped_arrays, "mapping", lambda a: None)  # the mapped one is copied too
    with pytest.raises(MemoryError):
        mapped_arrays.resize(columns, "x", 2 * rows)
    assert columns["x"].shape == (rows,) and np.all(columns["x"] == 5)


def test_columns_that_cannot_grow_keep_their_rows_and_grow_on_the_next_append(monkeypatch):
    import polylens.geometry.search_state as search_state

    cols = _Columns({"x": ((2,), np.float64, 0.0), "n": ((), np.int64, -1)})
    cols.data["x"][cols.append(16)] = 1.0
    real, calls = search_state.resize, {"n": 0}

    def second_fails(columns, name, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError
        real(columns, name, rows)

    monkeypatch.setattr(search_state, "resize", second_fails)
    with pytest.raises(MemoryError):
        cols.append(10)  # "x" grows, "n" does not
    assert cols.n == 16 and np.all(cols["x"] == 1.0) and np.all(cols["n"] == -1)
    rows = cols.append(10)
    cols.data["x"][rows] = 2.0
    assert cols.n == 26 and np.all(cols["x"][16:] == 2.0) and np.all(cols["n"] == -1)


def test_a_code_index_truncated_finds_the_codes_kept_and_not_the_others():
    rng = np.random.default_rng(3)
    state = SearchState(n_units=40, k=2, n_outputs=1)
    codes = np.unique(rng.integers(0, 2, (3000, 40), dtype=np.int8), axis=0)
    rng.shuffle(codes)
    state.add(codes[:100])
    state.add(codes[100:])  # the table is rebuilt: later codes may sit on earlier ones' probe paths
    state.index.truncate(100)
    found, _ = state.index.find(codes)
    assert np.array_equal(found[:100], np.arange(100)) and np.all(found[100:] == -1)


@pytest.mark.parametrize("where", ["crossings", "vertices"])
def test_a_merge_that_fails_midway_leaves_the_state_as_before_it(where, monkeypatch):
    from polylens.geometry.expansion import pack

    state = _merged(BATCHES[:1])
    before = state.to_arrays()
    batch = pack([_expansion(i, c) for i, c in BATCHES[1]], 3, 2, 1)
    failing = getattr(state, where)

    def no_memory(count):
        raise MemoryError

    monkeypatch.setattr(failing, "append", no_memory)
    with pytest.raises(MemoryError):
        state.merge(batch)
    monkeypatch.undo()
    after = state.to_arrays()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    whole = _merged(BATCHES)
    resumed = _merged(BATCHES[1:], state)
    for got, want in zip(resumed.edges(), whole.edges()):
        assert np.array_equal(np.asarray(got), np.asarray(want))
    np.testing.assert_array_equal(resumed.regions["codes"], whole.regions["codes"])
    np.testing.assert_array_equal(resumed.regions["status"], whole.regions["status"])

