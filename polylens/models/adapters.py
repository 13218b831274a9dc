"""Convert torch models into :class:`~polylens.models.pwlnet.PWLNet`.

Two front ends share one builder: a (possibly nested) ``nn.Sequential`` walked module by
module, and a ``torch.export`` program walked node by node. Each front end turns the
model into a flat list of operations (affine map, activation, or shape-only step); the
builder composes consecutive affine maps and closes a stage at every activation.
Anything not piecewise linear raises :class:`~polylens.errors.UnsupportedLayerError`
naming the module or node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens.errors import UnsupportedLayerError
from polylens.models.activations import Activation, LeakyReLU, ReLU
from polylens.models.pwlnet import PWLNet, Stage

__all__ = ["convert"]

_SUPPORTED = "Linear, ReLU, LeakyReLU, Identity, Dropout, Flatten and nested Sequential"


@dataclass(frozen=True)
class _Affine:
    weight: np.ndarray
    bias: np.ndarray
    name: str


@dataclass(frozen=True)
class _Act:
    activation: Activation
    name: str


def convert(module, input_shape: tuple[int, ...] | None = None) -> PWLNet:
    """Convert an ``nn.Sequential`` or a ``torch.export.ExportedProgram`` to a PWLNet.

    See :meth:`PWLNet.from_torch`.
    """
    import torch

    if isinstance(module, torch.export.ExportedProgram):
        ops, shape = _exported_ops(module)
        return _build(ops, input_shape or shape)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"PWLNet.from_torch: `module` must be a torch.nn.Module or an ExportedProgram; "
            f"got {type(module).__name__}"
        )
    if not isinstance(module, torch.nn.Sequential):
        raise UnsupportedLayerError(
            f"PWLNet.from_torch: the model of type {type(module).__name__} is not an nn.Sequential; "
            f"this adapter supports nested nn.Sequential of {_SUPPORTED}. "
            "Export it with torch.export or use the sampling API (polylens.sampling) for any model."
        )
    return _build(list(_sequential_ops(module, prefix="")), input_shape)


def _sequential_ops(seq, prefix: str):
    import torch.nn as nn

    for child_name, child in seq.named_children():
        name = f"{prefix}{child_name}"
        if isinstance(child, nn.Sequential):
            yield from _sequential_ops(child, prefix=f"{name}.")
        elif isinstance(child, nn.Linear):
            bias = child.bias if child.bias is not None else None
            yield _affine(child.weight, bias, name)
        elif type(child) is nn.ReLU:
            yield _Act(ReLU(), name)
        elif type(child) is nn.LeakyReLU:
            yield _Act(LeakyReLU(child.negative_slope), name)
        elif isinstance(child, (nn.Identity, nn.Dropout)):
            continue
        elif isinstance(child, nn.Flatten):
            if child.start_dim != 1 or child.end_dim != -1:
                raise UnsupportedLayerError(
                    f"module {name!r} (Flatten) flattens dims {child.start_dim}..{child.end_dim}; "
                    "only Flatten(start_dim=1, end_dim=-1) is supported"
                )
        else:
            raise UnsupportedLayerError(
                f"module {name!r} of type {type(child).__name__} is not supported; "
                f"supported: {_SUPPORTED}. For other models use the sampling API (polylens.sampling)."
            )


def _affine(weight, bias, name: str) -> _Affine:
    w = weight.detach().cpu().double().numpy().copy()
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().cpu().double().numpy().copy()
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise ValueError(f"module {name!r}: weight or bias contains NaN or infinite values")
    return _Affine(w, b, name)


def _exported_ops(program):
    import torch

    aten = torch.ops.aten
    params = {**program.state_dict, **getattr(program, "constants", {})}
    sig = program.graph_signature
    lifted = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    tensors: dict[str, object] = {}
    ops: list = []
    shape = None
    current = None
    for node in program.graph.nodes:
        if node.op == "placeholder":
            if node.name in lifted:
                tensors[node.name] = params[lifted[node.name]]
            elif current is None:
                current = node
                val = node.meta.get("val")
                shape = tuple(val.shape[1:]) if val is not None else None
            else:
                raise UnsupportedLayerError(f"exported node {node.name!r}: the model takes more than one input")
            continue
        if node.op == "output":
            break
        if node.op != "call_function" or not node.args or node.args[0] is not current:
            raise UnsupportedLayerError(
                f"exported node {node.name!r} ({node.op} {node.target}) is not part of a single chain; "
                f"this adapter supports chains of {_SUPPORTED}"
            )
        target, args = node.target, node.args
        if target == aten.linear.default:
            bias = tensors[args[2].name] if len(args) > 2 and args[2] is not None else None
            ops.append(_affine(tensors[args[1].name], bias, node.name))
        elif target == aten.relu.default:
            ops.append(_Act(ReLU(), node.name))
        elif target == aten.leaky_relu.default:
            ops.append(_Act(LeakyReLU(args[1] if len(args) > 1 else 0.01), node.name))
        elif target in (aten.dropout.default, aten.clone.default, aten.alias.default):
            pass
        elif target in (aten.flatten.using_ints, aten.view.default, aten.reshape.default):
            _check_flattening(node)
        else:
            raise UnsupportedLayerError(
                f"exported node {node.name!r} calls {target}, which is not supported; "
                f"supported: {_SUPPORTED}. For other models use the sampling API (polylens.sampling)."
            )
        current = node
    return ops, shape


def _check_flattening(node) -> None:
    val = node.meta.get("val")
    if val is None or val.dim() != 2:
        raise UnsupportedLayerError(
            f"exported node {node.name!r} ({node.target}) reshapes to something other than (batch, features)"
        )


def _build(ops: list, input_shape: tuple[int, ...] | None) -> PWLNet:
    affines = [op for op in ops if isinstance(op, _Affine)]
    if not affines:
        raise UnsupportedLayerError("the model has no Linear layer, so its input size is unknown")
    input_dim = affines[0].weight.shape[1]
    if input_shape is not None and int(np.prod(input_shape)) != input_dim:
        raise ValueError(
            f"PWLNet.from_torch: `input_shape` {tuple(input_shape)} has {int(np.prod(input_shape))} "
            f"entries but the first Linear layer takes {input_dim}"
        )
    stages: list[Stage] = []
    weight, bias, width = np.eye(input_dim), np.zeros(input_dim), input_dim
    last_name = "input"
    for op in ops:
        if isinstance(op, _Affine):
            if op.weight.shape[1] != width:
                raise ValueError(f"module {op.name!r} expects {op.weight.shape[1]} features but receives {width}")
            weight, bias = op.weight @ weight, op.weight @ bias + op.bias
            width = op.weight.shape[0]
        else:
            stages.append(Stage(weight, bias, op.activation, op.name))
            weight, bias = np.eye(width), np.zeros(width)
        last_name = op.name
    stages.append(Stage(weight, bias, None, last_name))
    return PWLNet(stages, input_dim=input_dim, input_shape=input_shape)
