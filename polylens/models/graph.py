"""Any piecewise-linear torch model as a traced graph, evaluated in float64 torch.

``GraphProgram.trace`` traces a float64 copy of the model with ``torch.fx`` (or takes the
graph of a ``torch.export`` program) and classifies every node with
:func:`polylens.models.ops.classify_node`: nonlinear nodes (ReLU, LeakyReLU, PReLU,
ReLU6, Hardtanh, clamp, Abs, max pooling) become
:class:`~polylens.models.activations.Activation` objects sized by the example input;
affine nodes (Linear, convolutions, BatchNorm in eval, pooling, padding, reshapes,
residual adds, concatenation, products with constants, ...) pass values through; nodes
without a batch input and shape queries are evaluated as they are. Anything else raises
:class:`~polylens.errors.UnsupportedLayerError` naming the node and its module.

Affine forms on a subspace are computed by pushing a batch of ``1 + k`` rows through the
graph: row 0 is the subspace's origin, rows 1.. its basis vectors. Nonlinear nodes apply
their frozen pieces; every affine node has its constant part (its value at zero input,
measured once when tracing: a bias, a BatchNorm shift, a padding value) removed from
rows 1.., so those rows stay linear. Memory and time are those of a forward pass of
``1 + k`` samples: no input-space Jacobian is formed.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.fx as fx

from polylens import tolerances
from polylens.errors import InvalidParameterError, UnsupportedLayerError
from polylens.models.carry import Carried
from polylens.models.ops import SAMPLING_HINT, VIEWS, Step, classify_node, describe, matrix_product

__all__ = ["GraphProgram", "TraceFailed"]


class TraceFailed(UnsupportedLayerError):
    """torch.fx could not trace the model (the adapter then tries torch.export)."""


class GraphProgram:
    """Program of a :class:`~polylens.models.pwlnet.PWLNet` traced from any module.

    Build with :meth:`trace`.

    Attributes
    ----------
    gm : torch.fx.GraphModule
        The float64 graph.
    steps : list of Step
    module_outputs : dict of str to str
        For a model traced with torch.fx: the node whose value each submodule returned.
    """

    def __init__(self, gm, steps: list[Step], input_shape: tuple, module_outputs: dict | None = None):
        self.gm = gm
        self.steps = steps
        self.module_outputs = dict(module_outputs or {})
        self.input_shape = tuple(int(v) for v in input_shape)
        self.input_dim = int(np.prod(self.input_shape))
        probe = torch.zeros((1, *self.input_shape), dtype=torch.float64)
        self.output_dim = int(np.prod(self._execute(probe, "run")[1].shape[1:]))
        nonlinear = [s for s in steps if s.kind == "nonlinear"]
        self.activations = [s.activation for s in nonlinear]
        self.names = [s.name for s in nonlinear]
        self.layer_shapes = [s.out_shape for s in nonlinear]
        self._positions = [i for i, s in enumerate(steps) if s.kind == "nonlinear"]
        self._live_cache: dict = {}
        self._blockwise: bool | None = None

    # ------------------------------------------------------------------ tracing
    @classmethod
    def trace(cls, module, example_input, strip: str = "") -> "GraphProgram":
        """Trace ``module`` (a float64 copy, in eval mode) and size every layer with
        ``example_input`` (a tensor of shape (n, *input_shape); its first row is used).
        ``strip``: a prefix taken off the layer names (that of a wrapper module).

        Raises
        ------
        TraceFailed
            If torch.fx cannot trace the model.
        UnsupportedLayerError
            For a node the exact engine does not model, several inputs, a non-tensor output or
            a graph that mixes the samples of a batch.
        InvalidParameterError
            For NaN or infinite weights, or a model that fails on ``example_input``.
        """
        model = copy.deepcopy(module).to(torch.float64)
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if tensor.is_floating_point() and not torch.all(torch.isfinite(tensor)):
                owner = name.rpartition(".")[0]
                raise InvalidParameterError(f"PWLNet.from_torch: module {owner!r}: {name.rpartition('.')[2]} "
                                            "contains NaN or infinite values")
        model.eval()  # dropout is the identity; BatchNorm in train mode was refused before
        module_outputs: dict = {}
        if isinstance(model, fx.GraphModule):
            graph = model.graph
        else:
            tracer = _SourceTracer()
            try:
                graph = tracer.trace(model)
            except Exception as err:  # torch.fx raises many kinds of errors for untraceable code
                raise TraceFailed(
                    f"torch.fx could not trace {type(module).__name__}: {type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}"
                ) from err
            module_outputs = tracer.module_outputs
        gm = fx.GraphModule(model, graph)
        x = example_input.detach().to(torch.float64)[:1]
        steps = _classify(gm, x, strip)
        program = cls(gm, steps, tuple(x.shape[1:]), module_outputs)
        program._check_samples_independent(x)
        return program

    def _check_samples_independent(self, x) -> None:
        """Refuse graphs that mix the samples of a batch (the forms batch relies on it)."""
        pair = torch.cat([x, 0.5 * x + 0.25])
        try:
            recorded, together = self._execute(pair, "run")
            apart = torch.cat([self._execute(pair[i:i + 1], "run")[1] for i in range(2)])
            floor = max((float(r.abs().max()) for r in recorded if r.numel()), default=0.0)
            same = together.shape == apart.shape and _close(together, apart, floor)
        except RuntimeError:
            same = False
        if not same:
            raise UnsupportedLayerError(
                "the model mixes the samples of a batch or fixes the batch size (e.g. a reshape to a constant "
                "batch, as torch.export makes without dynamic shapes): export with "
                "dynamic_shapes=({0: torch.export.Dim('batch')},), or pass the module itself"
            )

    @property
    def blockwise_forms(self) -> bool:
        """True: :meth:`forms` of a batch of codes gives each code's forms bit for bit as
        for the code alone (what the wave search relies on). So it is when the
        parameters live on the CPU (where a convolution treats each sample on its own),
        every matrix product is by a constant on the right (computed block by block),
        and forms of two codes at two probe points, together and apart, agree bit for
        bit (checked once)."""
        if self._blockwise is None:
            self._blockwise = (self.device.type == "cpu" and not any(s.matrix == "other" for s in self.steps)
                               and self._forms_agree())
        return self._blockwise

    def _forms_agree(self) -> bool:
        """Whether the forms of two codes (those of two random probe inputs) on a random
        2-D subspace are the same together as apart, bit for bit; False where the passes
        fail."""
        try:
            return self._forms_agree_on_probes()
        except (RuntimeError, ValueError, IndexError):
            return False

    def _forms_agree_on_probes(self) -> bool:
        rng = np.random.default_rng(0)
        probe = torch.as_tensor(rng.uniform(-1.0, 1.0, (2, *self.input_shape)))
        recorded, _ = self._execute(probe, "run")
        parts = [act.pieces(z.numpy()) for act, z in zip(self.activations, recorded)]
        basis = rng.standard_normal((3, self.input_dim))
        pre, out = self.forms(parts, np.tile(basis, (2, 1)), 3)
        for i in range(2):
            alone_pre, alone_out = self.forms([p[i] for p in parts], basis)
            if not np.array_equal(alone_out, out[3 * i:3 * i + 3]) or not all(
                    np.array_equal(a, z[3 * i:3 * i + 3]) for a, z in zip(alone_pre, pre)):
                return False
        return True

    # ------------------------------------------------------------------ execution
    def _execute(self, x, mode: str, parts=None, upto: int | None = None, values: dict | None = None,
                 block: int | None = None):
        """Run the steps on a batch; returns (inputs of nonlinear nodes, output tensor).

        ``mode`` is ``"run"`` (ordinary forward) or ``"forms"`` (rows: offset, then
        linear parts; nonlinear nodes frozen to ``parts``). With ``upto``, stop once
        nonlinear node ``upto``'s input is recorded (the output is then None). With
        ``values``, every node's tensor value is stored there under the node's name. In
        ``"forms"`` mode, ``block`` is the number of rows per code (the rows hold one block
        of offset and linear parts per code of ``parts``; None: one block).
        """
        with torch.no_grad():
            return self._steps(x, mode, parts, upto, values, block=block)

    def _steps(self, x, mode: str, parts, upto: int | None = None, values: dict | None = None,
               resume: tuple | None = None, carry: dict | None = None, block: int | None = None):
        """See :meth:`_execute`. ``resume``: (layer, env): start at nonlinearity ``layer``
        with the values ``env`` (``x`` is then unused). ``carry``: filled with every
        node's value when stopping at ``upto``; the nonlinearities' inputs are then not
        recorded (None in their place)."""
        env, layer = ({}, 0) if resume is None else (resume[1], resume[0])
        recorded: list = [None] * layer
        for step in self.steps[self._positions[layer] if resume is not None else 0:]:
            node = step.node
            if step.kind == "input":
                env[node] = x
                continue
            if step.kind == "output":
                return recorded, _single(_load(node.args[0], env))
            if step.kind == "const":
                env[node] = _fetch(self.gm, node)
                continue
            args, kwargs = _load(node.args, env), _load(node.kwargs, env)
            if step.kind == "nonlinear":
                z = args[step.operand]
                # A copy: in-place activations overwrite z.
                recorded.append(None if carry is not None else z.reshape(z.shape[0], -1).clone())
                if upto is not None and len(recorded) > upto:
                    if carry is not None:
                        carry.update(env)
                    return recorded, None
                if mode == "run":
                    out = self._call(node, args, kwargs)
                else:
                    out = step.activation.frozen(z, parts[layer])
                    out = (out, None) if step.first_only else out
                layer += 1
            else:
                if mode == "forms" and step.matrix == "right":
                    out = _block_product(*matrix_product(node, self.gm, args, kwargs), block)
                else:
                    out = self._call(node, args, kwargs)
                if mode == "forms" and step.constant is not None:
                    out = _subtract(out, step.constant, step.first_only, block)
            env[node] = out
            if step.inplace:  # later readers of the overwritten tensor see the result
                env[node.args[0]] = out
            if values is not None and step.kind != "shape":  # a copy: a later in-place op may overwrite it
                value = out[0] if step.first_only else out
                values[node.name] = value.clone() if isinstance(value, torch.Tensor) else value
        raise UnsupportedLayerError("the traced graph has no output")

    def _call(self, node, args, kwargs):
        return _evaluate(self.gm, node, args, kwargs)

    def run(self, x: np.ndarray, upto: int | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Activation inputs (list of (n, n_in_l)) and outputs (n, output_dim) of a batch
        (see ChainProgram.run for ``upto``).

        Raises
        ------
        RuntimeError
            If ``x`` does not have ``input_dim`` entries per row (from torch).
        """
        batch = torch.as_tensor(x, dtype=torch.float64).reshape(x.shape[0], *self.input_shape)
        recorded, out = self._execute(batch, "run", upto=upto)
        return [r.numpy() for r in recorded], None if out is None else out.reshape(x.shape[0], -1).numpy()

    def forms(self, parts: list[np.ndarray], basis: np.ndarray,
              block: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Affine forms with every nonlinearity frozen (see ChainProgram.forms), in one
        forward pass for one code or a batch of codes.

        Raises
        ------
        RuntimeError
            If ``basis`` does not have ``input_dim`` entries per row (from torch).
        """
        batch = torch.as_tensor(basis, dtype=torch.float64).reshape(basis.shape[0], *self.input_shape)
        recorded, out = self._execute(batch, "forms", parts, block=block)
        return [r.numpy() for r in recorded], out.reshape(basis.shape[0], -1).numpy()

    def node_values(self, x: np.ndarray, parts=None) -> tuple[dict, np.ndarray, list]:
        """Every node's value (name -> array of shape (n, ...)), the output and the
        nonlinearities' inputs (as :meth:`run`) of a batch, run as is (``parts`` None) or
        with the nonlinearities frozen to ``parts`` (forms).

        Raises
        ------
        RuntimeError
            If ``x`` does not have ``input_dim`` entries per row (from torch).
        """
        batch = torch.as_tensor(x, dtype=torch.float64).reshape(x.shape[0], *self.input_shape)
        values: dict = {}
        pre, out = self._execute(batch, "run" if parts is None else "forms", parts, values=values)
        arrays = {k: v.reshape(v.shape[0], -1).numpy() for k, v in values.items()
                  if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == x.shape[0]}
        return arrays, out.reshape(x.shape[0], -1).numpy(), [r.numpy() for r in pre]

    @property
    def device(self) -> torch.device:
        """Where the graph's parameters live (the forward passes of :meth:`advance` run there)."""
        tensor = next(iter(self.gm.state_dict().values()), None)
        return torch.device("cpu") if tensor is None else tensor.device

    def advance(self, state, stop: int | None) -> Carried:
        """Run a batch from an input or from carried values to a later nonlinearity.

        Parameters
        ----------
        state : ndarray of shape (n, input_dim) or Carried
            Inputs, or the values before nonlinearity ``state.layer`` (from this method).
        stop : int or None
            Stop just before nonlinearity ``stop`` runs (None: run to the output).

        Returns
        -------
        Carried
            The input of nonlinearity ``stop`` in the first columns, then every other
            value a later step reads (None: the output, shape (n, output_dim)).

        Raises
        ------
        InvalidParameterError
            If ``stop`` is not after ``state.layer``.
        """
        start = state.layer if isinstance(state, Carried) else None
        if start is not None and stop is not None and stop <= start:
            raise InvalidParameterError(f"GraphProgram.advance: `stop` ({stop}) must come after layer {start}")
        carry: dict = {}
        with torch.no_grad():
            if start is None:
                x = torch.as_tensor(state, dtype=torch.float64, device=self.device)
                x = x.reshape(x.shape[0], *self.input_shape)
                _, out = self._steps(x, "run", None, upto=stop, carry=carry)
            else:
                _, out = self._steps(None, "run", None, upto=stop, resume=(start, self._unpack(state)), carry=carry)
        if stop is None:
            return Carried(None, out.reshape(out.shape[0], -1).cpu().numpy())
        return self._pack(carry, stop)

    def _live(self, layer: int) -> list:
        """Nodes computed before nonlinearity ``layer`` that it or a later step reads (its
        operand first); constants and shape values are fetched or replayed instead."""
        if layer not in self._live_cache:
            at = self._positions[layer]
            earlier = {s.node for s in self.steps[:at] if s.kind in ("input", "affine", "nonlinear")}
            step = self.steps[at]
            live = [step.node.args[step.operand]]
            for later in self.steps[at:]:
                live += [n for n in later.node.all_input_nodes if n in earlier and n not in live]
            self._live_cache[layer] = live
        return self._live_cache[layer]

    def _pack(self, env: dict, layer: int) -> Carried:
        """The live values of ``env`` before nonlinearity ``layer`` as one float64 array."""
        layout, columns = [], []
        for node in self._live(layer):
            value = env[node]
            entries = [(None, value)] if isinstance(value, torch.Tensor) else list(enumerate(value))
            for k, entry in entries:
                if isinstance(entry, torch.Tensor) and entry.is_floating_point():
                    layout.append((node, k, None if k is None else (type(value), len(value)), tuple(entry.shape[1:])))
                    columns.append(entry.reshape(entry.shape[0], -1))
        values = torch.cat(columns, dim=1).cpu().numpy()
        return Carried(layer, values, layout)

    def _unpack(self, state: Carried) -> dict:
        """The values of ``state`` as an environment to resume from, with the constants
        and shape values before its layer replayed."""
        values = torch.as_tensor(np.ascontiguousarray(state.values), dtype=torch.float64, device=self.device)
        n = values.shape[0]
        env: dict = {}
        col = 0
        for node, k, container, shape in state.layout:
            width = int(np.prod(shape))
            tensor = values[:, col:col + width].reshape(n, *shape)
            col += width
            if k is None:
                env[node] = tensor
                continue
            kind, length = container
            entries = list(env.get(node, [None] * length))
            entries[k] = tensor
            env[node] = kind(entries) if kind in (tuple, list) else tuple(entries)
        for step in self.steps[:self._positions[state.layer]]:
            if step.kind == "const":
                env[step.node] = _fetch(self.gm, step.node)
            elif step.kind == "shape":
                for n_ in step.node.all_input_nodes:  # shape queries of values not carried: stand-ins
                    if n_ not in env and "sample_shape" in n_.meta:
                        env[n_] = torch.zeros((), dtype=torch.float64, device=self.device).expand(
                            n, *n_.meta["sample_shape"])
                env[step.node] = self._call(step.node, _load(step.node.args, env), _load(step.node.kwargs, env))
        return env

    def split(self, layer: int) -> "GraphProgram":
        """The program from the output of nonlinearity ``layer`` onward.

        Raises
        ------
        InvalidParameterError
            If a skip connection crosses the split point, or it is a max pool that returns
            indices.
        """
        positions = [i for i, s in enumerate(self.steps) if s.kind == "nonlinear"]
        cut = positions[layer]
        cut_step = self.steps[cut]
        earlier = {s.node for s in self.steps[:cut] if s.kind not in ("const",)}
        for step in self.steps[cut + 1:]:
            if step.kind in ("const", "input"):
                continue
            used = {n for n in step.node.all_input_nodes if n in earlier}
            if used:
                raise InvalidParameterError(
                    f"PWLNet.split: node {step.name or step.node.name!r} also reads "
                    f"{sorted(n.name for n in used)}, computed before {cut_step.name!r}: a skip connection "
                    "crosses the split point, so the rest of the net is not a function of that layer alone"
                )
        if cut_step.first_only:
            raise InvalidParameterError(f"PWLNet.split: cannot split at {cut_step.name!r} (a max pool that "
                                        "returns indices); split at another layer")
        steps = [Step(cut_step.node, "input")] + [s for s in self.steps[cut + 1:] if s.kind != "input"]
        consts = [s for s in self.steps[:cut] if s.kind == "const"]
        return GraphProgram(self.gm, consts + steps, cut_step.out_shape)

    def weights(self):
        """Arrays that identify the program (for fingerprints): every tensor of the
        traced module's state dict, as a numpy array, yielded one at a time.

        Raises
        ------
        None of its own
        """
        for tensor in self.gm.state_dict().values():
            yield tensor.detach().cpu().numpy()


class _SourceTracer(fx.Tracer):
    """An fx tracer that records, for every node, the module whose forward made it, and
    for every module the node it returned."""

    def __init__(self):
        super().__init__()
        self._stack = [""]
        self.module_outputs: dict[str, str] = {}

    def call_module(self, m, forward, args, kwargs):
        path = self.path_of_module(m)
        self._stack.append(path)
        try:
            out = super().call_module(m, forward, args, kwargs)
        finally:
            self._stack.pop()
        if isinstance(out, fx.Proxy):
            self.module_outputs[path] = out.node.name
        return out

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["source"] = self._stack[-1]
        return node


def _close(a, b, floor: float = 0.0) -> bool:
    """Equal up to float64 rounding, relative to the larger entry of the two or to
    ``floor`` (the size of the values they were computed from), if larger."""
    scale = max(float(a.abs().max()) if a.numel() else 0.0, float(b.abs().max()) if b.numel() else 0.0, floor)
    return bool(torch.all((a - b).abs() <= tolerances.CONVERSION_CHECK * scale))


def _block_product(x, weight, bias, block: int | None):
    """``x @ weight (+ bias)`` for ``x`` of shape (n, ..., in) and ``weight`` of shape
    (in, out), one block of ``block`` rows at a time (None: one block; ``n`` is a
    multiple of ``block``), as one batched product: every block is its own matrix product
    of the same shape, so its result does not depend on the blocks beside it (a single
    product's rows may round differently with the number of rows)."""
    n = x.shape[0]
    rows = block or n
    flat = x.reshape(n // rows, -1, x.shape[-1])
    out = torch.bmm(flat, weight.expand(flat.shape[0], *weight.shape)).reshape(*x.shape[:-1], weight.shape[1])
    return out if bias is None else out + bias


def _subtract(out, constant, first_only: bool, block: int | None):
    """``out`` with ``constant`` taken off the linear parts: rows 1.. of every block of
    ``block`` rows (None: of all rows, one block)."""
    if first_only:
        return (_subtract(out[0], constant[0], False, block), *out[1:])
    if isinstance(out, (tuple, list)):
        return type(out)(_subtract(o, c, False, block) if c is not None else o for o, c in zip(out, constant))
    out = out.clone(memory_format=torch.contiguous_format)
    out.view(-1, block or out.shape[0], *out.shape[1:])[:, 1:] -= constant
    return out


def _load(value, env, zero: bool = False):
    """Replace nodes in (nested) arguments by their values (zeros of one row if ``zero``
    and the value is a traced tensor of the batch, or a tuple of them)."""
    if isinstance(value, fx.Node):
        v = env[value]
        return _zeros(v) if zero and value.meta.get("batch", False) else v
    if isinstance(value, (list, tuple)):
        return type(value)(_load(v, env, zero) for v in value)
    if isinstance(value, dict):
        return {k: _load(v, env, zero) for k, v in value.items()}
    return value


def _zeros(v):
    if isinstance(v, torch.Tensor):
        return torch.zeros((1, *v.shape[1:]), dtype=v.dtype, device=v.device)
    if isinstance(v, (tuple, list)):
        return type(v)(_zeros(e) for e in v)
    return v


def _single(value):
    """A model's output: one tensor (a one-element tuple, as torch.export makes, is unwrapped)."""
    return value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value


def _fetch(gm, node):
    obj = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj


#: Calls on a traced tensor that only read its shape.
_SHAPE_QUERIES = {"size", "dim", "numel", getattr, len, torch.ops.aten.sym_size.int, torch.ops.aten.sym_numel.default}


def _holds_tensor(value) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value)


def _classify(gm, x, strip: str = "") -> list[Step]:
    """Classify every node, size the nonlinearities with one forward pass of ``x``."""
    env: dict = {}
    steps: list[Step] = []
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if any(s.kind == "input" for s in steps):
                raise UnsupportedLayerError(f"the model takes more than one input (node {node.name!r})")
            env[node] = x
            node.meta["batch"] = True
            node.meta["sample_shape"] = tuple(x.shape[1:])
            steps.append(Step(node, "input"))
            continue
        if node.op == "get_attr":
            env[node] = _fetch(gm, node)
            node.meta["batch"] = False
            steps.append(Step(node, "const"))
            continue
        if node.op == "output":
            steps.append(Step(node, "output"))
            if not isinstance(_single(_load(node.args[0], env)), torch.Tensor):
                raise UnsupportedLayerError(
                    "the model must return a single tensor; for a model that returns a dict, a tuple or a "
                    "ModelOutput, choose one with `output` (e.g. output='logits')")
            continue
        if not node.users:  # dead code, e.g. torch.export's input guards: never run
            continue
        args, kwargs = _load(node.args, env), _load(node.kwargs, env)
        batch_inputs = [n for n in node.all_input_nodes if n.meta.get("batch", False)]
        try:
            with torch.no_grad():
                value = _evaluate(gm, node, args, kwargs)
        except (RuntimeError, IndexError, ValueError, TypeError) as err:
            shape = tuple(x.shape[1:])
            raise InvalidParameterError(
                f"PWLNet.from_torch: the model fails on an input of shape {shape} (the shape of "
                f"`example_input` without its batch dimension) at {describe(node, gm)}: "
                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}. Give `example_input` (or "
                "`input_shape`) of the shape the model takes"
            ) from None
        env[node] = value
        node.meta["batch"] = bool(batch_inputs) and _holds_tensor(value)
        if node.meta["batch"] and isinstance(value, torch.Tensor):
            node.meta["sample_shape"] = tuple(value.shape[1:])
        if not batch_inputs or (not _holds_tensor(value) and node.target in _SHAPE_QUERIES):
            steps.append(Step(node, "shape"))
            continue
        step = classify_node(node, gm, args, kwargs, value, env)
        if step.inplace:
            _check_inplace(node, gm, order)
        if step.kind == "affine":
            with torch.no_grad():
                const = _evaluate(gm, node, _load(node.args, env, zero=True), _load(node.kwargs, env, zero=True))
            step.constant = _nonzero(const[:1] if step.first_only else const)
        if step.kind == "nonlinear":
            step.name = step.name.removeprefix(strip)
            calls[step.name] = calls.get(step.name, 0) + 1
            step.name += f"@{calls[step.name]}" if calls[step.name] > 1 else ""
        steps.append(step)
    return steps


def _nonzero(const):
    """The constant part, or None where it is zero (tuples: per entry)."""
    if isinstance(const, torch.Tensor):
        return const if torch.any(const != 0) else None
    if isinstance(const, (tuple, list)):
        parts = [_nonzero(c) if isinstance(c, torch.Tensor) else None for c in const]
        return None if all(p is None for p in parts) else tuple(parts)
    return None


def _check_inplace(node, gm, order) -> None:
    """An op that overwrites its input is run as one whose result replaces that input; this
    is exact unless another view of the same memory is read later (refused)."""
    target = node.args[0]
    group, todo = {target}, [target]
    while todo:  # every node that shares memory with the overwritten tensor
        n = todo.pop()
        linked = [u for u in n.users if _is_view(u) and u.args[0] is n]
        if _is_view(n) and isinstance(n.args[0], fx.Node):
            linked.append(n.args[0])
        for m in linked:
            if m not in group:
                group.add(m)
                todo.append(m)
    for other in group - {target}:
        late = [u for u in other.users if order[u] > order[node]]
        if late:
            raise UnsupportedLayerError(
                f"{describe(node, gm)} overwrites {target.name!r} in place while {describe(late[0], gm)} reads "
                f"{other.name!r}, another view of the same memory, later; use the out-of-place op. {SAMPLING_HINT}"
            )


def _is_view(node) -> bool:
    return node.op in ("call_method", "call_function") and bool(node.args) and node.target in VIEWS


def _evaluate(gm, node, args, kwargs):
    """Value of a call node for the given arguments."""
    if node.op == "call_module":
        return gm.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    return node.target(*args, **kwargs)
