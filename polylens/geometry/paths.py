"""Exact 1-D paths: every point where the code changes along a polyline.

Each segment ``p_i -> p_{i+1}`` is the 1-D subspace ``x = p_i + s (p_{i+1} - p_i)``,
``s`` in [0, 1]; its pieces are the regions of that 1-D space. By default they are found
by segment splitting (:mod:`polylens.geometry.segment_split`: the segment is cut layer by
layer, every breakpoint carrying the program's values from one layer to the next, so each
layer's op runs once per breakpoint); ``method="enumerate"`` finds them by the exact
engine instead (marching from piece to piece across the nearest root of the frozen affine
forms, one forward pass from the input per piece). The crossings are the boundaries
between consecutive pieces, and the units that flipped there are the entries where the
two pieces' codes differ.

Degenerate cases have defined answers:

- a unit whose boundary contains a whole segment (the path runs along it) takes its lower
  piece there (boundary rule) and does not count as a crossing; it is listed in
  ``on_boundary``;
- a path through a vertex (several boundaries at one point) gives one crossing with
  several units;
- a path that starts or ends on a boundary: the first (last) piece is the one the path
  runs through just after its start (before its end); the endpoint itself is no crossing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, check_option, invalid
from polylens.errors import InvalidParameterError
from polylens.geometry.domain import Box
from polylens.geometry.enumeration import enumerate_regions
from polylens.geometry.segment_split import split_segment
from polylens.models.predict import predicted_class
from polylens.models.pwlnet import PWLNet
from polylens.solvers import BACKENDS

__all__ = ["PathCrossings", "path_crossings"]


@short_repr
@dataclass(frozen=True)
class PathCrossings:
    """Where a polyline crosses region boundaries.

    Attributes
    ----------
    positions : ndarray of shape (n_crossings,)
        Arc length (input units) of each crossing from the start of the path.
    points : ndarray of shape (n_crossings, input_dim)
        The crossing points.
    units : list of ndarray of int
        The units whose piece changes at each crossing (indices into the code).
    codes : ndarray of shape (n_crossings + 1, n_units), int8
        The code of every piece, in order along the path.
    breaks : ndarray of shape (n_crossings + 2,)
        Arc length of the start, every crossing and the end: piece ``i`` runs from
        ``breaks[i]`` to ``breaks[i + 1]``.
    vertices : ndarray of shape (n_points,)
        Arc length of every point of the polyline.
    outputs : ndarray of shape (n_crossings + 1, n_outputs)
        The network's output at the middle of every piece.
    on_boundary : ndarray of int
        Units whose boundary contains a whole segment of the path (see module notes).
    length : float
    """

    positions: np.ndarray
    points: np.ndarray
    units: list
    codes: np.ndarray
    breaks: np.ndarray
    vertices: np.ndarray
    outputs: np.ndarray
    on_boundary: np.ndarray
    length: float

    @property
    def n_crossings(self) -> int:
        return int(self.positions.shape[0])

    def piece_classes(self) -> np.ndarray:
        """Predicted class on every piece (arg-max, or ``output > 0`` for one output),
        shape (n_crossings + 1,), int.

        Raises
        ------
        None of its own
        """
        out = self.outputs
        return predicted_class(out)

    @property
    def n_flips(self) -> int:
        """Unit changes over the whole path (the exact counterpart of
        :attr:`polylens.sampling.PathDensity.n_flips`)."""
        return int(sum(u.size for u in self.units))

    @property
    def density(self) -> float:
        """Unit changes per unit length, all units (the exact counterpart of
        :attr:`polylens.sampling.PathDensity.density`)."""
        return self.n_flips / self.length

    @property
    def change_density(self) -> float:
        """Region boundaries crossed per unit length (the exact counterpart of
        :attr:`polylens.sampling.PathDensity.change_density`)."""
        return self.n_crossings / self.length

    def density_windows(self, n_windows: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Exact polytope density profile: crossings per unit length in equal windows.

        Parameters
        ----------
        n_windows : int, default=20

        Returns
        -------
        centres : ndarray of shape (n_windows,)
            Arc length of each window's centre.
        density : ndarray of shape (n_windows,)
            Crossings in the window divided by its length (a crossing on a window edge
            counts in the window after it; one at the very end, in the last window).

        Raises
        ------
        InvalidParameterError
            If ``n_windows`` is not an int >= 1.
        """
        n_windows = check_int(n_windows, func="PathCrossings.density_windows", name="n_windows", low=1)
        edges = np.linspace(0.0, self.length, n_windows + 1)
        counts = np.histogram(self.positions, bins=edges)[0]
        return 0.5 * (edges[:-1] + edges[1:]), counts / (self.length / n_windows)


def path_crossings(net: PWLNet, points, *, method: str = "split", solver: str = "highs") -> PathCrossings:
    """Every point where the code changes along the polyline through ``points``.

    Each segment is studied on the line through it, in arc length measured from the
    segment's point nearest the origin, so the answer does not depend on the units of
    the input (scaling the points and the first layer's weights inversely changes
    nothing) wherever float64 resolves the segment.

    Parameters
    ----------
    net : PWLNet
        For a path in a hidden layer's activation space, pass ``net.split(at=NAME)``.
    points : array-like of shape (n_points, input_dim) or (n_points, *input_shape)
        At least two finite points; consecutive points must differ.
    method : {"split", "enumerate"}, default="split"
        ``"split"``: cut each segment layer by layer, carrying every breakpoint's values
        from one layer to the next (each layer's op runs once per breakpoint; see
        :mod:`polylens.geometry.segment_split`). ``"enumerate"``: the exact engine on
        each segment's 1-D subspace (one frozen forward pass per piece, from the input);
        it also covers activations with no split rule.
    solver : str, default="highs"
        LP back end of ``method="enumerate"`` (rarely used: 1-D pieces need no LP).

    Returns
    -------
    PathCrossings

    Raises
    ------
    InvalidParameterError
        For a bad ``net``, ``points`` (fewer than 2, not finite, of the wrong size, or
        repeated), ``method`` or ``solver``; or, for ``method="enumerate"``, when a
        segment is too short for float64 to resolve it at its distance from the origin.
    UnsupportedLayerError
        For ``method="split"``, if a layer's activation is neither elementwise nor a max
        pool.

    See Also
    --------
    polylens.sampling.path_density : the sampled counterpart, for models too big for
        the exact engine.

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet, path_crossings
    >>> lin = torch.nn.Linear(1, 3)
    >>> with torch.no_grad():
    ...     _ = lin.weight.fill_(1.0); _ = lin.bias.copy_(torch.tensor([-0.5, 0.0, 0.5]))
    >>> net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()))
    >>> path = path_crossings(net, [[-1.0], [1.0]])
    >>> path.positions.tolist(), [u.tolist() for u in path.units]
    ([0.5, 1.0, 1.5], [[2], [1], [0]])
    """
    func = "path_crossings"
    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", type(net).__name__)
    check_option(method, ("split", "enumerate"), func=func, name="method")
    check_option(solver, BACKENDS, func=func, name="solver")
    try:
        pts = net.flatten_inputs(points, "points")
    except (TypeError, ValueError) as err:
        raise invalid(func, "points", f"an array of shape (n_points, {net.input_dim}) ({err})", points) from None
    if pts.shape[0] < 2:
        raise invalid(func, "points", "at least 2 points", f"{pts.shape[0]}")
    if not np.all(np.isfinite(pts)):
        raise invalid(func, "points", "finite (no NaN or infinity)", points)
    steps = np.diff(pts, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    if np.any(lengths == 0):
        raise InvalidParameterError(f"{func}: consecutive `points` must differ; segments "
                                    f"{np.flatnonzero(lengths == 0).tolist()} have length 0")
    starts = np.concatenate([[0.0], np.cumsum(lengths)])
    codes, piece_breaks, on_boundary = [], [0.0], set()
    for i in range(len(lengths)):
        direction = steps[i] / lengths[i]
        # Arc length from the segment's point nearest the origin: t is then small where
        # the segment passes the origin, and carries the least round-off there.
        near = float(np.clip(-pts[i] @ direction, 0.0, lengths[i]))
        if method == "split":
            seg_codes, ends, tied = split_segment(net, pts[i] + near * direction, direction, -near, lengths[i] - near)
            ends = ends + near
        else:
            seg_codes, ends, tied = _enumerated(net, pts[i] + near * direction, direction, near, lengths[i], solver)
        for j, code in enumerate(seg_codes):
            if codes and not np.array_equal(codes[-1], code):
                piece_breaks.append(starts[i] + (ends[j - 1] if j else 0.0))
            elif codes:
                continue
            codes.append(code)
        on_boundary.update(tied.tolist())
    piece_breaks.append(starts[-1])
    codes_arr = np.array(codes, dtype=np.int8).reshape(len(codes), net.n_units)
    positions = np.array(piece_breaks[1:-1])
    crossing_points = _points_at(pts, starts, positions)
    units = [np.flatnonzero(a != b) for a, b in zip(codes_arr[:-1], codes_arr[1:])]
    mids = _points_at(pts, starts, 0.5 * (np.array(piece_breaks[:-1]) + np.array(piece_breaks[1:])))
    return PathCrossings(positions, crossing_points, units, codes_arr, np.array(piece_breaks), starts,
                         net.forward(mids), np.array(sorted(on_boundary), dtype=int), float(starts[-1]))


def _enumerated(net: PWLNet, origin: np.ndarray, direction: np.ndarray, near: float, length: float,
                solver: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One segment's pieces by the exact engine on its 1-D subspace: their codes in
    order, the arc length where each ends, and the units tied along the segment."""
    res = enumerate_regions(net, Box(-near, length - near), origin=origin, basis=direction[:, None],
                            progress=False, solver=solver)
    order = np.argsort(res.points[:, 0])
    # Piece j ends where piece j + 1 starts: the midpoint between their facing ends.
    ends = res.points[order, 0] + res.radii[order] + near
    return res.codes[order], ends, _tied_along(res, order)


def _tied_along(res, order) -> np.ndarray:
    """Units tied on a boundary along the whole segment (constant rows with equality):
    those tied in every piece, from each piece's H-representation alone (no Chebyshev
    LP), stopping at the first piece that leaves none."""
    tied = res.space.hrep(res.codes[order[0]]).tied_units
    for i in order[1:]:
        if tied.size == 0:
            break
        tied = np.intersect1d(tied, res.space.hrep(res.codes[i]).tied_units)
    return tied


def _points_at(pts: np.ndarray, starts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Points of the polyline at the given arc lengths, shape (len(positions), d)."""
    seg = np.clip(np.searchsorted(starts, positions, side="right") - 1, 0, len(starts) - 2)
    frac = (positions - starts[seg]) / (starts[seg + 1] - starts[seg])
    return pts[seg] + frac[:, None] * (pts[seg + 1] - pts[seg])
