"""Piecewise-linear activations: one small class per nonlinearity.

The contract (see DESIGN.md): given pre-activations, return each unit's *piece*; given
pieces, return the linear map that applies on them and the inequalities that keep every
unit in its piece. A new nonlinearity is one more class here.

Pieces are small integers (``int8``). Inequalities are rows ``sign * z[unit] <= offset``
in terms of the unit's pre-activation ``z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Activation", "ReLU", "LeakyReLU", "PieceRows"]


@dataclass(frozen=True)
class PieceRows:
    """Inequalities ``sign * z[unit] <= offset`` that keep units in their pieces.

    Attributes
    ----------
    unit : ndarray of shape (n_rows,), int
        Index of the unit (within its layer) that each row constrains.
    sign : ndarray of shape (n_rows,), float
        +1 or -1.
    offset : ndarray of shape (n_rows,), float
    """

    unit: np.ndarray
    sign: np.ndarray
    offset: np.ndarray


class Activation:
    """Base class of piecewise-linear activations with a boundary at ``z = 0``.

    Subclasses set :attr:`n_pieces` and implement :meth:`slopes`. The two-piece
    activations here share the boundary rule of the numerical policy: ``z > 0`` is
    piece 1, ``z <= 0`` is piece 0.
    """

    n_pieces: int = 2

    def pieces(self, z: np.ndarray) -> np.ndarray:
        """Piece of every unit, shape of ``z``, ``int8``."""
        return (np.asarray(z) > 0).astype(np.int8)

    def slopes(self, pieces: np.ndarray) -> np.ndarray:
        """Slope of the activation on each unit's piece, float64, shape of ``pieces``."""
        raise NotImplementedError

    def intercepts(self, pieces: np.ndarray) -> np.ndarray:
        """Intercept of the activation on each unit's piece (0 for ReLU-like units)."""
        return np.zeros(np.shape(pieces))

    def piece_rows(self, pieces: np.ndarray) -> PieceRows:
        """One row per unit: ``z <= 0`` for piece 0, ``-z <= 0`` for piece 1."""
        pieces = np.asarray(pieces)
        n = pieces.shape[0]
        return PieceRows(
            unit=np.arange(n),
            sign=np.where(pieces == 1, -1.0, 1.0),
            offset=np.zeros(n),
        )

    def apply(self, z: np.ndarray) -> np.ndarray:
        """The activation itself, float64."""
        p = self.pieces(z)
        return self.slopes(p) * z + self.intercepts(p)


class ReLU(Activation):
    """``max(z, 0)``."""

    def slopes(self, pieces: np.ndarray) -> np.ndarray:
        return np.asarray(pieces, dtype=np.float64)

    def __repr__(self) -> str:
        return "ReLU()"


class LeakyReLU(Activation):
    """``z`` for ``z > 0``, ``negative_slope * z`` otherwise."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def slopes(self, pieces: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(pieces) == 1, 1.0, self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"
