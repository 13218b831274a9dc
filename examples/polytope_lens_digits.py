"""The polytope-lens experiments on a CNN trained on scikit-learn's digits.

Trains Conv+BN+ReLU+MaxPool (seconds on one CPU thread), then tests the three predictions
of the polytope lens (see :mod:`polylens.experiments.digits`): boundary density along
interpolations between test images against class changes (sampled for 200 pairs, exact
for the first ones, in input space and in a hidden layer's activation space), activation
scaling, and the class purity of spline-code clusters against activation clusters,
neurons and NMF directions. Writes the figures and ``digits.md`` (the numbers with their
95% confidence intervals) into ``--out`` and prints the numbers and the wall time.

One model: ``--seed`` and ``--architecture`` (a key of
:data:`polylens.experiments.digits.ARCHITECTURES`) choose it; ``polylens report`` runs
every architecture over several seeds.

Run: ``python examples/polytope_lens_digits.py [--out DIR] [--seed S] [--architecture "BN 8/16"]``
(about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from polylens.experiments.digits import ARCHITECTURES, DigitsConfig, run_digits
from polylens.experiments.figures import save_digits_figures
from polylens.experiments.report import digits_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="polytope-lens-digits", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model, data split and statistics")
    parser.add_argument("--architecture", default="BN 8/16", choices=list(ARCHITECTURES), help="the CNN")
    parser.add_argument("--cache", default=None, help="folder of trained models (default: none)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    out = Path(args.out)
    config = replace(DigitsConfig(), seed=args.seed, **ARCHITECTURES[args.architecture])
    results = run_digits(config, progress=not args.no_progress, cache=args.cache)
    figures = save_digits_figures(results, out)
    text = digits_section(results, figures, out)
    (out / "digits.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {out}/digits.md and {len(figures)} figures; total wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
