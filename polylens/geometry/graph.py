"""The region graph: a ``networkx.Graph`` of regions joined across shared facets."""

from __future__ import annotations

import os

import networkx as nx
import numpy as np

from polylens._validation import check_output_path, invalid
from polylens.geometry.enumeration import EnumerationResult

__all__ = ["region_graph", "write_graphml"]


def region_graph(result: EnumerationResult) -> nx.Graph:
    """Graph of the regions of an enumeration, one edge per shared facet.

    Parameters
    ----------
    result : EnumerationResult
        From :func:`polylens.enumerate_regions`.

    Returns
    -------
    networkx.Graph
        Nodes ``0..n_regions-1`` with attributes ``code`` (int8 array), ``point``
        (interior point, float array of shape (k,)), ``radius``, ``bounded``,
        ``n_facets``, ``output`` (float array) and ``predicted_class`` (int: arg-max of
        the outputs, or ``output > 0`` for a single output). Edges carry ``units`` (tuple
        of the unit indices crossed) and ``label`` (readable). Graph attributes:
        ``complete``, ``input_dim``, ``n_units``.

    Raises
    ------
    InvalidParameterError
        If ``result`` is not an EnumerationResult.

    See Also
    --------
    polylens.sampling.hamming : Hamming distances between sampled codes, the sampled
        view of the same geometry.
    """
    if not isinstance(result, EnumerationResult):
        raise invalid("region_graph", "result", "an EnumerationResult (see enumerate_regions)",
                      type(result).__name__)
    net = result.net
    graph = nx.Graph(complete=result.complete, input_dim=result.space.dim, n_units=net.n_units)
    outputs = result.outputs()
    classes = result.predicted_class() if result.n_regions else np.zeros(0, int)
    for i in range(result.n_regions):
        graph.add_node(
            i,
            code=result.codes[i],
            point=result.points[i],
            radius=float(result.radii[i]),
            bounded=bool(result.bounded[i]),
            n_facets=int(result.n_facets[i]),
            output=outputs[i],
            predicted_class=int(classes[i]),
        )
    for (a, b), units in zip(result.edges.tolist(), result.edge_units):
        graph.add_edge(a, b, units=units, label=" = ".join(net.unit_label(u) for u in units))
    return graph


def write_graphml(graph: nx.Graph, path: str | os.PathLike) -> None:
    """Write a region graph to GraphML.

    Array attributes become strings: codes as digit strings (``"0110..."``), points and
    outputs as comma-separated floats (``repr`` precision), unit tuples as
    comma-separated integers.

    Raises
    ------
    InvalidParameterError
        If ``graph`` is not a networkx Graph, or ``path`` cannot be written (a directory,
        a missing or read-only directory).
    """
    if not isinstance(graph, nx.Graph):
        raise invalid("write_graphml", "graph", "a networkx.Graph (see region_graph)", type(graph).__name__)
    path = check_output_path(path, func="write_graphml", name="path", overwrite=True)
    out = nx.Graph(**{k: v for k, v in graph.graph.items()})
    for node, attrs in graph.nodes(data=True):
        out.add_node(node, **{k: _scalar(k, v) for k, v in attrs.items()})
    for a, b, attrs in graph.edges(data=True):
        out.add_edge(a, b, **{k: _scalar(k, v) for k, v in attrs.items()})
    nx.write_graphml(out, os.fspath(path))


def _scalar(key: str, value):
    if key == "code":
        return "".join(str(int(v)) for v in value)
    if isinstance(value, np.ndarray):
        return ",".join(repr(float(v)) for v in value)
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value
