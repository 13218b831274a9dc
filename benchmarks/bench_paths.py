#!/usr/bin/env python
"""Benchmark of ``polylens.path_crossings``: segment splitting against the exact engine.

Two paths, each run by both routes (``method="split"``: values carried from layer to
layer at the segment's breakpoints; ``method="enumerate"``: one frozen forward pass per
piece from the input), interleaved, best of ``--repeat`` rounds (wall clock, single
thread):

* the digits CNN (``zoo.digits_cnn``, trained 5 epochs) between two test digits;
* the VGG-style CNN (``zoo.vgg_style_cnn``, random weights) on 3x32x32 from an input
  drawn by ``torch.rand`` with a fixed generator towards a second one, the first
  ``--vgg-fraction`` of the way (default 1%: about 500 crossings; the whole path has
  tens of thousands, an hour or more by either route on one thread).

Each row also checks that the two routes agree (codes, crossings to 1e-9 of the length).

Usage::

    python benchmarks/bench_paths.py [--repeat 3] [--only digits|vgg] [--vgg-fraction 0.01]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import interleaved_best, log, markdown_table  # noqa: E402

from polylens import PWLNet, path_crossings, zoo  # noqa: E402

torch.set_num_threads(1)


def _digits():
    X, y, Xt, _ = zoo.digits_data(seed=0)
    model = zoo.digits_cnn(seed=0)
    zoo.train_classifier(model, X, y, epochs=5, seed=0)
    net = PWLNet.from_torch(model.eval(), Xt[:1])
    return "digits CNN (1x8x8), test digits 0 -> 1", net, Xt[:2].reshape(2, -1).double().numpy()


def _vgg(fraction: float):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    net = PWLNet.from_torch(zoo.vgg_style_cnn().eval(), x[:1])
    a, b = x.reshape(2, -1).double().numpy()
    return (f"VGG-style CNN (3x32x32), torch.rand input, {fraction:g} of the way to another", net,
            np.stack([a, a + fraction * (b - a)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("digits", "vgg"))
    parser.add_argument("--vgg-fraction", type=float, default=0.01)
    args = parser.parse_args()
    rows = []
    for key, make in (("digits", _digits), ("vgg", lambda: _vgg(args.vgg_fraction))):
        if args.only not in (None, key):
            continue
        name, net, points = make()
        log(f"{name}: {net.n_units} units")
        split, enum = path_crossings(net, points), path_crossings(net, points, method="enumerate")
        agree = (np.array_equal(split.codes, enum.codes)
                 and np.allclose(split.positions, enum.positions, rtol=0, atol=1e-9 * split.length))
        t_split, t_enum = interleaved_best([lambda: path_crossings(net, points),
                                            lambda: path_crossings(net, points, method="enumerate")], args.repeat)
        rows.append([name, net.n_units, split.n_crossings, f"{t_split:.3f}", f"{t_enum:.3f}",
                     f"{t_enum / t_split:.1f}x", "yes" if agree else "NO"])
    print(markdown_table(["path", "units", "crossings", "split (s)", "enumerate (s)", "speed-up", "same answer"],
                         rows))


if __name__ == "__main__":
    main()
