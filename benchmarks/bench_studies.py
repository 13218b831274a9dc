#!/usr/bin/env python
"""Side-by-side benchmark of the adjacency-graph studies: polylens vs. relucent 1.0.

Every row gives both tools the same float32 torch MLP (polylens copies it to float64,
which is exact) and asks the same question; answers must be identical:

* **betti-2d / betti-3d**: Betti numbers over GF(2) of the decision boundary
  ``{output = 0}`` of a scalar-output net over all of R^d (relucent: ``add_output_relu``,
  ``bfs``, ``boundary_complex`` of the output unit, ``betti_numbers()`` with its default
  ``compactify="truncate"``; polylens: ``studies.decision_topology(net, None)``).
* **dual graph**: nodes and edges of the region graph over R^d (relucent: ``bfs`` then
  ``Complex.G``; polylens: ``enumerate_regions``). relucent links flip neighbours whose
  closures need not share a facet, so every edge of both answers is checked here,
  independently of both tools, by a scipy LP (the two closed regions share a
  (d-1)-dimensional face: a ball of positive radius inside the crossed hyperplane).
* **A* paths**: Hamming-A* between pairs of data points on the two-moons MLP (relucent:
  one ``Complex``, then ``Complex.hamming_astar`` per pair, which builds the neighbours
  of the regions it visits anew on each call; polylens: ``studies.region_paths`` with
  its admissible bound, which proves the lengths shortest: the pairs' searches run in
  step and share the regions they build). The notes also time one
  ``studies.region_path`` call per pair (nothing shared). Lengths must agree.
* **100k graph**: polylens's graph statistics (degrees, components, exact diameter) of
  the region graph of 447 lines in general position (98,507 regions, from
  ``plane_partition``); target under 10 s.

Both tools run in one process on one thread (relucent ``nworkers=1``), each row's runs
interleaved (``_common.interleaved_best``: best of ``--repeat`` rounds). Every timed run
does the whole job of its tool from the model to the answer (relucent's ``Complex`` is
built inside its run, so no run reuses regions a previous one found); converting the
answers for the comparison is outside the timing. The Betti rows also time polylens's
enumeration alone (of the net with its class unit), so the speed-up splits into the
enumeration's and the study's (the rest). Times are wall seconds. Usage::

    python benchmarks/bench_studies.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from _common import interleaved_best, log, markdown_table


def _mlp(sizes, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers)


def _measure(runs: dict, repeat: int) -> tuple[dict, dict]:
    """Answers (of the last round) and best times of the named runs, interleaved."""
    answers: dict = {}

    def keep(name, fn):
        return lambda: answers.__setitem__(name, fn())

    times = interleaved_best([keep(k, f) for k, f in runs.items()], repeat)
    return answers, dict(zip(runs, times))


def betti_row(sizes, seed, repeat):
    from relucent import Complex, add_output_relu

    from polylens import PWLNet
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.studies.complex import class_net
    from polylens.studies.topology import decision_topology

    model = _mlp(sizes, seed)
    net = PWLNet.from_torch(model)

    def relucent_run():
        cx = Complex(add_output_relu(model))
        cx.bfs(nworkers=1, verbose=0)
        bc = cx.boundary_complex(cx.n - 1, verbose=0)
        return bc.betti_numbers(verbose=0)

    name = f"betti-{sizes[0]}d {'-'.join(map(str, sizes))}"
    log(f"{name} ...")
    answers, t = _measure({"polylens": lambda: decision_topology(net, None, progress=False),
                           "enumeration": lambda: enumerate_regions(class_net(net), None, progress=False),
                           "relucent": relucent_run}, repeat)
    topo = answers["polylens"]
    ours, theirs = topo.decision_boundary_betti, [answers["relucent"].get(k, 0) for k in range(sizes[0])]
    study = t["polylens"] - t["enumeration"]
    return {"row": name, "polylens": ours, "relucent": theirs, "same": ours == theirs,
            "t_polylens": t["polylens"], "t_relucent": t["relucent"],
            "note": f"{topo.n_regions} regions with the output unit; polylens = enumeration {t['enumeration']:.2f} s "
                    f"+ study {study:.2f} s"}


def _shares_facet(net, code_a, code_b, units) -> bool:
    """Independent LP (scipy): the closed regions of two codes share a (d-1)-face."""
    from scipy.optimize import linprog

    from polylens.geometry.space import Space

    space = Space(net, None)
    ha, hb = space.hrep(code_a), space.hrep(code_b)
    plane = np.flatnonzero(ha.source == units[0])[0]
    n = ha.A[plane]
    A = np.vstack([ha.A, hb.A])
    b = np.concatenate([ha.b, hb.b])
    keep = ~np.isin(np.concatenate([ha.source, hb.source]), units)
    A, b = A[keep], b[keep]
    along = np.linalg.norm(A - np.outer(A @ n, n), axis=1)
    k = A.shape[1]
    res = linprog(np.r_[np.zeros(k), -1.0], A_ub=np.hstack([A, along[:, None]]), b_ub=b,
                  A_eq=np.r_[n, 0.0][None, :], b_eq=[ha.b[plane]], bounds=[(None, None)] * k + [(0, 1)],
                  method="highs")
    return res.status == 0 and -res.fun > 1e-7


def dual_row(model, name, repeat):
    from relucent import Complex

    from polylens import PWLNet, enumerate_regions

    net = PWLNet.from_torch(model)

    def relucent_run():
        cx = Complex(model)
        cx.bfs(nworkers=1, verbose=0)
        return cx.G

    log(f"dual graph {name} ...")
    answers, t = _measure({"polylens": lambda: enumerate_regions(net, None, progress=False),
                           "relucent": relucent_run}, repeat)
    res, G = answers["polylens"], answers["relucent"]
    t_p, t_r = t["polylens"], t["relucent"]
    code = {p: (np.asarray(p.ss_np).reshape(-1) > 0).astype(np.int8) for p in G.nodes}
    r_nodes, r_edges = G.number_of_nodes(), [(code[a], code[b]) for a, b in G.edges]
    ours = {tuple(sorted((res.codes[a].tobytes(), res.codes[b].tobytes()))) for a, b in res.edges.tolist()}
    theirs = {tuple(sorted((a.tobytes(), b.tobytes()))) for a, b in r_edges}
    ok_ours = all(_shares_facet(net, res.codes[a], res.codes[b], list(u))
                  for (a, b), u in zip(res.edges.tolist(), res.edge_units))
    extra = theirs - ours
    by_key = {c.tobytes(): c for c in res.codes}
    extra_real = sum(_shares_facet(net, by_key[a], by_key[b], list(np.flatnonzero(by_key[a] != by_key[b])[:1]))
                     for a, b in extra if a in by_key and b in by_key)
    missing = ours - theirs
    same = res.n_regions == r_nodes and not missing and extra_real == 0
    return {"row": f"dual graph {name}", "polylens": f"{res.n_regions} nodes, {len(ours)} edges",
            "relucent": f"{r_nodes} nodes, {len(theirs)} edges", "same": same and ok_ours,
            "t_polylens": t_p, "t_relucent": t_r,
            "note": f"every polylens edge shares a facet (LP): {ok_ours}; relucent edges without a shared facet: "
                    f"{len(extra) - extra_real}; edges relucent misses: {len(missing)}"}


def astar_row(model, X, n_pairs, repeat):
    from relucent import Complex

    from polylens import PWLNet
    from polylens.studies.distances import region_path, region_paths

    net = PWLNet.from_torch(model)
    rng = np.random.default_rng(0)
    pairs = rng.choice(len(X), size=(n_pairs, 2), replace=False)
    X64 = X.astype(np.float64)

    def relucent_run():
        cx = Complex(model)
        return [cx.hamming_astar(torch.tensor(X[i]), torch.tensor(X[j]), nworkers=1, verbose=0) for i, j in pairs]

    log(f"A* paths ({n_pairs} pairs) ...")
    answers, t = _measure({"polylens": lambda: region_paths(net, X64[pairs[:, 0]], X64[pairs[:, 1]]),
                           "polylens, one call per pair": lambda: [region_path(net, X64[i], X64[j]) for i, j in pairs],
                           "relucent": relucent_run}, repeat)
    ours = [p.length for p in answers["polylens"]]
    alone = [p.length for p in answers["polylens, one call per pair"]]
    theirs = [o["best_path_length"] if o["succeeded"] else -1 for o in answers["relucent"]]
    proved = sum(p.optimal for p in answers["polylens"])
    t_alone = t["polylens, one call per pair"]
    return {"row": f"A* paths ({n_pairs} pairs, moons MLP)", "polylens": ours, "relucent": theirs,
            "same": ours == theirs == alone, "t_polylens": t["polylens"], "t_relucent": t["relucent"],
            "note": f"polylens proved {proved}/{n_pairs} shortest; regions popped: "
                    f"{sum(p.regions_visited for p in answers['polylens'])}; one region_path call per pair: "
                    f"{t_alone:.3f} s ({t['relucent'] / t_alone:.1f}x)"}


def big_graph_row(repeat):
    from polylens import PWLNet, plane_partition
    from polylens.studies.statistics import graph_statistics

    rng = np.random.default_rng(0)
    n = 447
    lin, out = torch.nn.Linear(2, n).double(), torch.nn.Linear(n, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(rng.standard_normal((n, 2))))
        lin.bias.copy_(torch.from_numpy(rng.standard_normal(n)))
    net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU(), out))
    log("100k graph ...")
    answers, t = _measure({"plane": lambda: plane_partition(net, domain=(-60, 60), progress=False)}, 1)
    part, t_build = answers["plane"], t["plane"]
    answers, t = _measure({"stats": lambda: graph_statistics(part)}, repeat)
    stats, t_stats = answers["stats"], t["stats"]
    return {"row": f"graph statistics, {part.n_regions:,} regions", "polylens":
            f"mean degree {stats.mean_degree:.3f}, diameter {stats.diameter} ({stats.eccentricities.searches} BFS)",
            "relucent": "-", "same": None, "t_polylens": t_stats, "t_relucent": float("nan"),
            "note": f"target < 10 s; graph built by plane_partition in {t_build:.1f} s"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="skip the 3-D rows")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds per row (best kept; default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from polylens import zoo

    X, y = zoo.moons_data(n_samples=200, seed=0)
    moons = zoo.mlp([2, 16, 16, 1], seed=0)
    zoo.train_classifier(moons, X, y, epochs=300, batch_size=len(y), lr=0.02, seed=0)
    rows = [betti_row([2, 8, 8, 1], 0, args.repeat)]
    if not args.quick:
        rows.append(betti_row([3, 6, 6, 1], 0, args.repeat))
    rows.append(dual_row(moons, "moons 2-16-16-1 (trained)", args.repeat))
    if not args.quick:
        rows.append(dual_row(_mlp([3, 6, 6, 1], 1), "3-6-6-1", args.repeat))
    rows.append(astar_row(moons, X.numpy(), 5, args.repeat))
    rows.append(big_graph_row(args.repeat))
    table = []
    for r in rows:
        peer = np.isfinite(r["t_relucent"])
        same = "-" if r["same"] is None else ("yes" if r["same"] else "**NO**")
        table.append([r["row"], r["polylens"], r["relucent"], same, f"{r['t_polylens']:.3f}",
                      f"{r['t_relucent']:.3f}" if peer else "-",
                      f"{r['t_relucent'] / r['t_polylens']:.1f}x" if peer else "-", r["note"]])
    print(markdown_table(["row", "polylens", "relucent", "identical", "polylens s", "relucent s", "speed-up",
                          "notes"], table))
    return 0 if all(r["same"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
