"""Running polylens's tasks on a Dask cluster (optional: ``pip install polylens[dask]``).

The sampling and enumeration functions split their work into pure tasks, functions of
a shared object (the model, or the net and its domain) and one item (a chunk of inputs,
a batch of region codes). Run in-process, the caller simply calls the task on every
item; given a ``dask.distributed.Client``, it hands them to a :class:`TaskQueue`:

* the shared object is sent once, as the result of a task of its own that every task
  depends on: each worker fetches and deserialises it (so loads the model) once, and
  since it has a recipe, a worker lost with the only copy costs a recomputation, not the
  run (scattered data would be lost for good);
* at most :attr:`TaskQueue.capacity` tasks are in flight, and results come back in
  submission order, so the caller merges them exactly as the in-process loop would;
* a worker lost mid-run costs nothing but time: the scheduler reruns its tasks
  elsewhere (up to Dask's ``distributed.scheduler.allowed-failures`` lost workers per
  task), and a task that raises is retried :data:`RETRIES` times;
* a task that still fails raises :class:`TaskError`, naming the input chunk or region
  that caused it, with the task's own exception chained.

Dask is imported lazily: polylens imports and runs without it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from polylens.errors import InvalidParameterError, TaskError

__all__ = ["TaskQueue", "check_client", "connect", "locate", "map_ordered", "RETRIES", "WORKER_CONFIG"]

#: Times a task that raised is rerun before its error reaches the caller (a lost worker
#: is handled by the scheduler, not counted here).
RETRIES = 2

_INSTALL = "pip install 'polylens[dask]'"

#: Dask settings for the worker processes that :func:`connect` starts (set them in the
#: Dask configuration of a cluster of your own). Two of Dask's defaults made the
#: digits CNN's codes tasks twice as slow on a worker (``benchmarks/bench_dask.py``):
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off glibc's adaptive mmap
#: threshold, so torch's large buffers are mapped and unmapped again at every
#: operation, and the statistical profiler, which samples every thread's stack every
#: 10 ms.
WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}


def locate(err: BaseException, where: str) -> None:
    """Record on ``err`` the input its task was working on, in place.

    Adds a note (shown in tracebacks, also in-process) and an attribute that travels
    with the exception from a worker to the driver; the innermost call wins.

    Raises
    ------
    None of its own
    """
    if getattr(err, "polylens_where", None) is None:
        err.polylens_where = where
        err.add_note(f"polylens: raised while working on {where}")


def check_client(client: Any, func: str) -> None:
    """Validate a ``client`` argument: a ``dask.distributed.Client``.

    Raises
    ------
    ImportError
        If Dask is not installed (the message says how to install it).
    TypeError
        If ``client`` is something else.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(f"{func}: `client` needs Dask, which is not installed; {_INSTALL}") from None
    if not isinstance(client, Client):
        raise TypeError(
            f"{func}: `client` must be a dask.distributed.Client or None; got {type(client).__name__}"
        )


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client for the scheduler at ``scheduler``, or for a local cluster of
    ``workers`` processes (one thread each, :data:`WORKER_CONFIG`) started here and
    closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Scheduler address, e.g. ``"tcp://10.0.0.5:8786"``.
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes instead.

    Raises
    ------
    InvalidParameterError
        If both or neither are given, or ``workers`` is not a positive int.
    ImportError
        If Dask is not installed (the message says how to install it).
    OSError
        If the scheduler cannot be reached (Dask's own error).
    """
    from polylens._validation import check_int

    if (scheduler is None) == (workers is None):
        raise InvalidParameterError(f"connect: give exactly one of `scheduler` and `workers`; got {scheduler!r}, "
                                    f"{workers!r}")
    check_int(workers, func="connect", name="workers", low=1, none_ok=True)
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(f"a Dask scheduler or workers were asked for, but Dask is not installed; {_INSTALL}") from None
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set(WORKER_CONFIG), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


class TaskQueue:
    """Tasks on a Dask client; results are taken back in submission order.

    Parameters
    ----------
    client : dask.distributed.Client
    func : str
        The public function running the tasks (for error messages).
    shared : object
        Sent once (see the module's notes) and passed as the first argument of every task.

    Attributes
    ----------
    threads : int
        Worker threads of the cluster when the queue was made (at least 1).
    capacity : int
        Tasks to keep in flight: ``2 * threads``, so a worker never waits while the
        driver merges a result.
    """

    def __init__(self, client: Any, func: str, shared: Any):
        self.client = client
        self.func = func
        import dask

        # Sent once on purpose: the threshold of Dask's warning about large graphs is for
        # data repeated in many tasks.
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 TiB"}):
            self.shared = client.submit(_held, shared, pure=False)
        self.threads = max(1, sum(client.nthreads().values()))
        self.capacity = 2 * self.threads
        self._pending: deque = deque()

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.capacity

    def submit(self, task: Callable, item: Any, where: str) -> None:
        """Run ``task(shared, item)`` on a worker; ``where`` names the item in errors.

        Raises
        ------
        None of its own
            A failure of the task is raised by :meth:`take`; the Dask client's own
            errors propagate (``distributed.client.ClosedClientError`` once it is closed).
        """
        future = self.client.submit(task, self.shared, item, retries=RETRIES, pure=False)
        self._pending.append((future, where))

    def take(self) -> Any:
        """The result of the oldest task (waits for it).

        Raises
        ------
        TaskError
            If that task failed (after its retries) or lost too many workers; every
            other task is cancelled.
        """
        future, where = self._pending.popleft()
        try:
            return future.result()
        except Exception as err:
            self.cancel()
            where = getattr(err, "polylens_where", None) or where
            raise TaskError(f"{self.func}: the task on {where} failed: {type(err).__name__}: {err}", where) from err

    def cancel(self) -> None:
        """Cancel every task in flight.

        Raises
        ------
        None of its own
            The Dask client's own errors propagate (``ClosedClientError`` once it is
            closed, if tasks are in flight).
        """
        if self._pending:
            self.client.cancel([future for future, _ in self._pending])
            self._pending.clear()

    def close(self) -> None:
        """Cancel every task in flight and release the shared object.

        Raises
        ------
        None of its own
            The Dask client's own errors propagate (``ClosedClientError`` once it is
            closed).
        """
        self.cancel()
        self.client.cancel(self.shared)

    def __enter__(self) -> "TaskQueue":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def map_ordered(task: Callable, shared: Any, items: Iterable, describe: Callable[[Any], str],
                client: Any = None, func: str = "polylens") -> Iterator[Any]:
    """``task(shared, item)`` for every item, in order: in-process when ``client`` is
    None, else on the cluster with a bounded number of tasks in flight.

    ``describe(item)`` names an item in errors (see :func:`locate`); ``items`` is
    consumed lazily, a window ahead of the results.

    Raises
    ------
    TaskError
        On a cluster, if a task failed after its retries (see :meth:`TaskQueue.take`);
        in-process, the task's own exception propagates.
    """
    if client is None:
        for item in items:
            yield task(shared, item)
        return
    with TaskQueue(client, func, shared) as queue:
        items = iter(items)
        exhausted = False
        while True:
            while not exhausted and not queue.full:
                item = next(items, _END)
                exhausted = item is _END
                if not exhausted:
                    queue.submit(task, item, describe(item))
            if not queue:
                return
            yield queue.take()


_END = object()


def _held(shared: Any) -> Any:
    """The shared object, as the result of a task (see :class:`TaskQueue`)."""
    return shared
