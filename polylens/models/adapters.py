"""Convert torch models into :class:`~polylens.models.pwlnet.PWLNet`.

Routes, tried in this order:

- **chain**: a plain ``nn.Sequential`` MLP (Linear, ReLU, LeakyReLU, Identity, Dropout,
  Flatten; exact classes, no overridden ``forward``), or a ``torch.export`` program of
  one, becomes a dense :class:`~polylens.models.chain.ChainProgram`;
- **fx**: any other module is traced with ``torch.fx`` into a
  :class:`~polylens.models.graph.GraphProgram`;
- **export**: a ``torch.export`` program, or a module that ``torch.fx`` cannot trace
  (data-dependent Python control flow, as in Hugging Face models), is run through the
  same graph program from its ATen graph (before or after ``run_decompositions()``).

Whatever the route, the result is checked against the model's own forward pass at the
example input and perturbed copies (:mod:`polylens.models.verify`). Anything not
modelled exactly raises :class:`~polylens.errors.UnsupportedLayerError` naming the module
or node; modules with forward hooks (which tracing does not see) are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from polylens._repr import short_repr
from polylens._validation import check_int, invalid
from polylens.errors import InvalidParameterError, UnsupportedLayerError
from polylens.models.activations import leaky_relu, relu
from polylens.models.chain import ChainProgram, Stage
from polylens.models.pwlnet import PWLNet

__all__ = ["convert", "exported_input_shape"]

_FUNC = "PWLNet.from_torch"


@short_repr
@dataclass(frozen=True)
class _Affine:
    weight: np.ndarray
    bias: np.ndarray
    name: str


@short_repr
@dataclass(frozen=True)
class _Act:
    make: Callable  # units -> Activation
    name: str


class _NotAChain(Exception):
    """The model is not a plain MLP chain: trace it as a graph instead."""


def exported_input_shape(program) -> tuple[int, ...] | None:
    """Shape of one input (without the batch dimension) of a ``torch.export`` program.

    Parameters
    ----------
    program : torch.export.ExportedProgram

    Returns
    -------
    tuple of int or None
        None where the program takes more than one input or its input shape (beyond the
        batch dimension) is symbolic or not recorded.

    Raises
    ------
    InvalidParameterError
        If ``program`` is not a ``torch.export.ExportedProgram``.
    """
    if not isinstance(program, torch.export.ExportedProgram):
        raise invalid("exported_input_shape", "program", "a torch.export.ExportedProgram", program)
    user = set(program.graph_signature.user_inputs)
    nodes = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user]
    if len(nodes) != 1:
        return None
    val = nodes[0].meta.get("val")
    if val is None or not hasattr(val, "shape") or len(val.shape) < 2:
        return None
    try:
        return tuple(int(v) for v in val.shape[1:])
    except TypeError:  # a symbolic size
        return None


def convert(module, example_input=None, input_shape=None, output=None) -> PWLNet:
    """Convert a torch model to a PWLNet (see :meth:`PWLNet.from_torch`).

    Raises
    ------
    UnsupportedLayerError
        For a layer or option that is not piecewise linear or not modelled.
    ConversionError
        If the converted net does not reproduce the model's forward pass.
    InvalidParameterError
        For a bad argument (see :meth:`PWLNet.from_torch`), including ``output`` given
        with a ``torch.export`` program.
    """
    input_shape = _check_shape(input_shape)
    example_input = _check_example(example_input)
    if isinstance(module, torch.export.ExportedProgram):
        if output is not None:
            raise InvalidParameterError(f"{_FUNC}: `output` selects from a module's result; a torch.export program "
                                        "returns one tensor already (export the module that returns it)")
        return _from_exported(module, example_input, input_shape)
    if not isinstance(module, torch.nn.Module):
        raise invalid(_FUNC, "module", "a torch.nn.Module or a torch.export.ExportedProgram", module)
    _check_module(module)
    if output is not None:
        module = _selected(module, output, example_input, input_shape)
    if _is_plain(module, torch.nn.Sequential):
        try:
            ops = list(_sequential_ops(module, prefix=""))
            chain = _build(ops, input_shape)
            return _checked(chain, _forward_of(module), None)
        except _NotAChain:
            first = next((m for m in module.modules() if not isinstance(m, torch.nn.Sequential)), None)
            if example_input is None and input_shape is None and isinstance(first, torch.nn.Linear):
                example_input = torch.zeros(1, first.in_features)
    example_input = _example(example_input, input_shape, type(module).__name__)
    return _from_module(module, example_input)


# ----------------------------------------------------------------------------- arguments

def _check_shape(input_shape):
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise invalid(_FUNC, "input_shape", "a tuple of positive ints such as (3, 32, 32)", input_shape) from None
    if not shape:
        raise invalid(_FUNC, "input_shape", "a non-empty tuple of positive ints", input_shape)
    return tuple(check_int(v, func=_FUNC, name="input_shape", low=1) for v in shape)


def _check_example(example_input):
    if example_input is None:
        return None
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 2 or example_input.shape[0] < 1:
        shown = f"a tensor of shape {tuple(example_input.shape)}" if isinstance(example_input, torch.Tensor) \
            else example_input
        raise invalid(_FUNC, "example_input", "a tensor with a batch dimension, e.g. torch.zeros(1, 3, 32, 32)", shown)
    if example_input.is_meta:
        raise InvalidParameterError(f"{_FUNC}: `example_input` is on the meta device (it has no values); give a "
                                    "tensor with values, e.g. torch.zeros(1, 3, 32, 32)")
    if not (example_input.is_floating_point() and torch.all(torch.isfinite(example_input))):
        raise invalid(_FUNC, "example_input", "a finite floating-point tensor", f"a {example_input.dtype} tensor"
                      if not example_input.is_floating_point() else "a tensor with NaN or infinite values")
    return example_input.detach()


def _example(example_input, input_shape, what: str):
    if example_input is not None:
        if input_shape is not None and tuple(example_input.shape[1:]) != input_shape:
            raise InvalidParameterError(f"{_FUNC}: `example_input` has samples of shape "
                                        f"{tuple(example_input.shape[1:])} but `input_shape` is {input_shape}")
        return example_input
    if input_shape is not None:
        return torch.zeros((1, *input_shape), dtype=torch.float64)
    raise InvalidParameterError(
        f"{_FUNC}: a {what} that is not a plain MLP is traced, which needs `example_input` (one input batch, "
        "e.g. torch.zeros(1, 3, 32, 32)) or `input_shape` (e.g. (3, 32, 32))"
    )


def _check_module(module) -> None:
    """Refuse what tracing would silently get wrong: hooks, meta tensors, BatchNorm in train mode."""
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        raise UnsupportedLayerError(f"{_FUNC}: global forward hooks are registered (torch.nn.modules.module."
                                    "register_module_forward_hook); tracing does not see them: remove them first")
    for name, sub in module.named_modules():
        label = f"module {name!r} ({type(sub).__name__})" if name else f"the model ({type(sub).__name__})"
        if "forward" in vars(sub):
            raise UnsupportedLayerError(f"{label} has its forward replaced on the instance, which tracing does "
                                        "not follow: define a subclass with that forward instead")
        if sub._forward_hooks or sub._forward_pre_hooks:
            raise UnsupportedLayerError(
                f"{label} has forward hooks or pre-hooks, which can change what it computes and which tracing "
                "does not see: remove them (handle.remove()) before converting, or fold what they do into forward"
            )
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) and sub.training and sub.track_running_stats:
            raise UnsupportedLayerError(
                f"{label} is in train mode, where it normalises with batch statistics (not piecewise linear in "
                "one input): call model.eval() first"
            )
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_meta:
            raise InvalidParameterError(
                f"{_FUNC}: `module` has tensors on the meta device (no values), e.g. {name!r}: materialise and "
                "load its weights first (model.to_empty(device='cpu'), then load_state_dict)"
            )


def _is_plain(module, cls) -> bool:
    """``module`` is a ``cls`` whose forward is ``cls.forward`` (not a subclass that changes it)."""
    return isinstance(module, cls) and type(module).forward is cls.forward


# ----------------------------------------------------------------------------- output selection

def _selected(module, output, example_input, input_shape):
    """``module`` wrapped so that it returns the part of its result that ``output`` names."""
    if not (callable(output) or isinstance(output, (str, int))) or isinstance(output, bool):
        raise invalid(_FUNC, "output", "a key or attribute name (str), an index (int) or a callable", output)
    if callable(output):
        return _Selected(module, output, "call")
    example = _example(example_input, input_shape, type(module).__name__)
    with torch.no_grad():
        result = copy.deepcopy(module).to(torch.float64).eval()(example.to(torch.float64)[:1])
    if isinstance(result, Mapping) or isinstance(output, int):
        try:
            result[output]
        except (KeyError, IndexError, TypeError):
            keys = list(result.keys()) if isinstance(result, Mapping) else f"{len(result)} entries"
            raise invalid(_FUNC, "output", f"a key of the model's result ({keys})", output) from None
        return _Selected(module, output, "item")
    if not hasattr(result, output):
        raise invalid(_FUNC, "output", f"an attribute of the model's result ({type(result).__name__})", output)
    return _Selected(module, output, "attribute")


class _Selected(torch.nn.Module):
    """A model with an output selector: ``model(x)[key]``, ``model(x).attribute`` or ``select(model(x))``."""

    def __init__(self, model, output, how: str):
        super().__init__()
        self.model = model
        self.output = output
        self.how = how

    def forward(self, x):
        y = self.model(x)
        if self.how == "call":
            return self.output(y)
        return y[self.output] if self.how == "item" else getattr(y, self.output)


# ----------------------------------------------------------------------------- routes

def _forward_of(module, batch: int | None = None) -> Callable:
    """The model's own forward pass in float64 on flattened inputs (a copy in eval mode);
    ``batch``: the one batch size the model takes (a program exported with a fixed batch)."""
    model64 = copy.deepcopy(module).to(torch.float64).eval()

    def forward(x: np.ndarray, shape: tuple) -> np.ndarray:
        xs = torch.as_tensor(x).reshape(x.shape[0], *shape)
        with torch.no_grad():
            if batch is None:
                out = model64(xs)
            else:  # chunks of the fixed size, the last one padded with its first row
                chunks = [xs[i:i + batch] for i in range(0, len(xs), batch)]
                out = torch.cat([model64(torch.cat([c, c[:1].expand(batch - len(c), *shape)]))[:len(c)]
                                 for c in chunks])
        return out.reshape(x.shape[0], -1).numpy()

    forward.model = model64
    return forward


def _checked(program, forward, reference_values, example=None) -> PWLNet:
    from polylens.models.verify import check_conversion, probe_inputs

    start = np.zeros(program.input_dim) if example is None else example.reshape(-1)
    check_conversion(program, lambda x: forward(x, program.input_shape), probe_inputs(start), reference_values)
    return PWLNet(program)


def _from_module(module, example_input) -> PWLNet:
    from polylens.models.graph import GraphProgram, TraceFailed

    example = example_input.detach().to(torch.float64)
    forward = _forward_of(module)
    strip = "model." if isinstance(module, _Selected) else ""
    try:
        program = GraphProgram.trace(module, example, strip)
    except TraceFailed as fx_error:
        program = _trace_exported(forward.model, example, fx_error, strip)
        return _checked(program, forward, None, example[:1].numpy())
    return _checked(program, forward, _hooked_values(forward.model, program), example[:1].numpy())


def _trace_exported(model64, example, fx_error, strip: str):
    """The graph program of ``torch.export`` of a module that torch.fx cannot trace."""
    from polylens.models.graph import GraphProgram

    pair = torch.cat([example[:1], example[:1]])
    try:
        exported = torch.export.export(model64, (pair,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as err:  # torch.export raises many kinds of errors for unexportable code
        raise UnsupportedLayerError(
            f"{fx_error} -- and torch.export could not export it either ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Make its forward traceable by one of them"
        ) from err
    return GraphProgram.trace(_exported_module(exported), example, strip)


def _exported_module(program):
    """The graph module of an exported program, each node labelled with its source module."""
    gm = program.module()
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if stack:
            path, kind = list(stack.values())[-1]
            node.meta["source"] = path
            node.meta["leaf"] = str(kind).startswith("torch.nn.modules.")
    return gm


def _export_name(node) -> str:
    """The layer name of an exported activation node: the path of the torch.nn module it
    comes from (as the fx route names it), else the node's name."""
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, kind = list(stack.values())[-1]
        if path and str(kind).startswith("torch.nn.modules."):
            return path
    return node.name


def _from_exported(program, example_input, input_shape) -> PWLNet:
    from polylens.models.graph import GraphProgram

    shape = exported_input_shape(program)
    if shape is not None and input_shape is not None and input_shape != shape:
        raise InvalidParameterError(f"{_FUNC}: `input_shape` {input_shape} differs from the program's input "
                                    f"shape {shape}")
    if shape is not None and example_input is not None and tuple(example_input.shape[1:]) != shape:
        raise InvalidParameterError(f"{_FUNC}: `example_input` has samples of shape "
                                    f"{tuple(example_input.shape[1:])} but the program takes {shape}")
    forward = _forward_of(program.module(), _fixed_batch(program))
    try:
        ops, _ = _exported_ops(program)
        return _checked(_build(ops, input_shape or shape), forward, None)
    except _NotAChain:
        pass
    example = _example(example_input, input_shape or shape, "torch.export program").to(torch.float64)
    return _checked(GraphProgram.trace(_exported_module(program), example), forward, None, example[:1].numpy())


def _fixed_batch(program) -> int | None:
    """The batch size a program was exported with, where it is fixed (else None)."""
    user = set(program.graph_signature.user_inputs)
    val = next((n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in user), None)
    size = None if val is None or not hasattr(val, "shape") or not len(val.shape) else val.shape[0]
    return size if isinstance(size, int) else None


def _hooked_values(model64, program) -> Callable:
    """The model's own submodule outputs, under the names of the nodes that hold them."""
    def values(x: np.ndarray) -> dict:
        captured: dict = {}
        paths = dict(program.module_outputs)
        handles = [sub.register_forward_hook(lambda m, i, o, p=path: captured.__setitem__(p, o))
                   for path, sub in model64.named_modules() if path in paths]
        try:
            with torch.no_grad():
                model64(torch.as_tensor(x).reshape(x.shape[0], *program.input_shape))
        finally:
            for h in handles:
                h.remove()
        return {paths[p]: v.reshape(x.shape[0], -1).numpy() for p, v in captured.items()
                if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == x.shape[0]}

    return values


# ----------------------------------------------------------------------------- chains

def _sequential_ops(seq, prefix: str):
    import torch.nn as nn

    for child_name, child in seq.named_children():
        name = f"{prefix}{child_name}"
        if _is_plain(child, nn.Sequential):
            yield from _sequential_ops(child, prefix=f"{name}.")
        elif _is_plain(child, nn.Linear):
            yield _affine(child.weight, child.bias, name)
        elif type(child) is nn.ReLU:
            yield _Act(relu, name)
        elif type(child) is nn.LeakyReLU:
            yield _Act(lambda n, s=child.negative_slope: leaky_relu(n, s), name)
        elif type(child) in (nn.Identity, nn.Dropout):
            continue
        elif type(child) is nn.Flatten:
            if child.start_dim != 1 or child.end_dim != -1:
                raise _NotAChain(name)
        else:
            raise _NotAChain(name)


def _affine(weight, bias, name: str) -> _Affine:
    w = weight.detach().cpu().double().numpy().copy()
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().cpu().double().numpy().copy()
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise InvalidParameterError(f"{_FUNC}: module {name!r}: weight or bias contains NaN or infinite values")
    return _Affine(w, b, name)


def _exported_ops(program):
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
            ops.append(_Act(relu, _export_name(node)))
        elif target in (aten.leaky_relu.default, aten.leaky_relu_.default):
            ops.append(_Act(lambda n, s=args[1] if len(args) > 1 else 0.01: leaky_relu(n, s), _export_name(node)))
        elif target in (aten.clone.default, aten.alias.default):
            pass
        elif target == aten.dropout.default and not (len(args) > 2 and args[2]):
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


def _build(ops: list, input_shape: tuple[int, ...] | None) -> ChainProgram:
    affines = [op for op in ops if isinstance(op, _Affine)]
    if not affines:
        raise _NotAChain("no Linear layer")
    input_dim = affines[0].weight.shape[1]
    if input_shape is not None and int(np.prod(input_shape)) != input_dim:
        raise InvalidParameterError(
            f"{_FUNC}: `input_shape` {tuple(input_shape)} has {int(np.prod(input_shape))} "
            f"entries but the first Linear layer takes {input_dim}"
        )
    stages: list[Stage] = []
    weight, bias, width = np.eye(input_dim), np.zeros(input_dim), input_dim
    last_name = "input"
    for op in ops:
        if isinstance(op, _Affine):
            if op.weight.shape[1] != width:
                raise InvalidParameterError(f"{_FUNC}: module {op.name!r} expects {op.weight.shape[1]} features "
                                            f"but receives {width}")
            weight, bias = op.weight @ weight, op.weight @ bias + op.bias
            width = op.weight.shape[0]
        else:
            stages.append(Stage(weight, bias, op.make(width), op.name))
            weight, bias = np.eye(width), np.zeros(width)
        last_name = op.name
    stages.append(Stage(weight, bias, None, last_name))
    return ChainProgram(stages, input_dim, input_shape or (input_dim,))
