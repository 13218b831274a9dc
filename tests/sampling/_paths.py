"""Exact crossings of a segment with the boundaries of a small MLP (no polylens imports).

Two independent oracles for the density tests: a closed form for one hidden layer (each
hyperplane ``w . x + b = 0`` is crossed at most once, at ``s = -(w . p0 + b) / (w . d)``)
and a march for deep ``nn.Sequential`` MLPs of Linear and ReLU/LeakyReLU layers: with
every unit frozen to its piece the pre-activations are affine in the path parameter ``s``,
so the next boundary is the smallest root ahead; step past it and refreeze.
"""

from __future__ import annotations

import numpy as np
import torch


def one_layer_crossings(W: np.ndarray, b: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> int:
    """Hyperplanes ``W[j] . x + b[j] = 0`` strictly crossed by the segment p0 -> p1."""
    z0, z1 = W @ p0 + b, W @ p1 + b
    return int(np.count_nonzero((z0 > 0) != (z1 > 0)))


def _layers(seq: torch.nn.Sequential):
    out = []
    for m in seq:
        if isinstance(m, torch.nn.Linear):
            out.append(["linear", m.weight.detach().double().numpy(), m.bias.detach().double().numpy()])
        elif isinstance(m, torch.nn.LeakyReLU):
            out.append(["act", m.negative_slope])
        elif isinstance(m, torch.nn.ReLU):
            out.append(["act", 0.0])
        else:
            raise TypeError(f"oracle: unsupported module {type(m).__name__}")
    return out


def _preacts(layers, x: np.ndarray) -> np.ndarray:
    """All activation inputs at points x of shape (n, d): shape (n, n_units)."""
    pre, a = [], x
    for layer in layers:
        if layer[0] == "linear":
            a = a @ layer[1].T + layer[2]
        else:
            pre.append(a)
            a = np.where(a > 0, a, layer[1] * a)
    return np.concatenate(pre, axis=1)


def _frozen(layers, masks: np.ndarray, p0: np.ndarray, d: np.ndarray):
    """Pre-activations c + s g of every unit on the line p0 + s d with pieces ``masks``."""
    c, g, offset, pre_c, pre_g = p0, d, 0, [], []
    for layer in layers:
        if layer[0] == "linear":
            c, g = layer[1] @ c + layer[2], layer[1] @ g
        else:
            n = c.shape[0]
            pre_c.append(c)
            pre_g.append(g)
            slope = np.where(masks[offset:offset + n], 1.0, layer[1])
            c, g = slope * c, slope * g
            offset += n
    return np.concatenate(pre_c), np.concatenate(pre_g)


def march(seq: torch.nn.Sequential, p0, p1, eps: float = 1e-10):
    """Every boundary crossing on the segment p0 -> p1.

    Returns
    -------
    s : ndarray of shape (n_crossings,)
        Positions in [0, 1] along the segment.
    units : ndarray of shape (n_crossings,), int
        The unit whose pre-activation changes sign there.
    """
    layers = _layers(seq)
    p0, p1 = np.asarray(p0, np.float64).ravel(), np.asarray(p1, np.float64).ravel()
    d = p1 - p0
    s, found_s, found_u = 0.0, [], []
    while True:
        masks = _preacts(layers, (p0 + (s + eps) * d)[None])[0] > 0
        c, g = _frozen(layers, masks, p0, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            roots = np.where(g != 0, -c / g, np.inf)
        roots[roots <= s + eps] = np.inf
        j = int(np.argmin(roots))
        if roots[j] >= 1.0:
            return np.array(found_s), np.array(found_u, dtype=int)
        s = float(roots[j])
        found_s.append(s)
        found_u.append(j)
