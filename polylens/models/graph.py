"""Any piecewise-linear torch model as a traced graph, evaluated in float64 torch.

``GraphProgram.trace`` traces a float64 copy of the model with ``torch.fx`` and classifies
every node:

- *nonlinear*: ReLU, LeakyReLU, PReLU, ReLU6, Hardtanh, clamp, Abs, MaxPool1d/2d (as
  modules or functional calls); each becomes an
  :class:`~polylens.models.activations.Activation` sized by the example input;
- *affine*: Linear, Conv1d/2d, BatchNorm (eval), AvgPool, AdaptiveAvgPool, Flatten,
  Identity, Dropout, add/sub/neg, multiplication or division by a constant, cat, stack,
  reshapes, permutes, indexing, mean/sum over non-batch dimensions;
- *shape*: ``size``, ``dim``, ``getattr`` of shapes and their arithmetic (evaluated as is).

Anything else raises :class:`~polylens.errors.UnsupportedLayerError` naming the node and
the module it comes from.

Affine forms on a subspace are computed by pushing a batch of ``1 + k`` rows through the
graph: row 0 is the subspace's origin, rows 1.. its basis vectors. Nonlinear nodes apply
their frozen pieces; an affine node that adds constants (a bias, a BatchNorm shift, a
constant summand) has its constant part — the node evaluated with zero inputs — removed
from rows 1.., so those rows stay linear. Memory and time are those of a forward pass of
``1 + k`` samples: no input-space Jacobian is formed.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F

from polylens.errors import UnsupportedLayerError
from polylens.models.activations import Activation, MaxPool, absolute, hardtanh, leaky_relu, relu

__all__ = ["GraphProgram"]

_SAMPLING_HINT = "For models with such layers use the sampling API (polylens.sampling), which works with any module."


@dataclass
class _Step:
    """One node of the traced graph, classified."""

    node: object
    kind: str  # "input", "const", "shape", "affine", "nonlinear", "output"
    homogeneous: bool = True  # affine only: adds no constant
    constant: object = None  # affine, not homogeneous: the node's value at zero input, shape (1, ...)
    activation: Activation | None = None
    out_shape: tuple | None = None  # nonlinear: shape of one output sample
    name: str = ""


def _module_tables():
    nn = torch.nn
    affine = {
        nn.Linear: False, nn.Conv1d: False, nn.Conv2d: False,
        nn.BatchNorm1d: False, nn.BatchNorm2d: False,
        nn.AvgPool1d: True, nn.AvgPool2d: True, nn.AdaptiveAvgPool1d: True, nn.AdaptiveAvgPool2d: True,
        nn.Flatten: True, nn.Unflatten: True, nn.Identity: True,
        nn.Dropout: True, nn.Dropout1d: True, nn.Dropout2d: True,
    }
    nonlinear = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.MaxPool1d, nn.MaxPool2d)
    return affine, nonlinear


def _function_tables():
    aten = torch.ops.aten
    homogeneous = {
        aten.view.default, aten.reshape.default, aten.flatten.using_ints, aten.permute.default,
        aten.transpose.int, aten.cat.default, aten.stack.default, aten.slice.Tensor, aten.select.int,
        aten.squeeze.dim, aten.unsqueeze.default, aten.neg.default, aten.mean.dim, aten.sum.dim_IntList,
        aten.avg_pool1d.default, aten.avg_pool2d.default, aten.adaptive_avg_pool1d.default,
        aten.adaptive_avg_pool2d.default, aten.dropout.default, aten.clone.default, aten.alias.default,
        aten.expand.default,
        torch.cat, torch.stack, torch.flatten, torch.reshape, torch.permute, torch.transpose,
        torch.squeeze, torch.unsqueeze, torch.neg, operator.neg, operator.getitem,
        torch.mean, torch.sum, F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
        F.dropout, F.pad,
        "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "contiguous",
        "mean", "sum", "neg", "flip", "expand", "repeat",
    }
    maybe_constant = {operator.add, operator.sub, torch.add, torch.sub, "add", "sub", "__add__", "__sub__",
                      operator.mul, operator.truediv, torch.mul, torch.div, "mul", "div",
                      F.linear, F.conv1d, F.conv2d, F.batch_norm,
                      aten.add.Tensor, aten.sub.Tensor, aten.add.Scalar, aten.sub.Scalar, aten.mul.Tensor,
                      aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar, aten.linear.default, aten.conv1d.default,
                      aten.conv2d.default, aten.constant_pad_nd.default}
    nonlinear = {F.relu, torch.relu, "relu", F.leaky_relu, F.relu6, F.hardtanh, torch.clamp, "clamp",
                 torch.clamp_min, "clamp_min", torch.abs, "abs", F.max_pool1d, F.max_pool2d,
                 aten.relu.default, aten.leaky_relu.default, aten.hardtanh.default, aten.clamp.default,
                 aten.clamp_min.default, aten.abs.default, aten.max_pool1d.default, aten.max_pool2d.default,
                 F.prelu, aten.prelu.default, aten.relu6.default, aten.relu_.default, aten.leaky_relu_.default,
                 aten.hardtanh_.default, aten.clamp_.default, aten.clamp_min_.default, torch.relu_, "relu_"}
    return homogeneous, maybe_constant, nonlinear


class GraphProgram:
    """Program of a :class:`~polylens.models.pwlnet.PWLNet` traced from any module.

    Build with :meth:`trace`.
    """

    def __init__(self, gm, steps: list[_Step], input_shape: tuple):
        self.gm = gm
        self.steps = steps
        self.input_shape = tuple(int(v) for v in input_shape)
        self.input_dim = int(np.prod(self.input_shape))
        probe = torch.zeros((1, *self.input_shape), dtype=torch.float64)
        self.output_dim = int(np.prod(self._execute(probe, "run")[1].shape[1:]))
        nonlinear = [s for s in steps if s.kind == "nonlinear"]
        self.activations = [s.activation for s in nonlinear]
        self.names = [s.name for s in nonlinear]

    # ------------------------------------------------------------------ tracing
    @classmethod
    def trace(cls, module, example_input) -> "GraphProgram":
        """Trace ``module`` (a float64 copy) and size every layer with ``example_input``."""
        if not isinstance(example_input, torch.Tensor) or example_input.dim() < 2:
            raise ValueError(
                "PWLNet.from_torch: `example_input` must be a tensor with a batch dimension, "
                f"e.g. torch.zeros(1, 3, 32, 32); got {type(example_input).__name__}"
                + (f" of shape {tuple(example_input.shape)}" if isinstance(example_input, torch.Tensor) else "")
            )
        model = copy.deepcopy(module).to(torch.float64)
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if tensor.is_floating_point() and not torch.all(torch.isfinite(tensor)):
                owner = name.rpartition(".")[0]
                raise ValueError(f"module {owner!r}: {name.rpartition('.')[2]} contains NaN or infinite values")
        for name, sub in model.named_modules():
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) and sub.training:
                raise UnsupportedLayerError(
                    f"module {name!r} ({type(sub).__name__}) is in train mode, where it normalises with "
                    "batch statistics (not piecewise linear in one input): call model.eval() first"
                )
        if isinstance(model, fx.GraphModule):
            graph = model.graph
        else:
            try:
                graph = _SourceTracer().trace(model)
            except Exception as err:  # torch.fx raises many kinds of errors for untraceable code
                raise UnsupportedLayerError(
                    f"torch.fx could not trace {type(module).__name__}: {err}. Export it with torch.export, "
                    f"or make its forward traceable. {_SAMPLING_HINT}"
                ) from err
        gm = fx.GraphModule(model, graph)
        x = example_input.detach().to(torch.float64)[:1]
        steps = _classify(gm, x)
        program = cls(gm, steps, tuple(x.shape[1:]))
        program._check_samples_independent(x)
        return program

    def _check_samples_independent(self, x) -> None:
        """Refuse graphs that mix the samples of a batch (the forms batch relies on it)."""
        pair = torch.cat([x, 0.5 * x + 0.25])
        try:
            together = self._execute(pair, "run")[1]
            apart = torch.cat([self._execute(pair[i:i + 1], "run")[1] for i in range(2)])
            same = together.shape == apart.shape and torch.allclose(together, apart, rtol=1e-10, atol=1e-12)
        except RuntimeError:
            same = False
        if not same:
            raise UnsupportedLayerError(
                "the model mixes the samples of a batch or fixes the batch size (e.g. a reshape to a constant "
                "batch, as torch.export makes without dynamic shapes): export with "
                "dynamic_shapes=({0: torch.export.Dim('batch')},), or pass the module itself"
            )

    # ------------------------------------------------------------------ execution
    def _execute(self, x, mode: str, parts=None, upto: int | None = None):
        """Run the steps on a batch; returns (inputs of nonlinear nodes, output tensor).

        ``mode`` is ``"run"`` (ordinary forward) or ``"forms"`` (rows: offset, then
        linear parts; nonlinear nodes frozen to ``parts``). With ``upto``, stop once
        nonlinear node ``upto``'s input is recorded (the output is then None).
        """
        with torch.no_grad():
            return self._steps(x, mode, parts, upto)

    def _steps(self, x, mode: str, parts, upto: int | None = None):
        env: dict = {}
        recorded = []
        layer = 0
        for step in self.steps:
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
                z = args[0]
                recorded.append(z.reshape(z.shape[0], -1).clone())  # in-place activations overwrite z
                if upto is not None and len(recorded) > upto:
                    return recorded, None
                if mode == "run":
                    env[node] = self._call(node, args, kwargs)
                else:
                    env[node] = step.activation.frozen(z, parts[layer])
                layer += 1
                continue
            out = self._call(node, args, kwargs)
            if mode == "forms" and step.constant is not None:
                out = out.clone()
                out[1:] -= step.constant
            env[node] = out
        raise UnsupportedLayerError("the traced graph has no output")

    def _call(self, node, args, kwargs):
        return _evaluate(self.gm, node, args, kwargs)

    def run(self, x: np.ndarray, upto: int | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Activation inputs (list of (n, n_in_l)) and outputs (n, output_dim) of a batch
        (see ChainProgram.run for ``upto``)."""
        batch = torch.as_tensor(x, dtype=torch.float64).reshape(x.shape[0], *self.input_shape)
        recorded, out = self._execute(batch, "run", upto=upto)
        return [r.numpy() for r in recorded], None if out is None else out.reshape(x.shape[0], -1).numpy()

    def forms(self, parts: list[np.ndarray], basis: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Affine forms with every nonlinearity frozen (see ChainProgram.forms)."""
        batch = torch.as_tensor(basis, dtype=torch.float64).reshape(basis.shape[0], *self.input_shape)
        recorded, out = self._execute(batch, "forms", parts)
        return [r.numpy() for r in recorded], out.reshape(basis.shape[0], -1).numpy()

    def split(self, layer: int) -> "GraphProgram":
        """The program from the output of nonlinearity ``layer`` onward."""
        positions = [i for i, s in enumerate(self.steps) if s.kind == "nonlinear"]
        cut = positions[layer]
        cut_step = self.steps[cut]
        earlier = {s.node for s in self.steps[:cut] if s.kind not in ("const",)}
        for step in self.steps[cut + 1:]:
            if step.kind in ("const", "input"):
                continue
            used = {n for n in step.node.all_input_nodes if n in earlier}
            if used:
                raise ValueError(
                    f"PWLNet.split: node {step.name or step.node.name!r} also reads "
                    f"{sorted(n.name for n in used)}, computed before {cut_step.name!r}: a skip connection "
                    "crosses the split point, so the rest of the net is not a function of that layer alone"
                )
        steps = [_Step(cut_step.node, "input")] + [s for s in self.steps[cut + 1:] if s.kind != "input"]
        consts = [s for s in self.steps[:cut] if s.kind == "const"]
        return GraphProgram(self.gm, consts + steps, cut_step.out_shape)

    def weights(self):
        """Arrays that identify the program (for fingerprints)."""
        for tensor in self.gm.state_dict().values():
            yield tensor.detach().cpu().numpy()


class _SourceTracer(fx.Tracer):
    """An fx tracer that records, for every node, the module whose forward made it."""

    def __init__(self):
        super().__init__()
        self._stack = [""]

    def call_module(self, m, forward, args, kwargs):
        self._stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self._stack.pop()

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["source"] = self._stack[-1]
        return node


def _load(value, env, zero: bool = False):
    """Replace nodes in (nested) arguments by their values (zeros of one row if ``zero``
    and the value is a traced tensor of the batch)."""
    if isinstance(value, fx.Node):
        v = env[value]
        if zero and isinstance(v, torch.Tensor) and value.meta.get("batch", False):
            return torch.zeros((1, *v.shape[1:]), dtype=v.dtype, device=v.device)
        return v
    if isinstance(value, (list, tuple)):
        return type(value)(_load(v, env, zero) for v in value)
    if isinstance(value, dict):
        return {k: _load(v, env, zero) for k, v in value.items()}
    return value


def _single(value):
    """A model's output: one tensor (a one-element tuple, as torch.export makes, is unwrapped)."""
    return value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value


def _fetch(gm, node):
    obj = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj


def _source(node) -> str:
    src = node.meta.get("source", "")
    return f" in module {src!r}" if src else ""


def _classify(gm, x) -> list[_Step]:
    """Classify every node, size the nonlinearities with one forward pass of ``x``."""
    affine_modules, nonlinear_modules = _module_tables()
    homogeneous, maybe_constant, nonlinear_funcs = _function_tables()
    env: dict = {}
    steps: list[_Step] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if any(s.kind == "input" for s in steps):
                raise UnsupportedLayerError(f"the model takes more than one input (node {node.name!r})")
            env[node] = x
            node.meta["batch"] = True
            steps.append(_Step(node, "input"))
            continue
        if node.op == "get_attr":
            env[node] = _fetch(gm, node)
            node.meta["batch"] = False
            steps.append(_Step(node, "const"))
            continue
        if node.op == "output":
            steps.append(_Step(node, "output"))
            if not isinstance(_single(_load(node.args[0], env)), torch.Tensor):
                raise UnsupportedLayerError("the model must return a single tensor")
            continue
        if not node.users:  # dead code, e.g. torch.export's input guards: never run
            continue
        args, kwargs = _load(node.args, env), _load(node.kwargs, env)
        batch_inputs = [n for n in node.all_input_nodes if n.meta.get("batch", False)]
        with torch.no_grad():
            value = _evaluate(gm, node, args, kwargs)
        env[node] = value
        is_batch = bool(batch_inputs) and isinstance(value, torch.Tensor)
        node.meta["batch"] = is_batch
        if not batch_inputs or (not isinstance(value, torch.Tensor) and node.target in _SHAPE_QUERIES):
            steps.append(_Step(node, "shape"))
            continue
        step = _classify_node(node, gm, args, kwargs, value, batch_inputs,
                              affine_modules, nonlinear_modules, homogeneous, maybe_constant, nonlinear_funcs)
        if step.kind == "affine" and not step.homogeneous:
            with torch.no_grad():
                step.constant = _evaluate(gm, node, _load(node.args, env, zero=True), _load(node.kwargs, env, zero=True))
        steps.append(step)
    return steps


def _evaluate(gm, node, args, kwargs):
    """Value of a call node for the given arguments."""
    if node.op == "call_module":
        return gm.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    return node.target(*args, **kwargs)


def _describe(node, gm) -> str:
    if node.op == "call_module":
        return f"module {node.target!r} ({type(gm.get_submodule(node.target)).__name__})"
    target = getattr(node.target, "__name__", str(node.target))
    return f"node {node.name!r} ({node.op} {target}){_source(node)}"


def _unsupported(node, gm) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"{_describe(node, gm)} is not piecewise linear or not supported by the exact engine. {_SAMPLING_HINT}"
    )


def _classify_node(node, gm, args, kwargs, value, batch_inputs, affine_modules, nonlinear_modules,
                   homogeneous, maybe_constant, nonlinear_funcs) -> _Step:
    z = args[0] if args else None
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        kind = type(sub)
        if kind in affine_modules:
            return _Step(node, "affine", homogeneous=affine_modules[kind] or _no_bias(sub))
        if kind in nonlinear_modules:
            return _Step(node, "nonlinear", activation=_module_activation(sub, z, node, gm),
                         out_shape=tuple(value.shape[1:]), name=node.target)
        raise _unsupported(node, gm)
    target = node.target
    name = f"{node.meta.get('source') + '.' if node.meta.get('source') else ''}{node.name}"
    if target in nonlinear_funcs:
        return _Step(node, "nonlinear", activation=_function_activation(target, args, kwargs, node, gm),
                     out_shape=tuple(value.shape[1:]), name=name)
    if target in homogeneous:
        return _Step(node, "affine", homogeneous=True)
    if target in maybe_constant:
        tensor_inputs = [a for a in _flat(args) + _flat(list(kwargs.values())) if isinstance(a, torch.Tensor)]
        if target in _MULTIPLICATIVE:
            if sum(_is_batch(a) for a in _flat(list(node.args))) > 1 or (target in _DIVISIONS and not _is_batch(node.args[0])):
                raise UnsupportedLayerError(
                    f"{_describe(node, gm)} multiplies or divides by an input-dependent tensor, which is not "
                    f"piecewise linear. {_SAMPLING_HINT}"
                )
            return _Step(node, "affine", homogeneous=True)
        homog = len(tensor_inputs) == len(batch_inputs) and all(
            not isinstance(a, (int, float)) or a == 0 for a in _flat(args)[1:] if not isinstance(a, torch.Tensor))
        return _Step(node, "affine", homogeneous=homog)
    raise _unsupported(node, gm)


#: Calls on a traced tensor that only read its shape.
_SHAPE_QUERIES = {"size", "dim", "numel", getattr, len, torch.ops.aten.sym_size.int}

_DIVISIONS = {operator.truediv, torch.div, "div", torch.ops.aten.div.Tensor, torch.ops.aten.div.Scalar}
_MULTIPLICATIVE = _DIVISIONS | {operator.mul, torch.mul, "mul", torch.ops.aten.mul.Tensor, torch.ops.aten.mul.Scalar}


def _is_batch(value) -> bool:
    return isinstance(value, fx.Node) and value.meta.get("batch", False)


def _flat(values) -> list:
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flat(v))
        else:
            out.append(v)
    return out


def _no_bias(sub) -> bool:
    return getattr(sub, "bias", None) is None and not isinstance(sub, torch.nn.modules.batchnorm._BatchNorm)


def _pair(v, dims: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims


def _maxpool(in_shape, kernel, stride, padding, dilation, ceil_mode, node, gm) -> MaxPool:
    dims = len(in_shape) - 1
    if dims not in (1, 2):
        raise UnsupportedLayerError(f"{_describe(node, gm)}: max pooling over {dims} dimensions is not supported")
    stride = kernel if stride is None or stride == [] or stride == () else stride
    try:
        return MaxPool(in_shape, _pair(kernel, dims), _pair(stride, dims), _pair(padding, dims),
                       _pair(dilation, dims), ceil_mode)
    except ValueError as err:
        raise UnsupportedLayerError(f"{_describe(node, gm)}: {err}") from err


def _module_activation(sub, z, node, gm) -> Activation:
    nn = torch.nn
    n = int(np.prod(z.shape[1:]))
    if isinstance(sub, nn.ReLU):
        return relu(n)
    if isinstance(sub, nn.LeakyReLU):
        return leaky_relu(n, sub.negative_slope)
    if isinstance(sub, nn.PReLU):
        return _prelu(sub.weight.detach().cpu().double().numpy(), z)
    if isinstance(sub, nn.Hardtanh):  # ReLU6 is a Hardtanh
        return hardtanh(n, float(sub.min_val), float(sub.max_val))
    if sub.return_indices:
        raise UnsupportedLayerError(f"{_describe(node, gm)}: return_indices=True is not supported")
    return _maxpool(tuple(z.shape[1:]), sub.kernel_size, sub.stride, sub.padding, sub.dilation, sub.ceil_mode, node, gm)


def _prelu(weight: np.ndarray, z) -> Activation:
    """PReLU: one slope, or one per channel (dimension 1), broadcast to every unit."""
    n = int(np.prod(z.shape[1:]))
    if weight.size == 1:
        return leaky_relu(n, np.full(n, float(weight.reshape(-1)[0])))
    per_unit = np.broadcast_to(weight.reshape(-1, *([1] * (z.dim() - 2))), tuple(z.shape[1:]))
    return leaky_relu(n, per_unit.reshape(-1))


def _function_activation(target, args, kwargs, node, gm) -> Activation:
    z = args[0]
    n = int(np.prod(z.shape[1:]))
    rest = list(args[1:])

    def arg(i, key, default):
        return rest[i] if len(rest) > i else kwargs.get(key, default)

    aten = torch.ops.aten
    if target in (F.relu, torch.relu, "relu", aten.relu.default, aten.relu_.default, torch.relu_, "relu_"):
        return relu(n)
    if target in (F.leaky_relu, aten.leaky_relu.default, aten.leaky_relu_.default):
        return leaky_relu(n, arg(0, "negative_slope", 0.01))
    if target in (F.prelu, aten.prelu.default):
        return _prelu(arg(0, "weight", None).detach().cpu().double().numpy(), z)
    if target in (F.relu6, aten.relu6.default):
        return hardtanh(n, 0.0, 6.0)
    if target in (F.hardtanh, aten.hardtanh.default, aten.hardtanh_.default):
        return hardtanh(n, float(arg(0, "min_val", -1.0)), float(arg(1, "max_val", 1.0)))
    if target in (torch.clamp, "clamp", torch.clamp_min, "clamp_min", aten.clamp.default, aten.clamp_min.default,
                  aten.clamp_.default, aten.clamp_min_.default):
        lo = arg(0, "min", None)
        hi = arg(1, "max", None) if target in (torch.clamp, "clamp", aten.clamp.default, aten.clamp_.default) else None
        if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor) or (lo is None and hi is None):
            raise UnsupportedLayerError(f"{_describe(node, gm)}: clamp needs scalar bounds")
        return hardtanh(n, -np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))
    if target in (torch.abs, "abs", aten.abs.default):
        return absolute(n)
    kernel = arg(0, "kernel_size", None)
    if arg(5, "return_indices", False):
        raise UnsupportedLayerError(f"{_describe(node, gm)}: return_indices=True is not supported")
    return _maxpool(tuple(z.shape[1:]), kernel, arg(1, "stride", None), arg(2, "padding", 0),
                    arg(3, "dilation", 1), arg(4, "ceil_mode", False), node, gm)
