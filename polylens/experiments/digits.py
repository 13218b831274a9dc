"""The polytope-lens experiments on a small CNN trained on scikit-learn's digits.

Three experiments, one per prediction of the polytope lens (Black, Sharkey et al., 2022):

* :func:`interpolation_density` -- boundary density along straight interpolations between
  test images of different classes, in input space or in a hidden layer's activation
  space: sampled for every pair (:func:`polylens.path_density`), exact for the first
  pairs (:func:`polylens.path_crossings`; for activation space on ``net.split(at=...)``),
  and the density near class changes against the density elsewhere
  (:func:`~polylens.experiments.boundaries.contrast_near_changes`).
* :func:`activation_scaling` -- a hidden layer's activation vectors multiplied by factors
  from 0 up: boundaries crossed per unit length, downstream code change and prediction
  change against the factor (:func:`polylens.scale_activations`), with exact counts for the
  first inputs.
* :func:`layer_groupings` -- spline-code clusters of a layer against activation clusters,
  single neurons and NMF directions, scored by class purity
  (:func:`~polylens.experiments.monosemanticity.compare_groupings`).

:func:`run_digits` trains the model (:func:`train_digits_cnn`) and runs all three.
Every function takes a :class:`DigitsConfig`; ``DigitsConfig.tiny()`` runs in seconds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from polylens import zoo
from polylens._repr import short_repr
from polylens._validation import check_bool, check_int, check_number, check_option, invalid
from polylens.experiments.boundaries import BoundaryContrast, binned, contrast_near_changes
from polylens.experiments.monosemanticity import GroupingComparison, HDBSCANScore, compare_groupings, hdbscan_purity
from polylens.experiments.stats import mean_ci
from polylens.geometry import PathCrossings, path_crossings
from polylens.models import PWLNet
from polylens.models.predict import predicted_class
from polylens.sampling import codes, path_density, scale_activations

__all__ = [
    "DigitsConfig", "DigitsModel", "InterpolationDensity", "ActivationScaling", "DigitsResults",
    "train_digits_cnn", "interpolation_density", "activation_scaling", "layer_groupings", "run_digits",
    "layer_outputs", "digits_model", "ARCHITECTURES", "code_hdbscan", "run_digits_seeds",
]

ARCHITECTURES = {
    "BN 8/16": dict(batchnorm=True, channels=(8, 16)),
    "no BN 8/16": dict(batchnorm=False, channels=(8, 16)),
    "BN 16/32": dict(batchnorm=True, channels=(16, 32)),
}
"""The digits CNNs the report compares: with and without BatchNorm, and two widths
(keyword arguments of :class:`DigitsConfig`)."""

SPACES = ("input", "hidden")


@short_repr
@dataclass(frozen=True)
class DigitsConfig:
    """Sizes of the digits experiments.

    Attributes
    ----------
    channels : tuple of int, default=(8, 16)
        Convolution channels of :func:`digits_model`.
    batchnorm : bool, default=True
        A BatchNorm after each convolution (the layout of :func:`polylens.zoo.digits_cnn`).
    epochs : int, default=8
    hidden : str, default="pool1"
        The nonlinearity (module name, also its :attr:`PWLNet.layer_names` name) whose
        output space the hidden-layer paths and the scaling use: the first max pool.
    n_pairs : int, default=200
        Test pairs of different classes interpolated (sampled density).
    n_exact_input, n_exact_hidden : int, default=8, 24
        Of those, the first pairs also crossed exactly in input and activation space.
    steps : int, default=512
        Samples per path, also the bins of the density statistic.
    window : float, default=0.05
        Half-width of the window around a class change (fraction of the path).
    windows : tuple of float, default=(0.01, 0.02, 0.05, 0.1)
        Half-widths of the window sweep (sampled density, every pair).
    scales : tuple of float, default=0, 0.125, ..., 5
    n_scaled : int, default=300
        Test images whose activations are scaled.
    n_exact_scaled : int, default=10
        Of those, the first are scaled exactly (the ray from 0 to the largest scale).
    groups_layer : str, default="relu2"
        The layer whose codes and activations are grouped (the second ReLU).
    n_groups : int, default=20
    hdbscan_min_size : int, default=10
        ``min_cluster_size`` of the paper's protocol: HDBSCAN on the Hamming distances
        of the spline codes (:func:`~polylens.experiments.monosemanticity.hdbscan_purity`).
    n_boot : int, default=1000
        Bootstrap replicates of every interval.
    seed : int, default=0
        Data split, weights, training, pairs, clustering and bootstrap.
    """

    channels: tuple[int, int] = (8, 16)
    batchnorm: bool = True
    epochs: int = 8
    hidden: str = "pool1"
    n_pairs: int = 200
    n_exact_input: int = 8
    n_exact_hidden: int = 24
    steps: int = 512
    window: float = 0.05
    windows: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1)
    scales: tuple[float, ...] = tuple(float(s) for s in np.arange(41) / 8)
    n_scaled: int = 300
    n_exact_scaled: int = 10
    groups_layer: str = "relu2"
    n_groups: int = 20
    hdbscan_min_size: int = 10
    n_boot: int = 1000
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "n_pairs", "n_exact_input", "n_exact_hidden", "steps", "n_scaled", "n_groups",
                     "n_boot", "hdbscan_min_size"):
            check_int(getattr(self, name), func="DigitsConfig", name=name, low=1)
        check_int(self.n_exact_scaled, func="DigitsConfig", name="n_exact_scaled", low=0)
        check_int(self.seed, func="DigitsConfig", name="seed", low=0)
        check_bool(self.batchnorm, func="DigitsConfig", name="batchnorm")
        if len(self.channels) != 2:
            raise invalid("DigitsConfig", "channels", "two channel counts", self.channels)
        for c in self.channels:
            check_int(c, func="DigitsConfig", name="channels", low=1)
        for w in (self.window, *self.windows):
            check_number(w, func="DigitsConfig", name="window", low=0.0, high=0.5, low_open=True)
            if w == 0.5:
                raise invalid("DigitsConfig", "window", "a fraction of a path in (0, 0.5)", w)
        if not self.scales:
            raise invalid("DigitsConfig", "scales", "a non-empty tuple of finite factors", self.scales)
        for v in self.scales:
            check_number(v, func="DigitsConfig", name="scales")

    @property
    def architecture(self) -> str:
        """A short name of the CNN: ``"BN 8/16"``, ``"no BN 16/32"``, ..."""
        return f"{'BN' if self.batchnorm else 'no BN'} {self.channels[0]}/{self.channels[1]}"

    @classmethod
    def tiny(cls) -> "DigitsConfig":
        """A configuration that runs in a few seconds (tests).

        Raises
        ------
        None of its own
        """
        return cls(channels=(4, 8), epochs=3, n_pairs=12, n_exact_input=1, n_exact_hidden=3, steps=64, windows=(0.02,),
                   scales=(0.0, 0.5, 1.0, 2.0, 4.0), n_scaled=40, n_exact_scaled=2, n_groups=4, n_boot=100)

    @classmethod
    def replicated(cls) -> "DigitsConfig":
        """The configuration of a full ``polylens report``, run once per seed and architecture:
        fewer paths, samples and exact crossings than the default, so that five seeds of
        three CNNs fit in about ten minutes on two cores.

        Raises
        ------
        None of its own
        """
        return cls(n_pairs=120, n_exact_input=4, n_exact_hidden=8, steps=384, n_scaled=200, n_exact_scaled=4)

    @classmethod
    def quick(cls) -> "DigitsConfig":
        """The configuration of ``polylens report --quick``: fewer paths and inputs, so that
        two seeds run in about a minute.

        Raises
        ------
        None of its own
        """
        return cls(n_pairs=80, n_exact_input=2, n_exact_hidden=6, steps=256, n_scaled=150, n_exact_scaled=4,
                   n_boot=500)


@short_repr
@dataclass(frozen=True)
class DigitsModel:
    """The trained CNN, its exact twin and the data.

    Attributes
    ----------
    model : torch.nn.Sequential
        float32, eval mode.
    net : PWLNet
        The float64 piecewise-linear copy.
    X_train, y_train, X_test, y_test : torch.Tensor
        Images of shape (n, 1, 8, 8) in [0, 1]; labels 0..9.
    train_accuracy, test_accuracy : float
    seconds : float
        Training time.
    """

    model: torch.nn.Module = field(repr=False)
    net: PWLNet = field(repr=False)
    X_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    X_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    train_accuracy: float
    test_accuracy: float
    seconds: float


@short_repr
@dataclass(frozen=True)
class InterpolationDensity:
    """Boundary density along interpolations between test images of different classes.

    Attributes
    ----------
    space : str
        ``"input"`` or ``"hidden"``.
    layer : str or None
        The layer of a hidden-space path.
    pairs : ndarray of shape (n_pairs, 2), int
        Test-set indices of the endpoints.
    sampled : ndarray of shape (n_pairs, steps)
        Sampled code changes (Hamming distance between consecutive samples) per step.
    exact : ndarray of shape (n_exact, steps)
        Exact unit changes per step-sized bin, for the first ``n_exact`` pairs.
    exact_crossings : ndarray of shape (n_exact,), int
        Exact boundaries crossed per path.
    classes : ndarray of shape (n_pairs, steps + 1), int
        Predicted class at every sample.
    changes : list of ndarray
        Per pair, where the predicted class changes (fractions of the path).
    lengths : ndarray of shape (n_pairs,)
        Euclidean length of each path in its space.
    contrast : BoundaryContrast
        Sampled density, every pair.
    contrast_exact : BoundaryContrast
        Exact density, the first ``n_exact`` pairs.
    contrast_sampled_subset : BoundaryContrast
        Sampled density on those same pairs (to compare with ``contrast_exact``).
    by_window : dict of float to BoundaryContrast
        Sampled density, every pair, for each window of ``config.windows``.
    example : PathCrossings
        The exact crossings of the first pair.
    seconds_sampled, seconds_exact : float
    """

    space: str
    layer: str | None
    pairs: np.ndarray
    sampled: np.ndarray = field(repr=False)
    exact: np.ndarray = field(repr=False)
    exact_crossings: np.ndarray
    classes: np.ndarray = field(repr=False)
    changes: list = field(repr=False)
    lengths: np.ndarray = field(repr=False)
    contrast: BoundaryContrast
    contrast_exact: BoundaryContrast
    contrast_sampled_subset: BoundaryContrast
    by_window: dict = field(repr=False)
    example: PathCrossings = field(repr=False)
    seconds_sampled: float
    seconds_exact: float

    @property
    def agreement(self) -> np.ndarray:
        """Sampled code changes over exact unit changes, per exactly crossed path, shape (n_exact,)."""
        return self.sampled[: len(self.exact)].sum(axis=1) / self.exact.sum(axis=1)

    @property
    def mean_changes(self) -> float:
        """Mean number of class changes per path."""
        return float(np.mean([c.size for c in self.changes]))


@short_repr
@dataclass(frozen=True)
class ActivationScaling:
    """A hidden layer's activations scaled by factors: boundaries, codes, predictions.

    Attributes
    ----------
    layer : str
    scales : ndarray of shape (n_scales,)
        Sorted; includes 1.
    density : ndarray of shape (n_scales - 1,)
        Mean over inputs of the boundaries crossed between consecutive scales per unit
        length of activation space; ``density_ci`` of shape (n_scales - 1, 2) its 95% CI.
        NaN for intervals that start at or below 0: the zero vector is a degenerate point
        (after a ReLU and a convolution, every max-pool window of the next layers ties),
        so code changes next to it are ties resolved, not boundaries crossed.
    changed : ndarray of shape (n_scales,)
        Fraction of inputs whose prediction differs from the unscaled one;
        ``changed_ci`` of shape (n_scales, 2).
    code_change : ndarray of shape (n_scales,)
        Mean fraction of downstream code bits that differ from the unscaled code.
    first_change_up : ndarray of shape (n_inputs,)
        Smallest scale above 1 with a different prediction (NaN: none up to the largest).
    first_change_down : ndarray of shape (n_inputs,)
        Largest scale below 1 with a different prediction (NaN: none down to the smallest).
    exact_below, exact_above : ndarray of shape (n_exact,), int
        Exact unit changes on the ray from the smallest positive scale to 1, and from 1 to
        the largest scale, for the first inputs (empty without scales on both sides of 1).
    sampled_below, sampled_above : ndarray of shape (n_exact,), int
        The sampled counts over the same stretches (on the grid of ``scales``; a lower
        bound of the exact ones).
    n_bits : int
        Downstream code bits.
    seconds : float
    changed_estimates : tuple of Estimate
        ``changed`` of every scale with its bootstrap replicates (for
        :func:`polylens.experiments.replication.across_seeds`).
    """

    layer: str
    scales: np.ndarray
    density: np.ndarray
    density_ci: np.ndarray
    changed: np.ndarray
    changed_ci: np.ndarray
    code_change: np.ndarray
    first_change_up: np.ndarray = field(repr=False)
    first_change_down: np.ndarray = field(repr=False)
    exact_below: np.ndarray
    exact_above: np.ndarray
    sampled_below: np.ndarray
    sampled_above: np.ndarray
    n_bits: int
    seconds: float
    changed_estimates: tuple = field(default=(), repr=False)

    def at(self, scale: float) -> int:
        """Index of ``scale`` in :attr:`scales`.

        Raises
        ------
        KeyError
            If ``scale`` is not one of :attr:`scales` (to ``np.isclose``).
        """
        hit = np.flatnonzero(np.isclose(self.scales, scale))
        if hit.size == 0:
            raise KeyError(f"ActivationScaling.at: scale {scale} was not run; scales are {self.scales.tolist()}")
        return int(hit[0])


@short_repr
@dataclass(frozen=True)
class DigitsResults:
    """Everything :func:`run_digits` computes.

    Attributes
    ----------
    config : DigitsConfig
    model : DigitsModel
    paths : dict of str to InterpolationDensity
        ``"input"`` and ``"hidden"``.
    scaling : ActivationScaling
    groupings : GroupingComparison
        Class purity of the groups of ``config.groups_layer``.
    hdbscan : HDBSCANScore
        The paper's protocol on the same layer: class purity of HDBSCAN clusters of its
        spline codes.
    seconds : dict of str to float
        Wall time of every stage.
    """

    config: DigitsConfig
    model: DigitsModel
    paths: dict
    scaling: ActivationScaling
    groupings: GroupingComparison
    hdbscan: HDBSCANScore
    seconds: dict


def digits_model(config: DigitsConfig = DigitsConfig()) -> torch.nn.Sequential:
    """The untrained CNN of ``config`` (seeded): Conv [+ BatchNorm] + ReLU + MaxPool, twice, then Linear.

    Modules are named ``conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten, head``
    (no ``bn*`` without BatchNorm), so the layer names of the experiments mean the same
    in every architecture. With BatchNorm the weights are those of
    :func:`polylens.zoo.digits_cnn` for the same seed and channels.

    Parameters
    ----------
    config : DigitsConfig

    Returns
    -------
    torch.nn.Sequential
        Input (n, 1, 8, 8), output (n, 10).

    Raises
    ------
    None of its own
        ``config`` was checked when it was made.
    """
    torch.manual_seed(config.seed)
    c1, c2 = config.channels
    parts: list[tuple[str, torch.nn.Module]] = []
    for k, (cin, cout) in enumerate(((1, c1), (c1, c2)), start=1):
        parts.append((f"conv{k}", torch.nn.Conv2d(cin, cout, 3, padding=1)))
        if config.batchnorm:
            parts.append((f"bn{k}", torch.nn.BatchNorm2d(cout)))
        parts += [(f"relu{k}", torch.nn.ReLU()), (f"pool{k}", torch.nn.MaxPool2d(2))]
    parts += [("flatten", torch.nn.Flatten()), ("head", torch.nn.Linear(c2 * 2 * 2, 10))]
    return torch.nn.Sequential(OrderedDict(parts))


_RECIPE = 1
"""Version of the digits training in the cache key: raised whenever training changes."""


def _cache_file(config: DigitsConfig, cache: Path) -> Path:
    keys = {k: v for k, v in asdict(config).items() if k in ("channels", "batchnorm", "epochs", "seed")}
    text = json.dumps({**keys, "torch": torch.__version__, "recipe": _RECIPE}, sort_keys=True)
    return cache / f"digits-cnn-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"


def train_digits_cnn(config: DigitsConfig = DigitsConfig(), cache: str | Path | None = None) -> DigitsModel:
    """Train the CNN of ``config`` on scikit-learn's digits (seeded; seconds on a CPU).

    Parameters
    ----------
    config : DigitsConfig
    cache : path, optional
        Folder of trained models (created), keyed by architecture, epochs, seed and torch
        version: a model trained before with the same key is loaded instead of trained
        (``seconds`` is then the original training time).

    Returns
    -------
    DigitsModel

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``config.hidden`` or ``config.groups_layer`` is not a nonlinearity of the model.
    ImportError
        If scikit-learn (the digits data) is not installed.
    OSError
        If the ``cache`` folder cannot be created or written.
    RuntimeError
        From ``torch.load`` or ``load_state_dict``, if a cached file is corrupt or holds
        another model.
    """
    start = time.perf_counter()
    X, y, Xt, yt = zoo.digits_data(seed=config.seed)
    model = digits_model(config)
    file = None if cache is None else _cache_file(config, Path(cache))
    if file is not None and file.exists():
        saved = torch.load(file, weights_only=True)
        model.load_state_dict(saved["state"])
        model.eval()
        train_acc, seconds = float(saved["train_accuracy"]), float(saved["seconds"])
    else:
        train_acc = zoo.train_classifier(model, X, y, epochs=config.epochs, seed=config.seed)
        seconds = time.perf_counter() - start
        if file is not None:
            from polylens._files import atomic_output

            file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(file) as tmp:
                torch.save({"state": model.state_dict(), "train_accuracy": train_acc, "seconds": seconds}, tmp)
    with torch.no_grad():
        test_acc = float((predicted_class(model(Xt)) == yt).float().mean())
    net = PWLNet.from_torch(model, Xt[:1])
    for name in (config.hidden, config.groups_layer):
        if name not in net.layer_names:
            raise invalid("DigitsConfig", "hidden" if name == config.hidden else "groups_layer",
                          f"a nonlinearity of the model, one of {net.layer_names}", name)
    return DigitsModel(model, net, X, y, Xt, yt, train_acc, test_acc, seconds)


def layer_outputs(model: torch.nn.Module, x: torch.Tensor, name: str) -> np.ndarray:
    """The outputs of the module called ``name`` on a batch, flattened.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor of shape (n, *input_shape)
    name : str
        A module name of ``model``.

    Returns
    -------
    ndarray of shape (n, n_outputs), float64

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``name`` is not the name of a submodule of ``model``.
    """
    modules = dict(model.named_modules())
    check_option(name, list(modules)[1:], func="layer_outputs", name="name")
    captured = []
    handle = modules[name].register_forward_hook(lambda mod, args, out: captured.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return captured[0].reshape(len(x), -1).double().numpy()


def interpolation_density(dm: DigitsModel, config: DigitsConfig = DigitsConfig(), space: str = "input", *,
                          progress: bool = True) -> InterpolationDensity:
    """Boundary density along interpolations between test images of different classes.

    Pairs of correctly classified test images of different classes are drawn at random
    (seeded). Each path is sampled at ``config.steps + 1`` equally spaced points; the
    predicted class at every sample gives the class changes, the Hamming distance between
    consecutive samples' codes the sampled density, and the first pairs are also crossed
    exactly.

    Parameters
    ----------
    dm : DigitsModel
    config : DigitsConfig
    space : {"input", "hidden"}, default="input"
        Interpolate the images, or their activations at ``config.hidden`` (only the
        layers after it are counted).
    progress : bool, default=True

    Returns
    -------
    InterpolationDensity

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``space`` is not ``"input"`` or ``"hidden"``, or (``"hidden"``) ``config.hidden``
        is not a module of ``dm.model``.
    ValueError
        If ``config.n_pairs`` distinct pairs of correctly classified test images of
        different classes cannot be drawn.
    """
    check_option(space, SPACES, func="interpolation_density", name="space")
    pairs = _pairs(dm, config.n_pairs, config.seed)
    at = config.hidden if space == "hidden" else None
    net = dm.net.split(at=at) if at else dm.net
    ends = layer_outputs(dm.model, dm.X_test, at) if at else dm.X_test.reshape(len(dm.X_test), -1).double().numpy()
    G = config.steps
    frac = np.arange(G + 1) / G
    start = time.perf_counter()
    sampled, classes, changes = [], [], []
    for i, j in tqdm(pairs, disable=not progress, desc=f"sampled paths ({space})"):
        res = path_density(dm.model, dm.X_test[[i, j]], steps=G, at=at, progress=False)
        sampled.append(res.step_flips.sum(axis=1))
        pred = predicted_class(net.forward(ends[i] + frac[:, None] * (ends[j] - ends[i])))
        classes.append(pred)
        changes.append((np.flatnonzero(pred[1:] != pred[:-1]) + 0.5) / G)
    seconds_sampled = time.perf_counter() - start
    n_exact = min(config.n_exact_hidden if at else config.n_exact_input, len(pairs))
    start = time.perf_counter()
    exact, crossings, example = [], [], None
    for i, j in tqdm(pairs[:n_exact], disable=not progress, desc=f"exact paths ({space})"):
        path = path_crossings(net, np.stack([ends[i], ends[j]]))
        example = path if example is None else example
        exact.append(binned(path.positions / path.length, [len(u) for u in path.units], G))
        crossings.append(path.n_crossings)
    seconds_exact = time.perf_counter() - start
    sampled, exact = np.array(sampled, dtype=np.float64), np.array(exact).reshape(n_exact, G)
    kw = dict(window=config.window, n_boot=config.n_boot, seed=config.seed)
    contrast = contrast_near_changes(sampled, changes, **kw)
    by_window = {w: contrast if w == config.window else contrast_near_changes(sampled, changes, **{**kw, "window": w})
                 for w in config.windows}
    return InterpolationDensity(
        space=space,
        layer=at,
        pairs=pairs,
        sampled=sampled,
        exact=exact,
        exact_crossings=np.array(crossings, dtype=np.int64),
        classes=np.array(classes),
        changes=changes,
        lengths=np.linalg.norm(ends[pairs[:, 1]] - ends[pairs[:, 0]], axis=1),
        contrast=contrast,
        contrast_exact=contrast_near_changes(exact, changes[:n_exact], **kw),
        contrast_sampled_subset=contrast_near_changes(sampled[:n_exact], changes[:n_exact], **kw),
        by_window=by_window,
        example=example,
        seconds_sampled=seconds_sampled,
        seconds_exact=seconds_exact,
    )


def _pairs(dm: DigitsModel, n_pairs: int, seed: int) -> np.ndarray:
    """``n_pairs`` random pairs of correctly classified test images of different classes,
    shape (n_pairs, 2); no two pairs are the same path (in either direction)."""
    with torch.no_grad():
        correct = np.flatnonzero((predicted_class(dm.model(dm.X_test)) == dm.y_test).numpy())
    labels = dm.y_test.numpy()
    rng = np.random.default_rng(seed)
    chosen: dict[frozenset[int], tuple[int, int]] = {}
    for _ in range(100 * n_pairs):
        i, j = (int(v) for v in rng.choice(correct, 2, replace=False))
        if labels[i] != labels[j]:
            chosen.setdefault(frozenset((i, j)), (i, j))
        if len(chosen) == n_pairs:
            return np.array(list(chosen.values()), dtype=np.int64)
    raise ValueError(f"interpolation_density: could not draw {n_pairs} distinct pairs of different classes "
                     f"(`config.n_pairs` too large)")


def activation_scaling(dm: DigitsModel, config: DigitsConfig = DigitsConfig()) -> ActivationScaling:
    """Scale the activations of ``config.hidden`` and watch boundaries and predictions.

    Parameters
    ----------
    dm : DigitsModel
    config : DigitsConfig

    Returns
    -------
    ActivationScaling

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``config.hidden`` is not a module of ``dm.model``.
    """
    start = time.perf_counter()
    x = dm.X_test[: config.n_scaled]
    scales = np.unique(np.concatenate([np.asarray(config.scales, dtype=np.float64), [1.0]]))
    res = scale_activations(dm.model, x, config.hidden, scales)
    acts = layer_outputs(dm.model, x[: config.n_exact_scaled], config.hidden)
    ok = res.norms > 0
    counts = np.abs(np.diff(res.crossed, axis=0))[:, ok]
    density = counts / (np.diff(scales)[:, None] * res.norms[ok][None, :])
    density[scales[:-1] <= 0] = np.nan  # the interval from 0: see ActivationScaling.density
    density_mean, density_ci, _ = _row_means(density, config)
    changed_mean, changed_ci, changed_est = _row_means(res.prediction_changed.astype(np.float64), config)
    n_bits = res.codes.layout.n_bits
    up, down = scales > 1, scales < 1
    first_up = _first(res.prediction_changed[up], scales[up])
    first_down = _first(res.prediction_changed[down][::-1], scales[down][::-1])
    low = scales[(scales > 0) & (scales < 1)]
    rows = np.flatnonzero(ok[: config.n_exact_scaled]) if low.size and up.any() else np.zeros(0, np.int64)
    exact_below, exact_above = _exact_ray(dm.net.split(at=config.hidden), acts[rows], low[0] if low.size else 1.0,
                                          scales[-1])
    return ActivationScaling(
        layer=config.hidden,
        scales=scales,
        density=density_mean,
        density_ci=density_ci,
        changed=changed_mean,
        changed_ci=changed_ci,
        code_change=res.hamming.mean(axis=1) / n_bits,
        first_change_up=first_up,
        first_change_down=first_down,
        exact_below=exact_below,
        exact_above=exact_above,
        sampled_below=res.crossed[np.flatnonzero(scales > 0)[0], rows].astype(np.int64),
        sampled_above=res.crossed[-1, rows].astype(np.int64),
        n_bits=int(n_bits),
        seconds=time.perf_counter() - start,
        changed_estimates=tuple(changed_est),
    )


def _row_means(values: np.ndarray, config: DigitsConfig) -> tuple[np.ndarray, np.ndarray, list]:
    """Mean of every row of ``values`` (n_rows, n) and its bootstrap CI, shapes (n_rows,)
    and (n_rows, 2), and the Estimates (None for rows with a NaN, whose mean is NaN)."""
    means, cis, ests = np.full(len(values), np.nan), np.full((len(values), 2), np.nan), []
    for r, row in enumerate(values):
        est = None
        if row.size and np.all(np.isfinite(row)):
            est = mean_ci(row, n_boot=config.n_boot, seed=config.seed)
            means[r], cis[r] = est.value, est.ci
        ests.append(est)
    return means, cis, ests


def _first(changed: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """For each input (column), the first scale (row order) with a change; NaN if none."""
    if changed.shape[0] == 0:
        return np.full(changed.shape[1], np.nan)
    hit = changed.any(axis=0)
    return np.where(hit, scales[np.argmax(changed, axis=0)], np.nan)


def _exact_ray(tail: PWLNet, acts: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact unit changes on [low, 1] and [1, high] along the ray of each activation
    (rows of ``acts``, non-zero) through ``tail``: two int arrays of shape (n,)."""
    below, above = [], []
    for a in acts:
        path = path_crossings(tail, np.stack([low * a, a, high * a]))
        units = np.array([len(u) for u in path.units], dtype=np.int64)
        below.append(units[path.positions <= path.vertices[1]].sum())
        above.append(units[path.positions > path.vertices[1]].sum())
    return np.array(below, dtype=np.int64), np.array(above, dtype=np.int64)


def layer_groupings(dm: DigitsModel, config: DigitsConfig = DigitsConfig()) -> GroupingComparison:
    """Spline-code clusters, activation clusters, neurons and NMF directions of
    ``config.groups_layer``, scored by class purity on every digit (train and test).

    Parameters
    ----------
    dm : DigitsModel
    config : DigitsConfig

    Returns
    -------
    GroupingComparison
        Label set ``"class"``.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``config.groups_layer`` is not a module of ``dm.model``, or ``config.n_groups``
        exceeds half the number of digits (from
        :func:`~polylens.experiments.monosemanticity.compare_groupings`).
    ImportError
        If scikit-learn is not installed.
    """
    acts, bits, y = _layer_data(dm, config)
    return compare_groupings(acts, bits, {"class": y}, n_groups=config.n_groups, seed=config.seed)


def code_hdbscan(dm: DigitsModel, config: DigitsConfig = DigitsConfig()) -> HDBSCANScore:
    """The paper's protocol on ``config.groups_layer``: HDBSCAN clusters of the spline codes
    (Hamming distance) of every digit, scored by class purity.

    Parameters
    ----------
    dm : DigitsModel
    config : DigitsConfig

    Returns
    -------
    HDBSCANScore

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``config.groups_layer`` is not a module of ``dm.model``, or
        ``config.hdbscan_min_size`` exceeds the number of digits.
    ImportError
        If scikit-learn is not installed.
    """
    _, bits, y = _layer_data(dm, config)
    return hdbscan_purity(bits, {"class": y}, min_cluster_size=config.hdbscan_min_size, seed=config.seed)[0]


def _layer_data(dm: DigitsModel, config: DigitsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations, code bits and classes of every digit (train, then test) at ``config.groups_layer``."""
    X = torch.cat([dm.X_train, dm.X_test])
    y = torch.cat([dm.y_train, dm.y_test]).numpy()
    acts = layer_outputs(dm.model, X, config.groups_layer)
    bits = codes(dm.model, X, sites=config.groups_layer, progress=False).unpack()
    return acts, bits, y


def run_digits(config: DigitsConfig = DigitsConfig(), *, progress: bool = True,
               cache: str | Path | None = None) -> DigitsResults:
    """Train the CNN (or load it from ``cache``) and run every digits experiment.

    Parameters
    ----------
    config : DigitsConfig
    progress : bool, default=True
        Progress bars over paths.
    cache : path, optional
        Folder of trained models (see :func:`train_digits_cnn`).

    Returns
    -------
    DigitsResults

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``config.hidden`` or ``config.groups_layer`` is not a nonlinearity of the model
        (:func:`train_digits_cnn`), or a stage refuses a size of ``config`` (see
        :func:`interpolation_density`, :func:`layer_groupings`, :func:`code_hdbscan`).
    ValueError
        If ``config.n_pairs`` pairs cannot be drawn (:func:`interpolation_density`).
    ImportError
        If scikit-learn is not installed.
    OSError, RuntimeError
        From the ``cache`` (see :func:`train_digits_cnn`).
    """
    dm = train_digits_cnn(config, cache)
    seconds = {"training": dm.seconds}
    paths = {}
    for space in SPACES:
        start = time.perf_counter()
        paths[space] = interpolation_density(dm, config, space, progress=progress)
        seconds[f"{space} paths"] = time.perf_counter() - start
    start = time.perf_counter()
    scaling = activation_scaling(dm, config)
    seconds["scaling"] = time.perf_counter() - start
    start = time.perf_counter()
    groupings = layer_groupings(dm, config)
    seconds["groupings"] = time.perf_counter() - start
    start = time.perf_counter()
    hdbscan = code_hdbscan(dm, config)
    seconds["HDBSCAN"] = time.perf_counter() - start
    return DigitsResults(config, dm, paths, scaling, groupings, hdbscan, seconds)


def run_digits_seeds(config: DigitsConfig = DigitsConfig(), seeds=(0, 1, 2, 3, 4), *, progress: bool = True,
                     cache: str | Path | None = None) -> list[DigitsResults]:
    """:func:`run_digits` once per seed: independently trained models of one architecture.

    Parameters
    ----------
    config : DigitsConfig
        Its ``seed`` is replaced by each of ``seeds`` (data split, weights, training,
        pairs, clustering and bootstrap all change with it).
    seeds : sequence of int, default=(0, 1, 2, 3, 4)
    progress : bool, default=True
    cache : path, optional

    Returns
    -------
    list of DigitsResults
        In the order of ``seeds``.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``seeds`` is empty or holds something that is not an int >= 0, and as
        :func:`run_digits`.
    ValueError, ImportError, OSError, RuntimeError
        As :func:`run_digits`.
    """
    seeds = [check_int(s, func="run_digits_seeds", name="seeds", low=0) for s in seeds]
    if not seeds:
        raise invalid("run_digits_seeds", "seeds", "at least one seed", seeds)
    return [run_digits(replace(config, seed=s), progress=progress, cache=cache) for s in seeds]
