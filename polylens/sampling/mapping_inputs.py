"""Inputs given as one mapping of tensors, such as a tokenizer's ``BatchEncoding``.

``codes(model, tokenizer(texts, padding=True, return_tensors="pt"))`` cuts every tensor
of the mapping into the same rows and calls ``model(**rows)``, as Hugging Face models
are called. :func:`split_mapping` makes the chunks (:class:`MappingChunk`, small and
picklable like the other chunks of :mod:`polylens.sampling.chunks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from polylens._repr import short_repr
from polylens.errors import InvalidParameterError

__all__ = ["MappingChunk", "split_mapping", "mapping_rows"]


@short_repr
@dataclass(frozen=True)
class MappingChunk:
    """Rows ``start .. start + m - 1`` of every tensor of a mapping input.

    Attributes
    ----------
    index : int
    start : int
    data : dict of str to Tensor or ndarray of shape (m, ...)
    """

    index: int
    start: int
    data: dict

    @property
    def n_rows(self) -> int:
        return int(next(iter(self.data.values())).shape[0])

    def batches(self, batch_size: int) -> Iterator[tuple[tuple, dict]]:
        """The forward passes of the chunk: ``((), {key: rows})`` per ``batch_size`` rows.

        Raises
        ------
        None of its own
        """
        for i in range(0, self.n_rows, batch_size):
            yield (), {key: value[i:i + batch_size] for key, value in self.data.items()}

    def describe(self) -> str:
        """The chunk for error messages: ``"chunk 3 (rows 768-1023)"``.

        Raises
        ------
        None of its own
        """
        return f"chunk {self.index} (rows {self.start}-{self.start + self.n_rows - 1})"

    def __getstate__(self) -> dict:
        # slices of tensors would pickle their whole storage
        data = {k: v.clone() if isinstance(v, torch.Tensor) else np.array(v) for k, v in self.data.items()}
        return {"index": self.index, "start": self.start, "data": data}

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)


def mapping_rows(inputs: Mapping) -> int:
    """The number of rows of a mapping input: every value is a tensor or array whose
    first axis has that length.

    Raises
    ------
    InvalidParameterError
        An empty mapping, a value that is not a tensor or array with a batch axis, or
        values of different lengths.
    """
    if not inputs:
        raise InvalidParameterError("codes: `inputs` must be a non-empty mapping of tensors; got an empty mapping")
    lengths = {}
    for key, value in inputs.items():
        if not isinstance(value, (torch.Tensor, np.ndarray)) or value.ndim == 0:
            raise InvalidParameterError(
                f"codes: `inputs` must be a mapping of tensors or arrays of shape (n, ...); got {key!r}: "
                + ("a scalar" if isinstance(value, (torch.Tensor, np.ndarray)) else type(value).__name__)
            )
        lengths[key] = int(value.shape[0])
    if len(set(lengths.values())) > 1:
        raise InvalidParameterError(f"codes: every tensor of `inputs` must have the same number of rows; got {lengths}")
    return next(iter(lengths.values()))


def split_mapping(inputs: Mapping, rows: int) -> Iterator[MappingChunk]:
    """Chunks of ``rows`` rows of every tensor of ``inputs``, in order (checked now, so
    a bad mapping fails before any forward pass).

    Raises
    ------
    polylens.errors.InvalidParameterError
        For an empty mapping, a value that is not a tensor or array with a batch axis, or
        values of different lengths (from :func:`mapping_rows`, before any chunk is made).
    """
    n = mapping_rows(inputs)
    data = dict(inputs)
    return (MappingChunk(k, i, {key: v[i:i + rows] for key, v in data.items()})
            for k, i in enumerate(range(0, n, rows)))
