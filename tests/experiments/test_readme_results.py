"""The README's results section and the committed docs/report.json agree."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from polylens.experiments.record import read_record
from polylens.experiments.results_text import README_END, README_START, readme_results, replace_between_markers

ROOT = Path(__file__).resolve().parents[2]
README, RECORD = ROOT / "README.md", ROOT / "docs" / "report.json"


def _agrees(readme: str, record: dict) -> bool:
    return replace_between_markers(readme, readme_results(record)) == readme


@pytest.fixture(scope="module")
def committed():
    return README.read_text(encoding="utf-8"), read_record(RECORD)


def test_the_readme_results_section_is_rendered_from_the_committed_report(committed):
    readme, record = committed
    assert README_START in readme and README_END in readme
    assert _agrees(readme, record), "README and docs/report.json disagree: run python scripts/readme_results.py"


def test_the_check_fails_when_a_number_changes_in_the_record(committed):
    readme, record = committed
    changed = copy.deepcopy(record)
    changed["digits"][0]["prediction1"]["purity"]["spline codes"]["mean"] += 0.01
    assert not _agrees(readme, changed)


def test_the_check_fails_when_a_number_changes_in_the_readme(committed):
    readme, record = committed
    block = readme_results(record)
    first = next(tok for tok in block.split() if tok[:1].isdigit() and "." in tok)
    at = readme.index(README_START)
    edited = readme[:at] + readme[at:].replace(first, "9" + first, 1)
    assert edited != readme and not _agrees(edited, record)


def test_every_figure_the_readme_shows_is_committed_and_captioned_with_its_seed(committed):
    readme, record = committed
    for key, name in record["figures"]["files"].items():
        if key in record["figures"]["captions"]:
            assert (ROOT / "docs" / name).exists() or (ROOT / name).exists()
            assert "seed" in record["figures"]["captions"][key]
