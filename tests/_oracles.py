"""Independent oracles for the exact engine's tests.

Nothing here imports polylens: every check is computed from scratch with numpy, scipy
(``HalfspaceIntersection``, ``ConvexHull``, ``linprog`` called directly) and torch, so a
test that compares polylens against these functions compares two independent computations.

Conventions: an H-representation is ``A t <= b`` with ``A`` of shape (m, k).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection

# ---------------------------------------------------------------------------- torch side


def leaf_modules(seq: torch.nn.Module) -> list[torch.nn.Module]:
    """The non-Sequential modules of a nested ``nn.Sequential``, in execution order."""
    out = []
    for child in seq.children():
        if isinstance(child, torch.nn.Sequential):
            out.extend(leaf_modules(child))
        else:
            out.append(child)
    return out


ACTIVATIONS = (torch.nn.ReLU, torch.nn.LeakyReLU)


def torch_preactivations_and_output(seq: torch.nn.Module, x: torch.Tensor):
    """Run a nested Sequential leaf by leaf; return (pre-activations, output).

    Pre-activations are the inputs of every ReLU/LeakyReLU module, flattened per sample and
    concatenated in execution order: shape (n, n_units). Pure torch, usable under
    ``torch.func`` transforms.
    """
    pre = []
    a = x
    for mod in leaf_modules(seq):
        if isinstance(mod, ACTIVATIONS):
            pre.append(a.reshape(a.shape[0], -1))
            a = torch.nn.functional.leaky_relu(a, mod.negative_slope) if isinstance(
                mod, torch.nn.LeakyReLU) else torch.relu(a)
        elif isinstance(mod, torch.nn.Dropout):
            continue  # eval semantics
        else:
            a = mod(a)
    pre_all = torch.cat(pre, dim=1) if pre else x.new_zeros((x.shape[0], 0))
    return pre_all, a


def hooked_preactivations(seq: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pre-activations captured with forward pre-hooks on the activation modules.

    Uses the model's own ``forward`` (so it is a check of the model as the user runs it).
    """
    captured: list[torch.Tensor] = []
    handles = []

    def hook(_module, inputs):
        captured.append(inputs[0].detach().clone().reshape(inputs[0].shape[0], -1))

    try:
        for mod in seq.modules():
            if isinstance(mod, ACTIVATIONS):
                handles.append(mod.register_forward_pre_hook(hook))
        with torch.no_grad():
            seq(x)
    finally:
        for h in handles:
            h.remove()
    return torch.cat(captured, dim=1)


# ---------------------------------------------------------------------------- polytopes


def polytope_vertices(A: np.ndarray, b: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """Vertices of the bounded polytope ``{A t <= b}`` (Qhull halfspace intersection)."""
    hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), np.asarray(interior, dtype=np.float64))
    pts = hs.intersections
    hull = ConvexHull(pts)
    return pts[hull.vertices]


def polytope_volume(A: np.ndarray, b: np.ndarray, interior: np.ndarray) -> float:
    """Volume (area in 2-D) of the bounded polytope ``{A t <= b}``."""
    hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), np.asarray(interior, dtype=np.float64))
    return float(ConvexHull(hs.intersections).volume)


def coincident_groups(A: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> list[np.ndarray]:
    """Partition row indices into classes of the same half-space (rows normalised here)."""
    norms = np.linalg.norm(A, axis=1)
    An, bn = A / norms[:, None], b / norms
    m = A.shape[0]
    label = -np.ones(m, int)
    groups = []
    for i in range(m):
        if label[i] >= 0:
            continue
        same = (np.abs(An - An[i]).max(axis=1) <= atol) & (np.abs(bn - bn[i]) <= atol * max(1.0, abs(bn[i])))
        same &= label < 0
        label[same] = len(groups)
        groups.append(np.flatnonzero(same))
    return groups


def redundancy_margins(A: np.ndarray, b: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """For each class of coincident rows, how far the other rows let it be exceeded.

    For the class of row i: maximise ``a_i t`` over ``{a_j t <= b_j : j not in the class}``
    plus ``a_i t <= b_i + 1`` (so the LP is bounded) and return ``max - b_i`` (in [0, 1]
    for a non-empty polytope; > 0 exactly when the class is irredundant).

    Returns (groups, margins).
    """
    groups = coincident_groups(A, b)
    margins = np.empty(len(groups))
    for g, rows in enumerate(groups):
        i = rows[0]
        keep = np.ones(A.shape[0], bool)
        keep[rows] = False
        A_ub = np.vstack([A[keep], A[i]])
        b_ub = np.concatenate([b[keep], [b[i] + 1.0]])
        res = linprog(-A[i], A_ub=A_ub, b_ub=b_ub, bounds=[(None, None)] * A.shape[1], method="highs")
        assert res.status == 0, f"oracle LP failed: {res.message}"
        margins[g] = -res.fun - b[i]
    return groups, margins


def irredundant_groups(A: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> list[tuple[int, ...]]:
    """Classes of coincident rows that are facets, as sorted tuples of row indices.

    Asserts that no margin falls in the ambiguous band (tol, 1e-6], so the oracle's answer
    does not hinge on the tolerance.
    """
    groups, margins = redundancy_margins(A, b)
    ambiguous = (margins > tol) & (margins <= 1e-6)
    assert not np.any(ambiguous), f"redundancy margins too close to the tolerance: {margins[ambiguous]}"
    return sorted(tuple(int(r) for r in g) for g, mg in zip(groups, margins) if mg > tol)


def recession_cone_nonzero(A: np.ndarray, tol: float = 1e-7) -> bool:
    """Whether ``{d : A d <= 0}`` holds a nonzero direction (the polyhedron is unbounded).

    The cone is nonzero iff some coordinate of some cone point in the unit cube is nonzero,
    so 2k LPs (maximise and minimise each coordinate over cone ∩ [-1, 1]^k) decide it.
    """
    k = A.shape[1]
    for i in range(k):
        for sign in (1.0, -1.0):
            c = np.zeros(k)
            c[i] = -sign
            res = linprog(c, A_ub=A, b_ub=np.zeros(A.shape[0]), bounds=[(-1, 1)] * k, method="highs")
            assert res.status == 0, res.message
            if -res.fun > tol:
                return True
    return False


def sample_in_polytope(vertices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random points strictly inside the convex hull of ``vertices`` (Dirichlet weights)."""
    w = rng.dirichlet(np.ones(vertices.shape[0]), size=n)
    return w @ vertices
