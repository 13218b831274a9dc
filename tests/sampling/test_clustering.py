"""Clustering codes by Hamming distance: planted clusters are recovered, summaries are right."""

from __future__ import annotations

import numpy as np
import pytest

from polylens.sampling import cluster_codes, pairwise_hamming


def planted(seed: int = 0, k: int = 3, per: int = 20, bits: int = 96, flips: int = 3):
    """``k`` random centre codes, ``per`` noisy copies of each (``flips`` bits flipped)."""
    rng = np.random.default_rng(seed)
    centres = rng.random((k, bits)) > 0.5
    rows, truth = [], []
    for c in range(k):
        for _ in range(per):
            row = centres[c].copy()
            row[rng.choice(bits, flips, replace=False)] ^= True
            rows.append(row)
            truth.append(c)
    order = rng.permutation(len(rows))
    return np.packbits(np.array(rows)[order], axis=1), np.array(truth)[order]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a[:, None] == a[None, :]) == (b[:, None] == b[None, :])))


@pytest.mark.parametrize("method, kwargs", [
    ("kmedoids", {"n_clusters": 3}),
    ("agglomerative", {"n_clusters": 3}),
    ("agglomerative", {"n_clusters": 3, "linkage": "complete"}),
    ("hdbscan", {"min_cluster_size": 5}),
])
def test_planted_clusters_are_recovered(method, kwargs):
    packed, truth = planted()
    res = cluster_codes(packed, method, **kwargs)
    assert res.n_clusters == 3 and res.n_noise == 0 and res.method == method
    assert same_partition(res.labels, truth)


def test_cluster_summaries_have_true_medoids_sizes_and_nearest_members():
    packed, _ = planted(seed=1, per=15)
    D = pairwise_hamming(packed)
    res = cluster_codes(packed, "kmedoids", n_clusters=3, n_nearest=4, distances=D)
    assert sum(c.size for c in res.clusters) == len(packed)
    for c in res.clusters:
        members = np.flatnonzero(res.labels == c.label)
        within = D[np.ix_(members, members)].sum(axis=1)
        assert within[members.tolist().index(c.medoid)] == within.min()
        assert c.nearest[0] == c.medoid and len(c.nearest) == 4
        assert set(c.nearest) <= set(members)
        d = D[c.medoid, c.nearest]
        assert np.all(np.diff(d[1:]) >= 0) and d[-1] <= np.sort(D[c.medoid, members])[3]
        assert c.mean_distance == pytest.approx(D[c.medoid, members].mean())


def test_kmedoids_is_deterministic_and_copes_with_duplicate_codes():
    packed = np.repeat(np.array([[0], [255]], np.uint8), 5, axis=0)
    res = cluster_codes(packed, "kmedoids", n_clusters=3, seed=2)
    assert res.n_clusters == 3 and sorted(c.size for c in res.clusters)[0] >= 1
    again = cluster_codes(packed, "kmedoids", n_clusters=3, seed=2)
    np.testing.assert_array_equal(res.labels, again.labels)


def test_bad_clustering_arguments_are_named():
    packed, _ = planted()
    with pytest.raises(ValueError, match="`method`"):
        cluster_codes(packed, "kmeans")
    with pytest.raises(ValueError, match="`n_clusters`"):
        cluster_codes(packed, "kmedoids")
    with pytest.raises(ValueError, match="`linkage`"):
        cluster_codes(packed, "agglomerative", n_clusters=2, linkage="ward")
    with pytest.raises(ValueError, match="`distances`"):
        cluster_codes(packed, "kmedoids", n_clusters=2, distances=np.zeros((3, 4)))
