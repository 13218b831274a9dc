"""Sampled boundary density: along paths, under activation scaling, and around a point.

* :func:`path_density` -- Hamming distance between consecutive samples' codes per unit
  length along a polyline, in input space or in a site's activation space.
* :func:`scale_activations` -- multiply a site's activation vector by scales and watch
  the downstream code and the prediction change.
* :func:`local_complexity` -- distinct codes and flipped units among samples in a ball
  or a random k-dimensional disc around a point.

All three count *sampled* code changes. Between two samples a unit that flips twice is
missed, so a sampled count is a lower bound of the boundaries crossed and converges to it
as samples get denser; :mod:`polylens.sampling.validation` measures how fast on nets the
exact engine supports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from polylens._repr import short_repr
from polylens._validation import check_int, check_number, invalid
from polylens.errors import PolylensError
from polylens.models.predict import predicted_class
from polylens.sampling.collect import Session, _first_tensor
from polylens.sampling.hamming_geometry import crossings_by_site, hamming_by_site, n_distinct
from polylens.sampling.packed_codes import Codes

__all__ = [
    "path_density", "PathDensity", "scale_activations", "ScaleResult",
    "local_complexity", "LocalComplexity", "predictions",
]


# --------------------------------------------------------------------------- paths
@short_repr
@dataclass(frozen=True)
class PathDensity:
    """Code changes sampled along a polyline.

    Attributes
    ----------
    sites : list of str
        Sites counted (with ``at``: the sites that run after it).
    t : ndarray of shape (n_samples,)
        Arc-length position of every sample (in the space of the path).
    step_flips : ndarray of shape (n_samples - 1, n_sites), int
        Code changes between consecutive samples, per site: their Hamming distance
        (halved on max-pooling sites, where one arg-max change flips two bits; see
        :func:`~polylens.sampling.crossings_by_site`).
    segment_lengths : ndarray of shape (n_segments,)
    steps : int
        Steps per segment.
    approximate : bool
        True if a counted site is approximate (smooth activations).
    codes : Codes
        The samples' codes (``n_samples`` rows).
    """

    sites: list
    t: np.ndarray
    step_flips: np.ndarray
    segment_lengths: np.ndarray
    steps: int
    approximate: bool
    codes: Codes = field(repr=False)

    @property
    def length(self) -> float:
        return float(self.segment_lengths.sum())

    @property
    def flips(self) -> np.ndarray:
        """Code changes per site over the whole path, shape (n_sites,)."""
        return self.step_flips.sum(axis=0)

    @property
    def n_flips(self) -> int:
        """Code changes over the whole path, all sites (the sampled crossing count)."""
        return int(self.step_flips.sum())

    @property
    def segment_flips(self) -> np.ndarray:
        """Code changes per segment, all sites, shape (n_segments,)."""
        per_step = self.step_flips.sum(axis=1)
        return per_step.reshape(len(self.segment_lengths), self.steps).sum(axis=1)

    @property
    def n_changes(self) -> int:
        """Steps whose two samples have different codes: the sampled number of region
        boundaries crossed. It counts one where several units change at one point (a
        ReLU feeding a max pool whose window was all zeros), and can never exceed the
        exact number of boundaries crossed."""
        return int(np.count_nonzero(self.step_flips.sum(axis=1)))

    @property
    def segment_changes(self) -> np.ndarray:
        """:attr:`n_changes` per segment, shape (n_segments,)."""
        changed = self.step_flips.sum(axis=1) > 0
        return changed.reshape(len(self.segment_lengths), self.steps).sum(axis=1)

    @property
    def density(self) -> float:
        """Code changes (Hamming distance, summed over steps) per unit length, all sites."""
        return self.n_flips / self.length

    @property
    def change_density(self) -> float:
        """Region boundaries crossed (:attr:`n_changes`) per unit length."""
        return self.n_changes / self.length

    @property
    def site_density(self) -> np.ndarray:
        """Code changes per unit length, per site, shape (n_sites,)."""
        return self.flips / self.length


def path_density(model: torch.nn.Module, points, *, steps: int, at: str | None = None, sites=None,
                 batch_size: int = 256, device=None, progress: bool = True) -> PathDensity:
    """Sampled density of code changes along a polyline.

    Parameters
    ----------
    model : torch.nn.Module
    points : Tensor or ndarray of shape (n_points, *input_shape)
        Vertices of the polyline, as inputs of the model (``n_points >= 2``).
    steps : int
        Equal steps per segment; the path is sampled at ``(n_points - 1) * steps + 1``
        points, vertices included.
    at : str, optional
        A module name (``"#k"``: its ``k``-th call). The path then runs between the
        vertices' *activations* at that module (its outputs): the model is run on the
        interpolated inputs with the module's output replaced by the interpolated
        activations, lengths are measured in activation space, and only sites that run
        after the module are counted. In a chain the input does not matter; where skip
        connections go around the module, they carry the interpolated input.
    sites : str or sequence of str, optional
        Site patterns (see :func:`polylens.sampling.find_sites`).
    batch_size : int, default=256
    device : optional
        See :func:`polylens.sampling.codes`.
    progress : bool, default=True

    Returns
    -------
    PathDensity

    Raises
    ------
    TypeError
        If ``model`` is not a torch module, or ``points`` is not a tensor or array of real
        numbers.
    ValueError
        If ``points`` holds NaN or infinite values, has fewer than two points or the path
        through them has zero length.
    InvalidParameterError
        If ``steps`` or ``batch_size`` is not a positive int.
    PolylensError
        If no site runs after the module ``at``, or the model returns no tensor.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> res = path_density(model, torch.tensor([[-3.0, 0.0], [3.0, 0.0]]), steps=64)
    >>> res.n_flips <= 8, res.step_flips.shape
    (True, (64, 1))
    """
    pts = _float_tensor(points, "points")
    if pts.ndim < 2 or pts.shape[0] < 2:
        raise ValueError(
            f"path_density: `points` must have shape (n_points >= 2, *input_shape); got {tuple(pts.shape)}"
        )
    steps = check_int(steps, func="path_density", name="steps", low=1)
    batch_size = check_int(batch_size, func="path_density", name="batch_size", low=1)
    n_seg = pts.shape[0] - 1
    n = n_seg * steps + 1
    seg = np.minimum(np.arange(n) // steps, n_seg - 1)
    frac = (np.arange(n) - seg * steps) / steps
    chunks = []
    with Session(model, sites=sites, device=device, edit=at) as session:
        if at is None:
            space = pts
        else:
            captured = []
            session.edit_fn = lambda out: captured.append(out.detach().to("cpu", torch.float64)) or None
            session.run((pts,))
            space = captured[0]
        flat = space.reshape(space.shape[0], -1)
        lengths = torch.linalg.vector_norm(flat[1:] - flat[:-1], dim=1).numpy()
        if not lengths.sum() > 0:
            raise ValueError("path_density: the path through `points` has zero length")
        for lo in tqdm(range(0, n, batch_size), disable=not progress, desc="path_density"):
            s = torch.from_numpy(seg[lo:lo + batch_size])
            f = torch.from_numpy(frac[lo:lo + batch_size])
            x = _lerp(pts, s, f)
            if at is not None:
                a = _lerp(space, s, f)
                session.edit_fn = lambda out, a=a: _replace(out, a, at)
            packed, _ = session.run((x,))
            chunks.append(packed)
        layout = session.layout
        downstream = session.downstream
    all_codes = Codes(np.concatenate(chunks), layout)
    if at is not None:
        if not downstream:
            raise PolylensError(f"path_density: no site runs after `at` module {at!r}; nothing to count")
        all_codes = all_codes.select(downstream)
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    return PathDensity(
        sites=all_codes.layout.names,
        t=starts[seg] + frac * lengths[seg],
        step_flips=crossings_by_site(all_codes[:-1], all_codes[1:]),
        segment_lengths=lengths,
        steps=steps,
        approximate=all_codes.approximate,
        codes=all_codes,
    )


def _lerp(vertices: torch.Tensor, seg: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    f = frac.reshape(-1, *([1] * (vertices.ndim - 1)))
    return (1 - f) * vertices[seg] + f * vertices[seg + 1]


def _replace(out: torch.Tensor, new: torch.Tensor, at: str) -> torch.Tensor:
    if out.shape != new.shape:
        raise PolylensError(
            f"`at` module {at!r}: its output has shape {tuple(out.shape)} here but {tuple(new.shape)} "
            "at the path's vertices"
        )
    return new.to(device=out.device, dtype=out.dtype)


# --------------------------------------------------------------------------- scaling
@short_repr
@dataclass(frozen=True)
class ScaleResult:
    """The downstream code and prediction as a site's activations are scaled.

    Arrays are indexed ``[scale, sample]``.

    Attributes
    ----------
    scales : ndarray of shape (n_scales,)
    sites : list of str
        Sites that run after the scaled one.
    hamming : ndarray of shape (n_scales, n), int
        Distance from the unscaled (scale 1) code.
    site_hamming : ndarray of shape (n_scales, n, n_sites), int
    crossed : ndarray of shape (n_scales, n), int
        Code changes (:func:`~polylens.sampling.crossings_by_site`) summed between
        consecutive scales (all scales given, sorted, and 1) from 1 to each scale: the
        sampled number of boundaries crossed.
    density : ndarray of shape (n_scales, n)
        ``crossed / (|scale - 1| * norm)``: boundaries per unit length of activation
        space along the ray (NaN at scale 1 and for a zero activation).
    norms : ndarray of shape (n,)
        Euclidean norm of each sample's unscaled activation at the site.
    outputs : ndarray of shape (n_scales, n, *output_shape)
    predictions : ndarray of shape (n_scales, n, ...)
        See :func:`predictions`.
    reference_predictions : ndarray of shape (n, ...)
        Predictions at scale 1.
    approximate : bool
    codes : Codes
        Rows ``scale_index * n + sample``.
    """

    scales: np.ndarray
    sites: list
    hamming: np.ndarray
    site_hamming: np.ndarray
    crossed: np.ndarray
    density: np.ndarray
    norms: np.ndarray
    outputs: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)
    reference_predictions: np.ndarray = field(repr=False)
    approximate: bool
    codes: Codes = field(repr=False)

    @property
    def prediction_changed(self) -> np.ndarray:
        """Whether the prediction differs from the unscaled one, shape (n_scales, n)."""
        diff = self.predictions != self.reference_predictions[None]
        return diff.reshape(diff.shape[0], diff.shape[1], -1).any(axis=2)


def scale_activations(model: torch.nn.Module, x, site: str, scales, *, sites=None,
                      batch_size: int = 256, device=None) -> ScaleResult:
    """Multiply the activation vector at ``site`` by each scale; report codes and predictions.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor or ndarray of shape (n, *input_shape)
        A batch of inputs.
    site : str
        Module whose output is scaled (``"#k"``: its ``k``-th call).
    scales : array-like of shape (n_scales,)
        Finite factors; 1 (the reference) is added internally if missing.
    sites : str or sequence of str, optional
        Site patterns; only sites running after ``site`` are reported.
    batch_size : int, default=256
    device : optional

    Returns
    -------
    ScaleResult

    Raises
    ------
    TypeError
        If ``model`` is not a torch module, or ``x`` is not a tensor or array of real
        numbers.
    ValueError
        If ``x`` holds NaN or infinite values or is not a batch, or ``scales`` is not a
        non-empty 1-D array of finite numbers.
    InvalidParameterError
        If ``batch_size`` is not a positive int.
    PolylensError
        If no site runs after ``site``, or the model returns no tensor.
    """
    xs = _tensor(x, "x")
    if xs.ndim < 2 or xs.shape[0] < 1:
        raise ValueError(f"scale_activations: `x` must be a batch of shape (n, *input_shape); got {tuple(xs.shape)}")
    given = np.asarray(scales, dtype=np.float64)
    if given.ndim != 1 or given.size == 0 or not np.all(np.isfinite(given)):
        raise ValueError(f"scale_activations: `scales` must be a non-empty 1-D array of finite numbers; got {scales!r}")
    batch_size = check_int(batch_size, func="scale_activations", name="batch_size", low=1)
    grid = np.unique(np.concatenate([given, [1.0]]))
    n, m = xs.shape[0], grid.size
    rows = np.arange(n * m)
    factor = torch.from_numpy(grid[rows // n])
    chunks, outputs, norms = [], [], np.empty(n * m)
    with Session(model, sites=sites, device=device, edit=site, edit_argument="site") as session:
        for lo in range(0, n * m, batch_size):
            sel = rows[lo:lo + batch_size]
            f = factor[lo:lo + batch_size]

            def scale(out, f=f, sel=sel):
                norms[sel] = torch.linalg.vector_norm(out.reshape(out.shape[0], -1).double(), dim=1).cpu().numpy()
                return out * f.to(device=out.device, dtype=out.dtype).reshape(-1, *([1] * (out.ndim - 1)))

            session.edit_fn = scale
            packed, out = session.run((xs[torch.from_numpy(sel % n)],))
            chunks.append(packed)
            outputs.append(_main_output(out).detach().to("cpu", torch.float64).numpy())
        downstream, layout = session.downstream, session.layout
    if not downstream:
        raise PolylensError(f"scale_activations: no site runs after `site` {site!r}; nothing to code")
    all_codes = Codes(np.concatenate(chunks), layout).select(downstream)
    out = np.concatenate(outputs).reshape(m, n, *outputs[0].shape[1:])
    ref = int(np.flatnonzero(grid == 1.0)[0])
    per_site = hamming_by_site(all_codes, all_codes[np.tile(np.arange(n), m) + ref * n]).reshape(m, n, -1)
    step = crossings_by_site(all_codes[: (m - 1) * n], all_codes[n:]).sum(axis=1).reshape(m - 1, n)
    cum = np.concatenate([np.zeros((1, n), np.int64), np.cumsum(step, axis=0)])
    crossed = np.abs(cum - cum[ref])
    with np.errstate(divide="ignore", invalid="ignore"):
        density = crossed / (np.abs(grid - 1.0)[:, None] * norms[:n][None, :])
    density[ref] = np.nan
    density[:, norms[:n] == 0] = np.nan
    pick = np.searchsorted(grid, given)
    preds = predictions(out)
    return ScaleResult(
        scales=given,
        sites=all_codes.layout.names,
        hamming=per_site.sum(axis=2)[pick],
        site_hamming=per_site[pick],
        crossed=crossed[pick],
        density=density[pick],
        norms=norms[:n],
        outputs=out[pick],
        predictions=preds[pick],
        reference_predictions=preds[ref],
        approximate=all_codes.approximate,
        codes=Codes(all_codes.packed.reshape(m, n, -1)[pick].reshape(len(pick) * n, -1), all_codes.layout),
    )


def predictions(outputs: np.ndarray) -> np.ndarray:
    """Predictions from outputs of shape (..., n_outputs): the arg-max over the last axis,
    or ``output > 0`` (a binary logit) when it has one entry. Shape ``outputs.shape[:-1]``
    (see :func:`polylens.models.predict.predicted_class`, the one rule).

    Raises
    ------
    None of its own
    """
    return predicted_class(np.asarray(outputs))


def _main_output(output) -> torch.Tensor:
    if isinstance(output, Mapping) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    tensor = _first_tensor(output)
    if tensor is None:
        raise PolylensError(f"the model returned {type(output).__name__} with no tensor in it")
    return tensor


# --------------------------------------------------------------------------- neighbourhoods
@short_repr
@dataclass(frozen=True)
class LocalComplexity:
    """Codes sampled in a ball or disc around a point.

    Attributes
    ----------
    n_distinct : int
        Distinct codes among the centre and the samples.
    n_flipped : int
        Units whose piece differs from the centre's in at least one sample.
    sites : list of str
    site_distinct : ndarray of shape (n_sites,), int
    site_flipped : ndarray of shape (n_sites,), int
    flipped_units : ndarray of shape (n_units,), bool
    offsets : ndarray of shape (n_samples, k)
        Sample positions in the disc's coordinates (``k = input size`` for a ball).
    basis : ndarray of shape (input_size, k) or None
        Orthonormal basis of the disc (None: the ball, ``offsets`` are input offsets).
    radius : float
    approximate : bool
    codes : Codes
        Row 0 is the centre, then the samples.
    """

    n_distinct: int
    n_flipped: int
    sites: list
    site_distinct: np.ndarray
    site_flipped: np.ndarray
    flipped_units: np.ndarray
    offsets: np.ndarray
    basis: np.ndarray | None
    radius: float
    approximate: bool
    codes: Codes = field(repr=False)


def local_complexity(model: torch.nn.Module, x, *, radius: float, n_samples: int, k: int | None = None,
                     basis=None, sites=None, seed: int = 0, batch_size: int = 256, device=None,
                     progress: bool = True) -> LocalComplexity:
    """Distinct codes and flipped units among uniform samples around ``x``.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor or ndarray of shape input_shape
        One input, without a batch axis (the model sees ``x[None]``).
    radius : float
        Radius of the ball or disc (Euclidean, in input space).
    n_samples : int
        Samples drawn uniformly in the ball or disc (the centre is added).
    k : int, optional
        Sample a random ``k``-dimensional disc through ``x`` (an orthonormal basis from
        the QR factorisation of a Gaussian matrix, seeded by ``seed``) instead of the
        full ball.
    basis : array-like of shape (input_size, k), optional
        The disc's basis; columns must be orthonormal.
    sites : str or sequence of str, optional
    seed : int, default=0
    batch_size : int, default=256
    device : optional
    progress : bool, default=True

    Returns
    -------
    LocalComplexity

    Raises
    ------
    TypeError
        If ``model`` is not a torch module, or ``x`` is not a tensor or array of real
        numbers.
    ValueError
        If ``x`` holds NaN or infinite values.
    InvalidParameterError
        If ``radius`` is not a positive number, ``n_samples`` or ``batch_size`` not a
        positive int, ``k`` not an int in 1..input_dim, or ``basis`` not an array of
        shape (input_dim, k) with orthonormal columns.
    PolylensError
        If the model returns no tensor.
    """
    center = _float_tensor(x, "x")
    d = int(center.numel())
    radius = check_number(radius, func="local_complexity", name="radius", low=0.0, low_open=True)
    n_samples = check_int(n_samples, func="local_complexity", name="n_samples", low=1)
    batch_size = check_int(batch_size, func="local_complexity", name="batch_size", low=1)
    rng = np.random.default_rng(seed)
    U = disc_basis(d, k, basis, rng)
    dim = d if U is None else U.shape[1]
    g = rng.standard_normal((n_samples, dim))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    offsets = g * (radius * rng.random(n_samples) ** (1.0 / dim))[:, None]
    delta = offsets if U is None else offsets @ U.T
    points = torch.cat([torch.zeros(1, d, dtype=torch.float64), torch.from_numpy(delta)])
    points = points + center.reshape(1, -1)
    points = points.reshape(n_samples + 1, *center.shape)
    chunks = []
    with Session(model, sites=sites, device=device) as session:
        for lo in tqdm(range(0, n_samples + 1, batch_size), disable=not progress, desc="local_complexity"):
            chunks.append(session.run((points[lo:lo + batch_size],))[0])
        layout = session.layout
    all_codes = Codes(np.concatenate(chunks), layout)
    changed = np.bitwise_or.reduce(np.bitwise_xor(all_codes.packed, all_codes.packed[:1]), axis=0)
    bits = np.unpackbits(changed, bitorder="little")[layout.bit_columns].astype(bool)
    flipped = np.zeros(layout.n_units, dtype=bool)
    np.logical_or.at(flipped, layout.unit_of_bit(), bits)
    unit_starts = np.concatenate([[0], np.cumsum([s.n_units for s in layout.sites])[:-1]])
    return LocalComplexity(
        n_distinct=n_distinct(all_codes),
        n_flipped=int(flipped.sum()),
        sites=layout.names,
        site_distinct=np.array([n_distinct(all_codes, [name]) for name in layout.names]),
        site_flipped=np.add.reduceat(flipped.astype(np.int64), unit_starts),
        flipped_units=flipped,
        offsets=offsets,
        basis=U,
        radius=float(radius),
        approximate=layout.approximate,
        codes=all_codes,
    )


def disc_basis(d: int, k: int | None, basis, rng: np.random.Generator,
               func: str = "local_complexity") -> np.ndarray | None:
    """The orthonormal basis of shape (d, k) of a disc: ``basis`` checked, or a random
    one for ``k``, or None (the full ball) when both are None; errors name ``func``."""
    if basis is not None:
        U = np.asarray(basis, dtype=np.float64)
        if U.ndim != 2 or U.shape[0] != d or (k is not None and U.shape[1] != k):
            raise invalid(func, "basis", f"an array of shape ({d}, {k if k is not None else 'k'})",
                          f"shape {U.shape}")
        if not np.allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-8):
            raise invalid(func, "basis", "an array with orthonormal columns", "columns that are not")
        return U
    if k is None:
        return None
    k = check_int(k, func=func, name="k", low=1, high=d)
    q, r = np.linalg.qr(rng.standard_normal((d, int(k))))
    return q * np.sign(np.diag(r))


# --------------------------------------------------------------------------- helpers
def _tensor(value, name: str) -> torch.Tensor:
    """A CPU tensor of ``value`` (moved to the model's device and dtype batch by batch)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"`{name}` must be a tensor or an array of numbers; got {type(value).__name__}") from None
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return t


def _float_tensor(value, name: str) -> torch.Tensor:
    """A float64 CPU tensor (points that get interpolated)."""
    t = _tensor(value, name)
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {t.dtype}")
    return t.to(torch.float64)
