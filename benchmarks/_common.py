"""Helpers shared by the benchmark scripts: logging, timing, tables and the independent
oracles that check one tool's answer without using any tool's code.

Import it from a script in this folder (``from _common import ...``; a script's own folder
is on ``sys.path`` when it runs).
"""

from __future__ import annotations

import sys
import time

import numpy as np

__all__ = ["log", "interleaved_best", "best_of", "markdown_table", "linear_relu_layers", "hidden_codes"]


def log(msg: str) -> None:
    """Progress to stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def interleaved_best(fns, repeat: int, clock=time.perf_counter) -> list[float]:
    """Best time of each function over ``repeat`` interleaved rounds (interleaving spreads
    a noisy host's slow spells over all of them)."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, times):
            start = clock()
            fn()
            t.append(clock() - start)
    return [min(t) for t in times]


def best_of(fn, repeats: int, slow: float):
    """Run ``fn`` (returns (result, seconds)) up to ``repeats`` times; once if the first run
    takes more than ``slow`` seconds. Returns (result of the best run, its seconds, runs)."""
    result, best = fn()
    runs = 1
    if best <= slow:
        for _ in range(repeats - 1):
            res, s = fn()
            runs += 1
            if s < best:
                result, best = res, s
    return result, best, runs


def markdown_table(headers, rows) -> str:
    """A Markdown table of ``rows`` (sequences of cells) under ``headers``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def linear_relu_layers(seq) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """``(W, b, followed_by_relu)`` of every Linear of an ``nn.Sequential``, float64 numpy."""
    import torch

    mods = list(seq)
    return [(m.weight.detach().cpu().double().numpy(), m.bias.detach().cpu().double().numpy(),
             i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.ReLU))
            for i, m in enumerate(mods) if isinstance(m, torch.nn.Linear)]


def hidden_codes(seq, points: np.ndarray) -> np.ndarray:
    """Activation pattern (pre-activation > 0) of every hidden ReLU of a Linear/ReLU
    ``nn.Sequential`` at ``points`` (shape (n, d)), computed in float64 from the weights
    alone, layer-major; int8 of shape (n, n_hidden)."""
    h = np.asarray(points, np.float64)
    parts = []
    for W, b, relu in linear_relu_layers(seq):
        h = h @ W.T + b
        if relu:
            parts.append(h > 0)
            h = np.maximum(h, 0.0)
    return np.concatenate(parts, axis=1).astype(np.int8)
