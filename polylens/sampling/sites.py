"""Activation sites of any ``torch.nn.Module``: finding them and how each one is coded.

A *site* is a place in a model whose units get a piece (a code bit or a few). By default
the sites are every piecewise-linear module the exact engine knows (``nn.ReLU``,
``nn.LeakyReLU``, ``nn.PReLU``, ``nn.ReLU6``, ``nn.Hardtanh``, ``nn.MaxPool1d/2d``, plus
``nn.RReLU``, ``nn.Threshold``, ``nn.Hardsigmoid``) and every smooth activation module
(``nn.GELU``, ``nn.SiLU``, ...; also ``transformers``' own activation classes, see
:mod:`polylens.sampling.hf_activations`), and, where the model traces with ``torch.fx``, the
functional calls of the same operations (``F.relu(x)``, ``x.relu()``, ``torch.clamp``,
``x.abs()``, ``F.max_pool2d``, ``F.gelu``, ...). So on every model the exact adapter
supports, the sampled code has the exact code's units in the same order. Users can name
modules instead, with glob patterns such as ``"encoder.layer.*.intermediate"``.

How a site is coded
-------------------
* An activation module or call: the pieces of its *input* (the pre-activation ``z``),
  read in a forward pre-hook before any in-place activation overwrites it. A unit with
  boundaries ``b_1 < ... < b_m`` gets ``m`` bits, bit ``j`` being ``z > b_j``
  (thermometer code), so the Hamming distance between two codes counts the boundaries
  between their pieces. ReLU-like units have one boundary at 0 (``z > 0`` is "on", the
  rule of :mod:`polylens.tolerances`); ``Hardtanh``/``ReLU6`` have two.
* Max pooling: each window is a unit whose piece is the position of its maximum (the
  first one on ties, as in the exact engine), coded one-hot (``K`` bits for a window of
  ``K`` positions; one change of arg-max flips two bits).
* A smooth activation (GELU, SiLU, ...): the sign of the pre-activation, marked
  ``approximate`` (the unit has no true boundary; Hardswish gets boundaries -3 and 3).
* Any other named module: the sign of its *output* (``output > 0``), marked
  ``approximate``; this is the activation pattern when the module ends in a ReLU-,
  GELU- or SiLU-like unit, which polylens cannot check.

Every call of a site module in one forward pass is a site of its own: the first call is
named after the module, later calls get ``"#1"``, ``"#2"``, ... (a shared ``relu``
module used twice in a residual block gives ``"layer1.0.relu"`` and
``"layer1.0.relu#1"``). Functional sites are named after their ``torch.fx`` node with
``"()"`` appended, prefixed by the module that calls them (``"block.relu_1()"``).
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens._repr import short_repr
from polylens.errors import PolylensError, PolylensWarning
from polylens.sampling.hf_activations import hf_activation, is_transformers_model

__all__ = ["Site", "Pool", "SitePlan", "find_sites"]

_SMOOTH_MODULES = (nn.GELU, nn.SiLU, nn.Mish, nn.ELU, nn.CELU, nn.SELU, nn.Softplus)
_SIGN_MODULES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU)


@short_repr
@dataclass(frozen=True)
class Site:
    """One activation site and the rule that codes it.

    Attributes
    ----------
    name : str
        Module name (``model.named_modules()``), or ``"<owner>.<fx node>()"`` for a
        functional call.
    kind : str
        What is coded: the module's class name, the function's name with ``"()"``, or
        ``"output"`` for a named module coded by the sign of its output.
    thresholds : tuple of float
        Piece boundaries, ascending; bit ``j`` of a unit is ``value > thresholds[j]``.
    approximate : bool
        True when the unit is not piecewise linear (smooth activations) or the code is
        the sign of a module's output.
    source : {"input", "output", "pool"}
        What is coded: the module's input (the pre-activation), its output, or (max
        pooling) which input entry its output took.
    module : torch.nn.Module
        The module the hook is attached to (a small wrapper for functional calls).
    pool : Pool or None
        For max pooling: the windows (the unit is a window, its piece the arg-max).
    """

    name: str
    kind: str
    thresholds: tuple[float, ...]
    approximate: bool
    source: str
    module: nn.Module = field(repr=False, compare=False)
    pool: "Pool | None" = None

    @property
    def bits_per_unit(self) -> int:
        """Code bits of one unit: its boundaries (thermometer code), or its window size
        for max pooling (one-hot code of the arg-max)."""
        return self.pool.size if self.pool is not None else len(self.thresholds)

    @property
    def encoding(self) -> str:
        """``"thermometer"`` (bit ``j``: value above boundary ``j``) or ``"one-hot"`` (max pooling)."""
        return "one-hot" if self.pool is not None else "thermometer"


@short_repr
@dataclass(frozen=True)
class Pool:
    """Max-pooling windows (1-D or 2-D, as ``nn.MaxPool1d/2d`` takes them).

    The piece of a window is the position of its maximum in row-major order over the
    kernel (the first one on ties), as in :class:`polylens.models.activations.MaxPool`.
    It is read in a forward hook from the pooling's input and output.
    """

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool

    @classmethod
    def make(cls, dims: int, kernel, stride, padding, dilation, ceil_mode) -> "Pool":
        """The windows of a pooling given as ``nn.MaxPool1d/2d`` takes them (ints or
        tuples of ``dims`` ints; a ``stride`` of None or ``()`` is the kernel).

        Raises
        ------
        None of its own
            A parameter that is no int or sequence of ints fails in ``int()`` (``TypeError`` or
            ``ValueError``).
        """
        def tup(v):
            return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * dims

        stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else stride
        return cls(tup(kernel), tup(stride), tup(padding), tup(dilation), bool(ceil_mode))

    @property
    def size(self) -> int:
        return int(np.prod(self.kernel))

    def one_hot(self, z: torch.Tensor, pooled: torch.Tensor):
        """One-hot arg-max of every window, from the input ``z`` of shape (n, C, *spatial)
        and the pooled output of shape (n, C, *out).

        Returns bool bits of shape (n, C * prod(out) * size), window by window, bit ``k``
        set where kernel position ``k`` holds the maximum: a numpy array on the CPU (where
        numpy's comparisons are several times faster), else a tensor on ``z``'s device.

        Raises
        ------
        None of its own
        """
        out = pooled.shape[2:]
        pad = []
        for axis in reversed(range(len(self.kernel))):  # F.pad lists the last axis first
            need = (out[axis] - 1) * self.stride[axis] + (self.kernel[axis] - 1) * self.dilation[axis] + 1
            pad += [self.padding[axis], max(0, need - z.shape[2 + axis] - self.padding[axis])]
        if any(pad):
            z = F.pad(z, pad, value=float("-inf"))
        if on_cpu(z):
            z, pooled = z.numpy(), pooled.numpy()
            bits = np.empty((*pooled.shape, self.size), dtype=bool)
        else:
            bits = torch.empty((*pooled.shape, self.size), dtype=torch.bool, device=z.device)
        found = None
        for k, offsets in enumerate(itertools.product(*(range(k) for k in self.kernel))):
            window = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                           for o, d, s, n in zip(offsets, self.dilation, self.stride, out))
            hit = z[(slice(None), slice(None), *window)] == pooled
            if found is None:
                found = hit
            else:
                hit &= ~found  # the first maximum wins ties, as in torch and the exact engine
                found |= hit
            bits[..., k] = hit
        return bits.reshape(bits.shape[0], -1)


def on_cpu(t: torch.Tensor) -> bool:
    """Whether ``t`` is best handled by numpy: a CPU tensor of a dtype numpy has."""
    return t.device.type == "cpu" and t.dtype != torch.bfloat16


@short_repr
@dataclass(frozen=True)
class SitePlan:
    """The sites of a model and the module that runs them.

    Attributes
    ----------
    runner : torch.nn.Module
        The model itself, or a ``torch.fx.GraphModule`` sharing its parameters in which
        every functional activation call is a small module (so it can be hooked).
    sites : tuple of Site
    patterns : dict of str to tuple of str
        For user-named sites: the site names each pattern matched.
    """

    runner: nn.Module
    sites: tuple[Site, ...]
    patterns: dict = field(default_factory=dict)

    def module(self, name: str, argument: str) -> tuple[nn.Module, int]:
        """The module called ``name`` (``"#k"`` suffix: its ``k``-th call) in the runner.

        Raises
        ------
        ValueError
            If ``name`` has a call suffix that is not ``"#<int>"`` or no module or functional
            site has that name (the message names ``argument`` and lists close names).
        """
        base, _, call = name.partition("#")
        if call and not call.isdigit():
            raise ValueError(f"`{argument}`: {name!r} has a call suffix that is not '#<int>'")
        modules = dict(self.runner.named_modules())
        functional = {s.name: s.module for s in self.sites if isinstance(s.module, _FunctionalSite)}
        found = functional.get(base, modules.get(base) if base else None)
        if found is None:
            names = [n for n in modules if n] + list(functional)
            close = difflib.get_close_matches(base, names, n=5)
            hint = f"; close matches: {close}" if close else f"; modules include: {names[:10]}"
            raise ValueError(f"`{argument}`: no module or site named {base!r} in the model{hint}")
        return found, int(call or 0)


def find_sites(model: nn.Module, sites=None, *, keep=()) -> SitePlan:
    """Find the activation sites of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
    sites : str or sequence of str, optional
        Glob patterns (``fnmatch``, case-sensitive) matched against module names, then
        against functional site names (``"relu_1()"``). Every pattern must match
        something. Default: every activation module and, where ``torch.fx`` traces the
        model, every functional activation call (a ``transformers`` model that
        ``torch.fx`` cannot trace is coded at its activation modules without a warning:
        that library makes its nonlinearities modules).
    keep : sequence of str, default=()
        Module names that ``torch.fx`` tracing must keep whole (as one call), so that a
        hook on them fires (the density functions edit such a module's output).

    Returns
    -------
    SitePlan

    Raises
    ------
    ValueError
        A pattern that matches nothing (the message names it and lists close names).
    PolylensError
        No activation site at all in a model (name sites explicitly).

    Examples
    --------
    >>> import torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.Hardtanh())
    >>> [(s.name, s.thresholds) for s in find_sites(model).sites]
    [('1', (0.0,)), ('3', (-1.0, 1.0))]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"find_sites: `model` must be a torch.nn.Module; got {type(model).__name__}")
    patterns = _patterns(sites)
    named = [(name, mod) for name, mod in model.named_modules() if name]
    if patterns is None:
        module_sites = [s for name, mod in named if (s := _module_site(name, mod, named_by_user=False))]
        runner, functional, reason = _trace_functional(model, set(keep))
        if reason is not None and not (module_sites and is_transformers_model(model)):
            warnings.warn(
                f"find_sites: torch.fx could not trace the model ({reason}); functional activations "
                "(F.relu(x), x.relu(), ...) are not coded. Name the sites with `sites=` to silence this.",
                PolylensWarning,
                stacklevel=3,
            )
        found = module_sites + functional
        if not found:
            raise PolylensError(
                f"find_sites: no activation site found in the model of type {type(model).__name__}; "
                "name the modules to code with `sites=` (glob patterns such as 'encoder.layer.*.intermediate')"
            )
        return SitePlan(runner if functional else model, tuple(found))
    chosen: dict[str, Site] = {}
    matched: dict[str, tuple[str, ...]] = {}
    traced, functional = model, None
    for pattern in patterns:
        names = [name for name, _ in named if fnmatch.fnmatchcase(name, pattern)]
        for name, mod in named:
            if name not in chosen and fnmatch.fnmatchcase(name, pattern):
                chosen[name] = _module_site(name, mod, named_by_user=True)
        if not names:
            if functional is None:
                traced, functional, _ = _trace_functional(model, set(keep))
            names = [s.name for s in functional if fnmatch.fnmatchcase(s.name, pattern)]
            chosen.update({s.name: s for s in functional if fnmatch.fnmatchcase(s.name, pattern)})
        if not names:
            available = [name for name, _ in named] + [s.name for s in functional or []]
            close = difflib.get_close_matches(pattern, available, n=5)
            hint = f"close matches: {close}" if close else f"modules include: {available[:10]}"
            raise ValueError(f"find_sites: the site pattern {pattern!r} in `sites` matches no module; {hint}")
        matched[pattern] = tuple(names)
    uses_fx = any(isinstance(s.module, _FunctionalSite) for s in chosen.values())
    return SitePlan(traced if uses_fx else model, tuple(chosen.values()), matched)


def _patterns(sites) -> list[str] | None:
    if sites is None:
        return None
    if isinstance(sites, str):
        sites = [sites]
    try:
        patterns = list(sites)
    except TypeError:
        raise TypeError(f"`sites` must be a string or a sequence of strings; got {type(sites).__name__}") from None
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise TypeError(f"`sites` must be a non-empty sequence of non-empty strings; got {sites!r}")
    return patterns


def _module_site(name: str, mod: nn.Module, named_by_user: bool) -> Site | None:
    kind = type(mod).__name__
    if isinstance(mod, _SIGN_MODULES):
        return Site(name, kind, (0.0,), False, "input", mod)
    if isinstance(mod, nn.Hardtanh):  # ReLU6 too
        return Site(name, kind, (float(mod.min_val), float(mod.max_val)), False, "input", mod)
    if isinstance(mod, nn.Threshold):
        return Site(name, kind, (float(mod.threshold),), False, "input", mod)
    if isinstance(mod, nn.Hardsigmoid):
        return Site(name, kind, (-3.0, 3.0), False, "input", mod)
    if isinstance(mod, nn.Hardswish):
        return Site(name, kind, (-3.0, 3.0), True, "input", mod)
    if isinstance(mod, _SMOOTH_MODULES):
        return Site(name, kind, (0.0,), True, "input", mod)
    if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d)):
        dims = 1 if isinstance(mod, nn.MaxPool1d) else 2
        pool = Pool.make(dims, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode)
        return Site(name, kind, (), False, "pool", mod, pool)
    if (rule := hf_activation(mod)) is not None:
        return Site(name, kind, *rule, "input", mod)
    if named_by_user:
        return Site(name, "output", (0.0,), True, "output", mod)
    return None


# ------------------------------------------------------------------ functional (torch.fx)

class _FunctionalSite(nn.Module):
    """A functional activation call turned into a module so that it can be hooked."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _constant(value, what: str):
    items = value if isinstance(value, (tuple, list)) else [value]
    if not all(v is None or isinstance(v, (int, float)) for v in items):
        raise TypeError(f"{what} is not a constant")
    return value


def _functional_rule(node) -> tuple | None:
    """(function, kind, thresholds, approximate, pool) of an fx node, or None if the node
    is no activation. Raises TypeError for bounds that are not constants."""
    if node.op == "call_method":
        fn = getattr(torch.Tensor, node.target, None) if node.target in _METHODS else None
    elif node.op == "call_function":
        fn = node.target
    else:
        return None
    rest, kwargs = node.args[1:], node.kwargs

    def arg(i, key, default):
        return _constant(rest[i] if len(rest) > i else kwargs.get(key, default), f"{key} of {node.name}")

    name = f"{getattr(fn, '__name__', node.target)}()"
    if fn in (F.relu, torch.relu, torch.relu_, F.relu_, F.leaky_relu, F.leaky_relu_, torch.abs,
              torch.Tensor.relu, torch.Tensor.relu_, torch.Tensor.abs):
        return fn, name, (0.0,), False, None
    if fn is F.relu6:
        return fn, "relu6()", (0.0, 6.0), False, None
    if fn in (F.hardtanh, F.hardtanh_):
        return fn, name, (float(arg(0, "min_val", -1.0)), float(arg(1, "max_val", 1.0))), False, None
    if fn in (torch.clamp, torch.Tensor.clamp, torch.clamp_min, torch.Tensor.clamp_min):
        lo = arg(0, "min", None)
        hi = arg(1, "max", None) if fn in (torch.clamp, torch.Tensor.clamp) else None
        bounds = tuple(float(v) for v in (lo, hi) if v is not None)
        return (fn, name, bounds, False, None) if bounds else None
    if fn in (F.max_pool1d, F.max_pool2d):
        dims = 1 if fn is F.max_pool1d else 2
        kernel = arg(0, "kernel_size", None)
        if kernel is None:
            raise TypeError(f"kernel_size of {node.name} is missing")
        pool = Pool.make(dims, kernel, arg(1, "stride", None), arg(2, "padding", 0), arg(3, "dilation", 1),
                         arg(4, "ceil_mode", False))
        return fn, f"max_pool{dims}d()", (), False, pool
    if fn in (F.gelu, F.silu, F.elu, F.mish, F.softplus):
        return fn, name, (0.0,), True, None
    return None


_METHODS = ("relu", "relu_", "abs", "clamp", "clamp_min")


class _Tracer(torch.fx.Tracer):
    """The default tracer, keeping the modules named in ``keep`` whole."""

    def __init__(self, keep: set):
        super().__init__()
        self.keep = keep

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (module_qualified_name in self.keep or hf_activation(m) is not None
                or super().is_leaf_module(m, module_qualified_name))


def _trace_functional(model: nn.Module, keep: set) -> tuple[nn.Module, list[Site], str | None]:
    """Trace with torch.fx and wrap every functional activation in a hookable module.

    Returns (graph module or model, functional sites, reason tracing failed or None).
    """
    try:
        tracer = _Tracer(keep)
        gm = torch.fx.GraphModule(model, tracer.trace(model), type(model).__name__)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "no fx sites"
        return model, [], f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    found = []
    for i, node in enumerate(list(gm.graph.nodes)):
        try:
            rule = _functional_rule(node)
        except TypeError as exc:
            return model, [], f"node {node.name!r}: {exc}"
        if rule is None:
            continue
        fn, kind, thresholds, approximate, pool = rule
        stack = node.meta.get("nn_module_stack") or {}
        owner = next(reversed(stack.values()))[0] if stack else ""
        name = f"{owner}.{node.name}()" if owner else f"{node.name}()"
        wrapper = _FunctionalSite(fn)
        gm.add_submodule(f"_polylens_site_{i}", wrapper)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(f"_polylens_site_{i}", node.args, node.kwargs)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        found.append(Site(name, kind, thresholds, approximate, "input" if pool is None else "pool", wrapper, pool))
    gm.recompile()
    return gm, found, None
