"""Bit packing of polytope codes: bool bits <-> ``uint8`` bytes, little bit order.

The one place where codes are packed and unpacked (see
:mod:`polylens.sampling.packed_codes` for the bit order of a code and its layout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from polylens.sampling.packed_codes import CodeLayout

__all__ = ["pack", "pack_tensor", "pack_bits", "unpack_bits"]

_BIT_WEIGHTS = (1, 2, 4, 8, 16, 32, 64, 128)


def pack(bits) -> np.ndarray:
    """Pack bool bits of shape (n, m) (numpy, or a tensor on any device) into ``uint8`` of
    shape (n, ceil(m / 8)), little bit order; a tensor is packed on its device, so only
    the packed bytes travel to the CPU.

    Raises
    ------
    None of its own
    """
    if isinstance(bits, np.ndarray):
        return np.packbits(bits, axis=1, bitorder="little")
    if bits.device.type == "cpu":
        return np.packbits(bits.numpy(), axis=1, bitorder="little")
    return pack_tensor(bits)


def pack_tensor(bits: "torch.Tensor") -> np.ndarray:
    """Pack a bool tensor of shape (n, m) on its device (the GPU path of :func:`pack`).

    Raises
    ------
    None of its own
    """
    import torch

    n, m = bits.shape
    pad = (-m) % 8
    b = bits.to(torch.uint8)
    if pad:
        b = torch.nn.functional.pad(b, (0, pad))
    weights = torch.tensor(_BIT_WEIGHTS, dtype=torch.uint8, device=bits.device)
    return (b.view(n, -1, 8) * weights).sum(dim=2, dtype=torch.uint8).cpu().numpy()


def pack_bits(bits, layout: "CodeLayout") -> np.ndarray:
    """Pack unpacked codes (bool, shape (n, n_bits)) into ``uint8`` of shape (n, n_bytes).

    The inverse of :meth:`Codes.unpack`; see the module docstring for the bit order.

    Raises
    ------
    ValueError
        If ``bits`` does not have shape (n, layout.n_bits).
    """
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.shape[1] != layout.n_bits:
        raise ValueError(f"pack_bits: `bits` must have shape (n, {layout.n_bits}); got {bits.shape}")
    bits = bits.astype(bool, copy=False)
    parts = [
        np.packbits(bits[:, s.bit_offset:s.bit_offset + s.n_bits], axis=1, bitorder="little")
        for s in layout.sites
    ]
    return np.concatenate(parts, axis=1) if parts else np.zeros((bits.shape[0], 0), np.uint8)


def unpack_bits(packed, layout: "CodeLayout") -> np.ndarray:
    """Unpack ``uint8`` codes of shape (n, n_bytes) into bool bits of shape (n, n_bits).

    The inverse of :func:`pack_bits` (the padding bits of each site are dropped).

    Raises
    ------
    None of its own
    """
    bits = np.unpackbits(np.asarray(packed), axis=1, bitorder="little")
    return bits[:, layout.bit_columns].astype(bool)
