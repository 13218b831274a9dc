#!/usr/bin/env python
"""Peak memory of a long enumeration against the size of its result.

A 2-D net with one hidden layer of ``n`` ReLU units in general position (random lines)
cuts R^2 into exactly ``1 + n + n (n - 1) / 2`` regions (the arrangement formula, an
oracle independent of the engine); ``n = 1414`` gives 1,000,405. Each row runs
``enumerate_regions`` over all of R^2 in a fresh subprocess and reports:

* regions found against the formula, time and regions/s;
* the result's size: its arrays (codes, points, radii, maps, edges, ...), its vertices and
  the Python objects of its lists (a view per region's vertices, a tuple per edge's units),
  added up from their sizes, and the resident memory it holds (what the process gives
  back to the system when the result is deleted, after ``malloc_trim``: the sizes and
  the allocator's own overhead of each object);
* the peak resident memory of the process above what it held before the enumeration
  started (``VmHWM`` above ``VmRSS``, which count everything: the search's state, its
  waves, the result and the allocator's slack), after a search of one wave of the same
  net has made the first calls at its size and the heap's free memory was given back to
  the system (``malloc_trim``; the peak reset through ``/proc/self/clear_refs``);
* their difference: what the search held beyond its resident result at its peak;
* one wave: in another fresh process, the peak resident memory of expanding one wave of
  the same net on its own (``BATCH_REGIONS`` regions of the search, from a point inside
  each), measured the same way, the largest of three waves: near the search's start,
  its middle and its end (a wave of the outer, unbounded regions takes the most); and what
  the search's peak held beyond the resident result and that wave (the issue's bound: at
  most 0).

Linux with glibc only (``/proc`` and ``malloc_trim``).

Usage::

    python benchmarks/bench_memory.py [--units N [N ...]]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import log, markdown_table

NET = r"""
import ctypes, ctypes.util, json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from polylens import PWLNet, enumerate_regions
from polylens.geometry.enumeration import BATCH_REGIONS

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

def fresh():
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)  # the heap's free memory back to the system
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak resident memory is now the current
    return status("VmRSS")

n = int(sys.argv[1])
rng = np.random.default_rng(0)
lin, out = torch.nn.Linear(2, n).double(), torch.nn.Linear(n, 1).double()
with torch.no_grad():
    lin.weight.copy_(torch.from_numpy(rng.standard_normal((n, 2))))
    lin.bias.copy_(torch.from_numpy(rng.standard_normal(n)))
net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU(), out))
enumerate_regions(PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())), None,
                  progress=False)  # imports and first calls, before the baseline
"""

CHILD = NET + r"""
import gc
enumerate_regions(net, None, max_regions=BATCH_REGIONS, progress=False)  # first calls at this size
before = fresh()
start = time.perf_counter()
res = enumerate_regions(net, None, progress=False)
seconds = time.perf_counter() - start
peak = status("VmHWM")
arrays = sum(getattr(res, f).nbytes for f in ("codes", "points", "radii", "bounded", "n_facets", "edges",
                                                "out_weight", "out_bias", "frontier"))
vertices = sum(v.nbytes for v in res.vertices)
objects = sum(sys.getsizeof(v) for v in res.vertices) + sum(sys.getsizeof(u) for u in res.edge_units) + (
    sys.getsizeof(res.vertices) + sys.getsizeof(res.edge_units))
# Three waves of the search for the other child: near its start, its middle and its end.
last = max(res.n_regions - BATCH_REGIONS, 0)
rows = np.stack([np.arange(s, s + BATCH_REGIONS) for s in np.clip([768, res.n_regions // 2, last], 0, last)])
rows %= res.n_regions
np.savez(sys.argv[2], rows=rows, codes=res.codes[rows.ravel()], points=res.points[rows.ravel()])
summary = {"n": n, "regions": res.n_regions, "formula": 1 + n + n * (n - 1) // 2, "seconds": seconds,
           "complete": res.complete, "result": arrays + vertices + objects, "peak": peak - before,
           "lp_solves": res.lp_solves}
del rows
gc.collect()
held = fresh()
del res
gc.collect()
summary["resident"] = held - fresh()  # what the result held: given back when it is deleted
print(json.dumps(summary))
"""

WAVE = NET + r"""
from polylens.geometry.domain import as_domain
from polylens.geometry.expansion import SearchSpec, expand_batch_packed

spec = SearchSpec(net, as_domain(None, func="enumerate_regions"), None, None, "highs", "auto")
saved = np.load(sys.argv[2])
largest = 0
for rows, codes, points in zip(saved["rows"], np.split(saved["codes"], 3), np.split(saved["points"], 3)):
    hints = np.stack([points, np.full_like(points, np.nan)], axis=1)
    expand_batch_packed(spec, (rows, codes, hints))  # first calls at this size, as the search calls it
    before = fresh()
    expand_batch_packed(spec, (rows, codes, hints))
    largest = max(largest, status("VmHWM") - before)
print(json.dumps({"wave": largest}))
"""


def _child(code: str, n: int, waves: str) -> dict:
    """Run one child script in a fresh process; its last line of output, read as JSON."""
    out = subprocess.run([sys.executable, "-c", code, str(n), waves], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the child for {n} units failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--units", type=int, nargs="+", default=[300, 1414], help="hidden units per row")
    args = parser.parse_args(argv)
    rows, ok = [], True
    for n in args.units:
        log(f"{n} lines ...")
        with tempfile.TemporaryDirectory() as tmp:
            waves = str(Path(tmp) / "waves.npz")
            r = _child(CHILD, n, waves)
            w = _child(WAVE, n, waves)["wave"]
        same = r["regions"] == r["formula"] and r["complete"]
        ok &= same
        mib = 2.0 ** 20
        rows.append([f"2-{n}-1", "R^2", f"{r['regions']:,}", f"{r['formula']:,}", "yes" if same else "**NO**",
                     f"{r['seconds']:.0f}", f"{r['regions'] / r['seconds']:,.0f}", f"{r['lp_solves'] / r['regions']:.3f}",
                     f"{r['result'] / mib:,.0f}", f"{r['resident'] / mib:,.0f}", f"{r['peak'] / mib:,.0f}",
                     f"{(r['peak'] - r['resident']) / mib:,.0f}", f"{r['peak'] / r['resident']:.2f}",
                     f"{w / mib:,.0f}", f"{(r['peak'] - r['resident'] - w) / mib:,.0f}"])
    print(markdown_table(["net", "domain", "regions", "formula", "equal", "s", "regions/s", "LPs/region",
                          "result MiB (sizes)", "result MiB (resident)", "peak above start MiB",
                          "peak - result MiB", "peak / result", "one wave MiB", "peak - result - wave MiB"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
