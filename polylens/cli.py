"""``polylens`` command line: ``demo``, ``enumerate``, ``slice``, ``path`` and ``report``.

The arguments are parsed before anything heavy is imported (``polylens --help`` loads
neither torch nor numpy), and each sub-command imports only what it uses. The
sub-commands are the entries of :data:`COMMANDS`: a name, a function that adds its
arguments and a function that runs it.

Every error is one line on stderr that names the flag or file and says what to do (no
traceback; ``--debug`` shows one); with ``--json`` it is one JSON object
``{"error": ..., "kind": ...}`` on stdout. Exit status: 0 done, 1 an unexpected internal
error, 2 a usage or input error (or a failure the message explains), 130 interrupted by
Ctrl-C, 143 stopped by SIGTERM (an enumeration saves its checkpoint first in both cases).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from polylens._repr import short_repr

__all__ = ["main", "COMMANDS"]

_PICKLE_NOTE = (
    "MODEL is a torch.export program (.pt2, recommended) or a module saved with torch.save. "
    "WARNING: loading a torch.save file unpickles it, which runs code from the file: such files are "
    "refused unless you pass --trust-pickle, so only pass it for files you trust; prefer "
    "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')."
)
_SOLVERS = ("highs", "scipy", "cvxpy")
_FIGURE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


class _Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler, so that whatever saves work on Ctrl-C runs too."""


class CliError(Exception):
    """An error the command line explains in its own words (the message names the flag)."""


# ----------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors come out as a JSON object under ``--json``."""

    json_errors = False

    def error(self, message: str):
        if _Parser.json_errors:
            print(json.dumps({"error": f"{self.prog}: {message}", "kind": "UsageError"}))
            sys.exit(2)
        super().error(message)


def _corner(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas (C,H,W), got {text!r}")
    return shape


def _common(cmd: argparse.ArgumentParser, json_flag: bool) -> None:
    if json_flag:
        cmd.add_argument("--json", action="store_true", help="print one JSON object (also on failure)")
    cmd.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


def _model_arguments(cmd: argparse.ArgumentParser, shape_flag: bool = True) -> None:
    """MODEL, --trust-pickle, --input-shape (and "-2,-1" read as a value, like "-1")."""
    cmd._negative_number_matcher = re.compile(r"^-[0-9.][0-9.,eE+-]*$")
    cmd.add_argument("model", metavar="MODEL", help="model file (.pt2 from torch.export, or torch.save)")
    cmd.add_argument("--trust-pickle", action="store_true",
                     help="load a torch.save file (a full pickle): this RUNS CODE FROM THE FILE, "
                          "so only pass it for files you trust")
    if shape_flag:
        cmd.add_argument("--input-shape", type=_shape, default=None, metavar="C,H,W",
                         help="shape of one input, for a traced model (a CNN) saved with torch.save")


def _out_arguments(cmd: argparse.ArgumentParser, metavar: str, help: str, required: bool = False) -> None:
    cmd.add_argument("--out", default=None, required=required, metavar=metavar, help=help)
    cmd.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _add_demo(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--out", default="polylens-demo", metavar="DIR", help="output folder (default: polylens-demo)")
    cmd.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo in DIR")
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(cmd, json_flag=False)


def _add_enumerate(cmd: argparse.ArgumentParser) -> None:
    _model_arguments(cmd)
    cmd.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                     help="input box; LO/HI are numbers or comma-separated per-coordinate lists "
                          "(default: all of R^d)")
    cmd.add_argument("--max-regions", type=_positive, default=None, metavar="N", help="stop after N regions (partial)")
    cmd.add_argument("--checkpoint", default=None, metavar="FILE", help=".npz checkpoint to write and resume from")
    _out_arguments(cmd, "G.graphml", "write the region graph as GraphML")
    cmd.add_argument("--solver", default="highs", choices=_SOLVERS, help="LP back end (default: highs)")
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786); "
                            "needs pip install 'polylens[dask]'")
    where.add_argument("--workers", type=_positive, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes, started and closed here")
    _common(cmd, json_flag=True)


def _add_slice(cmd: argparse.ArgumentParser) -> None:
    _model_arguments(cmd)
    cmd.add_argument("--through", nargs=3, metavar=("A.npy", "B.npy", "C.npy"),
                     help="the plane A + s (B - A) + t (C - A); each file holds one input, of the model's "
                          "input shape, a batch of one, or flat (default: the input space of a model with 2 inputs)")
    cmd.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                     help="bounds of (s, t) (default 0 1 with --through, -1 1 otherwise)")
    cmd.add_argument("--color-by", default="region", choices=["region", "class", "gradient_norm"],
                     help="colour of the regions (default: region)")
    _out_arguments(cmd, "FIG", "write the figure (.png or .svg)")
    _common(cmd, json_flag=True)


def _add_path(cmd: argparse.ArgumentParser) -> None:
    _model_arguments(cmd)
    cmd.add_argument("--from", dest="start", required=True, metavar="A.npy", help="start input (.npy)")
    cmd.add_argument("--to", dest="end", required=True, metavar="B.npy", help="end input (.npy)")
    cmd.add_argument("--windows", type=_positive, default=40, metavar="N", help="density windows (default 40)")
    _out_arguments(cmd, "FIG", "write the density figure (.png or .svg)")
    _common(cmd, json_flag=True)


def _add_graph(cmd: argparse.ArgumentParser) -> None:
    _model_arguments(cmd)
    cmd.add_argument("--box", nargs=2, type=_corner, metavar=("LO", "HI"),
                     help="input box; LO/HI are numbers or comma-separated lists (default: all of R^d)")
    cmd.add_argument("--data", default=None, metavar="X.npy", help="data points, shape (n, input_dim)")
    cmd.add_argument("--labels", default=None, metavar="y.npy", help="labels of the data points, shape (n,)")
    cmd.add_argument("--max-regions", type=_positive, default=None, metavar="N", help="refuse more than N regions")
    cmd.add_argument("--checkpoint", default=None, metavar="FILE",
                     help="a saved enumeration (the --checkpoint file of polylens enumerate, same model and --box): "
                          "read instead of enumerating again; written here when it does not exist")
    cmd.add_argument("--out", default=None, metavar="DIR",
                     help="write summary.json, summary.md and PNG figures there (created)")
    cmd.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run in DIR")
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(cmd, json_flag=True)


def _add_report(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    cmd.add_argument("--overwrite", action="store_true", help="replace an earlier report in DIR")
    cmd.add_argument("--quick", action="store_true", help="the image-classifier part only (about a minute on 2 cores)")
    cmd.add_argument("--seeds", type=_positive, default=None, metavar="N",
                     help="models trained per architecture (default 5 digits CNNs, 3 ReLU language models)")
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _common(cmd, json_flag=False)


@short_repr
@dataclass(frozen=True)
class Command:
    """One sub-command: its name, help, description, arguments and what it runs."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="polylens", description="Neural networks through the polytope lens.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        cmd = sub.add_parser(command.name, help=command.help, description=command.description)
        command.add_arguments(cmd)
        cmd.set_defaults(run=command.run)
    return parser


# ----------------------------------------------------------------------------- checks


def _check_out(args, *, inputs=(), figure: bool = False):
    """Check ``--out`` (a file) before any work; returns its path or None."""
    from polylens._validation import check_output_path

    if args.out is None:
        return None
    path = check_output_path(args.out, func=f"polylens {args.command}", name="--out",
                             overwrite=args.overwrite, inputs=inputs)
    if figure and path.suffix.lower() not in _FIGURE_SUFFIXES:
        raise CliError(f"`--out` must name a figure file ending in {', '.join(_FIGURE_SUFFIXES)}; got {args.out!r}")
    return path


def _check_folder(folder: str, files: list[str], overwrite: bool, command: str):
    """Check an output folder (``--out DIR``) and the files a command writes there."""
    import os
    from pathlib import Path

    from polylens._validation import check_output_path

    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise CliError(f"`--out` names the file {folder!r}; give a folder")
    if out.exists():
        for name in files:
            check_output_path(out / name, func=f"polylens {command}", name="--out", overwrite=overwrite)
        return out
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"the folder above `--out` does not exist: {str(parent)!r}; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"`--out`: the folder {str(parent)!r} is not writable")
    return out


def _read_inputs(files: list[str], flag: str):
    """Arrays from .npy files (one input each): their shapes must agree (a leading batch axis
    of one is dropped)."""
    import numpy as np

    from polylens._validation import check_input_file

    arrays = []
    for name in files:
        check_input_file(name, func="polylens", name=flag)
        try:
            arr = np.load(name, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CliError(f"`{flag}`: cannot read {name!r} as a .npy array ({err})") from None
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise CliError(f"`{flag}`: {name!r} holds an array of {arr.dtype}, not real numbers")
        if arr.ndim in (2, 4) and arr.shape[0] == 1:
            arr = arr[0]  # a batch of one
        if not np.all(np.isfinite(arr)):
            raise CliError(f"`{flag}`: {name!r} holds NaN or infinite values")
        arrays.append(arr.astype(np.float64))
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) != 1:
        raise CliError(f"`{flag}`: the input files have different shapes: {shapes}")
    return arrays


def _fit_inputs(arrays, net, files: list[str], flag: str):
    """Flat float64 inputs of ``net``'s size (each array must hold exactly that many numbers)."""
    out = []
    for arr, name in zip(arrays, files):
        if arr.size != net.input_dim:
            raise CliError(f"`{flag}`: {name!r} holds an array of shape {arr.shape} ({arr.size} numbers), but the "
                           f"model takes inputs of shape {tuple(net.input_shape)} ({net.input_dim} numbers)")
        out.append(arr.reshape(-1))
    return out


def _load(args, example=None):
    import torch

    from polylens.models.io import load_model

    torch.set_num_threads(1)  # the exact engine's many small operations run fastest on one thread
    return load_model(args.model, example, input_shape=getattr(args, "input_shape", None),
                      trust_pickle=args.trust_pickle)


def _example(arrays, args):
    """An example batch for tracing: the inputs' own shape (unless --input-shape is given)."""
    import torch

    if getattr(args, "input_shape", None) is not None or arrays[0].ndim < 2:
        return None  # --input-shape decides, or a flat input cannot show the model's shape
    return torch.as_tensor(arrays[0][None])


def _save_figure(fig, path) -> None:
    import matplotlib.pyplot as plt

    from polylens._files import atomic_output

    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=150, format=path.suffix.lstrip(".").lower())
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------- commands


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _demo(args) -> int:
    from polylens.demo import OUTPUTS, run_demo

    out = _check_folder(args.out, list(OUTPUTS), args.overwrite, "demo")
    summary = run_demo(out, progress=not args.no_progress, overwrite=args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0


def _enumerate(args) -> int:
    out = _check_out(args, inputs=[args.model, args.checkpoint])
    if args.checkpoint is not None:
        _check_checkpoint(args.checkpoint, args.model, "enumerate")
    import numpy as np

    from polylens.geometry.domain import Box
    from polylens.geometry.enumeration import enumerate_regions

    net = _load(args)
    domain = None if args.box is None else Box(np.array(args.box[0]), np.array(args.box[1]))
    with _client(args) as client, _sigterm_noted():
        result = enumerate_regions(net, domain, max_regions=args.max_regions, checkpoint=args.checkpoint,
                                   solver=args.solver, progress=not (args.no_progress or args.json), client=client)
    if out is not None:
        from polylens._files import atomic_output
        from polylens.geometry.graph import region_graph, write_graphml

        with atomic_output(out) as tmp:
            write_graphml(region_graph(result), tmp)
    summary = {"model": repr(net), **result.summary(), "graph": None if out is None else str(out),
               "checkpoint": args.checkpoint}
    interrupted = result.stop_reason == "interrupted"
    if args.json:
        print(json.dumps(summary))
    else:
        state = "complete" if result.complete else \
            f"PARTIAL ({result.stop_reason}; {_plural(summary['frontier'], 'code')} pending)"
        print(f"{net}: {_plural(result.n_regions, 'region')} ({result.n_unbounded} unbounded), {state}, "
              f"{_plural(result.lp_solves, 'LP')}, {result.seconds:.2f} s")
        for line in result.degenerate[:10]:
            print(f"degenerate: {line}")
        if out is not None:
            print(f"region graph{' (partial)' if not result.complete else ''} written to {out}")
    if interrupted:
        _say_interrupted(args)
        return _INTERRUPTED[0]
    return 0


def _check_checkpoint(path: str, model: str, command: str) -> None:
    """``--checkpoint``: writable, and when it exists, a checkpoint archive (not an empty,
    truncated or foreign file), checked before any work."""
    import zipfile
    from pathlib import Path

    from polylens._validation import check_output_path

    p = check_output_path(path, func=f"polylens {command}", name="--checkpoint", overwrite=True, inputs=[model])
    if p.exists() and not zipfile.is_zipfile(p):
        raise CliError(f"`--checkpoint` {path!r} exists but is not a checkpoint (an .npz archive"
                       f"{'; the file is empty' if Path(p).stat().st_size == 0 else ': truncated or corrupt?'}); "
                       "delete it to start afresh, or give another path")


def _client(args):
    """A context manager giving the Dask client asked for (None: in-process)."""
    import contextlib

    if args.scheduler is None and args.workers is None:
        return contextlib.nullcontext()
    from polylens.parallel import connect

    return connect(scheduler=args.scheduler, workers=args.workers)


def _slice(args) -> int:
    files = args.through or []
    out = _check_out(args, inputs=[args.model, *files], figure=True)
    if files:
        arrays = _read_inputs(files, "--through")
        net = _load(args, _example(arrays, args))
        a, b, c = _fit_inputs(arrays, net, files, "--through")
        plane = (a, b - a, c - a)
        box = (0.0, 1.0) if args.box is None else args.box
    else:
        net = _load(args)
        if net.input_dim != 2:
            raise CliError(f"the model has {net.input_dim} inputs, so the plane must be given: "
                           "`--through A.npy B.npy C.npy` (three inputs of the model)")
        plane = (None, None, None)
        box = (-1.0, 1.0) if args.box is None else args.box
    import numpy as np

    from polylens.geometry.plane import plane_partition

    part = plane_partition(net, *plane, (np.array(box[0]), np.array(box[1])), progress=False)
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from polylens.plotting import plot_plane

        fig, ax = plt.subplots(figsize=(6, 6))
        plot_plane(part, ax=ax, color_by=args.color_by)
        ax.set_title(f"{_plural(part.n_regions, 'region')} (exact)")
        fig.tight_layout()
        _save_figure(fig, out)
    summary = {"model": repr(net), "regions": part.n_regions, "seconds": round(part.seconds, 6),
               "decision_boundary_segments": int(len(part.decision_boundary)),
               "box": np.asarray(part.box).tolist(), "figure": None if out is None else str(out)}
    print(json.dumps(summary) if args.json else
          f"{net}: {_plural(part.n_regions, 'region')} in the plane box, {part.seconds:.2f} s"
          + (f"; figure written to {out}" if out is not None else ""))
    return 0


def _path(args) -> int:
    files = [args.start, args.end]
    out = _check_out(args, inputs=[args.model, *files], figure=True)
    arrays = _read_inputs(files, "--from/--to")
    net = _load(args, _example(arrays, args))
    a, b = _fit_inputs(arrays, net, files, "--from/--to")
    import time

    import numpy as np

    from polylens.geometry.paths import path_crossings

    t0 = time.perf_counter()
    path = path_crossings(net, np.stack([a, b]))
    seconds = time.perf_counter() - t0
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from polylens.plotting import plot_path_density

        fig, ax = plt.subplots(figsize=(8, 3.5))
        plot_path_density(path, n_windows=args.windows, ax=ax)
        fig.tight_layout()
        _save_figure(fig, out)
    _, density = path.density_windows(args.windows)
    summary = {"model": repr(net), "crossings": path.n_crossings, "seconds": round(seconds, 6),
               "length": path.length, "positions": path.positions.tolist(),
               "units_flipped": [u.tolist() for u in path.units], "density": density.tolist(),
               "classes": path.piece_classes().tolist(), "figure": None if out is None else str(out)}
    print(json.dumps(summary) if args.json else
          f"{net}: {_plural(path.n_crossings, 'boundary', 'boundaries')} crossed over length "
          f"{path.length:.4g}, {seconds:.2f} s"
          + (f"; figure written to {out}" if out is not None else ""))
    return 0


def _graph(args) -> int:
    from polylens.studies.command import FILES, run

    out = None if args.out is None else _check_folder(args.out, list(FILES), args.overwrite, "graph")
    if args.checkpoint is not None:
        _check_checkpoint(args.checkpoint, args.model, "graph")
    return run(args, _load(args), out)


def _report(args) -> int:
    out = _check_folder(args.out, ["report.md"], args.overwrite, "report")
    from polylens.experiments.report import write_report

    path = write_report(out, quick=args.quick, seeds=args.seeds, progress=not args.no_progress)
    print(f"wrote {path}")
    return 0


COMMANDS: list[Command] = [
    Command("demo", "train a small MLP on two moons and enumerate every region (no downloads)",
            "Train a 2-16-16-1 ReLU MLP on two moons, enumerate every region exactly and write DIR/partition.png, "
            "DIR/regions.graphml and DIR/summary.json.", _add_demo, _demo),
    Command("enumerate", "every region of a PWL model, in a box or over all of R^d",
            f"Enumerate every region of a piecewise-linear model exactly. {_PICKLE_NOTE}", _add_enumerate, _enumerate),
    Command("slice", "exact regions of a 2-D plane through the input space, as a picture",
            f"Every region meeting a box of a plane, as exact polygons, with the decision boundary. {_PICKLE_NOTE}",
            _add_slice, _slice),
    Command("path", "exact boundary crossings along a segment between two inputs",
            f"Every point where the code changes between two inputs, and the polytope density. {_PICKLE_NOTE}",
            _add_path, _path),
    Command("report", "run the polytope-lens experiments and write DIR/report.md with figures (no downloads)",
            "Test the three predictions of the polytope lens on a CNN trained on scikit-learn's digits and (without "
            "--quick) on two transformer language models; write DIR/report.md with PNG figures, the numbers with 95% "
            "confidence intervals, and the commands that reproduce them.", _add_report, _report),
    Command("graph", "statistics, decision topology and figures of the region graph",
            "Enumerate every region (in a box, or over all of R^d) and study the region graph: degrees, diameter, "
            "geodesic vs Hamming distances, Laplacian spectrum, components and Betti numbers of the decision "
            f"regions and boundary (2-D and 3-D inputs). {_PICKLE_NOTE}", _add_graph, _graph),
]


# ----------------------------------------------------------------------------- errors


# API parameter names -> the flag a command-line user typed
_FLAGS = {
    "u": "--through", "v": "--through", "origin": "--through", "through": "--through",
    "points": "--from/--to", "solver": "--solver", "n_windows": "--windows", "max_regions": "--max-regions",
    "checkpoint": "--checkpoint", "domain": "--box", "box": "--box", "example_input": "--input-shape",
    "input_shape": "--input-shape", "trust_pickle": "--trust-pickle", "path": "MODEL", "overwrite": "--overwrite",
    "scheduler": "--scheduler", "workers": "--workers", "client": "--scheduler",
}
_SUBSTITUTIONS = [
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\btrust_pickle=True\b"), "--trust-pickle"),
    (re.compile(r"`?\bexample_input\b`?( \(.*\))?$"), "`--input-shape C,H,W` (the shape of one input)"),
]


def _in_flags(message: str) -> str:
    """An API error message in the command line's words: parameters become flags."""
    message = re.sub(r"^(polylens \w+|[A-Za-z_][\w.]*): ", "", message, count=1)  # the function's name
    for pattern, text in _SUBSTITUTIONS:
        message = pattern.sub(text, message)
    message = re.sub(r"`([A-Za-z_]\w*)`", lambda m: f"`{_FLAGS.get(m.group(1), m.group(1))}`", message)
    message = re.sub(r"`(--[\w/-]+)` and `\1` are\b", r"`\1` is", message)
    return re.sub(r"`(--[\w/-]+)` and `\1`", r"`\1`", message)


def _kind(err: BaseException) -> str:
    from polylens.errors import PolylensError

    if isinstance(err, CliError):
        return "InvalidParameterError"
    if isinstance(err, (PolylensError, OSError, ValueError, ImportError)):
        return type(err).__name__
    return "InternalError"


def _fail(args, err: BaseException) -> int:
    from polylens.errors import PolylensError

    known = isinstance(err, (CliError, PolylensError, OSError, ValueError, ImportError))
    text = str(err) or type(err).__name__
    text = _in_flags(text)
    if not known:
        text = f"internal error ({type(err).__name__}: {text}); run again with --debug for the traceback"
    _emit_error(args, text, _kind(err))
    return 2 if known else 1


def _emit_error(args, message: str, kind: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "kind": kind}))
    else:
        print(f"polylens {args.command}: error: {message}", file=sys.stderr)


_INTERRUPTED = [130]  # the exit status of the current interruption: 130 Ctrl-C, 143 SIGTERM


def _say_interrupted(args) -> None:
    why = "stopped by SIGTERM" if _INTERRUPTED[0] == 143 else "interrupted"
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint is not None:
        where = f"; the checkpoint {checkpoint!r} holds the work so far: run the same command again to resume"
    elif args.command == "enumerate":
        where = "; no checkpoint was kept (give --checkpoint FILE to be able to resume)"
    else:
        where = "; nothing was written"
    print(f"polylens {args.command}: {why}{where}", file=sys.stderr)


@contextlib.contextmanager
def _sigterm_noted():
    """While enumerating: SIGTERM is only noted here. The search's own handler stops it,
    writes the checkpoint and passes the signal on to this one, so the partial result is
    still reported before the command exits with status 143."""
    def note(signum, frame):
        _INTERRUPTED[0] = 143

    try:
        previous = signal.signal(signal.SIGTERM, note)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum, frame):
    _INTERRUPTED[0] = 143
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``polylens`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a usage error, 1 for another error, 130 on
        Ctrl-C and 143 on SIGTERM.

    Raises
    ------
    SystemExit
        From argparse, for ``--help`` and for arguments it cannot parse.
    Exception
        With ``--debug`` only: the error the command met, re-raised instead of being
        reported as an exit status.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    _Parser.json_errors = "--json" in argv
    args = _parser().parse_args(argv)
    _INTERRUPTED[0] = 130
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave SIGTERM alone
        pass
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        if getattr(args, "json", False):
            _emit_error(args, "interrupted", "Interrupted")
        _say_interrupted(args)
        return _INTERRUPTED[0]
    except Exception as err:
        if args.debug:
            raise
        return _fail(args, err)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
