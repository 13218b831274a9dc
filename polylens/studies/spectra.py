"""The Laplacian spectrum of a region graph, and its Fiedler cut against the decision boundary.

The combinatorial Laplacian ``L = D - A`` of the region graph is assembled sparse. Small
graphs get their whole spectrum (dense ``eigh``); large ones the ``k`` smallest
eigenvalues (``scipy.sparse.linalg.eigsh`` in shift-invert mode). The Fiedler vector
(eigenvector of the second smallest eigenvalue) splits the regions by its sign; the cut
edges are compared with the decision edges (edges whose two regions predict different
classes): how many cut edges are decision edges, against the share of decision edges
among all edges (what a random cut would give).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_int, invalid
from polylens.studies._common import adjacency, check_result

__all__ = ["laplacian_spectrum", "Spectrum", "laplacian"]

#: Graphs up to this many regions get their full spectrum (dense).
DENSE_LIMIT = 2000


def laplacian(n: int, edges: np.ndarray):
    """Sparse combinatorial Laplacian ``D - A`` (CSR, float64) of ``n`` nodes.

    Raises
    ------
    None
        Nothing of its own (its inputs are checked by the functions that make them).
    """
    from scipy import sparse

    A = adjacency(n, edges).astype(np.float64)
    return (sparse.diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsr()


@short_repr
@dataclass(frozen=True)
class Spectrum:
    """Laplacian eigenvalues of a region graph and its Fiedler cut.

    Attributes
    ----------
    eigenvalues : ndarray of shape (n_eigenvalues,)
        Smallest first (all of them when ``full``).
    full : bool
    algebraic_connectivity : float
        The second smallest eigenvalue (0 for a disconnected graph).
    fiedler : ndarray of shape (n_regions,)
    side : ndarray of shape (n_regions,), bool
        ``fiedler > median`` (a balanced cut).
    cut_edges : int
    decision_edges : int
        Edges whose regions predict different classes.
    cut_decision_fraction : float
        Share of the cut edges that are decision edges.
    decision_cut_fraction : float
        Share of the decision edges that the cut crosses.
    baseline : float
        Share of decision edges among all edges.
    seconds : float
    """

    eigenvalues: np.ndarray
    full: bool
    algebraic_connectivity: float
    fiedler: np.ndarray
    side: np.ndarray
    cut_edges: int
    decision_edges: int
    cut_decision_fraction: float
    decision_cut_fraction: float
    baseline: float
    seconds: float

    def check(self) -> None:
        """Eigenvalues ascend, the smallest is 0 and the largest is not negative (to
        round-off).

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        assert np.all(np.diff(self.eigenvalues) >= -1e-8)
        assert abs(self.eigenvalues[0]) < 1e-8
        assert self.eigenvalues[-1] >= -1e-12


def laplacian_spectrum(result, *, k: int = 20, classes=None) -> Spectrum:
    """Laplacian spectrum and Fiedler partition of an enumeration's region graph.

    Parameters
    ----------
    result : EnumerationResult
    k : int, default=20
        Eigenvalues computed on graphs larger than ``DENSE_LIMIT`` (all of them below;
        at most ``n_regions - 1``).
    classes : array-like of shape (n_regions,), optional
        Class of every region (default: the predicted class at its interior point).

    Returns
    -------
    Spectrum

    Raises
    ------
    InvalidParameterError
        If ``result`` is not an EnumerationResult of at least 3 regions, ``k`` is below 2,
        or ``classes`` has the wrong shape.
    """
    from scipy.sparse.linalg import eigsh

    func = "laplacian_spectrum"
    start = time.perf_counter()
    result = check_result(result, func)
    n = result.n_regions
    if n < 3:
        raise invalid(func, "result", "an enumeration of at least 3 regions", f"{n} regions")
    k = min(check_int(k, func=func, name="k", low=2), n - 1)
    cls = result.predicted_class() if classes is None else np.asarray(classes)
    if cls.shape != (n,):
        raise invalid(func, "classes", f"an array of shape ({n},)", f"shape {cls.shape}")
    L = laplacian(n, result.edges)
    if n <= DENSE_LIMIT:
        values, vectors = np.linalg.eigh(L.toarray())
        full = True
    else:
        values, vectors = eigsh(L, k=k, sigma=-1e-3, which="LM")
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
        full = False
    fiedler = vectors[:, 1]
    side = fiedler > np.median(fiedler)
    e = result.edges
    cut = side[e[:, 0]] != side[e[:, 1]]
    decision = cls[e[:, 0]] != cls[e[:, 1]]
    both = int(np.count_nonzero(cut & decision))
    return Spectrum(values, full, float(max(values[1], 0.0)), fiedler, side, int(cut.sum()), int(decision.sum()),
                    both / max(int(cut.sum()), 1), both / max(int(decision.sum()), 1),
                    float(decision.mean()) if e.size else float("nan"), time.perf_counter() - start)
