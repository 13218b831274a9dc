#!/usr/bin/env python
"""Scaling out on Dask: in-process next to a LocalCluster of 1 and of 2 worker processes.

Two workloads, each run in-process (``client=None``) and on a fresh ``LocalCluster``
(processes, one thread per worker, torch at one thread) of 1 and of 2 workers:

* **enumeration** -- every region of a 2-D ReLU MLP (``2-160-160-160-1``, torch default
  init, seed 0) in ``[-1, 1]^2`` (``enumerate_regions(..., client=)``);
* **codes** -- polytope codes of the digits CNN (``zoo.digits_cnn()`` trained 5 epochs)
  over an augmented digits array on disk (``.npy``; shifts, noise, contrast), read by
  the workers themselves (``codes("data.npy", ..., client=, store=)``); once more on 1
  worker with 8 times larger tasks, to show how the driver's cost grows with a task.

The enumeration runs once more on 1 worker with the scheduler in a process of its own
(``dask scheduler`` and ``dask worker``, as on a real cluster): a LocalCluster runs its
scheduler in the driver's process, so only this run's driver CPU is the driver's alone.

For every run: wall time, speed-up over in-process, tasks, mean compute per task (from
Dask's task stream), overhead per task (``(wall - total compute) / tasks`` on one
worker: the time a worker is not computing: scheduling, transfers, the driver's merge
when it is not hidden, the start of the search while the frontier is small), the
driver's CPU time per task and per item (all its threads, and its main thread alone: the
search and its merge), and whether the result is identical to the in-process one.
Then an estimate of throughput on N workers from those per-task costs::

    throughput(N) = items_per_task * min(N / (compute + overhead), 1 / driver_cpu)

(workers in parallel until the driver, which merges every result in order, saturates).

Usage::

    python benchmarks/bench_dask.py           # the full run (in-process enumeration ~30-90 s)
    python benchmarks/bench_dask.py --quick   # small sizes, a smoke run

Workers are started before the clock starts and have imported polylens; the model is sent
to them inside the timed call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
from _common import log, markdown_table

from polylens import Box, PWLNet, enumerate_regions, zoo
from polylens.parallel import WORKER_CONFIG, connect
from polylens.sampling import Codes, codes

N_WORKERS = (1, 2)
ESTIMATE_AT = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class Run:
    """One timed run."""

    label: str
    wall: float
    driver_cpu: float
    main_cpu: float = 0.0  # of the driver's main thread (the search and its merge)
    tasks: int = 0
    compute: float = 0.0  # summed over tasks
    identical: bool | None = None
    workers: int = 0  # 0: in-process


def _task_compute(stream: list[dict], prefix: str) -> tuple[int, float]:
    """Tasks whose key starts with ``prefix`` and their summed compute seconds."""
    tasks = [t for t in stream if str(t["key"]).startswith(prefix)]
    compute = sum(s["stop"] - s["start"] for t in tasks for s in t["startstops"] if s["action"] == "compute")
    return len(tasks), compute


def timed(label: str, call, client=None, prefix: str = "") -> tuple[Run, object]:
    """Run ``call(client)``, timing wall and driver CPU (and, on Dask, the tasks)."""
    cpu0, main0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    if client is None:
        out = call(None)
        return Run(label, time.perf_counter() - t0, time.process_time() - cpu0, time.thread_time() - main0), out
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        out = call(client)
        wall, cpu, main = time.perf_counter() - t0, time.process_time() - cpu0, time.thread_time() - main0
    n, compute = _task_compute(stream.data, prefix)
    return Run(label, wall, cpu, main, n, compute), out


@contextlib.contextmanager
def scheduler_apart(n: int, folder: str):
    """A client of a scheduler and ``n`` one-thread workers started as their own processes
    (``dask scheduler``, ``dask worker``, with :data:`~polylens.parallel.WORKER_CONFIG`),
    as on a real cluster: the driver's CPU then leaves out the scheduler's, which a
    LocalCluster runs in the driver's process."""
    import dask

    # The configuration travels whole (environment variables would lower-case the key
    # MALLOC_TRIM_THRESHOLD_ and leave Dask's default in place).
    with dask.config.set(WORKER_CONFIG):
        inherited = dask.config.serialize(dask.config.global_config)
    env = {**os.environ, "DASK_INTERNAL_INHERIT_CONFIG": inherited, "OMP_NUM_THREADS": "1"}
    file = os.path.join(folder, "scheduler.json")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs = [subprocess.Popen(["dask", "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", file], **quiet)]
    try:
        procs.append(subprocess.Popen(["dask", "worker", "--scheduler-file", file, "--nthreads", "1", "--nworkers",
                                       str(n), "--no-dashboard"], **quiet))
        address = None
        for _ in range(600):  # the scheduler writes the file after creating it
            try:
                with open(file) as f:
                    address = json.load(f)["address"]
                break
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                time.sleep(0.1)
        if address is None:
            raise RuntimeError(f"the scheduler wrote no address to {file} within 60 s")
        with connect(scheduler=address) as client:
            client.wait_for_workers(n, timeout=120)
            yield client
    finally:
        for proc in procs[::-1]:
            proc.terminate()
            proc.wait(timeout=60)


def on_clusters(call, prefix: str, same, sizes=N_WORKERS, note: str = "", apart: str | None = None) -> list[Run]:
    """``call`` on a fresh LocalCluster of every size in ``sizes`` (as ``polylens ... --workers N``
    starts it), or, given a folder ``apart``, on a scheduler and workers of their own
    (:func:`scheduler_apart`); ``note`` ends the labels."""
    runs = []
    for n in sizes:
        with (connect(workers=n) if apart is None else scheduler_apart(n, apart)) as client:
            client.run(torch.set_num_threads, 1)
            client.run(__import__, "polylens.geometry.enumeration")
            run, out = timed(f"Dask, {n} worker{'s' if n > 1 else ''}{note}", call, client, prefix)
            run.workers = n
            run.identical = same(out)
            runs.append(run)
            log(f"{run.label}: {run.wall:.2f} s")
    return runs


# --------------------------------------------------------------------------- workloads


def enumeration_rows(hidden: list[int], folder: str) -> tuple[str, list[Run], float]:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    width = 2
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    net = PWLNet.from_torch(torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).double())
    domain = Box(-1, 1)

    def call(client):
        return enumerate_regions(net, domain, progress=False, client=client)

    here, ref = timed("in-process", call)
    fields = ("codes", "points", "radii", "edges", "out_weight", "out_bias")

    def same(res) -> bool:
        return all(np.array_equal(getattr(res, f), getattr(ref, f)) for f in fields) and res.edge_units == ref.edge_units

    here.identical = True
    runs = [here] + on_clusters(call, "expand_batch", same)
    runs += on_clusters(call, "expand_batch", same, sizes=(1,), note=", scheduler in its own process", apart=folder)
    name = f"enumeration: 2-{'-'.join(map(str, hidden))}-1 in [-1,1]^2, {ref.n_regions} regions"
    return name, runs, float(ref.n_regions)


def augmented_digits(path: str, n: int, seed: int = 0) -> None:
    """``n`` digits (1x8x8, float32 in [0, 1]) written to ``path`` in blocks: random
    shifts of up to one pixel, contrast in [0.7, 1.3], Gaussian noise of 0.05."""
    X, _, _, _ = zoo.digits_data(seed=0)
    X = X.numpy()
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 1, 8, 8))
    block = 65536
    for start in range(0, n, block):
        m = min(block, n - start)
        imgs = X[rng.integers(0, len(X), m)]
        shifts = rng.integers(-1, 2, size=(m, 2))
        for dx, dy in np.unique(shifts, axis=0):
            rows = np.all(shifts == (dx, dy), axis=1)
            imgs[rows] = np.roll(imgs[rows], (int(dx), int(dy)), axis=(2, 3))
        imgs = imgs * rng.uniform(0.7, 1.3, size=(m, 1, 1, 1)) + rng.normal(0, 0.05, size=imgs.shape)
        out[start:start + m] = np.clip(imgs, 0, 1).astype(np.float32)
    out.flush()
    del out


def codes_rows(n: int, folder: str, batch_size: int, batches_per_task: int,
               big_tasks: int) -> tuple[str, list[Run], float]:
    """Codes in-process and on 1 and 2 workers with ``batches_per_task``, then on 1 worker
    with ``big_tasks`` batches per task (how the driver's cost grows with the task)."""
    Xtr, ytr, _, _ = zoo.digits_data(seed=0)
    cnn = zoo.digits_cnn(seed=0)
    zoo.train_classifier(cnn, Xtr, ytr, epochs=5, seed=0)
    cnn.eval()
    data = os.path.join(folder, "digits_aug.npy")
    augmented_digits(data, n)
    stores = iter(os.path.join(folder, f"codes{i}") for i in range(10))

    def call(client, per_task=batches_per_task):
        return codes(cnn, data, batch_size=batch_size, batches_per_task=per_task, progress=False,
                     store=next(stores), client=client)

    here, ref = timed("in-process", call)

    def same(res: Codes) -> bool:
        step = 1 << 18
        return res.layout == ref.layout and len(res) == len(ref) and all(
            np.array_equal(res.packed[i:i + step], ref.packed[i:i + step]) for i in range(0, len(ref), step))

    here.identical = True
    runs = [here] + on_clusters(call, "code_chunk", same)
    runs += on_clusters(lambda client: call(client, big_tasks), "code_chunk", same, sizes=(1,),
                        note=f", {batch_size * big_tasks:,} samples/task")
    name = (f"codes: digits CNN ({ref.n_bits} bits) over {n:,} augmented digits on disk "
            f"(batch {batch_size}, {batch_size * batches_per_task:,} samples per task unless said)")
    return name, runs, float(n)


# --------------------------------------------------------------------------- report


def table(name: str, runs: list[Run], items: float, unit: str) -> list[tuple[str, dict]]:
    """Print the rows of one workload; returns the per-task costs of every 1-worker run."""
    base = runs[0].wall
    headers = ["run", "wall s", "speed-up vs in-process", f"{unit}/s", "tasks", "mean compute/task s",
               "overhead/task s", "driver CPU/task s", f"driver CPU us/{unit[:-1]}, all threads (main thread)", "identical"]
    cells = []
    for r in runs:
        if r.tasks:
            per_task = [f"{r.tasks}", f"{r.compute / r.tasks:.4f}",
                        f"{(r.wall - r.compute) / r.tasks:.4f}" if r.workers == 1 else "—",
                        f"{r.driver_cpu / r.tasks:.4f}",
                        f"{1e6 * r.driver_cpu / items:.1f} ({1e6 * r.main_cpu / items:.1f})"]
        else:
            per_task = ["—", "—", "—", "—", "—"]
        cells.append([r.label, f"{r.wall:.2f}", f"{base / r.wall:.2f}x", f"{items / r.wall:,.0f}", *per_task,
                      "yes" if r.identical else "NO"])
    print(f"\n### {name}\n")
    print(markdown_table(headers, cells))
    return [(r.label, {"compute": r.compute / r.tasks, "overhead": (r.wall - r.compute) / r.tasks,
                       "driver": r.driver_cpu / r.tasks, "per_task": items / r.tasks})
            for r in runs if r.workers == 1]


def estimate(name: str, costs: list[tuple[str, dict]], unit: str) -> None:
    """Print the estimated throughput on N workers from each 1-worker run's per-task costs."""
    headers = ["from", f"{unit}/task", "compute s", "overhead s", "driver s", "N*", *(f"N = {n}" for n in ESTIMATE_AT)]
    cells = []
    for label, cost in costs:
        worker = cost["compute"] + cost["overhead"]
        rates = [cost["per_task"] * min(n / worker, 1 / cost["driver"]) for n in ESTIMATE_AT]
        cells.append([label, f"{cost['per_task']:,.0f}", f"{cost['compute']:.4f}", f"{cost['overhead']:.4f}",
                      f"{cost['driver']:.4f}", f"{worker / cost['driver']:.0f}", *(f"{r:,.0f}" for r in rates)])
    print(f"\nEstimated {unit}/s on N workers for {name.split(':')[0]}, from the per-task costs of a 1-worker run "
          "(compute and overhead on a worker, driver CPU; the driver saturates at N*):\n")
    print(markdown_table(headers, cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--samples", type=int, default=None, help="samples in the codes data set (default 1,000,000)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    hidden = [32, 32, 32] if args.quick else [160, 160, 160]
    n = args.samples or (50_000 if args.quick else 1_000_000)
    print(f"# polylens on Dask ({platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__})")
    print(f"load before: {os.getloadavg()}")
    folder = tempfile.mkdtemp(prefix="polylens-bench-dask-")
    try:
        t0 = time.perf_counter()
        name, runs, items = enumeration_rows(hidden, folder)
        estimate(name, table(name, runs, items, "regions"), "regions")
        name, runs, items = codes_rows(n, folder, batch_size=256, batches_per_task=16, big_tasks=128)
        estimate(name, table(name, runs, items, "samples"), "samples")
        print(f"\ntotal {time.perf_counter() - t0:.0f} s; load after: {os.getloadavg()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
