"""Laplacian spectra against networkx; training measurements against direct counts."""

from __future__ import annotations

import copy

import _shapes as S
import networkx as nx
import numpy as np
import pytest

from polylens import Box, PWLNet, enumerate_regions, region_graph, zoo
from polylens.errors import InvalidParameterError
from polylens.studies import spectra
from polylens.studies.training import training_measurements


@pytest.fixture(scope="module")
def moons_result():
    net = PWLNet.from_torch(zoo.mlp([2, 8, 8, 1], seed=0))
    return enumerate_regions(net, Box(-2, 2), progress=False)


def test_spectrum_matches_networkx(moons_result):
    spec = spectra.laplacian_spectrum(moons_result)
    oracle = np.sort(nx.laplacian_spectrum(region_graph(moons_result)))
    assert spec.full and np.allclose(spec.eigenvalues, oracle, atol=1e-9)
    assert np.isclose(spec.algebraic_connectivity, nx.algebraic_connectivity(region_graph(moons_result),
                                                                             method="tracemin_lu"), atol=1e-6)
    spec.check()


def test_sparse_path_matches_dense(moons_result, monkeypatch):
    dense = spectra.laplacian_spectrum(moons_result)
    monkeypatch.setattr(spectra, "DENSE_LIMIT", 10)
    sparse = spectra.laplacian_spectrum(moons_result, k=6)
    assert not sparse.full and np.allclose(sparse.eigenvalues, dense.eigenvalues[:6], atol=1e-7)


def test_fiedler_cut_counts(moons_result):
    classes = (moons_result.points[:, 0] > 0).astype(int)  # a known "decision boundary": x = 0
    spec = spectra.laplacian_spectrum(moons_result, classes=classes)
    e = moons_result.edges
    cut = spec.side[e[:, 0]] != spec.side[e[:, 1]]
    decision = classes[e[:, 0]] != classes[e[:, 1]]
    assert spec.cut_edges == cut.sum() and spec.decision_edges == decision.sum()
    assert np.isclose(spec.cut_decision_fraction, (cut & decision).sum() / cut.sum())


def test_training_table_counts_regions():
    X, y = zoo.moons_data(120, seed=0)
    model = zoo.mlp([2, 5, 5, 1], seed=0)
    snaps = [copy.deepcopy(model.state_dict())]
    zoo.train_classifier(model, X, y, epochs=30, batch_size=120, lr=0.05, seed=0)
    snaps.append(copy.deepcopy(model.state_dict()))
    table = training_measurements(snaps, (-2, 2.5), model=zoo.mlp([2, 5, 5, 1]), epochs=[0, 30],
                                  data=X.numpy(), labels=y.numpy(), max_points=5, n_samples=16)
    assert table.values.shape == (2, len(table.columns))
    for row, snap in zip(table.values, snaps):
        m = zoo.mlp([2, 5, 5, 1])
        m.load_state_dict(snap)
        direct = enumerate_regions(PWLNet.from_torch(m), Box(-2, 2.5), progress=False)
        assert row[table.columns.index("regions")] == direct.n_regions
        assert np.isclose(row[table.columns.index("mean_radius")], direct.radii.mean())
    assert table.to_markdown().count("\n") == 4
    with pytest.raises(InvalidParameterError, match="`model`"):
        training_measurements(snaps, (-1, 1))
    with pytest.raises(InvalidParameterError, match="`domain`"):
        training_measurements(snaps, None, model=m)


def test_spectrum_refuses_tiny_graphs():
    res = enumerate_regions(PWLNet.from_torch(S.arrangement(1, 2)), Box(-1, 1), progress=False)
    with pytest.raises(InvalidParameterError, match="laplacian_spectrum"):
        spectra.laplacian_spectrum(res)
