"""Exact 2-D partitions: polylens's ``plane_partition`` against regioncam.

Both tools compute every linear region of a ReLU MLP in the square [-1, 1]^2 of
its 2-D input, both by splitting the square layer by layer: regioncam (PyPI
``regioncam``, Rust) in float32, polylens (numpy, vectorised over faces) in float64. The script runs
both on the same random nets in one process and prints a Markdown table; it
then times polylens alone on planes through three inputs of two CNNs, which
regioncam cannot take (it only knows Linear/ReLU/LeakyReLU/residual layers).

    python benchmarks/bench_planes.py            # all rows (about 3 minutes)
    python benchmarks/bench_planes.py --quick    # skip the 2-256-256-256-1 net
    python benchmarks/bench_planes.py --verify   # dense-sampling check on every MLP row

Progress goes to stderr, the table to stdout. Exit status 1 if the tools
disagree on an MLP row (the script then says which one the independent check
supports).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread everywhere (set before numpy loads)

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from _common import best_of, hidden_codes, log, markdown_table  # noqa: E402

from polylens import PWLNet, zoo  # noqa: E402
from polylens.geometry.plane import plane_partition  # noqa: E402

try:
    import regioncam
except ImportError:  # the MLP rows then show "not installed"
    regioncam = None

CENTRE = 1.0 / 3.0  # CNN planes: boxes around the centroid of the three inputs


def run_regioncam(layers):
    rc = regioncam.Regioncam(size=1.0)  # the square [-1, 1]^2
    start = time.perf_counter()
    rc.add(layers)
    return rc, time.perf_counter() - start


def run_polylens(net, **kw):
    start = time.perf_counter()
    part = plane_partition(net, **kw)
    return part, time.perf_counter() - start


# ---------------------------------------------------------------------------- checks
def regioncam_faces(rc):
    """Vertices (float64 copies of regioncam's float32 ones) and area of every face."""
    verts = np.asarray(rc.vertex_inputs, np.float64)
    faces = rc.faces
    return [verts[np.asarray(f.vertex_ids)] for f in faces], np.array([f.area for f in faces])


def halfspaces(seq: torch.nn.Sequential, code: np.ndarray):
    """``(A, b)`` with ``{x : A x <= b}`` the closure of the region of ``code`` (float64,
    from the weights: neither tool is used)."""
    M, c = np.eye(2), np.zeros(2)  # the current layer is x @ M + c
    rows, rhs, at = [], [], 0
    mods = list(seq)
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Linear):
            W, bias = m.weight.detach().double().numpy(), m.bias.detach().double().numpy()
            M, c = M @ W.T, c @ W.T + bias
            if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.ReLU):
                on = code[at:at + W.shape[0]].astype(bool)
                at += W.shape[0]
                sign = np.where(on, -1.0, 1.0)  # on: z >= 0, i.e. -z <= 0; off: z <= 0
                rows.append(sign[:, None] * M.T)
                rhs.append(-sign * c)
                M, c = M * on, c * on
    return np.vstack(rows), np.concatenate(rhs)


def chebyshev_radius(seq, code, lo, hi, centre, diameter) -> float:
    """Radius of the largest disc in the region of ``code`` within the box (HiGHS LP),
    solved in coordinates centred at ``centre`` and scaled by ``diameter`` so that slivers
    far thinner than the LP tolerances are resolved. -inf if the region is empty."""
    from scipy.optimize import linprog

    A, b = halfspaces(seq, code)
    A = np.vstack([A, np.eye(2), -np.eye(2)])
    b = np.concatenate([b, [hi, hi], [-lo, -lo]])
    d = max(float(diameter), 1e-300)
    b = (b - A @ centre) / d  # x = centre + d y
    norms = np.linalg.norm(A, axis=1)
    keep = norms > 0
    if np.any(~keep & (b < 0)):
        return -np.inf
    A, b, norms = A[keep] / norms[keep, None], b[keep] / norms[keep], norms[keep] / norms[keep]
    res = linprog([0, 0, -1], A_ub=np.hstack([A, norms[:, None]]), b_ub=b,
                  bounds=[(None, None), (None, None), (0, None)], method="highs")
    return float(res.x[2]) * d if res.status == 0 else -np.inf


def compare(rc, part, seq, lo: float, hi: float) -> dict:
    """Match regioncam's faces with polylens's regions by activation code.

    A regioncam face's code is read at its vertex centroid (float64 forward pass from
    the weights). Codes found by one tool only are checked with a Chebyshev LP; a
    polylens-only code is also located among regioncam's faces (nearest centroid)."""
    rc_polys, rc_areas = regioncam_faces(rc)
    rc_cent = np.array([p.mean(axis=0) for p in rc_polys])
    rc_keys = [r.tobytes() for r in hidden_codes(seq, rc_cent)]
    pl_keys = [r.tobytes() for r in np.ascontiguousarray(part.codes, np.int8)]
    rc_count: dict = {}
    for k in rc_keys:
        rc_count[k] = rc_count.get(k, 0) + 1
    only_rc, only_pl = set(rc_keys) - set(pl_keys), set(pl_keys) - set(rc_keys)
    out = {"rc_area": float(rc_areas.sum()), "rc_distinct": len(rc_count), "only_rc": len(only_rc),
           "only_pl": len(only_pl), "collisions": sum(n - 1 for n in rc_count.values() if n > 1)}
    out["same"] = len(rc_keys) == len(pl_keys) and not only_rc and not only_pl and out["collisions"] == 0
    if out["same"]:
        return out
    log("regioncam and polylens codes differ: checking the differences with LPs ...")
    pl_areas, pl_cent = part.areas(), part.centroids()
    details, explained = [], True
    for i, k in enumerate(pl_keys):
        if k not in only_pl:
            continue
        poly = part.polygons[i]
        diam = float(np.max(np.linalg.norm(poly[:, None] - poly[None], axis=2)))
        radius = chebyshev_radius(seq, part.codes[i], lo, hi, pl_cent[i], diam)
        own = bool((hidden_codes(seq, pl_cent[i][None])[0] == part.codes[i]).all())
        j = int(np.argmin(np.linalg.norm(rc_cent - pl_cent[i], axis=1)))
        dist = float(np.linalg.norm(rc_cent[j] - pl_cent[i]))
        twin = rc_count[rc_keys[j]] > 1  # regioncam gave that face a code another face has too
        details.append(f"polylens-only region: area {pl_areas[i]:.1e}, LP radius {radius:.1e}, "
                       f"own code at its centroid: {own}; nearest regioncam face {dist:.1e} away, "
                       f"area {rc_areas[j]:.1e}, labelled with a code {'shared with another face' if twin else 'of its own'}")
        explained &= radius > 0 and own and twin and dist < 1e-5 * (hi - lo)
    for j, k in enumerate(rc_keys):
        if k not in only_rc:
            continue
        poly = rc_polys[j]
        diam = float(np.max(np.linalg.norm(poly[:, None] - poly[None], axis=2)))
        radius = chebyshev_radius(seq, np.frombuffer(k, np.int8), lo, hi, rc_cent[j], diam)
        details.append(f"regioncam-only code: face area {rc_areas[j]:.1e}, LP radius {radius:.1e}")
        explained &= radius <= 0  # a genuine region polylens missed would not be explained
    out["details"] = details
    out["explained"] = explained and len(rc_keys) == len(pl_keys)
    return out


def code_set(codes: np.ndarray) -> set:
    return {row.tobytes() for row in np.ascontiguousarray(codes, np.int8)}


def dense_check(net: PWLNet, part, lo: float, hi: float, n: int = 1500, chunk: int = 50_000) -> dict:
    """Sample codes on an n x n grid of cell centres of the box (a lower bound on the
    number of regions) and check that every sampled code is one of polylens's."""
    step = (hi - lo) / n
    axis = lo + step * (np.arange(n) + 0.5)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    known = code_set(part.codes)
    seen: set = set()
    for start in range(0, len(grid), chunk):
        seen |= code_set(net.codes(grid[start:start + chunk]))
    return {"grid": n, "sampled": len(seen), "missing_from_polylens": len(seen - known)}


# ---------------------------------------------------------------------------- rows
def mlp_row(width: int, repeats: int, verify: bool) -> dict:
    sizes = [2, width, width, width, 1]
    name = "-".join(map(str, sizes))
    seq = zoo.mlp(sizes, seed=0)  # torch.manual_seed(0), torch default init, float32
    row = {"net": f"MLP {name}", "domain": "input plane, [-1,1]^2"}

    start = time.perf_counter()
    net = PWLNet.from_torch(seq)
    row["pl_conv"] = time.perf_counter() - start

    if regioncam is None:
        row["rc"] = None
    else:
        start = time.perf_counter()
        layers = regioncam.nn.convert(seq)  # float32 weights, transposed to x @ W + b
        row["rc_conv"] = time.perf_counter() - start
        log(f"[{name}] regioncam ...")
        run_regioncam(layers)  # warm-up
        rc, row["rc_s"], row["rc_runs"] = best_of(lambda: run_regioncam(layers), repeats, slow=30.0)
        row["rc"] = rc.num_faces

    log(f"[{name}] polylens ...")
    plane_partition(PWLNet.from_torch(zoo.mlp([2, 4, 1], seed=0)), domain=(-1, 1))  # warm-up
    part, row["pl_s"], row["pl_runs"] = best_of(lambda: run_polylens(net, domain=(-1, 1)), repeats, slow=30.0)
    row["pl"] = part.n_regions
    row["pl_area"] = float(part.areas().sum())
    row["box_area"] = 4.0

    if row["rc"] is not None:
        row.update(compare(rc, part, seq, -1.0, 1.0))
    if verify or not row.get("same", True):
        log(f"[{name}] dense sampling check ...")
        row["dense"] = dense_check(net, part, -1.0, 1.0)
    return row


def digits_row(side: float) -> dict:
    X, y, Xt, _ = zoo.digits_data(seed=0)
    model = zoo.digits_cnn(seed=0)
    log("[digits] training the CNN (5 epochs) ...")
    zoo.train_classifier(model, X, y, epochs=5, seed=0)
    start = time.perf_counter()
    net = PWLNet.from_torch(model, X[:1])
    conv = time.perf_counter() - start
    a, b, c = Xt[0], Xt[1], Xt[2]
    return cnn_row("digits CNN (1x8x8, trained)", net, conv, a, b, c, side, "three test digits")


def vgg_row(side: float) -> dict:
    model = zoo.vgg_style_cnn(seed=0)
    pts = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    net = PWLNet.from_torch(model, pts[:1])
    conv = time.perf_counter() - start
    return cnn_row("VGG-style CNN (3x32x32, random)", net, conv, pts[0], pts[1], pts[2], side,
                   "three random inputs")


def cnn_row(title, net, conv, a, b, c, side, what) -> dict:
    if side >= 1:  # the whole triangle's square: the three inputs sit at (0,0), (1,0), (0,1)
        lo, hi, side, box = 0.0, 1.0, 1.0, "[0,1]^2"
    else:
        lo, hi, box = CENTRE - side / 2, CENTRE + side / 2, f"box of side {side:g} around (1/3,1/3)"
    log(f"[{title}] polylens, box {box} ...")
    part, seconds = run_polylens(net, origin=a, u=b - a, v=c - a, domain=(lo, hi))
    return {"net": title, "domain": f"plane through {what}, {box}", "rc": "n/a", "pl": part.n_regions,
            "pl_s": seconds, "pl_runs": 1, "pl_conv": conv,
            "pl_area": float(part.areas().sum()), "box_area": side * side, "units": net.n_units}


# ---------------------------------------------------------------------------- report
def fmt_s(x) -> str:
    return "n/a" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def table(rows: list) -> str:
    headers = ["net", "domain", "regioncam regions", "polylens regions", "identical", "regioncam s",
               "polylens s", "polylens / regioncam", "polylens regions/s"]
    cells = []
    for r in rows:
        if r["rc"] == "n/a" or r["rc"] is None:
            label = "n/a" if r["rc"] == "n/a" else "not installed"
            rc_n, same, rc_s, ratio = label, label, label, label
        else:
            rc_n = str(r["rc"])
            if r["same"]:
                same = "yes"
            elif r["rc"] == r["pl"]:
                same = f"count yes, codes NO ({max(r['only_pl'], r['only_rc'], r['collisions'])})"
            else:
                same = "**NO**"
            rc_s = fmt_s(r["rc_s"])
            ratio = f"{r['pl_s'] / r['rc_s']:.2f}x"
        cells.append([r["net"], r["domain"], rc_n, r["pl"], same, rc_s, fmt_s(r["pl_s"]), ratio,
                      f"{r['pl'] / r['pl_s']:.0f}"])
    return markdown_table(headers, cells)


def notes(rows: list) -> str:
    lines = []
    for r in rows:
        bits = [f"polylens best of {r['pl_runs']} run(s), PWLNet.from_torch {r['pl_conv'] * 1e3:.1f} ms"]
        if isinstance(r["rc"], int):
            bits.append(f"regioncam best of {r['rc_runs']}, regioncam.nn.convert {r['rc_conv'] * 1e3:.2f} ms")
            bits.append(f"codes: {r['rc_distinct']} distinct among regioncam's {r['rc']} faces, {r['only_rc']} only in "
                        f"regioncam, {r['only_pl']} only in polylens")
            if not r["same"]:
                verdict = ("every difference is a sliver that regioncam's float32 vertices cannot place: polylens's "
                           "code is a real region (LP, and its own code at its centroid) and the regioncam face at "
                           "the same spot carries a neighbour's code" if r["explained"] else
                           "NOT explained by float32 slivers: see the lines below")
                bits.append(verdict)
            bits.append(f"area sums: regioncam {r['rc_area']:.9f}, polylens {r['pl_area']:.12f} (box {r['box_area']:g})")
        else:
            bits.append(f"{r.get('units', '?')} units; polylens area sum / box area - 1 = "
                        f"{r['pl_area'] / r['box_area'] - 1:.1e}")
        if "dense" in r:
            d = r["dense"]
            bits.append(f"dense {d['grid']}x{d['grid']} grid: {d['sampled']} distinct codes sampled, "
                        f"{d['missing_from_polylens']} of them missing from polylens")
        lines.append(f"* {r['net']}: " + "; ".join(bits) + ".")
        lines.extend(f"  * {d}" for d in r.get("details", []))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="skip the 2-256-256-256-1 net")
    p.add_argument("--verify", action="store_true", help="dense-sampling check on every MLP row")
    p.add_argument("--repeats", type=int, default=3, help="runs of a fast call; the best counts (default 3)")
    p.add_argument("--digits-side", type=float, default=1.0,
                   help="side of the digits-CNN box around (1/3,1/3); 1 means [0,1]^2 (default 1)")
    p.add_argument("--vgg-side", type=float, default=0.0004,
                   help="side of the VGG-CNN box around (1/3,1/3) (default 0.0004)")
    p.add_argument("--no-cnn", action="store_true", help="skip the two CNN rows")
    args = p.parse_args(argv)

    widths = [64] if args.quick else [64, 256]
    rows = [mlp_row(w, args.repeats, args.verify) for w in widths]
    if not args.no_cnn:
        rows.append(digits_row(args.digits_side))
        rows.append(vgg_row(args.vgg_side))

    rc_version = getattr(regioncam, "__version__", "?") if regioncam is not None else "not installed"
    import polylens
    print(f"polylens {getattr(polylens, '__version__', '?')}, regioncam {rc_version}, torch {torch.__version__}, "
          f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, one thread\n")
    print(table(rows))
    print()
    print(notes(rows))
    bad = [r for r in rows if isinstance(r["rc"], int) and not r["same"] and not r["explained"]]
    if bad:
        log("\n" + "!" * 70 + "\n!! regioncam and polylens DISAGREE on: " + ", ".join(r["net"] for r in bad)
            + "\n!! see the notes under the table (LP and dense-sampling checks)\n" + "!" * 70)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
