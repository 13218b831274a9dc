#!/usr/bin/env python
"""Waves against one region at a time: the same search, side by side in one process.

Every row enumerates one random MLP (torch default init, seed 0, float64) twice per
round, once with each region expanded on its own (the wave route switched off, which is
what the search did before ``polylens/geometry/waves.py``) and once in waves, rounds
interleaved; it reports the best of the rounds. Both runs must give the same answer
(codes, order, edges, points, LP count): the script says so loudly if not.

Columns: regions/s of each route and their ratio, LPs per region, the share of regions
the wave route left to the one-region route, the driver's merge time per region (the
in-order merge of a wave's expansions into the result, timed inside the run), and the
peak resident memory of the process after the row.

Usage::

    python benchmarks/bench_waves.py            # every row, best of 2
    python benchmarks/bench_waves.py --quick    # small rows only, one round
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from _common import log, markdown_table

import polylens.geometry.expansion as expansion
from polylens import Box, PWLNet, enumerate_regions
from polylens.geometry.search_state import SearchState

#: (layer sizes, domain side or None for R^k, region budget or None, quick)
ROWS = [
    ((2, 12, 12), None, None, True),
    ((2, 16, 16, 1), None, None, True),
    ((2, 32, 32, 32, 1), 1.0, None, True),
    ((2, 64, 64, 64), 1.0, None, False),
    ((3, 24, 24), 1.0, None, False),
    ((4, 12, 12, 1), None, None, False),
    ((6, 32, 32), 1.0, 20_000, False),
]


def mlp(sizes) -> PWLNet:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2 or sizes[-1] != 1:
            layers.append(torch.nn.ReLU())
    return PWLNet.from_torch(torch.nn.Sequential(*layers).double())


class _Clock:
    """Time spent in the driver's merge, and regions left to the one-region route."""

    def __init__(self):
        self.merge = 0.0
        self.one = 0
        self._merge, self._expand = SearchState.merge, expansion._expand

    def __enter__(self):
        def merge(search, batch):
            start = time.perf_counter()
            out = self._merge(search, batch)
            self.merge += time.perf_counter() - start
            return out

        def expand(*args):
            self.one += 1
            return self._expand(*args)

        SearchState.merge, expansion._expand = merge, expand
        return self

    def __exit__(self, *exc):
        SearchState.merge, expansion._expand = self._merge, self._expand


def run(net, domain, budget, waves: bool):
    applies = expansion.wave_applies
    if not waves:
        expansion.wave_applies = lambda space, method: False
    try:
        with _Clock() as clock:
            start = time.perf_counter()
            res = enumerate_regions(net, domain, progress=False, max_regions=budget)
            seconds = time.perf_counter() - start
    finally:
        expansion.wave_applies = applies
    return res, seconds, clock


def same(a, b) -> bool:
    return (np.array_equal(a.codes, b.codes) and np.array_equal(a.edges, b.edges)
            and np.array_equal(a.points, b.points) and a.lp_solves == b.lp_solves and a.edge_units == b.edge_units)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small rows only, one round")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rounds = 1 if args.quick else args.rounds
    table = []
    for sizes, side, budget, quick in ROWS:
        if args.quick and not quick:
            continue
        net = mlp(sizes)
        k = sizes[0]
        domain = None if side is None else Box(-side * np.ones(k), side * np.ones(k))
        name = "-".join(map(str, sizes))
        log(f"[{name}] ...")
        best = {False: None, True: None}
        for _ in range(rounds):
            for waves in (False, True):
                got = run(net, domain, budget, waves)
                if best[waves] is None or got[1] < best[waves][1]:
                    best[waves] = got
        (one, t_one, c_one), (wave, t_wave, c_wave) = best[False], best[True]
        n = wave.n_regions
        table.append([
            name, f"R^{k}" if side is None else f"[-{side:g},{side:g}]^{k}",
            f"{n}" + (" (budget)" if not wave.complete else ""),
            "yes" if same(one, wave) else "**NO**",
            f"{n / t_one:,.0f}", f"{n / t_wave:,.0f}", f"{t_one / t_wave:.1f}x",
            f"{wave.lp_solves / n:.3f}", f"{c_wave.one / n:.1%}",
            f"{c_one.merge / n * 1e6:.0f} / {c_wave.merge / n * 1e6:.0f}",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
        ])
        log(f"  one region {n / t_one:,.0f}/s, waves {n / t_wave:,.0f}/s")
    print(markdown_table(
        ["net", "domain", "regions", "identical", "one region regions/s", "waves regions/s", "waves / one",
         "LPs/region", "left to one-region route", "driver merge us/region one / waves", "peak RSS MiB"], table))
    print(f"\nbest of {rounds} interleaved round(s), one thread")


if __name__ == "__main__":
    main()
