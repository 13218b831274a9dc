"""Nets with known decision topology, built from exact weights (float64 torch models).

``r(x) = sum_i relu(a_i . x)`` over 8 unit directions ``a_i`` (every 45 degrees) is a
convex, positively homogeneous PL function: its sublevel sets are convex polygons
around the origin. Thresholding ``r`` and ``|r - 1|`` gives discs, annuli and (with a
third coordinate) a solid torus.
"""

from __future__ import annotations

import numpy as np
import torch

ANGLES = np.arange(8) * np.pi / 4


def directions(d: int) -> np.ndarray:
    """The 8 planar directions, padded with zeros to dimension ``d``, shape (8, d)."""
    a = np.zeros((8, d))
    a[:, 0], a[:, 1] = np.cos(ANGLES), np.sin(ANGLES)
    return a


def _linear(W, b) -> torch.nn.Linear:
    W, b = np.atleast_2d(np.asarray(W, float)), np.asarray(b, float).reshape(-1)
    lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W))
        lin.bias.copy_(torch.from_numpy(b))
    return lin


def _seq(*layers) -> torch.nn.Sequential:
    out = []
    for i, (W, b) in enumerate(layers):
        out.append(_linear(W, b))
        if i < len(layers) - 1:
            out.append(torch.nn.ReLU())
    return torch.nn.Sequential(*out)


def disc(radius: float = 1.0, centre=(0.0, 0.0)) -> torch.nn.Sequential:
    """Output ``radius - r(x - centre)``: class 1 is a disc (a convex 16-gon)."""
    A = directions(2)
    c = np.asarray(centre, float)
    return _seq((A, -A @ c), (-np.ones((1, 8)), [radius]))


def two_discs(gap: float = 3.0) -> torch.nn.Sequential:
    """Output ``relu(1 - r(x - c1)) + relu(1 - r(x - c2)) - 0.5``: class 1 is two discs."""
    A = directions(2)
    c1, c2 = np.array([-gap / 2, 0.0]), np.array([gap / 2, 0.0])
    W1 = np.vstack([A, A])
    b1 = np.concatenate([-A @ c1, -A @ c2])
    W2 = np.zeros((2, 16))
    W2[0, :8], W2[1, 8:] = -1.0, -1.0
    return _seq((W1, b1), (W2, [1.0, 1.0]), (np.ones((1, 2)), [-0.5]))


def annulus() -> torch.nn.Sequential:
    """Output ``0.5 - |r(x) - 1|``: class 1 is an annulus."""
    A = directions(2)
    W2 = np.vstack([np.ones(8), -np.ones(8)])
    return _seq((A, np.zeros(8)), (W2, [-1.0, 1.0]), (-np.ones((1, 2)), [0.5]))


def ring_function() -> torch.nn.Sequential:
    """Output ``|r(x) - 1| - 0.5`` (a scalar whose sublevel sets are annuli, then discs)."""
    A = directions(2)
    W2 = np.vstack([np.ones(8), -np.ones(8)])
    return _seq((A, np.zeros(8)), (W2, [-1.0, 1.0]), (np.ones((1, 2)), [-0.5]))


def solid_torus() -> torch.nn.Sequential:
    """Output ``0.5 - |r(x1, x2) - 1| - |x3|`` in 3-D: class 1 is a solid torus."""
    A = directions(3)
    e3 = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    W1 = np.vstack([A, e3])
    W2 = np.zeros((3, 10))
    W2[0, :8], W2[1, :8] = 1.0, -1.0
    W2[2, 8:] = 1.0
    return _seq((W1, np.zeros(10)), (W2, [-1.0, 1.0, 0.0]), (-np.ones((1, 3)), [0.5]))


def touching_squares() -> torch.nn.Sequential:
    """Output ``max(1 - |x - c1|_inf, 1 - |x - c2|_inf)`` with ``c = (-1, -1), (1, 1)``:
    class 1 is two open squares whose closures touch at the origin only.

    ``|w|_inf = sum over s in {+-1}^2 of relu(s . w) / 2`` and
    ``max(a, b) = b + relu(a - b)``.
    """
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)
    c1, c2 = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    W1 = np.vstack([signs, signs])
    b1 = np.concatenate([-signs @ c1, -signs @ c2])
    W2 = np.zeros((2, 8))
    W2[0, :4], W2[0, 4:] = -0.5, 0.5  # relu(n2 - n1)
    W2[1, 4:] = 0.5  # relu(n2) = n2
    return _seq((W1, b1), (W2, [0.0, 0.0]), ([[1.0, -1.0]], [1.0]))


def arrangement(n: int, d: int, seed: int = 0) -> torch.nn.Sequential:
    """One hidden layer of ``n`` random hyperplanes in general position in R^d."""
    rng = np.random.default_rng(seed)
    return _seq((rng.standard_normal((n, d)), rng.standard_normal(n)), (rng.standard_normal((1, n)), [0.1]))
