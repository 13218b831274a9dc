"""Clustering polytope codes under the Hamming distance.

Three methods on one precomputed Hamming matrix (so memory grows as ``n**2``: a few
ten thousand codes): HDBSCAN and average/complete/single-linkage agglomerative
clustering from scikit-learn (an optional dependency, imported on use), and k-medoids
(alternating assignment and medoid update, k-medoids++ start), written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, check_option, invalid
from polylens.sampling.hamming_geometry import pairwise_hamming

__all__ = ["cluster_codes", "ClusterResult", "ClusterSummary"]

METHODS = ("hdbscan", "agglomerative", "kmedoids")


@short_repr
@dataclass(frozen=True)
class ClusterSummary:
    """One cluster.

    Attributes
    ----------
    label : int
    size : int
    medoid : int
        Row (into the clustered codes) of the member with the least summed distance to
        the other members.
    nearest : ndarray of int
        Up to ``n_nearest`` members nearest the medoid (the medoid first), by distance.
    mean_distance : float
        Mean Hamming distance of the members to the medoid.
    """

    label: int
    size: int
    medoid: int
    nearest: np.ndarray
    mean_distance: float


@short_repr
@dataclass(frozen=True)
class ClusterResult:
    """Labels and per-cluster summaries.

    Attributes
    ----------
    labels : ndarray of shape (n,), int
        Cluster of every code; -1 is noise (HDBSCAN only).
    clusters : tuple of ClusterSummary
        One per label ``0 .. n_clusters - 1``, in label order.
    method : str
    """

    labels: np.ndarray
    clusters: tuple
    method: str

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def n_noise(self) -> int:
        return int(np.count_nonzero(self.labels < 0))


def cluster_codes(codes, method: str = "hdbscan", *, n_clusters: int | None = None, min_cluster_size: int = 5,
                  linkage: str = "average", n_nearest: int = 5, seed: int = 0, max_iter: int = 100,
                  distances: np.ndarray | None = None) -> ClusterResult:
    """Cluster codes by Hamming distance.

    Parameters
    ----------
    codes : Codes or ndarray of shape (n, n_bytes), uint8
    method : {"hdbscan", "agglomerative", "kmedoids"}, default="hdbscan"
    n_clusters : int, optional
        Required by ``"agglomerative"`` and ``"kmedoids"``.
    min_cluster_size : int, default=5
        HDBSCAN's smallest cluster.
    linkage : {"average", "complete", "single"}, default="average"
        Agglomerative linkage (Ward needs Euclidean distances, so it is not offered).
    n_nearest : int, default=5
        Members listed per cluster in :attr:`ClusterSummary.nearest`.
    seed : int, default=0
        k-medoids++ start.
    max_iter : int, default=100
        k-medoids rounds.
    distances : ndarray of shape (n, n), optional
        A precomputed :func:`pairwise_hamming` matrix of ``codes``.

    Returns
    -------
    ClusterResult

    Raises
    ------
    InvalidParameterError
        If ``method`` or ``linkage`` is not one of the options, ``distances`` is not a square
        matrix, there are fewer than 2 codes, ``n_nearest``, ``min_cluster_size`` or
        ``max_iter`` is not a positive int, or (for a method other than HDBSCAN)
        ``n_clusters`` is not an int in 1..n.
    ValueError
        From :func:`pairwise_hamming`, for ``codes`` that are not 2-D packed codes (an
        InvalidParameterError where they are not uint8 or Codes).
    ImportError
        If scikit-learn is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> packed = np.array([[0], [1], [3], [240], [241], [243]], np.uint8)
    >>> res = cluster_codes(packed, "kmedoids", n_clusters=2)
    >>> res.labels.tolist(), [c.medoid for c in res.clusters]
    ([0, 0, 0, 1, 1, 1], [1, 4])
    """
    check_option(method, METHODS, func="cluster_codes", name="method")
    D = pairwise_hamming(codes, progress=False) if distances is None else np.asarray(distances)
    n = D.shape[0] if D.ndim else 0
    if D.ndim != 2 or D.shape != (n, n):
        raise invalid("cluster_codes", "distances", "a square matrix", f"an array of shape {D.shape}")
    if n < 2:
        raise invalid("cluster_codes", "codes", "at least 2 codes", f"{n}")
    for name, value in (("n_nearest", n_nearest), ("min_cluster_size", min_cluster_size), ("max_iter", max_iter)):
        check_int(value, func="cluster_codes", name=name, low=1)
    if method != "hdbscan":
        check_int(n_clusters, func=f"cluster_codes(method={method!r})", name="n_clusters", low=1, high=n)
    if method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        # ``astype`` makes a fresh array, so HDBSCAN may overwrite it (copy=False).
        model = HDBSCAN(min_cluster_size=int(min_cluster_size), metric="precomputed", copy=False)
        labels = model.fit_predict(D.astype(np.float64))
    elif method == "agglomerative":
        check_option(linkage, ("average", "complete", "single"), func="cluster_codes", name="linkage")
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(n_clusters=int(n_clusters), metric="precomputed", linkage=linkage)
        labels = model.fit_predict(D)
    else:
        labels = _kmedoids(D, int(n_clusters), np.random.default_rng(seed), int(max_iter))
    labels = np.asarray(labels, dtype=np.int64)
    return ClusterResult(labels, _summaries(D, labels, int(n_nearest)), method)


def _kmedoids(D: np.ndarray, k: int, rng: np.random.Generator, max_iter: int) -> np.ndarray:
    """Alternating k-medoids from a k-medoids++ start; labels of shape (n,), numbered in
    the order of the medoids' rows."""
    n = D.shape[0]
    medoids = [int(rng.integers(n))]
    for _ in range(1, k):
        gap = D[:, medoids].min(axis=1).astype(np.float64)
        gap[medoids] = 0
        p = gap**2 if gap.any() else np.isin(np.arange(n), medoids, invert=True).astype(np.float64)
        medoids.append(int(rng.choice(n, p=p / p.sum())))
    medoids = np.array(medoids)
    for _ in range(max_iter):
        labels = np.argmin(D[:, medoids], axis=1)
        labels[medoids] = np.arange(k)  # every medoid keeps its own cluster (ties, duplicates)
        new = medoids.copy()
        for c in range(k):
            members = np.flatnonzero(labels == c)
            new[c] = members[np.argmin(D[np.ix_(members, members)].sum(axis=1))]
        if np.array_equal(new, medoids):
            break
        medoids = new
    medoids = np.sort(medoids)  # labels in the order of the medoids' rows
    labels = np.argmin(D[:, medoids], axis=1)
    labels[medoids] = np.arange(k)
    return labels


def _summaries(D: np.ndarray, labels: np.ndarray, n_nearest: int) -> tuple:
    out = []
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        members = np.flatnonzero(labels == c)
        within = D[np.ix_(members, members)]
        m = int(np.argmin(within.sum(axis=1)))
        order = np.argsort(within[m], kind="stable")
        order = np.concatenate([[m], order[order != m]])[:n_nearest]
        out.append(ClusterSummary(c, int(members.size), int(members[m]), members[order],
                                  float(within[m].mean())))
    return tuple(out)
