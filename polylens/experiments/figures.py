"""Figures of the digits experiments (matplotlib, Agg backend, PNG).

Each ``plot_*`` function draws one result on a new figure, saves it and returns its path;
:func:`save_digits_figures` draws them all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polylens.experiments.boundaries import density_profile
from polylens.experiments.digits import ActivationScaling, DigitsResults, InterpolationDensity
from polylens.experiments.monosemanticity import GroupingComparison

__all__ = ["save_digits_figures", "plot_density_profiles", "plot_example_paths", "plot_scaling",
           "plot_groupings", "FIGURES"]

FIGURES = {
    "profile": "digits-density-near-class-changes.png",
    "paths": "digits-example-paths.png",
    "scaling": "digits-activation-scaling.png",
    "groupings": "digits-monosemanticity.png",
}
"""File name of every digits figure."""

_PROFILE_BINS = 128  # density profiles are shown on a coarser grid than they are sampled on
_DPI = 130


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_digits_figures(results: DigitsResults, out: Path | str) -> dict[str, Path]:
    """Draw every digits figure into ``out``.

    Parameters
    ----------
    results : DigitsResults
    out : path
        Folder (created if missing).

    Returns
    -------
    dict of str to Path
        Keys of :data:`FIGURES`.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``out`` cannot be created or a figure cannot be written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "profile": plot_density_profiles(results.paths, out / FIGURES["profile"]),
        "paths": plot_example_paths(results.paths, out / FIGURES["paths"]),
        "scaling": plot_scaling(results.scaling, out / FIGURES["scaling"]),
        "groupings": plot_groupings(results.groupings, out / FIGURES["groupings"]),
    }


def _coarse(weights: np.ndarray) -> np.ndarray:
    """Per-bin weights summed in runs of equal length, shape (n, n_bins'): the longest run
    that divides ``n_bins`` and leaves at least :data:`_PROFILE_BINS` bins (none dropped)."""
    n_bins = weights.shape[1]
    factor = max(d for d in range(1, max(1, n_bins // _PROFILE_BINS) + 1) if n_bins % d == 0)
    return weights.reshape(len(weights), -1, factor).sum(axis=2)


def plot_density_profiles(paths: dict[str, InterpolationDensity], file: Path) -> Path:
    """Relative boundary density against the offset from a class change, one panel per space.

    Sampled (every pair) and exact (the exactly crossed pairs) profiles, with the profile
    that other paths' class-change positions give (the permuted baseline).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``file`` cannot be written.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(paths), figsize=(5.2 * len(paths), 3.8), squeeze=False)
    for ax, res in zip(axes[0], paths.values()):
        offsets, sampled, baseline = density_profile(_coarse(res.sampled), res.changes)
        ax.plot(offsets, sampled, color="C0", lw=1.6, label=f"sampled ({len(res.sampled)} paths)")
        ax.plot(offsets, baseline, color="0.5", lw=1.2, ls="--", label="other paths' class changes")
        if len(res.exact):
            _, exact, _ = density_profile(_coarse(res.exact), res.changes[: len(res.exact)])
            ax.plot(offsets, exact, color="C3", lw=1.0, alpha=0.8, label=f"exact ({len(res.exact)} paths)")
        ax.axvspan(-res.contrast.window, res.contrast.window, color="C1", alpha=0.12, lw=0,
                   label="window of the contrast")
        ax.axhline(1.0, color="k", lw=0.6)
        where = "input space" if res.layer is None else f"activations of layer {res.layer}"
        ax.set_title(f"{where}: near/elsewhere {res.contrast.ratio.value:.2f}, "
                     f"baseline {res.contrast.permuted.value:.2f}", fontsize=9)
        ax.set_xlabel("offset from a class change (fraction of the path)")
        ax.set_ylabel("density / the path's mean density")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Polytope density around class changes along interpolations (digits CNN)", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=_DPI)
    plt.close(fig)
    return file


def plot_example_paths(paths: dict[str, InterpolationDensity], file: Path) -> Path:
    """The first pair of every space: exact density (boundaries crossed, and units changed
    at them) with the predicted class as a band, and the sampled density (Hamming distance
    between consecutive samples, which counts units) on the same windows.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``file`` cannot be written.
    """
    from polylens.plotting import plot_path_density

    plt = _pyplot()
    fig, axes = plt.subplots(len(paths), 1, figsize=(8, 3.0 * len(paths)), squeeze=False)
    for ax, res in zip(axes[:, 0], paths.values()):
        path = res.example
        n_windows = 32 if res.sampled.shape[1] % 32 == 0 else 1
        plot_path_density(path, n_windows=n_windows, ax=ax)
        ax.lines[0].set_label("exact: boundaries crossed")
        centres = (np.arange(n_windows) + 0.5) * path.length / n_windows
        for counts, style, label in ((res.exact[0], dict(color="C3", lw=1.0), "exact: units changed"),
                                     (res.sampled[0], dict(color="C0", lw=1.0, ls="--"),
                                      "sampled: code changes (Hamming)")):
            ax.plot(centres, counts.reshape(n_windows, -1).sum(axis=1) / (path.length / n_windows), label=label,
                    **style)
        ax.set_ylim(top=1.1 * max(line.get_ydata().max() for line in ax.lines))
        i, j = res.pairs[0]
        where = "input space" if res.layer is None else f"activation space of layer {res.layer}"
        classes = res.classes[0]
        ax.set_title(f"{where}: test image {i} (a {classes[0]}) → {j} (a {classes[-1]}), "
                     f"{path.n_crossings} exact crossings; band: predicted class", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(file, dpi=_DPI)
    plt.close(fig)
    return file


def plot_scaling(res: ActivationScaling, file: Path) -> Path:
    """Density, downstream code change and prediction change against the scale factor.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``file`` cannot be written.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    mid = 0.5 * (res.scales[1:] + res.scales[:-1])
    ax = axes[0]
    ax.plot(mid, res.density, color="C0", marker=".")
    ax.fill_between(mid, res.density_ci[:, 0], res.density_ci[:, 1], color="C0", alpha=0.25, lw=0)
    ax.set_ylabel("boundaries per unit length")
    ax.set_title("polytope density along the ray", fontsize=9)
    ax = axes[1]
    ax.plot(res.scales, res.code_change, color="C2", marker=".")
    ax.set_ylabel("fraction of downstream code bits")
    ax.set_title("code change from the unscaled activation", fontsize=9)
    ax = axes[2]
    ax.plot(res.scales, res.changed, color="C3", marker=".")
    ax.fill_between(res.scales, res.changed_ci[:, 0], res.changed_ci[:, 1], color="C3", alpha=0.25, lw=0)
    ax.set_ylabel("fraction of inputs")
    ax.set_title("prediction differs from the unscaled one", fontsize=9)
    for ax in axes:
        ax.axvline(1.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel(f"scale of the activation at layer {res.layer}")
    fig.suptitle("Scaling a hidden activation vector (digits CNN; bands: 95% CI over inputs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=_DPI)
    plt.close(fig)
    return file


def plot_groupings(res: GroupingComparison, file: Path) -> Path:
    """Mean purity (95% CI) of every method's groups, each group as a dot, and chance.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    OSError
        If ``file`` cannot be written.
    """
    plt = _pyplot()
    label_sets = list(dict.fromkeys(s.labels for s in res.scores))
    fig, axes = plt.subplots(1, len(label_sets), figsize=(5.5 * len(label_sets), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[0], label_sets):
        scores = [s for s in res.scores if s.labels == name]
        x = np.arange(len(scores))
        for k, s in enumerate(scores):
            ax.scatter(k + rng.uniform(-0.15, 0.15, s.purity.size), s.purity, s=8, color="0.6", zorder=1)
            ax.errorbar(k, s.mean, yerr=[[s.mean - s.ci[0]], [s.ci[1] - s.mean]], fmt="o", color=f"C{k}",
                        capsize=4, zorder=2)
        ax.axhline(scores[0].chance, color="k", lw=0.8, ls="--", label="random groups of the same size")
        ax.set_xticks(x, [s.method for s in scores])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{name} purity of a group")
        ax.set_title(f"{len(scores[0].purity)} groups of {res.group_size} per method", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Monosemanticity: polytopes (spline-code clusters) against directions", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=_DPI)
    plt.close(fig)
    return file
