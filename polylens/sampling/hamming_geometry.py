"""Hamming geometry of packed codes: distances, pairwise matrices, distinct codes, per-site stats.

Everything works on the packed bytes (XOR + popcount, numpy's ``bitwise_count``); the
pairwise matrix has a torch path for GPUs. Sites start on byte boundaries (see
:mod:`polylens.sampling.packed_codes`), so per-site distances are sums over byte ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from polylens._repr import short_repr
from polylens._validation import invalid
from polylens.sampling.packed_codes import Codes

__all__ = [
    "hamming", "hamming_by_site", "crossings_by_site", "pairwise_hamming", "n_distinct", "site_stats", "SiteStats",
]

# Pairwise blocks: a few rows against up to this many columns keep the working set in
# cache (measured fastest on an AVX-512 CPU; see benchmarks/bench_sampling.py).
_ROW_BLOCK = 8
_COL_BLOCK = 4096
_TILE = 256


def _packed(codes, argument: str, func: str) -> np.ndarray:
    if isinstance(codes, Codes):
        return codes.packed
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise invalid(func, argument, "Codes or a uint8 array of packed codes", f"an array of dtype {arr.dtype}")
    return arr


def hamming(a, b) -> np.ndarray:
    """Hamming distance between packed codes, row by row.

    Parameters
    ----------
    a, b : Codes or ndarray of shape (n, n_bytes) or (n_bytes,), uint8
        Broadcast against each other (one code against many works).

    Returns
    -------
    ndarray of shape (n,), int64 (a scalar array for two single codes)

    Raises
    ------
    InvalidParameterError
        If ``a`` or ``b`` is neither Codes nor a uint8 array of packed codes.
    ValueError
        If ``a`` and ``b`` have different bytes per code.

    Examples
    --------
    >>> hamming(np.array([0b1011], np.uint8), np.array([[0b0001], [0b1011]], np.uint8))
    array([2, 0])
    """
    pa, pb = _packed(a, "a", "hamming"), _packed(b, "b", "hamming")
    if pa.shape[-1] != pb.shape[-1]:
        raise ValueError(f"hamming: `a` has {pa.shape[-1]} bytes per code but `b` has {pb.shape[-1]}")
    return np.bitwise_count(np.bitwise_xor(pa, pb)).sum(axis=-1, dtype=np.int64)


def hamming_by_site(a: Codes, b: Codes) -> np.ndarray:
    """Hamming distance per site, row by row.

    Parameters
    ----------
    a, b : Codes
        Same layout; rows broadcast (``len(a)`` or ``len(b)`` may be 1).

    Returns
    -------
    ndarray of shape (n, n_sites), int64
        Column ``s`` is the distance over site ``a.layout.sites[s]``; rows sum to
        :func:`hamming`.

    Raises
    ------
    TypeError
        If ``a`` or ``b`` is not Codes.
    ValueError
        If ``a`` and ``b`` have different sites.
    """
    if not isinstance(a, Codes) or not isinstance(b, Codes):
        raise TypeError("hamming_by_site: `a` and `b` must be Codes (the layout gives the sites)")
    if a.layout.names != b.layout.names or a.n_bytes != b.n_bytes:
        raise ValueError(f"hamming_by_site: `a` and `b` have different sites: {a.layout.names} vs {b.layout.names}")
    counts = np.bitwise_count(np.bitwise_xor(a.packed, b.packed))
    return np.add.reduceat(counts.astype(np.int64), a.layout.byte_starts, axis=1)


def crossings_by_site(a: Codes, b: Codes) -> np.ndarray:
    """Boundary crossings that separate two codes, per site, row by row.

    The Hamming distance, halved on one-hot (max-pooling) sites where one change of
    arg-max flips two bits: for thermometer sites (ReLU-like, Hardtanh) every bit is one
    boundary. Between two points, at least this many boundaries lie on any path.

    Parameters
    ----------
    a, b : Codes
        Same layout; rows broadcast.

    Returns
    -------
    ndarray of shape (n, n_sites), int64

    Raises
    ------
    TypeError
        If ``a`` or ``b`` is not Codes.
    ValueError
        If ``a`` and ``b`` have different sites.
    """
    per_bit = np.array([s.bits_per_change for s in a.layout.sites])
    return hamming_by_site(a, b) // per_bit


def pairwise_hamming(codes, other=None, *, device=None, progress: bool = True) -> np.ndarray:
    """All pairwise Hamming distances.

    Parameters
    ----------
    codes : Codes or ndarray of shape (n, n_bytes), uint8
    other : Codes or ndarray of shape (m, n_bytes), optional
        Default ``codes`` itself (then only one triangle is computed and mirrored).
    device : str or torch.device, optional
        Run in torch on this device (for a GPU: unpacked bits times their transpose,
        ``d = |a| + |b| - 2 a.b``, exact in float32 below 2**24 bits). Default: numpy
        on the CPU (XOR + ``bitwise_count``, blocked for the cache).
    progress : bool, default=True
        Show a progress bar over row blocks.

    Returns
    -------
    ndarray of shape (n, m), int32

    Raises
    ------
    InvalidParameterError
        If ``codes`` or ``other`` is neither Codes nor a uint8 array of packed codes.
    ValueError
        If ``codes`` and ``other`` are not 2-D with the same bytes per code.

    Examples
    --------
    >>> pairwise_hamming(np.array([[0], [1], [3]], np.uint8))
    array([[0, 1, 2],
           [1, 0, 1],
           [2, 1, 0]], dtype=int32)
    """
    a = _packed(codes, "codes", "pairwise_hamming")
    b = a if other is None else _packed(other, "other", "pairwise_hamming")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"pairwise_hamming: `codes` and `other` must be 2-D with the same bytes per code; got {a.shape}, {b.shape}"
        )
    if device is not None:
        return _pairwise_torch(a, b, device, progress)
    return _pairwise_numpy(a, b, symmetric=other is None, progress=progress)


def _words(packed: np.ndarray) -> np.ndarray:
    """Packed rows as uint64 words, transposed: shape (n_words, n), contiguous."""
    n, nb = packed.shape
    padded = np.zeros((n, -(-nb // 8) * 8), dtype=np.uint8)
    padded[:, :nb] = packed
    return np.ascontiguousarray(padded.view(np.uint64).T)


def _pairwise_numpy(a: np.ndarray, b: np.ndarray, symmetric: bool, progress: bool) -> np.ndarray:
    wa = _words(a)
    wb = wa if symmetric else _words(b)
    n, m = a.shape[0], b.shape[0]
    out = np.empty((n, m), dtype=np.int32)
    acc_type = np.uint16 if 8 * a.shape[1] < 2**16 else np.uint32
    rows = range(0, n, _ROW_BLOCK)
    for i in tqdm(rows, disable=not progress, desc="pairwise_hamming", unit="block"):
        i1 = min(i + _ROW_BLOCK, n)
        for j in range(i if symmetric else 0, m, _COL_BLOCK):
            j1 = min(j + _COL_BLOCK, m)
            acc = np.zeros((i1 - i, j1 - j), dtype=acc_type)
            xor = np.empty(acc.shape, dtype=np.uint64)
            cnt = np.empty(acc.shape, dtype=np.uint8)
            for w in range(wa.shape[0]):
                np.bitwise_xor(wa[w, i:i1, None], wb[w, None, j:j1], out=xor)
                np.bitwise_count(xor, out=cnt)
                np.add(acc, cnt, out=acc)
            out[i:i1, j:j1] = acc
    if symmetric:  # mirror the upper triangle, tile by tile (cache-friendly)
        for i in range(0, n, _TILE):
            tile = out[i:i + _TILE, i:i + _TILE]
            tile[...] = np.triu(tile) + np.triu(tile, 1).T
            for j in range(i + _TILE, n, _TILE):
                out[j:j + _TILE, i:i + _TILE] = out[i:i + _TILE, j:j + _TILE].T
    return out


def _pairwise_torch(a: np.ndarray, b: np.ndarray, device, progress: bool) -> np.ndarray:
    import torch

    device = torch.device(device)
    ta = _bits_torch(a, device)
    tb = ta if b is a else _bits_torch(b, device)
    na, nb = ta.sum(dim=1), tb.sum(dim=1)
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    block = max(1, 2**26 // max(1, b.shape[0]))
    for i in tqdm(range(0, a.shape[0], block), disable=not progress, desc="pairwise_hamming", unit="block"):
        dot = ta[i:i + block] @ tb.T
        d = na[i:i + block, None] + nb[None, :] - 2 * dot
        out[i:i + block] = d.round().to(torch.int32).cpu().numpy()
    return out


def _bits_torch(packed: np.ndarray, device):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(packed)).to(device)
    shifts = torch.arange(8, dtype=torch.uint8, device=device)
    bits = (t[:, :, None] >> shifts) & 1
    return bits.reshape(t.shape[0], -1).to(torch.float32)


def n_distinct(codes, sites=None) -> int:
    """Number of distinct codes (rows), optionally over some sites only.

    Parameters
    ----------
    codes : Codes or ndarray of shape (n, n_bytes), uint8
    sites : sequence of str, optional
        Site names (needs ``Codes``).

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        If ``codes`` is neither Codes nor a uint8 array of packed codes.
    TypeError
        If ``sites`` is given but ``codes`` is not Codes.
    ValueError
        If ``sites`` is empty.
    KeyError
        If ``sites`` names a site the codes do not have.
    """
    if sites is not None:
        if not isinstance(codes, Codes):
            raise TypeError("n_distinct: `sites` needs `codes` to be Codes")
        codes = codes.select(sites)
    packed = np.ascontiguousarray(_packed(codes, "codes", "n_distinct"))
    if packed.shape[0] == 0:
        return 0
    return int(np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel()).shape[0])


@short_repr
@dataclass(frozen=True)
class SiteStats:
    """Per-site breakdown of a set of codes.

    Attributes
    ----------
    sites : list of str
    n_units : ndarray of shape (n_sites,), int
    active_fraction : ndarray of shape (n_sites,)
        Mean of all the site's bits over samples.
    dead_units : ndarray of shape (n_sites,), int
        Units whose bits are 0 in every sample (for ReLU: never on).
    always_on_units : ndarray of shape (n_sites,), int
        Units whose bits are all 1 in every sample.
    n_distinct : ndarray of shape (n_sites,), int
        Distinct codes of the site alone.
    bit_frequency : ndarray of shape (n_bits,)
        Fraction of samples with each bit set.
    """

    sites: list
    n_units: np.ndarray
    active_fraction: np.ndarray
    dead_units: np.ndarray
    always_on_units: np.ndarray
    n_distinct: np.ndarray
    bit_frequency: np.ndarray


def site_stats(codes: Codes, chunk_rows: int = 65536) -> SiteStats:
    """Per-site activity and distinct codes, read in chunks (works on memory-mapped stores).

    Parameters
    ----------
    codes : Codes
    chunk_rows : int, default=65536
        Rows unpacked at a time.

    Returns
    -------
    SiteStats

    Raises
    ------
    InvalidParameterError
        If ``codes`` is not Codes.
    ValueError
        If ``codes`` is empty.
    """
    if not isinstance(codes, Codes):
        raise invalid("site_stats", "codes", "Codes", type(codes).__name__)
    if len(codes) == 0:
        raise ValueError("site_stats: `codes` is empty")
    layout = codes.layout
    ones = np.zeros(layout.n_bits, dtype=np.int64)
    for i in range(0, len(codes), chunk_rows):
        ones += codes[i:i + chunk_rows].unpack().sum(axis=0)
    freq = ones / len(codes)
    unit = layout.unit_of_bit()
    unit_zero = np.ones(layout.n_units, dtype=bool)
    unit_one = np.ones(layout.n_units, dtype=bool)
    np.logical_and.at(unit_zero, unit, ones == 0)
    np.logical_and.at(unit_one, unit, ones == len(codes))
    starts = np.array([0] + [s.n_units for s in layout.sites]).cumsum()
    return SiteStats(
        sites=layout.names,
        n_units=np.array([s.n_units for s in layout.sites]),
        active_fraction=np.array([freq[s.bit_offset:s.bit_offset + s.n_bits].mean() for s in layout.sites]),
        dead_units=np.add.reduceat(unit_zero.astype(np.int64), starts[:-1]),
        always_on_units=np.add.reduceat(unit_one.astype(np.int64), starts[:-1]),
        n_distinct=np.array([n_distinct(codes, [name]) for name in layout.names]),
        bit_frequency=freq,
    )
