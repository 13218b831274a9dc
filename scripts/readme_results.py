"""Regenerate the README's results section from ``docs/report.json``.

The section between the README's marker comments (see
:data:`polylens.experiments.results_text.README_START`) is rendered from the committed
record of the last report run (:func:`polylens.experiments.results_text.readme_results`);
``tests/experiments/test_readme_results.py`` fails when the two disagree.

Run: ``python scripts/readme_results.py [--record docs/report.json] [--readme README.md] [--check]``.
After a new full report, copy its ``report.json`` and figures into ``docs/`` first::

    polylens report --out DIR && cp DIR/report.json DIR/*.png docs/ && python scripts/readme_results.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polylens.experiments.record import read_record
from polylens.experiments.results_text import readme_results, replace_between_markers

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=ROOT / "docs" / "report.json", type=Path)
    parser.add_argument("--readme", default=ROOT / "README.md", type=Path)
    parser.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    args = parser.parse_args()
    text = args.readme.read_text(encoding="utf-8")
    new = replace_between_markers(text, readme_results(read_record(args.record)))
    if args.check:
        print("up to date" if new == text else "out of date: run python scripts/readme_results.py")
        return 0 if new == text else 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"wrote the results section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
