"""The ``polylens`` command line: demo and enumerate, on files saved both ways."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch
from _nets import make_mlp

from polylens import Box, PWLNet, enumerate_regions
from polylens.cli import main


@pytest.fixture
def model():
    return make_mlp(2, [6, 5], out=2, seed=1, dtype=torch.float32).eval()


@pytest.fixture
def export_file(model, tmp_path):
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), path)
    return path


@pytest.fixture
def pickle_file(model, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(model, path)
    return path


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, f"--json must print exactly one line, got {out}"
    return json.loads(out[0])


def test_enumerate_json_counts_match_the_library(model, export_file, capsys):
    assert main(["enumerate", str(export_file), "--box", "-1", "1", "--json"]) == 0
    summary = _json(capsys)
    expected = enumerate_regions(PWLNet.from_torch(model), Box(-1, 1), progress=False)
    assert summary["regions"] == expected.n_regions
    assert summary["unbounded"] == 0
    assert {"regions", "unbounded", "lp_solves", "seconds"} <= summary.keys()
    assert summary["complete"] is True


def test_enumerate_without_box_covers_all_of_rd(pickle_file, capsys):
    assert main(["enumerate", str(pickle_file), "--trust-pickle", "--json"]) == 0
    summary = _json(capsys)
    assert summary["unbounded"] > 0
    assert summary["complete"] is True


def test_export_and_pickle_files_give_the_same_partition(export_file, pickle_file, capsys):
    main(["enumerate", str(export_file), "--box", "-2,-1", "2,1", "--json"])
    a = _json(capsys)
    main(["enumerate", str(pickle_file), "--trust-pickle", "--box", "-2,-1", "2,1", "--json"])
    b = _json(capsys)
    assert a["regions"] == b["regions"] and a["edges"] == b["edges"]


def test_enumerate_budget_and_graphml(export_file, tmp_path, capsys):
    out = tmp_path / "g.graphml"
    assert main(["enumerate", str(export_file), "--box", "-1", "1", "--max-regions", "5",
                 "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert summary["regions"] == 5 and summary["complete"] is False and summary["stop_reason"] == "max_regions"
    graph = nx.read_graphml(out)
    assert graph.number_of_nodes() == 5


def test_enumerate_resumes_from_checkpoint(export_file, tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    main(["enumerate", str(export_file), "--box", "-1", "1", "--max-regions", "4", "--checkpoint", str(ckpt), "--json"])
    first = _json(capsys)
    main(["enumerate", str(export_file), "--box", "-1", "1", "--checkpoint", str(ckpt), "--json"])
    resumed = _json(capsys)
    main(["enumerate", str(export_file), "--box", "-1", "1", "--json"])
    full = _json(capsys)
    assert first["complete"] is False
    assert resumed["complete"] is True and resumed["regions"] == full["regions"]


def test_unsupported_model_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "tanh.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh()), path)
    assert main(["enumerate", str(path), "--trust-pickle"]) == 2
    err = capsys.readouterr().err
    assert "'1'" in err and "Tanh" in err


def test_state_dict_file_is_refused_with_advice(model, tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    assert main(["enumerate", str(path)]) == 2
    assert "state_dict" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["enumerate", str(tmp_path / "nope.pt2")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_help_warns_that_pickles_run_code(capsys):
    with pytest.raises(SystemExit):
        main(["enumerate", "--help"])
    assert "runs code" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_writes_figure_graph_and_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["complete"] is True and summary["regions"] > 50
    assert summary["train_accuracy"] > 0.9
    assert (tmp_path / "partition.png").stat().st_size > 10_000
    assert nx.read_graphml(tmp_path / "regions.graphml").number_of_nodes() == summary["regions"]


def test_slice_of_a_2d_model_prints_regions_and_seconds(export_file, tmp_path, capsys):
    fig = tmp_path / "plane.svg"
    assert main(["slice", str(export_file), "--box", "-1", "1", "--out", str(fig), "--json"]) == 0
    summary = _json(capsys)
    expected = enumerate_regions(PWLNet.from_torch(torch.export.load(export_file)), Box(-1, 1), progress=False)
    assert summary["regions"] == expected.n_regions and summary["seconds"] > 0
    assert fig.read_text().startswith("<?xml")


@pytest.fixture
def cnn_files(tmp_path):
    from polylens import zoo

    model = zoo.digits_cnn(channels=(2, 4)).eval()
    path = tmp_path / "cnn.pt"
    torch.save(model, path)
    _, _, Xt, _ = zoo.digits_data(seed=0)
    files = []
    for i in range(3):
        files.append(tmp_path / f"x{i}.npy")
        np.save(files[-1], Xt[i].numpy())
    return path, files


def test_slice_through_three_inputs_of_a_cnn(cnn_files, tmp_path, capsys):
    model, (a, b, c) = cnn_files
    fig = tmp_path / "plane.png"
    assert main(["slice", str(model), "--trust-pickle", "--through", str(a), str(b), str(c), "--box", "0.3", "0.35",
                 "--out", str(fig), "--json"]) == 0
    summary = _json(capsys)
    assert summary["regions"] > 1 and fig.stat().st_size > 5_000


def test_path_between_two_inputs_reports_crossings(cnn_files, tmp_path, capsys):
    model, (a, b, _) = cnn_files
    fig = tmp_path / "path.png"
    assert main(["path", str(model), "--trust-pickle", "--from", str(a), "--to", str(b), "--out", str(fig),
                 "--json"]) == 0
    summary = _json(capsys)
    assert summary["crossings"] == len(summary["positions"]) > 0 and summary["seconds"] > 0
    assert fig.stat().st_size > 5_000


def test_slice_without_plane_on_a_big_input_is_a_clear_error(cnn_files, capsys):
    model, _ = cnn_files
    assert main(["slice", str(model), "--trust-pickle"]) == 2
    err = capsys.readouterr().err
    assert "--input-shape" in err and "example_input" not in err
    assert main(["slice", str(model), "--trust-pickle", "--input-shape", "1,8,8"]) == 2
    assert "--through A.npy B.npy C.npy" in capsys.readouterr().err


# ----------------------------------------------------------------------------- Dask


@pytest.mark.dask
def test_enumerate_on_dask_workers_or_a_scheduler_matches_in_process(export_file, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    main(["enumerate", str(export_file), "--box", "-1", "1", "--json"])
    here = _json(capsys)
    out = tmp_path / "g.graphml"
    assert main(["enumerate", str(export_file), "--box", "-1", "1", "--workers", "1", "--out", str(out),
                 "--json"]) == 0
    local = _json(capsys)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        assert main(["enumerate", str(export_file), "--box", "-1", "1", "--scheduler", cluster.scheduler_address,
                     "--json"]) == 0
    remote = _json(capsys)
    for key in ("regions", "edges", "unbounded", "lp_solves", "complete"):
        assert here[key] == local[key] == remote[key], key
    assert nx.read_graphml(out).number_of_nodes() == here["regions"]


@pytest.mark.parametrize("argv", [["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], ["--workers", "0"]])
def test_enumerate_dask_options_are_checked(export_file, argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["enumerate", str(export_file), *argv])
    assert info.value.code == 2
    assert "--workers" in capsys.readouterr().err


# ----------------------------------------------------------------------------- report


@pytest.mark.slow  # two tiny digits runs
def test_report_quick_writes_the_markdown_report_with_its_figures(tmp_path, monkeypatch, capsys):
    from polylens.experiments import report
    from polylens.experiments.digits import DigitsConfig
    from polylens.experiments.figures import FIGURES

    # the tiny configuration and two seeds, so the command runs end to end in seconds
    full = report.write_report
    monkeypatch.setattr(report, "write_report",
                        lambda out, **kw: full(out, **{**kw, "config": DigitsConfig.tiny(), "seeds": 2}))
    assert main(["report", "--out", str(tmp_path / "rep"), "--quick", "--no-progress"]) == 0
    path = tmp_path / "rep" / "report.md"
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    text = path.read_text(encoding="utf-8")
    assert "### Prediction 1" in text and "### Prediction 3" in text
    assert "polylens report --out DIR --quick" in text
    written = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {*FIGURES.values(), "report.md", "report.json"} <= written


def test_report_needs_an_output_folder(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--quick"])
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err
