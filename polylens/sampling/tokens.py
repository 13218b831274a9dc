"""Per-token codes of sequence models: every unmasked (sequence, position) is a sample.

``codes(model, inputs, per_token=True)`` (:func:`polylens.sampling.codes`) codes a
language model token by token, as the polytope lens studies it: a site whose
activations have shape ``(batch, positions, ...)`` gives every position its own code
over the site's ``...`` units, and the codes of all sites of one position are one row.
Models must be batch-first (as Hugging Face models are): a sequence-first site whose
batch and length happen to be equal cannot be told apart.

* :func:`batch_tokens` -- the positions of one batch that are coded: those where the
  batch's ``attention_mask`` is 1 (all positions without a mask), with their sequence,
  position and token id.
* :func:`at_tokens` -- a site's activations at those positions, shape (m, ...).
* :class:`TokenCodes` -- the result: :class:`~polylens.sampling.Codes` (so Hamming
  geometry and clustering take it as samples unchanged) plus a ``tokens`` table mapping
  every row to its (sequence, position, token id).
* :class:`TokenCollector` -- joins the tables of chunks (computed where each chunk runs,
  with chunk-local sequence numbers) in input order.

A masked position is never coded: its activations are dropped before they are packed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from polylens._files import atomic_output
from polylens._repr import short_repr
from polylens.errors import InvalidParameterError, PolylensError
from polylens.sampling.packed_codes import Codes

__all__ = ["TOKEN_DTYPE", "BatchTokens", "ChunkTokens", "TokenCodes", "TokenCollector", "batch_tokens",
           "at_tokens", "chunk_tokens"]

TOKEN_DTYPE = np.dtype([("sequence", np.int64), ("position", np.int64), ("token_id", np.int64)])
"""One row of a tokens table: the sequence (its index in the inputs, in order), the
position (index along the token axis of its padded batch) and the token id (-1 when the
batch gives embeddings, not ids)."""

_TOKEN_KEYS = ("input_ids", "inputs_embeds")


@short_repr
@dataclass(frozen=True)
class BatchTokens:
    """The coded positions of one batch.

    Attributes
    ----------
    mask : BoolTensor of shape (n, T)
        True at the coded positions, on the batch's device.
    table : ndarray of shape (m,), TOKEN_DTYPE
        One row per coded position (``m = mask.sum()``), sequence by sequence, position by
        position; ``sequence`` counts from 0 within the batch.
    """

    mask: torch.Tensor
    table: np.ndarray

    @property
    def n_sequences(self) -> int:
        return int(self.mask.shape[0])


@short_repr
@dataclass(frozen=True)
class ChunkTokens:
    """The tokens table of a chunk of batches (``sequence`` counts from 0 within the
    chunk) and the number of sequences it held (sequences without an unmasked position
    count too)."""

    table: np.ndarray
    n_sequences: int


def batch_tokens(args: tuple, kwargs: dict) -> BatchTokens:
    """The positions of a batch to code, and their (sequence, position, token id).

    The token axis is axis 1 of ``input_ids`` (a keyword), else of the first positional
    input, else of ``inputs_embeds``; token ids are read from it when it holds integers.
    ``attention_mask`` (a keyword, as Hugging Face models take it) of shape (n, T) with
    entries 0 and 1 selects the positions; without one every position is coded.

    Parameters
    ----------
    args, kwargs
        One forward pass, as the model gets it (tensors already on its device).

    Returns
    -------
    BatchTokens

    Raises
    ------
    InvalidParameterError
        No input with a token axis, or an ``attention_mask`` that is not (n, T) of 0/1.

    Examples
    --------
    >>> ids = torch.tensor([[5, 6, 0], [7, 0, 0]])
    >>> t = batch_tokens((), {"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])})
    >>> t.table.tolist()
    [(0, 0, 5), (0, 1, 6), (1, 0, 7)]
    """
    seq = kwargs.get("input_ids")
    if seq is None:
        seq = args[0] if args else kwargs.get("inputs_embeds")
    if not isinstance(seq, torch.Tensor) or seq.ndim < 2:
        raise _bad_inputs("batches whose input (`input_ids`, the first input or `inputs_embeds`) has the shape "
                          "(batch, positions, ...)", f"a batch input of {_described(seq)}")
    n, T = int(seq.shape[0]), int(seq.shape[1])
    mask = kwargs.get("attention_mask")
    if mask is None:
        keep = torch.ones((n, T), dtype=torch.bool, device=seq.device)
    else:
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (n, T):
            raise _bad_inputs(f"batches whose `attention_mask` has the shape ({n}, {T}) of their token axis",
                              f"an attention_mask of {_described(mask)}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise _bad_inputs("batches whose `attention_mask` holds only 0 and 1 (1: a real token)",
                              "an attention_mask with other values")
        keep = mask.to(device=seq.device) == 1
    where = torch.nonzero(keep).cpu().numpy()
    table = np.empty(len(where), dtype=TOKEN_DTYPE)
    table["sequence"], table["position"] = where[:, 0], where[:, 1]
    is_ids = not (seq.is_floating_point() or seq.is_complex()) and seq.ndim == 2
    table["token_id"] = seq[keep].cpu().numpy() if is_ids else -1
    return BatchTokens(keep, table)


def _bad_inputs(allowed: str, got: str) -> InvalidParameterError:
    return InvalidParameterError(f"codes: `inputs` must be {allowed} when per_token=True; got {got}")


def _described(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return f"type {type(value).__name__}"


def at_tokens(name: str, z: torch.Tensor, mask: torch.Tensor, pooled: bool = False) -> torch.Tensor:
    """The activations of site ``name`` at the coded positions.

    Parameters
    ----------
    name : str
        The site (for the error message).
    z : Tensor of shape (n, T, ...)
    mask : BoolTensor of shape (n, T)
        :attr:`BatchTokens.mask`.
    pooled : bool, default=False
        The site is a max pooling (refused: its windows are not per position).

    Returns
    -------
    Tensor of shape (mask.sum(), ...)

    Raises
    ------
    PolylensError
        The site's activations do not have the batch's token axis.
    """
    if pooled or z.ndim < 2 or tuple(z.shape[:2]) != tuple(mask.shape):
        what = "is a max pooling" if pooled else f"has activations of shape {tuple(z.shape)}"
        raise PolylensError(
            f"codes: per_token=True needs every site's activations to have the shape (batch, positions, ...) = "
            f"{tuple(mask.shape)} + (...); site {name!r} {what}. Name the per-token sites with `sites=`"
        )
    return z[mask.to(z.device)]


def chunk_tokens(batches: list[BatchTokens]) -> ChunkTokens:
    """Join the tables of a chunk's batches, numbering sequences from 0 in the chunk.

    Raises
    ------
    None of its own
    """
    return _joined([b.table for b in batches], [b.n_sequences for b in batches])


def _joined(tables: list[np.ndarray], counts: list[int]) -> ChunkTokens:
    offsets = np.cumsum([0] + counts)
    parts = []
    for table, offset in zip(tables, offsets):
        shifted = table.copy()
        shifted["sequence"] += offset
        parts.append(shifted)
    joined = np.concatenate(parts) if parts else np.empty(0, dtype=TOKEN_DTYPE)
    return ChunkTokens(joined, int(offsets[-1]))


class TokenCollector:
    """Gathers the :class:`ChunkTokens` of a :func:`~polylens.sampling.codes` run in
    input order and numbers the sequences across chunks."""

    def __init__(self):
        self._tables: list[np.ndarray] = []
        self._counts: list[int] = []

    def add(self, chunk: ChunkTokens) -> None:
        """Collect the tokens table of the next chunk (chunks must come in input order).

        Raises
        ------
        None of its own
        """
        self._tables.append(chunk.table)
        self._counts.append(chunk.n_sequences)

    def result(self, codes: Codes, store: str | os.PathLike | None) -> "TokenCodes":
        """The per-token result of ``codes`` (its rows are the collected tokens); with a
        ``store``, also written next to it (:meth:`TokenCodes.load` reads both).

        Raises
        ------
        ValueError
            If the collected tokens are not one per row of ``codes``.
        OSError
            If writing the tokens file fails.
        """
        table = _joined(self._tables, self._counts).table
        result = TokenCodes(codes.packed, codes.layout, table)
        if store is not None:
            _write_tokens(_tokens_path(store), table)
        return result


@short_repr
@dataclass(frozen=True)
class TokenCodes(Codes):
    """Per-token codes: one row per coded (sequence, position).

    A :class:`~polylens.sampling.Codes` (every function that takes codes takes these, each
    row a sample) whose layout gives each site's per-token unit shape, plus the map from
    rows to tokens.

    Attributes
    ----------
    packed : ndarray of shape (n_tokens, n_bytes), uint8
    layout : CodeLayout
    tokens : ndarray of shape (n_tokens,), TOKEN_DTYPE
        Fields ``sequence`` (index of the sequence in the inputs), ``position`` (index
        along its batch's token axis, padding included) and ``token_id`` (-1 for
        embedding inputs).

    Examples
    --------
    >>> import torch.nn as nn
    >>> from polylens.sampling import codes
    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3), nn.ReLU())
    >>> c = codes(model, torch.tensor([[1, 2, 3]]), per_token=True, progress=False)
    >>> c.packed.shape, c.tokens["position"].tolist(), c.tokens["token_id"].tolist()
    ((3, 1), [0, 1, 2], [1, 2, 3])
    """

    tokens: np.ndarray

    def __post_init__(self):
        super().__post_init__()
        t = self.tokens
        if not isinstance(t, np.ndarray) or t.dtype != TOKEN_DTYPE or t.shape != (len(self.packed),):
            raise ValueError(f"TokenCodes: `tokens` must be a TOKEN_DTYPE array of shape ({len(self.packed)},); got "
                             f"{type(t).__name__} {getattr(t, 'dtype', '')} {getattr(t, 'shape', '')}")

    def __getitem__(self, rows) -> "TokenCodes":
        """The codes and tokens of some rows (an int keeps the row axis)."""
        index = np.atleast_1d(np.arange(len(self))[rows])
        return TokenCodes(np.asarray(self.packed[index]), self.layout, self.tokens[index])

    def select(self, sites) -> "TokenCodes":
        """The codes of a subset of sites, same tokens.

        Raises
        ------
        KeyError
            If ``sites`` names a site that is not in the layout.
        ValueError
            If ``sites`` is empty.
        """
        return TokenCodes(Codes(self.packed, self.layout).select(sites).packed, self.layout.select(sites),
                          self.tokens)

    def save(self, path: str | os.PathLike, chunk_rows: int = 65536, *, overwrite: bool = False) -> Path:
        """Write the codes as :meth:`Codes.save` does (an existing store is refused unless
        ``overwrite=True``) and the tokens to ``<path>.tokens.npy``; returns the codes'
        ``.npy`` path.

        Raises
        ------
        polylens.errors.InvalidParameterError
            As :meth:`Codes.save`: a bad ``path``, or an existing store while ``overwrite`` is
            false, refused before anything is written.
        OSError
            If writing the files fails.
        """
        npy = Codes(self.packed, self.layout).save(path, chunk_rows, overwrite=overwrite)
        _write_tokens(_tokens_path(npy), self.tokens)
        return npy

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> "TokenCodes":
        """Read what :meth:`save` or ``codes(..., per_token=True, store=path)`` wrote.

        Raises
        ------
        FileNotFoundError
            If the ``.npy`` file, its ``.layout.json`` file or its ``.tokens.npy`` file is
            missing.
        ValueError
            As :meth:`Codes.load`, and for a tokens file that is no ``TOKEN_DTYPE`` array with
            one row per code.
        """
        codes = Codes.load(path, mmap=mmap)
        tokens_file = _tokens_path(path)
        if not tokens_file.exists():
            raise FileNotFoundError(f"TokenCodes.load: no tokens file {tokens_file} (the store was not written "
                                    "with per_token=True; read it with Codes.load)")
        return cls(codes.packed, codes.layout, np.load(tokens_file))


def _tokens_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    stem = path.name[:-len(".npy")] if path.suffix == ".npy" else path.name
    return path.with_name(stem + ".tokens.npy")


def _write_tokens(path: Path, table: np.ndarray) -> None:
    with atomic_output(path) as tmp:
        np.save(tmp, table)
