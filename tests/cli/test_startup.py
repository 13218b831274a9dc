"""Start-up stays light: ``import polylens`` and every ``--help`` load no heavy module,
and each sub-command loads only what it uses (each check in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _nets import make_mlp

import polylens
from polylens.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "numpy", "scipy", "sklearn", "matplotlib", "dask", "distributed", "networkx", "tqdm",
         "polylens.sampling", "polylens.geometry", "polylens.models", "polylens.experiments"]


def _loaded_after(code: str, cwd=None) -> list[str]:
    """The HEAVY modules loaded after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=cwd,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_import_polylens_loads_no_heavy_module():
    assert _loaded_after("import polylens") == []


def test_help_of_every_sub_command_loads_no_heavy_module():
    argvs = [["--help"]] + [[c.name, "--help"] for c in COMMANDS]
    code = ("import contextlib, io\nfrom polylens.cli import main\n"
            f"for argv in {argvs!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        main(argv)")
    assert _loaded_after(code) == []


def test_every_public_name_loads_on_first_use():
    assert set(polylens.__all__) <= set(dir(polylens))
    for name in polylens.__all__:
        assert getattr(polylens, name).__name__ == name
    from polylens import Box, PWLNet, zoo  # noqa: F401  (from-imports of names and of sub-modules)
    assert polylens.zoo is zoo
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        polylens.nope  # noqa: B018


@pytest.mark.slow
def test_enumerate_and_slice_load_only_what_they_use(tmp_path):
    model = make_mlp(2, [4], out=2, seed=0, dtype=torch.float32)
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), tmp_path / "m.pt2")
    enum = _loaded_after("from polylens.cli import main\nmain(['enumerate', 'm.pt2', '--no-progress'])", tmp_path)
    assert {"torch", "polylens.geometry"} <= set(enum)
    assert not {"matplotlib", "sklearn", "dask", "polylens.sampling", "polylens.experiments"} & set(enum)
    plane = _loaded_after("from polylens.cli import main\nmain(['slice', 'm.pt2', '--out', 'f.png'])", tmp_path)
    assert {"torch", "matplotlib"} <= set(plane)
    assert not {"sklearn", "dask", "polylens.sampling", "polylens.experiments"} & set(plane)
