"""Exact geometry on 2-D slices through CNN input spaces (issue: any PWL torch model).

For (a) a CNN trained on scikit-learn's digits (Conv+BN+ReLU+MaxPool, 1x8x8) and (b) a
random-weight VGG-style CNN on 3x32x32 inputs (conv64-conv64-pool-conv128-conv128-pool-fc),
on the plane through three inputs:

- the cost of the affine forms for k = 2 (one frozen forward pass of 1 + k = 3 rows) next
  to a plain forward pass of the same 3 samples (float64 copy, and the user's float32
  model);
- the time to build the region at the plane's centroid, its facets and its neighbours;
- regions per second of ``enumerate_regions`` in a 2-D box of the plane.

Run: ``python benchmarks/bench_slices.py [--quick]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from _common import interleaved_best

from polylens import Box, PWLNet, enumerate_regions, facets, neighbors, region_at, zoo


def _best(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    return interleaved_best([fn], repeat)[0]


def _case(name, model, images, box_side, max_regions, repeat):
    net = PWLNet.from_torch(model, images)
    a, b, c = (v.reshape(-1).double().numpy() for v in images[:3])
    basis = np.stack([b - a, c - a], axis=1)
    code = net.codes(a + np.array([1 / 3, 1 / 3]) @ basis.T)[0]
    rows = np.vstack([a, basis.T])
    t_forms = _best(lambda: net.frozen_forms(code, rows), repeat)
    model64 = copy.deepcopy(model).double()
    batch64, batch32 = images[:3].double(), images[:3].float()
    with torch.no_grad():
        t_fwd64 = _best(lambda: model64(batch64), repeat)
        t_fwd32 = _best(lambda: model(batch32), repeat)

    def build():
        r = region_at(net, [1 / 3, 1 / 3], Box(0, 1), origin=a, basis=basis)
        return r, facets(r), neighbors(r)

    t_region = _best(build, max(1, repeat // 4))
    region, fs, nbs = build()
    lo = np.array([1 / 3, 1 / 3]) - box_side / 2
    res = enumerate_regions(net, Box(lo, lo + box_side), origin=a, basis=basis, progress=False,
                            max_regions=max_regions)
    return {
        "model": name, "units": net.n_units, "forms_ms": 1e3 * t_forms, "fwd64_ms": 1e3 * t_fwd64,
        "fwd32_ms": 1e3 * t_fwd32, "ratio": t_forms / t_fwd64, "region_ms": 1e3 * t_region,
        "facets": len(fs), "neighbours": len(nbs), "regions": res.n_regions, "complete": res.complete,
        "rps": res.n_regions / res.seconds, "lp_per_region": res.lp_solves / max(res.n_regions, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller enumerations")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeat = 5 if args.quick else 20
    X, y, Xt, _ = zoo.digits_data(seed=0)
    cnn = zoo.digits_cnn()
    acc = zoo.train_classifier(cnn, X, y, epochs=5, seed=0)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    rows = [
        _case(f"digits CNN (train acc {acc:.2f})", cnn, Xt[:3], 0.2, 2000 if args.quick else None, repeat),
        _case("VGG-style 3x32x32 (random)", zoo.vgg_style_cnn(), images, 0.02, 100 if args.quick else 300,
              max(2, repeat // 4)),
    ]
    print("| model | units | affine forms k=2 (ms) | forward 3 samples f64 / f32 (ms) | forms / forward f64 "
          "| region + facets + neighbours (ms) | facets | slice enumeration: regions | regions/s | LPs/region |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        done = "" if r["complete"] else " (budget)"
        print(f"| {r['model']} | {r['units']} | {r['forms_ms']:.2f} | {r['fwd64_ms']:.2f} / {r['fwd32_ms']:.2f} "
              f"| {r['ratio']:.2f} | {r['region_ms']:.1f} | {r['facets']} | {r['regions']}{done} "
              f"| {r['rps']:.0f} | {r['lp_per_region']:.2f} |")


if __name__ == "__main__":
    main()
