"""``polylens graph``: JSON keys, files, and refused arguments."""

from __future__ import annotations

import json

import _shapes as S
import numpy as np
import torch

from polylens.cli import main


def _save(tmp_path, module, name="m.pt2"):
    """The safe file format: a torch.export program (torch.save files need --trust-pickle)."""
    path = tmp_path / name
    torch.export.save(torch.export.export(module, (torch.zeros(1, 2, dtype=torch.float64),)), path)
    return str(path)


def test_graph_json_keys_over_rd(tmp_path, capsys):
    model = _save(tmp_path, S.annulus())
    assert main(["graph", model, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("regions", "edges", "mean_degree", "diameter", "class_components", "decision_boundary_betti",
                "seconds"):
        assert key in out
    assert out["class_components"] == {"0": 2, "1": 1}
    assert out["decision_boundary_betti"] == [2, 2]
    assert out["domain"] == "R^d"


def test_graph_writes_summary_and_figures(tmp_path, capsys):
    model = _save(tmp_path, S.disc())
    X = np.random.default_rng(0).uniform(-1.5, 1.5, (40, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (np.abs(X).sum(axis=1) < 1).astype(int))
    out = tmp_path / "report"
    args = ["graph", model, "--box", "-2", "2", "--data", str(tmp_path / "X.npy"), "--labels",
            str(tmp_path / "y.npy"), "--out", str(out), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["data"]["points"] == 40
    for name in ("summary.json", "summary.md", "degrees.png", "geodesic_hamming.png", "classes.png",
                 "persistence.png"):
        assert (out / name).stat().st_size > 0
    assert "Decision boundary Betti numbers: [1, 1]" in (out / "summary.md").read_text()
    assert main(args) == 2  # the folder holds results already: refused, nothing replaced
    assert "exists already" in json.loads(capsys.readouterr().out)["error"]  # --json: the error as JSON


def test_labels_need_data(tmp_path, capsys):
    model = _save(tmp_path, S.disc())
    assert main(["graph", model, "--labels", "y.npy"]) == 2
    assert "`--labels` needs `--data`" in capsys.readouterr().err


def test_graph_reads_a_saved_enumeration(tmp_path, capsys):
    model = _save(tmp_path, S.annulus())
    saved = str(tmp_path / "saved.npz")
    assert main(["enumerate", model, "--box", "-2", "2", "--checkpoint", saved, "--json"]) == 0
    enumerated = json.loads(capsys.readouterr().out)
    assert main(["graph", model, "--box", "-2", "2", "--json"]) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert main(["graph", model, "--box", "-2", "2", "--checkpoint", saved, "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_file["regions"] == enumerated["regions"]
    for key in ("seconds", "model"):
        fresh.pop(key), from_file.pop(key)
    assert from_file == fresh


def test_graph_refuses_a_saved_enumeration_of_another_box(tmp_path, capsys):
    model = _save(tmp_path, S.annulus())
    saved = str(tmp_path / "saved.npz")
    assert main(["enumerate", model, "--box", "-2", "2", "--checkpoint", saved, "--json"]) == 0
    capsys.readouterr()
    assert main(["graph", model, "--box", "-3", "3", "--checkpoint", saved]) != 0
    assert "checkpoint" in capsys.readouterr().err.lower()
