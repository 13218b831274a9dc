"""Layer-by-layer splitting of a plane box into the regions of a piecewise-linear net.

Before layer ``L`` is cut, every face of the mesh lies in one region of the layers before
it, so each input of layer ``L`` is affine on the face and its values at the vertices
describe it exactly. Every vertex carries the values the rest of the program reads; a
cut's new vertex gets them by interpolation on its edge, and the program runs on from one
layer to the next at the vertices (``program.advance``, in blocks of vertices, on the
model's device), never again from the input. Each unit that changes piece somewhere in
the box then cuts the mesh along its breakpoints (:meth:`PlaneMesh.cut`, all faces at
once). A max-pool window is cut along the zero set of the difference of every pair of its
entries; faces on either side of such a cut that end with the same arg-max are merged
again, so each face is one region. No LP is solved.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from tqdm.auto import tqdm

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens.errors import PolylensError, UnsupportedLayerError
from polylens.geometry.mesh import PlaneMesh
from polylens.models.activations import Elementwise, MaxPool
from polylens.models.carry import Carried
from polylens.models.pwlnet import PWLNet

__all__ = ["SplitPlane", "split_plane"]


@short_repr
@dataclass(frozen=True)
class SplitPlane:
    """The regions of a plane box as a mesh.

    Attributes
    ----------
    mesh : PlaneMesh
        Face ``f`` is region ``f``.
    codes : ndarray of shape (n_faces, n_units), int8
    outputs : ndarray of shape (n_vertices, n_outputs)
        The network's output at every vertex of the mesh.
    """

    mesh: PlaneMesh
    codes: np.ndarray
    outputs: np.ndarray


def split_plane(net: PWLNet, x0: np.ndarray, basis: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                progress: bool = True) -> SplitPlane:
    """Cut the box ``lo <= (s, t) <= hi`` of the plane ``x = x0 + basis @ (s, t)``.

    Every vertex carries the values the rest of the program reads (the input of the
    next layer, skip connections, ...). Before layer ``L`` is cut they are affine on every
    face, so a cut's new vertex gets them by interpolation along its edge; then the
    program runs on from there to layer ``L + 1`` (in blocks of vertices), so each op
    runs once per vertex of its layer and never again from the input.

    Parameters
    ----------
    net : PWLNet
    x0 : ndarray of shape (input_dim,)
    basis : ndarray of shape (input_dim, 2)
    lo, hi : ndarray of shape (2,)
    progress : bool, default=True
        Show a progress bar over the layers.

    Returns
    -------
    SplitPlane

    Raises
    ------
    UnsupportedLayerError
        If a layer's activation is neither elementwise nor a max pool.
    PolylensError
        If a cut meets a numerically degenerate face.
    """
    mesh = PlaneMesh(lo, hi)
    layers = []  # per layer: (start-of-layer face of every face after it, its pieces)
    state = None
    with tqdm(total=len(net.activations), unit="layer", disable=not progress, desc="plane") as bar:
        for layer, act in enumerate(net.activations):
            if not isinstance(act, (Elementwise, MaxPool)):
                raise UnsupportedLayerError(f"plane splitting: no rule for the activation {act!r} of layer "
                                            f"{net.layer_names[layer]!r}; use plane_partition(..., "
                                            "method='enumerate')")
            state = _advance(net, mesh, x0, basis, state, layer)
            view = _view(act, mesh.vertex_values[:, :act.n_in])
            mesh.values[-1] = view.magnitude
            offset = int(net.layer_offsets[layer])
            cut = _cut_elementwise if isinstance(act, Elementwise) else _cut_maxpool
            layers.append(cut(mesh, act, view, offset))
            bar.set_postfix(regions=mesh.n_faces)
            bar.update()
    outputs = _advance(net, mesh, x0, basis, state, None)
    return SplitPlane(mesh, _codes(layers, mesh.n_faces), outputs)


def _codes(layers: list[tuple[np.ndarray, np.ndarray]], n_faces: int) -> np.ndarray:
    """Codes of the final faces (shape (n_faces, n_units)) from each layer's pieces of its
    faces and the face each of them came from at the layer's start."""
    codes = np.empty((n_faces, sum(pieces.shape[1] for _, pieces in layers)), np.int8)
    face, stop = np.arange(n_faces), codes.shape[1]
    for parent, pieces in reversed(layers):
        codes[:, stop - pieces.shape[1]:stop] = pieces[face]
        face, stop = parent[face], stop - pieces.shape[1]
    return codes


def _advance(net: PWLNet, mesh: PlaneMesh, x0, basis, state: Carried | None, stop: int | None):
    """Run the program on to layer ``stop`` at every mesh vertex, from the values of
    ``state``'s layer (tracked by the mesh since) or, for None, from the plane points.

    For a layer, the carried values go into the mesh (one row per value, then a last row
    for the magnitude, set by the caller) and the result is a :class:`Carried` without
    values (its layer and layout); for ``stop`` None, the outputs, shape
    (n_vertices, n_outputs)."""
    step = _chunk_rows(net)
    if state is None:
        source = _points(x0, basis, mesh.xy)
    else:
        source = mesh.vertex_values[:, :-1]  # the tracked values, without the magnitude
    out, layout = None, None
    for start in range(0, mesh.n_vertices, step):
        rows = source[start:start + step]
        block = net.program.advance(rows if state is None else Carried(state.layer, rows, state.layout), stop)
        width = block.values.shape[1]
        if out is None and stop is None:
            out = np.empty((mesh.n_vertices, width))
        elif out is None:  # the next layer's storage, filled block by block
            _check_memory(net, stop, mesh.n_vertices, width + 1)
            out = mesh.storage(width + 1)
        out[start:start + len(rows), :width] = block.values
        layout = block.layout
    if stop is None:
        return out
    mesh.set_values(out)
    return Carried(stop, None, layout)


def _points(x0: np.ndarray, basis: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return x0 + xy @ basis.T


def _check_memory(net: PWLNet, layer: int, n_vertices: int, width: int) -> None:
    """Refuse to go on when the values the mesh must track for ``layer`` (``width`` per
    vertex, with room for half as many vertices again; the previous layer's are still
    held while they are computed) would not fit in the memory available now, rather than
    let the system kill the process."""
    need = 8 * width * (n_vertices + n_vertices // 2 + 16)
    available = _available_memory()
    if available is not None and need > available:
        raise PolylensError(
            f"plane splitting: layer {net.layer_names[layer]!r} needs {_size(need)} for the values carried at "
            f"{n_vertices} mesh vertices ({width} per vertex) and {_size(available)} is available: split a "
            "smaller box (the regions grow with its area), or several smaller boxes")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2 ** 30:.1f} GiB" if n_bytes >= 2 ** 30 else f"{n_bytes / 2 ** 20:.3g} MiB"


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _chunk_rows(net: PWLNet) -> int:
    """Vertices per forward pass: about 2^24 activation values at a time."""
    return int(np.clip(2 ** 24 // max(net.n_units, 1), 16, 8192))


@short_repr
@dataclass(frozen=True)
class _View:
    """What the cuts of one layer need from its inputs at the mesh vertices.

    Attributes
    ----------
    spread : ndarray of shape (n_breaks, n_in)
        Elementwise: the largest distance of input ``j`` from break ``i`` over the
        vertices (its own range over the box; see :func:`_on_line`).
    magnitude : ndarray of shape (n_vertices,)
        Largest input magnitude of the layer at every vertex (the size of the numbers a
        vertex's values are computed from).
    cutting : ndarray of int
        Units (elementwise) or windows (max-pool) whose piece changes in the box.
    varying : ndarray of int
        Units whose piece is decided face by face: the cutting units, and (elementwise)
        units above a break somewhere that sit on it elsewhere without crossing (such a
        unit takes its lower piece where it is on the break, by the boundary rule).
    constant : ndarray of shape (n_units,), int8
        The piece of every other unit, which keeps one piece on the whole box.
    """

    spread: np.ndarray
    magnitude: np.ndarray
    cutting: np.ndarray
    varying: np.ndarray
    constant: np.ndarray


def _view(act, z: np.ndarray) -> _View:
    """Summarise a layer's inputs ``z`` (shape (n_vertices, n_in)): the scale and which
    units cut the box."""
    breaks = act.breaks if isinstance(act, Elementwise) else np.zeros(0)
    floor = float(np.max(np.abs(breaks), initial=0.0))
    if z.shape[1]:
        magnitude = np.maximum(np.maximum(z.max(axis=1), -z.min(axis=1)), floor)
    else:
        magnitude = np.full(z.shape[0], floor)
    if isinstance(act, Elementwise):
        # max(z - b) = max(z) - b exactly: rounding is monotone.
        z_max, z_min = z.max(axis=0, initial=-np.inf), z.min(axis=0, initial=np.inf)
        top = [z_max - b for b in breaks]
        low = [z_min - b for b in breaks]
        spread = np.array([np.maximum(t, -lo) for t, lo in zip(top, low)])
        eps = _on_line(spread, magnitude.max(initial=0.0))
        cutting = np.flatnonzero(np.any([(t > e) & (lo < -e) for t, lo, e in zip(top, low, eps)], axis=0))
        varying = np.flatnonzero(np.any([(t > e) & (lo <= e) for t, lo, e in zip(top, low, eps)], axis=0))
        constant = np.sum([t > e for t, e in zip(top, eps)], axis=0).astype(np.int8)
    else:
        winners = act.pieces(z)
        spread = np.zeros((0, act.n_in))
        cutting = varying = np.flatnonzero(np.any(winners != winners[0], axis=0))
        constant = winners[0].astype(np.int8)
    return _View(spread, magnitude, cutting, varying, constant)


def _on_line(spread, magnitude):
    """Tolerance on a cut function's value (``spread``: its largest absolute value over
    the box) at vertices of the given input ``magnitude``: ``VERTEX_ON_LINE`` relative
    to its own spread, but no finer than the round-off of the numbers it is computed
    from (``VERTEX_ROUNDING * eps * magnitude``) and no coarser than ``VERTEX_ON_LINE``
    relative to them. Broadcasts."""
    magnitude = np.asarray(magnitude, dtype=np.float64)
    low = tol.VERTEX_ROUNDING * np.finfo(np.float64).eps * magnitude
    return np.clip(tol.VERTEX_ON_LINE * np.asarray(spread), low, np.maximum(tol.VERTEX_ON_LINE * magnitude, low))


def _face_means(mesh: PlaneMesh, rows: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Average over every face's vertices of ``mesh.values[rows]``, shape (n_faces, len(rows))."""
    avg = mesh.incidence()
    out = np.empty((mesh.n_faces, len(rows)))
    for start in range(0, len(rows), chunk):
        block = rows[start:start + chunk]
        out[:, start:start + len(block)] = avg @ mesh.values[block].T
    return out


def _face_reduce(incidence, values: np.ndarray, ufunc, faces: np.ndarray | None = None) -> np.ndarray:
    """``ufunc`` (np.maximum/np.minimum) of ``values`` (shape (r, n_vertices)) over the
    vertices of each face (of ``faces``, default all), shape (n_faces, r)."""
    if faces is not None:
        incidence = incidence[faces]
    counts = np.diff(incidence.indptr)
    gathered = values[:, incidence.indices]
    return ufunc.reduceat(gathered, incidence.indptr[:-1][counts > 0], axis=1).T


def _track(parent: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Extend ``parent`` (start-of-layer face of every face) after a cut split ``split``."""
    return np.concatenate([parent, parent[split]]) if split.size else parent


def _cut(mesh: PlaneMesh, d: np.ndarray, label: int, spread: float, n_in: int) -> np.ndarray:
    """:meth:`PlaneMesh.cut` along ``d == 0`` with the tolerance :func:`_on_line` at every
    vertex, then the magnitude (last tracked row) of the new vertices: linear
    interpolation overestimates it, so it is recomputed from the layer's inputs (the
    first ``n_in`` tracked rows)."""
    before = mesh.n_vertices
    split = mesh.cut(d, label, _on_line(spread, mesh.values[-1]))
    if mesh.n_vertices > before:
        values = mesh.values
        values[-1, before:] = np.minimum(values[-1, before:], np.abs(values[:n_in, before:]).max(axis=0))
    return split


def _cut_elementwise(mesh: PlaneMesh, act: Elementwise, view: _View, offset: int):
    """Cut along every breakpoint of every unit that crosses it in the box.

    Returns the start-of-layer face of every face and the pieces of every face, shape
    (n_faces, act.n_units).
    """
    parent = np.arange(mesh.n_faces)
    for unit in view.cutting:  # a layer's inputs are the first tracked rows
        for j, b in enumerate(act.breaks):
            parent = _track(parent, _cut(mesh, mesh.values[unit] - b, offset + int(unit), view.spread[j, unit],
                                         act.n_in))
    # A unit is above a break on a face when some vertex is clearly above it: the face's
    # average decides, and a vertex check settles averages within eps of the break.
    above = np.empty((mesh.n_faces, act.n_units), np.int8)
    above[:] = view.constant
    rows = view.varying
    if rows.size:
        spread = view.spread[:, rows]  # shape (n_breaks, n_varying)
        means = _face_means(mesh, np.append(rows, mesh.values.shape[0] - 1))  # last column: the magnitude
        means, face_magnitude = means[:, :-1], means[:, -1:]
        above[:, rows] = 0
        for j, b in enumerate(act.breaks):
            eps = _on_line(spread[j][None, :], face_magnitude)  # shape (n_faces, n_varying)
            above[:, rows] += (means - b > eps).astype(np.int8)
            faces, cols = np.nonzero(np.abs(means - b) <= eps)
            if faces.size:
                top = _face_reduce(mesh.face_vertices(), mesh.values[rows], np.maximum, faces)
                above[faces, rows[cols]] += (top[np.arange(faces.size), cols] - b > eps[faces, cols]).astype(np.int8)
    return parent, above


def _cut_maxpool(mesh: PlaneMesh, act: MaxPool, view: _View, offset: int):
    """Cut every window whose arg-max changes in the box along its pairwise ties, then
    merge the faces of one window's cut that keep the same arg-max."""
    parent = np.arange(mesh.n_faces)
    pieces = np.empty((mesh.n_faces, act.n_units), np.int8)
    pieces[:] = view.constant  # windows with one arg-max on the whole box
    for w in view.cutting:
        first_edge = mesh.n_edges
        valid = np.flatnonzero(act._valid[w])
        rows = act.windows[w][valid]  # a layer's inputs are the first tracked rows
        for p, q in combinations(rows, 2):
            gap = mesh.values[p] - mesh.values[q]
            split = _cut(mesh, gap, offset + int(w), np.max(np.abs(gap), initial=0.0), act.n_in)
            parent, pieces = _track(parent, split), np.concatenate([pieces, pieces[split]])
        best = valid[_winners(mesh, rows)]
        made = first_edge + np.flatnonzero(mesh.edge_labels[first_edge:] == offset + int(w))
        sides = mesh.edge_faces[made]
        same = made[best[sides[:, 0]] == best[sides[:, 1]]]
        if same.size:
            labels = mesh.merge(same)
            parent, pieces, best = (_regroup(a, labels, mesh.n_faces) for a in (parent, pieces, best))
        pieces[:, w] = best
    return parent, pieces


def _regroup(per_face: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Per-face data after a merge (merged faces agree on it): row ``labels[f]`` from ``f``."""
    out = np.empty((n, *per_face.shape[1:]), per_face.dtype)
    out[labels] = per_face
    return out


def _winners(mesh: PlaneMesh, rows: np.ndarray) -> np.ndarray:
    """Arg-max of a window on every face: its first entry that is within tolerance of
    the window's maximum at every vertex of the face (ties go to the first, as in
    :meth:`MaxPool.pieces`). ``rows`` are the window's entries in ``mesh.values``; the
    tolerance is :func:`_on_line` of the window's spread at the largest magnitude."""
    vals = mesh.values[rows]
    gap = vals - vals.max(axis=0)
    eps = float(_on_line(np.max(-gap, initial=0.0), mesh.values[-1].max(initial=0.0)))
    worst = _face_reduce(mesh.face_vertices(), gap, np.minimum)
    return np.argmax(worst >= -eps, axis=1)
