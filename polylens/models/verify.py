"""The check every conversion ends with: the converted net reproduces its model (private).

At the example input and a few perturbed copies of it, three things must hold, each node
by node (a mismatch raises :class:`~polylens.errors.ConversionError` naming the first
node or layer that differs):

1. **The forward pass.** The program's output equals the model's own forward pass in
   float64. On a mismatch, the values of the model's own submodules (read with forward
   hooks) and of torch's own ``fx.Interpreter`` over the traced graph are compared with
   the program's, to name the first diverging node.
2. **The frozen pieces.** With every nonlinearity frozen to the pieces of the point, the
   program's values at the point are those of the forward pass.
3. **The linear parts.** With the pieces frozen, the values on the subspace through the
   point ``x`` along ``v`` (rows ``x`` and ``v``) add up to the values at ``x + v``: the
   constant parts of the affine nodes (biases, shifts, padding values) are removed
   exactly from the linear rows.

Together these check what the exact engine relies on: the codes (1), the region's rows
and output map at the point (2) and along any direction (3).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from polylens import tolerances
from polylens.errors import ConversionError

__all__ = ["check_conversion", "probe_inputs"]

#: How many perturbed copies of the example input are checked, and their spread
#: (relative to the example input's largest entry, at least 1).
N_PROBES = 2
PROBE_SPREAD = 0.5


def probe_inputs(example: np.ndarray, seed: int = 0) -> np.ndarray:
    """The example input (one sample, flattened) and ``N_PROBES`` perturbed copies,
    shape (1 + N_PROBES, input_dim).

    Raises
    ------
    None of its own
    """
    rng = np.random.default_rng(seed)
    scale = PROBE_SPREAD * max(float(np.abs(example).max(initial=0.0)), 1.0)
    return np.vstack([example, example + scale * rng.standard_normal((N_PROBES, example.size))])


def check_conversion(program, reference: Callable, inputs: np.ndarray,
                     reference_values: Callable | None = None) -> None:
    """Raise ConversionError where ``program`` does not reproduce the model.

    Parameters
    ----------
    program : ChainProgram or GraphProgram
    reference : callable
        The model's own forward pass: ndarray of shape (n, input_dim) -> ndarray (n, output_dim).
    inputs : ndarray of shape (n, input_dim)
    reference_values : callable, optional
        ndarray of shape (1, input_dim) -> dict of node name -> ndarray: the model's own
        values at some of the program's nodes, to name where a forward mismatch starts.

    Raises
    ------
    ConversionError
        If the program's output differs from ``reference`` at an input, or its frozen
        affine forms differ from its own forward pass; the message names the first node
        that differs.
    """
    expected = reference(inputs)
    run_values, got, pre = program.node_values(inputs)
    floor = max((_magnitude(v) for v in run_values.values()), default=0.0)
    if got.shape != expected.shape or not _close(got, expected, floor):
        _blame_forward(program, inputs, expected, got, reference_values)
    for i, x in enumerate(inputs):
        parts = [act.pieces(z[i:i + 1])[0] for act, z in zip(program.activations, pre)]
        v = inputs[(i + 1) % len(inputs)] - x
        line, *_ = program.node_values(np.vstack([x, v]), parts)
        _compare(program, {k: a[i:i + 1] for k, a in run_values.items()}, {k: a[:1] for k, a in line.items()},
                 "with the pieces of the input frozen, the value at the input")
        end, *_ = program.node_values((x + v)[None], parts)
        _compare(program, end, {k: a[:1] + a[1:] for k, a in line.items()},
                 "with the pieces frozen, the affine form along a direction (its linear part)", terms=line)


def _close(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> bool:
    return _difference(a, b, floor) <= tolerances.CONVERSION_CHECK


def _magnitude(a: np.ndarray) -> float:
    return float(np.abs(a).max(initial=0.0))


def _difference(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> float:
    """Largest difference relative to the larger absolute entry, or to ``floor`` (the
    largest value computed before, where cancellation leaves a small result) if larger."""
    if a.shape != b.shape:
        return np.inf
    scale = max(_magnitude(a), _magnitude(b), floor)
    diff = float(np.abs(a - b).max(initial=0.0))
    return diff / scale if scale > 0 else diff


def _running_scales(values: dict) -> dict:
    """For each node (in execution order), the largest absolute value of the nodes before it."""
    scales, running = {}, 0.0
    for name, value in values.items():
        scales[name] = running
        running = max(running, _magnitude(value))
    return scales


def _compare(program, expected: dict, got: dict, what: str, terms: dict | None = None) -> None:
    """Raise at the first node where ``got`` differs from ``expected``. ``terms``: the
    values ``got`` was summed from (the value at a point and a linear part), whose size
    bounds the round-off of the sum where they cancel."""
    floors = _running_scales(expected)
    if terms is not None:
        floors = {name: max(floors[name], _magnitude(terms[name])) if name in terms else floors[name]
                  for name in floors}
    for name, value in expected.items():
        if name in got and not _close(got[name], value, floors[name]):
            raise _mismatch(what, _where(program, name), _difference(got[name], value, floors[name]))


def _mismatch(what: str, where: str, relative: float) -> ConversionError:
    return ConversionError(
        f"PWLNet.from_torch: the converted net does not reproduce the model: {what} first differs at {where} "
        f"(relative difference {relative:.3g}). polylens does not model this op as the model computes it; "
        "please report it with the model"
    )


def _blame_forward(program, inputs, expected, got, reference_values) -> None:
    worst = int(np.argmax([_difference(g, e) for g, e in zip(got, expected)])) if got.shape == expected.shape else 0
    x = inputs[worst:worst + 1]
    what = "the forward pass"
    if reference_values is not None:
        ours, *_ = program.node_values(x)
        theirs = reference_values(x)
        floors = _running_scales(ours)
        for name in ours:
            if name in theirs and not _close(ours[name], theirs[name], floors[name]):
                raise _mismatch(f"{what} (compared with the model's own submodules)", _where(program, name),
                                _difference(ours[name], theirs[name], floors[name]))
    gm = getattr(program, "gm", None)
    if gm is not None:
        ours, *_ = program.node_values(x)
        theirs = _interpreter_values(program, x)
        floors = _running_scales(ours)
        for name in ours:
            if name in theirs and not _close(ours[name], theirs[name], floors[name]):
                raise _mismatch(f"{what} (compared with torch.fx.Interpreter on the traced graph)",
                                _where(program, name), _difference(ours[name], theirs[name], floors[name]))
    raise _mismatch(what, "the output (every node the model exposes agrees; the model's forward does something "
                          "its trace does not record, such as hooks or data-dependent control flow)",
                    _difference(got[worst], expected[worst]) if got.shape == expected.shape else np.inf)


def _where(program, name: str) -> str:
    gm = getattr(program, "gm", None)
    if gm is None:
        return f"layer {name!r}"
    from polylens.models.ops import describe

    node = next(n for n in gm.graph.nodes if n.name == name)
    return describe(node, gm)


def _interpreter_values(program, x: np.ndarray) -> dict:
    """Every node's value under torch's own fx.Interpreter (flattened per row)."""
    import torch
    import torch.fx as fx

    values: dict = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
                out0 = out[0]
            else:
                out0 = out
            if isinstance(out0, torch.Tensor) and out0.dim() > 0 and out0.shape[0] == x.shape[0]:
                values[n.name] = out0.detach().reshape(x.shape[0], -1).clone().numpy()
            return out

    batch = torch.as_tensor(x, dtype=torch.float64).reshape(x.shape[0], *program.input_shape)
    with torch.no_grad():
        Recorder(program.gm).run(batch)
    return values
