"""Piecewise-linear activations: the one contract every nonlinearity fulfils.

Given the activation's input ``z`` (its pre-activations, flattened to ``n_in`` entries per
sample), a nonlinearity

- returns each unit's *piece* (:meth:`Activation.pieces`, ``int8``, ``n_units`` per sample);
- given pieces, returns the inequalities that keep every unit in its piece
  (:meth:`Activation.rows`), each labelled with the piece that lies across it;
- given pieces, applies the linear map of those pieces to affine forms
  (:meth:`Activation.frozen`), in numpy or torch.

Two classes cover everything supported: :class:`Elementwise` (ReLU, LeakyReLU, PReLU,
ReLU6/Hardtanh/clamp, Abs: breakpoints with a slope and an intercept between them) and
:class:`MaxPool` (the piece of a window is the position of its maximum).

Boundary rule (numerical policy): a value exactly on a breakpoint is in the lower piece
(for ReLU, ``z > 0`` is "on"); a window's tie goes to its first position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens.errors import UnsupportedLayerError

__all__ = ["Activation", "Elementwise", "MaxPool", "PieceRows", "relu", "leaky_relu", "hardtanh", "absolute"]


@short_repr
@dataclass(frozen=True)
class PieceRows:
    """Inequalities ``sign * (z[pos] - z[neg]) <= offset`` (``z[-1]`` reads as 0).

    Attributes
    ----------
    unit : ndarray of shape (n_rows,), int
        The unit each row keeps in its piece.
    across : ndarray of shape (n_rows,), int8
        The unit's piece just across the row.
    pos, neg : ndarray of shape (n_rows,), int
        Entries of the activation's input; ``neg == -1`` means no second entry.
    sign : ndarray of shape (n_rows,), float
    offset : ndarray of shape (n_rows,), float
    """

    unit: np.ndarray
    across: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    sign: np.ndarray
    offset: np.ndarray


class Activation:
    """Interface of a piecewise-linear nonlinearity (see the module notes).

    Attributes
    ----------
    n_in : int
        Input entries per sample.
    n_units : int
        Units (entries of the code) per sample.
    n_pieces : int
        Pieces per unit.
    """

    n_in: int
    n_units: int
    n_pieces: int

    def pieces(self, z: np.ndarray) -> np.ndarray:
        """Pieces of a batch: ``z`` of shape (n, n_in) -> int8 array of shape (n, n_units).

        Raises
        ------
        NotImplementedError
            Always: a subclass implements it.
        """
        raise NotImplementedError

    def rows(self, pieces: np.ndarray) -> PieceRows:
        """Inequalities that keep every unit in ``pieces`` (shape (n_units,)).

        Raises
        ------
        NotImplementedError
            Always: a subclass implements it.
        """
        raise NotImplementedError

    def frozen(self, z, pieces):
        """Apply the pieces' linear maps to affine forms.

        ``pieces`` has shape (n_units,) (one code) or (B, n_units) (a batch of codes);
        ``z`` has shape (B * (1 + k), n_in) (numpy) or (B * (1 + k), *input_shape)
        (torch), one block of 1 + k rows per code: the block's row 0 is the offset, its
        other rows are linear parts (they get no intercept). Returns the activation's
        output in the same layout.

        Raises
        ------
        NotImplementedError
            Always: a subclass implements it.
        """
        raise NotImplementedError

    def apply(self, z: np.ndarray) -> np.ndarray:
        """The activation itself on a batch of shape (n, n_in) (float64 numpy).

        Raises
        ------
        NotImplementedError
            Always: a subclass implements it.
        """
        raise NotImplementedError


class Elementwise(Activation):
    """A unit-wise piecewise-linear function with breakpoints.

    On piece ``p`` (between ``breaks[p - 1]`` and ``breaks[p]``) the output is
    ``slopes[p] * z + intercepts[p]``.

    Parameters
    ----------
    n : int
        Number of units (= inputs).
    breaks : sequence of float, increasing
    slopes, intercepts : array-like of shape (len(breaks) + 1,) or (len(breaks) + 1, n)
        Per piece, optionally per unit (PReLU has a slope per channel).
    name : str
        What to call it in ``repr``.

    Raises
    ------
    UnsupportedLayerError
        If the pieces do not meet at the breaks (a discontinuous function).
    """

    def __init__(self, n: int, breaks, slopes, intercepts, name: str):
        self.n_in = self.n_units = int(n)
        self.breaks = np.asarray(breaks, dtype=np.float64)
        self.n_pieces = self.breaks.size + 1
        self.slope_table = np.broadcast_to(np.asarray(slopes, np.float64).reshape(self.n_pieces, -1), (self.n_pieces, n))
        self.intercept_table = np.broadcast_to(
            np.asarray(intercepts, np.float64).reshape(self.n_pieces, -1), (self.n_pieces, n))
        self.name = name
        at_breaks = [(self.slope_table[p:p + 2] * b + self.intercept_table[p:p + 2]) for p, b in enumerate(self.breaks)]
        if any(not np.allclose(v[0], v[1], rtol=1e-12, atol=1e-12) for v in at_breaks):
            raise UnsupportedLayerError(
                f"Elementwise {name}: the pieces must meet at the breaks; a discontinuous activation is not "
                "piecewise linear in the sense the exact engine needs (continuous), so it cannot be converted")
        self._units = np.arange(n)
        self._no_second = np.full(n, -1)

    def pieces(self, z: np.ndarray) -> np.ndarray:
        """Pieces of a batch: ``z`` of shape (n, n_in) -> int8 array of shape (n, n_units).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        if self.breaks.size == 1:
            return (z > self.breaks[0]).astype(np.int8)
        return np.searchsorted(self.breaks, z, side="left").astype(np.int8)

    def slopes(self, pieces: np.ndarray) -> np.ndarray:
        """Slope of every unit's piece, shape like ``pieces``.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        return self.slope_table[pieces, self._units]

    def intercepts(self, pieces: np.ndarray) -> np.ndarray:
        """Intercept of every unit's piece, shape like ``pieces``.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        return self.intercept_table[pieces, self._units]

    def rows(self, pieces: np.ndarray) -> PieceRows:
        """Inequalities that keep every unit in ``pieces`` (shape (n_units,)).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        pieces = np.asarray(pieces, dtype=np.int64)
        if self.breaks.size == 1:  # one row per unit: z <= break (piece 0) or -z <= -break (piece 1)
            sign = np.where(pieces == 1, -1.0, 1.0)
            return PieceRows(unit=self._units, across=(1 - pieces).astype(np.int8), pos=self._units,
                             neg=self._no_second, sign=sign, offset=sign * self.breaks[0])
        lower = np.flatnonzero(pieces > 0)  # z >= breaks[p - 1]  <=>  -z <= -break
        upper = np.flatnonzero(pieces < self.breaks.size)  # z <= breaks[p]
        unit = np.concatenate([lower, upper])
        return PieceRows(
            unit=unit,
            across=np.concatenate([pieces[lower] - 1, pieces[upper] + 1]).astype(np.int8),
            pos=unit,
            neg=np.full(unit.size, -1),
            sign=np.concatenate([-np.ones(lower.size), np.ones(upper.size)]),
            offset=np.concatenate([-self.breaks[pieces[lower] - 1], self.breaks[pieces[upper]]]),
        )

    def frozen(self, z, pieces):
        """Apply the pieces' linear maps to affine forms (see :meth:`Activation.frozen`).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        pieces = np.atleast_2d(pieces)
        blocks = (pieces.shape[0], -1, *z.shape[1:])
        slope, intercept = self.slopes(pieces), self.intercepts(pieces)
        if isinstance(z, np.ndarray):
            out = slope[:, None] * z.reshape(blocks)
            out[:, 0] += intercept
            return out.reshape(z.shape)
        import torch

        tables = torch.as_tensor(np.stack([slope, intercept], axis=1), dtype=z.dtype, device=z.device)
        tables = tables.reshape(pieces.shape[0], 2, *z.shape[1:])
        out = z.reshape(blocks) * tables[:, :1]
        out[:, 0] += tables[:, 1]
        return out.reshape(z.shape)

    def apply(self, z: np.ndarray) -> np.ndarray:
        """The activation itself on a batch of shape (n, n_in) (float64 numpy).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        # The function is continuous: the first piece plus one hinge max(z - b, 0) per
        # break, scaled by the change of slope there (few passes over big batches).
        first = np.any(self.slope_table[0]) or np.any(self.intercept_table[0])
        out = self.slope_table[0] * z + self.intercept_table[0] if first else None
        for k, b in enumerate(self.breaks, start=1):
            hinge = np.maximum(z - b, 0.0) if b else np.maximum(z, 0.0)
            change = self.slope_table[k] - self.slope_table[k - 1]
            if np.any(change != 1.0):
                hinge *= change
            out = hinge if out is None else np.add(out, hinge, out=out)
        return out

    def __repr__(self) -> str:
        return self.name


def relu(n: int) -> Elementwise:
    """``max(z, 0)``: pieces 0 (``z <= 0``) and 1 (``z > 0``).

    Raises
    ------
    None of its own
    """
    return Elementwise(n, [0.0], [0.0, 1.0], [0.0, 0.0], "ReLU()")


def leaky_relu(n: int, negative_slope) -> Elementwise:
    """``z`` above 0, ``negative_slope * z`` below (a scalar, or one slope per unit: PReLU).

    Raises
    ------
    None of its own
    """
    slope = np.asarray(negative_slope, dtype=np.float64)
    lo = slope.reshape(1, -1) if slope.ndim else slope.reshape(1)
    slopes = np.vstack([np.broadcast_to(lo, (1, max(lo.size, 1))), np.ones((1, max(lo.size, 1)))])
    label = f"LeakyReLU({float(slope):g})" if slope.ndim == 0 else "PReLU()"
    return Elementwise(n, [0.0], slopes, [0.0, 0.0], label)


def hardtanh(n: int, lo: float, hi: float) -> Elementwise:
    """``clamp(z, lo, hi)`` (ReLU6 is ``hardtanh(0, 6)``); either bound may be infinite.

    Raises
    ------
    None of its own
    """
    if np.isinf(hi):
        return Elementwise(n, [lo], [0.0, 1.0], [lo, 0.0], f"Clamp(min={lo:g})")
    if np.isinf(lo):
        return Elementwise(n, [hi], [1.0, 0.0], [0.0, hi], f"Clamp(max={hi:g})")
    return Elementwise(n, [lo, hi], [0.0, 1.0, 0.0], [lo, 0.0, hi], f"Hardtanh({lo:g}, {hi:g})")


def absolute(n: int) -> Elementwise:
    """``|z|``: pieces 0 (``z <= 0``, slope -1) and 1 (``z > 0``, slope 1).

    Raises
    ------
    None of its own
    """
    return Elementwise(n, [0.0], [-1.0, 1.0], [0.0, 0.0], "Abs()")


class MaxPool(Activation):
    """Max pooling (1-D or 2-D) over windows of the input; the piece is the arg-max.

    Parameters
    ----------
    in_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)`` of one sample.
    kernel, stride, padding, dilation : tuple of int
        One entry per spatial dimension (as in ``nn.MaxPool1d/2d``).
    ceil_mode : bool
        Must be False.

    Raises
    ------
    UnsupportedLayerError
        If ``ceil_mode`` is True.
    """

    def __init__(self, in_shape, kernel, stride, padding, dilation, ceil_mode: bool = False):
        import torch

        self.in_shape = tuple(int(v) for v in in_shape)
        dims = len(self.in_shape) - 1
        index = torch.arange(int(np.prod(self.in_shape)), dtype=torch.float64).reshape(1, *self.in_shape) + 1
        spatial_in = list(self.in_shape[1:])
        if dims == 1:
            index = index.unsqueeze(3)
            spatial_in.append(1)
            kernel, stride, padding, dilation = ((*kernel, 1), (*stride, 1), (*padding, 0), (*dilation, 1))
        if ceil_mode:
            raise UnsupportedLayerError("MaxPool with ceil_mode=True is not supported; use ceil_mode=False, or pad the "
                                        "input so that the windows fit")
        # Windows as columns of an unfold of "index + 1" (0 marks padding).
        cols = torch.nn.functional.unfold(index, kernel, dilation=dilation, padding=padding, stride=stride)
        C = self.in_shape[0]
        size = int(np.prod(kernel))
        windows = cols.reshape(C, size, -1).permute(0, 2, 1).reshape(-1, size)
        self.windows = windows.numpy().astype(np.int64) - 1  # (n_windows, size), -1 = padding
        spatial = cols.shape[-1]
        out_spatial = [
            (spatial_in[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1
            for d in range(2)
        ]
        self.out_shape = (C, *out_spatial[:dims]) if dims == 2 else (C, out_spatial[0])
        assert int(np.prod(out_spatial)) == spatial
        self.n_in = int(np.prod(self.in_shape))
        self.n_units = self.windows.shape[0]
        self.n_pieces = size
        self._valid = self.windows >= 0
        self._all_valid = bool(self._valid.all())
        self._rows = np.arange(self.n_units)

    def pieces(self, z: np.ndarray) -> np.ndarray:
        """Pieces of a batch: ``z`` of shape (n, n_in) -> int8 array of shape (n, n_units).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        best = self._entries(z, 0)
        pieces = np.zeros(best.shape, np.int8)
        for j in range(1, self.n_pieces):  # the first of equal maxima wins, as argmax
            value = self._entries(z, j)
            pieces[value > best] = j
            np.maximum(best, value, out=best)
        return pieces

    def _entries(self, z: np.ndarray, j: int) -> np.ndarray:
        """Entry ``j`` of every window, shape (n, n_units); -inf where it is padding."""
        value = z[:, np.maximum(self.windows[:, j], 0)]
        return value if self._all_valid else np.where(self._valid[:, j], value, -np.inf)

    def winners(self, pieces: np.ndarray) -> np.ndarray:
        """Input entry of each window's maximum, shape (n_units,).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        return self.windows[self._rows, np.asarray(pieces, dtype=np.int64)]

    def rows(self, pieces: np.ndarray) -> PieceRows:
        """Inequalities that keep every unit in ``pieces`` (shape (n_units,)).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        win = self.winners(pieces)
        unit, j = np.nonzero(self._valid & (np.arange(self.n_pieces)[None, :] != np.asarray(pieces)[:, None]))
        return PieceRows(unit=unit, across=j.astype(np.int8), pos=self.windows[unit, j], neg=win[unit],
                         sign=np.ones(unit.size), offset=np.zeros(unit.size))

    def frozen(self, z, pieces):
        """Apply the pieces' linear maps to affine forms (see :meth:`Activation.frozen`).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        win = self.winners(np.atleast_2d(pieces))[:, None, :]
        flat = z.reshape(win.shape[0], -1, self.n_in)
        if isinstance(z, np.ndarray):
            return np.take_along_axis(flat, win, axis=2).reshape(z.shape[0], -1)
        import torch

        index = torch.as_tensor(win, device=z.device).expand(-1, flat.shape[1], -1)
        return torch.gather(flat, 2, index).reshape(z.shape[0], *self.out_shape)

    def apply(self, z: np.ndarray) -> np.ndarray:
        """The activation itself on a batch of shape (n, n_in) (float64 numpy).

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        vals = np.where(self._valid, z[:, np.maximum(self.windows, 0)], -np.inf)
        return vals.max(axis=2)

    def __repr__(self) -> str:
        return f"MaxPool(windows={self.n_units}x{self.n_pieces})"
