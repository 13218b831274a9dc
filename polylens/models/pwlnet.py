"""``PWLNet``: a piecewise-linear network as a chain of affine maps and activations.

Every exact computation starts here. A ``PWLNet`` is a float64 copy of a model: a list of
:class:`Stage` objects, each an affine map followed by a piecewise-linear activation (the
last stage has none: it is the output map). Fixing the piece of every unit (the *code*)
makes each pre-activation an affine function of the input; :meth:`PWLNet.affine_forms`
computes those functions on any affine subspace ``x = x0 + U t``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from polylens.models.activations import Activation

__all__ = ["PWLNet", "Stage", "AffineForms"]


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


@dataclass(frozen=True)
class AffineForms:
    """Pre-activations and outputs as affine functions of subspace coordinates ``t``.

    For the subspace ``x = x0 + U t`` (``t`` in R^k) and a fixed code, unit ``j``'s
    pre-activation is ``weight[j] @ t + bias[j]`` and the network output is
    ``out_weight @ t + out_bias``.

    Attributes
    ----------
    weight : ndarray of shape (n_units, k)
    bias : ndarray of shape (n_units,)
    out_weight : ndarray of shape (n_outputs, k)
    out_bias : ndarray of shape (n_outputs,)
    """

    weight: np.ndarray
    bias: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray


class PWLNet:
    """A piecewise-linear network in float64, built from a torch model.

    Build one with :meth:`PWLNet.from_torch`; the constructor takes already-converted
    stages.

    Parameters
    ----------
    stages : list of Stage
        Every stage but the last has an activation; the last has none.
    input_dim : int
        Number of input coordinates ``d`` (inputs are flattened, C order).
    input_shape : tuple of int, optional
        Shape of one input sample as the model sees it (defaults to ``(input_dim,)``).

    Examples
    --------
    >>> import torch
    >>> from polylens import PWLNet
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = PWLNet.from_torch(torch.nn.Sequential(
    ...     torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)))
    >>> net.layer_sizes, net.n_units, net.output_dim
    ([3], 3, 1)
    >>> net.codes([[0.5, -0.2]]).shape
    (1, 3)
    """

    def __init__(self, stages: list[Stage], input_dim: int, input_shape: tuple[int, ...] | None = None):
        if not stages or stages[-1].activation is not None:
            raise ValueError("PWLNet: `stages` must end with an output stage that has no activation")
        if any(s.activation is None for s in stages[:-1]):
            raise ValueError("PWLNet: every stage but the last needs an activation")
        self.stages = list(stages)
        self.input_dim = int(input_dim)
        self.input_shape = tuple(input_shape) if input_shape is not None else (self.input_dim,)
        self.layer_sizes = [s.weight.shape[0] for s in self.stages[:-1]]
        self.layer_offsets = np.concatenate([[0], np.cumsum(self.layer_sizes)]).astype(int)
        self.n_units = int(self.layer_offsets[-1])
        self.output_dim = self.stages[-1].weight.shape[0]
        self.unit_layer = np.repeat(np.arange(len(self.layer_sizes)), self.layer_sizes)
        self.unit_index = np.arange(self.n_units) - self.layer_offsets[self.unit_layer]

    @classmethod
    def from_torch(cls, module, input_shape: tuple[int, ...] | None = None) -> "PWLNet":
        """Convert a torch model (a copy in float64; the model itself is not touched).

        Parameters
        ----------
        module : torch.nn.Module or torch.export.ExportedProgram
            A (possibly nested) ``nn.Sequential`` of Linear, ReLU, LeakyReLU, Identity,
            Dropout (taken in eval mode) and Flatten, or an exported program of such a
            chain.
        input_shape : tuple of int, optional
            Shape of one sample, for models that start with ``Flatten``.

        Raises
        ------
        UnsupportedLayerError
            For any other module; the message names the module and its type.
        """
        from polylens.models.adapters import convert

        return convert(module, input_shape=input_shape)

    @property
    def layer_names(self) -> list[str]:
        """Name of each activation layer, in order."""
        return [s.name for s in self.stages[:-1]]

    def unit_label(self, unit: int) -> str:
        """Readable label of a unit (global index into the code)."""
        layer = int(self.unit_layer[unit])
        return f"layer {layer} ({self.stages[layer].name}) unit {int(self.unit_index[unit])}"

    def fingerprint(self) -> str:
        """SHA-256 of the weights: identifies the net in checkpoints."""
        digest = hashlib.sha256()
        for s in self.stages:
            digest.update(np.ascontiguousarray(s.weight).tobytes())
            digest.update(np.ascontiguousarray(s.bias).tobytes())
            digest.update(repr(s.activation).encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ inputs
    def flatten_inputs(self, x, name: str = "x") -> np.ndarray:
        """Validate a batch of inputs and return it as float64 of shape (n, input_dim).

        Accepts a numpy array, a torch tensor or nested lists of shape (n, *input_shape)
        or (n, input_dim); a single sample of shape ``input_shape`` is a batch of one.
        """
        arr = _to_numpy(x)
        if arr.ndim == 0:
            raise ValueError(f"PWLNet: `{name}` must be an array of inputs, got a scalar")
        if arr.shape == self.input_shape or arr.shape == (self.input_dim,):
            arr = arr.reshape(1, -1)
        if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != self.input_dim:
            raise ValueError(
                f"PWLNet: `{name}` must have shape (n, {self.input_dim}) or (n, *{self.input_shape}); "
                f"got shape {tuple(arr.shape)}"
            )
        arr = arr.reshape(arr.shape[0], self.input_dim)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"PWLNet: `{name}` contains NaN or infinite values")
        return arr

    # ------------------------------------------------------------------ forward
    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = x
        pre = []
        for s in self.stages[:-1]:
            z = a @ s.weight.T + s.bias
            pre.append(z)
            a = s.activation.apply(z)
        out = a @ self.stages[-1].weight.T + self.stages[-1].bias
        pre_all = np.concatenate(pre, axis=1) if pre else np.zeros((x.shape[0], 0))
        return pre_all, out

    def forward(self, x) -> np.ndarray:
        """Network output in float64, shape (n, output_dim)."""
        return self._run(self.flatten_inputs(x))[1]

    def preactivations(self, x) -> np.ndarray:
        """Pre-activation of every unit, shape (n, n_units), float64."""
        return self._run(self.flatten_inputs(x))[0]

    def codes(self, x) -> np.ndarray:
        """Polytope codes of a batch: the piece of every unit, shape (n, n_units), int8.

        A unit whose pre-activation is exactly 0 is in its lower piece (see
        :mod:`polylens.tolerances`).
        """
        pre = self.preactivations(x)
        parts = [
            s.activation.pieces(pre[:, lo:hi])
            for s, lo, hi in zip(self.stages[:-1], self.layer_offsets[:-1], self.layer_offsets[1:])
        ]
        return np.concatenate(parts, axis=1) if parts else np.zeros((pre.shape[0], 0), np.int8)

    # ------------------------------------------------------------------ the primitive
    def check_code(self, code) -> np.ndarray:
        """Validate a code and return it as ``int8`` of shape (n_units,)."""
        arr = np.asarray(code)
        if arr.shape != (self.n_units,):
            raise ValueError(f"PWLNet: `code` must have shape ({self.n_units},); got {arr.shape}")
        arr = arr.astype(np.int8)
        for s, lo, hi in zip(self.stages[:-1], self.layer_offsets[:-1], self.layer_offsets[1:]):
            if np.any((arr[lo:hi] < 0) | (arr[lo:hi] >= s.activation.n_pieces)):
                raise ValueError(
                    f"PWLNet: `code` has a piece outside 0..{s.activation.n_pieces - 1} in layer {s.name!r}"
                )
        return arr

    def affine_forms(self, code, x0=None, U=None) -> AffineForms:
        """Every unit's pre-activation as an affine function on ``x = x0 + U t``.

        Parameters
        ----------
        code : array-like of shape (n_units,)
            The piece of every unit (from :meth:`codes`).
        x0 : array-like of shape (input_dim,) or input_shape, optional
            Origin of the subspace; default the zero vector.
        U : array-like of shape (input_dim, k), optional
            Basis of the subspace (columns); default the identity (``t = x``).

        Returns
        -------
        AffineForms
            With ``weight`` of shape (n_units, k); valid wherever ``code`` holds.
        """
        code = self.check_code(code)
        x0 = np.zeros(self.input_dim) if x0 is None else self.flatten_inputs(x0, "x0")[0]
        if U is None:
            U = np.eye(self.input_dim)
        else:
            U = np.asarray(U, dtype=np.float64)
            if U.ndim != 2 or U.shape[0] != self.input_dim:
                raise ValueError(
                    f"PWLNet.affine_forms: `U` must have shape ({self.input_dim}, k); got {U.shape}"
                )
        return self._affine_forms(code, x0, U)

    def _affine_forms(self, code: np.ndarray, x0: np.ndarray, U: np.ndarray) -> AffineForms:
        # Columns: [offset | basis]; one matrix product per stage.
        m = np.concatenate([x0[:, None], U], axis=1)
        pre = []
        for s, lo, hi in zip(self.stages[:-1], self.layer_offsets[:-1], self.layer_offsets[1:]):
            z = s.weight @ m
            z[:, 0] += s.bias
            pre.append(z)
            pieces = code[lo:hi]
            m = s.activation.slopes(pieces)[:, None] * z
            m[:, 0] += s.activation.intercepts(pieces)
        out = self.stages[-1].weight @ m
        out[:, 0] += self.stages[-1].bias
        z_all = np.concatenate(pre, axis=0) if pre else np.zeros((0, U.shape[1] + 1))
        return AffineForms(weight=z_all[:, 1:], bias=z_all[:, 0], out_weight=out[:, 1:], out_bias=out[:, 0])

    def __repr__(self) -> str:
        sizes = "-".join(str(v) for v in [self.input_dim, *self.layer_sizes, self.output_dim])
        return f"PWLNet({sizes}, activations={[repr(s.activation) for s in self.stages[:-1]]})"


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)
