"""Exact geometry of a small CNN trained on scikit-learn's digits.

Trains Conv+BN+ReLU+MaxPool (seconds on one CPU thread), then draws

- every region of the plane through three test digits of different classes, coloured by
  predicted class, with the exact decision boundary (``plane.png``);
- the exact polytope density along the straight path between two of them, with the
  predicted class of every piece as a band (``path.png``).

Run: ``python examples/digits_cnn_geometry.py [--out DIR] [--box LO HI]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from polylens import PWLNet, path_crossings, plane_partition, zoo  # noqa: E402
from polylens.plotting import plot_path_density, plot_plane  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="digits-geometry", help="output folder")
    parser.add_argument("--box", nargs=2, type=float, default=(-0.1, 1.1), help="bounds of the plane coordinates")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y, Xt, yt = zoo.digits_data(seed=0)
    model = zoo.digits_cnn()
    accuracy = zoo.train_classifier(model, X, y, epochs=8, seed=0)
    net = PWLNet.from_torch(model, Xt[:1])
    with torch.no_grad():
        correct = (model(Xt).argmax(1) == yt).numpy()
    picks = [int(np.flatnonzero((yt.numpy() == c) & correct)[0]) for c in (0, 3, 7)]  # correctly classified
    a, b, c = (Xt[i].reshape(-1).double().numpy() for i in picks)

    part = plane_partition(net, a, b - a, c - a, domain=tuple(args.box), progress=True)
    fig, ax = plt.subplots(figsize=(6.5, 6))
    plot_plane(part, ax=ax, color_by="class", data=np.array([[0, 0], [1, 0], [0, 1]]), labels=[0, 3, 7])
    ax.set_title(f"digits CNN: plane through a 0, a 3 and a 7\n{part.n_regions} regions, exact "
                 f"decision boundary ({part.seconds:.1f} s)")
    ax.set_xlabel("s (towards the 3)")
    ax.set_ylabel("t (towards the 7)")
    fig.tight_layout()
    fig.savefig(out / "plane.png", dpi=150)
    plt.close(fig)

    path = path_crossings(net, np.stack([a, b]))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    plot_path_density(path, n_windows=40, ax=ax)
    ax.set_title(f"exact polytope density from a 0 to a 3: {path.n_crossings} boundaries crossed")
    fig.tight_layout()
    fig.savefig(out / "path.png", dpi=150)
    plt.close(fig)
    print(f"train accuracy {accuracy:.3f}; plane: {part.n_regions} regions in {part.seconds:.1f} s; "
          f"path: {path.n_crossings} crossings; wrote {out}/plane.png and {out}/path.png; "
          f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
