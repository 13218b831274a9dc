"""Enumeration on a 2-worker Dask cluster: the same regions, in the same order, with the
same graph as in-process; budgets, checkpoints and a restarted driver resume to the same
answer; a worker killed mid-run changes nothing; a failing region is named."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from _faults import FaultyNet, InjectedFault, Killer, wait_for_arrival  # noqa: E402
from _nets import make_mlp  # noqa: E402

from polylens import Box, EnumerationResult, PWLNet, enumerate_regions  # noqa: E402
from polylens.errors import TaskError  # noqa: E402

_ARRAYS = ("codes", "points", "radii", "bounded", "n_facets", "edges", "frontier", "out_weight", "out_bias")


def assert_identical(a: EnumerationResult, b: EnumerationResult) -> None:
    """Same regions in the same order, same graph, same per-region data and counters."""
    for name in _ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.edge_units == b.edge_units
    assert len(a.vertices) == len(b.vertices) and all(map(np.array_equal, a.vertices, b.vertices))
    assert (a.complete, a.stop_reason, a.degenerate, a.lp_solves) == (b.complete, b.stop_reason, b.degenerate,
                                                                       b.lp_solves)


@pytest.fixture(scope="module")
def net():
    """A 2-16-16-1 ReLU net: 572 regions over R^2, 110 of them unbounded."""
    return PWLNet.from_torch(make_mlp(2, [16, 16], out=1, seed=0))


@pytest.fixture(scope="module")
def full(net):
    return enumerate_regions(net, None, progress=False)


@pytest.mark.parametrize("case", ["R2", "box", "3d-lp"])
def test_enumeration_on_two_workers_is_identical_to_in_process(client, net, full, case):
    if case == "R2":
        here, there = full, enumerate_regions(net, None, progress=False, client=client)
    elif case == "box":
        deep = PWLNet.from_torch(make_mlp(2, [16, 16, 16], out=2, seed=4))
        here = enumerate_regions(deep, Box(-2, 2), progress=False)
        there = enumerate_regions(deep, Box(-2, 2), progress=False, client=client)
    else:
        net3 = PWLNet.from_torch(make_mlp(3, [8, 8], out=1, seed=5))
        here = enumerate_regions(net3, Box(-1, 1), progress=False, method="lp")
        there = enumerate_regions(net3, Box(-1, 1), progress=False, method="lp", client=client)
    assert here.complete and here.n_regions > 150
    assert_identical(here, there)


def test_budgeted_run_on_dask_stops_where_in_process_stops_and_resumes_to_the_full_answer(client, net, full,
                                                                                         tmp_path):
    budget = 200
    part_here = enumerate_regions(net, None, progress=False, max_regions=budget)
    path = tmp_path / "run.npz"
    part = enumerate_regions(net, None, progress=False, max_regions=budget, checkpoint=path, client=client)
    assert_identical(part_here, part)
    assert part.n_regions == budget and part.frontier.shape[0] > 0
    resumed = enumerate_regions(net, None, progress=False, checkpoint=path, client=client)
    assert_identical(full, resumed)


def test_killing_a_worker_mid_run_still_gives_the_identical_enumeration(own_client, net, full, tmp_path):
    faulty = FaultyNet(net, full.codes[300], mode="hold", signal_dir=str(tmp_path))
    workers = set(own_client.run(os.getpid).values())
    with Killer(str(tmp_path)) as killer:
        result = enumerate_regions(faulty, None, progress=False, client=own_client)
    assert killer.pid in workers  # a worker really died during the run
    assert len(list(tmp_path.glob("*.started"))) == 2  # ... and its batch ran again elsewhere
    assert_identical(full, result)


def test_a_failing_region_is_named_and_the_finished_work_is_kept(client, net, full, tmp_path):
    assert full.degenerate == []  # so search indices are result indices
    bad = 250
    faulty = FaultyNet(net, full.codes[bad], mode="raise")
    path = tmp_path / "run.npz"
    with pytest.raises(TaskError, match=rf"region {bad} \(code [01]+\)") as info:
        enumerate_regions(faulty, None, progress=False, client=client, checkpoint=path)
    assert info.value.where.startswith(f"region {bad} ")
    assert isinstance(info.value.__cause__, InjectedFault)
    with np.load(path) as saved:
        assert 0 < np.count_nonzero(saved["status"] == 1) <= bad  # regions merged before the failure
    resumed = enumerate_regions(net, None, progress=False, checkpoint=path, client=client)
    assert resumed.complete and resumed.n_regions == full.n_regions
    np.testing.assert_array_equal(resumed.codes, full.codes)
    np.testing.assert_array_equal(resumed.edges, full.edges)
    # in-process the net's own error surfaces, with a note naming the region
    with pytest.raises(InjectedFault) as info:
        enumerate_regions(faulty, None, progress=False)
    assert any(note.startswith(f"polylens: raised while working on region {bad} ") for note in info.value.__notes__)


_DRIVER = textwrap.dedent("""
    import sys
    from distributed import Client
    from polylens import PWLNet, enumerate_regions
    from _faults import FaultyNet
    from _nets import make_mlp
    import numpy as np

    address, checkpoint, signal_dir, trigger = sys.argv[1:]
    net = PWLNet.from_torch(make_mlp(2, [16, 16], out=1, seed=0))
    faulty = FaultyNet(net, np.load(trigger), mode="hold", signal_dir=signal_dir)
    with Client(address) as client:
        enumerate_regions(faulty, None, progress=False, client=client, checkpoint=checkpoint, checkpoint_every=0)
""")


def test_a_killed_driver_resumes_from_its_checkpoint_to_the_identical_answer(client, net, full, tmp_path):
    np.save(tmp_path / "trigger.npy", full.codes[400])
    path = tmp_path / "run.npz"
    here = Path(__file__).resolve()  # tests/parallel (for _faults), tests (_nets), the checkout (polylens)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (here.parent, here.parents[1], here.parents[2]))}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, client.scheduler.address, str(path), str(tmp_path),
                               str(tmp_path / "trigger.npy")], env=env)
    try:
        assert wait_for_arrival(str(tmp_path)) is not None  # a worker holds region 400: the driver waits there
        driver.kill()
        driver.wait(timeout=30)
    finally:
        (tmp_path / "release").write_text("")
    with np.load(path) as saved:
        finished = np.count_nonzero(saved["status"] == 1)
    assert 0 < finished < full.n_regions
    resumed = enumerate_regions(net, None, progress=False, checkpoint=path, client=client)
    assert_identical(full, resumed)
