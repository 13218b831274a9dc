"""Pictures: plane partitions (regions coloured, decision boundary on top) and the
polytope density along a path (with the predicted class of every piece as a band).

Figures are matplotlib; save them as PNG or SVG by the file name's extension.
"""

from __future__ import annotations

import numpy as np

from polylens.geometry.paths import PathCrossings
from polylens.geometry.plane import PlanePartition

__all__ = ["plot_plane", "plot_path_density", "COLOR_BY"]

COLOR_BY = ("region", "class", "gradient_norm")


def plot_plane(part: PlanePartition, *, ax=None, color_by="region", data=None, labels=None,
               boundary: bool = True, seed: int = 0):
    """Draw every region of a plane partition, with the exact decision boundary on top.

    Parameters
    ----------
    part : PlanePartition
        From :func:`polylens.plane_partition`.
    ax : matplotlib Axes, optional
    color_by : {"region", "class", "gradient_norm"} or ndarray of shape (n_regions,)
        A random colour per region, a colour per predicted class, the norm of the output
        map's slope, or any per-region statistic (a colour map and a colour bar).
    data : ndarray of shape (n, 2), optional
        Points to mark, in plane coordinates; ``labels`` of shape (n,) colours them.
    boundary : bool, default=True
        Draw the decision boundary.
    seed : int, default=0
        Seed of the random region colours.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PolyCollection

    if not isinstance(part, PlanePartition):
        raise TypeError(f"plot_plane: `part` must be a PlanePartition; got {type(part).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    thin = part.n_regions > 3000  # keep the picture readable when regions are tiny
    polys = PolyCollection(part.polygons, edgecolors="0.45" if thin else "0.25", linewidths=0.08 if thin else 0.3)
    if isinstance(color_by, str):
        if color_by not in COLOR_BY:
            raise ValueError(f"plot_plane: `color_by` must be one of {COLOR_BY} or an array; got {color_by!r}")
        if color_by == "region":
            polys.set_facecolor(plt.get_cmap("tab20")(np.random.default_rng(seed).integers(0, 20, part.n_regions)))
        elif color_by == "class":
            polys.set_facecolor(plt.get_cmap("Pastel1")(part.predicted_class() % 9))
        else:
            _statistic(ax, polys, part.gradient_norms(), "norm of the output map's slope")
    else:
        values = np.asarray(color_by, dtype=float)
        if values.shape != (part.n_regions,):
            raise ValueError(f"plot_plane: a `color_by` array must have shape ({part.n_regions},); got {values.shape}")
        _statistic(ax, polys, values, "")
    ax.add_collection(polys)
    if boundary and len(part.decision_boundary):
        ax.add_collection(LineCollection(part.decision_boundary, colors="k", linewidths=1.8))
    if data is not None:
        data = np.asarray(data)
        ax.scatter(data[:, 0], data[:, 1], c=labels, s=10, cmap="coolwarm", edgecolors="white", linewidths=0.4,
                   zorder=3)
    (s_lo, t_lo), (s_hi, t_hi) = part.box
    ax.set_xlim(s_lo, s_hi)
    ax.set_ylim(t_lo, t_hi)
    ax.set_aspect("equal")
    return ax


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
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not isinstance(path, PathCrossings):
        raise TypeError(f"plot_path_density: `path` must be a PathCrossings; got {type(path).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    centres, density = path.density_windows(n_windows)
    ax.plot(centres, density, color="k", lw=1.5, label="boundaries crossed per unit length")
    classes = path.piece_classes()
    cmap = plt.get_cmap("tab10")
    top = max(float(density.max()), 1.0) * 1.1
    band = 0.06 * top
    for lo, hi, cls in zip(path.breaks[:-1], path.breaks[1:], classes):
        ax.axvspan(lo, hi, ymin=0, ymax=band / (top + band), color=cmap(cls % 10), lw=0)
    for x in path.vertices[1:-1]:
        ax.axvline(x, color="0.6", lw=0.8, ls="--")
    ax.set_ylim(-band, top)
    ax.set_xlim(0, path.length)
    ax.set_xlabel("distance along the path")
    ax.set_ylabel("polytope density")
    present = sorted(set(classes.tolist()))
    names = class_names or [str(c) for c in range(max(present) + 1)]
    ax.legend(handles=[ax.lines[0]] + [Patch(color=cmap(c % 10), label=f"class {names[c]}") for c in present],
              loc="upper right", fontsize=8)
    return ax
