"""Enumeration of every region of a net inside a convex domain (or all of R^k).

Breadth-first search over facets from a seed point: a region's neighbours are found by
crossing each of its inner facets (see :func:`polylens.geometry.region.crossed_codes`).
The search is complete because the facet-adjacency graph of the partition of a convex
set is connected; over all of R^k the same search runs with unbounded regions allowed
(every LP and hull step copes with unboundedness, so no region is missed however far
out it lies).

A budget (``max_regions``), Ctrl-C or SIGTERM stops the search cleanly with a partial
result; a checkpoint file (which records every finished region and the frontier; format
in :mod:`polylens.geometry.checkpoint`) lets a later call resume without repeating work.

Expanding a region is a pure task, :func:`~polylens.geometry.expansion.expand_batch_packed`
(the search's :class:`~polylens.geometry.expansion.SearchSpec` and a batch of codes ->
their expansions, :class:`~polylens.geometry.packed_expansions.PackedExpansions`). The driver merges
expansions strictly in frontier order, so the result does not depend on where the tasks
ran: in-process, a wave of the frontier (up to :data:`BATCH_REGIONS` pending regions,
in frontier order) per task, or on a Dask cluster (``client=``), in batches across
workers (see :mod:`polylens.parallel`). A wave's regions are expanded independently
(each depends only on its code and hint, fixed when it joined the frontier), so the
result is the one a search that expands and merges one region at a time gives, bit
for bit; the driver holds the search's state in arrays
(:mod:`polylens.geometry.search_state`: little more than the result) and one wave's
expansions.
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from polylens import tolerances as tol
from polylens._repr import short_repr
from polylens._validation import check_bool, check_int, check_number, check_option, invalid
from polylens.errors import InfeasibleRegionError
from polylens.geometry.checkpoint import check_checkpoint_path, read_checkpoint, write_checkpoint
from polylens.geometry.domain import as_domain
from polylens.geometry.expansion import PackedExpansions, SearchSpec, expand_batch_packed
from polylens.geometry.facet_finding import METHODS
from polylens.geometry.region import Region, build_region
from polylens.geometry.search_state import DONE, PENDING, SearchState
from polylens.geometry.space import Space
from polylens.models.predict import predicted_class
from polylens.models.pwlnet import PWLNet
from polylens.parallel import TaskQueue, check_client
from polylens.solvers import BACKENDS

__all__ = ["enumerate_regions", "EnumerationResult"]


#: Most regions in one task on a Dask cluster, and in one wave expanded in-process.
BATCH_REGIONS = 256

#: Fewest regions in one task on a Dask cluster, unless no task is in flight: a task
#: costs the driver and scheduler a few milliseconds whatever its size.
MIN_BATCH_REGIONS = 32


@short_repr
@dataclass(eq=False)
class EnumerationResult:
    """Every region found by :func:`enumerate_regions` (arrays indexed by region).

    Attributes
    ----------
    codes : ndarray of shape (n_regions, n_units), int8
    points : ndarray of shape (n_regions, k)
        Chebyshev centre of each region (an interior point).
    radii : ndarray of shape (n_regions,)
        Chebyshev radius (capped for unbounded regions, see ``tolerances.RADIUS_CAP``).
    bounded : ndarray of shape (n_regions,), bool
    n_facets : ndarray of shape (n_regions,), int
    edges : ndarray of shape (n_edges, 2), int
        Pairs of adjacent regions (sharing a facet), ``edges[:, 0] < edges[:, 1]``.
    edge_units : list of tuple of int
        The unit(s) crossed on each edge.
    complete : bool
        False when a budget or an interruption stopped the search; see ``stop_reason``.
    stop_reason : str
        ``"complete"``, ``"max_regions"`` or ``"interrupted"``.
    frontier : ndarray of shape (n_pending, n_units), int8
        Codes found but not yet expanded (empty when complete).
    lp_solves : int
    seconds : float
        Wall time of the search (summed over resumed runs).
    degenerate : list of str
        Degenerate configurations met (an empty region across a facet, a one-sided
        adjacency); never silently dropped.
    vertices : list of ndarray
        Finite vertices of each region, shape (n_i, k), where the hull method ran; in a
        plane counter-clockwise around the region's point (see
        :func:`~polylens.geometry.region.in_order`)
        (``k <= 6``); empty arrays otherwise.
    out_weight : ndarray of shape (n_regions, n_outputs, k)
    out_bias : ndarray of shape (n_regions, n_outputs)
        The affine map the network applies on each region.
    space : Space
    """

    codes: np.ndarray
    points: np.ndarray
    radii: np.ndarray
    bounded: np.ndarray
    n_facets: np.ndarray
    edges: np.ndarray
    edge_units: list
    complete: bool
    stop_reason: str
    frontier: np.ndarray
    lp_solves: int
    seconds: float
    degenerate: list
    vertices: list = field(repr=False)
    out_weight: np.ndarray = field(repr=False)
    out_bias: np.ndarray = field(repr=False)
    space: Space = field(repr=False)

    @property
    def n_regions(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_unbounded(self) -> int:
        return int(np.count_nonzero(~self.bounded))

    @property
    def net(self) -> PWLNet:
        return self.space.net

    def outputs(self) -> np.ndarray:
        """Network output at every region's interior point, shape (n_regions, n_outputs).

        Raises
        ------
        None of its own
        """
        return np.einsum("nok,nk->no", self.out_weight, self.points) + self.out_bias

    def predicted_class(self) -> np.ndarray:
        """Class at each interior point: arg-max of the outputs, or ``output > 0`` for a
        single output (a binary logit). Shape (n_regions,), int.

        Raises
        ------
        None of its own
        """
        out = self.outputs()
        return predicted_class(out)

    def region(self, i: int) -> Region:
        """The full :class:`Region` of region ``i`` (rebuilt from its code).

        Raises
        ------
        IndexError
            If ``i`` is not the index of a region of the result.
        SolverError
            If an LP of the rebuild fails.
        """
        return build_region(self.space, self.codes[i])

    def check(self) -> None:
        """Re-verify the result from the net: every interior point has its region's code
        and output, edges join distinct regions whose codes differ exactly in the units
        crossed, and with a bounded domain in low dimension the volumes add up to the
        domain's (see :mod:`polylens.geometry.invariants`).

        Raises
        ------
        InvariantError
            Naming the first violation.
        """
        from polylens.geometry.invariants import check_enumeration

        check_enumeration(self)

    def summary(self) -> dict:
        """JSON-ready counts and timings.

        Raises
        ------
        None of its own
        """
        return {
            "regions": self.n_regions,
            "unbounded": self.n_unbounded,
            "edges": int(self.edges.shape[0]),
            "complete": self.complete,
            "stop_reason": self.stop_reason,
            "frontier": int(self.frontier.shape[0]),
            "lp_solves": int(self.lp_solves),
            "seconds": round(float(self.seconds), 6),
            "degenerate": len(self.degenerate),
        }


def enumerate_regions(
    net: PWLNet,
    domain=None,
    *,
    max_regions: int | None = None,
    progress: bool = True,
    seed=None,
    origin=None,
    basis=None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: float = 30.0,
    solver: str = "highs",
    method: str = "auto",
    client=None,
) -> EnumerationResult:
    """Find every region of ``net`` inside ``domain`` (or all of R^d), with adjacency.

    Parameters
    ----------
    net : PWLNet
    domain : Box, Polyhedron, (lo, hi) or None, default=None
        Convex domain (in subspace coordinates when ``basis`` is given); ``None`` is the
        whole space (unbounded regions are found and flagged); a pair ``(lo, hi)`` is
        ``Box(lo, hi)``.
    max_regions : int, optional
        Stop after expanding this many regions; the result is then partial
        (``complete=False``, ``stop_reason="max_regions"``) and can be resumed from
        ``checkpoint``.
    progress : bool, default=True
        Show a progress bar.
    seed : array-like, optional
        Start point (default: the domain's Chebyshev centre, or 0 for the whole space).
    origin, basis : array-like, optional
        Enumerate on the subspace ``x = origin + basis @ t`` (``basis`` of shape
        (input_dim, k)), e.g. a 2-D slice through a CNN's input space; see
        :func:`polylens.region_at`.
    checkpoint : path, optional
        ``.npz`` file. If it exists, the search resumes from it (it must come from the same
        net and domain); the state (every finished region and the frontier) is written
        there (atomically: an interrupted write leaves the previous file) every
        ``checkpoint_every`` seconds, at a budget stop, on Ctrl-C or SIGTERM, when a task
        fails and on completion. The path is checked before any work starts. On SIGTERM
        (in the main thread) the search stops at the next region (with waves,
        once the wave being expanded is done: milliseconds), writes the checkpoint, and
        then passes the signal on to the handler that was installed before (by
        default the process ends as SIGTERM would end it).
    checkpoint_every : float, default=30.0
        Seconds between checkpoint writes.
    solver : str, default="highs"
        LP back end.
    method : {"auto", "hull", "lp"}, default="auto"
        Facet method (see :func:`polylens.facets`).
    client : dask.distributed.Client, optional
        Expand the frontier in batches on this Dask cluster (``pip install
        polylens[dask]``); the result is identical to the in-process one (same regions,
        order and graph). A lost worker's tasks are rerun; a failing region raises
        :class:`polylens.errors.TaskError` naming it.

    Returns
    -------
    EnumerationResult

    Raises
    ------
    InvalidParameterError
        If an argument is invalid, or ``checkpoint`` names a directory or a file whose
        directory is missing or not writable.
    CheckpointError
        If ``checkpoint`` exists but cannot be resumed from (empty, truncated, corrupt,
        or from another net, domain or subspace).
    InfeasibleRegionError
        If no region with an interior lies near the seed point.
    TaskError
        If a task failed on the Dask cluster.

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet, Box, enumerate_regions
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()))
    >>> res = enumerate_regions(net, None, progress=False)
    >>> res.n_regions, res.complete   # 3 lines in general position cut the plane in 7
    (7, True)
    """
    func = "enumerate_regions"
    if not isinstance(net, PWLNet):
        raise invalid(func, "net", "a PWLNet (see PWLNet.from_torch)", net)
    domain = as_domain(domain, func=func)
    max_regions = check_int(max_regions, func=func, name="max_regions", low=0, none_ok=True)
    progress = check_bool(progress, func=func, name="progress")
    checkpoint_every = check_number(checkpoint_every, func=func, name="checkpoint_every", low=0)
    solver = check_option(solver, BACKENDS, func=func, name="solver")
    method = check_option(method, METHODS, func=func, name="method")
    path = None if checkpoint is None else check_checkpoint_path(checkpoint, func=func)
    if client is not None:
        check_client(client, func)
    spec = SearchSpec(net, domain, origin, basis, solver, method)
    space = spec.space
    fingerprint = _fingerprint(space)
    if path is not None and path.exists():
        arrays = read_checkpoint(path, fingerprint, n_units=net.n_units, k=space.dim, n_outputs=net.output_dim,
                                 func=func, n_pieces=np.repeat([a.n_pieces for a in net.activations],
                                                               net.layer_sizes))
        search = SearchState.from_arrays(arrays, net.n_units, space.dim, net.output_dim)
    else:
        search = SearchState(net.n_units, space.dim, net.output_dim)
        search.add(_seed_code(space, seed)[None])
        search.lp_solves += space.lp_solves
    expander = _Here(spec, max_regions) if client is None else _OnCluster(client, spec, max_regions)
    return _run(search, space, expander, max_regions, progress, path, fingerprint, checkpoint_every)


class _Here:
    """Expands the next wave of the frontier in-process: every pending region up to
    :data:`BATCH_REGIONS` (with a budget, no more than it may still need), in frontier
    order, in one task."""

    def __init__(self, spec: SearchSpec, max_regions: int | None):
        self.spec = spec
        self.max_regions = max_regions

    def next(self, search: SearchState, done: int, stop: Callable[[], bool]) -> PackedExpansions:
        """The next wave's expansions; once ``stop()`` is true, only those expanded so far
        (so a SIGTERM stops the search at the next region, or the end of a
        batched wave)."""
        start = search.next
        end = min(_frontier_end(search, done, self.max_regions), start + BATCH_REGIONS)
        rows = range(start, end)
        return expand_batch_packed(self.spec, (rows, search.regions["codes"][start:end],
                                               search.regions["hints"][start:end]), stop)

    def close(self) -> None:
        pass


def _frontier_end(search: SearchState, done: int, max_regions: int | None) -> int:
    """End of the frontier that may be expanded now: all of it, or with a budget, no more
    regions than the budget may still need (every one of them may finish)."""
    end = search.n
    return end if max_regions is None else min(end, search.next + max_regions - done)


class _OnCluster:
    """Expands the frontier in batches on a Dask cluster and hands the batches back in
    frontier order (the order :class:`_Here` produces them)."""

    def __init__(self, client: Any, spec: SearchSpec, max_regions: int | None):
        self.queue = TaskQueue(client, "enumerate_regions", spec)
        self.max_regions = max_regions
        self.submitted = None  # regions before this index are in flight or merged

    def next(self, search: SearchState, done: int, stop: Callable[[], bool]) -> PackedExpansions:
        """The oldest batch in flight (``stop`` is read between batches, by the caller)."""
        if self.submitted is None:
            self.submitted = search.next
        self._fill(search, done)
        return self.queue.take()

    def _fill(self, search: SearchState, done: int) -> None:
        """Submit batches of the unsubmitted frontier while there is room, spread over the
        workers; a small one only when nothing else is in flight; with a budget, no more
        regions than it may still need."""
        end = _frontier_end(search, done, self.max_regions)
        while self.submitted < end and not self.queue.full:
            available = end - self.submitted
            size = min(available, BATCH_REGIONS, max(MIN_BATCH_REGIONS, math.ceil(available / self.queue.threads)))
            if size < MIN_BATCH_REGIONS and self.queue:
                break
            rows = range(self.submitted, self.submitted + size)
            batch = (np.arange(rows.start, rows.stop), search.regions["codes"][rows].copy(),
                     search.regions["hints"][rows].copy())
            self.queue.submit(expand_batch_packed, batch, f"regions {rows.start}-{rows.stop - 1}")
            self.submitted += size

    def close(self) -> None:
        self.queue.close()


def _fingerprint(space: Space) -> str:
    digest = hashlib.sha256(space.net.fingerprint().encode())
    for arr in (space.domain_A, space.domain_b, space.x0, np.zeros(0) if space.U is None else space.U):
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _seed_code(space: Space, seed) -> np.ndarray:
    net = space.net
    t = space.seed_point() if seed is None else space.check_point(seed, "enumerate_regions", "seed")
    rng = np.random.default_rng(0)
    for attempt in range(16):
        jitter = tol.SEED_JITTER * max(float(np.max(np.abs(t), initial=0.0)), space.length)
        probe = t if attempt == 0 else t + rng.standard_normal(t.shape) * jitter
        code = net.codes(space.to_input(probe))[0]
        h = space.hrep(code)
        try:
            space.chebyshev(h.A, h.b)
            return code
        except InfeasibleRegionError:
            continue
    raise InfeasibleRegionError("no region with an interior found near the seed point")


def _run(search: SearchState, space: Space, expander: _Here | _OnCluster, max_regions, progress, path, fingerprint,
         checkpoint_every) -> EnumerationResult:
    start = time.perf_counter()
    last_save = start
    stop_reason = "complete"
    bar = tqdm(total=None, disable=not progress, unit="region", desc="regions", mininterval=0.5)
    done = int(np.count_nonzero(search.regions["status"] == DONE))
    bar.update(done)

    def save() -> None:
        if path is not None:
            write_checkpoint(path, fingerprint, search.to_arrays())

    terminated = _TermSignal()
    with terminated:  # through the final save: a SIGTERM then waits for the checkpoint
        try:
            while search.next < search.n:
                if max_regions is not None and done >= max_regions:
                    stop_reason = "max_regions"
                    break
                if terminated.received:
                    stop_reason = "interrupted"
                    break
                batch = expander.next(search, done, lambda: terminated.received)
                with _SigintHeld():  # a batch is merged whole, or not at all
                    finished = search.merge(batch)
                    search.next += batch.index.shape[0]
                del batch  # not held while the next is made
                done += finished
                bar.update(finished)
                if path is not None and time.perf_counter() - last_save > checkpoint_every:
                    search.seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    save()
                    last_save = time.perf_counter()
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        finally:
            bar.close()
            search.seconds += time.perf_counter() - start
            try:
                save()
            finally:
                expander.close()
    terminated.pass_on()
    return _result(search, space, stop_reason)


class _SigintHeld:
    """While active (in the main thread, where SIGINT raises KeyboardInterrupt), a SIGINT
    waits for the block to end and raises KeyboardInterrupt then, so the merge of a
    batch is never left half done (its regions finished but not its crossings, or the
    other way round) in the checkpoint written on the way out."""

    def __init__(self):
        self._received = False
        self._previous = None

    def __enter__(self) -> "_SigintHeld":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self._received = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if self._received and exc_type is None:
            raise KeyboardInterrupt


class _TermSignal:
    """While active (a context manager, in the main thread only), SIGTERM stops the
    search at the next region instead of killing the process at once, so the checkpoint
    is written; :meth:`pass_on` then delivers the signal to the handler that was there
    before (by default: the process ends, killed by SIGTERM)."""

    def __init__(self):
        self.received = False
        self._previous = None
        self._active = False

    def __enter__(self) -> "_TermSignal":
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
            return self
        previous = signal.getsignal(signal.SIGTERM)
        # An ignored SIGTERM stays ignored; a handler set outside Python (None) could not
        # be put back.
        if previous is not None and previous is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._active = True
        return self

    def _handle(self, signum, frame) -> None:
        self.received = True

    def __exit__(self, *exc) -> None:
        if self._active:
            signal.signal(signal.SIGTERM, self._previous)
            self._active = False

    def pass_on(self) -> None:
        """Deliver a SIGTERM received while active to the previous handler."""
        if self.received:
            signal.raise_signal(signal.SIGTERM)


def _result(search: SearchState, space: Space, stop_reason: str) -> EnumerationResult:
    """The result of a search; where every region found so far is expanded, its arrays
    are views of the search's (no copy), the rest of the search's state given back
    first (:meth:`SearchState.finish`)."""
    done = np.flatnonzero(search.regions["status"] == DONE)  # no view held: finish() resizes the columns
    every = done.size == search.n
    if every:
        done = None  # every region: no list of them held while the result is made
    vertices, pairs, counts, units = search.finish(done)
    r = search.regions

    def take(name: str) -> np.ndarray:
        return r[name] if every else r[name][done]

    if not every:
        remap = np.full(search.n, -1)
        remap[done] = np.arange(done.size)
        pairs = remap[pairs]  # remap keeps the order: a < b
        keep = np.all(pairs >= 0, axis=1)
        pairs, counts = pairs[keep], counts[keep]
        units = [u for u, kept in zip(units, keep.tolist()) if kept]
    degenerate = list(search.degenerate) + [
        f"adjacency between regions {x} and {y} was seen from one side only" for x, y in pairs[counts != 2].tolist()]
    maps = take("maps")
    return EnumerationResult(
        codes=take("codes"),
        points=take("points"),
        radii=take("radii"),
        bounded=take("bounded"),
        n_facets=take("n_facets"),
        edges=pairs,
        edge_units=units,
        complete=stop_reason == "complete",
        stop_reason=stop_reason,
        frontier=r["codes"][r["status"] == PENDING],
        lp_solves=search.lp_solves,
        seconds=search.seconds,
        degenerate=degenerate,
        vertices=vertices,
        out_weight=maps[:, :, 1:],
        out_bias=maps[:, :, 0],
        space=space,
    )
