"""Hamming geometry against naive bit counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nets import make_mlp

from polylens.sampling import (
    CodeLayout,
    Codes,
    codes,
    crossings_by_site,
    hamming,
    hamming_by_site,
    n_distinct,
    pairwise_hamming,
    site_stats,
)

torch.set_num_threads(1)


def _layout():
    return CodeLayout.build([
        ("a", "ReLU", (13,), 1, (0.0,), False, "thermometer"),
        ("b", "MaxPool2d", (3,), 4, (), False, "one-hot"),
        ("c", "ReLU", (70,), 1, (0.0,), False, "thermometer"),
    ])


def _random_codes(n: int, seed: int) -> tuple[Codes, np.ndarray]:
    rng = np.random.default_rng(seed)
    layout = _layout()
    bits = rng.random((n, layout.n_bits)) > 0.5
    onehot = np.zeros((n, 3, 4), bool)
    onehot[np.arange(n)[:, None], np.arange(3)[None, :], rng.integers(0, 4, (n, 3))] = True
    bits[:, 13:25] = onehot.reshape(n, 12)
    return Codes.from_bits(bits, layout), bits


def test_hamming_equals_a_naive_count_of_differing_bits():
    c, bits = _random_codes(50, 0)
    naive = (bits[:25] != bits[25:]).sum(axis=1)
    np.testing.assert_array_equal(hamming(c[:25], c[25:]), naive)
    np.testing.assert_array_equal(hamming(c.packed[0], c.packed), (bits[0] != bits).sum(axis=1))


def test_per_site_hamming_sums_to_the_total_and_crossings_halve_one_hot_sites():
    c, bits = _random_codes(40, 1)
    per_site = hamming_by_site(c[:20], c[20:])
    np.testing.assert_array_equal(per_site.sum(axis=1), hamming(c[:20], c[20:]))
    np.testing.assert_array_equal(per_site[:, 0], (bits[:20, :13] != bits[20:, :13]).sum(axis=1))
    changed_windows = (bits[:20, 13:25].reshape(20, 3, 4) != bits[20:, 13:25].reshape(20, 3, 4)).any(axis=2).sum(1)
    np.testing.assert_array_equal(crossings_by_site(c[:20], c[20:])[:, 1], changed_windows)


@pytest.mark.parametrize("n, m", [(1, 1), (37, 37), (20, 9)])
def test_pairwise_hamming_equals_naive_counts_on_numpy_and_torch_paths(n, m):
    c, bits = _random_codes(n + m, 2)
    naive_self = (bits[:n, None, :] != bits[None, :n, :]).sum(axis=2)
    np.testing.assert_array_equal(pairwise_hamming(c[:n]), naive_self)
    naive = (bits[:n, None, :] != bits[None, n:, :]).sum(axis=2)
    np.testing.assert_array_equal(pairwise_hamming(c[:n], c[n:]), naive)
    np.testing.assert_array_equal(pairwise_hamming(c[:n], c[n:], device="cpu"), naive)
    np.testing.assert_array_equal(pairwise_hamming(c[:n], device="cpu"), naive_self)


def test_pairwise_hamming_spans_several_blocks_and_wide_codes():
    rng = np.random.default_rng(3)
    packed = rng.integers(0, 256, (23, 9000), dtype=np.uint8)  # 72000 bits: 32-bit accumulators
    D = pairwise_hamming(packed)
    i, j = 3, 17
    assert D[i, j] == D[j, i] == np.unpackbits(packed[i] ^ packed[j]).sum()
    assert np.all(np.diag(D) == 0)


def test_hamming_rejects_mismatched_code_widths_naming_the_arguments():
    with pytest.raises(ValueError, match="`a` has 2 bytes per code but `b` has 3"):
        hamming(np.zeros((1, 2), np.uint8), np.zeros((1, 3), np.uint8))
    with pytest.raises(TypeError, match="`codes`"):
        pairwise_hamming(np.zeros((2, 2), np.int64))


def test_distinct_codes_and_site_stats_match_direct_counts():
    model = make_mlp(2, [6, 5], seed=4)
    x = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = codes(model, x, progress=False)
    bits = c.unpack()
    assert n_distinct(c) == len({row.tobytes() for row in bits})
    assert n_distinct(c, ["3"]) == len({row.tobytes() for row in bits[:, 6:]})
    stats = site_stats(c, chunk_rows=77)
    assert stats.sites == ["1", "3"]
    np.testing.assert_allclose(stats.bit_frequency, bits.mean(axis=0))
    assert stats.dead_units.tolist() == [int((~bits[:, :6]).all(0).sum()), int((~bits[:, 6:]).all(0).sum())]
    assert stats.always_on_units.tolist() == [int(bits[:, :6].all(0).sum()), int(bits[:, 6:].all(0).sum())]
    assert stats.n_distinct[1] == n_distinct(c, ["3"])


def test_symmetric_pairwise_matrix_is_mirrored_across_several_tiles():
    packed = np.random.default_rng(5).integers(0, 256, (300, 3), dtype=np.uint8)
    bits = np.unpackbits(packed, axis=1)
    naive = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(pairwise_hamming(packed), naive)
