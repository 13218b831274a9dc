"""The inputs of :func:`polylens.sampling.codes`, cut into chunks: the items of its tasks.

A chunk is small and picklable, so a task can run in-process or on a Dask worker:

* :class:`ArrayChunk` -- rows of an in-memory tensor or array (copied compactly when
  pickled);
* :class:`NpyRowsChunk` -- a row range of a ``.npy`` file, read where the task runs;
* :class:`NpyFileChunk` -- one ``.npy`` file of a list of files, read where the task runs;
* :class:`BatchesChunk` -- consecutive batches of an iterable (a ``DataLoader``, ...);
* :class:`~polylens.sampling.mapping_inputs.MappingChunk` -- rows of every tensor of a
  mapping (a tokenizer's ``BatchEncoding``), passed as keyword arguments.

:func:`split` cuts any accepted input into chunks of whole batches, in input order;
``chunk.batches(batch_size)`` yields the forward passes of a chunk as ``(args, kwargs)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polylens._repr import short_repr
from polylens.sampling.mapping_inputs import MappingChunk, mapping_rows, split_mapping

__all__ = ["ArrayChunk", "NpyRowsChunk", "NpyFileChunk", "BatchesChunk", "split", "n_samples", "input_files"]

_KINDS = "a tensor, an array, a mapping of tensors, a .npy path, a list of .npy paths or an iterable of batches"


@short_repr
@dataclass(frozen=True)
class ArrayChunk:
    """Rows ``start .. start + len(data) - 1`` of an in-memory input.

    Attributes
    ----------
    index : int
    start : int
    data : Tensor or ndarray of shape (m, ...)
    """

    index: int
    start: int
    data: Any

    def batches(self, batch_size: int) -> Iterator[tuple[tuple, dict]]:
        """The forward passes of the chunk: ``((rows,), {})`` per ``batch_size`` rows.

        Raises
        ------
        None of its own
        """
        for i in range(0, self.data.shape[0], batch_size):
            yield (self.data[i:i + batch_size],), {}

    def describe(self) -> str:
        """The chunk for error messages: ``"chunk 3 (rows 768-1023)"``.

        Raises
        ------
        None of its own
        """
        return f"chunk {self.index} (rows {self.start}-{self.start + self.data.shape[0] - 1})"

    def __getstate__(self) -> dict:
        # a slice of a tensor would pickle its whole storage, a memmap slice its file handle
        data = self.data.clone() if isinstance(self.data, torch.Tensor) else np.array(self.data)
        return {"index": self.index, "start": self.start, "data": data}

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)


@short_repr
@dataclass(frozen=True)
class NpyRowsChunk:
    """Rows ``start .. stop - 1`` of a ``.npy`` file (memory-mapped where the task runs).

    Attributes
    ----------
    index : int
    path : str
    start, stop : int
    """

    index: int
    path: str
    start: int
    stop: int

    def batches(self, batch_size: int) -> Iterator[tuple[tuple, dict]]:
        """The forward passes of the chunk, read from the memory-mapped file.

        Raises
        ------
        FileNotFoundError
            If the file is gone (from :func:`numpy.load`).
        ValueError
            If the file is not a ``.npy`` array (from :func:`numpy.load`).
        """
        rows = np.load(self.path, mmap_mode="r")
        for i in range(self.start, self.stop, batch_size):
            yield (np.array(rows[i:min(i + batch_size, self.stop)]),), {}

    def describe(self) -> str:
        """The chunk for error messages, with its row range and file.

        Raises
        ------
        None of its own
        """
        return f"chunk {self.index} (rows {self.start}-{self.stop - 1} of {self.path!r})"


@short_repr
@dataclass(frozen=True)
class NpyFileChunk:
    """Every row of one ``.npy`` file (read where the task runs).

    Attributes
    ----------
    index : int
    path : str
    """

    index: int
    path: str

    def batches(self, batch_size: int) -> Iterator[tuple[tuple, dict]]:
        """The forward passes of the chunk: every row of its file, ``batch_size`` at a time.

        Raises
        ------
        FileNotFoundError
            If the file is gone (from :func:`numpy.load`).
        ValueError
            If the file is not a ``.npy`` array, or holds a scalar.
        """
        rows = _npy_samples(self.path)
        for i in range(0, rows.shape[0], batch_size):
            yield (np.array(rows[i:i + batch_size]),), {}

    def describe(self) -> str:
        """The chunk for error messages, with its file.

        Raises
        ------
        None of its own
        """
        return f"chunk {self.index} (file {self.path!r})"


@short_repr
@dataclass(frozen=True)
class BatchesChunk:
    """Batches ``first .. first + len(calls) - 1`` of an iterable, as ``(args, kwargs)``.

    Attributes
    ----------
    index : int
    first : int
    calls : list of (tuple, dict)
    """

    index: int
    first: int
    calls: list

    def batches(self, batch_size: int) -> Iterator[tuple[tuple, dict]]:
        """The chunk's batches as given (``batch_size`` is ignored: the iterable batched them).

        Raises
        ------
        None of its own
        """
        return iter(self.calls)

    def describe(self) -> str:
        """The chunk for error messages, with its batch range.

        Raises
        ------
        None of its own
        """
        return f"chunk {self.index} (batches {self.first}-{self.first + len(self.calls) - 1})"


Chunk = ArrayChunk | NpyRowsChunk | NpyFileChunk | BatchesChunk | MappingChunk


def split(inputs, batch_size: int, batches_per_chunk: int) -> Iterator[Chunk]:
    """Cut ``inputs`` (see :func:`polylens.sampling.codes`) into chunks of
    ``batches_per_chunk`` batches (one file per chunk for a list of files), in order.

    Raises
    ------
    TypeError
        For an input of another kind, a path that is not a ``.npy`` file, or a batch
        that is not a tensor, an ``(input, ...)`` tuple or a mapping.
    ValueError
        For a scalar input.
    """
    rows = batch_size * batches_per_chunk
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        if inputs.ndim == 0:
            raise ValueError("codes: `inputs` must have a batch axis; got a scalar")
        return (ArrayChunk(k, i, inputs[i:i + rows]) for k, i in enumerate(range(0, inputs.shape[0], rows)))
    if isinstance(inputs, (str, os.PathLike)):
        path = _npy(inputs)
        n = _npy_rows(path)
        return (NpyRowsChunk(k, path, i, min(i + rows, n)) for k, i in enumerate(range(0, n, rows)))
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(p, (str, os.PathLike)) for p in inputs):
        return (NpyFileChunk(k, _npy(p)) for k, p in enumerate(inputs))
    if isinstance(inputs, Mapping):
        return split_mapping(inputs, rows)
    if isinstance(inputs, bytes):
        raise TypeError(f"codes: `inputs` must be {_KINDS}; got {type(inputs).__name__}")
    try:
        iterator = iter(inputs)
    except TypeError:
        raise TypeError(f"codes: `inputs` must be {_KINDS}; got {type(inputs).__name__}") from None
    return _batch_chunks(iterator, batches_per_chunk)


def n_samples(inputs) -> int | None:
    """Number of samples in ``inputs`` where it is known without reading them.

    Raises
    ------
    ValueError
        If ``inputs`` names a ``.npy`` file that is not an array or holds a scalar.
    polylens.errors.InvalidParameterError
        For a mapping that is empty, holds a value that is not a tensor or array with a
        batch axis, or values of different lengths (from :func:`~polylens.sampling.mapping_inputs.mapping_rows`).
    """
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        return int(inputs.shape[0]) if inputs.ndim else None
    if isinstance(inputs, Mapping):
        return mapping_rows(inputs)
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).suffix == ".npy" and Path(inputs).is_file():
        return _npy_rows(str(inputs))
    dataset = getattr(inputs, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:
        return None


def input_files(inputs) -> list[str]:
    """The files ``inputs`` reads (a ``.npy`` path or a list of them; else none).

    Raises
    ------
    None of its own
    """
    if isinstance(inputs, (str, os.PathLike)):
        return [os.fspath(inputs)]
    if isinstance(inputs, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in inputs):
        return [os.fspath(p) for p in inputs]
    return []


def _batch_chunks(iterator, batches_per_chunk: int) -> Iterator[BatchesChunk]:
    calls, first, index = [], 0, 0
    for batch in iterator:
        calls.append(_call(batch))
        if len(calls) == batches_per_chunk:
            yield BatchesChunk(index, first, calls)
            calls, first, index = [], first + len(calls), index + 1
    if calls:
        yield BatchesChunk(index, first, calls)


def _call(batch) -> tuple[tuple, dict]:
    """The (args, kwargs) of one batch of an iterable."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return (batch,), {}
    if isinstance(batch, (tuple, list)) and batch:
        return (batch[0],), {}
    if isinstance(batch, Mapping):
        return (), dict(batch)
    raise TypeError(
        f"codes: every batch of `inputs` must be a tensor, a (input, ...) tuple or a mapping; "
        f"got {type(batch).__name__}"
    )


def _npy(path) -> str:
    if Path(path).suffix != ".npy":
        raise TypeError(f"codes: a path in `inputs` must name a .npy file; got {str(path)!r}")
    return str(path)


def _npy_samples(path: str) -> np.ndarray:
    """The samples of a ``.npy`` file, memory-mapped, shape (n, ...)."""
    rows = np.load(path, mmap_mode="r")
    if rows.ndim == 0:
        raise ValueError(f"codes: the input file {path!r} holds a scalar, not a batch of samples")
    return rows


def _npy_rows(path: str) -> int:
    return int(_npy_samples(path).shape[0])
