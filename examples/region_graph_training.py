#!/usr/bin/env python
"""How the region graph of the two-moons MLP evolves over training.

Trains the demo's 2-16-16-1 ReLU MLP on two moons (fixed seeds, one CPU thread), keeps a
snapshot every few epochs, and measures every snapshot exactly in the demo's box with
:func:`polylens.studies.training_measurements`: regions, mean radius, degrees, diameter,
components of each class's decision region, Betti numbers of the decision boundary,
regions holding data and the local complexity around the data. It then compares the
trained net with the same net at initialisation (decision topology drawn side by side).

Writes to ``--out`` (default ``region-graph-training``): ``table.md``,
``training.png`` (the measurements against the epoch) and ``init_vs_trained.png``.

Usage::

    python examples/region_graph_training.py [--out DIR] [--epochs 400] [--every 50]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polylens import PWLNet, zoo
    from polylens.studies.figures import plot_class_components
    from polylens.studies.topology import decision_topology
    from polylens.studies.training import training_measurements

    parser = argparse.ArgumentParser(description="Region graph of the two-moons MLP over training.")
    parser.add_argument("--out", default="region-graph-training")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    X, y = zoo.moons_data(n_samples=400, seed=0)
    model = zoo.mlp([2, 16, 16, 1], seed=0)
    snapshots, epochs = [copy.deepcopy(model.state_dict())], [0]
    for start in range(0, args.epochs, args.every):
        zoo.train_classifier(model, X, y, epochs=args.every, batch_size=len(y), lr=0.02, seed=start)
        snapshots.append(copy.deepcopy(model.state_dict()))
        epochs.append(start + args.every)
    lo, hi = np.floor(X.numpy().min(axis=0) - 0.5), np.ceil(X.numpy().max(axis=0) + 0.5)
    table = training_measurements(snapshots, (lo, hi), model=zoo.mlp([2, 16, 16, 1]), epochs=epochs,
                                  data=X.numpy(), labels=y.numpy())
    (out / "table.md").write_text(table.to_markdown())
    print(table.to_markdown())
    fig = table.plot()
    fig.savefig(out / "training.png", dpi=130)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, snap, label in ((axes[0], snapshots[0], "initialisation"), (axes[1], snapshots[-1], "trained")):
        m = zoo.mlp([2, 16, 16, 1])
        m.load_state_dict(snap)
        topo = decision_topology(PWLNet.from_torch(m), (lo, hi))
        plot_class_components(topo, ax=ax, data=X.numpy(), labels=y.numpy())
        ax.set_title(f"{label}: {topo.n_regions} regions, boundary Betti {topo.decision_boundary_betti}",
                     fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "init_vs_trained.png", dpi=130)
    plt.close(fig)
    print(f"wrote {out / 'table.md'}, {out / 'training.png'}, {out / 'init_vs_trained.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
