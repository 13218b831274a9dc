"""``polylens graph MODEL``: the region graph's statistics, topology and figures.

:mod:`polylens.cli` declares the sub-command's options, checks its output folder and
loads the model; :func:`run` does the rest.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["run", "graph_report", "FILES"]

FILES = ("summary.json", "summary.md", "degrees.png", "geodesic_hamming.png", "classes.png", "persistence.png")


def run(args, net, out: Path | None) -> int:
    """Execute ``polylens graph`` on the loaded ``net`` with parsed ``args``; ``out`` is the
    output folder the command line has already checked (or None).

    Raises
    ------
    InvalidParameterError
        If ``--labels`` comes without ``--data``, a data file cannot be read, or a study
        refuses its input (see :func:`graph_report`).
    CheckpointError
        If ``--checkpoint`` belongs to another net or box, or is corrupt.
    """
    from polylens.errors import InvalidParameterError

    if args.labels is not None and args.data is None:
        raise InvalidParameterError("polylens graph: `--labels` needs `--data`")
    data = _load(args.data, "--data") if args.data else None
    labels = _load(args.labels, "--labels").astype(np.int64) if args.labels else None
    domain = None if args.box is None else tuple(args.box)
    summary, parts = graph_report(net, domain, data=data, labels=labels, max_regions=args.max_regions,
                                  progress=not (args.no_progress or args.json), checkpoint=args.checkpoint)
    summary["model"] = repr(net)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        summary["outputs"] = _write(out, summary, parts, data, labels)
    if args.json:
        print(json.dumps(summary))
    else:
        print(_text(summary))
    return 0


def _load(path: str, flag: str):
    import numpy as np

    from polylens.errors import InvalidParameterError

    try:
        return np.load(path)
    except (OSError, ValueError) as err:
        raise InvalidParameterError(f"polylens graph: cannot read {flag} {path!r}: {err}") from None


def graph_report(net, domain=None, *, data=None, labels=None, max_regions=None, progress=True,
                 max_pairs: int = 5000, checkpoint=None) -> tuple[dict, dict]:
    """Every study of ``polylens graph`` on one net; returns (JSON summary, result objects).

    The region graph is the net's own; class components, the decision boundary and the
    spectrum's decision edges use the partition refined by class units (every region one
    class). Betti numbers and persistence need 2 or 3 inputs (``None`` otherwise).

    Parameters
    ----------
    net : PWLNet
    domain : Box, (lo, hi) or None, default=None
        ``None`` is all of R^d (unbounded cells truncated for the topology).
    data : ndarray of shape (n_points, input_dim), optional
    labels : ndarray of shape (n_points,), optional
    max_regions : int, optional
        Refuse an enumeration of more regions.
    progress : bool, default=True
    max_pairs : int, default=5000
        Pairs sampled for the geodesic-Hamming-Euclidean distances.
    checkpoint : path, optional
        A saved enumeration of ``net`` in ``domain`` (the checkpoint file of
        :func:`~polylens.enumerate_regions` or ``polylens enumerate --checkpoint``): read
        instead of enumerating again, and written when it does not exist.

    Returns
    -------
    summary : dict
        JSON-ready statistics (keys as ``polylens graph --json``).
    parts : dict
        The result objects (``result``, ``stats``, ``distances``, ``spectrum``,
        ``topology``, ``persistence`` where computed).

    Raises
    ------
    InvalidParameterError
        If an argument is invalid or an enumeration stops short (``max_regions``).
    CheckpointError
        If ``checkpoint`` belongs to another net or domain, or is corrupt.
    """
    from polylens.geometry.domain import as_domain
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.studies.complex import class_net
    from polylens.studies.distances import pair_distances
    from polylens.studies.persistence import persistence_of
    from polylens.studies.spectra import laplacian_spectrum
    from polylens.studies.statistics import data_regions, graph_statistics
    from polylens.studies.topology import _complete, topology_of, truncate

    func = "polylens graph"
    start = time.perf_counter()
    domain = as_domain(domain, func=func, name="--box")
    res = _complete(enumerate_regions(net, domain, max_regions=max_regions, progress=progress,
                                      checkpoint=checkpoint), func)
    stats = graph_statistics(res)
    parts: dict = {"result": res, "stats": stats, "distances": pair_distances(res, max_pairs=max_pairs)}
    cres = _complete(enumerate_regions(class_net(net), domain, max_regions=max_regions, progress=progress), func)
    summary = {**stats.summary(), "domain": "R^d" if domain is None else [list(map(float, b)) for b in
                                                                            res.space.box]}
    dist = parts["distances"]
    summary["distances"] = {"pairs": int(dist.pairs.shape[0]), "all_pairs": dist.all_pairs,
                            "spearman": dist.spearman, "pearson": dist.pearson,
                            "geodesic_below_hamming": dist.geodesic_below_hamming}
    if cres.n_regions >= 3:
        spec = laplacian_spectrum(cres)
        parts["spectrum"] = spec
        summary["spectrum"] = {"algebraic_connectivity": spec.algebraic_connectivity,
                               "cut_edges": spec.cut_edges, "decision_edges": spec.decision_edges,
                               "cut_decision_fraction": spec.cut_decision_fraction, "baseline": spec.baseline}
    if net.input_dim in (2, 3):
        refined = truncate(cres) if domain is None else cres
        topo = topology_of(refined, truncated=domain is None)
        parts["topology"] = topo
        summary["class_components"] = {str(c): v for c, v in topo.class_components.items()}
        summary["class_betti"] = {str(c): v for c, v in topo.class_betti.items()}
        summary["decision_boundary_betti"] = topo.decision_boundary_betti
        summary["class_regions"] = {str(c): v for c, v in topo.class_regions.items()}
        summary["degenerate"] = topo.degenerate
        if net.output_dim == 1:
            plain = truncate(res) if domain is None else res
            from polylens.studies.complex import cell_complex

            pers = persistence_of(cell_complex(plain))
            parts["persistence"] = pers
            summary["persistence"] = {"pairs": int(pers.diagram.shape[0]),
                                      "critical_vertices": int(pers.critical_vertices.size),
                                      "critical_by_index": np.bincount(pers.critical_index,
                                                                       minlength=net.input_dim + 1).tolist()}
    else:
        summary["class_components"] = _class_components(cres)
        summary["decision_boundary_betti"] = None
    if data is not None:
        dr = data_regions(res, data, labels)
        summary["data"] = {"points": int(dr.point_region.size), "data_regions": dr.n_data_regions,
                           "empty_regions": dr.n_empty_regions, "mean_degree_data": dr.mean_degree_data,
                           "mean_degree_empty": dr.mean_degree_empty, "data_components": dr.data_components,
                           "largest_component_fraction": dr.largest_component_fraction,
                           "unlocated": dr.n_unlocated, "class_purity": dr.class_purity}
    summary["seconds"] = round(time.perf_counter() - start, 4)
    return _plain(summary), parts


def _class_components(cres) -> dict:
    from scipy.sparse.csgraph import connected_components

    from polylens.studies._common import adjacency

    cls = cres.predicted_class()
    e = cres.edges
    same = cls[e[:, 0]] == cls[e[:, 1]]
    _, comp = connected_components(adjacency(cres.n_regions, e[same]), directed=False)
    n_out = cres.net.output_dim
    return {str(c): int(np.unique(comp[cls == c]).size) for c in range(2 if n_out == 1 else n_out)}


def _plain(value):
    """JSON-ready copy: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write(out: Path, summary: dict, parts: dict, data, labels) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polylens._files import atomic_output
    from polylens.studies import figures

    written = {}

    def save(name: str, draw) -> None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        draw(ax)
        fig.tight_layout()
        with atomic_output(out / name) as tmp:
            fig.savefig(tmp, dpi=130, format="png")
        plt.close(fig)
        written[name.split(".")[0]] = str(out / name)

    save("degrees.png", lambda ax: figures.plot_degrees(parts["stats"], ax=ax))
    save("geodesic_hamming.png", lambda ax: figures.plot_geodesic_hamming(parts["distances"], ax=ax))
    topo = parts.get("topology")
    if topo is not None and topo.complex.dim == 2:
        save("classes.png", lambda ax: figures.plot_class_components(topo, ax=ax, data=data, labels=labels))
    if "persistence" in parts:
        save("persistence.png", lambda ax: figures.plot_persistence(parts["persistence"], ax=ax))
    summary = {**summary, "outputs": written}
    with atomic_output(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    with atomic_output(out / "summary.md") as tmp:
        tmp.write_text(_markdown(summary, written))
    written["summary"] = str(out / "summary.md")
    return written


def _markdown(s: dict, figs: dict) -> str:
    lines = [f"# Region graph of {s.get('model', 'the model')}", "",
             f"Domain: {s['domain']}. {s['regions']} regions, {s['edges']} edges, mean degree "
             f"{s['mean_degree']:.3f} (bound 2d = {s['mean_degree_bound']}), max degree {s['max_degree']}, "
             f"diameter {s['diameter']}, radius {s['radius']}; {s['bounded']} bounded and {s['unbounded']} "
             "unbounded regions.", ""]
    d = s["distances"]
    lines += [f"Distances over {d['pairs']} pairs ({'all' if d['all_pairs'] else 'a seeded sample'}): "
              f"Spearman geodesic-Hamming {_f(d['spearman']['geodesic-hamming'])}, geodesic-Euclidean "
              f"{_f(d['spearman']['geodesic-euclidean'])}; {d['geodesic_below_hamming']} pairs closer in facets "
              "than in Hamming distance.", ""]
    if "spectrum" in s:
        sp = s["spectrum"]
        lines += [f"Laplacian (class-refined graph): algebraic connectivity {_f(sp['algebraic_connectivity'])}; "
                  f"the Fiedler cut crosses {sp['cut_edges']} edges, {_f(100 * sp['cut_decision_fraction'])}% of "
                  f"them decision edges (baseline {_f(100 * sp['baseline'])}%).", ""]
    lines += ["| class | components | Betti numbers |", "|---|---|---|"]
    for c, n in s["class_components"].items():
        lines.append(f"| {c} | {n} | {s.get('class_betti', {}).get(c, '–')} |")
    lines += ["", f"Decision boundary Betti numbers: {s['decision_boundary_betti']}.", ""]
    if "persistence" in s:
        p = s["persistence"]
        lines += [f"Sublevel-set persistence: {p['pairs']} pairs; critical vertices by index "
                  f"{p['critical_by_index']}.", ""]
    if "data" in s:
        dd = s["data"]
        lines += [f"Data: {dd['data_regions']} regions hold the {dd['points']} points "
                  f"({dd['unlocated']} on boundaries); mean degree {_f(dd['mean_degree_data'])} (data) vs "
                  f"{_f(dd['mean_degree_empty'])} (empty); the data regions form {dd['data_components']} "
                  "components.", ""]
    lines += [f"![{name}]({Path(path).name})" for name, path in figs.items()]
    lines += ["", f"Computed in {s['seconds']} s.", ""]
    return "\n".join(lines)


def _f(v) -> str:
    return "–" if v is None else f"{v:.3g}"


def _text(s: dict) -> str:
    return (f"{s['model']}: {s['regions']} regions, {s['edges']} edges, mean degree {s['mean_degree']:.3f}, "
            f"diameter {s['diameter']}; class components {s['class_components']}; decision boundary Betti "
            f"{s['decision_boundary_betti']}; {s['seconds']} s")
