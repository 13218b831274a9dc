"""The task queue under the sampling and enumeration functions: results in submission
order, and the shared object survives the loss of the worker that holds it."""

from __future__ import annotations

import os
import signal

import pytest

distributed = pytest.importorskip("distributed")

from polylens.parallel import TaskQueue  # noqa: E402


def _scaled(shared: dict, item: int) -> int:
    return shared["factor"] * item


def test_results_come_back_in_submission_order(client):
    with TaskQueue(client, "test", {"factor": 3}) as queue:
        for item in range(10):
            queue.submit(_scaled, item, f"item {item}")
        assert [queue.take() for _ in range(10)] == [3 * i for i in range(10)]


def test_the_shared_object_is_recomputed_when_the_only_worker_holding_it_dies(own_client):
    with TaskQueue(own_client, "test", {"factor": 5}) as queue:
        distributed.wait(queue.shared)
        holders = own_client.who_has(queue.shared)[queue.shared.key]
        assert len(holders) == 1
        pid = own_client.run(os.getpid, workers=list(holders))[holders[0]]
        os.kill(pid, signal.SIGKILL)
        queue.submit(_scaled, 7, "item 7")
        assert queue.take() == 35


def test_a_local_cluster_from_connect_runs_workers_without_the_settings_that_slow_torch(monkeypatch):
    from polylens.parallel import connect

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with connect(workers=1) as local:
        assert list(local.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == [None]
        assert list(local.run(_profiling).values()) == [False]


def _profiling() -> bool:
    import dask

    return dask.config.get("distributed.worker.profile.enabled")
