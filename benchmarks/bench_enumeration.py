#!/usr/bin/env python
"""Side-by-side benchmark: polylens vs. the peer tools parx and relucent.

Every tool is given the *same* random MLP (torch default init under a fixed
``torch.manual_seed``; the float32 weights are copied to float64, which is
exact, so every tool sees bit-identical numbers) and the same domain, and
every tool counts the same thing: the full-dimensional cells of the
arrangement cut by the hidden ReLU units, i.e. the distinct activation
patterns of all hidden ReLUs that occur on an open set of the domain.

* parx (``method="exact_python"``, HiGHS LPs through scipy) works over all of
  R^d and ignores the final Linear layer (``include_output_layer=False``).
* relucent (Gurobi LPs) explores a cube ``[-r, r]^d`` with
  ``cube_mode="intersect"``: a cell counts iff it meets the open cube (its
  Chebyshev ball inside the cube is non-empty).  Cells of the final Linear
  layer do not exist for relucent either: only Linear layers followed by a
  ReLU define sign-sequence entries.
* polylens is given the same ``nn.Sequential`` without its final Linear layer
  (so every Linear is followed by a ReLU) and the same domain.

If a peer and polylens disagree on a count the script says so loudly and
checks both answers independently (dense sampling of activation codes, and
a Chebyshev-ball LP, written here with scipy, for every code that one tool
reports and the other does not).

Usage::

    python benchmarks/bench_enumeration.py              # every row
    python benchmarks/bench_enumeration.py --quick      # skip the slowest rows
    python benchmarks/bench_enumeration.py --only parx  # parx rows (+ polylens)
    python benchmarks/bench_enumeration.py --only relucent
    python benchmarks/bench_enumeration.py --only polylens   # polylens on every row, no peers
    python benchmarks/bench_enumeration.py --verify     # independent checks on every row

See benchmarks/README.md for installing the peers.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import importlib.metadata
import io
import math
import os
import platform
import shutil
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import log, markdown_table  # noqa: E402

# --------------------------------------------------------------------------- #
# Process-wide setup                                                          #
# --------------------------------------------------------------------------- #


def _install_julia_stub() -> str:
    """Put a stub ``julia`` first on PATH (``import parx`` checks that one exists).

    parx's ``exact_python`` method never calls Julia; only the import-time
    check ``shutil.which("julia")`` needs an executable with that name.  The
    stub exits non-zero, so anything that *did* try to run Julia would fail
    loudly instead of silently doing something else.
    """
    d = tempfile.mkdtemp(prefix="polylens-bench-julia-stub-")
    path = os.path.join(d, "julia")
    with open(path, "w") as fh:
        fh.write(
            "#!/bin/sh\n"
            "echo 'julia stub from benchmarks/bench_enumeration.py: "
            "parx exact_python must not need Julia' >&2\n"
            "exit 1\n"
        )
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.environ["PATH"] = d + os.pathsep + os.environ.get("PATH", "")
    atexit.register(shutil.rmtree, d, True)
    return d


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- #
# Networks                                                                    #
# --------------------------------------------------------------------------- #

SEED = 0


def make_mlp(dims: tuple[int, ...], *, final_linear: bool, seed: int = SEED):
    """Random MLP with torch's default init under ``torch.manual_seed(seed)``.

    ``final_linear=True``: ``dims = (d, h1, ..., hk, out)`` gives
    Linear-ReLU-...-Linear(hk, out) (a regression head with no ReLU).
    ``final_linear=False``: every Linear is followed by a ReLU.

    The net is created in float32 (torch's default) and then converted to
    float64; the conversion is exact, so every tool sees identical weights.
    """
    import torch

    torch.manual_seed(seed)
    layers: list[Any] = []
    pairs = list(zip(dims[:-1], dims[1:]))
    for i, (a, b) in enumerate(pairs):
        layers.append(torch.nn.Linear(a, b))
        if not (final_linear and i == len(pairs) - 1):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).double().eval()


def hidden_part(seq):
    """``seq`` without its final Linear layer (the part whose ReLUs cut the input)."""
    import torch

    mods = list(seq)
    if isinstance(mods[-1], torch.nn.Linear) and len(mods) > 1:
        mods = mods[:-1]
    return torch.nn.Sequential(*copy.deepcopy(mods)).double().eval()


def hidden_affine(seq) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(W, b) of every Linear that is followed by a ReLU, as float64 numpy."""
    import torch

    mods = list(seq)
    Ws, bs = [], []
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Linear) and i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.ReLU):
            Ws.append(m.weight.detach().cpu().numpy().astype(np.float64))
            bs.append(m.bias.detach().cpu().numpy().astype(np.float64))
    return Ws, bs


def codes_of_points(Ws, bs, X: np.ndarray) -> np.ndarray:
    """Activation codes (pre-activation > 0) of all hidden ReLUs, layer-major."""
    h = X
    out = []
    for W, b in zip(Ws, bs):
        z = h @ W.T + b
        out.append(z > 0)
        h = np.maximum(z, 0.0)
    return np.concatenate(out, axis=1)


def pack(code) -> bytes:
    return np.packbits(np.asarray(code, dtype=bool).ravel()).tobytes()


# --------------------------------------------------------------------------- #
# Rows                                                                        #
# --------------------------------------------------------------------------- #


@dataclass
class Row:
    dims: tuple[int, ...]
    box: float | None  # half-width r of [-r, r]^d, or None for all of R^d
    peer: str | None  # "parx", "relucent" or None (polylens alone)
    final_linear: bool = True
    slow: bool = False  # skipped by --quick
    max_regions: int | None = None  # polylens budget (the row is then a rate measurement)

    @property
    def net_name(self) -> str:
        return "-".join(map(str, self.dims))

    @property
    def domain_name(self) -> str:
        d = self.dims[0]
        if self.box is None:
            return f"R^{d}"
        r = f"{self.box:g}"
        return f"[-{r},{r}]^{d}"


ROWS: list[Row] = [
    Row((2, 16, 16, 1), None, "parx"),
    Row((3, 16, 16, 1), None, "parx", slow=True),
    Row((4, 12, 12, 1), None, "parx", slow=True),
    Row((2, 32, 32, 32, 1), 1.0, "relucent"),
    Row((4, 12, 12, 1), 1.0, "relucent"),
    Row((2, 64, 64, 64), 1.0, None, final_linear=False),
    Row((2, 12, 12), None, None, final_linear=False),
    Row((3, 24, 24), 1.0, None, final_linear=False),
    # 6-32-32 has well over a million regions in [-1,1]^6 (2e7 samples already hit
    # 1.38e6 distinct codes), i.e. tens of minutes for any exact tool: by default it is
    # a rate measurement over the first 20000 regions (--no-budget runs it to the end).
    Row((6, 32, 32), 1.0, None, final_linear=False, max_regions=20_000),
]


@dataclass
class Result:
    status: str = "ok"  # "ok", "not installed", "skipped", "error: ..."
    n: int | None = None
    seconds: float | None = None
    codes: set[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- #
# Tool runners                                                                #
# --------------------------------------------------------------------------- #


def run_parx(seq, row: Row) -> Result:
    """parx.compute_partition(seq, x0, method="exact_python") over all of R^d.

    parx drops the final Linear itself (``include_output_layer=False`` is its
    default); the DFS starts from the region of ``x0`` (the origin).
    """
    if row.box is not None:
        return Result("error: parx has no input-domain option (R^d only)")
    try:
        import parx
    except ImportError:
        return Result("not installed")
    x0 = np.zeros((1, row.dims[0]))
    t0 = time.perf_counter()
    part = parx.compute_partition(seq, x0, method="exact_python", include_output_layer=False)
    dt = time.perf_counter() - t0
    codes = {pack(np.concatenate(r.activation_path)) for r in part.regions}
    return Result(
        n=len(part),
        seconds=dt,
        codes=codes,
        info={
            "distinct_codes": len(codes),
            "bounded(parx heuristic: Chebyshev radius < 1e3)": int(sum(bool(r.bounded) for r in part.regions)),
        },
    )


def run_relucent(seq, row: Row) -> Result:
    """relucent.Complex(seq).bfs(cube_radius=r, cube_mode="intersect", nworkers=1).

    Counts ``len(cx)``: every cell whose interior meets the open cube
    ``(-r, r)^d``.  Single worker (polylens runs on one thread as well).
    """
    if row.box is None:
        return Result("error: the relucent rows are run on a cube")
    try:
        import relucent
        from relucent import Complex
    except ImportError:
        return Result("not installed")
    relucent.update_settings(VERBOSE=0)
    t0 = time.perf_counter()
    cx = Complex(seq)
    res = cx.bfs(nworkers=1, cube_radius=float(row.box), cube_mode="intersect", verbose=0)
    dt = time.perf_counter() - t0
    codes = {pack(p.ss_np.ravel() > 0) for p in cx}
    zero = sum(int((p.ss_np == 0).any()) for p in cx)
    return Result(
        n=len(cx),
        seconds=dt,
        codes=codes,
        info={
            "complete": res.complete,
            "verified": res.verified,
            "bad_shi_computations": len(res.bad_shi_computations),
            "cells_with_zero_sign(lower-dim)": zero,
            "distinct_codes": len(codes),
        },
    )


def _polylens_codes(res, n_neurons: int) -> set[bytes] | None:
    """Activation codes from a polylens result, if the result exposes them."""
    for name in ("codes", "patterns", "activation_patterns", "regions"):
        obj = getattr(res, name, None)
        if obj is None:
            continue
        try:
            items = list(obj)
        except TypeError:
            continue
        out: set[bytes] = set()
        try:
            for it in items:
                c = it
                for attr in ("code", "pattern", "activation_pattern", "signs"):
                    if hasattr(it, attr):
                        c = getattr(it, attr)
                        break
                if isinstance(c, (bytes, bytearray)):
                    arr = np.unpackbits(np.frombuffer(bytes(c), dtype=np.uint8))[:n_neurons]
                else:
                    arr = np.asarray(c)
                    if arr.dtype != bool:
                        arr = arr > 0
                arr = arr.ravel()
                if arr.size != n_neurons:
                    raise ValueError("size")
                out.add(pack(arr))
        except Exception:
            continue
        return out
    return None


def run_polylens(seq_hidden, row: Row, max_regions: int | None = None) -> Result:
    """polylens: enumerate_regions(PWLNet.from_torch(seq_hidden), Box(lo, hi) | None)."""
    try:
        from polylens import Box, PWLNet, enumerate_regions
    except ImportError as e:
        return Result(f"not importable ({e})")
    d = row.dims[0]
    rss_before = _peak_rss_mib()
    t0 = time.perf_counter()
    net = PWLNet.from_torch(seq_hidden)
    domain = None if row.box is None else Box(-row.box * np.ones(d), row.box * np.ones(d))
    res = enumerate_regions(net, domain, progress=False, max_regions=max_regions)
    dt = time.perf_counter() - t0
    n_neurons = sum(w.shape[0] for w in hidden_affine(seq_hidden)[0])
    info = {
        "n_unbounded": getattr(res, "n_unbounded", None),
        "lp_solves": getattr(res, "lp_solves", None),
        "res.seconds": getattr(res, "seconds", None),
        "complete": getattr(res, "complete", None),
        "stop_reason": getattr(res, "stop_reason", None),
        "degenerate": len(getattr(res, "degenerate", []) or []),
        "peak_rss_mib": _peak_rss_mib(),
        "peak_rss_grew": _peak_rss_mib() > rss_before,
    }
    return Result(n=int(res.n_regions), seconds=dt, codes=_polylens_codes(res, n_neurons), info=info)


def _peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def guarded(fn, *args) -> Result:
    try:
        return fn(*args)
    except Exception as e:  # a crashing tool is a result, not a crash of the benchmark
        traceback.print_exc(file=sys.stderr)
        return Result(f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")


# --------------------------------------------------------------------------- #
# Independent checks                                                          #
# --------------------------------------------------------------------------- #


def chebyshev_radius(Ws, bs, code: np.ndarray, box: float | None, d: int, rmax: float = 1e3) -> float:
    """Radius of the largest ball inside {x in domain : hidden code(x) == code}.

    Written from scratch (scipy HiGHS), independent of all three tools.  A
    code is a real region iff the radius is > 0 (we use > 1e-9).
    Rows are normalised so the radius is Euclidean.
    """
    from scipy.optimize import linprog

    A_rows, b_rows = [], []  # constraints A x <= b (before adding the r column)
    M = np.eye(d)  # x -> h(x) = M x + c on the cell
    c = np.zeros(d)
    k = 0
    for W, b in zip(Ws, bs):
        Aff = W @ M
        off = W @ c + b
        n = W.shape[0]
        q = np.asarray(code[k : k + n], dtype=bool)
        k += n
        s = np.where(q, 1.0, -1.0)
        # active: Aff x + off >= 0  <=> -Aff x <= off ; inactive: Aff x + off <= 0
        A_rows.append(-s[:, None] * Aff)
        b_rows.append(s * off)
        M = q[:, None] * Aff
        c = q * off
    A = np.vstack(A_rows)
    b = np.concatenate(b_rows)
    norms = np.linalg.norm(A, axis=1)
    zero = norms < 1e-14
    if np.any(b[zero] < 0) or np.any(b[zero] == 0):  # constant row that fails / is degenerate
        return 0.0
    A, b, norms = A[~zero], b[~zero], norms[~zero]
    A = A / norms[:, None]
    b = b / norms
    if box is not None:
        A = np.vstack([A, np.eye(d), -np.eye(d)])
        b = np.concatenate([b, box * np.ones(2 * d)])
        rmax = min(rmax, box)
    A_ub = np.hstack([A, np.ones((A.shape[0], 1))])
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=A_ub, b_ub=b, bounds=[(None, None)] * d + [(0.0, rmax)], method="highs")
    if res.status != 0 or res.x is None:
        return 0.0
    return float(res.x[-1])


def sample_codes(Ws, bs, d: int, box: float | None, n: int, rng) -> set[bytes]:
    """Activation codes hit by dense random sampling (a lower bound on the count)."""
    seen: set[bytes] = set()
    batch = 200_000
    done = 0
    while done < n:
        m = min(batch, n - done)
        if box is not None:
            X = rng.uniform(-box, box, size=(m, d))
        else:
            # mixture of scales so that far-away unbounded cells are hit too
            scales = 10.0 ** rng.uniform(-1, 4, size=(m, 1))
            X = rng.standard_normal((m, d)) * scales
        P = np.ascontiguousarray(np.packbits(codes_of_points(Ws, bs, X), axis=1))
        U = np.unique(P.view(np.dtype((np.void, P.shape[1]))).ravel())
        seen.update(u.tobytes() for u in U)
        done += m
    return seen


def independent_count(Ws, bs, d: int, box: float | None, budget_s: float) -> tuple[int, bool, set[bytes]]:
    """Exact region count by brute-force flip search, independent of all tools.

    Breadth-first search over activation codes from the origin's code: for
    every region found, *every* single-neuron flip is tested with the
    Chebyshev LP above (not only the flips across facets).  Two regions that
    share a facet differ in exactly one neuron, and the regions of a convex
    domain are connected through facets, so this finds every region.  Costs
    (#regions x #neurons) LPs; stops after ``budget_s`` seconds.

    Returns (count, finished, codes).
    """
    n_neurons = sum(W.shape[0] for W in Ws)
    start = codes_of_points(Ws, bs, np.zeros((1, d)))[0]
    seen = {pack(start)}
    tried: set[bytes] = set(seen)
    queue = [start]
    t0 = time.perf_counter()
    while queue:
        code = queue.pop()
        for i in range(n_neurons):
            nb = code.copy()
            nb[i] = not nb[i]
            key = pack(nb)
            if key in tried:
                continue
            tried.add(key)
            if chebyshev_radius(Ws, bs, nb, box, d) > 1e-9:
                seen.add(key)
                queue.append(nb)
            if time.perf_counter() - t0 > budget_s:
                return len(seen), False, seen
    return len(seen), True, seen


def investigate(
    row: Row, seq_hidden, peer_name: str, peer: Result, poly: Result, n_samples: int, budget_s: float = 300.0
) -> list[str]:
    """Decide who is right when the counts (or code sets) differ."""
    lines: list[str] = []
    Ws, bs = hidden_affine(seq_hidden)
    d = row.dims[0]
    n_neurons = sum(W.shape[0] for W in Ws)
    rng = np.random.default_rng(12345)
    lines.append(f"  {peer_name}: {peer.n} regions; polylens: {poly.n} regions")
    if len(Ws) == 1 and row.box is None:
        nh = Ws[0].shape[0]
        formula = sum(math.comb(nh, i) for i in range(d + 1))
        lines.append(f"  1-hidden-layer formula sum_(i<=d) C({nh}, i) = {formula} (general position)")
    t0 = time.perf_counter()
    S = sample_codes(Ws, bs, d, row.box, n_samples, rng)
    lines.append(f"  sampling: {n_samples} points hit {len(S)} distinct codes ({time.perf_counter() - t0:.1f} s) -- a lower bound")
    for name, r in ((peer_name, peer), ("polylens", poly)):
        if r.n is None:
            continue
        if r.codes is None:
            lines.append(f"  {name}: exposes no codes; sampled codes cannot be matched")
            continue
        miss = S - r.codes
        lines.append(f"  {name}: misses {len(miss)} sampled codes" + (" <-- UNDERCOUNTS" if miss else ""))
    if peer.codes is not None and poly.codes is not None:
        only_peer = peer.codes - poly.codes
        only_poly = poly.codes - peer.codes
        lines.append(f"  codes only in {peer_name}: {len(only_peer)}; only in polylens: {len(only_poly)}")
        for name, group in ((peer_name, only_peer), ("polylens", only_poly)):
            real = fake = 0
            radii = []
            for cb in list(group)[:500]:
                code = np.unpackbits(np.frombuffer(cb, dtype=np.uint8))[:n_neurons].astype(bool)
                rad = chebyshev_radius(Ws, bs, code, row.box, d)
                radii.append(rad)
                if rad > 1e-9:
                    real += 1
                else:
                    fake += 1
            if group:
                lines.append(
                    f"  LP check of codes only {name} reports (first {min(len(group), 500)}): "
                    f"{real} real regions (radius>1e-9), {fake} empty/degenerate; "
                    f"min radius {min(radii):.3g}, max {max(radii):.3g}"
                )
                if real:
                    other = "polylens" if name == peer_name else peer_name
                    lines.append(f"    => {other} MISSES {real} real region(s)")
                if fake:
                    lines.append(f"    => {name} reports {fake} spurious region(s)")
    if budget_s > 0:
        t0 = time.perf_counter()
        cnt, finished, codes = independent_count(Ws, bs, d, row.box, budget_s)
        dt = time.perf_counter() - t0
        if finished:
            lines.append(f"  independent flip-search count (all single flips, scipy LPs): {cnt} ({dt:.0f} s)")
            for name, r in ((peer_name, peer), ("polylens", poly)):
                if r.n is not None:
                    verdict = "agrees" if r.n == cnt else "DISAGREES"
                    extra = ""
                    if r.codes is not None:
                        extra = f" (codes: {len(codes - r.codes)} missing, {len(r.codes - codes)} extra)"
                    lines.append(f"    {name}: {r.n} -> {verdict}{extra}")
        else:
            lines.append(f"  independent flip-search: stopped after {dt:.0f} s with >= {cnt} regions (lower bound)")
    return lines


# --------------------------------------------------------------------------- #
# Main                                                                        #
# --------------------------------------------------------------------------- #


def fmt_s(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def warm_up(tools: set[str]) -> None:
    """One tiny run per tool so import / licence / pool start-up is not timed."""
    row = Row((2, 4, 1), 1.0, None)
    seq = make_mlp(row.dims, final_linear=True)
    with contextlib.redirect_stdout(io.StringIO()):
        if "parx" in tools:
            guarded(run_parx, seq, Row((2, 4, 1), None, "parx"))
        if "relucent" in tools:
            guarded(run_relucent, seq, row)
        if "polylens" in tools:
            guarded(run_polylens, hidden_part(seq), row)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the slowest rows (parx on 3-16-16-1 and 4-12-12-1)")
    ap.add_argument(
        "--only",
        choices=["parx", "relucent", "polylens"],
        help="parx/relucent: only that peer's rows; polylens: every row, polylens only",
    )
    ap.add_argument("--verify", action="store_true", help="run the independent checks on every row, not only on mismatches")
    ap.add_argument(
        "--no-budget", action="store_true", help="run the polylens-only 6-32-32 row to completion (tens of minutes)"
    )
    ap.add_argument("--samples", type=int, default=2_000_000, help="points for the sampling check (default 2e6)")
    ap.add_argument(
        "--check-budget",
        type=float,
        default=300.0,
        help="seconds for the independent brute-force flip-search count per checked row (0: skip it)",
    )
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    _install_julia_stub()
    import torch

    torch.set_num_threads(1)

    rows = [r for r in ROWS if not (args.quick and r.slow)]
    if args.only in ("parx", "relucent"):
        rows = [r for r in rows if r.peer == args.only]
    run_peers = args.only != "polylens"

    tools = {"polylens"} | ({r.peer for r in rows if r.peer} if run_peers else set())
    log(f"warming up: {sorted(tools)}")
    warm_up(tools)

    table: list[list[str]] = []
    mismatches: list[str] = []
    notes: list[str] = []
    for row in rows:
        seq = make_mlp(row.dims, final_linear=row.final_linear)
        seq_hidden = hidden_part(seq)
        peer = Result("skipped") if (row.peer and not run_peers) else None
        if row.peer and peer is None:
            log(f"[{row.net_name} on {row.domain_name}] running {row.peer} ...")
            peer = guarded(run_parx if row.peer == "parx" else run_relucent, seq, row)
            log(f"    {row.peer}: {peer.status} n={peer.n} t={fmt_s(peer.seconds)} s {peer.info}")
        log(f"[{row.net_name} on {row.domain_name}] running polylens ...")
        budget = None if args.no_budget else row.max_regions
        poly = guarded(run_polylens, seq_hidden, row, budget)
        log(f"    polylens: {poly.status} n={poly.n} t={fmt_s(poly.seconds)} s {poly.info}")

        both = peer is not None and peer.n is not None and poly.n is not None
        same = both and peer.n == poly.n
        sets_differ = both and peer.codes is not None and poly.codes is not None and peer.codes != poly.codes
        if not both:
            ident = "—"
        elif same and not sets_differ:
            ident = "yes"
        elif same:
            ident = "NO (same count, different codes)"
        else:
            ident = "**NO**"

        if both and (not same or sets_differ):
            banner = "!" * 78
            msg = [banner, f"COUNT MISMATCH: {row.net_name} on {row.domain_name}: {row.peer}={peer.n} polylens={poly.n}"]
            msg += investigate(row, seq_hidden, row.peer, peer, poly, args.samples, args.check_budget)
            msg.append(banner)
            log("\n".join(msg))
            mismatches.append("\n".join(msg[1:-1]))
        elif args.verify and poly.n is not None and poly.info.get("complete") is not False:
            lines = investigate(
                row, seq_hidden, row.peer or "none", peer or Result("—"), poly, args.samples, args.check_budget
            )
            notes.append(f"{row.net_name} on {row.domain_name}:\n" + "\n".join(lines))

        peer_n = "—" if peer is None else (str(peer.n) if peer.n is not None else peer.status)
        poly_n = str(poly.n) if poly.n is not None else poly.status
        if poly.n is not None and poly.info.get("complete") is False:
            poly_n += f" (partial: {poly.info.get('stop_reason')}={budget})" if budget else " (INCOMPLETE)"
        speed = "—"
        if both and peer.seconds and poly.seconds:
            speed = f"{peer.seconds / poly.seconds:.1f}x"
        rps = f"{poly.n / poly.seconds:.0f}" if poly.n and poly.seconds else "—"
        lps = poly.info.get("lp_solves") if poly.n is not None else None
        lpr = f"{lps / poly.n:.3f}" if lps is not None and poly.n else "—"
        rss = poly.info.get("peak_rss_mib")
        peak = "—" if rss is None else f"{rss:.0f}" + ("" if poly.info.get("peak_rss_grew") else " (not raised)")
        table.append(
            [
                row.net_name,
                row.domain_name,
                row.peer or "—",
                peer_n,
                poly_n,
                ident,
                fmt_s(peer.seconds) if peer is not None else "—",
                fmt_s(poly.seconds),
                speed,
                rps,
                lpr,
                peak,
            ]
        )

    header = [
        "net",
        "domain",
        "peer",
        "peer regions",
        "polylens regions",
        "counts identical",
        "peer s",
        "polylens s",
        "speed-up",
        "polylens regions/s",
        "polylens LPs/region",
        "peak RSS MiB",
    ]
    total = time.perf_counter() - t_start
    print()
    print(markdown_table(header, table))
    print()
    vers = {k: _version(k) for k in ("polylens", "parx", "relucent", "gurobipy", "torch", "numpy", "scipy", "highspy")}
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, torch threads 1; seed {SEED}; "
        + ", ".join(f"{k} {v or 'not installed'}" for k, v in vers.items())
    )
    print(
        "parx: compute_partition(seq, [0]*d, method='exact_python') over R^d (final Linear dropped by parx); "
        "relucent: Complex(seq).bfs(nworkers=1, cube_radius=1, cube_mode='intersect'); "
        "polylens: enumerate_regions(PWLNet.from_torch(seq without final Linear), Box(-1, 1) | None). "
        "Times are wall-clock seconds of that call, after a warm-up run of each tool. "
        "Peak RSS: the process's peak resident memory after the row (rows run in order; "
        "'not raised': the row stayed below an earlier peak)."
    )
    print(f"Total benchmark wall time: {total:.0f} s")
    if notes:
        print("\nIndependent checks (--verify):")
        for n in notes:
            print(n)
    if mismatches:
        print("\n" + "!" * 78)
        print(f"{len(mismatches)} ROW(S) WHERE polylens AND A PEER DISAGREE:")
        for m in mismatches:
            print(m)
        print("!" * 78)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
