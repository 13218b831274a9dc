"""``polylens`` command line: ``demo`` and ``enumerate``."""

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polylens", description="Neural networks through the polytope lens.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train a small MLP on two moons and enumerate every region (no downloads)")
    demo.add_argument("--out", default="polylens-demo", help="output folder (default: polylens-demo)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    enum = sub.add_parser(
        "enumerate",
        help="every region of a PWL model, in a box or over all of R^d",
        description="Enumerate every region of a piecewise-linear model exactly. " + _PICKLE_NOTE,
    )
    # Let "-2,-1" (a per-coordinate corner) read as a value, like "-1" does.
    enum._negative_number_matcher = re.compile(r"^-[0-9.][0-9.,eE+-]*$")
    enum.add_argument("model", metavar="MODEL", help="model file (.pt2 from torch.export, or torch.save)")
    enum.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                      help="input box; LO/HI are numbers or comma-separated per-coordinate lists "
                           "(default: all of R^d)")
    enum.add_argument("--max-regions", type=int, default=None, metavar="N", help="stop after N regions (partial)")
    enum.add_argument("--checkpoint", default=None, metavar="FILE", help=".npz checkpoint to write and resume from")
    enum.add_argument("--out", default=None, metavar="G.graphml", help="write the region graph as GraphML")
    enum.add_argument("--solver", default="highs", help="LP back end: highs (default), scipy or cvxpy")
    enum.add_argument("--json", action="store_true", help="print one JSON object")
    enum.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _enumerate(args) -> int:
    import torch

    from polylens.geometry.domain import Box
    from polylens.geometry.enumeration import enumerate_regions
    from polylens.geometry.graph import region_graph, write_graphml
    from polylens.models.io import load_model

    torch.set_num_threads(1)
    net = load_model(args.model)
    domain = None if args.box is None else Box(*args.box)
    result = enumerate_regions(net, domain, max_regions=args.max_regions, checkpoint=args.checkpoint,
                               solver=args.solver, progress=not (args.no_progress or args.json))
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
        return _enumerate(args)
    except (PolylensError, ValueError, FileNotFoundError) as err:
        print(f"polylens: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
