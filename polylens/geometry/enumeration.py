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

Expanding a region is a pure task, :func:`~polylens.geometry.expansion.expand_batch`
(the search's :class:`~polylens.geometry.expansion.SearchSpec` and a batch of codes ->
one :class:`~polylens.geometry.expansion.Expansion` per code). The driver merges
expansions strictly in frontier order, so the result does not depend on where the tasks
ran: in-process, a wave of the frontier (up to :data:`BATCH_REGIONS` pending regions,
in frontier order) per task, or on a Dask cluster (``client=``), in batches across
workers (see :mod:`polylens.parallel`). A wave's regions are expanded independently
(each depends only on its code and hint, fixed when it joined the frontier), so the
result is the one a search that expands and merges one region at a time gives, bit
for bit; the driver holds the result and one wave's expansions.
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
from polylens.geometry.space import Space
from polylens.models.predict import predicted_class
from polylens.models.pwlnet import PWLNet
from polylens.parallel import TaskQueue, check_client
from polylens.solvers import BACKENDS

__all__ = ["enumerate_regions", "EnumerationResult"]

_PENDING, _DONE, _EMPTY = 0, 1, 2

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


class _Search:
    """Mutable state of one search; saved to and restored from a checkpoint (see
    :mod:`polylens.geometry.checkpoint`)."""

    def __init__(self, n_units: int, k: int, n_outputs: int):
        self.codes: list[np.ndarray] = []
        self.index: dict[bytes, int] = {}
        self.status: list[int] = []
        self.points: list[np.ndarray] = []
        self.radii: list[float] = []
        self.bounded: list[bool] = []
        self.n_facets: list[int] = []
        self.hints: list[np.ndarray] = []
        self.vertices: dict[int, np.ndarray] = {}
        self.maps: dict[int, np.ndarray] = {}  # region -> [out_bias | out_weight], shape (n_out, 1 + k)
        self.edges: dict[tuple[int, int], list] = {}
        self.degenerate: list[str] = []
        self.lp_solves = 0
        self.seconds = 0.0
        self.next = 0
        self.k = k
        self.n_units = n_units
        self.n_outputs = n_outputs
        self._no_point = np.full(k, np.nan)  # placeholder of a pending region (never written into)
        self._no_point.flags.writeable = False

    def add(self, code: np.ndarray, hint: np.ndarray | None = None) -> int:
        """Index of ``code``, appended (with its hint, shape (2, k)) if new."""
        key = code.tobytes()
        j = self.index.get(key)
        if j is None:
            j = len(self.codes)
            self.index[key] = j
            self.codes.append(code)
            self.hints.append(np.full((2, self.k), np.nan) if hint is None else np.array(hint))
            self.status.append(_PENDING)
            self.points.append(self._no_point)
            self.radii.append(np.nan)
            self.bounded.append(False)
            self.n_facets.append(0)
        return j

    # ---------------------------------------------------------------- checkpoints
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as the arrays of a checkpoint (:data:`~polylens.geometry.checkpoint.LAYOUT`)."""
        keys = list(self.edges)
        units = [self.edges[e][0] for e in keys]
        return {
            "codes": np.array(self.codes, dtype=np.int8).reshape(len(self.codes), self.n_units),
            "status": np.array(self.status, dtype=np.int8),
            "points": np.array(self.points).reshape(-1, self.k),
            "radii": np.array(self.radii),
            "bounded": np.array(self.bounded, dtype=bool),
            "n_facets": np.array(self.n_facets, dtype=np.int64),
            "hints": np.array(self.hints).reshape(-1, 2, self.k),
            "edges": np.array(keys, dtype=np.int64).reshape(-1, 2),
            "edge_counts": np.array([self.edges[e][1] for e in keys], dtype=np.int64),
            "edge_unit_lengths": np.array([len(u) for u in units], dtype=np.int64),
            "edge_unit_values": np.array([v for u in units for v in u], dtype=np.int64),
            "degenerate": np.array(self.degenerate, dtype=str),
            "vertex_owner": np.repeat(np.array(list(self.vertices), dtype=np.int64),
                                      [v.shape[0] for v in self.vertices.values()]),
            "vertex_values": np.concatenate([np.zeros((0, self.k)), *self.vertices.values()]),
            "map_owner": np.array(list(self.maps), dtype=np.int64),
            "map_values": np.array(list(self.maps.values())).reshape(len(self.maps), self.n_outputs, self.k + 1),
            "counters": np.array([self.lp_solves, self.seconds]),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], n_units: int, k: int, n_outputs: int) -> "_Search":
        """The state saved by :meth:`to_arrays` (validated by
        :func:`~polylens.geometry.checkpoint.read_checkpoint`); linear in its size."""
        s = cls(n_units, k, n_outputs)
        codes = data["codes"]
        s.codes = list(codes)
        s.index = dict(zip(map(bytes, codes), range(codes.shape[0])))
        s.hints = list(data["hints"])
        s.status = data["status"].tolist()
        s.points = list(data["points"])
        s.radii = data["radii"].tolist()
        s.bounded = data["bounded"].tolist()
        s.n_facets = data["n_facets"].tolist()
        values = data["edge_unit_values"].tolist()
        ends = np.cumsum(data["edge_unit_lengths"]).tolist()
        starts = [0, *ends[:-1]]
        s.edges = {(a, b): [tuple(values[lo:hi]), count] for (a, b), lo, hi, count in zip(
            data["edges"].tolist(), starts, ends, data["edge_counts"].tolist())}
        s.degenerate = data["degenerate"].tolist()
        owners, vertices = data["vertex_owner"], data["vertex_values"]
        if owners.size:
            starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            ends = np.r_[starts[1:], owners.size]
            s.vertices = {owner: vertices[lo:hi] for owner, lo, hi in zip(
                owners[starts].tolist(), starts.tolist(), ends.tolist())}
        s.maps = dict(zip(data["map_owner"].tolist(), data["map_values"]))
        s.lp_solves, s.seconds = int(data["counters"][0]), float(data["counters"][1])
        pending = np.flatnonzero(data["status"] == _PENDING)
        s.next = int(pending[0]) if pending.size else len(s.status)
        return s


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
                                 func=func)
        search = _Search.from_arrays(arrays, net.n_units, space.dim, net.output_dim)
    else:
        search = _Search(net.n_units, space.dim, net.output_dim)
        search.add(_seed_code(space, seed))
        search.lp_solves += space.lp_solves
    expander = _Here(spec, max_regions) if client is None else _OnCluster(client, spec, max_regions)
    return _run(search, space, expander, max_regions, progress, path, fingerprint, checkpoint_every)


def _merge(search: _Search, batch: PackedExpansions) -> int:
    """Commit a batch of expansions, in order, each with all its edges together (so an
    interruption between two leaves none half-recorded); returns how many regions it
    finished (the others were empty).

    The driver's whole cost per region: plain Python over lists and bytes, the packed
    arrays read once (no object per expansion or crossing).
    """
    u = search.n_units
    keys = batch.codes.tobytes()
    units = batch.units.tolist()
    unit_ends = np.cumsum(batch.n_units).tolist()
    unit_starts = [0, *unit_ends[:-1]]
    cross_ends = np.cumsum(batch.n_crossings).tolist()
    cross_starts = [0, *cross_ends[:-1]]
    n_vertices = batch.n_vertices.tolist()
    vertex_ends = np.cumsum(np.maximum(batch.n_vertices, 0)).tolist()
    index, edges, status = search.index, search.edges, search.status
    rows = zip(batch.index.tolist(), batch.lp_solves.tolist(), batch.empty, batch.notes, n_vertices, vertex_ends,
               cross_starts, cross_ends, list(batch.point), list(batch.out_map), batch.radius.tolist(),
               batch.bounded.tolist(), batch.n_facets.tolist())
    finished = 0
    for i, lp_solves, empty, notes, nv, v_end, c_start, c_end, point, out_map, radius, bounded, n_facets in rows:
        search.lp_solves += lp_solves
        if empty is not None:
            status[i] = _EMPTY
            search.degenerate.append(empty)
            continue
        search.degenerate.extend(notes)
        for c in range(c_start, c_end):
            key = keys[c * u:(c + 1) * u]
            other = index.get(key)
            if other is None:
                other = search.add(np.frombuffer(key, dtype=np.int8), batch.hints[c])
            pair = (i, other) if i < other else (other, i)
            entry = edges.get(pair)
            if entry is None:
                edges[pair] = [tuple(units[unit_starts[c]:unit_ends[c]]), 1]
            else:
                entry[1] += 1
        status[i] = _DONE
        if nv >= 0:
            search.vertices[i] = batch.vertices[v_end - nv:v_end]
        search.maps[i] = out_map
        search.points[i] = point
        search.radii[i] = radius
        search.bounded[i] = bounded
        search.n_facets[i] = n_facets
        finished += 1
    return finished


class _Here:
    """Expands the next wave of the frontier in-process: every pending region up to
    :data:`BATCH_REGIONS` (with a budget, no more than it may still need), in frontier
    order, in one task."""

    def __init__(self, spec: SearchSpec, max_regions: int | None):
        self.spec = spec
        self.max_regions = max_regions

    def next(self, search: _Search, done: int, stop: Callable[[], bool]) -> PackedExpansions:
        """The next wave's expansions; once ``stop()`` is true, only those expanded so far
        (so a SIGTERM stops the search at the next region, or the end of a
        batched wave)."""
        start = search.next
        end = min(_frontier_end(search, done, self.max_regions), start + BATCH_REGIONS)
        rows = range(start, end)
        return expand_batch_packed(self.spec, (rows, [search.codes[i] for i in rows],
                                               [search.hints[i] for i in rows]), stop)

    def close(self) -> None:
        pass


def _frontier_end(search: _Search, done: int, max_regions: int | None) -> int:
    """End of the frontier that may be expanded now: all of it, or with a budget, no more
    regions than the budget may still need (every one of them may finish)."""
    end = len(search.codes)
    return end if max_regions is None else min(end, search.next + max_regions - done)


class _OnCluster:
    """Expands the frontier in batches on a Dask cluster and hands the batches back in
    frontier order (the order :class:`_Here` produces them)."""

    def __init__(self, client: Any, spec: SearchSpec, max_regions: int | None):
        self.queue = TaskQueue(client, "enumerate_regions", spec)
        self.max_regions = max_regions
        self.submitted = None  # regions before this index are in flight or merged

    def next(self, search: _Search, done: int, stop: Callable[[], bool]) -> PackedExpansions:
        """The oldest batch in flight (``stop`` is read between batches, by the caller)."""
        if self.submitted is None:
            self.submitted = search.next
        self._fill(search, done)
        return self.queue.take()

    def _fill(self, search: _Search, done: int) -> None:
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
            batch = (np.arange(rows.start, rows.stop), np.array([search.codes[i] for i in rows]),
                     np.array([search.hints[i] for i in rows]))
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


def _run(search: _Search, space: Space, expander: _Here | _OnCluster, max_regions, progress, path, fingerprint,
         checkpoint_every) -> EnumerationResult:
    start = time.perf_counter()
    last_save = start
    stop_reason = "complete"
    bar = tqdm(total=None, disable=not progress, unit="region", desc="regions", mininterval=0.5)
    done = sum(1 for s in search.status if s == _DONE)
    bar.update(done)

    def save() -> None:
        if path is not None:
            write_checkpoint(path, fingerprint, search.to_arrays())

    terminated = _TermSignal()
    with terminated:  # through the final save: a SIGTERM then waits for the checkpoint
        try:
            while search.next < len(search.codes):
                if max_regions is not None and done >= max_regions:
                    stop_reason = "max_regions"
                    break
                if terminated.received:
                    stop_reason = "interrupted"
                    break
                batch = expander.next(search, done, lambda: terminated.received)
                finished = _merge(search, batch)
                search.next += batch.index.shape[0]
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


def _result(search: _Search, space: Space, stop_reason: str) -> EnumerationResult:
    status = np.array(search.status, dtype=np.int8)
    n_units, k = space.net.n_units, space.dim
    codes = np.array(search.codes, dtype=np.int8).reshape(len(search.codes), n_units)
    done = np.flatnonzero(status == _DONE)
    remap = np.full(status.shape[0], -1)
    remap[done] = np.arange(done.size)
    edges, edge_units = [], []
    degenerate = list(search.degenerate)
    complete = stop_reason == "complete"
    for (a, b), (units, count) in search.edges.items():
        if remap[a] < 0 or remap[b] < 0:
            continue
        edges.append((remap[a], remap[b]) if remap[a] < remap[b] else (remap[b], remap[a]))
        edge_units.append(units)
        if count != 2:
            degenerate.append(f"adjacency between regions {remap[a]} and {remap[b]} was seen from one side only")
    maps = np.array([search.maps[int(i)] for i in done]).reshape(done.size, space.net.output_dim, k + 1)
    return EnumerationResult(
        codes=codes[done],
        points=np.array(search.points).reshape(-1, k)[done],
        radii=np.array(search.radii)[done],
        bounded=np.array(search.bounded, dtype=bool)[done],
        n_facets=np.array(search.n_facets, dtype=np.int64)[done],
        edges=np.array(edges, dtype=np.int64).reshape(-1, 2),
        edge_units=edge_units,
        complete=complete,
        stop_reason=stop_reason,
        frontier=codes[status == _PENDING],
        lp_solves=search.lp_solves,
        seconds=search.seconds,
        degenerate=degenerate,
        vertices=[search.vertices.get(int(i), np.zeros((0, k))) for i in done],
        out_weight=maps[:, :, 1:],
        out_bias=maps[:, :, 0],
        space=space,
    )
