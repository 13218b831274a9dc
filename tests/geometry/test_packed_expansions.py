"""Batches of expansions as stacked arrays: packed, joined in region order, cut to their
first regions and unpacked, nothing lost or reordered within a region."""

from __future__ import annotations

import numpy as np

from polylens.geometry.packed_expansions import Expansion, head, join, pack, unpack


def _random_expansions(rng, indices, n_units=4, k=2):
    out = []
    for i in indices:
        crossings = [(rng.integers(0, 2, n_units).astype(np.int8), (rng.standard_normal(k), rng.standard_normal(k)),
                      tuple(sorted(rng.choice(n_units, rng.integers(1, 3), replace=False).tolist())))
                     for _ in range(rng.integers(0, 4))]
        vertices = None if rng.random() < 0.3 else rng.standard_normal((rng.integers(0, 5), k))
        out.append(Expansion(int(i), None if rng.random() < 0.8 else f"empty {i}", crossings, [f"note {i}"] * (i % 2),
                             rng.standard_normal(k), float(rng.random()), bool(rng.random() < 0.5), len(crossings),
                             vertices, rng.standard_normal((1, k + 1)), int(rng.integers(0, 3))))
    return out


def _same(a, b):
    assert (a.index, a.empty, a.notes, a.radius, a.bounded, a.n_facets, a.lp_solves) == (
        b.index, b.empty, b.notes, b.radius, b.bounded, b.n_facets, b.lp_solves)
    assert np.array_equal(a.point, b.point) and np.array_equal(a.out_map, b.out_map)
    assert (a.vertices is None) == (b.vertices is None)
    assert a.vertices is None or np.array_equal(a.vertices, b.vertices)
    assert len(a.crossings) == len(b.crossings)
    for (ca, (pa, na), ua), (cb, (pb, nb), ub) in zip(a.crossings, b.crossings):
        assert np.array_equal(ca, cb) and np.array_equal(pa, pb) and np.array_equal(na, nb) and ua == ub


def test_packed_expansions_unpack_to_what_was_packed():
    expansions = _random_expansions(np.random.default_rng(0), range(12))
    for a, b in zip(unpack(pack(expansions, 4, 2, 1)), expansions, strict=True):
        _same(a, b)


def test_joined_batches_come_in_index_order_and_a_head_keeps_the_first_regions():
    rng = np.random.default_rng(1)
    expansions = _random_expansions(rng, range(20))
    mask = rng.random(20) < 0.6  # two interleaved parts, as a wave and the one-region route give them
    parts = [pack([e for e, m in zip(expansions, mask) if m == side], 4, 2, 1) for side in (True, False)]
    joined = join(parts)
    for a, b in zip(unpack(joined), expansions, strict=True):
        _same(a, b)
    for a, b in zip(unpack(head(joined, 7)), expansions[:7], strict=True):
        _same(a, b)
    assert join([pack([], 4, 2, 1)]).index.size == 0
