"""The main job on an embedded default: a small MLP on two moons, every region exactly.

``polylens demo`` trains a 2-16-16-1 ReLU MLP on scikit-learn's two-moons data (fixed
seeds, a few seconds on one CPU thread), enumerates every region in a box around the
data, builds the region graph and writes to the output folder:

- ``partition.png``: regions coloured, exact decision boundary, data points (every
  region is an exact polygon from :func:`polylens.plane_partition`);
- ``regions.graphml``: the region graph;
- ``summary.json``: counts, timings, accuracy.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from polylens import zoo
from polylens._files import atomic_output
from polylens._validation import check_output_path
from polylens.errors import InvalidParameterError
from polylens.geometry.domain import Box
from polylens.geometry.enumeration import enumerate_regions
from polylens.geometry.graph import region_graph, write_graphml
from polylens.geometry.plane import plane_partition
from polylens.models.pwlnet import PWLNet

__all__ = ["run_demo", "OUTPUTS"]

# what the demo writes into its folder, by role
OUTPUTS = {"partition.png": "figure", "regions.graphml": "graph", "summary.json": "summary"}


def run_demo(out: str | os.PathLike = "polylens-demo", progress: bool = True, overwrite: bool = False) -> dict:
    """Train, enumerate, draw and summarise; returns the summary written to JSON.

    Parameters
    ----------
    out : path, default="polylens-demo"
        Output folder (created if missing; its parent must exist).
    progress : bool, default=True
        Show the enumeration's progress bar.
    overwrite : bool, default=False
        Replace the files of an earlier demo in ``out`` (otherwise they are refused before
        any work starts). Every file is written to a temporary name and moved into place
        when complete.

    Raises
    ------
    InvalidParameterError
        If ``out`` names a file, its parent folder does not exist or is not writable, or
        (without ``overwrite``) a file of an earlier demo is there already.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from polylens.plotting import plot_plane

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidParameterError(f"run_demo: `out` names the file {str(out)!r}; give a folder")
    out.mkdir(exist_ok=True)
    paths = {name: check_output_path(out / name, func="run_demo", name="out", overwrite=overwrite)
             for name in OUTPUTS}
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    X, y = zoo.moons_data(n_samples=400, seed=0)
    model = zoo.mlp([2, 16, 16, 1], seed=0)
    accuracy = zoo.train_classifier(model, X, y, epochs=400, batch_size=len(y), lr=0.02, seed=0)
    train_seconds = time.perf_counter() - t0
    net = PWLNet.from_torch(model)
    lo, hi = np.floor(X.numpy().min(axis=0) - 0.5), np.ceil(X.numpy().max(axis=0) + 0.5)
    result = enumerate_regions(net, Box(lo, hi), progress=progress)
    part = plane_partition(net, domain=(lo, hi), progress=False)
    graph = region_graph(result)
    with atomic_output(paths["regions.graphml"]) as tmp:
        write_graphml(graph, tmp)
    fig, ax = plt.subplots(figsize=(7, 5))
    plot_plane(part, ax=ax, data=X.numpy(), labels=y.numpy())
    ax.set_title(f"2-16-16-1 ReLU MLP on two moons: {result.n_regions} regions (exact)")
    fig.tight_layout()
    with atomic_output(paths["partition.png"]) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)
    classes = result.predicted_class()
    summary = {
        "model": repr(net),
        "train_accuracy": round(accuracy, 4),
        "train_seconds": round(train_seconds, 3),
        "domain": {"lo": lo.tolist(), "hi": hi.tolist()},
        "decision_boundary_segments": int(len(part.decision_boundary)),
        **result.summary(),
        "regions_per_class": np.bincount(classes, minlength=2).tolist(),
        "graph_edges": graph.number_of_edges(),
        "outputs": {"figure": str(out / "partition.png"), "graph": str(out / "regions.graphml")},
    }
    with atomic_output(paths["summary.json"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
