"""``polylens`` command line: ``demo``, ``enumerate``, ``slice``, ``path`` and ``report``."""

from __future__ import annotations

import argparse
import json
import re
import sys

import numpy as np

__all__ = ["main"]

_PICKLE_NOTE = (
    "MODEL is a torch.export program (.pt2, recommended) or a module saved with torch.save. "
    "WARNING: loading a torch.save file unpickles it, which runs code from the file: only "
    "load files you trust, and prefer torch.export.save(torch.export.export(model, (x,)), 'model.pt2')."
)


def _corner(text: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}") from None


def _model_command(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A sub-command that reads a MODEL file (and lets "-2,-1" read as a value, like "-1")."""
    cmd = sub.add_parser(name, help=help, description=f"{description} {_PICKLE_NOTE}")
    cmd._negative_number_matcher = re.compile(r"^-[0-9.][0-9.,eE+-]*$")
    cmd.add_argument("model", metavar="MODEL", help="model file (.pt2 from torch.export, or torch.save)")
    return cmd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polylens", description="Neural networks through the polytope lens.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train a small MLP on two moons and enumerate every region (no downloads)")
    demo.add_argument("--out", default="polylens-demo", help="output folder (default: polylens-demo)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    enum = _model_command(sub, "enumerate", "every region of a PWL model, in a box or over all of R^d",
                          "Enumerate every region of a piecewise-linear model exactly.")
    enum.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                      help="input box; LO/HI are numbers or comma-separated per-coordinate lists "
                           "(default: all of R^d)")
    enum.add_argument("--max-regions", type=int, default=None, metavar="N", help="stop after N regions (partial)")
    enum.add_argument("--checkpoint", default=None, metavar="FILE", help=".npz checkpoint to write and resume from")
    enum.add_argument("--out", default=None, metavar="G.graphml", help="write the region graph as GraphML")
    enum.add_argument("--solver", default="highs", help="LP back end: highs (default), scipy or cvxpy")
    enum.add_argument("--json", action="store_true", help="print one JSON object")
    enum.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _dask_options(enum)
    plane = _model_command(sub, "slice", "exact regions of a 2-D plane through the input space, as a picture",
                           "Every region meeting a box of a plane, as exact polygons, with the decision boundary.")
    plane.add_argument("--through", nargs=3, metavar=("A.npy", "B.npy", "C.npy"),
                       help="the plane A + s (B - A) + t (C - A); each file holds one input "
                            "(default: the input space of a model with 2 inputs)")
    plane.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                       help="bounds of (s, t) (default 0 1 with --through, -1 1 otherwise)")
    plane.add_argument("--color-by", default="region", choices=["region", "class", "gradient_norm"],
                       help="colour of the regions (default: region)")
    plane.add_argument("--out", default=None, metavar="FIG", help="write the figure (.png or .svg)")
    plane.add_argument("--json", action="store_true", help="print one JSON object")

    path = _model_command(sub, "path", "exact boundary crossings along a segment between two inputs",
                          "Every point where the code changes between two inputs, and the polytope density.")
    path.add_argument("--from", dest="start", required=True, metavar="A.npy", help="start input (.npy)")
    path.add_argument("--to", dest="end", required=True, metavar="B.npy", help="end input (.npy)")
    path.add_argument("--windows", type=int, default=40, help="density windows (default 40)")
    path.add_argument("--out", default=None, metavar="FIG", help="write the density figure (.png or .svg)")
    path.add_argument("--json", action="store_true", help="print one JSON object")

    report = sub.add_parser(
        "report", help="run the polytope-lens experiments and write DIR/report.md with figures (no downloads)",
        description="Test the three predictions of the polytope lens on a CNN trained on scikit-learn's digits "
                    "and (without --quick) on two transformer language models; write DIR/report.md with PNG "
                    "figures, the numbers with 95%% confidence intervals, and the commands that reproduce them.")
    report.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    report.add_argument("--quick", action="store_true",
                        help="the image-classifier part only (about a minute on 2 cores)")
    report.add_argument("--seeds", type=int, default=None, metavar="N",
                        help="models trained per architecture (default 5 digits CNNs, 3 ReLU language models)")
    report.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    from polylens.studies.command import add_parser as add_graph_parser

    add_graph_parser(sub, _model_command)
    return parser


def _dask_options(cmd: argparse.ArgumentParser) -> None:
    """``--scheduler ADDRESS`` / ``--workers N``: run the command's tasks on Dask."""
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786); "
                            "needs pip install 'polylens[dask]'")
    where.add_argument("--workers", type=_positive, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes, started and closed here")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _client(args):
    """A context manager giving the Dask client asked for (None: in-process)."""
    import contextlib

    if args.scheduler is None and args.workers is None:
        return contextlib.nullcontext()
    from polylens.parallel import connect

    return connect(scheduler=args.scheduler, workers=args.workers)


def _load_inputs(files):
    """Inputs from .npy files (one sample each) and an example batch for tracing."""
    import torch

    arrays = []
    for name in files:
        try:
            arrays.append(np.load(name).astype(np.float64))
        except (OSError, ValueError) as err:
            raise FileNotFoundError(f"cannot read input file {name!r}: {err}") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"the input files have different shapes: {sorted(shapes)}")
    return arrays, torch.as_tensor(arrays[0][None])


def _slice(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polylens.geometry.plane import plane_partition
    from polylens.models.io import load_model
    from polylens.plotting import plot_plane

    if args.through:
        (a, b, c), example = _load_inputs(args.through)
        net = load_model(args.model, example)
        box = (0.0, 1.0) if args.box is None else tuple(args.box)
        part = plane_partition(net, a, b - a, c - a, domain=box)
    else:
        net = load_model(args.model)
        box = (-1.0, 1.0) if args.box is None else tuple(args.box)
        part = plane_partition(net, domain=box)
    if args.out:
        fig, ax = plt.subplots(figsize=(6, 6))
        plot_plane(part, ax=ax, color_by=args.color_by)
        ax.set_title(f"{part.n_regions} regions (exact)")
        fig.tight_layout()
        fig.savefig(args.out, dpi=150)
        plt.close(fig)
    summary = {"model": repr(net), "regions": part.n_regions, "seconds": round(part.seconds, 6),
               "decision_boundary_segments": int(len(part.decision_boundary)),
               "box": part.box.tolist(), "figure": args.out}
    print(json.dumps(summary) if args.json else
          f"{net}: {part.n_regions} regions in the plane box, {part.seconds:.2f} s"
          + (f"; figure written to {args.out}" if args.out else ""))
    return 0


def _path(args) -> int:
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polylens.geometry.paths import path_crossings
    from polylens.models.io import load_model
    from polylens.plotting import plot_path_density

    (a, b), example = _load_inputs([args.start, args.end])
    net = load_model(args.model, example)
    t0 = time.perf_counter()
    path = path_crossings(net, np.stack([a.reshape(-1), b.reshape(-1)]))
    seconds = time.perf_counter() - t0
    if args.out:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        plot_path_density(path, n_windows=args.windows, ax=ax)
        fig.tight_layout()
        fig.savefig(args.out, dpi=150)
        plt.close(fig)
    _, density = path.density_windows(args.windows)
    summary = {"model": repr(net), "crossings": path.n_crossings, "seconds": round(seconds, 6),
               "length": path.length, "positions": path.positions.tolist(),
               "units_flipped": [u.tolist() for u in path.units], "density": density.tolist(),
               "classes": path.piece_classes().tolist(), "figure": args.out}
    print(json.dumps(summary) if args.json else
          f"{net}: {path.n_crossings} boundaries crossed over length {path.length:.4g}, {seconds:.2f} s")
    return 0


def _enumerate(args) -> int:
    import torch

    from polylens.geometry.domain import Box
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.geometry.graph import region_graph, write_graphml
    from polylens.models.io import load_model

    torch.set_num_threads(1)
    net = load_model(args.model)
    domain = None if args.box is None else Box(*args.box)
    with _client(args) as client:
        result = enumerate_regions(net, domain, max_regions=args.max_regions, checkpoint=args.checkpoint,
                                   solver=args.solver, progress=not (args.no_progress or args.json), client=client)
    if args.out:
        write_graphml(region_graph(result), args.out)
    summary = {"model": repr(net), **result.summary()}
    if args.out:
        summary["graph"] = args.out
    if args.json:
        print(json.dumps(summary))
    else:
        state = "complete" if result.complete else f"PARTIAL ({result.stop_reason}; {summary['frontier']} codes pending)"
        print(f"{net}: {result.n_regions} regions ({result.n_unbounded} unbounded), {state}, "
              f"{result.lp_solves} LPs, {result.seconds:.2f} s")
        for line in result.degenerate[:10]:
            print(f"degenerate: {line}")
    return 0


def _report(args) -> int:
    from polylens.experiments.report import write_report

    path = write_report(args.out, quick=args.quick, seeds=args.seeds, progress=not args.no_progress)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``polylens`` command."""
    from polylens.errors import PolylensError

    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from polylens.demo import run_demo

            summary = run_demo(args.out, progress=not args.no_progress)
            print(json.dumps(summary, indent=2))
            return 0
        if args.command == "graph":
            from polylens.studies.command import run as run_graph

            return run_graph(args)
        return {"enumerate": _enumerate, "slice": _slice, "path": _path, "report": _report}[args.command](args)
    except (PolylensError, ValueError, FileNotFoundError, ImportError) as err:
        print(f"polylens: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
