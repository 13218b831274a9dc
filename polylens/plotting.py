"""Pictures: plane partitions (regions coloured, decision boundary on top) and the
polytope density along a path (with the predicted class of every piece as a band).

Figures are matplotlib; save them as PNG or SVG by the file name's extension.
"""

from __future__ import annotations

import numpy as np

from polylens.geometry.paths import PathCrossings
from polylens.geometry.plane import PlanePartition
from polylens.geometry.polygons import clip_halfplane, polygon_area
from polylens.models.predict import predicted_class

__all__ = ["plot_plane", "plot_path_density", "class_colors", "class_parts", "COLOR_BY"]

COLOR_BY = ("region", "class", "gradient_norm")


def class_colors(classes) -> np.ndarray:
    """The colour of each class, RGBA of shape (n, 4): one fixed colour per class index
    in every figure (``tab10``'s ten colours, then the light shades of ``tab20``; the
    palette repeats past 20 classes), so a class looks the same on planes and paths.

    Raises
    ------
    None of its own
        ``classes`` that are not integers fail in numpy's conversion.
    """
    import matplotlib.pyplot as plt

    palette = np.vstack([plt.get_cmap("tab10")(np.arange(10)), plt.get_cmap("tab20")(np.arange(1, 20, 2))])
    return palette[np.asarray(classes, dtype=int) % len(palette)]


def class_parts(part: PlanePartition) -> tuple[list, np.ndarray]:
    """Every region split along the exact decision boundary.

    On a region the output is affine, so the set where class ``c`` wins is the polygon
    clipped by ``out_c >= out_r`` for every other class ``r`` (one output: ``out > 0`` is
    class 1). A region whose vertices all predict one class is that class throughout
    (each difference of outputs is affine, so its minimum is at a vertex) and stays
    whole.

    Returns
    -------
    polygons : list of ndarray of shape (n_i, 2)
        The parts (whole regions and pieces of split ones), counter-clockwise.
    classes : ndarray of shape (n_parts,), int
        The predicted class of each part.

    Raises
    ------
    None of its own
    """
    polygons, classes = [], []
    for poly, W, c in zip(part.polygons, part.out_weight, part.out_bias):
        vertex_classes = predicted_class(poly @ W.T + c)
        if W.shape[0] == 1:  # class 1 where the logit beats 0
            W, c = np.vstack([np.zeros_like(W[0]), W[0]]), np.array([0.0, c[0]])
        if np.all(vertex_classes == vertex_classes[0]):
            polygons.append(poly)
            classes.append(int(vertex_classes[0]))
            continue
        for p in range(W.shape[0]):
            cell = poly
            for r in range(W.shape[0]):
                if r != p and cell.shape[0]:
                    cell = clip_halfplane(cell, W[r] - W[p], c[p] - c[r])
            if cell.shape[0] >= 3 and polygon_area(cell) > 0:
                polygons.append(cell)
                classes.append(p)
    return polygons, np.array(classes, dtype=int)


def plot_plane(part: PlanePartition, *, ax=None, color_by="region", data=None, labels=None,
               boundary: bool = True, seed: int = 0, class_names=None):
    """Draw every region of a plane partition, with the exact decision boundary on top.

    Parameters
    ----------
    part : PlanePartition
        From :func:`polylens.plane_partition`.
    ax : matplotlib Axes, optional
    color_by : {"region", "class", "gradient_norm"} or ndarray of shape (n_regions,)
        A random colour per region, a colour per predicted class (each region split
        exactly along the decision boundary, see :func:`class_parts`, with a legend), the
        norm of the output map's slope, or any per-region statistic (a colour map and a
        colour bar).
    data : ndarray of shape (n, 2), optional
        Points to mark, in plane coordinates; ``labels`` of shape (n,) colours them.
    boundary : bool, default=True
        Draw the decision boundary.
    seed : int, default=0
        Seed of the random region colours.
    class_names : sequence of str, optional
        Legend labels of the classes (``color_by="class"``); default: the class indices.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        If ``part`` is no PlanePartition or ``color_by`` is neither an option nor an
        array of shape (n_regions,).

    See Also
    --------
    class_parts : the exact class pieces drawn by ``color_by="class"``.
    plot_path_density : the same class colours along a path.
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection

    from polylens._validation import check_array, check_option, invalid

    if not isinstance(part, PlanePartition):
        raise invalid("plot_plane", "part", "a PlanePartition", type(part).__name__)
    if isinstance(color_by, str):
        check_option(color_by, COLOR_BY, func="plot_plane", name="color_by")
    else:
        color_by = check_array(color_by, func="plot_plane", name="color_by", shape=(part.n_regions,))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    thin = part.n_regions > 3000  # keep the picture readable when regions are tiny
    style = {"edgecolors": "0.45" if thin else "0.25", "linewidths": 0.08 if thin else 0.3}
    if isinstance(color_by, str) and color_by == "class":
        pieces, classes = class_parts(part)
        # Pieces of one region share its edges; draw the region outlines separately so
        # the cut along the decision boundary shows only as the black boundary line.
        ax.add_collection(PolyCollection(pieces, facecolors=class_colors(classes), edgecolors="face",
                                         linewidths=0.0))
        polys = PolyCollection(part.polygons, facecolors="none", **style)
        _class_legend(ax, np.unique(classes), class_names)
    else:
        polys = PolyCollection(part.polygons, **style)
        if isinstance(color_by, str) and color_by == "region":
            polys.set_facecolor(plt.get_cmap("tab20")(np.random.default_rng(seed).integers(0, 20, part.n_regions)))
        elif isinstance(color_by, str):
            _statistic(ax, polys, part.gradient_norms(), "norm of the output map's slope")
        else:
            _statistic(ax, polys, color_by, "")
    ax.add_collection(polys)
    if boundary and len(part.decision_boundary):
        ax.add_collection(LineCollection(part.decision_boundary, colors="k", linewidths=1.8))
    if data is not None:
        data = check_array(data, func="plot_plane", name="data", shape=(None, 2))
        colors = "k" if labels is None else class_colors(labels)
        ax.scatter(data[:, 0], data[:, 1], c=colors, s=10, edgecolors="white", linewidths=0.4, zorder=3)
    (s_lo, t_lo), (s_hi, t_hi) = part.box
    ax.set_xlim(s_lo, s_hi)
    ax.set_ylim(t_lo, t_hi)
    ax.set_aspect("equal")
    return ax


def _class_legend(ax, classes, class_names, extra=()) -> None:
    from matplotlib.patches import Patch

    handles = list(extra) + [Patch(color=class_colors([c])[0], label=f"class {_class_name(c, class_names)}")
                             for c in classes]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)


def _class_name(c: int, class_names) -> str:
    return str(class_names[c]) if class_names is not None and c < len(class_names) else str(c)


def _statistic(ax, polys, values, label: str) -> None:
    import matplotlib.pyplot as plt

    polys.set_array(values)
    polys.set_cmap("viridis")
    plt.colorbar(polys, ax=ax, shrink=0.8, label=label)


def plot_path_density(path: PathCrossings, *, n_windows: int = 40, ax=None, class_names=None):
    """Exact polytope density along a path, with each piece's predicted class as a band.

    Parameters
    ----------
    path : PathCrossings
        From :func:`polylens.path_crossings`.
    n_windows : int, default=40
        Windows of equal length for the density.
    ax : matplotlib Axes, optional
    class_names : sequence of str, optional
        Legend labels of the classes.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        If ``path`` is not a :class:`PathCrossings` or ``n_windows`` is not a positive int.
    """
    import matplotlib.pyplot as plt

    from polylens._validation import invalid

    if not isinstance(path, PathCrossings):
        raise invalid("plot_path_density", "path", "a PathCrossings", type(path).__name__)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    centres, density = path.density_windows(n_windows)
    ax.plot(centres, density, color="k", lw=1.5, label="boundaries crossed per unit length")
    classes = path.piece_classes()
    colors = class_colors(classes)
    top = max(float(density.max()), 1.0) * 1.1
    band = 0.06 * top
    for lo, hi, color in zip(path.breaks[:-1], path.breaks[1:], colors):
        ax.axvspan(lo, hi, ymin=0, ymax=band / (top + band), color=color, lw=0)
    for x in path.vertices[1:-1]:
        ax.axvline(x, color="0.6", lw=0.8, ls="--")
    ax.set_ylim(-band, top)
    ax.set_xlim(0, path.length)
    ax.set_xlabel("distance along the path")
    ax.set_ylabel("polytope density")
    _class_legend(ax, np.unique(classes), class_names, extra=[ax.lines[0]])
    return ax
