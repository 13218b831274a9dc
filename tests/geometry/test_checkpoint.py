"""Checkpoints: the path is checked before any work, files are written atomically, bad
files raise a clear CheckpointError, SIGTERM writes the checkpoint, loading is linear."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _hooks import while_expanding
from _nets import make_mlp

from polylens import Box, PWLNet, enumerate_regions
from polylens.errors import CheckpointError, InvalidParameterError

torch.set_num_threads(1)

BOX = Box(-2, 2)
TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


@pytest.fixture
def full(net2d):
    return enumerate_regions(net2d, BOX, progress=False)


@pytest.fixture
def partial(net2d, tmp_path):
    """A checkpoint after 10 regions."""
    path = tmp_path / "c.npz"
    enumerate_regions(net2d, BOX, progress=False, max_regions=10, checkpoint=path)
    return path


def assert_identical(a, b):
    """Every field of two enumerations, in order (timings aside)."""
    for name in ("codes", "points", "radii", "bounded", "n_facets", "edges", "frontier", "out_weight",
                 "out_bias"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.edge_units == b.edge_units
    assert a.complete == b.complete and a.stop_reason == b.stop_reason
    assert a.degenerate == b.degenerate and a.lp_solves == b.lp_solves
    assert len(a.vertices) == len(b.vertices)
    for va, vb in zip(a.vertices, b.vertices):
        np.testing.assert_array_equal(va, vb)


class _NoWork:
    """Fails the test if any region is expanded."""

    def __init__(self, monkeypatch):
        import polylens.geometry.expansion as expansion

        def expand(*args, **kwargs):
            raise AssertionError("a region was expanded before the checkpoint path was checked")

        monkeypatch.setattr(expansion, "_expand", expand)


# ----------------------------------------------------------------------------- the path, before any work


def test_checkpoint_in_a_missing_directory_fails_before_any_work(net2d, tmp_path, monkeypatch):
    _NoWork(monkeypatch)
    with pytest.raises(InvalidParameterError, match="`checkpoint`.*does not exist"):
        enumerate_regions(net2d, BOX, progress=False, checkpoint=tmp_path / "missing" / "c.npz")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that permissions bind")
def test_checkpoint_in_a_read_only_directory_fails_before_any_work(net2d, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _NoWork(monkeypatch)
    try:
        with pytest.raises(InvalidParameterError, match="`checkpoint`.*not writable"):
            enumerate_regions(net2d, BOX, progress=False, checkpoint=locked / "c.npz")
    finally:
        locked.chmod(0o700)


def test_checkpoint_naming_a_directory_fails_before_any_work(net2d, tmp_path, monkeypatch):
    _NoWork(monkeypatch)
    with pytest.raises(InvalidParameterError, match="`checkpoint` names the directory"):
        enumerate_regions(net2d, BOX, progress=False, checkpoint=tmp_path)


def test_checkpoint_that_is_no_path_is_refused(net2d):
    with pytest.raises(InvalidParameterError, match="`checkpoint`"):
        enumerate_regions(net2d, BOX, progress=False, checkpoint=3.5)


# ----------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "text", "other npz", "bad shape", "bad piece",
                                    "vertices of a pending region", "unit out of range", "done after pending"])
def test_a_damaged_checkpoint_raises_checkpoint_error_naming_the_file(net2d, partial, damage):
    data = partial.read_bytes()
    if damage == "empty":
        partial.write_bytes(b"")
    elif damage == "truncated":
        partial.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        partial.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "text":
        partial.write_text("not a checkpoint\n")
    elif damage == "other npz":
        with partial.open("wb") as fh:
            np.savez(fh, x=np.arange(3))
    else:  # a valid archive whose arrays do not fit together
        with np.load(partial) as f:
            arrays = dict(f)
        pending = np.flatnonzero(arrays["status"] == 0)
        if damage == "bad shape":
            arrays["points"] = arrays["points"][:-1]
        elif damage == "vertices of a pending region":  # would shift every later region's vertices
            arrays["vertex_owner"] = np.r_[arrays["vertex_owner"], pending[0]]
            arrays["vertex_values"] = np.concatenate([arrays["vertex_values"], np.zeros((1, 2))])
        elif damage == "unit out of range":
            arrays["edge_unit_values"][0] = arrays["codes"].shape[1]
        elif damage == "done after pending":
            arrays["status"][pending[-1]] = 1
        else:  # a ReLU in a piece it does not have
            arrays["codes"][-1, 0] = 2
        with partial.open("wb") as fh:
            np.savez(fh, **arrays)
    named = {"vertices of a pending region": "vertex_owner", "unit out of range": "edge_unit_values",
             "done after pending": "status"}.get(damage, "")
    with pytest.raises(CheckpointError, match=rf"checkpoint '{partial}'.*{named}.*delete it"):
        enumerate_regions(net2d, BOX, progress=False, checkpoint=partial)


@pytest.mark.parametrize("other", ["net", "domain"])
def test_a_checkpoint_of_another_net_or_domain_raises_checkpoint_error(net2d, partial, other):
    net = PWLNet.from_torch(make_mlp(2, [8, 8], out=2, seed=4)) if other == "net" else net2d
    domain = Box(-3, 3) if other == "domain" else BOX
    with pytest.raises(CheckpointError, match=rf"checkpoint '{partial}' belongs to another net"):
        enumerate_regions(net, domain, progress=False, checkpoint=partial)


# ----------------------------------------------------------------------------- atomic writes


def test_a_failed_checkpoint_write_leaves_the_previous_file_and_no_debris(net2d, partial, monkeypatch):
    import polylens.geometry.checkpoint as checkpoint

    before = partial.read_bytes()

    def failing_savez(fh, **arrays):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        enumerate_regions(net2d, BOX, progress=False, max_regions=20, checkpoint=partial)
    assert partial.read_bytes() == before
    assert sorted(p.name for p in partial.parent.iterdir()) == [partial.name]


# ----------------------------------------------------------------------------- SIGINT, SIGTERM


def _in_third_merge(monkeypatch, action) -> dict:
    """Call ``action`` once, when the third merge of the search appends its vertices (its
    regions already marked finished, its crossings recorded); batches of 8 regions.
    Returns the count of merges, and the originals to put back (``merge``, ``append``)."""
    from polylens.geometry import search_state
    from polylens.geometry.search_state import SearchState

    calls = {"n": 0, "armed": False, "merge": SearchState.merge, "append": search_state._Columns.append}

    def counted(self, batch):
        calls["n"] += 1
        calls["armed"] = calls["n"] == 3
        return calls["merge"](self, batch)

    def hooked(self, count):
        if calls["armed"] and "value" in self.spec:
            calls["armed"] = False
            action()
        return calls["append"](self, count)

    monkeypatch.setattr(SearchState, "merge", counted)
    monkeypatch.setattr(search_state._Columns, "append", hooked)
    monkeypatch.setattr("polylens.geometry.enumeration.BATCH_REGIONS", 8)
    return calls


def _unhooked(monkeypatch, calls: dict) -> None:
    from polylens.geometry import search_state
    from polylens.geometry.search_state import SearchState

    monkeypatch.setattr(SearchState, "merge", calls["merge"])
    monkeypatch.setattr(search_state._Columns, "append", calls["append"])


def test_ctrl_c_during_a_merge_waits_for_the_whole_batch_and_the_checkpoint_resumes_identically(
        net2d, full, tmp_path, monkeypatch):
    """A SIGINT that arrives while a batch is merged stops the search after that batch:
    the checkpoint holds no half-merged batch (which would come back as finished regions
    without their vertices, or edges seen three times), so resuming gives the
    uninterrupted result."""
    calls = _in_third_merge(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT))
    path = tmp_path / "int.npz"
    part = enumerate_regions(net2d, BOX, progress=False, checkpoint=path, checkpoint_every=1e9)
    assert part.stop_reason == "interrupted" and 0 < part.n_regions < full.n_regions
    assert calls["n"] == 3
    _unhooked(monkeypatch, calls)
    resumed = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert_identical(resumed, full)


def test_a_merge_without_memory_raises_and_its_checkpoint_resumes_to_the_identical_result(
        net2d, full, tmp_path, monkeypatch):
    """No memory for the third merge's vertices (its regions already marked finished):
    the error reaches the caller, and the checkpoint written on the way out holds the
    state before that batch, so resuming gives the uninterrupted result."""
    def no_memory():
        raise MemoryError

    calls = _in_third_merge(monkeypatch, no_memory)
    path = tmp_path / "oom.npz"
    with pytest.raises(MemoryError):
        enumerate_regions(net2d, BOX, progress=False, checkpoint=path, checkpoint_every=1e9)
    assert calls["n"] == 3 and path.exists()
    _unhooked(monkeypatch, calls)
    resumed = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert_identical(resumed, full)


@pytest.mark.slow
def test_sigterm_in_process_stops_writes_the_checkpoint_and_passes_the_signal_on(net2d, full, tmp_path,
                                                                                    monkeypatch):
    """With a handler of the caller's own installed, SIGTERM mid-run stops the search at
    the next region, writes the checkpoint, then reaches that handler once; the handler
    is back in place afterwards, and the checkpoint resumes to the identical result."""
    received = []

    def mine(signum, frame):
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, mine)

    path = tmp_path / "term.npz"
    try:
        with monkeypatch.context() as patch:
            while_expanding(20, lambda: os.kill(os.getpid(), signal.SIGTERM), patch.setattr)
            part = enumerate_regions(net2d, BOX, progress=False, checkpoint=path, checkpoint_every=1e9)
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is mine  # restored, not polylens's left behind
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert part.stop_reason == "interrupted" and not part.complete
    assert 0 < part.n_regions < full.n_regions
    resumed = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert_identical(resumed, full)


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from polylens import Box, PWLNet, enumerate_regions
    from _hooks import while_expanding
    from _nets import make_mlp

    while_expanding(20, lambda: os.kill(os.getpid(), signal.SIGTERM))  # while the 20th region is expanded
    net = PWLNet.from_torch(make_mlp(2, [8, 8], out=2, seed=3))
    enumerate_regions(net, Box(-2, 2), progress=False, checkpoint=sys.argv[1], checkpoint_every=1e9)
    print("finished", flush=True)
""")


@pytest.mark.slow
def test_sigterm_in_a_subprocess_saves_a_checkpoint_that_resumes_to_the_identical_result(net2d, full, tmp_path):
    """A process killed by SIGTERM mid-run (no periodic checkpoint was due) leaves a
    checkpoint and still dies by SIGTERM; resuming gives exactly the uninterrupted
    enumeration."""
    path = tmp_path / "killed.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    child = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert child.returncode == -signal.SIGTERM, child.stderr
    assert "finished" not in child.stdout and "Traceback" not in child.stderr
    with np.load(path) as saved:
        status = saved["status"]
    # the wave that held the 20th region finished, then it stopped
    assert np.count_nonzero(status == 1) >= 20 and np.any(status == 0)
    resumed = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert resumed.complete
    assert_identical(resumed, full)


# ----------------------------------------------------------------------------- loading cost


def test_loading_a_checkpoint_of_20000_regions_is_fast(tmp_path):
    """Loading is linear in the checkpoint's size: 20,000 regions with 6 vertices each
    load in about half a second of CPU time (the old per-owner vertex scan, quadratic,
    took minutes on a checkpoint of 50,000 regions)."""
    from polylens.geometry.checkpoint import read_checkpoint, write_checkpoint
    from polylens.geometry.search_state import SearchState

    n, k, units, per = 20_000, 2, 64, 6
    rng = np.random.default_rng(0)
    codes = np.unique(rng.integers(0, 2, (n + 100, units), dtype=np.int8), axis=0)[:n]
    arrays = {
        "codes": codes, "status": np.ones(n, np.int8), "points": rng.standard_normal((n, k)),
        "radii": np.ones(n), "bounded": np.ones(n, bool), "n_facets": np.full(n, 4),
        "hints": np.full((n, 2, k), np.nan), "edges": np.stack([np.arange(n - 1), np.arange(1, n)], 1),
        "edge_counts": np.full(n - 1, 2), "edge_unit_lengths": np.ones(n - 1, np.int64),
        "edge_unit_values": np.arange(n - 1) % units, "degenerate": np.array([], dtype=str),
        "vertex_owner": np.repeat(np.arange(n), per), "vertex_values": rng.standard_normal((n * per, k)),
        "map_owner": np.arange(n), "map_values": rng.standard_normal((n, 1, k + 1)),
        "counters": np.array([0.0, 1.0]),
    }
    path = tmp_path / "big.npz"
    write_checkpoint(path, "fp", arrays)
    start = time.process_time()  # CPU time: the test machine may be shared
    loaded = SearchState.from_arrays(read_checkpoint(path, "fp", n_units=units, k=k, n_outputs=1, func="t"), units, k,
                                     1)
    seconds = time.process_time() - start
    assert loaded.n == n and loaded.next == n
    np.testing.assert_array_equal(loaded.region_vertices(np.array([12345]))[0],
                                  arrays["vertex_values"][12345 * per:12346 * per])
    pairs, counts, units_crossed = loaded.edges()
    assert pairs[9].tolist() == [9, 10] and counts[9] == 2 and units_crossed[9] == (9,)
    assert loaded.add(codes[777:778]).tolist() == [777] and loaded.n == n
    assert seconds < 5.0, f"loading 20,000 regions took {seconds:.1f} s of CPU time"
