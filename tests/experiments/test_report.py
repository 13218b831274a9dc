"""``write_report``: files, sections, commands, and wording that follows the numbers."""

from __future__ import annotations

import re
import sys
import types

import pytest

from polylens.experiments.boundaries import BoundaryContrast
from polylens.experiments.digits import DigitsConfig
from polylens.experiments.figures import FIGURES
from polylens.experiments import report
from polylens.experiments.report import COMMANDS, _density_verdict, write_report
from polylens.experiments.stats import Estimate


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(out, quick=True, progress=False, config=DigitsConfig.tiny())


def test_quick_report_writes_markdown_and_every_linked_figure(quick_report):
    text = quick_report.read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(FIGURES.values())
    for name in linked:
        assert (quick_report.parent / name).read_bytes()[:4] == b"\x89PNG"


def test_quick_report_has_a_section_per_prediction_with_intervals_and_commands(quick_report):
    text = quick_report.read_text(encoding="utf-8")
    for heading in ("### Prediction 1", "### Prediction 2", "### Prediction 3"):
        assert heading in text
    assert text.count("95% CI") >= 3
    for command in COMMANDS.values():
        assert f"`{command}`" in text
    assert "--quick" in text and "language" not in text.split("## Image classifier")[1].lower()


def test_full_report_appends_the_language_section(tmp_path, monkeypatch, tiny_digits):
    calls = []
    monkeypatch.setattr(report, "run_digits", lambda config, progress: tiny_digits)

    def language_section(out, progress):
        calls.append((out, progress))
        return "## Language models\n\nplanted section"

    fake = types.ModuleType("polylens.experiments.language")
    fake.language_section = language_section
    monkeypatch.setitem(sys.modules, "polylens.experiments.language", fake)
    path = write_report(tmp_path, quick=False, progress=False, config=DigitsConfig.tiny())
    assert calls == [(tmp_path, False)]
    text = path.read_text(encoding="utf-8")
    assert text.index("## Image classifier") < text.index("planted section")


def _contrast(ratio, permuted, excess) -> BoundaryContrast:
    def est(ci):
        return Estimate(sum(ci) / 2, ci, 0.95, 100)

    return BoundaryContrast(est(ratio), est((0.95, 1.05)), est(permuted), est(excess), 0.05, 100, 0.1)


@pytest.mark.parametrize("ratio, permuted, excess, expected", [
    ((1.5, 1.7), (0.95, 1.05), (1.4, 1.6), "the prediction holds here"),
    ((1.1, 1.2), (1.1, 1.2), (0.95, 1.05), "not supported beyond that positional effect"),
    ((1.1, 1.4), (0.9, 1.3), (0.9, 1.3), "the prediction is not established"),
    ((0.9, 1.1), (0.9, 1.1), (0.9, 1.1), "no peak of density at class changes was measured"),
    ((0.6, 0.8), (0.95, 1.05), (0.6, 0.8), "the prediction fails here"),
])
def test_density_verdict_follows_the_intervals(ratio, permuted, excess, expected):
    assert expected in _density_verdict(_contrast(ratio, permuted, excess))


def test_torch_threads_are_restored_after_the_block():
    import torch

    from polylens.experiments.report import _torch_threads

    before = torch.get_num_threads()
    with _torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with _torch_threads(0):
            pass
