#!/usr/bin/env python
"""Peak memory of a long enumeration against the size of its result.

A 2-D net with one hidden layer of ``n`` ReLU units in general position (random lines)
cuts R^2 into exactly ``1 + n + n (n - 1) / 2`` regions (the arrangement formula, an
oracle independent of the engine); ``n = 1414`` gives 1,000,405. Each row runs
``enumerate_regions`` over all of R^2 in a fresh subprocess and reports:

* regions found against the formula, time and regions/s;
* the result's size: its arrays (codes, points, radii, maps, edges, ...), its vertices and
  the Python objects of its lists (a view per region's vertices, a tuple per edge's units);
* the peak resident memory of the process above what it held before the enumeration
  started (``ru_maxrss``, which counts everything: the search's state, one wave of
  expansions, the result and the allocator's slack);
* their difference: what the search held beyond its result at its peak.

Usage::

    python benchmarks/bench_memory.py [--units N [N ...]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import log, markdown_table

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from polylens import PWLNet, enumerate_regions

n = int(sys.argv[1])
rng = np.random.default_rng(0)
lin, out = torch.nn.Linear(2, n).double(), torch.nn.Linear(n, 1).double()
with torch.no_grad():
    lin.weight.copy_(torch.from_numpy(rng.standard_normal((n, 2))))
    lin.bias.copy_(torch.from_numpy(rng.standard_normal(n)))
net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU(), out))
enumerate_regions(PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())), None,
                  progress=False)  # imports and first calls, before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
res = enumerate_regions(net, None, progress=False)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
arrays = sum(getattr(res, f).nbytes for f in ("codes", "points", "radii", "bounded", "n_facets", "edges",
                                                "out_weight", "out_bias", "frontier"))
vertices = sum(v.nbytes for v in res.vertices)
objects = sum(sys.getsizeof(v) for v in res.vertices) + sum(sys.getsizeof(u) for u in res.edge_units) + (
    sys.getsizeof(res.vertices) + sys.getsizeof(res.edge_units))
print(json.dumps({"n": n, "regions": res.n_regions, "formula": 1 + n + n * (n - 1) // 2, "seconds": seconds,
                  "complete": res.complete, "result": arrays + vertices + objects, "peak": peak - before,
                  "lp_solves": res.lp_solves}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--units", type=int, nargs="+", default=[300, 1414], help="hidden units per row")
    args = parser.parse_args(argv)
    rows, ok = [], True
    for n in args.units:
        log(f"{n} lines ...")
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        same = r["regions"] == r["formula"] and r["complete"]
        ok &= same
        mib = 2.0 ** 20
        rows.append([f"2-{n}-1", "R^2", f"{r['regions']:,}", f"{r['formula']:,}", "yes" if same else "**NO**",
                     f"{r['seconds']:.0f}", f"{r['regions'] / r['seconds']:,.0f}", f"{r['lp_solves'] / r['regions']:.3f}",
                     f"{r['result'] / mib:,.0f}", f"{r['peak'] / mib:,.0f}", f"{(r['peak'] - r['result']) / mib:,.0f}",
                     f"{r['peak'] / r['result']:.2f}"])
    print(markdown_table(["net", "domain", "regions", "formula", "equal", "s", "regions/s", "LPs/region",
                          "result MiB", "peak above start MiB", "peak - result MiB", "peak / result"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
