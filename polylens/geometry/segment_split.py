"""Layer-by-layer splitting of a segment into the pieces of a piecewise-linear net (private).

The 1-D analogue of :mod:`polylens.geometry.splitting`. The segment
``x = origin + t * direction``, ``t`` in ``[lo, hi]``, is kept as sorted breakpoints, each
carrying the values the rest of the program reads. Before layer ``L`` is cut, every
interval between consecutive breakpoints lies in one region of the layers before it, so
each input of layer ``L`` is affine on it: a unit's root on an interval is found by linear
interpolation, and the new breakpoint's carried values by the same interpolation. The
program then runs on from one layer to the next at the breakpoints (``program.advance``,
in blocks of rows), never again from the input. A max-pool window is cut at the zero of
the difference of every pair of its entries. Each interval's piece of every unit is read
at its midpoint (the boundary rule of :mod:`polylens.models.activations`: a unit on its
breakpoint along a whole interval takes its lower piece; a window's tie goes to its first
entry). No LP is solved.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from polylens import tolerances as tol
from polylens.errors import UnsupportedLayerError
from polylens.geometry.splitting import _chunk_rows, _codes, _on_line, _view
from polylens.models.activations import Elementwise, MaxPool
from polylens.models.carry import Carried
from polylens.models.pwlnet import PWLNet

__all__ = ["split_segment"]


def split_segment(net: PWLNet, origin: np.ndarray, direction: np.ndarray, lo: float,
                  hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the segment ``origin + t * direction``, ``lo <= t <= hi``, into its pieces.

    Parameters
    ----------
    net : PWLNet
    origin, direction : ndarray of shape (input_dim,)
    lo, hi : float
        ``lo < hi``.

    Returns
    -------
    codes : ndarray of shape (n_pieces, n_units), int8
        The code of every piece, in order of ``t`` (consecutive pieces differ).
    ends : ndarray of shape (n_pieces,)
        The ``t`` where every piece ends (the last is ``hi``).
    tied : ndarray of int
        Units on one of their boundaries along the whole segment: an elementwise unit
        within ``TIED`` (relative to its layer's largest input magnitude) of one of its
        breakpoints at every breakpoint of the segment, or a window whose maximum is
        shared, to that tolerance, by two of its entries at every one.

    Raises
    ------
    UnsupportedLayerError
        If a layer's activation is neither elementwise nor a max pool.
    """
    t = np.array([lo, hi], dtype=np.float64)
    layers, tied = [], []  # layers: (start-of-layer interval of every interval after it, its pieces)
    state = None
    for layer, act in enumerate(net.activations):
        if not isinstance(act, (Elementwise, MaxPool)):
            raise UnsupportedLayerError(f"segment splitting: no rule for the activation {act!r} of layer "
                                        f"{net.layer_names[layer]!r}; use path_crossings(..., method='enumerate')")
        values = _advance(net, origin + t[:, None] * direction[None, :] if state is None else state.values,
                          state, layer)
        offset = int(net.layer_offsets[layer])
        z = values.values[:, :act.n_in]
        view = _view(act, z)
        tied.append(offset + _tied(act, z, view.magnitude))
        d, spread = _cut_functions(act, z, view)
        t, carried, parent = _insert_roots(t, values.values, d, spread, view.magnitude)
        state = Carried(layer, carried, values.layout)
        layers.append((parent, _pieces(act, carried[:, :act.n_in], view)))
    codes = _codes(layers, t.size - 1)
    last = np.append(np.any(codes[1:] != codes[:-1], axis=1), True)
    return codes[last], t[1:][last], np.concatenate(tied) if tied else np.zeros(0, int)


def _advance(net: PWLNet, source: np.ndarray, state: Carried | None, stop: int) -> Carried:
    """The carried values at nonlinearity ``stop`` of every row of ``source`` (inputs
    for ``state`` None, else values at ``state``'s layer), in blocks of rows."""
    step = _chunk_rows(net)
    blocks, layout = [], None
    for start in range(0, source.shape[0], step):
        rows = source[start:start + step]
        block = net.program.advance(rows if state is None else Carried(state.layer, rows, state.layout), stop)
        blocks.append(block.values)
        layout = block.layout
    return Carried(stop, np.concatenate(blocks), layout)


def _tied(act, z: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Units (windows) of the layer on a boundary at every breakpoint (see
    :func:`split_segment`), indices within the layer."""
    size = tol.TIED * float(magnitude.max(initial=0.0))
    if isinstance(act, Elementwise):
        on = np.zeros(act.n_units, bool)
        for b in act.breaks:
            on |= np.all(np.abs(z - b) <= size, axis=0)
        return np.flatnonzero(on)
    vals = np.where(act._valid, z[:, np.maximum(act.windows, 0)], -np.inf)  # (n_points, n_windows, size)
    shared = np.sum(vals >= vals.max(axis=2, keepdims=True) - size, axis=2) >= 2
    return np.flatnonzero(np.all(shared, axis=0))


def _cut_functions(act, z: np.ndarray, view) -> tuple[np.ndarray, np.ndarray]:
    """The functions whose zeros cut the segment at this layer, shape (n_points, n_cuts),
    and the spread of each (its largest absolute value there, see :func:`_on_line`):
    ``z[:, u] - b`` for every cutting unit and break, or the difference of every pair of
    entries of every cutting window."""
    if isinstance(act, Elementwise):
        cols = view.cutting
        d = np.concatenate([z[:, cols] - b for b in act.breaks], axis=1)
        return d, view.spread[:, cols].reshape(-1)
    pairs = [(p, q) for w in view.cutting for p, q in combinations(act.windows[w][act._valid[w]], 2)]
    p, q = (np.array(c, dtype=np.int64) for c in zip(*pairs)) if pairs else (np.zeros(0, int),) * 2
    d = z[:, p] - z[:, q]
    return d, np.max(np.abs(d), axis=0, initial=0.0)


def _insert_roots(t: np.ndarray, values: np.ndarray, d: np.ndarray, spread: np.ndarray,
                  magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert a breakpoint wherever a column of ``d`` changes sign strictly (beyond
    :func:`_on_line` at both ends) between consecutive breakpoints.

    The new breakpoint's ``t`` and carried values are interpolated on its interval. A root
    that the previous new breakpoint of its interval already puts within tolerance (the
    path through a vertex, several boundaries at one point) is not inserted again.

    Returns the breakpoints, their carried values and the interval before the cut of every
    interval after it.
    """
    eps = _on_line(spread[None, :], magnitude[:, None])
    sign = np.where(d > eps, 1, np.where(d < -eps, -1, 0)).astype(np.int8)
    k, f = np.nonzero(sign[:-1] * sign[1:] < 0)
    if k.size == 0:
        return t, values, np.arange(t.size - 1)
    frac = d[k, f] / (d[k, f] - d[k + 1, f])
    order = np.lexsort((frac, k))
    k, f, frac = k[order], f[order], frac[order]
    slope = np.abs(d[k + 1, f] - d[k, f])
    at = _on_line(spread[f], np.maximum(magnitude[k], magnitude[k + 1]))
    same = (k[1:] == k[:-1]) & (np.abs(frac[1:] - frac[:-1]) * slope[1:] <= at[1:])
    new_t = t[k] + frac * (t[k + 1] - t[k])
    keep = np.append(True, ~same) & (new_t > t[k]) & (new_t < t[k + 1])
    k, frac, new_t = k[keep], frac[keep], new_t[keep]
    new_values = values[k] + frac[:, None] * (values[k + 1] - values[k])
    key = np.concatenate([np.arange(t.size), k])
    order = np.lexsort((np.concatenate([np.full(t.size, -1.0), frac]), key))
    return np.concatenate([t, new_t])[order], np.concatenate([values, new_values])[order], key[order][:-1]


def _pieces(act, z: np.ndarray, view) -> np.ndarray:
    """The piece of every unit on every interval, shape (n_points - 1, n_units), int8:
    read at its midpoint, as the plane splitter reads a face at its vertices' average
    (``z`` at the breakpoints, after the layer's cuts)."""
    pieces = np.empty((z.shape[0] - 1, act.n_units), np.int8)
    pieces[:] = view.constant
    cols = _touching(act, z, view) if isinstance(act, Elementwise) else view.cutting
    if cols.size == 0:
        return pieces
    if isinstance(act, Elementwise):
        left, right = z[:-1, cols], z[1:, cols]
        mid, top = 0.5 * (left + right), np.maximum(left, right)
        magnitude = _magnitudes(z, act.breaks)
        magnitude = np.maximum(magnitude[:-1], magnitude[1:])[:, None]
        pieces[:, cols] = 0
        for j, b in enumerate(act.breaks):
            eps = _on_line(view.spread[j, cols][None, :], magnitude)
            pieces[:, cols] += ((mid - b > eps) | ((np.abs(mid - b) <= eps) & (top - b > eps))).astype(np.int8)
        return pieces
    valid = act._valid[cols]
    vals = np.where(valid, z[:, np.maximum(act.windows[cols], 0)], -np.inf)  # (n_points, n_cut, size)
    gap = np.where(valid, vals - vals.max(axis=2, keepdims=True), 0.0)
    eps = _on_line(np.max(-gap, axis=(0, 2)), float(_magnitudes(z, np.zeros(0)).max(initial=0.0)))
    worst = np.where(valid, np.minimum(gap[:-1], gap[1:]), -np.inf)
    pieces[:, cols] = np.argmax(worst >= -eps[None, :, None], axis=2)
    return pieces


def _touching(act: Elementwise, z: np.ndarray, view) -> np.ndarray:
    """Units whose piece is not one for the whole segment: those that cut it, and those
    clearly above a break at some breakpoint and on it (within :func:`_on_line`) at
    another (above it on part of the segment only, on its boundary elsewhere)."""
    eps = _on_line(view.spread, view.magnitude.max(initial=0.0))  # shape (n_breaks, n_in)
    top, low = z.max(axis=0, initial=-np.inf), z.min(axis=0, initial=np.inf)
    mixed = np.any([(top - b > e) & (low - b <= e) for b, e in zip(act.breaks, eps)], axis=0)
    return np.union1d(view.cutting, np.flatnonzero(mixed))


def _magnitudes(z: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Largest input magnitude of the layer at every breakpoint (as the plane splitter's
    view), shape (n_points,)."""
    floor = float(np.max(np.abs(breaks), initial=0.0))
    if z.shape[1] == 0:
        return np.full(z.shape[0], floor)
    return np.maximum(np.maximum(z.max(axis=1), -z.min(axis=1)), floor)
