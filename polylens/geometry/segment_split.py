"""Layer-by-layer splitting of a segment into the pieces of a piecewise-linear net (private).

The 1-D analogue of :mod:`polylens.geometry.splitting`. The segment
``x = origin + t * direction``, ``t`` in ``[lo, hi]``, is kept as sorted breakpoints, each
carrying the values the rest of the program reads. Before layer ``L`` is cut, every
interval between consecutive breakpoints lies in one region of the layers before it, so
each input of layer ``L`` is affine on it: a unit's root on an interval is found by linear
interpolation (from the nearer end), and the new breakpoint's carried values by the same
interpolation. The program then runs on from one layer to the next at the breakpoints
(``program.advance``, in runs of breakpoints whose values fit in a block), never again
from the input. A max-pool window is cut at the zero of
the difference of every pair of its entries. Each interval's piece of every unit is read
at its midpoint (the boundary rule of :mod:`polylens.models.activations`: a unit on its
breakpoint along a whole interval takes its lower piece; a window's tie goes to its first
entry). No LP is solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens.errors import UnsupportedLayerError
from polylens.geometry.splitting import _chunk_rows, _on_line
from polylens.models.activations import Elementwise, MaxPool
from polylens.models.carry import Carried
from polylens.models.pwlnet import PWLNet

__all__ = ["split_segment"]

#: Carried numbers per run of breakpoints handed on to the next layer (256 MiB of float64).
_BLOCK = 2 ** 25


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
        within ``TIED`` (relative to its layer's largest input magnitude there) of one of
        its breakpoints at every breakpoint of the segment, or a window whose maximum is
        shared, to that tolerance, by two of its entries at every one.

    Raises
    ------
    UnsupportedLayerError
        If a layer's activation is neither elementwise nor a max pool.
    """
    # The point t = 0 too, where it is inside: the values there come from the input, and
    # the roots near it (where the segment passes nearest the origin of its coordinates)
    # are interpolated from it rather than across the whole segment.
    t = np.array([lo, 0.0, hi] if lo < 0.0 < hi else [lo, hi], dtype=np.float64)
    t, codes, _, tied = _run(net, origin, direction, t, None, 0)
    last = np.append(np.any(codes[1:] != codes[:-1], axis=1), True)
    return codes[last], t[1:][last], tied


def _run(net: PWLNet, origin: np.ndarray, direction: np.ndarray, t: np.ndarray, state: Carried | None,
         layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the breakpoints ``t`` (carrying ``state``'s values, or none before the first
    layer) along layer ``layer`` and every later one.

    The breakpoints after the layer's cuts go on to the next layer in runs of consecutive
    ones (the last of one run is the first of the next), few enough that their carried
    values fit in a block of about ``_BLOCK`` numbers.

    Returns the breakpoints at the end, the codes of their intervals from layer ``layer``
    on, shape (n_intervals, n_units of those layers), the interval of ``t`` each lies in,
    and the units from layer ``layer`` on that are tied along the whole of ``t``.
    """
    if layer == len(net.activations):
        return t, np.zeros((t.size - 1, 0), np.int8), np.arange(t.size - 1), np.zeros(0, int)
    act = net.activations[layer]
    if not isinstance(act, (Elementwise, MaxPool)):
        raise UnsupportedLayerError(f"segment splitting: no rule for the activation {act!r} of layer "
                                    f"{net.layer_names[layer]!r}; use path_crossings(..., method='enumerate')")
    carried = _advance(net, origin + t[:, None] * direction[None, :] if state is None else state.values,
                       state, layer)
    z = carried.values[:, :act.n_in]
    view = _look(act, z)
    tied = int(net.layer_offsets[layer]) + _tied(act, z, view.magnitude)
    d, spread = _cut_functions(act, z, view)
    roots = _roots(t, z, d, spread, view.magnitude, _floor(act))
    key = np.concatenate([np.arange(t.size), roots.interval])
    order = np.lexsort((np.concatenate([np.full(t.size, -1.0), roots.frac]), key))
    cut_t, parent = np.concatenate([t, roots.t])[order], key[order][:-1]
    rows = int(np.clip(_BLOCK // max(carried.values.shape[1], 1), 3, 8192))
    parts, deeper = [], None
    for a in range(0, cut_t.size - 1, rows - 1):
        run = order[a:a + rows]
        values = _values_at(carried.values, roots, run, t.size)
        pieces = _pieces(act, values[:, :act.n_in], view)
        sub_t, sub_codes, sub_parent, sub_tied = _run(net, origin, direction, cut_t[a:a + rows],
                                                      Carried(layer, values, carried.layout), layer + 1)
        parts.append((sub_t if a == 0 else sub_t[1:], np.concatenate([pieces[sub_parent], sub_codes], axis=1),
                      parent[a + sub_parent]))
        deeper = sub_tied if deeper is None else np.intersect1d(deeper, sub_tied)
    t, codes, parent = (np.concatenate(c) for c in zip(*parts))
    # Neighbours with one code and one interval of the input need no breakpoint between them.
    last = np.append(np.any(codes[1:] != codes[:-1], axis=1) | (parent[1:] != parent[:-1]), True)
    return np.append(t[0], t[1:][last]), codes[last], parent[last], np.union1d(tied, deeper)


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
    size = tol.TIED * magnitude[:, None]
    if isinstance(act, Elementwise):
        on = np.zeros(act.n_units, bool)
        for b in act.breaks:
            on |= np.all(np.abs(z - b) <= size, axis=0)
        return np.flatnonzero(on)
    vals = np.where(act._valid, z[:, np.maximum(act.windows, 0)], -np.inf)  # (n_points, n_windows, size)
    shared = np.sum(vals >= vals.max(axis=2, keepdims=True) - size[:, :, None], axis=2) >= 2
    return np.flatnonzero(np.all(shared, axis=0))


def _cut_functions(act, z: np.ndarray, view: _Look) -> tuple[np.ndarray, np.ndarray]:
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


@short_repr
@dataclass(frozen=True)
class _Roots:
    """New breakpoints of one layer's cuts, sorted by interval and position in it.

    Attributes
    ----------
    interval : ndarray of shape (n_roots,), int
        The interval (between breakpoints ``interval`` and ``interval + 1``) of each.
    frac : ndarray of shape (n_roots,)
        Its position in the interval, in (0, 1).
    t : ndarray of shape (n_roots,)
    near, far : ndarray of shape (n_roots,), int
        The interval's end nearer to it and the other end.
    weight : ndarray of shape (n_roots,)
        Its position from ``near`` towards ``far``, in (0, 1/2].
    """

    interval: np.ndarray
    frac: np.ndarray
    t: np.ndarray
    near: np.ndarray
    far: np.ndarray
    weight: np.ndarray


def _roots(t: np.ndarray, z: np.ndarray, d: np.ndarray, spread: np.ndarray, magnitude: np.ndarray,
           floor: float) -> _Roots:
    """A new breakpoint wherever a column of ``d`` changes sign strictly (beyond
    :func:`_on_line` at both ends, ``magnitude`` the layer's input magnitude at every
    breakpoint) between consecutive breakpoints.

    Its ``t`` and carried values are interpolated on its interval from the nearer end,
    with that end's own fraction: the error then scales with the distance to that end,
    not with the interval's length. A root that the previous new breakpoint of its
    interval already puts within tolerance (the path through a vertex, several
    boundaries at one point; the tolerance of the numbers there, ``z`` interpolated, no
    less than ``floor``) is not made again.
    """
    eps = _on_line(spread[None, :], magnitude[:, None])
    sign = np.where(d > eps, 1, np.where(d < -eps, -1, 0)).astype(np.int8)
    k, f = np.nonzero(sign[:-1] * sign[1:] < 0)
    frac = d[k, f] / (d[k, f] - d[k + 1, f])
    order = np.lexsort((frac, k))
    k, f, frac = k[order], f[order], frac[order]
    first = frac <= 0.5
    near, far = np.where(first, k, k + 1), np.where(first, k + 1, k)
    weight = np.where(first, frac, d[k + 1, f] / (d[k + 1, f] - d[k, f]))
    new_t = t[near] + weight * (t[far] - t[near])
    inside = (new_t > t[k]) & (new_t < t[k + 1])
    k, f, frac, new_t, near, far, weight = (a[inside] for a in (k, f, frac, new_t, near, far, weight))
    size = np.empty(k.size)
    step = max(1, 2 ** 22 // max(z.shape[1], 1))
    for a in range(0, k.size, step):
        n, w = near[a:a + step], weight[a:a + step, None]
        size[a:a + step] = _magnitudes(z[n] + w * (z[far[a:a + step]] - z[n]), floor)
    at = _on_line(spread[f[1:]], size[:-1])
    same = (k[1:] == k[:-1]) & (np.abs(frac[1:] - frac[:-1]) * np.abs(d[k + 1, f] - d[k, f])[1:] <= at)
    keep = np.append(True, ~same) if k.size else np.zeros(0, bool)
    return _Roots(k[keep], frac[keep], new_t[keep], near[keep], far[keep], weight[keep])


def _values_at(values: np.ndarray, roots: _Roots, run: np.ndarray, n_old: int) -> np.ndarray:
    """Carried values of the breakpoints ``run`` after a cut (indices below ``n_old``:
    the old breakpoints, the others: ``roots``, interpolated), shape (len(run), width)."""
    old = run < n_old
    out = np.empty((run.size, values.shape[1]))
    out[old] = values[run[old]]
    r = run[~old] - n_old
    if r.size:
        n = roots.near[r]
        out[~old] = values[n] + roots.weight[r, None] * (values[roots.far[r]] - values[n])
    return out


def _pieces(act, z: np.ndarray, view: _Look) -> np.ndarray:
    """The piece of every unit on every interval, shape (n_points - 1, n_units), int8:
    read at its midpoint, as the plane splitter reads a face at its vertices' average
    (``z`` at the breakpoints, after the layer's cuts)."""
    pieces = np.empty((z.shape[0] - 1, act.n_units), np.int8)
    pieces[:] = view.constant
    cols = view.decide
    if cols.size == 0:
        return pieces
    magnitude = _magnitudes(z, _floor(act))
    magnitude = np.maximum(magnitude[:-1], magnitude[1:])[:, None]  # every interval's
    if isinstance(act, Elementwise):
        left, right = z[:-1, cols], z[1:, cols]
        mid, top = 0.5 * (left + right), np.maximum(left, right)
        pieces[:, cols] = 0
        for j, b in enumerate(act.breaks):
            eps = _on_line(view.spread[j, cols][None, :], magnitude)
            pieces[:, cols] += ((mid - b > eps) | ((np.abs(mid - b) <= eps) & (top - b > eps))).astype(np.int8)
        return pieces
    valid = act._valid[cols]
    vals = np.where(valid, z[:, np.maximum(act.windows[cols], 0)], -np.inf)  # (n_points, n_cut, size)
    gap = np.where(valid, vals - vals.max(axis=2, keepdims=True), 0.0)
    eps = _on_line(np.max(-gap, axis=(0, 2))[None, :], magnitude)  # (n_intervals, n_cut)
    worst = np.where(valid, np.minimum(gap[:-1], gap[1:]), -np.inf)
    pieces[:, cols] = np.argmax(worst >= -eps[:, :, None], axis=2)
    return pieces


@short_repr
@dataclass(frozen=True)
class _Look:
    """What one layer's cuts and pieces need from its inputs at the breakpoints.

    Attributes
    ----------
    spread : ndarray of shape (n_breaks, n_in)
        Elementwise: the largest distance of input ``j`` from break ``i`` over the
        breakpoints (see :func:`_on_line`); empty for a max pool.
    magnitude : ndarray of shape (n_points,)
        Largest input magnitude of the layer at every breakpoint.
    cutting : ndarray of int
        Units clearly on both sides of a break (tolerance at each breakpoint), or
        windows whose arg-max changes.
    decide : ndarray of int
        Units (windows) whose piece is read interval by interval: those cutting, and
        units clearly above a break at some breakpoint and not at another.
    constant : ndarray of shape (n_units,), int8
        The piece of every other unit.
    """

    spread: np.ndarray
    magnitude: np.ndarray
    cutting: np.ndarray
    decide: np.ndarray
    constant: np.ndarray


def _look(act, z: np.ndarray) -> _Look:
    """Summarise a layer's inputs ``z`` (shape (n_points, n_in)) at the breakpoints.

    Unlike the plane splitter's view, an elementwise unit's side of a break is decided
    at each breakpoint with that breakpoint's own tolerance: on a long segment the layer's
    inputs are far larger at the ends than where the units change piece."""
    magnitude = _magnitudes(z, _floor(act))
    if isinstance(act, MaxPool):
        winners = act.pieces(z)
        cutting = np.flatnonzero(np.any(winners != winners[0], axis=0))
        return _Look(np.zeros((0, act.n_in)), magnitude, cutting, cutting, winners[0].astype(np.int8))
    breaks = act.breaks
    spread = np.array([np.maximum(z.max(axis=0, initial=-np.inf) - b, b - z.min(axis=0, initial=np.inf))
                       for b in breaks])
    above, below, mixed = [], [], np.zeros(act.n_in, bool)
    for j, b in enumerate(breaks):
        eps = _on_line(spread[j][None, :], magnitude[:, None])
        up, down = np.any(z - b > eps, axis=0), np.any(z - b < -eps, axis=0)
        every = np.all(z - b > eps, axis=0)
        above.append(every)
        below.append(up & down)
        mixed |= up & ~every
    cutting = np.flatnonzero(np.any(below, axis=0))
    return _Look(spread, magnitude, cutting, np.flatnonzero(mixed), np.sum(above, axis=0).astype(np.int8))


def _floor(act) -> float:
    """The least magnitude of a layer's inputs: its largest break (0 for a max pool)."""
    return float(np.max(np.abs(act.breaks), initial=0.0)) if isinstance(act, Elementwise) else 0.0


def _magnitudes(z: np.ndarray, floor: float) -> np.ndarray:
    """Largest input magnitude of the layer at every breakpoint, no less than ``floor``
    (as the plane splitter's view), shape (n_points,)."""
    if z.shape[1] == 0:
        return np.full(z.shape[0], floor)
    return np.maximum(np.maximum(z.max(axis=1), -z.min(axis=1)), floor)
