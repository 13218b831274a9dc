"""Statistics of the region graph: degrees, diameter, eccentricities, data regions.

The region graph of an enumeration has one node per region and one edge per shared
facet. Degrees come from one ``bincount``; eccentricities and the diameter from the
bounding algorithm of Takes and Kosters (2011): every breadth-first search (scipy's
compiled ``csgraph``) from a node ``v`` bounds every other node's eccentricity by
``max(d(v, w), ecc(v) - d(v, w)) <= ecc(w) <= ecc(v) + d(v, w)``, and the search stops
when the bounds meet, usually after a few dozen searches rather than one per node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from polylens._repr import short_repr
from polylens._validation import check_array, check_bool, check_int, invalid
from polylens.studies._common import adjacency, bfs_depths, check_result, locate_codes

__all__ = ["eccentricities", "Eccentricities", "graph_statistics", "GraphStatistics", "data_regions", "DataRegions"]


@short_repr
@dataclass(frozen=True)
class Eccentricities:
    """Eccentricity of every node of a connected graph (hops to the farthest node).

    Attributes
    ----------
    lower, upper : ndarray of shape (n,), int
        Bounds on each eccentricity; equal everywhere when ``exact``.
    diameter : int
        Largest eccentricity (exact when ``diameter_exact``).
    radius : int
        Smallest eccentricity (exact when ``exact``).
    exact : bool
        Every eccentricity is known exactly.
    diameter_exact : bool
    searches : int
        Breadth-first searches run.
    """

    lower: np.ndarray
    upper: np.ndarray
    diameter: int
    radius: int
    exact: bool
    diameter_exact: bool
    searches: int

    @property
    def values(self) -> np.ndarray:
        """The eccentricities (only when ``exact``).

        Raises
        ------
        ValueError
            If the bounds did not meet (the search budget ran out).
        """
        if not self.exact:
            raise ValueError("Eccentricities.values: the bounds did not meet (raise `max_searches`)")
        return self.lower

    def check(self) -> None:
        """Bounds are ordered, the diameter lies within them, and they are equal when
        ``exact``.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        assert np.all(self.lower <= self.upper)
        assert self.lower.max(initial=0) <= self.diameter <= self.upper.max(initial=0)
        assert not self.exact or np.array_equal(self.lower, self.upper)


def eccentricities(graph, *, max_searches: int | None = None, diameter_only: bool = False) -> Eccentricities:
    """Exact eccentricities (or the diameter alone) of a connected graph, by bounding.

    Parameters
    ----------
    graph : scipy.sparse matrix of shape (n, n) or networkx.Graph
        Undirected, connected.
    max_searches : int, optional
        Stop after this many breadth-first searches (bounds are then returned).
    diameter_only : bool, default=False
        Stop as soon as the diameter is known.

    Returns
    -------
    Eccentricities

    Raises
    ------
    InvalidParameterError
        If the graph is empty or not connected.

    Examples
    --------
    >>> import networkx as nx
    >>> eccentricities(nx.path_graph(5)).values.tolist()
    [4, 3, 2, 3, 4]
    """
    func = "eccentricities"
    max_searches = check_int(max_searches, func=func, name="max_searches", low=1, none_ok=True)
    diameter_only = check_bool(diameter_only, func=func, name="diameter_only")
    A = _as_sparse(graph, func)
    return _bounding(A, max_searches, diameter_only, func)


def _as_sparse(graph, func: str):
    from scipy import sparse

    if hasattr(graph, "nodes") and hasattr(graph, "edges"):
        import networkx as nx

        nodes = list(graph.nodes)
        A = nx.to_scipy_sparse_array(graph, nodelist=nodes, format="csr")
        return sparse.csr_matrix(A, dtype=np.float64)
    if sparse.issparse(graph):
        A = sparse.csr_matrix(graph, dtype=np.float64)
        A.sum_duplicates()
        return A
    raise invalid(func, "graph", "a scipy.sparse matrix or a networkx.Graph", type(graph).__name__)


def _bounding(A, max_searches, diameter_only, func):
    from scipy.sparse.csgraph import connected_components

    n = A.shape[0]
    if n == 0:
        raise invalid(func, "graph", "a graph with at least one node", "an empty graph")
    n_comp, _ = connected_components(A, directed=False)
    if n_comp > 1:
        raise invalid(func, "graph", "a connected graph", f"a graph of {n_comp} components")
    lower = np.zeros(n, np.int64)
    upper = np.full(n, n, np.int64)  # an eccentricity is below n in a connected graph
    degree = np.diff(A.indptr)
    open_ = np.ones(n, bool)
    searches, pick_high, budget_hit = 0, True, False
    while np.any(open_):
        if max_searches is not None and searches >= max_searches:
            budget_hit = True
            break
        # Alternate: largest upper bound, then smallest lower bound (ties: high degree).
        key = (upper if pick_high else -lower) * (int(degree.max()) + 1) + degree
        v = int(np.argmax(np.where(open_, key, np.iinfo(np.int64).min)))
        pick_high = not pick_high
        d = bfs_depths(A, v)
        searches += 1
        ecc = int(d.max())
        lower = np.maximum(lower, np.maximum(d, ecc - d))
        upper = np.minimum(upper, ecc + d)
        lower[v] = upper[v] = ecc
        open_ &= lower != upper
        if diameter_only:  # a node whose upper bound cannot beat the best lower bound is settled
            open_ &= upper > lower.max()
    exact = bool(np.array_equal(lower, upper))
    diameter_exact = exact or not budget_hit
    diameter = int(lower.max()) if diameter_exact else int(upper.max())
    radius = int(lower.min()) if exact else int(upper.min())
    return Eccentricities(lower, upper, diameter, radius, exact, bool(diameter_exact), searches)


@short_repr
@dataclass(frozen=True)
class GraphStatistics:
    """Statistics of a region graph.

    Attributes
    ----------
    n_regions, n_edges : int
    input_dim : int
        ``d`` of the space; the mean degree of a hyperplane arrangement's graph is at
        most ``2 d`` (each region has on average at most 2 d facets).
    degrees : ndarray of shape (n_regions,), int
    degree_histogram : ndarray of shape (max_degree + 1,), int
    mean_degree : float
    mean_degree_bound : int
        ``2 * input_dim``.
    diameter : int
        -1 when not computed (``diameter=False``) or the graph is disconnected.
    eccentricities : Eccentricities or None
    n_bounded, n_unbounded : int
    mean_degree_bounded, mean_degree_unbounded : float
        NaN where there is no such region.
    n_components : int
    complete : bool
        The enumeration was complete (statistics of a partial one describe a subgraph).
    seconds : float
    """

    n_regions: int
    n_edges: int
    input_dim: int
    degrees: np.ndarray
    degree_histogram: np.ndarray
    mean_degree: float
    mean_degree_bound: int
    diameter: int
    eccentricities: Eccentricities | None = field(repr=False)
    n_bounded: int
    n_unbounded: int
    mean_degree_bounded: float
    mean_degree_unbounded: float
    n_components: int
    complete: bool
    seconds: float

    def check(self) -> None:
        """Degrees sum to twice the edges; the histogram and the bounded and unbounded
        counts count every region; the eccentricities pass their own check.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        assert int(self.degrees.sum()) == 2 * self.n_edges
        assert int(self.degree_histogram.sum()) == self.n_regions
        assert self.n_bounded + self.n_unbounded == self.n_regions
        if self.eccentricities is not None:
            self.eccentricities.check()

    def summary(self) -> dict:
        """JSON-ready numbers.

        Raises
        ------
        None of its own
        """
        return {
            "regions": self.n_regions, "edges": self.n_edges, "mean_degree": round(self.mean_degree, 6),
            "max_degree": int(self.degrees.max(initial=0)), "mean_degree_bound": self.mean_degree_bound,
            "diameter": self.diameter, "radius": -1 if self.eccentricities is None else self.eccentricities.radius,
            "bounded": self.n_bounded, "unbounded": self.n_unbounded, "components": self.n_components,
            "degree_histogram": self.degree_histogram.tolist(),
        }


def graph_statistics(result, *, diameter: bool = True, all_eccentricities: bool = False,
                     max_searches: int | None = None) -> GraphStatistics:
    """Degrees, diameter and eccentricities of the region graph of an enumeration.

    Parameters
    ----------
    result : EnumerationResult or PlanePartition
        An enumeration, or the exact polygons of a plane (every region bounded).
    diameter : bool, default=True
        Compute the exact diameter (bounding breadth-first searches).
    all_eccentricities : bool, default=False
        Compute every region's eccentricity (more searches).
    max_searches : int, optional
        Budget of breadth-first searches (bounds are kept when it runs out).

    Returns
    -------
    GraphStatistics

    Raises
    ------
    InvalidParameterError
        If ``result`` is neither an EnumerationResult nor a PlanePartition, or an option is
        invalid.
    """
    from scipy.sparse.csgraph import connected_components

    from polylens.geometry.plane import PlanePartition

    func = "graph_statistics"
    if isinstance(result, PlanePartition):
        n, edges, dim, complete = result.n_regions, result.edges, 2, True
        bounded = np.ones(n, bool)
    else:
        result = check_result(result, func)
        n, edges, dim, complete = result.n_regions, result.edges, int(result.space.dim), bool(result.complete)
        bounded = result.bounded
    diameter = check_bool(diameter, func=func, name="diameter")
    all_eccentricities = check_bool(all_eccentricities, func=func, name="all_eccentricities")
    max_searches = check_int(max_searches, func=func, name="max_searches", low=1, none_ok=True)
    start = time.perf_counter()
    A = adjacency(n, edges)
    degrees = np.diff(A.indptr).astype(np.int64)
    n_comp = int(connected_components(A, directed=False)[0]) if n else 0
    ecc = None
    if n and n_comp == 1 and (diameter or all_eccentricities):
        ecc = _bounding(A, max_searches, not all_eccentricities, func)
    return GraphStatistics(
        n_regions=n, n_edges=int(edges.shape[0]), input_dim=dim, degrees=degrees,
        degree_histogram=np.bincount(degrees, minlength=1), mean_degree=float(degrees.mean()) if n else 0.0,
        mean_degree_bound=2 * dim, diameter=-1 if ecc is None else ecc.diameter,
        eccentricities=ecc, n_bounded=int(bounded.sum()), n_unbounded=int((~bounded).sum()),
        mean_degree_bounded=_mean(degrees[bounded]), mean_degree_unbounded=_mean(degrees[~bounded]),
        n_components=n_comp, complete=complete, seconds=time.perf_counter() - start,
    )


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


@short_repr
@dataclass(frozen=True)
class DataRegions:
    """Which regions hold data points, and how the data regions sit in the graph.

    Attributes
    ----------
    point_region : ndarray of shape (n_points,), int
        Region of each point (-1: on a boundary or outside the enumerated regions).
    counts : ndarray of shape (n_regions,), int
        Points in each region.
    n_data_regions, n_empty_regions : int
    mean_degree_data, mean_degree_empty : float
    data_components : int
        Connected components of the subgraph induced by the data regions.
    largest_component_fraction : float
        Share of the data regions in the largest of those components.
    n_unlocated : int
        Points with no region (``point_region == -1``).
    class_purity : float
        With labels: share of points whose region's other points all share their label
        (NaN without labels).
    """

    point_region: np.ndarray
    counts: np.ndarray
    n_data_regions: int
    n_empty_regions: int
    mean_degree_data: float
    mean_degree_empty: float
    data_components: int
    largest_component_fraction: float
    n_unlocated: int
    class_purity: float

    def check(self) -> None:
        """Every point is counted once (in a region or as unlocated), and every region
        is a data region or an empty one.

        Raises
        ------
        AssertionError
            If one of these fails (plain ``assert`` statements, skipped under
            ``python -O``).
        """
        assert int(self.counts.sum()) + self.n_unlocated == self.point_region.size
        assert self.n_data_regions + self.n_empty_regions == self.counts.size


def data_regions(result, X, labels=None) -> DataRegions:
    """Locate data points among the regions of an enumeration (through their codes).

    Parameters
    ----------
    result : EnumerationResult
    X : array-like of shape (n_points, input_dim) or (n_points, *input_shape)
        Points in the enumeration's coordinates (inputs, or ``t`` of its subspace).
    labels : array-like of shape (n_points,), optional
        Class labels (for ``class_purity``).

    Returns
    -------
    DataRegions

    Raises
    ------
    InvalidParameterError
        If ``result`` is not an EnumerationResult, or ``X`` or ``labels`` has the wrong
        shape.
    """
    from scipy.sparse.csgraph import connected_components

    func = "data_regions"
    result = check_result(result, func)
    space = result.space
    X = check_array(X, func=func, name="X", ndim=(1, 2, 3, 4, 5))
    X = X.reshape(X.shape[0], -1) if X.ndim > 1 else X.reshape(1, -1)
    if X.shape[1] != space.dim:
        raise invalid(func, "X", f"points with {space.dim} coordinates", f"an array of shape {X.shape}")
    if labels is not None:
        labels = check_array(labels, func=func, name="labels", shape=(X.shape[0],), dtype=np.int64)
    codes = space.net.codes(space.to_input(X))
    where = locate_codes(result.codes, codes)
    n = result.n_regions
    counts = np.bincount(where[where >= 0], minlength=n)
    data = counts > 0
    A = adjacency(n, result.edges)
    degrees = np.diff(A.indptr)
    sub = A[data][:, data]
    n_comp, lab = connected_components(sub, directed=False) if data.any() else (0, np.zeros(0, int))
    largest = float(np.bincount(lab).max() / data.sum()) if data.any() else float("nan")
    purity = float("nan")
    if labels is not None:
        ok = where >= 0
        mixed = np.zeros(n, bool)
        for r in np.unique(where[ok]):
            mixed[r] = np.unique(labels[ok][where[ok] == r]).size > 1
        purity = float(np.mean(~mixed[where[ok]])) if ok.any() else float("nan")
    return DataRegions(where, counts, int(data.sum()), int((~data).sum()), _mean(degrees[data]),
                       _mean(degrees[~data]), int(n_comp), largest, int(np.count_nonzero(where < 0)), purity)
