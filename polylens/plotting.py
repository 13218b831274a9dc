"""Pictures of 2-D partitions: regions coloured, decision boundary on top."""

from __future__ import annotations

import numpy as np

from polylens.geometry.enumeration import EnumerationResult
from polylens.geometry.polygons import clip_halfplane, line_in_polygon, order_convex

__all__ = ["region_polygons", "decision_segments", "plot_partition"]

COLOR_BY = ("region", "class")


def region_polygons(result: EnumerationResult) -> list[np.ndarray]:
    """Polygon (ordered vertices, shape (n_i, 2)) of every region of a 2-D enumeration.

    Requires a bounded domain (every region a polygon).
    """
    _check_2d(result, "region_polygons")
    if result.n_unbounded:
        raise ValueError("region_polygons: the enumeration has unbounded regions; enumerate inside a Box")
    return [order_convex(result.region(i).vertices()) for i in range(result.n_regions)]


def decision_segments(result: EnumerationResult, polygons: list[np.ndarray]) -> list[np.ndarray]:
    """Exact decision boundary of a classifier, as segments of shape (2, 2).

    With one output the boundary is ``output == 0``; with several, the set where the
    two largest outputs tie.
    """
    segments = []
    for i, poly in enumerate(polygons):
        region = result.region(i)
        W, c = region.out_weight, region.out_bias
        if W.shape[0] == 1:
            pairs = [(W[0], -c[0], poly)]
        else:
            pairs = []
            for p in range(W.shape[0]):
                for q in range(p + 1, W.shape[0]):
                    cell = poly
                    for r in range(W.shape[0]):
                        if r not in (p, q):  # where p beats every other class r
                            cell = clip_halfplane(cell, W[r] - W[p], c[p] - c[r])
                    pairs.append((W[p] - W[q], c[q] - c[p], cell))
        for a, b, cell in pairs:
            seg = line_in_polygon(cell, a, b) if np.any(a) else None
            if seg is not None:
                segments.append(seg)
    return segments


def plot_partition(result: EnumerationResult, *, ax=None, color_by: str = "region", data=None, labels=None,
                   seed: int = 0):
    """Draw the regions of a 2-D enumeration with the decision boundary on top.

    Parameters
    ----------
    result : EnumerationResult
        A complete enumeration in a 2-D box.
    ax : matplotlib Axes, optional
    color_by : {"region", "class"}, default="region"
        Random colour per region, or a colour per predicted class.
    data : ndarray of shape (n, 2), optional
        Points to mark; ``labels`` (shape (n,)) colours them.
    seed : int, default=0
        Seed of the region colours.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection

    if color_by not in COLOR_BY:
        raise ValueError(f"plot_partition: `color_by` must be one of {COLOR_BY}; got {color_by!r}")
    polygons = region_polygons(result)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    if color_by == "region":
        colors = plt.get_cmap("tab20")(np.random.default_rng(seed).integers(0, 20, len(polygons)))
    else:
        colors = plt.get_cmap("Pastel1")(result.predicted_class() % 9)
    ax.add_collection(PolyCollection(polygons, facecolors=colors, edgecolors="0.25", linewidths=0.3, alpha=0.85))
    ax.add_collection(LineCollection(decision_segments(result, polygons), colors="k", linewidths=1.8))
    if data is not None:
        data = np.asarray(data)
        ax.scatter(data[:, 0], data[:, 1], c=labels, s=8, cmap="coolwarm", edgecolors="white", linewidths=0.3)
    lo, hi = result.space.box
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    return ax


def _check_2d(result, name: str) -> None:
    if not isinstance(result, EnumerationResult):
        raise TypeError(f"{name}: `result` must be an EnumerationResult; got {type(result).__name__}")
    if result.space.dim != 2:
        raise ValueError(f"{name}: needs a 2-D space; this enumeration is {result.space.dim}-D")
