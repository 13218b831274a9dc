"""What every study shares (private): checking an enumeration, its sparse adjacency."""

from __future__ import annotations

import numpy as np

from polylens._validation import invalid
from polylens.geometry.enumeration import EnumerationResult


def check_result(result, func: str, name: str = "result", *, complete: bool = False) -> EnumerationResult:
    """An :class:`EnumerationResult` (complete when ``complete``)."""
    if not isinstance(result, EnumerationResult):
        raise invalid(func, name, "an EnumerationResult (from polylens.enumerate_regions)", type(result).__name__)
    if complete and not result.complete:
        raise invalid(func, name, "a complete enumeration", f"a partial one ({result.stop_reason})")
    return result


def adjacency(n: int, edges: np.ndarray):
    """Symmetric CSR adjacency (entries 1.0) of ``n`` nodes and ``edges`` of shape (m, 2).

    float64 and in canonical format, as ``scipy.sparse.csgraph`` wants it, so no search
    converts or checks a copy of it again."""
    from scipy import sparse

    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    graph = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    graph.sum_duplicates()
    graph.data[:] = 1.0
    return graph


def bfs_distances(graph, sources) -> np.ndarray:
    """Hop distances from each source, shape (n_sources, n) (``inf``: unreachable).

    One compiled breadth-first order per source (``scipy.sparse.csgraph``). Nodes leave
    the queue in order, so the positions of their parents in that order never decrease:
    each level ends where the parents' positions pass the end of the level before (one
    ``searchsorted`` per level), several times faster than ``shortest_path``. ``graph``
    must be symmetric (CSR).
    """
    sources = np.atleast_1d(np.asarray(sources, dtype=np.int64))
    out = np.full((sources.size, graph.shape[0]), np.inf)
    for i, s in enumerate(sources.tolist()):
        depth = bfs_depths(graph, s)
        reached = depth >= 0
        out[i, reached] = depth[reached]
    return out


def bfs_depths(graph, source: int) -> np.ndarray:
    """Hop distance of every node from ``source``, int64 of shape (n,) (-1: unreachable);
    one breadth-first order, levels as in :func:`bfs_distances`."""
    from scipy.sparse.csgraph import breadth_first_order

    n = graph.shape[0]
    order, pred = breadth_first_order(graph, source, directed=True, return_predecessors=True)
    position = np.empty(n, np.int64)
    position[order] = np.arange(order.size)
    parent_pos = position[pred[order[1:]]]  # non-decreasing
    ends = [1]
    while ends[-1] < order.size:
        ends.append(1 + int(parent_pos.searchsorted(ends[-1], side="left")))
    depth = np.full(n, -1, np.int64)
    depth[order] = np.repeat(np.arange(len(ends)), np.diff(np.r_[0, ends]))
    return depth


def locate_codes(codes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of every query code among ``codes`` (rows), -1 where absent."""
    index = {c.tobytes(): i for i, c in enumerate(np.ascontiguousarray(codes))}
    q = np.ascontiguousarray(queries.astype(codes.dtype))
    return np.array([index.get(c.tobytes(), -1) for c in q], dtype=np.int64)
