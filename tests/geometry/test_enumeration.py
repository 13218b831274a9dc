"""Enumeration: budgets, checkpoints and resumption, the region graph, unbounded regions.

Unboundedness is checked against an independent recession-cone test (scipy linprog);
areas of polyhedral domains against the shoelace formula.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from _hooks import while_expanding
from _nets import make_mlp
from _oracles import polytope_volume, recession_cone_nonzero

from polylens import (
    Box,
    EnumerationResult,
    InvalidParameterError,
    Polyhedron,
    PolylensError,
    PWLNet,
    enumerate_regions,
    region_graph,
    write_graphml,
)

torch.set_num_threads(1)

BOX = Box(-2, 2)


def code_set(res: EnumerationResult) -> set[bytes]:
    return {c.tobytes() for c in res.codes}


def edge_set(res: EnumerationResult) -> set[frozenset]:
    return {frozenset((res.codes[a].tobytes(), res.codes[b].tobytes())) for a, b in res.edges}


def edge_units_by_codes(res: EnumerationResult) -> dict:
    return {frozenset((res.codes[a].tobytes(), res.codes[b].tobytes())): tuple(sorted(u))
            for (a, b), u in zip(res.edges.tolist(), res.edge_units)}


@pytest.fixture(scope="module")
def full():
    """The complete enumeration of the conftest's ``net2d`` in BOX, shared read-only."""
    net = PWLNet.from_torch(make_mlp(2, [8, 8], out=2, seed=3))
    return enumerate_regions(net, BOX, progress=False)


# ----------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("budget", [0, 1, 10])
def test_max_regions_stops_cleanly_with_a_frontier(net2d, full, budget):
    res = enumerate_regions(net2d, BOX, progress=False, max_regions=budget)
    assert not res.complete
    assert res.stop_reason == "max_regions"
    assert res.n_regions == budget
    assert res.frontier.shape[0] > 0 and res.frontier.shape[1] == net2d.n_units
    # what was found is part of the full answer, frontier included
    assert code_set(res) <= code_set(full)
    assert {c.tobytes() for c in res.frontier} <= code_set(full)
    assert not (code_set(res) & {c.tobytes() for c in res.frontier})
    assert edge_set(res) <= edge_set(full)
    assert res.summary()["complete"] is False and res.summary()["frontier"] == res.frontier.shape[0]


def test_max_regions_at_least_the_total_completes(net2d, full):
    res = enumerate_regions(net2d, BOX, progress=False, max_regions=full.n_regions)
    assert res.complete and res.stop_reason == "complete"
    assert res.frontier.shape == (0, net2d.n_units)
    assert code_set(res) == code_set(full)


@pytest.mark.parametrize("bad", [-1, 2.5, "10"])
def test_bad_max_regions_raises_value_error(net2d, bad):
    with pytest.raises(ValueError, match="`max_regions`"):
        enumerate_regions(net2d, BOX, progress=False, max_regions=bad)


@pytest.mark.parametrize("kwargs, name", [
    ({"method": "simplex"}, "method"),
    ({"solver": "gurobi-ish"}, "solver"),
    ({"progress": "yes"}, "progress"),
    ({"checkpoint_every": -1.0}, "checkpoint_every"),
    ({"checkpoint_every": float("nan")}, "checkpoint_every"),
    ({"max_regions": True}, "max_regions"),
    ({"domain": "box"}, "domain"),
    ({"domain": (1, -1)}, "domain"),
])
def test_bad_arguments_raise_an_error_naming_enumerate_regions_and_the_parameter(net2d, kwargs, name):
    kwargs = {"domain": BOX, "progress": False, **kwargs}
    with pytest.raises(InvalidParameterError, match=rf"^enumerate_regions: `{name}`"):
        enumerate_regions(net2d, **kwargs)


def test_a_net_that_is_not_a_pwlnet_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match=r"^enumerate_regions: `net` must be a PWLNet"):
        enumerate_regions(torch.nn.Linear(2, 2), BOX, progress=False)


def test_a_lo_hi_pair_is_the_box(net2d, full):
    res = enumerate_regions(net2d, (-2, 2), progress=False)
    np.testing.assert_array_equal(res.codes, full.codes)
    np.testing.assert_array_equal(res.edges, full.edges)


# ----------------------------------------------------------------------------- checkpoints


class _CountExpansions:
    """Counts the regions expanded (a wave at a time or one by one)."""

    def __init__(self, monkeypatch):
        import polylens.geometry.enumeration as enumeration

        self.calls = 0
        original = enumeration.expand_batch_packed

        def expand_batch_packed(spec, batch, stop=None):
            out = original(spec, batch, stop)
            self.calls += out.index.size
            return out

        monkeypatch.setattr(enumeration, "expand_batch_packed", expand_batch_packed)

    def take(self) -> int:
        calls, self.calls = self.calls, 0
        return calls


@pytest.mark.parametrize("method", ["hull", "lp"])
def test_resumed_run_equals_an_uninterrupted_run(net2d, tmp_path, monkeypatch, method):
    counter = _CountExpansions(monkeypatch)
    full = enumerate_regions(net2d, BOX, progress=False, method=method)
    full_work = counter.take()
    path = tmp_path / "c.npz"
    part = enumerate_regions(net2d, BOX, progress=False, max_regions=10, checkpoint=path, method=method)
    part_work = counter.take()
    assert path.exists()
    assert not part.complete and part.frontier.shape[0] > 0
    resumed = enumerate_regions(net2d, BOX, progress=False, checkpoint=path, method=method)
    resumed_work = counter.take()
    assert resumed.complete and resumed.stop_reason == "complete"
    assert resumed.n_regions == full.n_regions
    assert code_set(resumed) == code_set(full)
    assert edge_set(resumed) == edge_set(full)
    assert edge_units_by_codes(resumed) == edge_units_by_codes(full)
    assert resumed.degenerate == full.degenerate == []
    # the regions finished before the stop were not expanded again: the two parts together
    # did exactly the work of the uninterrupted run
    assert 0 < resumed_work < full_work
    assert part_work + resumed_work == full_work
    assert resumed.lp_solves == full.lp_solves  # lp_solves accumulate over resumed runs
    if method == "lp":  # Clarkson LPs: every expanded region costs some
        assert 0 < resumed.lp_solves - part.lp_solves < full.lp_solves
    # per-region data survive the round trip
    order = {c.tobytes(): i for i, c in enumerate(full.codes)}
    idx = np.array([order[c.tobytes()] for c in resumed.codes])
    np.testing.assert_allclose(resumed.points, full.points[idx])
    np.testing.assert_allclose(resumed.radii, full.radii[idx])
    np.testing.assert_array_equal(resumed.n_facets, full.n_facets[idx])


def test_resuming_in_several_budgeted_steps_equals_an_uninterrupted_run(net2d, full, tmp_path):
    path = tmp_path / "steps.npz"
    sizes = []
    for budget in (3, 11, 25):
        res = enumerate_regions(net2d, BOX, progress=False, max_regions=budget, checkpoint=path)
        sizes.append(res.n_regions)
        assert res.stop_reason == "max_regions"
    assert sizes == [3, 11, 25]
    res = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert res.complete
    assert code_set(res) == code_set(full) and edge_set(res) == edge_set(full)


def test_resuming_a_complete_checkpoint_does_no_new_work(net2d, full, tmp_path):
    path = tmp_path / "done.npz"
    first = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    again = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert again.complete
    assert again.lp_solves == first.lp_solves
    assert code_set(again) == code_set(full) and edge_set(again) == edge_set(full)


def test_checkpoint_from_another_net_raises_polylens_error(net2d, tmp_path):
    path = tmp_path / "c.npz"
    enumerate_regions(net2d, BOX, progress=False, max_regions=5, checkpoint=path)
    other = PWLNet.from_torch(make_mlp(2, [8, 8], out=2, seed=4))
    with pytest.raises(PolylensError, match="checkpoint"):
        enumerate_regions(other, BOX, progress=False, checkpoint=path)


def test_checkpoint_from_another_domain_raises_polylens_error(net2d, tmp_path):
    path = tmp_path / "c.npz"
    enumerate_regions(net2d, BOX, progress=False, max_regions=5, checkpoint=path)
    with pytest.raises(PolylensError, match="checkpoint"):
        enumerate_regions(net2d, Box(-3, 3), progress=False, checkpoint=path)


def test_checkpoint_over_rd_resumes_with_unbounded_regions(tmp_path):
    net = PWLNet.from_torch(make_mlp(2, [6, 6], out=1, seed=3))
    full = enumerate_regions(net, None, progress=False)
    path = tmp_path / "r2.npz"
    enumerate_regions(net, None, progress=False, max_regions=7, checkpoint=path)
    res = enumerate_regions(net, None, progress=False, checkpoint=path)
    assert code_set(res) == code_set(full) and edge_set(res) == edge_set(full)
    order = {c.tobytes(): i for i, c in enumerate(full.codes)}
    idx = np.array([order[c.tobytes()] for c in res.codes])
    np.testing.assert_array_equal(res.bounded, full.bounded[idx])


# ----------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("seed_point", [[1.9, -1.9], [-0.3, 0.7], [0.0, 0.0]])
def test_enumeration_does_not_depend_on_the_seed_point(net2d, full, seed_point):
    res = enumerate_regions(net2d, BOX, progress=False, seed=seed_point)
    assert code_set(res) == code_set(full) and edge_set(res) == edge_set(full)


def test_seed_outside_the_domain_or_of_wrong_shape_raises(net2d):
    with pytest.raises(ValueError, match="`seed`"):
        enumerate_regions(net2d, BOX, progress=False, seed=[3.0, 0.0])
    with pytest.raises(ValueError, match="`seed`"):
        enumerate_regions(net2d, BOX, progress=False, seed=[0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- graph


def test_region_graph_has_the_documented_attributes(net2d, full):
    g = region_graph(full)
    assert isinstance(g, nx.Graph)
    assert g.number_of_nodes() == full.n_regions
    assert g.number_of_edges() == full.edges.shape[0]
    assert g.graph == {"complete": True, "input_dim": 2, "n_units": net2d.n_units}
    outputs = net2d.forward(full.points)
    for i, attrs in g.nodes(data=True):
        assert set(attrs) == {"code", "point", "radius", "bounded", "n_facets", "output", "predicted_class"}
        np.testing.assert_array_equal(attrs["code"], full.codes[i])
        np.testing.assert_array_equal(attrs["point"], full.points[i])
        assert attrs["radius"] == full.radii[i]
        assert attrs["bounded"] is True
        assert attrs["n_facets"] == full.n_facets[i] >= g.degree[i]
        np.testing.assert_allclose(attrs["output"], outputs[i], rtol=1e-12)
        assert attrs["predicted_class"] == int(np.argmax(outputs[i]))
    for a, b, attrs in g.edges(data=True):
        assert set(attrs) == {"units", "label"}
        assert tuple(sorted(attrs["units"])) == tuple(np.flatnonzero(full.codes[a] != full.codes[b]).tolist())
        assert all(net2d.unit_label(u) in attrs["label"] for u in attrs["units"])


def test_region_graph_single_output_class_is_sign_of_logit():
    net = PWLNet.from_torch(make_mlp(2, [5, 5], out=1, seed=2))
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    g = region_graph(res)
    logits = net.forward(res.points)[:, 0]
    assert [g.nodes[i]["predicted_class"] for i in g] == (logits > 0).astype(int).tolist()


def test_write_graphml_round_trips_through_networkx(full, tmp_path):
    g = region_graph(full)
    path = tmp_path / "regions.graphml"
    write_graphml(g, path)
    h = nx.read_graphml(path)
    assert h.number_of_nodes() == g.number_of_nodes()
    assert h.number_of_edges() == g.number_of_edges()
    assert {frozenset((int(a), int(b))) for a, b in h.edges} == {frozenset(e) for e in g.edges}
    for node, attrs in h.nodes(data=True):
        i = int(node)
        assert attrs["code"] == "".join(str(v) for v in full.codes[i])
        np.testing.assert_array_equal(np.array(attrs["point"].split(","), dtype=float), full.points[i])
        assert attrs["radius"] == full.radii[i]
        assert attrs["n_facets"] == full.n_facets[i]
    for a, b, attrs in h.edges(data=True):
        assert tuple(int(u) for u in str(attrs["units"]).split(",")) == g.edges[int(a), int(b)]["units"]
    assert h.graph["complete"] is True


def test_region_graph_rejects_other_inputs():
    with pytest.raises(TypeError, match="EnumerationResult"):
        region_graph({"codes": []})


# ----------------------------------------------------------------------------- unbounded regions


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hull", "lp"])
@pytest.mark.parametrize("d, hidden, seed", [(2, [6, 6], 3), (2, [5, 5, 5], 9), (3, [5, 4], 1)])
def test_unbounded_flags_over_rd_agree_with_recession_cone_oracle(d, hidden, seed, method):
    net = PWLNet.from_torch(make_mlp(d, hidden, seed=seed))
    res = enumerate_regions(net, None, progress=False, method=method)
    assert res.complete and res.degenerate == []
    expected = np.array([recession_cone_nonzero(res.region(i).A) for i in range(res.n_regions)])
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(~res.bounded, expected)
    assert res.n_unbounded == int(expected.sum())
    # an unbounded region's radius is capped; a bounded region's is its true inradius
    assert np.all(res.radii[~res.bounded] > 0)


def test_unbounded_polyhedron_domain_flags_agree_with_oracle():
    # the quadrant x >= -1, y >= -1
    domain = Polyhedron([[-1.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
    net = PWLNet.from_torch(make_mlp(2, [6, 6], seed=2))
    res = enumerate_regions(net, domain, progress=False)
    assert res.complete and res.degenerate == []
    expected = np.array([recession_cone_nonzero(res.region(i).A) for i in range(res.n_regions)])
    np.testing.assert_array_equal(~res.bounded, expected)
    assert expected.any() and not expected.all()


def test_bounded_polyhedron_domain_is_tiled():
    # triangle x >= -1, y >= -1, x + y <= 1, with vertices (-1, -1), (2, -1), (-1, 2)
    (x0, y0), (x1, y1), (x2, y2) = (-1.0, -1.0), (2.0, -1.0), (-1.0, 2.0)
    area = 0.5 * abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))  # shoelace: 4.5
    domain = Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [1.0, 1.0, 1.0])
    net = PWLNet.from_torch(make_mlp(2, [6, 6], seed=2))
    for method in ("hull", "lp"):
        res = enumerate_regions(net, domain, progress=False, method=method)
        assert res.complete and res.bounded.all()
        vols = [polytope_volume(res.region(i).A, res.region(i).b, res.points[i]) for i in range(res.n_regions)]
        assert sum(vols) == pytest.approx(area, rel=1e-9)


def test_summary_is_json_ready(full):
    import json

    s = full.summary()
    assert json.loads(json.dumps(s)) == s
    assert s["regions"] == full.n_regions and s["edges"] == full.edges.shape[0]
    assert s["unbounded"] == 0 and s["complete"] is True


# ----------------------------------------------------------------------------- interruption


def _interrupt_on_call(monkeypatch, n: int):
    """Simulate Ctrl-C while the n-th region is expanded (see ``_hooks.while_expanding``)."""

    def interrupt():
        raise KeyboardInterrupt

    while_expanding(n, interrupt, monkeypatch.setattr)


def test_interrupted_run_stops_cleanly_and_resumes_to_the_full_answer(net2d, full, tmp_path, monkeypatch):
    path = tmp_path / "int.npz"
    with monkeypatch.context() as patch:
        _interrupt_on_call(patch, 30)
        part = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert part.stop_reason == "interrupted" and not part.complete
    assert 0 < part.n_regions < full.n_regions and part.frontier.shape[0] > 0
    assert code_set(part) <= code_set(full) and edge_set(part) <= edge_set(full)
    assert path.exists()
    res = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert res.complete
    assert code_set(res) == code_set(full) and edge_set(res) == edge_set(full)


def test_resume_after_interrupt_inside_a_region_reports_no_spurious_degeneracy(net2d, tmp_path, monkeypatch):
    path = tmp_path / "int.npz"
    with monkeypatch.context() as patch:
        _interrupt_on_call(patch, 30)
        enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    res = enumerate_regions(net2d, BOX, progress=False, checkpoint=path)
    assert res.degenerate == []


# ----------------------------------------------------------------------------- LP back ends


@pytest.mark.parametrize("solver", ["scipy", "cvxpy"])
@pytest.mark.parametrize("domain", [Box(-2, 2), None], ids=["box", "R2"])
def test_enumeration_does_not_depend_on_the_lp_back_end(solver, domain):
    from polylens.solvers import available_backends

    if solver not in available_backends():
        pytest.skip(f"LP back end {solver!r} not installed")
    net = PWLNet.from_torch(make_mlp(2, [5, 5], out=1, seed=6))
    ref = enumerate_regions(net, domain, progress=False)
    res = enumerate_regions(net, domain, progress=False, solver=solver, method="hull")
    assert code_set(res) == code_set(ref) and edge_set(res) == edge_set(ref)
    order = {c.tobytes(): i for i, c in enumerate(ref.codes)}
    idx = np.array([order[c.tobytes()] for c in res.codes])
    np.testing.assert_array_equal(res.bounded, ref.bounded[idx])


def test_the_result_repr_is_one_short_line(full):
    text = repr(full)
    assert "\n" not in text and len(text) < 1000
    assert text.startswith("EnumerationResult(") and "complete=True" in text
