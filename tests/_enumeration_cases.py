"""Enumeration questions whose answers are saved in ``reference/enumerations.npz`` (see
``test_enumeration_reference.py``), and the flattening of a result into arrays."""

from __future__ import annotations

import numpy as np
from _nets import linear_relu_net, make_mlp

from polylens import Box, Polyhedron, PWLNet, enumerate_regions


def _slice_question():
    rng = np.random.default_rng(5)
    return {"origin": rng.standard_normal(5), "basis": np.linalg.qr(rng.standard_normal((5, 2)))[0]}


#: name -> (torch model builder, domain builder, keyword arguments of enumerate_regions)
CASES = {
    "mlp_2_8_8_plane": (lambda: make_mlp(2, [8, 8], seed=0), lambda: None, {}),
    "mlp_2_8_8_box": (lambda: make_mlp(2, [8, 8], seed=1), lambda: Box(-np.ones(2), np.ones(2)), {}),
    "mlp_3_8_6_box": (lambda: make_mlp(3, [8, 6], seed=2), lambda: Box(-np.ones(3), np.ones(3)), {}),
    "leaky_2_6_6_plane": (lambda: make_mlp(2, [6, 6], seed=3, leaky=0.1), lambda: None, {}),
    "duplicates_box": (
        lambda: linear_relu_net([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.3, 1.0], [-0.6, -2.0], [1.0, -1.0]],
                                [0.1, 0.1, 0.5, 0.0, 0.0, 0.2]),
        lambda: Box(-np.ones(2), np.ones(2)), {}),
    "mlp_4_6_box_lp": (lambda: make_mlp(4, [6], seed=4), lambda: Box(-np.ones(4), np.ones(4)), {"method": "lp"}),
    "mlp_3_6_space_lp": (lambda: make_mlp(3, [6], seed=8), lambda: None, {"method": "lp"}),
    "slice_5_8_8": (lambda: make_mlp(5, [8, 8], seed=5), lambda: Box(-np.ones(2), np.ones(2)), _slice_question()),
    "triangle_2_8": (lambda: make_mlp(2, [8], seed=6),
                     lambda: Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [1.0, 1.0, 1.0]), {}),
    "budget_2_10_10": (lambda: make_mlp(2, [10, 10], seed=7), lambda: None, {"max_regions": 20}),
}


def run_case(name: str):
    model, domain, kwargs = CASES[name]
    return enumerate_regions(PWLNet.from_torch(model()), domain(), progress=False, **kwargs)


def flatten(res) -> dict[str, np.ndarray]:
    """Every field of an EnumerationResult but ``seconds`` and ``space``, as arrays."""
    return {
        "codes": res.codes, "points": res.points, "radii": res.radii, "bounded": res.bounded,
        "n_facets": res.n_facets, "edges": res.edges,
        "edge_unit_lengths": np.array([len(u) for u in res.edge_units], dtype=np.int64),
        "edge_unit_values": np.array([v for u in res.edge_units for v in u], dtype=np.int64),
        "complete": np.array(res.complete), "stop_reason": np.array(res.stop_reason),
        "frontier": res.frontier, "lp_solves": np.array(res.lp_solves),
        "degenerate": np.array(res.degenerate, dtype=str),
        "vertex_counts": np.array([v.shape[0] for v in res.vertices], dtype=np.int64),
        "vertex_values": np.concatenate([np.zeros((0, res.points.shape[1])), *res.vertices]),
        "out_weight": res.out_weight, "out_bias": res.out_bias,
    }
