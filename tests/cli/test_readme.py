"""The README's command-line section says what the commands really print."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from _nets import make_mlp

from polylens.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented_json_keys() -> dict[str, set[str]]:
    """The `--json` keys table of the README: command -> keys."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| command | `--json` keys |"):]
    keys = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        command, listed = (cell.strip() for cell in line.strip("|").split("|"))
        keys[command.strip("`")] = set(re.findall(r"`(\w+)`", listed))
    return keys


@pytest.fixture
def model_files(tmp_path):
    model = make_mlp(2, [5, 4], out=2, seed=2, dtype=torch.float32).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), tmp_path / "m.pt2")
    np.save(tmp_path / "a.npy", np.array([-0.9, -0.7]))
    np.save(tmp_path / "b.npy", np.array([0.8, 0.6]))
    return tmp_path


def test_documented_json_keys_are_the_real_ones(model_files, capsys):
    d = model_files
    runs = {
        "enumerate": ["enumerate", str(d / "m.pt2"), "--box", "-1", "1"],
        "slice": ["slice", str(d / "m.pt2")],
        "path": ["path", str(d / "m.pt2"), "--from", str(d / "a.npy"), "--to", str(d / "b.npy")],
        "graph": ["graph", str(d / "m.pt2"), "--box", "-1", "1", "--no-progress"],
    }
    documented = _documented_json_keys()
    assert set(documented) == set(runs)
    for command, argv in runs.items():
        assert main([*argv, "--json"]) == 0
        real = set(json.loads(capsys.readouterr().out))
        assert real == documented[command], (command, real ^ documented[command])


def test_documented_install_text_names_the_cpu_build_and_threads():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Install and run"):text.index("## Quick start")]
    assert "CUDA build" in section and "--index-url https://download.pytorch.org/whl/cpu" in section
    assert "torch.set_num_threads(1)" in section
