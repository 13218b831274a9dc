"""Which traced ops and modules the exact engine models, and how (private).

One place lists every module and function a traced graph may hold, for both routes:
``torch.fx`` graphs (modules, ``torch`` / ``F`` functions and tensor methods) and
``torch.export`` programs, before and after ``run_decompositions()`` (ATen ops such as
``conv2d`` / ``convolution``, ``batch_norm`` / ``_native_batch_norm_legit_no_training``,
``max_pool2d`` / ``max_pool2d_with_indices``, ``linear`` / ``addmm``, ``pad`` /
``constant_pad_nd``). :func:`classify_node` turns one node into a :class:`Step`:

- *nonlinear*: an :class:`~polylens.models.activations.Activation` sized by the node's input;
- *affine*: any op that is affine in its batch inputs (its constant part, the value at zero
  input, is measured by the caller, so a bias, a BatchNorm shift or a padding value ``c``
  are all exact);
- anything else raises :class:`~polylens.errors.UnsupportedLayerError` naming the node.

Options that change what an op computes are checked: a BatchNorm in train mode or without
running statistics, dropout that is active, max pooling with ``ceil_mode`` or returned
indices that are used, a product or quotient of two input-dependent tensors.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F

from polylens._repr import short_repr
from polylens.errors import UnsupportedLayerError
from polylens.models.activations import Activation, MaxPool, absolute, hardtanh, leaky_relu, relu

__all__ = ["matrix_product", "Step", "classify_node", "describe", "unsupported", "SAMPLING_HINT", "is_inplace"]

SAMPLING_HINT = "For models with such layers use the sampling API (polylens.sampling), which works with any module."

aten = torch.ops.aten
nn = torch.nn


@short_repr
@dataclass
class Step:
    """One node of a traced graph, classified.

    Attributes
    ----------
    node : torch.fx.Node
    kind : str
        ``"input"``, ``"const"`` (a parameter or buffer), ``"shape"`` (evaluated as is: no
        batch input, or a shape query), ``"affine"``, ``"nonlinear"`` or ``"output"``.
    constant : torch.Tensor or tuple or None
        Affine only: the node's value at zero input (one row), or None where it is zero.
    activation : Activation or None
        Nonlinear only.
    out_shape : tuple of int or None
        Nonlinear only: shape of one sample of its output.
    name : str
        Nonlinear only: the layer name: the path of a torch.nn activation module, else
        the path of the module that made the node and the node's name (a module called
        more than once gets ``@2``, ``@3``, ... for its later calls).
    inplace : bool
        The op overwrites its first argument (later readers see the result).
    first_only : bool
        The op returns a tuple whose first entry is the batch result (max pool with
        indices, the decomposed batch norms); only ``[0]`` is ever read.
    operand : int
        Nonlinear only: the argument that holds its input (0 but for ``where``).
    matrix : str or None
        Affine only: ``"right"`` for a product of the batch by a constant matrix on its
        right (Linear, ``linear``, ``addmm``, ``mm``, ``matmul``; see :func:`matrix_product`),
        ``"other"`` for another matrix product (the constant on the left, or not 2-D),
        None for any other op.
    """

    node: object
    kind: str
    constant: object = None
    activation: Activation | None = None
    out_shape: tuple | None = None
    name: str = ""
    inplace: bool = False
    first_only: bool = False
    operand: int = 0
    matrix: str | None = None


# ----------------------------------------------------------------------------- tables

_AFFINE_MODULES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d,
    nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReplicationPad1d, nn.ReplicationPad2d, nn.CircularPad1d, nn.CircularPad2d,
)
_NONLINEAR_MODULES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.MaxPool1d, nn.MaxPool2d)

#: Ops that are affine in their batch inputs whatever their other arguments.
_AFFINE_FUNCTIONS = frozenset({
    # torch.fx: torch / F functions, operators and tensor methods
    torch.cat, torch.stack, torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze,
    torch.unsqueeze, torch.neg, torch.mean, torch.sum, torch.add, torch.sub, torch.split, torch.chunk,
    torch.unbind, torch.flip, torch.zeros_like, torch.ones_like,
    operator.neg, operator.pos, operator.getitem, operator.add, operator.sub,
    F.linear, F.conv1d, F.conv2d, F.batch_norm, F.pad, F.dropout, F.avg_pool1d, F.avg_pool2d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d,
    "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "contiguous", "mean", "sum",
    "neg", "flip", "expand", "repeat", "add", "sub", "add_", "sub_", "split", "chunk", "unbind", "clone",
    "detach", "t",
    # torch.export, before and after run_decompositions()
    aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.flatten.using_ints,
    aten.permute.default, aten.t.default, aten.transpose.int, aten.cat.default, aten.stack.default,
    aten.slice.Tensor, aten.select.int, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default,
    aten.unsqueeze.default, aten.expand.default, aten.clone.default, aten.alias.default, aten.detach.default,
    aten.contiguous.default, aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default,
    aten.unbind.int, aten.flip.default, aten.repeat.default, aten.neg.default, aten.mean.dim,
    aten.sum.dim_IntList, aten.add.Tensor, aten.sub.Tensor, aten.add.Scalar, aten.sub.Scalar, aten.rsub.Scalar,
    aten.add_.Tensor, aten.sub_.Tensor, aten.linear.default, aten.conv1d.default, aten.conv2d.default,
    aten.convolution.default, aten.batch_norm.default, aten.native_batch_norm.default,
    aten._native_batch_norm_legit_no_training.default, aten.avg_pool1d.default, aten.avg_pool2d.default,
    aten.adaptive_avg_pool1d.default, aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default,
    aten.pad.default, aten.constant_pad_nd.default, aten.dropout.default, aten.dropout_.default,
    aten.zeros_like.default, aten.ones_like.default, aten.full_like.default,
})

#: Products: affine when at most one factor depends on the input (and, for a quotient,
#: only the numerator does). Value: the argument positions of the factors.
_PRODUCTS = {
    operator.mul: (0, 1), torch.mul: (0, 1), "mul": (0, 1), aten.mul.Tensor: (0, 1), aten.mul.Scalar: (0, 1),
    aten.mul_.Tensor: (0, 1), "mul_": (0, 1),
    operator.matmul: (0, 1), torch.matmul: (0, 1), "matmul": (0, 1), aten.matmul.default: (0, 1),
    aten.mm.default: (0, 1), aten.addmm.default: (1, 2),
}
_QUOTIENTS = {operator.truediv, torch.div, "div", "div_", aten.div.Tensor, aten.div.Scalar, aten.div_.Tensor}

#: Matrix products by a weight: the positions of the batch factor, of the weight and of
#: the bias (None: none), and whether the weight is stored (out, in) as Linear's is.
_MATMULS = {
    F.linear: (0, 1, 2, True), aten.linear.default: (0, 1, 2, True), aten.addmm.default: (1, 2, 0, False),
    aten.mm.default: (0, 1, None, False), operator.matmul: (0, 1, None, False), torch.matmul: (0, 1, None, False),
    "matmul": (0, 1, None, False), aten.matmul.default: (0, 1, None, False),
}

_RELU = {F.relu, torch.relu, torch.relu_, "relu", "relu_", aten.relu.default, aten.relu_.default}
_LEAKY = {F.leaky_relu, aten.leaky_relu.default, aten.leaky_relu_.default}
_PRELU = {F.prelu, aten.prelu.default, aten._prelu_kernel.default}
_RELU6 = {F.relu6, aten.relu6.default}
_HARDTANH = {F.hardtanh, aten.hardtanh.default, aten.hardtanh_.default}
_CLAMP = {torch.clamp, "clamp", "clamp_", aten.clamp.default, aten.clamp_.default}
_CLAMP_MIN = {torch.clamp_min, "clamp_min", aten.clamp_min.default, aten.clamp_min_.default}
_ABS = {torch.abs, "abs", aten.abs.default}
_MAXPOOL = {F.max_pool1d: 1, F.max_pool2d: 2, aten.max_pool1d.default: 1, aten.max_pool2d.default: 2}
_MAXPOOL_WITH_INDICES = {aten.max_pool2d_with_indices.default: 2}
_NONLINEAR_FUNCTIONS = _RELU | _LEAKY | _PRELU | _RELU6 | _HARDTANH | _CLAMP | _CLAMP_MIN | _ABS \
    | set(_MAXPOOL) | set(_MAXPOOL_WITH_INDICES)

#: Ops returning a tuple of which only entry 0 is batch data.
_FIRST_ONLY = {aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default,
               aten.max_pool2d_with_indices.default}

#: Batch norm calls: (position of `training`, position of `running_mean`).
_BATCH_NORMS = {F.batch_norm: (5, 1), aten.batch_norm.default: (5, 3), aten.native_batch_norm.default: (5, 3)}
#: Dropout calls: position, name and default of the argument that switches it on.
_DROPOUTS = {F.dropout: (2, "training", True), aten.dropout.default: (2, "train", True),
             aten.dropout_.default: (2, "train", True)}

#: Python functions with an `inplace` argument: its position.
_INPLACE_ARG = {F.relu: 1, F.relu6: 1, F.hardtanh: 3, F.leaky_relu: 2, F.dropout: 3}

#: Ops whose result shares memory with their first argument.
VIEWS = frozenset({
    "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "contiguous", "expand", "t",
    "detach", torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    operator.getitem, aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.flatten.using_ints,
    aten.permute.default, aten.t.default, aten.transpose.int, aten.slice.Tensor, aten.select.int,
    aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.unsqueeze.default, aten.expand.default,
    aten.alias.default, aten.detach.default, aten.contiguous.default,
})


# ----------------------------------------------------------------------------- helpers

def argument(node_args, kwargs, index: int, key: str, default):
    """Argument ``key`` of a call, given at ``index`` or by keyword."""
    return node_args[index] if len(node_args) > index else kwargs.get(key, default)


def source(node) -> str:
    src = node.meta.get("source", "")
    return f" in module {src!r}" if src else ""


def describe(node, gm) -> str:
    """How a node is named in messages: its module (path and class) or op and module.

    Raises
    ------
    AttributeError
        If a module node's target is not a submodule of ``gm``.
    """
    if node.op == "call_module":
        return f"module {node.target!r} ({type(gm.get_submodule(node.target)).__name__})"
    target = getattr(node.target, "__name__", str(node.target))
    return f"node {node.name!r} ({node.op} {target}){source(node)}"


def unsupported(node, gm) -> UnsupportedLayerError:
    """The error for a node the exact engine does not model (returned, not raised).

    Raises
    ------
    AttributeError
        If a module node's target is not a submodule of ``gm``.
    """
    return UnsupportedLayerError(
        f"{describe(node, gm)} is not piecewise linear or not supported by the exact engine. {SAMPLING_HINT}"
    )


def is_inplace(node, gm, args, kwargs) -> bool:
    """Whether the call overwrites its first argument.

    Raises
    ------
    AttributeError
        If a module node's target is not a submodule of ``gm``.
    """
    target = node.target
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(target), "inplace", False))
    if node.op == "call_method":
        return target.endswith("_") and not target.endswith("__")
    if isinstance(target, torch._ops.OpOverload):
        return bool(target._schema.is_mutable)
    if target in _INPLACE_ARG:
        return bool(argument(args, kwargs, _INPLACE_ARG[target], "inplace", False))
    return target is torch.relu_


def _is_batch(value) -> bool:
    return isinstance(value, fx.Node) and value.meta.get("batch", False)


def _pair(v, dims: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims


# ----------------------------------------------------------------------------- classification

def classify_node(node, gm, args, kwargs, value, env: dict) -> Step:
    """Classify a call node whose inputs include the batch (see the module notes).

    ``args`` / ``kwargs`` are the node's evaluated arguments and ``value`` its value, for
    one example sample; ``env`` holds the values of the earlier nodes.

    Raises
    ------
    UnsupportedLayerError
        For an op that is not piecewise linear or not modelled, or options that change
        what it computes (BatchNorm in train mode, active dropout, ``ceil_mode``, used
        max-pool indices, a product of two input-dependent tensors).
    """
    inplace = is_inplace(node, gm, args, kwargs)
    if node.op == "call_function" and _hashable(node.target):
        if node.target in _WHERE and _prelu_pattern(node) is not None:
            z, slope = _prelu_pattern(node)
            slopes = np.broadcast_to(_value(slope, env), tuple(env[z].shape))[0].reshape(-1)
            return Step(node, "nonlinear", activation=leaky_relu(slopes.size, slopes),
                        out_shape=tuple(value.shape[1:]), name=_layer_name(node), operand=1)
        if node.target in _GREATER and node.users and all(
                u.target in _WHERE and _prelu_pattern(u) is not None for u in node.users):
            return Step(node, "shape")  # the piece test of a PReLU: read by the frozen `where` only
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        if type(sub) in _AFFINE_MODULES:
            _check_module_options(sub, node, gm)
            return Step(node, "affine", inplace=inplace, matrix=_matrix_kind(node, gm, args, kwargs))
        if type(sub) in _NONLINEAR_MODULES:
            return Step(node, "nonlinear", activation=_module_activation(sub, args[0], node, gm),
                        out_shape=tuple(value.shape[1:]), name=node.target, inplace=inplace)
        raise unsupported(node, gm)
    target = node.target
    if not _hashable(target):
        raise unsupported(node, gm)
    _check_function_options(target, node, gm, args, kwargs)
    first_only = target in _FIRST_ONLY
    if first_only:
        _check_first_only(node, gm)
    if target in _NONLINEAR_FUNCTIONS:
        return Step(node, "nonlinear", activation=_function_activation(target, args, kwargs, node, gm),
                    out_shape=tuple((value[0] if first_only else value).shape[1:]),
                    name=_layer_name(node), inplace=inplace, first_only=first_only)
    if target in _AFFINE_FUNCTIONS:
        return Step(node, "affine", inplace=inplace, first_only=first_only,
                    matrix=_matrix_kind(node, gm, args, kwargs))
    if target in _PRODUCTS or target in _QUOTIENTS:
        factors = [node.args[i] for i in _PRODUCTS.get(target, (0, 1)) if i < len(node.args)]
        if sum(_is_batch(a) for a in factors) > 1 or (target in _QUOTIENTS and _is_batch(factors[-1])):
            raise UnsupportedLayerError(
                f"{describe(node, gm)} multiplies or divides by an input-dependent tensor, which is not "
                f"piecewise linear. {SAMPLING_HINT}"
            )
        return Step(node, "affine", inplace=inplace, matrix=_matrix_kind(node, gm, args, kwargs))
    raise unsupported(node, gm)


def matrix_product(node, gm, args, kwargs):
    """``(x, weight, bias)`` of a node that multiplies the batch ``x`` by a constant
    matrix on its right: the node computes ``x @ weight (+ bias)``, ``weight`` of shape
    (in, out); None for any other node.

    Raises
    ------
    None of its own
    """
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        return (args[0], sub.weight.T, sub.bias) if isinstance(sub, nn.Linear) else None
    if node.op not in ("call_function", "call_method") or not _hashable(node.target) or node.target not in _MATMULS:
        return None
    at, weight_at, bias_at, stored_out_in = _MATMULS[node.target]
    if len(node.args) <= weight_at or not _is_batch(node.args[at]) or _is_batch(node.args[weight_at]):
        return None
    weight = args[weight_at]
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None
    if node.target is aten.addmm.default and (kwargs.get("beta", 1) != 1 or kwargs.get("alpha", 1) != 1):
        return None
    bias = None if bias_at is None else argument(args, kwargs, bias_at, "bias", None)
    return args[at], weight.T if stored_out_in else weight, bias


def _matrix_kind(node, gm, args, kwargs) -> str | None:
    """:attr:`Step.matrix` of an affine node."""
    if matrix_product(node, gm, args, kwargs) is not None:
        return "right"
    is_matmul = (node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.Linear)) or (
        node.op != "call_module" and node.target in _MATMULS)
    return "other" if is_matmul else None


def _layer_name(node) -> str:
    src = node.meta.get("source")
    return src if src and node.meta.get("leaf") else f"{src + '.' if src else ''}{node.name}"


_WHERE = {aten.where.self, torch.where}
_GREATER = {aten.gt.Scalar, operator.gt, torch.gt}
_MULTIPLY = {aten.mul.Tensor, aten.mul.Scalar, operator.mul, torch.mul}


def _prelu_pattern(node):
    """``(z, slope)`` where ``node`` is ``where(z > 0, z, slope * z)`` (PReLU, as
    ``run_decompositions()`` writes it) with a slope that does not depend on the input."""
    if len(node.args) != 3 or not all(isinstance(a, fx.Node) for a in node.args):
        return None
    cond, z, other = node.args
    if not (cond.target in _GREATER and len(cond.args) == 2 and cond.args[0] is z and cond.args[1] == 0):
        return None
    if not (other.op == "call_function" and other.target in _MULTIPLY and z in other.args and len(other.args) == 2):
        return None
    slope = other.args[1] if other.args[0] is z else other.args[0]
    return None if _is_batch(slope) else (z, slope)


def _value(arg, env):
    value = env[arg] if isinstance(arg, fx.Node) else arg
    return torch.as_tensor(value, dtype=torch.float64).detach().cpu().numpy()


def _hashable(target) -> bool:
    try:
        hash(target)
    except TypeError:
        return False
    return True


def _check_module_options(sub, node, gm) -> None:
    if isinstance(sub, nn.modules.batchnorm._BatchNorm) and (not sub.track_running_stats or sub.running_mean is None):
        raise UnsupportedLayerError(
            f"{describe(node, gm)} has track_running_stats=False: it normalises every batch with that batch's "
            "own mean and variance, also in eval mode, so its output is not a fixed affine map of one input. "
            "Give it running statistics (track_running_stats=True, then train or set running_mean/running_var), "
            f"or use the sampling API. {SAMPLING_HINT}"
        )


def _check_function_options(target, node, gm, args, kwargs) -> None:
    if target in _BATCH_NORMS:
        training_at, mean_at = _BATCH_NORMS[target]
        if argument(args, kwargs, training_at, "training", False) or argument(args, kwargs, mean_at, "running_mean",
                                                                               None) is None:
            raise UnsupportedLayerError(
                f"{describe(node, gm)} normalises with batch statistics (training=True or no running "
                "statistics), which is not a fixed affine map: call model.eval() and give it running statistics"
            )
    if target in _DROPOUTS:
        at, key, default = _DROPOUTS[target]
        if argument(args, kwargs, at, key, default) and argument(args, kwargs, 1, "p", 0.5) > 0:
            raise UnsupportedLayerError(
                f"{describe(node, gm)} is an active (random) dropout: call model.eval() or pass training=False"
            )


def _check_first_only(node, gm) -> None:
    for user in node.users:
        if not (user.op == "call_function" and user.target is operator.getitem and user.args[1] == 0):
            raise UnsupportedLayerError(
                f"{describe(node, gm)}: only its first result (the batch output) is supported, but "
                f"{describe(user, gm)} reads another one (e.g. max-pool indices or batch statistics)"
            )


def _maxpool(in_shape, kernel, stride, padding, dilation, ceil_mode, node, gm) -> MaxPool:
    dims = len(in_shape) - 1
    if dims not in (1, 2):
        raise UnsupportedLayerError(f"{describe(node, gm)}: max pooling over {dims} dimensions is not supported")
    stride = kernel if stride is None or stride == [] or stride == () else stride
    if ceil_mode:
        raise UnsupportedLayerError(f"{describe(node, gm)}: max pooling with ceil_mode=True is not supported")
    return MaxPool(in_shape, _pair(kernel, dims), _pair(stride, dims), _pair(padding, dims),
                   _pair(dilation, dims), ceil_mode)


def _module_activation(sub, z, node, gm) -> Activation:
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
        raise UnsupportedLayerError(f"{describe(node, gm)}: return_indices=True is not supported")
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

    if target in _RELU:
        return relu(n)
    if target in _LEAKY:
        return leaky_relu(n, arg(0, "negative_slope", 0.01))
    if target in _PRELU:
        return _prelu(arg(0, "weight", None).detach().cpu().double().numpy(), z)
    if target in _RELU6:
        return hardtanh(n, 0.0, 6.0)
    if target in _HARDTANH:
        return hardtanh(n, float(arg(0, "min_val", -1.0)), float(arg(1, "max_val", 1.0)))
    if target in _CLAMP or target in _CLAMP_MIN:
        lo = arg(0, "min", None)
        hi = arg(1, "max", None) if target in _CLAMP else None
        if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor) or (lo is None and hi is None):
            raise UnsupportedLayerError(f"{describe(node, gm)}: clamp needs scalar bounds")
        return hardtanh(n, -np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))
    if target in _ABS:
        return absolute(n)
    if target in _MAXPOOL and arg(5, "return_indices", False):
        raise UnsupportedLayerError(f"{describe(node, gm)}: return_indices=True is not supported")
    return _maxpool(tuple(z.shape[1:]), arg(0, "kernel_size", None), arg(1, "stride", None), arg(2, "padding", 0),
                    arg(3, "dilation", 1), arg(4, "ceil_mode", False), node, gm)
