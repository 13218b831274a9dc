"""The main job on an embedded default: a small MLP on two moons, every region exactly.

``polylens demo`` trains a 2-16-16-1 ReLU MLP on scikit-learn's two-moons data (fixed
seeds, a few seconds on one CPU thread), enumerates every region in a box around the
data, builds the region graph and writes to the output folder:

- ``partition.png``: regions coloured, exact decision boundary, data points;
- ``regions.graphml``: the region graph;
- ``summary.json``: counts, timings, accuracy.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from polylens.geometry.domain import Box
from polylens.geometry.enumeration import enumerate_regions
from polylens.geometry.graph import region_graph, write_graphml
from polylens.models.pwlnet import PWLNet

__all__ = ["train_moons_mlp", "run_demo"]


def train_moons_mlp(hidden: tuple[int, ...] = (16, 16), n_samples: int = 400, steps: int = 400, seed: int = 0):
    """Train a ReLU MLP (binary logit output) on two moons.

    Returns
    -------
    model : torch.nn.Sequential
        In eval mode, float32.
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
    accuracy : float
        On the training data.
    """
    import torch
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=0.15, random_state=seed)
    torch.manual_seed(seed)
    layers, width = [], 2
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt)[:, 0], yt)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float(((model(xt)[:, 0] > 0).float() == yt).float().mean())
    return model, X, y, accuracy


def run_demo(out: str | os.PathLike = "polylens-demo", progress: bool = True) -> dict:
    """Train, enumerate, draw and summarise; returns the summary written to JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from polylens.plotting import plot_partition

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, X, y, accuracy = train_moons_mlp()
    train_seconds = time.perf_counter() - t0
    net = PWLNet.from_torch(model)
    domain = Box(np.floor(X.min(axis=0) - 0.5), np.ceil(X.max(axis=0) + 0.5))
    result = enumerate_regions(net, domain, progress=progress)
    graph = region_graph(result)
    write_graphml(graph, out / "regions.graphml")
    fig, ax = plt.subplots(figsize=(7, 5))
    plot_partition(result, ax=ax, data=X, labels=y)
    ax.set_title(f"2-16-16-1 ReLU MLP on two moons: {result.n_regions} regions (exact)")
    fig.tight_layout()
    fig.savefig(out / "partition.png", dpi=150)
    plt.close(fig)
    classes = result.predicted_class()
    summary = {
        "model": repr(net),
        "train_accuracy": round(accuracy, 4),
        "train_seconds": round(train_seconds, 3),
        "domain": {"lo": domain.lo.tolist(), "hi": domain.hi.tolist()},
        **result.summary(),
        "regions_per_class": np.bincount(classes, minlength=2).tolist(),
        "graph_edges": graph.number_of_edges(),
        "outputs": {"figure": str(out / "partition.png"), "graph": str(out / "regions.graphml")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
