"""``PWLNet``: a piecewise-linear network in float64, ready for exact geometry.

A ``PWLNet`` wraps a *program* that evaluates the network: a dense numpy chain for MLPs
(:mod:`polylens.models.chain`) or a traced torch graph for anything else
(:mod:`polylens.models.graph`: convolutions, pooling, normalisation, residual blocks).
Both offer the same two operations: run a batch (recording every nonlinearity's input),
and push an affine subspace ``x = x0 + U t`` through the network with every nonlinearity
frozen to given pieces, which yields every pre-activation as an affine function of ``t``
— the primitive of DESIGN.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_array
from polylens.errors import InvalidParameterError

__all__ = ["PWLNet", "AffineForms", "FORMS_BATCH_VALUES"]

#: Values per nonlinearity (rows x units) one batched frozen pass may hold: a few tens of
#: MB of float64 per layer, so that a batch of forms through a deep CNN stays in memory.
FORMS_BATCH_VALUES = 2 ** 22


@short_repr
@dataclass(frozen=True)
class AffineForms:
    """Pre-activations and outputs as affine functions of subspace coordinates ``t``.

    For the subspace ``x = x0 + U t`` (``t`` in R^k) and a fixed code, entry ``j`` of the
    nonlinearities' inputs is ``weight[j] @ t + bias[j]`` and the network output is
    ``out_weight @ t + out_bias``.

    Attributes
    ----------
    weight : ndarray of shape (n_inputs, k)
        ``n_inputs`` is the total input size of all nonlinearities (``n_units`` when every
        nonlinearity is elementwise).
    bias : ndarray of shape (n_inputs,)
    out_weight : ndarray of shape (n_outputs, k)
    out_bias : ndarray of shape (n_outputs,)
    """

    weight: np.ndarray
    bias: np.ndarray
    out_weight: np.ndarray
    out_bias: np.ndarray


class PWLNet:
    """A piecewise-linear network in float64, built from a torch model.

    Build one with :meth:`PWLNet.from_torch`.

    Attributes
    ----------
    input_dim : int
        Number of input coordinates ``d`` (inputs are flattened, C order).
    input_shape : tuple of int
        Shape of one sample as the model sees it.
    output_dim : int
    layer_names : list of str
        Name of each nonlinearity (module qualified name or traced node).
    layer_sizes : list of int
        Units (code entries) of each nonlinearity.
    n_units : int

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

    def __init__(self, program):
        self.program = program
        self.input_dim = program.input_dim
        self.input_shape = program.input_shape
        self.output_dim = program.output_dim
        self.activations = list(program.activations)
        self.layer_names = list(program.names)
        self.layer_sizes = [a.n_units for a in self.activations]
        self.layer_offsets = np.concatenate([[0], np.cumsum(self.layer_sizes)]).astype(int)
        self.n_units = int(self.layer_offsets[-1])
        self.unit_layer = np.repeat(np.arange(len(self.layer_sizes)), self.layer_sizes)
        self.unit_index = np.arange(self.n_units) - self.layer_offsets[self.unit_layer]

    @classmethod
    def from_torch(cls, module, example_input=None, *, input_shape: tuple[int, ...] | None = None,
                   output=None) -> "PWLNet":
        """Convert a torch model (a float64 copy; the model itself is not touched).

        Parameters
        ----------
        module : torch.nn.Module or torch.export.ExportedProgram
            An ``nn.Sequential`` MLP (Linear, ReLU, LeakyReLU, Identity, Dropout,
            Flatten) becomes a fast dense chain; any other module is traced with
            ``torch.fx`` (convolutions, pooling, padding, BatchNorm in eval mode,
            residual additions, concatenation, reshapes and the functional forms of
            every supported nonlinearity), or with ``torch.export`` where ``torch.fx``
            cannot trace it (Hugging Face models). A ``torch.export`` program is run
            from its ATen graph, before or after ``run_decompositions()``. Dropout is
            the identity (eval mode).
        example_input : torch.Tensor of shape (n, *input_shape), optional
            One input batch; needed to trace a model that is not a plain MLP (it fixes
            every layer's shape), unless ``input_shape`` is given or the program
            records its input shape (see :func:`polylens.models.exported_input_shape`).
        input_shape : tuple of int, optional
            Shape of one sample: for an MLP that starts with ``Flatten``, or instead of
            ``example_input`` (the model is then traced on zeros of that shape).
        output : str, int or callable, optional
            For a model that returns a dict, a tuple or a ``ModelOutput``: the key,
            attribute or index of the tensor to study (``output="logits"``), or a
            function of the model's result that returns it.

        Raises
        ------
        UnsupportedLayerError
            For anything not piecewise linear (GELU, Softmax, LayerNorm, attention, a
            BatchNorm in train mode or without running statistics, ...), an option the
            engine does not model, or a module with forward hooks; the message names the
            module or traced node.
        ConversionError
            If the converted net does not reproduce the model's own forward pass at the
            example input and perturbed copies of it (it names the first node that
            differs). A subclass of UnsupportedLayerError.
        InvalidParameterError
            For a bad argument: not a model, an example input of the wrong shape for
            the model, tensors on the meta device, NaN weights, an unknown ``output``.

        Examples
        --------
        >>> import torch
        >>> from polylens import PWLNet
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
        ...                             torch.nn.Flatten(), torch.nn.Linear(32, 3)).eval()
        >>> net = PWLNet.from_torch(model, input_shape=(1, 4, 4))
        >>> net.layer_names, net.layer_sizes
        (['1'], [32])
        """
        from polylens.models.adapters import convert

        return convert(module, example_input=example_input, input_shape=input_shape, output=output)

    def split(self, at: str) -> "PWLNet":
        """The sub-network from the output of nonlinearity ``at`` onward.

        Its input space is the activation space of that layer, so every exact tool
        (regions, facets, enumeration, paths) runs there; its inputs are what
        :meth:`activations_at` returns for that layer. See :attr:`layer_names`.

        Raises
        ------
        InvalidParameterError
            If ``at`` names no nonlinearity (the message lists the names), or a skip
            connection crosses the layer.
        """
        return PWLNet(self.program.split(self._layer("PWLNet.split", "at", at)))

    def activations_at(self, x, name: str) -> np.ndarray:
        """The activations (outputs) of the nonlinearity ``name`` for a batch of inputs.

        Parameters
        ----------
        x : array-like of shape (n, *input_shape) or (n, input_dim)
        name : str
            One of :attr:`layer_names` (the naming of :meth:`split`).

        Returns
        -------
        ndarray of shape (n, *layer_shape), float64
            The layer's output for every input: for a max pool its pooled values, for
            an elementwise activation its activated values. ``net.split(at=name)`` takes
            exactly these as inputs.

        Raises
        ------
        InvalidParameterError
            If ``name`` names no nonlinearity, or ``x`` has the wrong shape.

        Examples
        --------
        >>> import torch
        >>> from polylens import PWLNet
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> net = PWLNet.from_torch(torch.nn.Sequential(
        ...     torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)))
        >>> net.activations_at([[0.5, -0.2], [1.0, 1.0]], "1").shape
        (2, 3)
        """
        layer = self._layer("PWLNet.activations_at", "name", name)
        arr = self.flatten_inputs(x)
        z = self.program.run(arr, upto=layer)[0][layer]
        shape = tuple(self.program.layer_shapes[layer])
        return self.activations[layer].apply(z).reshape(arr.shape[0], *shape)

    def _layer(self, func: str, param: str, name) -> int:
        """Index of the nonlinearity called ``name``."""
        if not isinstance(name, str) or name not in self.layer_names:
            from polylens._validation import invalid

            raise invalid(func, param, f"one of the layer names {self.layer_names}", name)
        return self.layer_names.index(name)

    def unit_label(self, unit: int) -> str:
        """Readable label of a unit (global index into the code).

        Raises
        ------
        None of its own
            An index outside 0..n_units-1 raises ``IndexError``.
        """
        layer = int(self.unit_layer[unit])
        return f"layer {layer} ({self.layer_names[layer]}) unit {int(self.unit_index[unit])}"

    def fingerprint(self) -> str:
        """SHA-256 of the weights and layer types: identifies the net in checkpoints.

        Raises
        ------
        None of its own
        """
        digest = hashlib.sha256()
        for arr in self.program.weights():
            digest.update(np.ascontiguousarray(arr).tobytes())
        digest.update(repr(self.activations).encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ inputs
    def flatten_inputs(self, x, name: str = "x") -> np.ndarray:
        """Validate a batch of inputs and return it as float64 of shape (n, input_dim).

        Accepts a numpy array, a torch tensor or nested lists of shape (n, *input_shape)
        or (n, input_dim); a single sample of shape ``input_shape`` is a batch of one.

        Raises
        ------
        InvalidParameterError
            If ``x`` is a scalar, does not have shape (n, input_dim) or (n, *input_shape), or
            holds NaN or infinite values (the message names ``name``).
        """
        arr = _to_numpy(x)
        if arr.ndim == 0:
            raise InvalidParameterError(f"PWLNet: `{name}` must be an array of inputs, got a scalar")
        if arr.shape == self.input_shape or arr.shape == (self.input_dim,):
            arr = arr.reshape(1, -1)
        if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != self.input_dim:
            raise InvalidParameterError(
                f"PWLNet: `{name}` must have shape (n, {self.input_dim}) or (n, *{self.input_shape}); "
                f"got shape {tuple(arr.shape)}"
            )
        arr = arr.reshape(arr.shape[0], self.input_dim)
        if not np.all(np.isfinite(arr)):
            raise InvalidParameterError(f"PWLNet: `{name}` contains NaN or infinite values")
        return arr

    # ------------------------------------------------------------------ forward
    def forward(self, x) -> np.ndarray:
        """Network output in float64, shape (n, output_dim).

        Raises
        ------
        InvalidParameterError
            If ``x`` is a scalar, does not have shape (n, input_dim) or (n, *input_shape), or
            holds NaN or infinite values.
        """
        return self.program.run(self.flatten_inputs(x))[1]

    def preactivations(self, x) -> np.ndarray:
        """Every nonlinearity's input, concatenated: shape (n, n_inputs), float64.

        Raises
        ------
        InvalidParameterError
            If ``x`` is a scalar, does not have shape (n, input_dim) or (n, *input_shape), or
            holds NaN or infinite values.
        """
        pre = self.program.run(self.flatten_inputs(x))[0]
        return np.concatenate(pre, axis=1) if pre else np.zeros((len(x), 0))

    def codes(self, x) -> np.ndarray:
        """Polytope codes of a batch: the piece of every unit, shape (n, n_units), int8.

        A value exactly on a breakpoint is in the lower piece (``z > 0`` is "on"; see
        :mod:`polylens.tolerances`); a max-pool tie goes to the first position.

        Raises
        ------
        InvalidParameterError
            If ``x`` is a scalar, does not have shape (n, input_dim) or (n, *input_shape), or
            holds NaN or infinite values.
        """
        arr = self.flatten_inputs(x)
        pre = self.program.run(arr)[0]
        parts = [a.pieces(z) for a, z in zip(self.activations, pre)]
        return np.concatenate(parts, axis=1) if parts else np.zeros((arr.shape[0], 0), np.int8)

    # ------------------------------------------------------------------ the primitive
    def check_code(self, code) -> np.ndarray:
        """Validate a code and return it as ``int8`` of shape (n_units,).

        Raises
        ------
        InvalidParameterError
            If ``code`` does not have shape (n_units,) or has a piece outside a layer's range.
        """
        arr = np.asarray(code)
        if arr.shape != (self.n_units,):
            raise InvalidParameterError(f"PWLNet: `code` must have shape ({self.n_units},); got {arr.shape}")
        arr = arr.astype(np.int8)
        for act, name, lo, hi in zip(self.activations, self.layer_names, self.layer_offsets[:-1], self.layer_offsets[1:]):
            if np.any((arr[lo:hi] < 0) | (arr[lo:hi] >= act.n_pieces)):
                raise InvalidParameterError(f"PWLNet: `code` has a piece outside 0..{act.n_pieces - 1} in layer {name!r}")
        return arr

    def split_code(self, code: np.ndarray) -> list[np.ndarray]:
        """The code (shape (n_units,) or (B, n_units)) cut into one array per
        nonlinearity, along its last axis.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        return [code[..., lo:hi] for lo, hi in zip(self.layer_offsets[:-1], self.layer_offsets[1:])]

    def forms_batch_size(self, rows: int) -> int:
        """Codes per call of :meth:`frozen_forms` that keep one pass near
        :data:`FORMS_BATCH_VALUES` values per nonlinearity (at least one code).

        Parameters
        ----------
        rows : int
            Rows per code, 1 + k for forms on a k-dimensional subspace.

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        return max(1, FORMS_BATCH_VALUES // (rows * max(self.n_units, 1)))

    def frozen_forms(self, code: np.ndarray, basis: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Affine forms of every nonlinearity's input and of the output, for a validated
        code or batch of codes, on the subspace whose origin and basis are the rows of
        ``basis``, in one forward pass.

        Parameters
        ----------
        code : ndarray of shape (n_units,) or (B, n_units)
        basis : ndarray of shape (1 + k, input_dim)
            Row 0 the subspace's origin, rows 1.. its basis vectors.

        Returns
        -------
        pre : list of ndarray of shape (1 + k, n_in_l), or (B, 1 + k, n_in_l) for B codes
            Each nonlinearity's input: row 0 its value at the origin, rows 1.. its slopes.
        out : ndarray of shape (1 + k, output_dim), or (B, 1 + k, output_dim)

        Raises
        ------
        None of its own
            Inputs are taken as validated by the caller (:class:`PWLNet` checks them).
        """
        basis = np.ascontiguousarray(basis, dtype=np.float64)  # one layout: products round by it
        if code.ndim == 1:
            return self.program.forms(self.split_code(code), basis)
        rows = basis.shape[0]
        pre, out = self.program.forms(self.split_code(code), np.tile(basis, (code.shape[0], 1)), rows)
        return [z.reshape(code.shape[0], rows, -1) for z in pre], out.reshape(code.shape[0], rows, -1)

    def affine_forms(self, code, x0=None, U=None) -> AffineForms:
        """Every pre-activation as an affine function on ``x = x0 + U t``.

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
            Valid wherever ``code`` holds.

        Raises
        ------
        InvalidParameterError
            If ``code`` is not a valid code (see :meth:`check_code`), ``x0`` is not one input or
            ``U`` is not a finite array of shape (input_dim, k).
        """
        code = self.check_code(code)
        x0 = np.zeros(self.input_dim) if x0 is None else self.flatten_inputs(x0, "x0")[0]
        if U is None:
            U = np.eye(self.input_dim)
        else:
            U = check_array(U, func="PWLNet.affine_forms", name="U", shape=(self.input_dim, None))
        pre, out = self.frozen_forms(code, np.vstack([x0, U.T]))
        z = np.concatenate(pre, axis=1) if pre else np.zeros((U.shape[1] + 1, 0))
        return AffineForms(weight=z[1:].T, bias=z[0], out_weight=out[1:].T, out_bias=out[0])

    def __repr__(self) -> str:
        sizes = "-".join(str(v) for v in [self.input_dim, *self.layer_sizes, self.output_dim])
        return f"PWLNet({sizes}, activations={[repr(a) for a in self.activations]})"


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)
