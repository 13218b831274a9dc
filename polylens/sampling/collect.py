"""Computing codes: forward hooks on a model's sites, in batches, streamed to a store.

:class:`Session` hooks the sites of a model for a block of forward passes (removing the
hooks in ``finally``), builds the code layout on the first batch and checks that every
later batch has the same one. :func:`codes` runs it over a data set; the density
functions (:mod:`polylens.sampling.density`) run it on batches they build, optionally
editing one module's output.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from polylens._repr import short_repr
from polylens._validation import check_bool, check_int
from polylens.errors import InvalidParameterError, PolylensError
from polylens.parallel import check_client, locate, map_ordered
from polylens.sampling import chunks
from polylens.sampling.bits import pack
from polylens.sampling.packed_codes import CodeLayout, Codes, CodeStore, check_store_path
from polylens.sampling.sites import Site, find_sites, on_cpu
from polylens.sampling.tokens import BatchTokens, ChunkTokens, TokenCollector, at_tokens, batch_tokens, chunk_tokens

__all__ = ["codes", "code_chunk", "CodesJob", "ChunkCodes", "Session", "threshold_bits"]



def codes(model: torch.nn.Module, inputs, *, sites=None, batch_size: int = 256, device=None,
          store: str | os.PathLike | None = None, overwrite: bool = False, progress: bool = True, client=None,
          batches_per_task: int = 8, per_token: bool = False) -> Codes:
    """Polytope codes of every input: the piece of every unit at the activation sites.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; it runs in eval mode (its training flags are restored afterwards).
    inputs : Tensor, ndarray, mapping of tensors, path, list of paths, DataLoader or iterable of batches
        A tensor/array of shape (n, ...) is cut into batches of ``batch_size``; so is a
        ``.npy`` file (memory-mapped; with a ``client`` every worker reads its own rows)
        and every file of a list of ``.npy`` files, in order. An iterable yields
        batches: a tensor, a tuple/list whose first item is the input (``(x, y)`` as
        from a ``TensorDataset``), or a mapping passed as keyword arguments
        (``model(**batch)``, as for Hugging Face models). A mapping of tensors of
        shape (n, ...) (a tokenizer's ``BatchEncoding``) is cut into batches of
        ``batch_size`` rows, each passed as keyword arguments.
    sites : str or sequence of str, optional
        Glob patterns naming the sites (see :func:`find_sites`); default every activation.
    batch_size : int, default=256
        Samples per forward pass when ``inputs`` is a tensor, an array or files.
    device : str or torch.device, optional
        Where the forward pass runs; default the device of the model's parameters
        (the model is not moved: it must already be there).
    store : path, optional
        Stream the codes to ``<store>.npy`` (+ ``<store>.layout.json``) instead of
        memory; the result is then memory-mapped, so data sets larger than RAM work.
        The path is checked before any work (its folder must exist and be writable; it
        may not be one of the input files), the codes go to a temporary file and the
        store is moved into place only when complete: a failing run leaves an earlier
        store as it was.
    overwrite : bool, default=False
        Replace an existing store at ``store`` (otherwise it is refused).
    progress : bool, default=True
        Show a progress bar (samples).
    client : dask.distributed.Client, optional
        Run the forward passes on this Dask cluster (``pip install polylens[dask]``):
        the model is sent once to every worker, chunks of inputs are mapped over the
        workers and the codes come back in input order, identical to the in-process
        result. A lost worker's chunks are rerun; a failing chunk raises
        :class:`polylens.errors.TaskError` naming it. Use one thread per worker.
    batches_per_task : int, default=8
        With a ``client``: batches per task (one file per task for a list of files).
        In-process every batch is its own task.
    per_token : bool, default=False
        Code a sequence model token by token: every position of every sequence whose
        ``attention_mask`` (a keyword of mapping batches, as Hugging Face models take it)
        is 1 is a sample of its own, coded over the units of that position (every site's
        activations must be batch-first, of shape (batch, positions, ...)); masked
        positions are never coded. Batches may have different lengths. See
        :mod:`polylens.sampling.tokens`.

    Returns
    -------
    Codes
        ``packed`` of shape (n, n_bytes); ``layout`` lists the sites in the order they ran.
        With ``per_token``, a :class:`~polylens.sampling.TokenCodes`: one row per coded
        token, and ``tokens`` gives the (sequence, position, token id) of every row.

    Raises
    ------
    InvalidParameterError
        Empty ``inputs``, inputs that are not numbers or hold NaN or infinite values, a
        bad ``batch_size``, ``batches_per_task``, ``device`` or ``store`` (an existing
        store without ``overwrite=True``, a store that is one of the inputs), or a
        ``sites`` pattern that matches nothing.
    PolylensError
        A site whose activations have no batch axis or change shape between batches
        (with a ``client``: :class:`~polylens.errors.TaskError`, naming the chunk).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> c = codes(model, torch.randn(10, 2), progress=False)
    >>> c.packed.shape, c.layout.names, c.approximate
    ((10, 1), ['1'], False)
    """
    batch_size = check_int(batch_size, func="codes", name="batch_size", low=1)
    batches_per_task = check_int(batches_per_task, func="codes", name="batches_per_task", low=1)
    overwrite = check_bool(overwrite, func="codes", name="overwrite")
    if client is not None:
        check_client(client, "codes")
    per_token = check_bool(per_token, func="codes", name="per_token")
    if store is not None:
        store = check_store_path(store, func="codes", overwrite=overwrite, inputs=chunks.input_files(inputs))
    collector = TokenCollector() if per_token else None
    job = CodesJob(model, sites, device, int(batch_size), per_token=per_token)
    pieces = chunks.split(inputs, int(batch_size), int(batches_per_task) if client is not None else 1)
    found: list[np.ndarray] = []
    layout, writer = None, None
    with job, tqdm(total=chunks.n_samples(inputs), unit="sample", disable=not progress, desc="codes") as bar:
        try:
            for part in map_ordered(code_chunk, job, pieces, _describe, client=client, func="codes"):
                if part.layout is None:
                    continue
                layout = layout or part.layout
                if part.layout != layout:
                    raise PolylensError(f"codes: the sites of {part.where} differ from the first chunk's: "
                                        + _site_difference(_named_shapes(part.layout), _named_shapes(layout)))
                if store is None:
                    found.append(part.packed)
                else:
                    writer = writer or CodeStore(store, layout, overwrite=overwrite,
                                                 inputs=chunks.input_files(inputs), func="codes",
                                                 name="store")
                    writer.append(part.packed)
                if collector is not None:
                    collector.add(part.tokens)
                bar.update(part.packed.shape[0] if collector is None else part.tokens.n_sequences)
        except BaseException:
            if writer is not None:
                writer.close(complete=False)
            raise
    if layout is None:
        raise ValueError("codes: `inputs` holds no samples")
    if writer is not None:
        writer.close()
        result = Codes.load(writer.path)
    else:
        result = Codes(np.concatenate(found, axis=0), layout)
    return result if collector is None else collector.result(result, store)


@short_repr
@dataclass(frozen=True)
class ChunkCodes:
    """The result of :func:`code_chunk`.

    Attributes
    ----------
    packed : ndarray of shape (m, n_bytes), uint8, or None
        None when the chunk held no batch.
    layout : CodeLayout or None
    where : str
        The chunk (for error messages).
    tokens : ChunkTokens or None
        With ``per_token``: the chunk's tokens table.
    """

    packed: np.ndarray | None
    layout: CodeLayout | None
    where: str
    tokens: ChunkTokens | None = None


class CodesJob:
    """What every task of one :func:`codes` call shares: the model, its sites and the
    batch size (picklable: a copy sent to a Dask worker hooks its own copy of the model).

    The hooks go on at the first :meth:`run` and come off at :meth:`close` (or at the end
    of ``with job:``); a worker's copy keeps them for its life.

    Parameters
    ----------
    model, sites, device, batch_size, per_token
        As given to :func:`codes` (checked here, so a bad one fails before any task).
    """

    def __init__(self, model: torch.nn.Module, sites, device, batch_size: int, per_token: bool = False):
        self.model, self.sites, self.device, self.batch_size = model, sites, device, batch_size
        self.per_token = per_token
        self.session = Session(model, sites=sites, device=device, per_token=per_token)
        self.lock = threading.Lock()  # a session runs one forward pass at a time
        self._hooked = False

    def run(self, chunk: chunks.Chunk) -> tuple[list[np.ndarray], CodeLayout | None, ChunkTokens | None]:
        """Packed codes of every batch of ``chunk`` (each of shape (m, n_bytes)), their
        layout (None for a chunk without batches) and, with ``per_token``, the tokens.

        Every chunk starts a layout of its own: whether chunks agree is the caller's check
        (a worker's tasks arrive in any order, so a layout kept from an earlier task would
        blame whichever chunk came second).

        Raises
        ------
        polylens.errors.InvalidParameterError
            For a batch that does not hold numbers, holds NaN or infinite values, or has an
            integer dtype the model fails on; with ``per_token``, for a batch without a token
            axis or with a bad ``attention_mask``.
        polylens.errors.PolylensError
            For a site whose activations are not a tensor, have no batch axis (or, with
            ``per_token``, no token axis), or change between the chunk's batches; for a
            forward pass in which no site, or none of a ``sites`` pattern, ran.
        ValueError
            For a batch without a tensor with a batch axis.
        FileNotFoundError
            For a ``.npy`` chunk whose file is gone.
        """
        with self.lock:
            if not self._hooked:
                self.session.__enter__()
                self._hooked = True
            self.session.restart()
            packed, seen = [], []
            for args, kwargs in chunk.batches(self.batch_size):
                packed.append(self.session.run(args, kwargs)[0])
                seen.append(self.session.tokens)
            return packed, self.session.layout, chunk_tokens(seen) if self.per_token else None

    def close(self) -> None:
        """Take the hooks off the model and restore its training flags.

        Raises
        ------
        None of its own
        """
        with self.lock:
            if self._hooked:
                self.session.__exit__(None, None, None)
                self._hooked = False

    def __enter__(self) -> "CodesJob":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {"model": self.model, "sites": self.sites, "device": self.device, "batch_size": self.batch_size,
                "per_token": self.per_token}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)


def code_chunk(job: CodesJob, chunk: chunks.Chunk) -> ChunkCodes:
    """Codes of one chunk of inputs: the pure task of :func:`codes`, in-process or on a
    worker.

    Raises
    ------
    None of its own
        What :meth:`CodesJob.run` raises passes through, with a note (and a
        ``polylens_where`` attribute) naming the chunk; see :func:`polylens.parallel.locate`.
    """
    try:
        packed, layout, table = job.run(chunk)
    except Exception as err:
        locate(err, chunk.describe())
        raise
    if not packed:
        return ChunkCodes(None, None, chunk.describe())
    return ChunkCodes(np.concatenate(packed, axis=0), layout, chunk.describe(), table)


def _describe(chunk: chunks.Chunk) -> str:
    return chunk.describe()


def _named_shapes(layout: CodeLayout) -> list[tuple[str, tuple]]:
    return [(site.name, site.shape) for site in layout.sites]


def _site_difference(got: list[tuple[str, tuple]], want: list[tuple[str, tuple]]) -> str:
    """The first (name, per-sample shape) that differs, with advice."""
    diff = next(((g, w) for g, w in zip(got, want) if g != w), (got[len(want):], want[len(got):]))
    return (f"got {diff[0]}, expected {diff[1]} (name, per-sample shape); pad sequences to one length or name "
            "fixed-shape sites")


@short_repr
@dataclass
class _Event:
    name: str
    site: Site | None  # None: the edited module's marker
    shape: tuple
    packed: np.ndarray | None


class Session:
    """Hooks on a model's sites for a block of forward passes (a context manager).

    Parameters
    ----------
    model : torch.nn.Module
    sites : str or sequence of str, optional
        See :func:`polylens.sampling.find_sites`.
    device : optional
        See :func:`codes`.
    edit : str, optional
        A module name (``"#k"``: its ``k``-th call) whose output :meth:`run` may replace.
    edit_argument : str, default="at"
        The caller's argument that named ``edit`` (for error messages).
    per_token : bool, default=False
        Code every unmasked position as a sample (see :func:`codes`).

    Attributes
    ----------
    layout : CodeLayout or None
        Set by the first :meth:`run` (after :meth:`restart`, by the next).
    downstream : list of str
        Sites that ran after the edited module (all sites without ``edit``).
    tokens : BatchTokens or None
        With ``per_token``: the coded positions of the last :meth:`run`.
    """

    def __init__(self, model, sites=None, device=None, edit: str | None = None, edit_argument: str = "at",
                 per_token: bool = False):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}")
        keep = () if edit is None else (edit.partition("#")[0],)
        self.model = model
        self.plan = find_sites(model, sites, keep=keep)
        self.device = _device(model, device)
        self.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        self.layout: CodeLayout | None = None
        self._earlier: CodeLayout | None = None  # the layout before restart()
        self.downstream: list[str] = []
        self.edit_name, self.edit_argument = edit, edit_argument
        self.edit_module, self.edit_call = self.plan.module(edit, edit_argument) if edit else (None, 0)
        self.edit_fn = None
        self.per_token = per_token
        self.tokens: BatchTokens | None = None
        self._events: list[_Event] = []
        self._calls: dict = {}  # calls per module in this forward pass
        self._handles: list = []
        self._training: dict = {}

    # -------------------------------------------------------------- hooks
    def __enter__(self) -> "Session":
        modules = set(self.model.modules()) | set(self.plan.runner.modules())
        self._training = {m: m.training for m in modules}
        try:
            for m in modules:
                m.training = False
            for site in self.plan.sites:
                if site.source == "input":
                    self._handles.append(site.module.register_forward_pre_hook(self._pre_hook(site)))
                elif site.source == "pool":
                    self._handles.append(site.module.register_forward_hook(self._pool_hook(site)))
                else:
                    self._handles.append(site.module.register_forward_hook(self._out_hook(site)))
            if self.edit_module is not None:
                self._handles.append(self.edit_module.register_forward_hook(self._edit_hook))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for m, flag in self._training.items():
            m.training = flag

    def restart(self) -> None:
        """Forget the layout: the next :meth:`run` sets it anew (reusing the old one
        when its sites and shapes are the same).

        Raises
        ------
        None of its own
        """
        self._earlier, self.layout = self.layout or self._earlier, None

    def _call_index(self, module) -> int:
        k = self._calls.get(id(module), 0)
        self._calls[id(module)] = k + 1
        return k

    def _pre_hook(self, site: Site):
        def hook(module, args):
            self._record(site, self._call_index(module), args[0] if args else None)
        return hook

    def _out_hook(self, site: Site):
        def hook(module, args, output):
            self._record(site, self._call_index(module), _first_tensor(output))
        return hook

    def _pool_hook(self, site: Site):
        def hook(module, args, output):
            self._record(site, self._call_index(module), args[0] if args else None, _first_tensor(output))
        return hook

    def _edit_hook(self, module, args, output):
        k = self._calls.get(("edit", id(module)), 0)
        self._calls[("edit", id(module))] = k + 1
        if k != self.edit_call:
            return None
        if not isinstance(output, torch.Tensor):
            raise PolylensError(
                f"`{self.edit_argument}`: module {self.edit_name!r} returns {type(output).__name__}, not a tensor; "
                "pick a module whose output is one tensor"
            )
        self._events.append(_Event(self.edit_name, None, tuple(output.shape[1:]), None))
        return self.edit_fn(output) if self.edit_fn is not None else None

    def _record(self, site: Site, k: int, z, pooled=None) -> None:
        name = site.name if k == 0 else f"{site.name}#{k}"
        if not isinstance(z, torch.Tensor) or z.ndim < 1:
            raise PolylensError(f"site {name!r}: expected a tensor of activations, got {type(z).__name__}")
        z = z.detach()
        if self.tokens is not None:
            z = at_tokens(name, z, self.tokens.mask, pooled=site.pool is not None)
        if site.pool is not None:
            if not isinstance(pooled, torch.Tensor):
                raise PolylensError(f"site {name!r}: the max pooling returned {type(pooled).__name__}, not a tensor")
            shape = tuple(pooled.shape[1:])
            bits = site.pool.one_hot(z, pooled.detach())
        else:
            shape = tuple(z.shape[1:])
            bits = threshold_bits(z.reshape(z.shape[0], -1), site.thresholds)
        self._events.append(_Event(name, site, shape, pack(bits)))

    # -------------------------------------------------------------- running
    def to_device(self, value):
        """Move a tensor (floating tensors also to the model's dtype) or array to the device.

        Other values are returned as they are. NaN and infinite values are not checked
        here but in :meth:`run` (they have no code: every comparison with NaN is false,
        so they would read as all-zero bits).

        Raises
        ------
        polylens.errors.InvalidParameterError
            For an array that does not hold numbers (bool, int or float).
        """
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise InvalidParameterError(f"codes: `inputs` must hold numbers; got an array of dtype {value.dtype}")
            value = torch.from_numpy(np.ascontiguousarray(value))
        if isinstance(value, torch.Tensor):
            dtype = self.dtype if value.is_floating_point() and self.dtype is not None else value.dtype
            return value.to(device=self.device, dtype=dtype)
        return value

    def run(self, args: tuple, kwargs: dict | None = None):
        """One forward pass; returns (packed codes of shape (n, n_bytes), model output).

        Inputs are moved to the session's device. When an ``edit`` module is set,
        ``self.edit_fn(output)`` replaces its output (``None``: unchanged).

        Raises
        ------
        polylens.errors.InvalidParameterError
            For inputs that do not hold numbers (:meth:`to_device`), hold NaN or infinite
            values, or have an integer dtype the model fails on (a ``RuntimeError`` of the
            model is re-raised as this); with ``per_token``, for inputs without a token axis or
            with a bad ``attention_mask``.
        polylens.errors.PolylensError
            For a site whose activations are not a tensor or have no batch axis (with
            ``per_token``: no token axis), a ``sites`` pattern none of whose sites ran, no site
            run at all, sites that differ from the first batch's, or an ``edit`` module that
            did not run or does not return one tensor.
        ValueError
            For a batch without a tensor with a batch axis.
        """
        kwargs = kwargs or {}
        args = tuple(self.to_device(a) for a in args)
        kwargs = {key: self.to_device(v) for key, v in kwargs.items()}
        tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)]
        for t in tensors:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad = int(t.numel() - torch.isfinite(t).sum())
                raise InvalidParameterError(
                    f"codes: `inputs` holds {bad} NaN or infinite values; they have no polytope code (every "
                    "comparison with NaN is false): drop or replace those samples")
        self.tokens = batch_tokens(args, kwargs) if self.per_token else None
        n = _batch_len(args, kwargs) if self.tokens is None else len(self.tokens.table)
        self._events, self._calls = [], {}
        try:
            with torch.no_grad():
                output = self.plan.runner(*args, **kwargs)
        except RuntimeError as err:
            other = next((t for t in tensors if not t.is_floating_point()), None)
            if other is None:
                raise
            raise InvalidParameterError(
                f"codes: `inputs` has dtype {other.dtype}, and the model fails on it ({str(err).splitlines()[0]}); "
                "pass floating-point inputs (x.float())") from err
        events = self._events
        self._events = []
        self._check(events, n)
        packed = [e.packed for e in events if e.site is not None]
        return np.concatenate(packed, axis=1), output

    def _check(self, events: list[_Event], n: int) -> None:
        if self.edit_name is not None and not any(e.site is None for e in events):
            raise PolylensError(
                f"`{self.edit_argument}`: module {self.edit_name!r} did not run in the forward pass"
            )
        for e in events:
            if e.site is not None and e.packed.shape[0] != n:
                raise PolylensError(
                    f"site {e.name!r}: activations of shape {(e.packed.shape[0], *e.shape)} do not start with "
                    f"the batch axis (batch of {n}); name other sites with `sites=`"
                )
        sites = [e for e in events if e.site is not None]
        got = [(e.name, e.shape) for e in sites]
        if self.layout is None and self._earlier is not None and got == _named_shapes(self._earlier):
            self.layout = self._earlier  # the sites are those of the layout before restart()
        if self.layout is None:
            if not sites:
                raise PolylensError("no site ran in the forward pass; name the sites with `sites=`")
            self._check_patterns(sites)
            self.layout = CodeLayout.build(
                (e.name, e.site.kind, e.shape, e.site.bits_per_unit, e.site.thresholds, e.site.approximate,
                 e.site.encoding)
                for e in sites
            )
            marker = next((i for i, e in enumerate(events) if e.site is None), -1)
            self.downstream = [e.name for e in events[marker + 1:] if e.site is not None]
            return
        want = _named_shapes(self.layout)
        if got != want:
            raise PolylensError("the sites of this batch differ from the first batch's: " + _site_difference(got, want))

    def _check_patterns(self, sites: list[_Event]) -> None:
        ran = {e.site.name for e in sites}
        for pattern, names in self.plan.patterns.items():
            if not ran.intersection(names):
                raise PolylensError(
                    f"the site pattern {pattern!r} in `sites` matched {list(names)[:5]}, but none of them ran "
                    "in the forward pass"
                )


def threshold_bits(flat: torch.Tensor, thresholds: tuple[float, ...]):
    """Thermometer bits of values of shape (n, m): bool (n, m * len(thresholds)), unit by
    unit, bit ``j`` being ``value > thresholds[j]``. Numpy on the CPU (several times
    faster than torch's comparison there), torch elsewhere.

    Raises
    ------
    None of its own
    """
    if on_cpu(flat):
        a = flat.numpy()
        if len(thresholds) == 1:
            return a > thresholds[0]
        return np.stack([a > t for t in thresholds], axis=2).reshape(a.shape[0], -1)
    if len(thresholds) == 1:
        return flat > thresholds[0]
    return torch.stack([flat > t for t in thresholds], dim=2).reshape(flat.shape[0], -1)


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return next((v for v in output if isinstance(v, torch.Tensor)), None)
    return None


def _device(model: torch.nn.Module, device) -> torch.device:
    own = next((t.device for t in list(model.parameters()) + list(model.buffers())), None)
    if device is None:
        return own or torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` must name a torch device; got {device!r} ({exc})") from None
    if own is not None and own.type != device.type:
        raise ValueError(f"`device` is {device} but the model's parameters are on {own}; move the model first")
    return device


def _batch_len(args: tuple, kwargs: dict) -> int:
    first = next((v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)), None)
    if first is None or first.ndim == 0:
        raise ValueError("`inputs`: a batch holds no tensor with a batch axis")
    return int(first.shape[0])
