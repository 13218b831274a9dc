"""A Dask ``LocalCluster`` of 2 worker processes (one thread each), shared by the tests of
this folder, and ``tests/parallel/`` on ``sys.path`` so test modules (and the workers,
which start with the driver's ``sys.path`` and ``PYTHONPATH``) import ``_faults``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE), str(_HERE.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture(scope="session")
def client():
    """A client of a 2-process LocalCluster; a test that kills a worker waits for its
    replacement before it returns."""
    distributed = pytest.importorskip("distributed")
    import dask

    from polylens.parallel import WORKER_CONFIG
    paths = [str(_HERE), str(_HERE.parent), str(_HERE.parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    with dask.config.set(WORKER_CONFIG), distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", env=env) as cluster, \
            distributed.Client(cluster) as client:
        client.run(torch.set_num_threads, 1)
        yield client


def pytest_collection_modifyitems(config, items):
    """Every test of this folder runs on (or starts) a Dask cluster: mark it ``dask``, so
    ``-m "not dask"`` leaves them out of the fast tier."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.dask)
