"""Start-up time: ``polylens --help``, ``polylens SUB --help`` and ``import polylens``
next to a bare interpreter and to ``import torch``, measured side by side in one run.

Every command runs in a fresh interpreter (``sys.executable``), interleaved round by
round so that a change of load hits all of them alike; the table gives the median wall
time of the rounds, the difference to the reference it is judged against (a bare
``python -c pass`` for the help texts, ``import torch`` for ``import polylens``) and
the ratio to it. ``polylens ...`` is run as the installed console script runs it
(``from polylens.cli import main; sys.exit(main())``), without the shell wrapper of a
version manager.

    python benchmarks/bench_startup.py                      # 7 rounds
    python benchmarks/bench_startup.py --rounds 11
    python benchmarks/bench_startup.py --compare /path/to/other/checkout

``--compare`` adds the same rows for another checkout of polylens (its directory put
first on ``PYTHONPATH``), e.g. the commit before lazy imports. Targets: every help text
within 0.3 s of a bare interpreter, ``import polylens`` within 0.3 s of ``import torch``
(``import polylens`` loads no torch at all; the row that imports the exact engine's names
shows what using it adds to torch).
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import log, markdown_table

ROOT = Path(__file__).resolve().parents[1]
SUB_COMMANDS = ["demo", "enumerate", "slice", "path", "report"]
TARGET = 0.3  # seconds over the reference


def _cli(*argv: str) -> list[str]:
    return ["-c", "import sys; from polylens.cli import main; sys.exit(main())", *argv]


def _rows() -> list[tuple[str, list[str], str | None]]:
    """(label, interpreter arguments, reference label or None)."""
    rows = [("python -c pass", ["-c", "pass"], None),
            ("python -c 'import torch'", ["-c", "import torch"], None),
            ("import polylens", ["-c", "import polylens"], "python -c 'import torch'"),
            ("from polylens import PWLNet, enumerate_regions",
             ["-c", "from polylens import PWLNet, enumerate_regions"], "python -c 'import torch'"),
            ("polylens --help", _cli("--help"), "python -c pass")]
    rows += [(f"polylens {sub} --help", _cli(sub, "--help"), "python -c pass") for sub in SUB_COMMANDS]
    return rows


def _time(args: list[str], path: str, cwd: str) -> float:
    env = {**os.environ, "PYTHONPATH": path}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of every command (median taken; default 7)")
    parser.add_argument("--compare", default=None, metavar="DIR", help="another checkout to time next to this one")
    args = parser.parse_args()
    trees = [("this tree", str(ROOT))] + ([("compare", str(Path(args.compare).resolve()))] if args.compare else [])
    rows = _rows()
    jobs = [(tree, label, cmd, ref) for tree, _ in trees for label, cmd, ref in rows
            if tree == "this tree" or ref is not None]
    paths = dict(trees)
    times: dict[tuple[str, str], list[float]] = {(tree, label): [] for tree, label, _, _ in jobs}
    with tempfile.TemporaryDirectory() as cwd:  # `python -c` puts the working directory first on sys.path
        for round_ in range(args.rounds):
            for tree, label, cmd, _ in jobs:
                times[tree, label].append(_time(cmd, paths[tree], cwd))
            log(f"round {round_ + 1} of {args.rounds}")
    median = {key: statistics.median(v) for key, v in times.items()}
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; median of {args.rounds} rounds\n")
    cells, missed = [], []
    for tree, label, _, ref in jobs:
        t = median[tree, label]
        if ref is None:
            cells.append([tree, f"`{label}`", f"{t:.3f}", "", "", ""])
            continue
        base = median["this tree", ref]
        cells.append([tree, f"`{label}`", f"{t:.3f}", f"{t - base:+.3f}", f"{t / base:.2f}", f"`{ref}`"])
        if tree == "this tree" and t - base > TARGET and not label.startswith("from "):
            missed.append(label)
    print(markdown_table(["tree", "command", "median (s)", "minus reference (s)", "ratio to reference", "reference"],
                         cells))
    if missed:
        log(f"\nmissed the {TARGET} s target: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
