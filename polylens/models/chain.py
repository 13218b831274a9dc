"""A chain of dense affine maps and elementwise activations, evaluated in numpy.

The fast program for MLPs: every affine stretch (Linear layers, Flatten, Dropout, ...)
is composed into one dense matrix, so the affine forms of a region cost one small
matrix product per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens.errors import InvalidParameterError
from polylens.models.activations import Activation
from polylens.models.carry import Carried

__all__ = ["Stage", "ChainProgram"]


@short_repr
@dataclass(frozen=True)
class Stage:
    """An affine map ``z = weight @ a + bias`` followed by an activation.

    Attributes
    ----------
    weight : ndarray of shape (n_out, n_in), float64
    bias : ndarray of shape (n_out,), float64
    activation : Activation or None
        ``None`` only for the final (output) stage.
    name : str
        Qualified name of the module that produced the activation (or the output).
    """

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation | None
    name: str


class ChainProgram:
    """Program of a :class:`~polylens.models.pwlnet.PWLNet` made of dense stages.

    Parameters
    ----------
    stages : list of Stage
        Every stage but the last has an activation; the last has none.
    input_dim : int
    input_shape : tuple of int

    Attributes
    ----------
    blockwise_forms : bool
        True: :meth:`forms` of a batch of codes gives each code's forms bit for bit as
        for the code alone (what the wave search relies on).
    """

    blockwise_forms = True

    def __init__(self, stages: list[Stage], input_dim: int, input_shape: tuple[int, ...]):
        if not stages or stages[-1].activation is not None:
            raise ValueError("ChainProgram: `stages` must end with an output stage that has no activation")
        if any(s.activation is None for s in stages[:-1]):
            raise ValueError("ChainProgram: every stage but the last needs an activation")
        self.stages = list(stages)
        self.input_dim = int(input_dim)
        self.input_shape = tuple(input_shape)
        self.output_dim = self.stages[-1].weight.shape[0]
        self.activations = [s.activation for s in self.stages[:-1]]
        self.names = [s.name for s in self.stages[:-1]]
        self.layer_shapes = [(s.weight.shape[0],) for s in self.stages[:-1]]

    def run(self, x: np.ndarray, upto: int | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Activation inputs (list of (n, n_in_l)) and outputs (n, output_dim) of a batch.

        With ``upto``, stop once activation ``upto``'s input is known (the output is then None).

        Raises
        ------
        ValueError
            If ``x`` does not have ``input_dim`` columns.
        """
        a = x
        pre = []
        for s in self.stages[:-1]:
            z = a @ s.weight.T + s.bias
            pre.append(z)
            if upto is not None and len(pre) > upto:
                return pre, None
            a = s.activation.apply(z)
        return pre, a @ self.stages[-1].weight.T + self.stages[-1].bias

    def advance(self, state, stop: int | None) -> Carried:
        """Run a batch from an input or from carried values to a later activation.

        Parameters
        ----------
        state : ndarray of shape (n, input_dim) or Carried
            Inputs, or the input of activation ``state.layer`` (from this method).
        stop : int or None
            Stop with the input of activation ``stop`` (None: run to the output).

        Returns
        -------
        Carried
            The input of activation ``stop``, shape (n, n_in) (None: the output).

        Raises
        ------
        InvalidParameterError
            If ``stop`` is not after ``state.layer``.
        """
        start = state.layer if isinstance(state, Carried) else None
        if start is not None and stop is not None and stop <= start:
            raise InvalidParameterError(f"ChainProgram.advance: `stop` ({stop}) must come after layer {start}")
        if start is None:
            a, first = np.asarray(state, np.float64), 0
        else:
            a, first = self.stages[start].activation.apply(np.ascontiguousarray(state.values)), start + 1
        last = len(self.stages) - 1 if stop is None else stop
        for s in self.stages[first:last + 1]:
            z = a @ s.weight.T + s.bias
            a = s.activation.apply(z) if s.activation is not None else z
        return Carried(stop, z)

    def forms(self, parts: list[np.ndarray], basis: np.ndarray,
              block: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Affine forms with every activation frozen to its pieces, for one code or a
        batch of B codes.

        Parameters
        ----------
        parts : list of ndarray of shape (n_l,) or (B, n_l)
            Pieces of each activation layer, of one code or of B codes.
        basis : ndarray of shape (B * (1 + k), input_dim)
            One block of 1 + k rows per code: the block's row 0 the subspace's origin,
            rows 1.. its basis vectors.
        block : int, optional
            Rows per block, 1 + k (default: all rows, one block).

        Returns
        -------
        pre : list of ndarray of shape (B * (1 + k), n_in_l)
            Each activation's input: row 0 of a block its value at the origin, rows 1.. its
            slopes.
        out : ndarray of shape (B * (1 + k), output_dim)

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        block = block or basis.shape[0]
        m = basis
        pre = []
        for s, pieces in zip(self.stages[:-1], parts):
            z = blockwise(m, s.weight, s.bias, block)
            pre.append(z)
            m = s.activation.frozen(z, pieces)
        return pre, blockwise(m, self.stages[-1].weight, self.stages[-1].bias, block)

    def node_values(self, x: np.ndarray, parts=None) -> tuple[dict, np.ndarray, list]:
        """Every activation's input (name -> array of shape (n, n_in_l)), the output and
        the list of activation inputs of a batch, run as is (``parts`` None) or with the
        activations frozen to ``parts``.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        pre, out = self.run(x) if parts is None else self.forms(parts, x)
        return dict(zip(self.names, pre)), out, pre

    def split(self, layer: int) -> "ChainProgram":
        """The program from the output of activation ``layer`` onward.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        width = self.stages[layer].weight.shape[0]
        return ChainProgram(self.stages[layer + 1:], width, (width,))

    def weights(self):
        """Arrays that identify the program (for fingerprints).

        Raises
        ------
        None of its own
        """
        for s in self.stages:
            yield s.weight
            yield s.bias


def blockwise(m: np.ndarray, weight: np.ndarray, bias: np.ndarray, block: int) -> np.ndarray:
    """``m @ weight.T`` one block of ``block`` rows at a time (one matrix product per
    block, so a block's result does not depend on the blocks beside it), with ``bias``
    added to row 0 of every block; shape (m.shape[0], weight.shape[0])."""
    z = (m.reshape(-1, block, m.shape[1]) @ weight.T).reshape(-1, weight.shape[0])
    z.reshape(-1, block, z.shape[1])[:, 0] += bias
    return z
