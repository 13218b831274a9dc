"""Exact geometry on 2-D slices through CNN input spaces (issue: any PWL torch model).

For (a) a CNN trained on scikit-learn's digits (Conv+BN+ReLU+MaxPool, 1x8x8) and (b) a
random-weight VGG-style CNN on 3x32x32 inputs (conv64-conv64-pool-conv128-conv128-pool-fc),
on the plane through three inputs:

- the cost of the affine forms for k = 2 (one frozen forward pass of 1 + k = 3 rows) next
  to a plain forward pass of the same 3 samples (float64 copy, and the user's float32
  model);
- the time to build the region at the plane's centroid, its facets and its neighbours;
- regions per second of ``enumerate_regions`` in a 2-D box of the plane.

Then plane splitting (``split_plane``, the engine of ``plane_partition(method="split")``)
of a small box of the plane for the VGG-style CNN and a torchvision-style ResNet-18 at
3x64x64, side by side with the splitter of a pinned earlier revision (``--baseline``,
default: the last one that re-ran the program from the input at every layer). The old
revision is extracted with ``git archive`` and run in a subprocess on the same machine in
the same run; the regions (codes and areas) of the two are compared.

Then the slice enumerations of the first table side by side with a pinned earlier
revision's (``--enumeration-baseline``, default: the last one before waves of the
frontier served traced CNNs), each in a subprocess on the same models (saved once), the
two interleaved (best of ``--repeat`` runs); the regions (codes in order, points) of the
two are compared.

Run: ``python benchmarks/bench_slices.py [--quick] [--baseline REV] [--enumeration-baseline REV]``.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from _common import interleaved_best, log, markdown_table

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


#: Plane-splitting cases: model, input shape, side of the box around the plane's centroid.
PLANES = {
    "VGG-style 3x32x32": (lambda: zoo.vgg_style_cnn(), (3, 32, 32), 0.0004),
    "ResNet-18-style 3x64x64": (lambda: zoo.resnet18_style(), (3, 64, 64), 0.0005),
}


def _split_case(name: str, out: str) -> None:
    """Split one plane box with whatever ``polylens`` is importable; save codes and areas."""
    from polylens.geometry.polygons import polygon_area
    from polylens.geometry.splitting import split_plane

    factory, shape, side = PLANES[name]
    images = torch.rand(3, *shape, generator=torch.Generator().manual_seed(0))
    net = PWLNet.from_torch(factory(), images)
    a, b, c = (v.reshape(-1).double().numpy() for v in images)
    lo = np.full(2, 1 / 3 - side / 2)
    start = time.perf_counter()
    res = split_plane(net, a, np.stack([b - a, c - a], axis=1), lo, lo + side, progress=False)
    seconds = time.perf_counter() - start
    polygons, _ = res.mesh.polygons()
    np.savez(out, codes=res.codes, areas=np.array([polygon_area(p) for p in polygons]), seconds=seconds,
             vertices=res.mesh.n_vertices)


#: Slice-enumeration cases of the side-by-side table: box side around the plane's
#: centroid and region budget (None: every region of the box).
SLICES = {"digits CNN": (0.2, None), "VGG-style 3x32x32": (0.02, 100)}


def _slice_models(folder: str) -> None:
    """Build the models of :data:`SLICES` and their three images once, saved in ``folder``."""
    X, y, Xt, _ = zoo.digits_data(seed=0)
    cnn = zoo.digits_cnn()
    zoo.train_classifier(cnn, X, y, epochs=5, seed=0)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for name, model, inputs in (("digits CNN", cnn.eval(), Xt[:3]), ("VGG-style 3x32x32", zoo.vgg_style_cnn(), images)):
        torch.save({"model": model, "images": inputs}, os.path.join(folder, f"{name}.pt"))


def _slice_case(name: str, folder: str, out: str) -> None:
    """Enumerate one slice of :data:`SLICES` with whatever ``polylens`` is importable."""
    saved = torch.load(os.path.join(folder, f"{name}.pt"), weights_only=False)
    net = PWLNet.from_torch(saved["model"], saved["images"])
    a, b, c = (v.reshape(-1).double().numpy() for v in saved["images"])
    side, budget = SLICES[name]
    lo = np.full(2, 1 / 3 - side / 2)
    res = enumerate_regions(net, Box(lo, lo + side), origin=a, basis=np.stack([b - a, c - a], axis=1),
                            progress=False, max_regions=budget)
    np.savez(out, codes=res.codes, points=res.points, seconds=res.seconds)


def _run_in(args: list, path: str | None, out: str) -> dict:
    """Run this script with ``args`` in a subprocess with ``path`` (None: this checkout)
    first on the import path; returns the arrays it saved in ``out``."""
    env = dict(os.environ)
    here = str(pathlib.Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path or here, env.get("PYTHONPATH", "")) if p)
    subprocess.run([sys.executable, __file__, *args, out], env=env, check=True)
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def enumeration_rows(baseline: str, repeat: int) -> list[list]:
    """Old (``baseline``) and new slice enumeration, side by side, one row per case."""
    root = pathlib.Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as old, tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", baseline, "polylens"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        _slice_models(folder)
        out = os.path.join(folder, "r.npz")
        for name in SLICES:
            best = {}
            for _ in range(repeat):
                for label, path in (("before", old), ("after", None)):
                    log(f"slice enumeration {name}: {label}")
                    got = _run_in(["--slice-case", name, folder], path, out)
                    if label not in best or got["seconds"] < best[label]["seconds"]:
                        best[label] = got
            before, after = best["before"], best["after"]
            rows.append([name, len(after["codes"]), f"{len(before['codes']) / float(before['seconds']):.0f}",
                         f"{len(after['codes']) / float(after['seconds']):.0f}",
                         f"{float(before['seconds'] / after['seconds']):.1f}x", _compare_regions(before, after)])
    return rows


def _compare_regions(before: dict, after: dict) -> str:
    """"yes" where both found the same regions in the same order with the same points;
    else how they differ."""
    if np.array_equal(before["codes"], after["codes"]) and np.array_equal(before["points"], after["points"]):
        return "yes"
    key = {c.tobytes(): i for i, c in enumerate(before["codes"])}
    if len(key) != len(after["codes"]) or any(c.tobytes() not in key for c in after["codes"]):
        return "**NO**"
    match = np.array([key[c.tobytes()] for c in after["codes"]])
    moved = int(np.count_nonzero(match != np.arange(match.size)))
    points = "same points" if np.array_equal(before["points"][match], after["points"]) else "**other points**"
    return f"same regions, {points}; {moved} in another place of the order"


def _split_in(name: str, path: str | None) -> dict:
    """Run :func:`_split_case` in a subprocess with ``path`` (None: this checkout) first on
    the import path."""
    with tempfile.TemporaryDirectory() as tmp:
        return _run_in(["--split-case", name], path, os.path.join(tmp, "r.npz"))


def _same_regions(old: dict, new: dict) -> bool:
    key = {c.tobytes(): i for i, c in enumerate(old["codes"])}
    if len(key) != len(old["codes"]) or {c.tobytes() for c in new["codes"]} != set(key):
        return False
    match = [key[c.tobytes()] for c in new["codes"]]
    return len(new["codes"]) == len(key) and bool(np.allclose(new["areas"], old["areas"][match], rtol=1e-7,
                                                              atol=1e-12 * old["areas"].sum()))


def plane_rows(baseline: str) -> list[list]:
    """Old (``baseline``) and new plane splitting, side by side, one row per case."""
    root = pathlib.Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "archive", baseline, "polylens"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        for name in PLANES:
            log(f"plane splitting {name}: baseline {baseline}")
            before = _split_in(name, old)
            log(f"plane splitting {name}: this checkout")
            after = _split_in(name, None)
            rows.append([name, len(after["codes"]), int(after["vertices"]), f"{float(before['seconds']):.1f}",
                         f"{float(after['seconds']):.1f}", f"{float(before['seconds'] / after['seconds']):.1f}x",
                         "yes" if _same_regions(before, after) else "NO"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller enumerations")
    parser.add_argument("--baseline", default="fdf5c46", help="revision whose plane splitter is compared")
    parser.add_argument("--planes-only", action="store_true", help="only the plane-splitting comparison")
    parser.add_argument("--enumeration-baseline", default="38f58ba",
                        help="revision whose slice enumeration is compared")
    parser.add_argument("--split-case", nargs=2, metavar=("NAME", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--slice-case", nargs=3, metavar=("NAME", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.split_case:
        _split_case(*args.split_case)
        return
    if args.slice_case:
        _slice_case(*args.slice_case)
        return
    if not args.planes_only:
        _slice_table(args)
        print()
        print(markdown_table(["slice enumeration", "regions", f"regions/s {args.enumeration_baseline}",
                              "regions/s this checkout", "speed-up", "identical regions"],
                             enumeration_rows(args.enumeration_baseline, 1 if args.quick else 2)))
    print()
    print(markdown_table(["plane (small box)", "regions", "vertices", f"split {args.baseline} (s)",
                          "split carried values (s)", "speed-up", "identical regions"], plane_rows(args.baseline)))


def _slice_table(args) -> None:
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
