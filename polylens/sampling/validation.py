"""Sampled estimates next to the exact engine, on models the exact adapter supports.

* :func:`validate_density` -- code changes sampled along a polyline against the exact
  number of boundaries crossed (``polylens.path_crossings``), as the steps per segment
  grow.
* :func:`validate_local_complexity` -- distinct codes sampled in a disc against the
  exact number of regions meeting the disc (enumerated in the disc's plane).

Both say how many samples an approximation needs. A sampled count can never exceed the
exact one (a unit's code changes only where its boundary is crossed): a row with
``violations`` or ``outside`` above zero points at a bug or a float32 rounding at a
boundary, and is reported rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from polylens._repr import short_repr
from polylens._validation import invalid
from polylens.errors import PolylensError
from polylens.geometry import Box, enumerate_regions
from polylens.models import PWLNet
from polylens.sampling.density import _tensor, disc_basis, local_complexity, path_density
from polylens.sampling.hamming_geometry import n_distinct

__all__ = ["validate_density", "DensityValidation", "validate_local_complexity", "LocalComplexityValidation"]


@short_repr
@dataclass(frozen=True)
class DensityValidation:
    """Sampled against exact boundary crossings along one polyline.

    Two sampled counts are compared with their exact counterparts:

    * ``sampled`` -- steps whose two codes differ (:attr:`PathDensity.n_changes`), against
      ``exact``, the boundaries crossed. It can never exceed the exact count.
    * ``sampled_flips`` -- Hamming distances summed over the steps (:attr:`PathDensity.n_flips`,
      one per max-pool arg-max change), against ``exact_flips``, the units that change
      summed over the crossings: where several units change at one point (a path through
      a vertex, a ReLU feeding an all-zero max-pool window) this is larger than ``exact``.
      A path that *starts or ends* on a boundary (an input on a max-pool tie, for
      instance) adds sampled flips that no crossing has: the sampled code at that end is
      the boundary's, the exact path's first piece is the one after it.

    Attributes
    ----------
    steps : ndarray of shape (n_rows,), int
        Steps per segment of each row.
    sampled : ndarray of shape (n_rows,), int
        Steps with a code change, whole path.
    sampled_flips : ndarray of shape (n_rows,), int
    exact : int
        Boundaries crossed along the path (exact).
    exact_flips : int
        Unit changes summed over the exact crossings.
    segment_sampled : ndarray of shape (n_rows, n_segments), int
    segment_exact : ndarray of shape (n_segments,), int
    violations : ndarray of shape (n_rows,), int
        Segments whose ``sampled`` count exceeds the exact one (should be 0).
    length : float
        Length of the path in input space.
    """

    steps: np.ndarray
    sampled: np.ndarray
    sampled_flips: np.ndarray
    exact: int
    exact_flips: int
    segment_sampled: np.ndarray
    segment_exact: np.ndarray
    violations: np.ndarray
    length: float

    @property
    def relative_error(self) -> np.ndarray:
        """``(exact - sampled) / exact`` per row (0 where both are 0)."""
        return _relative(self.exact, self.sampled)

    @property
    def flips_relative_error(self) -> np.ndarray:
        """``(exact_flips - sampled_flips) / exact_flips`` per row."""
        return _relative(self.exact_flips, self.sampled_flips)

    def table(self) -> str:
        """A Markdown table: steps, sampled and exact counts, their relative errors, violations.

        Raises
        ------
        None of its own
        """
        rows = [
            (int(s), int(c), self.exact, f"{e:.2%}", int(f), self.exact_flips, f"{ef:.2%}", int(v))
            for s, c, e, f, ef, v in zip(self.steps, self.sampled, self.relative_error, self.sampled_flips,
                                         self.flips_relative_error, self.violations)
        ]
        return _markdown(("steps/segment", "sampled changes", "exact crossings", "rel. error", "sampled flips",
                          "exact unit changes", "rel. error", "violations"), rows)


def _relative(exact: int, sampled: np.ndarray) -> np.ndarray:
    if exact == 0:
        return (sampled != 0).astype(np.float64)
    return (exact - sampled) / exact


def validate_density(model: torch.nn.Module, points, *, steps=(1, 2, 4, 8, 16, 32, 64, 128), crossings=None,
                     batch_size: int = 256, device=None) -> DensityValidation:
    """Sampled code changes along a polyline next to the exact crossings.

    Parameters
    ----------
    model : torch.nn.Module
        A model :meth:`polylens.PWLNet.from_torch` supports; its default sites (the
        activation and max-pooling modules and calls) are sampled. Run it in float64 to
        compare codes exactly at samples close to a boundary.
    points : Tensor or ndarray of shape (n_points, *input_shape)
        Vertices of the polyline in input space.
    steps : sequence of int, default=(1, 2, 4, ..., 128)
        Steps per segment, one row each.
    crossings : callable, optional
        ``crossings(net, segment)`` with ``net`` the exact :class:`~polylens.PWLNet` and
        ``segment`` of shape (2, input_dim), returning an object with ``n_crossings`` and
        ``units`` (the units changing at each crossing), as
        :func:`polylens.path_crossings` does (the default).
    batch_size : int, default=256
    device : optional

    Returns
    -------
    DensityValidation

    Raises
    ------
    UnsupportedLayerError
        The exact adapter does not support the model.
    PolylensError
        The sampled sites do not match the exact net's units.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
    ...                             torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
    >>> res = validate_density(model, [[-3.0, -3.0], [3.0, 3.0]], steps=(1, 16, 4096))
    >>> bool(res.sampled[-1] == res.exact), res.violations.tolist()
    (True, [0, 0, 0])
    """
    net = _exact_net(model, _tensor(points, "points")[:1])
    if crossings is None:
        from polylens.geometry.paths import path_crossings as crossings
    steps = np.asarray(steps)
    if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer) or np.any(steps < 1):
        raise invalid("validate_density", "steps", "a non-empty sequence of ints >= 1", steps)
    pts = net.flatten_inputs(points, "points")
    if pts.shape[0] < 2:
        raise invalid("validate_density", "points", "at least 2 vertices", f"{pts.shape[0]}")
    found = [crossings(net, pts[i:i + 2]) for i in range(pts.shape[0] - 1)]
    exact = np.array([int(c.n_crossings) for c in found])
    changes, flips = [], []
    for s in steps:
        res = path_density(model, points, steps=int(s), batch_size=batch_size, device=device, progress=False)
        _check_units(res.codes.layout, net)
        changes.append(res.segment_changes)
        flips.append(res.n_flips)
    seg = np.array(changes, dtype=np.int64)
    return DensityValidation(
        steps=steps.astype(np.int64),
        sampled=seg.sum(axis=1),
        sampled_flips=np.array(flips, dtype=np.int64),
        exact=int(exact.sum()),
        exact_flips=int(sum(len(u) for c in found for u in c.units)),
        segment_sampled=seg,
        segment_exact=exact,
        violations=(seg > exact[None, :]).sum(axis=1),
        length=float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()),
    )


@short_repr
@dataclass(frozen=True)
class LocalComplexityValidation:
    """Sampled distinct codes in a disc against the exact number of regions meeting it.

    Attributes
    ----------
    n_samples : ndarray of shape (n_rows,), int
    sampled : ndarray of shape (n_rows,), int
        Distinct codes among the centre and the first ``n_samples`` samples.
    exact : int
        Regions meeting the open disc.
    outside : int
        Sampled codes (over all samples) that are no exact region's (should be 0).
    radius : float
    k : int
    """

    n_samples: np.ndarray
    sampled: np.ndarray
    exact: int
    outside: int
    radius: float
    k: int

    def table(self) -> str:
        """A Markdown table: samples, distinct codes found, exact regions, fraction found.

        Raises
        ------
        None of its own
        """
        rows = [(int(n), int(c), self.exact, f"{c / max(self.exact, 1):.1%}")
                for n, c in zip(self.n_samples, self.sampled)]
        return _markdown(("samples", "distinct codes", "exact regions", "found"), rows)


def validate_local_complexity(model: torch.nn.Module, x, *, radius: float, n_samples=(10, 100, 1000, 10000),
                              k: int | None = 2, basis=None, seed: int = 0, batch_size: int = 256,
                              device=None) -> LocalComplexityValidation:
    """Distinct codes sampled in a disc next to the exact number of regions meeting it.

    Parameters
    ----------
    model : torch.nn.Module
        A model :meth:`polylens.PWLNet.from_torch` supports.
    x : Tensor or ndarray of shape input_shape
        Centre of the disc (one input).
    radius : float
    n_samples : sequence of int, default=(10, 100, 1000, 10000)
        Sample counts, one row each (prefixes of one sample sequence).
    k : {1, 2}, default=2
        Dimension of the random disc (seeded by ``seed``); ignored when ``basis`` is given.
    basis : array-like of shape (input_size, k), optional
        Orthonormal basis of the disc, ``k`` in {1, 2}.
    seed : int, default=0
    batch_size : int, default=256
    device : optional

    Returns
    -------
    LocalComplexityValidation

    Raises
    ------
    TypeError
        If ``x`` is not a tensor or an array of numbers.
    ValueError
        If ``x`` holds NaN or infinite values.
    polylens.errors.InvalidParameterError
        If ``n_samples`` is not a non-empty sequence of ints >= 1, the disc is not of
        dimension 1 or 2 (``k``, or the columns of ``basis``), ``basis`` is not orthonormal
        of shape (input_size, k), ``x`` does not have the model's input shape, or
        ``radius`` or ``batch_size`` is refused by :func:`polylens.sampling.local_complexity`.
    polylens.errors.UnsupportedLayerError
        If the exact adapter does not support the model (:meth:`polylens.PWLNet.from_torch`;
        also its :class:`~polylens.errors.ConversionError`).
    polylens.errors.PolylensError
        If the model returns no tensor, the sampled sites do not match the exact net's
        units, or the exact enumeration of the disc stops before it is complete.
    """
    net = _exact_net(model, _tensor(x, "x")[None])
    counts = np.asarray(n_samples)
    if counts.ndim != 1 or counts.size == 0 or not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 1):
        raise invalid("validate_local_complexity", "n_samples", "a non-empty sequence of ints >= 1", n_samples)
    x0 = net.flatten_inputs(x, "x")[0]
    U = disc_basis(net.input_dim, None if basis is not None else k, basis, np.random.default_rng(seed),
                   func="validate_local_complexity")
    if U is None or U.shape[1] not in (1, 2):
        raise invalid("validate_local_complexity", "k", "1 or 2 (or a `basis` of 1 or 2 columns): the exact count "
                      "needs a disc of dimension 1 or 2", k if basis is None else f"a basis of shape {U.shape}")
    lc = local_complexity(model, x, radius=radius, n_samples=int(counts.max()), basis=U, seed=seed,
                          batch_size=batch_size, device=device, progress=False)
    _check_units(lc.codes.layout, net)
    exact_codes = _regions_meeting_disc(net, x0, U, float(radius))
    exact_set = {row.tobytes() for row in exact_codes.astype(np.int8)}
    sampled_set = {row.tobytes() for row in lc.codes.pieces()}
    return LocalComplexityValidation(
        n_samples=counts.astype(np.int64),
        sampled=np.array([n_distinct(lc.codes[: int(c) + 1]) for c in counts]),
        exact=len(exact_set),
        outside=len(sampled_set - exact_set),
        radius=float(radius),
        k=int(U.shape[1]),
    )


def _regions_meeting_disc(net: PWLNet, x0: np.ndarray, U: np.ndarray, radius: float) -> np.ndarray:
    """Codes of the regions meeting the open disc ``{x0 + U t : |t| < radius}`` (k <= 2)."""
    res = enumerate_regions(net, Box(-radius, radius), origin=x0, basis=U, progress=False)
    if not res.complete:
        raise PolylensError(f"validate_local_complexity: the exact enumeration stopped ({res.stop_reason})")
    if U.shape[1] == 1:  # every interval of the segment's partition meets the open segment
        return res.codes
    keep = [i for i in range(res.n_regions) if _min_norm_2d(res.region(i)) < radius]
    return res.codes[keep]


def _min_norm_2d(region) -> float:
    """Distance from the origin to a bounded convex polygon ``A t <= b`` (exact in 2-D:
    the nearest point is the origin, a foot of the perpendicular on an edge, or a vertex)."""
    A, b = region.A, region.b
    feet = A * b[:, None]  # rows have unit norm: the foot of the origin on each edge's line
    candidates = np.vstack([np.zeros((1, 2)), feet, region.vertices()])
    inside = region.contains(candidates)  # to the engine's relative tolerance
    return float(np.linalg.norm(candidates[inside], axis=1).min())


def _exact_net(model, example: torch.Tensor) -> PWLNet:
    return PWLNet.from_torch(model, example.to(torch.float64))


def _check_units(layout, net: PWLNet) -> None:
    sampled = [s.n_units for s in layout.sites]
    if sampled != list(net.layer_sizes):
        raise PolylensError(
            f"the sampled sites {layout.names} have {sampled} units but the exact net's nonlinearities "
            f"{net.layer_names} have {list(net.layer_sizes)}; the sampled codes cannot be compared with the exact ones"
        )


def _markdown(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
