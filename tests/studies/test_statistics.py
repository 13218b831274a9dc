"""Graph statistics against networkx and the formulas of hyperplane arrangements."""

from __future__ import annotations

from math import comb

import _shapes as S
import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from polylens import Box, PWLNet, enumerate_regions, region_graph
from polylens.errors import InvalidParameterError
from polylens.studies.statistics import data_regions, eccentricities, graph_statistics


@pytest.mark.parametrize("graph", [nx.path_graph(7), nx.cycle_graph(9), nx.grid_2d_graph(6, 5),
                                   nx.balanced_tree(2, 4), nx.connected_watts_strogatz_graph(80, 4, 0.2, seed=3),
                                   nx.random_labeled_tree(60, seed=1)], ids=str)
def test_eccentricities_match_networkx(graph):
    graph = nx.convert_node_labels_to_integers(graph)
    ecc = eccentricities(graph)
    oracle = nx.eccentricity(graph)
    assert ecc.values.tolist() == [oracle[v] for v in graph.nodes]
    assert ecc.diameter == nx.diameter(graph) and ecc.radius == nx.radius(graph)
    assert eccentricities(graph, diameter_only=True).diameter == nx.diameter(graph)
    ecc.check()


def test_budget_keeps_bounds():
    graph = nx.grid_2d_graph(12, 12)
    ecc = eccentricities(graph, max_searches=1)
    oracle = np.array(list(nx.eccentricity(graph).values()))
    assert np.all(ecc.lower <= oracle) and np.all(oracle <= ecc.upper) and not ecc.exact


def test_disconnected_graph_is_refused():
    with pytest.raises(InvalidParameterError, match="connected"):
        eccentricities(sparse.csr_matrix(np.zeros((3, 3))))


@pytest.mark.parametrize("n, d", [(6, 2), (5, 3)])
def test_arrangement_graph_formulas(n, d):
    # n hyperplanes in general position in R^d: sum_{i<=d} C(n, i) regions, and each
    # hyperplane is cut by the others into sum_{i<=d-1} C(n-1, i) facets (one edge each).
    res = enumerate_regions(PWLNet.from_torch(S.arrangement(n, d, seed=4)), None, progress=False)
    stats = graph_statistics(res, all_eccentricities=True)
    assert stats.n_regions == sum(comb(n, i) for i in range(d + 1))
    assert stats.n_edges == n * sum(comb(n - 1, i) for i in range(d))
    assert stats.n_bounded == comb(n - 1, d)
    assert stats.diameter == n  # opposite unbounded regions are separated by every hyperplane
    graph = region_graph(res)
    assert stats.degrees.tolist() == [graph.degree(v) for v in range(stats.n_regions)]
    assert stats.eccentricities.values.tolist() == [nx.eccentricity(graph)[v] for v in range(stats.n_regions)]
    assert stats.mean_degree <= stats.mean_degree_bound
    stats.check()


def test_large_graph_statistics_are_fast():
    # a 120 x 120 grid: the diameter from a handful of searches (the benchmark runs 100,000 regions)
    graph = sparse.csr_matrix(nx.to_scipy_sparse_array(nx.grid_2d_graph(120, 120)))
    ecc = eccentricities(graph, diameter_only=True)
    assert ecc.diameter == 238 and ecc.searches < 20


def test_data_regions():
    import torch

    lin = torch.nn.Linear(2, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2, dtype=torch.float64))
        lin.bias.zero_()
    net = PWLNet.from_torch(torch.nn.Sequential(lin, torch.nn.ReLU()))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    X = np.array([[0.5, 0.5], [0.4, 0.6], [-0.5, 0.5], [-0.5, -0.5], [0.0, 0.3]])
    dr = data_regions(res, X, labels=[1, 1, 0, 0, 1])
    assert dr.n_data_regions == 3 and dr.n_empty_regions == 1
    assert dr.data_components == 1  # (+,+) - (-,+) - (-,-) are adjacent in turn
    assert dr.n_unlocated == 0  # (0, 0.3) lies on a boundary: the boundary rule picks a region
    dr.check()
    with pytest.raises(InvalidParameterError, match="data_regions: `X`"):
        data_regions(res, np.zeros((2, 3)))
