"""Figures of the studies (matplotlib, drawn on a given or new Axes)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_degrees", "plot_geodesic_hamming", "plot_class_components", "plot_persistence"]


def _axes(ax, size=(5, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_degrees(stats, *, ax=None):
    """Degree histogram of a :class:`~polylens.studies.statistics.GraphStatistics`, with
    the mean and the ``2 d`` bound on it.

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    ax = _axes(ax)
    hist = stats.degree_histogram
    ax.bar(np.arange(hist.size), hist, color="0.55")
    ax.axvline(stats.mean_degree, color="C0", label=f"mean {stats.mean_degree:.2f}")
    ax.axvline(stats.mean_degree_bound, color="C3", ls="--", label=f"2d = {stats.mean_degree_bound}")
    ax.set_xlabel("degree (facets shared with other regions)")
    ax.set_ylabel("regions")
    ax.legend()
    return ax


def plot_geodesic_hamming(dist, *, ax=None):
    """Geodesic against Hamming distance of a :class:`~polylens.studies.distances.PairDistances`
    (point size: how many pairs), with the diagonal.

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    ax = _axes(ax)
    ok = np.isfinite(dist.geodesic)
    pairs, counts = np.unique(np.stack([dist.hamming[ok], dist.geodesic[ok]], axis=1), axis=0, return_counts=True)
    ax.scatter(pairs[:, 0], pairs[:, 1], s=8 + 60 * counts / counts.max(initial=1), alpha=0.6)
    top = float(max(pairs.max(initial=1), 1))
    ax.plot([0, top], [0, top], color="C3", lw=1, label="geodesic = Hamming")
    ax.set_xlabel("Hamming distance of codes")
    ax.set_ylabel("geodesic distance (facets crossed)")
    ax.set_title(f"Spearman {dist.spearman['geodesic-hamming']:.3f}")
    ax.legend()
    return ax


def plot_class_components(topo, *, ax=None, data=None, labels=None, extent=None):
    """The class-refined regions of a 2-D :class:`~polylens.studies.topology.DecisionTopology`,
    one colour per connected component of each class's decision region.

    Raises
    ------
    ValueError
        If the decision topology is not of a 2-D input.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection
    from scipy.sparse.csgraph import connected_components

    from polylens.geometry.polygons import order_convex
    from polylens.studies._common import adjacency

    cc = topo.complex
    if cc.dim != 2:
        raise ValueError("plot_class_components: a 2-D decision topology is needed")
    ax = _axes(ax, (6, 5))
    polygons = [order_convex(cc.vertices[list(c)]) for c in cc.cells[2]]
    e = topo.result.edges
    cls = cc.region_class
    same = cls[e[:, 0]] == cls[e[:, 1]]
    _, comp = connected_components(adjacency(len(polygons), e[same]), directed=False)
    cmaps = [plt.get_cmap(name) for name in ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")]
    colours = []
    for c, k in zip(cls, comp):
        ids = np.unique(comp[cls == c])
        pos = int(np.searchsorted(ids, k))
        colours.append(cmaps[c % len(cmaps)](0.3 + 0.5 * (pos + 1) / (ids.size + 1)))
    ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors="0.4", linewidths=0.2))
    fr = cc.facet_regions
    inner = fr[:, 0] >= 0
    boundary = np.flatnonzero(inner)[cls[fr[inner, 0]] != cls[fr[inner, 1]]]
    segs = [cc.vertices[list(cc.cells[1][f])] for f in boundary]
    ax.add_collection(LineCollection(segs, colors="k", linewidths=1.2))
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], c=labels, s=6, cmap="coolwarm", edgecolors="none")
    if extent is None:
        inside = ~np.any(cc.signs[:, cc.signs.shape[1] - cc.n_domain_labels:] == 0, axis=1)
        pts = cc.vertices[inside] if inside.any() else cc.vertices
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.15 * np.maximum(hi - lo, 1e-9)
        extent = (lo - pad, hi + pad) if topo.truncated else (cc.vertices.min(axis=0), cc.vertices.max(axis=0))
    ax.set_xlim(extent[0][0], extent[1][0])
    ax.set_ylim(extent[0][1], extent[1][1])
    ax.set_aspect("equal")
    title = ", ".join(f"class {c}: {n} component{'s' * (n != 1)}" for c, n in topo.class_components.items())
    ax.set_title(title, fontsize=9)
    return ax


def plot_persistence(pers, *, ax=None):
    """Persistence diagram of a :class:`~polylens.studies.persistence.Persistence`
    (essential classes on the top line).

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    ax = _axes(ax, (4.5, 4.5))
    dg = pers.diagram
    finite = np.isfinite(dg[:, 2])
    vals = dg[:, 1:][np.isfinite(dg[:, 1:])]
    lo, hi = (vals.min(), vals.max()) if vals.size else (0.0, 1.0)
    span = max(hi - lo, 1e-9)
    top = hi + 0.1 * span
    for k in np.unique(dg[:, 0]).astype(int):
        sel = dg[:, 0] == k
        ax.scatter(dg[sel & finite, 1], dg[sel & finite, 2], s=14, label=f"H{k}", color=f"C{k}")
        ax.scatter(dg[sel & ~finite, 1], np.full(int((sel & ~finite).sum()), top), marker="^", color=f"C{k}")
    ax.plot([lo, top], [lo, top], color="0.5", lw=1)
    ax.axhline(top, color="0.8", lw=0.8)
    ax.set_xlabel("birth (output value)")
    ax.set_ylabel("death")
    ax.legend()
    return ax
