"""``write_report``: files, sections, commands, and wording that follows the numbers."""

from __future__ import annotations

import re

import pytest

from polylens.experiments import language_report, report
from polylens.experiments.boundaries import BoundaryContrast
from polylens.experiments.digits import DigitsConfig
from polylens.experiments.figures import FIGURES
from polylens.experiments.record import read_record
from polylens.experiments.report import COMMANDS, _density_verdict, write_report
from polylens.experiments.stats import Estimate


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(out, quick=True, seeds=2, progress=False, config=DigitsConfig.tiny())


@pytest.mark.slow  # two tiny digits runs
def test_quick_report_writes_markdown_and_every_linked_figure(quick_report):
    text = quick_report.read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(linked) == sorted(FIGURES.values())
    for name in linked:
        assert (quick_report.parent / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # two tiny digits runs
def test_quick_report_has_a_section_per_prediction_with_intervals_and_commands(quick_report):
    text = quick_report.read_text(encoding="utf-8")
    for heading in ("### Prediction 1", "### Prediction 2", "### Prediction 3", "## Across seeds"):
        assert heading in text
    assert text.count("95% CI") >= 3
    for command in COMMANDS.values():
        assert f"`{command}`" in text
    assert "--quick" in text and "## Language models" not in text


@pytest.mark.slow  # two tiny digits runs
def test_quick_report_records_every_seed_and_its_configuration(quick_report):
    record = read_record(quick_report.parent / "report.json")
    assert record["kind"] == "quick" and record["language"] is None
    (digits,) = record["digits"]
    assert digits["seeds"] == [0, 1] and digits["architecture"] == "BN 8/16"  # the first of ARCHITECTURES
    assert digits["config"]["n_pairs"] == DigitsConfig.tiny().n_pairs
    assert len(digits["prediction1"]["codes_minus"]["neurons"]["values"]) == 2
    assert record["versions"]["torch"] and record["command"].endswith("--quick --seeds 2")
    assert any((quick_report.parent / "cache").glob("digits-cnn-*.pt"))  # trained models are cached


@pytest.mark.slow
def test_full_report_appends_the_language_section(tmp_path, monkeypatch, tiny_digits):
    calls = []
    monkeypatch.setattr(report, "run_digits_seeds", lambda config, seeds, progress, cache: [tiny_digits])

    def language_part(out, **kwargs):
        calls.append((out, kwargs["seeds"]))
        return "## Language models\n\nplanted section", [], None

    monkeypatch.setattr(language_report, "language_part", language_part)
    path = write_report(tmp_path, quick=False, seeds=1, progress=False, config=DigitsConfig.tiny(),
                        architectures=["BN 8/16"], parallel=False)
    assert calls == [(tmp_path, (0,))]
    text = path.read_text(encoding="utf-8")
    assert text.index("## Image classifier") < text.index("planted section")
    assert read_record(tmp_path / "report.json")["kind"] == "full"


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


@pytest.mark.slow  # eight tiny digits runs
def test_digits_runs_on_a_pool_give_the_numbers_of_runs_here():
    import json
    from dataclasses import replace

    from polylens.experiments.record import digits_record
    from polylens.experiments.report import _run_digits

    configs = [DigitsConfig.tiny(), replace(DigitsConfig.tiny(), batchnorm=False)]
    records = {}
    for workers in (1, 2):
        runs = _run_digits(configs, 2, None, False, workers, 1)
        assert [[r.config for r in per] for per in runs] == [[replace(c, seed=s) for s in (0, 1)] for c in configs]
        records[workers] = [{k: v for k, v in digits_record(per).items() if k != "seconds"} for per in runs]
    assert json.dumps(records[1]) == json.dumps(records[2])  # NaN-aware: every number, bit for bit


def test_the_default_workers_leave_a_cpu_to_the_language_process(tmp_path, monkeypatch, tiny_digits):
    seen = []

    def run_digits(configs, n_seeds, cache, progress, workers, threads):
        seen.append(workers)
        return [[tiny_digits]]

    monkeypatch.setattr(report, "_run_digits", run_digits)
    monkeypatch.setattr(report, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(report, "save_digits_figures", lambda results, out: {})
    monkeypatch.setattr(report, "digits_section", lambda results, figures, out: "")
    monkeypatch.setattr(report, "_start_language", lambda *args: lambda: ("", [], None))
    common = dict(seeds=1, progress=False, config=DigitsConfig.tiny(), architectures=["BN 8/16"])
    write_report(tmp_path / "alone", language=False, **common)
    write_report(tmp_path / "beside", **common)
    write_report(tmp_path / "serial", parallel=False, **common)
    write_report(tmp_path / "given", language=False, workers=3, **common)
    assert seen == [2, 1, 2, 3]
