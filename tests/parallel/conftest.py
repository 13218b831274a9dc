"""A Dask ``LocalCluster`` of 2 worker processes (one thread each), shared by the tests of
this folder, and ``tests/parallel/`` on ``sys.path`` so test modules (and the workers,
which start with the driver's ``sys.path`` and ``PYTHONPATH``) import ``_faults``."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
import torch

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE), str(_HERE.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@contextlib.contextmanager
def _local_client():
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


@pytest.fixture(scope="session")
def client():
    """A client of a 2-process LocalCluster shared by the tests that leave its workers alive."""
    with _local_client() as shared:
        yield shared


@pytest.fixture
def own_client():
    """A client of a 2-process LocalCluster of the test's own, for a test that kills a worker:
    the nanny's restart of the killed worker can then never delay or starve another test."""
    with _local_client() as own:
        yield own


def pytest_collection_modifyitems(config, items):
    """Every test of this folder runs on (or starts) a Dask cluster: mark it ``dask``, so
    ``-m "not dask"`` leaves them out of the fast tier."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.dask)
