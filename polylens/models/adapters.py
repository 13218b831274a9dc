"""Convert torch models into :class:`~polylens.models.pwlnet.PWLNet`.

MLPs become a dense :class:`~polylens.models.chain.ChainProgram`: a (possibly nested)
``nn.Sequential`` walked module by module, or a ``torch.export`` program of such a chain
walked node by node, is turned into a flat list of operations (affine map, activation,
or shape-only step); consecutive affine maps are composed and a stage closes at every
activation. Every other model is traced into a
:class:`~polylens.models.graph.GraphProgram`. Anything not piecewise linear raises
:class:`~polylens.errors.UnsupportedLayerError` naming the module or node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from typing import Callable

from polylens.models.activations import leaky_relu, relu
from polylens.models.chain import ChainProgram, Stage
from polylens.models.pwlnet import PWLNet

__all__ = ["convert"]


@dataclass(frozen=True)
class _Affine:
    weight: np.ndarray
    bias: np.ndarray
    name: str


@dataclass(frozen=True)
class _Act:
    make: Callable  # units -> Activation
    name: str


class _NotAChain(Exception):
    """The model is not a plain MLP chain: trace it as a graph instead."""


def convert(module, example_input=None, input_shape: tuple[int, ...] | None = None) -> PWLNet:
    """Convert a torch model to a PWLNet (see :meth:`PWLNet.from_torch`)."""
    import torch

    if isinstance(module, torch.export.ExportedProgram):
        try:
            ops, shape = _exported_ops(module)
            return _build(ops, input_shape or shape)
        except _NotAChain:
            if example_input is None:
                val = next(n for n in module.graph.nodes if n.op == "placeholder" and
                           n.name not in {**module.graph_signature.inputs_to_parameters,
                                          **module.graph_signature.inputs_to_buffers}).meta.get("val")
                example_input = None if val is None else torch.zeros((1, *(int(v) for v in val.shape[1:])),
                                                                     dtype=torch.float64)
            return _graph(module.module(), example_input, module)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"PWLNet.from_torch: `module` must be a torch.nn.Module or an ExportedProgram; "
            f"got {type(module).__name__}"
        )
    if isinstance(module, torch.nn.Sequential):
        try:
            return _build(list(_sequential_ops(module, prefix="")), input_shape)
        except _NotAChain:
            first = next((m for m in module.modules() if not isinstance(m, torch.nn.Sequential)), None)
            if example_input is None and isinstance(first, torch.nn.Linear):
                example_input = torch.zeros(1, first.in_features)
    return _graph(module, example_input, module)


def _graph(module, example_input, original) -> PWLNet:
    from polylens.models.graph import GraphProgram

    if example_input is None:
        raise ValueError(
            f"PWLNet.from_torch: a {type(original).__name__} that is not a plain MLP is traced, "
            "which needs `example_input` (one input batch, e.g. torch.zeros(1, 3, 32, 32))"
        )
    return PWLNet(GraphProgram.trace(module, example_input))


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
            yield _Act(relu, name)
        elif type(child) is nn.LeakyReLU:
            yield _Act(lambda n, s=child.negative_slope: leaky_relu(n, s), name)
        elif isinstance(child, (nn.Identity, nn.Dropout)):
            continue
        elif isinstance(child, nn.Flatten):
            if child.start_dim != 1 or child.end_dim != -1:
                raise _NotAChain(name)
        else:
            raise _NotAChain(name)


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
                raise _NotAChain(node.name)
            continue
        if node.op == "output":
            break
        if node.op != "call_function" or not node.args or node.args[0] is not current or len(node.users) > 1:
            raise _NotAChain(node.name)
        target, args = node.target, node.args
        if target == aten.linear.default:
            bias = tensors[args[2].name] if len(args) > 2 and args[2] is not None else None
            ops.append(_affine(tensors[args[1].name], bias, node.name))
        elif target in (aten.relu.default, aten.relu_.default):
            ops.append(_Act(relu, node.name))
        elif target in (aten.leaky_relu.default, aten.leaky_relu_.default):
            ops.append(_Act(lambda n, s=args[1] if len(args) > 1 else 0.01: leaky_relu(n, s), node.name))
        elif target in (aten.dropout.default, aten.clone.default, aten.alias.default):
            pass
        elif target in (aten.flatten.using_ints, aten.view.default, aten.reshape.default):
            _check_flattening(node)
        else:
            raise _NotAChain(node.name)
        current = node
    return ops, shape


def _check_flattening(node) -> None:
    val = node.meta.get("val")
    if val is None or val.dim() != 2:
        raise _NotAChain(node.name)


def _build(ops: list, input_shape: tuple[int, ...] | None) -> PWLNet:
    affines = [op for op in ops if isinstance(op, _Affine)]
    if not affines:
        raise _NotAChain("no Linear layer")
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
            stages.append(Stage(weight, bias, op.make(width), op.name))
            weight, bias = np.eye(width), np.zeros(width)
        last_name = op.name
    stages.append(Stage(weight, bias, None, last_name))
    return PWLNet(ChainProgram(stages, input_dim, input_shape or (input_dim,)))
