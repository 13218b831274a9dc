"""Are polytopes more monosemantic than directions? Groupings of a layer scored by label purity.

The polytope lens predicts that clusters of spline codes pick out groups of inputs with
one meaning, while directions in activation space (single neurons, NMF components) in
general do not. :func:`compare_groupings` builds groups of one layer's inputs four ways:

* ``"spline codes"`` -- k-medoids clusters of the layer's code bits under the Hamming
  distance (:func:`polylens.sampling.cluster_codes`);
* ``"activations"`` -- k-means clusters of the raw activations (the matched
  non-polytope clustering);
* ``"neurons"`` -- the top-activating inputs of single neurons (the most variable ones);
* ``"NMF"`` -- the top-loading inputs of each component of a non-negative matrix
  factorisation of the activations (directions found without labels);

all matched in size: every group has ``group_size`` members, the members nearest the
cluster centre (clusters) or the most activating inputs (directions). A cluster smaller
than ``group_size`` is filled with the nearest non-members, and the share of such fill
is reported (:attr:`GroupingComparison.fill`). Each group is scored by its *purity*,
the fraction of its members that carry its most common label, and the mean over groups
is compared with the purity of random groups of the same size (computed by drawing
them, not assumed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, invalid
from polylens.experiments.stats import Estimate, mean_ci

__all__ = ["purity", "GroupingScore", "GroupingComparison", "compare_groupings", "METHODS", "HDBSCANScore",
           "hdbscan_purity", "hdbscan_codes", "NMF_MAX_ITER"]

METHODS = ("spline codes", "activations", "neurons", "NMF")
"""The grouping methods, in the order of :attr:`GroupingComparison.scores`."""

CHANCE_DRAWS = 1000
"""Random groups drawn to compute the chance purity."""

NMF_MAX_ITER = 500
"""Iterations of the NMF fit of :func:`compare_groupings`."""


def purity(labels: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Fraction of each group's members that carry the group's most common label.

    Parameters
    ----------
    labels : ndarray of shape (n,)
        Label of every item (ints, or any values ``np.unique`` can sort).
    groups : list of ndarray of int
        Each group's members, as indices into ``labels`` (non-empty).

    Returns
    -------
    ndarray of shape (n_groups,)
        Values in ``[1 / group size, 1]``; 1 for a group whose members share one label.

    Raises
    ------
    ValueError
        If ``labels`` is not a non-empty 1-D array, or a group is not a non-empty 1-D array
        of integer indices.
    IndexError
        If a group holds an index outside ``labels``.

    Examples
    --------
    >>> purity(np.array([0, 0, 1, 1, 2]), [np.array([0, 1]), np.array([1, 2, 3, 4])])
    array([1. , 0.5])
    """
    codes = _encoded(labels, "labels", "purity")
    out = np.empty(len(groups))
    for g, members in enumerate(groups):
        idx = np.asarray(members)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"purity: `groups[{g}]` must be a non-empty 1-D array of indices; got {members!r}")
        if idx.min() < -codes.size or idx.max() >= codes.size:
            raise IndexError(f"purity: `groups[{g}]` has an index outside 0..{codes.size - 1}")
        out[g] = np.bincount(codes[idx]).max() / idx.size
    return out


@short_repr
@dataclass(frozen=True)
class GroupingScore:
    """Purity of one method's groups under one label set.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    labels : str
        Name of the label set (``"class"``, ``"token"``, ...).
    purity : ndarray of shape (n_groups,)
    mean : float
        Mean purity over the groups.
    ci : tuple of float
        95% percentile-bootstrap interval of the mean, resampling groups.
    chance : float
        Mean purity of uniformly random groups of the same size (drawn, not assumed).
    """

    method: str
    labels: str
    purity: np.ndarray
    mean: float
    ci: tuple[float, float]
    chance: float


@short_repr
@dataclass(frozen=True)
class GroupingComparison:
    """Every method's groups and their scores.

    Attributes
    ----------
    scores : list of GroupingScore
        Label set by label set, methods in the order of :data:`METHODS`.
    groups : dict of str to list of ndarray of int
        Method -> its groups, each an index array of size ``group_size``.
    group_size : int
    fill : dict of str to float
        Method -> fraction of group members that are not members of the group's cluster
        (filling clusters smaller than ``group_size``; 0 for the direction methods).
    nmf_iterations : int
        Iterations the NMF fit ran.
    nmf_converged : bool
        Whether it met its tolerance within :data:`NMF_MAX_ITER` iterations (scikit-learn's
        ``ConvergenceWarning`` is recorded here, not printed); the NMF groups of a fit that
        did not converge are those of its last iterate.
    """

    scores: list[GroupingScore]
    groups: dict[str, list[np.ndarray]]
    group_size: int
    fill: dict[str, float]
    nmf_iterations: int
    nmf_converged: bool

    def score(self, method: str, labels: str) -> GroupingScore:
        """The score of ``method`` under the label set ``labels``.

        Raises
        ------
        KeyError
            If there is no score for ``method`` under ``labels``.
        """
        for s in self.scores:
            if s.method == method and s.labels == labels:
                return s
        raise KeyError(f"GroupingComparison.score: no score for method {method!r} and labels {labels!r}; "
                       f"have {[(s.method, s.labels) for s in self.scores]}")

    def to_markdown(self) -> str:
        """A Markdown table: label set, method, groups, mean purity with its 95% CI, chance.

        Raises
        ------
        None of its own
        """
        lines = ["| labels | method | groups | mean purity (95% CI) | chance | cluster fill |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for s in self.scores:
            lines.append(f"| {s.labels} | {s.method} | {s.purity.size} × {self.group_size} | "
                         f"{s.mean:.3f} ({s.ci[0]:.3f}–{s.ci[1]:.3f}) | {s.chance:.3f} | "
                         f"{self.fill[s.method]:.0%} |")
        return "\n".join(lines)


def compare_groupings(activations: np.ndarray, bits: np.ndarray, labels: dict[str, np.ndarray] | np.ndarray, *,
                      n_groups: int = 20, group_size: int | None = None, seed: int = 0) -> GroupingComparison:
    """Group a layer's inputs by spline codes, activations, neurons and NMF; score each by purity.

    Parameters
    ----------
    activations : ndarray of shape (n, d)
        The layer's activations (negative values, from smooth activations, are clipped
        at 0 for NMF).
    bits : ndarray of shape (n, n_bits), bool
        The same layer's spline-code bits (for ReLU: ``activations > 0``).
    labels : ndarray of shape (n,) or dict of str to ndarray of shape (n,)
        One or several label sets; a bare array is named ``"label"``.
    n_groups : int, default=20
        Clusters per clustering method, neurons, and NMF components (the direction
        methods have fewer groups on a layer with fewer than ``n_groups`` units, and
        ``"neurons"`` skips constant ones).
    group_size : int, optional
        Members per group. Default: the smaller of the two clusterings' median cluster
        sizes, capped at ``n // n_groups``, so that at least half the clusters of each
        method fill their groups with their own members.
    seed : int, default=0
        k-medoids and k-means starts, NMF initialisation, tie-breaking, chance draws and
        bootstrap.

    Returns
    -------
    GroupingComparison

    Raises
    ------
    ValueError
        If ``activations`` is not a finite array of shape (n >= 2, d), ``bits`` not a bool
        (or 0/1) array with ``n`` rows, ``labels`` an empty dict or a label set not of shape
        (n,), or every unit of ``activations`` constant.
    polylens.errors.InvalidParameterError
        If ``n_groups`` is not an int in 1..max(1, n // 2), or ``group_size`` not None or an
        int in 1..n.
    ImportError
        If scikit-learn (k-means, NMF) is not installed.

    Notes
    -----
    The Hamming matrix of the codes takes ``4 n**2`` bytes: a few ten thousand inputs.
    Ties in a ranking (equal Hamming distances, neurons at 0) are broken at random.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 30)
    >>> acts = np.maximum(rng.normal(size=(90, 6)) * 0.1 + 3 * np.eye(6)[2 * y], 0)
    >>> res = compare_groupings(acts, acts > 0.5, {"class": y}, n_groups=3, seed=0)
    >>> round(res.score("spline codes", "class").mean, 2), round(res.score("activations", "class").mean, 2)
    (1.0, 1.0)
    """
    acts, code_bits, label_sets = _validate(activations, bits, labels)
    n = acts.shape[0]
    n_groups = check_int(n_groups, func="compare_groupings", name="n_groups", low=1, high=max(1, n // 2))
    group_size = check_int(group_size, func="compare_groupings", name="group_size", low=1, high=n, none_ok=True)
    rng = np.random.default_rng(seed)
    rankings = {
        "spline codes": _code_clusters(code_bits, int(n_groups), seed),
        "activations": _activation_clusters(acts, int(n_groups), seed),
        "neurons": _neuron_rankings(acts, int(n_groups)),
    }
    nmf_member, nmf_distance, nmf_iterations = _nmf_rankings(acts, int(n_groups), seed)
    rankings["NMF"] = (nmf_member, nmf_distance)
    if rankings["neurons"][0].shape[0] == 0:
        raise ValueError("compare_groupings: every unit of `activations` is constant, so there is no neuron to rank "
                         "inputs by; pass the activations of a layer whose units vary over the inputs")
    if group_size is None:
        sizes = [np.median(member.sum(axis=1)) for member, _ in (rankings["spline codes"], rankings["activations"])]
        group_size = max(1, int(min(*sizes, n // n_groups)))
    groups, fill = {}, {}
    for method in METHODS:
        member, distance = rankings[method]
        tiebreak = rng.random(n)
        chosen = [np.lexsort((tiebreak, distance[k], ~member[k]))[:group_size] for k in range(member.shape[0])]
        groups[method] = chosen
        fill[method] = float(np.mean([(~member[k][idx]).mean() for k, idx in enumerate(chosen)]))
    scores = []
    for name, y in label_sets.items():
        chance = _chance(y, int(group_size), rng)
        for method in METHODS:
            p = purity(y, groups[method])
            est = mean_ci(p, seed=seed)
            scores.append(GroupingScore(method, name, p, est.value, est.ci, chance))
    return GroupingComparison(scores, groups, int(group_size), fill, nmf_iterations,
                              nmf_iterations < NMF_MAX_ITER)


def _validate(activations, bits, labels) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    acts = np.asarray(activations, dtype=np.float64)
    if acts.ndim != 2 or acts.shape[0] < 2 or not np.all(np.isfinite(acts)):
        raise ValueError(f"compare_groupings: `activations` must be a finite array of shape (n >= 2, d); "
                         f"got shape {acts.shape}")
    b = np.asarray(bits)
    if b.ndim != 2 or b.shape[0] != acts.shape[0]:
        raise ValueError(f"compare_groupings: `bits` must have shape ({acts.shape[0]}, n_bits); got {b.shape}")
    if b.dtype != bool:
        if not np.isin(b, (0, 1)).all():
            raise ValueError("compare_groupings: `bits` must be bool (or hold only 0 and 1)")
        b = b.astype(bool)
    sets = labels if isinstance(labels, dict) else {"label": labels}
    if not sets:
        raise ValueError("compare_groupings: `labels` is an empty dict; give at least one label set")
    out = {}
    for name, y in sets.items():
        arr = np.asarray(y)
        if arr.shape != (acts.shape[0],):
            raise ValueError(f"compare_groupings: label set {name!r} must have shape ({acts.shape[0]},); "
                             f"got {arr.shape}")
        out[str(name)] = _encoded(arr, f"labels[{name!r}]", "compare_groupings")
    return acts, b, out


def _encoded(labels, argument: str, func: str) -> np.ndarray:
    """Labels as ints 0..n_labels - 1, shape (n,)."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{func}: `{argument}` must be a non-empty 1-D array; got shape {arr.shape}")
    return np.unique(arr, return_inverse=True)[1].reshape(-1)


def _code_clusters(bits: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-medoids on Hamming distances: (membership (k, n) bool, distance to medoid (k, n))."""
    from polylens.sampling import cluster_codes, pairwise_hamming

    packed = np.packbits(bits, axis=1, bitorder="little")
    D = pairwise_hamming(packed, progress=False)
    res = cluster_codes(packed, "kmedoids", n_clusters=k, seed=seed, distances=D)
    medoids = [c.medoid for c in res.clusters]
    return res.labels[None, :] == np.arange(k)[:, None], D[:, medoids].T.astype(np.float64)


def _activation_clusters(acts: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means on activations: (membership (k, n) bool, distance to centroid (k, n))."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(acts)
    return model.labels_[None, :] == np.arange(k)[:, None], model.transform(acts).T


def _neuron_rankings(acts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most variable non-constant neurons: (all True (k', n), minus activation (k', n))."""
    var = acts.var(axis=0)
    chosen = np.argsort(-var, kind="stable")[:k]
    chosen = chosen[var[chosen] > 0]
    return np.ones((chosen.size, acts.shape[0]), dtype=bool), -acts[:, chosen].T


def _nmf_rankings(acts: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """NMF with ``min(k, d)`` components: (all True (k', n), minus loading (k', n),
    iterations run). Its ``ConvergenceWarning`` is silenced: the iterations tell it (a fit
    that stops at :data:`NMF_MAX_ITER` did not converge), and the callers record them."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    k = min(k, acts.shape[1])
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=NMF_MAX_ITER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loadings = model.fit_transform(np.maximum(acts, 0.0))
    return np.ones((k, acts.shape[0]), dtype=bool), -loadings.T, int(model.n_iter_)


def _chance(labels: np.ndarray, size: int, rng: np.random.Generator) -> float:
    """Mean purity of :data:`CHANCE_DRAWS` uniformly random groups of ``size`` members."""
    draws = [rng.choice(labels.size, size, replace=False) for _ in range(CHANCE_DRAWS)]
    return float(purity(labels, draws).mean())


@short_repr
@dataclass(frozen=True)
class HDBSCANScore:
    """The paper's protocol: HDBSCAN clusters of spline codes (Hamming distance), scored by purity.

    Attributes
    ----------
    labels : str
        Name of the label set.
    sizes : ndarray of shape (n_clusters,), int
        Members of every cluster (noise points belong to none).
    purity : ndarray of shape (n_clusters,)
        Purity of every cluster.
    mean : Estimate
        Mean purity over clusters, with its bootstrap interval over clusters (NaN
        bounds without clusters).
    weighted : float
        Purity of all clustered points together (each cluster weighted by its size).
    chance : float
        Mean purity of random groups with the same sizes (drawn).
    noise : float
        Fraction of points HDBSCAN left unclustered.
    min_cluster_size : int
    """

    labels: str
    sizes: np.ndarray
    purity: np.ndarray
    mean: Estimate
    weighted: float
    chance: float
    noise: float
    min_cluster_size: int

    @property
    def n_clusters(self) -> int:
        return int(self.sizes.size)


def hdbscan_codes(bits: np.ndarray, *, min_cluster_size: int = 10) -> np.ndarray:
    """HDBSCAN (scikit-learn's) on the Hamming distances between spline codes, as in the paper.

    Parameters
    ----------
    bits : ndarray of shape (n, n_bits), bool
    min_cluster_size : int, default=10

    Returns
    -------
    ndarray of shape (n,), int
        Cluster of every point, ``-1`` for noise.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``bits`` is not of shape (n >= 2, n_bits), or ``min_cluster_size`` not an int in
        2..n.
    ImportError
        If scikit-learn (``HDBSCAN``, 1.3 or later) is not installed.
    """
    from sklearn.cluster import HDBSCAN

    from polylens.sampling import pairwise_hamming

    b = np.asarray(bits)
    if b.ndim != 2 or b.shape[0] < 2:
        raise invalid("hdbscan_codes", "bits", "a bool array of shape (n >= 2, n_bits)", b.shape)
    min_cluster_size = check_int(min_cluster_size, func="hdbscan_codes", name="min_cluster_size", low=2,
                                 high=b.shape[0])
    D = pairwise_hamming(np.packbits(b.astype(bool), axis=1, bitorder="little"), progress=False).astype(np.float64)
    return HDBSCAN(min_cluster_size=min_cluster_size, metric="precomputed", copy=True).fit(D).labels_


def hdbscan_purity(bits: np.ndarray, labels: dict[str, np.ndarray] | np.ndarray, *, min_cluster_size: int = 10,
                   seed: int = 0) -> list[HDBSCANScore]:
    """Purity of HDBSCAN clusters of spline codes (:func:`hdbscan_codes`) under every label set.

    Parameters
    ----------
    bits : ndarray of shape (n, n_bits), bool
    labels : ndarray of shape (n,) or dict of str to ndarray of shape (n,)
    min_cluster_size : int, default=10
    seed : int, default=0
        Chance draws and bootstrap.

    Returns
    -------
    list of HDBSCANScore
        One per label set, in order.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``bits`` or ``min_cluster_size`` is refused by :func:`hdbscan_codes`, or a label
        set does not have one label per row of ``bits``.
    ValueError
        If a label set is not a non-empty 1-D array.
    ImportError
        If scikit-learn is not installed.
    """
    sets = labels if isinstance(labels, dict) else {"label": labels}
    cluster = hdbscan_codes(bits, min_cluster_size=min_cluster_size)
    found = np.unique(cluster[cluster >= 0])
    groups = [np.flatnonzero(cluster == c) for c in found]
    sizes = np.array([g.size for g in groups], dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = []
    for name, y in sets.items():
        codes = _encoded(np.asarray(y), f"labels[{name!r}]", "hdbscan_purity")
        if codes.size != cluster.size:
            raise invalid("hdbscan_purity", f"labels[{name!r}]", f"shape ({cluster.size},)", codes.shape)
        p = purity(codes, groups) if groups else np.zeros(0)
        mean = mean_ci(p, seed=seed) if p.size else Estimate(float("nan"), (float("nan"), float("nan")), 0.95, 0)
        draws = [rng.choice(codes.size, int(s), replace=False) for s in sizes for _ in range(max(1, CHANCE_DRAWS
                                                                                             // max(1, sizes.size)))]
        chance = float(purity(codes, draws).mean()) if draws else float("nan")
        weighted = float((p * sizes).sum() / sizes.sum()) if sizes.size else float("nan")
        out.append(HDBSCANScore(str(name), sizes, p, mean, weighted, chance, float(np.mean(cluster < 0)),
                                int(min_cluster_size)))
    return out
