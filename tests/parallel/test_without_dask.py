"""Without Dask installed polylens imports and runs in-process, and asking for a cluster
says how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["dask"] = sys.modules["distributed"] = None  # as if neither were installed
    import numpy as np
    import torch
    import polylens
    from polylens import Box, PWLNet, enumerate_regions
    from polylens.sampling import codes

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)).double()
    assert enumerate_regions(PWLNet.from_torch(model), None, progress=False).n_regions == 7
    assert codes(model, torch.randn(10, 2, dtype=torch.float64), progress=False).packed.shape == (10, 1)
    for call in (lambda: enumerate_regions(PWLNet.from_torch(model), Box(-1, 1), progress=False, client=object()),
                 lambda: codes(model, torch.randn(4, 2), progress=False, client=object())):
        try:
            call()
        except ImportError as err:
            assert "pip install 'polylens[dask]'" in str(err), err
        else:
            raise AssertionError("no ImportError")
    assert "distributed" not in [m for m in sys.modules if sys.modules[m] is not None]
    print("ok")
""")


def test_polylens_runs_in_process_without_dask_and_names_the_extra_when_a_client_is_given():
    root = str(Path(__file__).resolve().parents[2])  # the checkout holding polylens/
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
