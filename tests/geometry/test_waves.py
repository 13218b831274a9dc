"""The batched wave route of the search gives the one-region route's answer.

Each net is enumerated twice, once with every region expanded one at a time (the
wave route switched off) and once in waves: codes, order, edges, units crossed, counts,
LPs and degenerate reports must be equal, points, radii and maps bit for bit, and the
vertices equal to round-off (Qhull's arithmetic against the gift wrap's). The wave route
must also be the one that runs: a net in general position leaves only its seed and a few
near-degenerate regions to the one-region route. In 3 to 6 dimensions the facets come
from the same Qhull on the same polar points, so the vertices are equal bit for bit too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _nets import linear_relu_net, make_mlp

import polylens.geometry.expansion as expansion
from polylens import Box, Polyhedron, PWLNet, enumerate_regions, zoo
from polylens.geometry.region import distinct_rows, in_order, unique_rows
from polylens.geometry.space import Space, chebyshev_by_vertices
from polylens.geometry.waves import expand_wave, wave_applies, wave_size
from polylens.studies.complex import class_net


def _traced(model: torch.nn.Module, shape: tuple) -> PWLNet:
    """A traced program (max pooling, residual adds, convolutions): not a dense chain."""
    return PWLNet.from_torch(model.eval(), torch.rand(2, *shape, generator=torch.Generator().manual_seed(0)))


def _plane_through_images(dim: int, seed: int) -> dict:
    """The plane through three random images: origin the first, basis the differences."""
    a, b, c = np.random.default_rng(seed).uniform(0.0, 1.0, (3, dim))
    return {"origin": a, "basis": np.stack([b - a, c - a], axis=1)}


NETS = {
    "relu_2_16_16_r2": (lambda: make_mlp(2, [16, 16], seed=0), None, {}),
    "relu_2_12_12_12_box": (lambda: make_mlp(2, [12, 12, 12], out=3, seed=1), Box(-1, 1), {}),
    "leaky_2_10_10_r2": (lambda: make_mlp(2, [10, 10], seed=2, leaky=0.2), None, {}),
    "relu_2_24_wide_box": (lambda: make_mlp(2, [24], seed=3), Box(-5, 5), {}),
    "relu_2_40_40_many_rows": (lambda: make_mlp(2, [40, 40], seed=14), Box(-1, 1), {}),  # rows left out first
    "relu_3_40_30_many_rows": (lambda: make_mlp(3, [40, 30], seed=15), Box(-0.25, 0.25), {}),
    "triangle_2_8_8": (lambda: make_mlp(2, [8, 8], seed=4),
                       Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [1.0, 1.0, 1.0]), {}),
    "slice_6_10_10": (lambda: make_mlp(6, [10, 10], seed=5), Box(-2, 2),
                      {"origin": np.linspace(-0.5, 0.5, 6), "basis": np.linalg.qr(np.arange(12.0).reshape(6, 2) % 5 + 1)[0]}),
    "slice_32_8": (lambda: make_mlp(32, [8], seed=16), Box(-0.5, 0.5),  # a basis of C order: products by layout
                   {"origin": np.random.default_rng(0).uniform(0, 1, 32),
                    "basis": np.random.default_rng(1).standard_normal((32, 2))}),
    "tiny_scale": (lambda: make_mlp(2, [6, 5], seed=6), Box(-1e-9, 1e-9), {"basis": np.eye(2) * 1e9}),
    "huge_scale": (lambda: make_mlp(2, [6, 5], seed=7), None, {"basis": np.eye(2) * 1e-10}),
    "bias_free": (lambda: _bias_free(8), Box(-1, 1), {}),
    "relu_3_10_8_box": (lambda: make_mlp(3, [10, 8], seed=8), Box(-1, 1), {}),
    "relu_3_8_6_r3": (lambda: make_mlp(3, [8, 6], seed=9), None, {}),
    "leaky_4_8_6_box": (lambda: make_mlp(4, [8, 6], seed=10, leaky=0.1), Box(-1, 1), {}),
    "class_units_2_8_8_r2": (lambda: class_net(PWLNet.from_torch(make_mlp(2, [8, 8], seed=12))), None, {}),
    "class_units_3_6_6_3_box": (lambda: class_net(PWLNet.from_torch(make_mlp(3, [6, 6], out=3, seed=13))), Box(-1, 1), {}),
    "digits_cnn_slice": (lambda: _traced(zoo.digits_cnn(seed=0, channels=(4, 8)), (1, 8, 8)), Box(0.2, 0.5),
                         _plane_through_images(64, 0)),
    "digits_resnet_slice": (lambda: _traced(zoo.digits_resnet(seed=0, channels=4), (1, 8, 8)), Box(0.2, 0.5),
                            _plane_through_images(64, 1)),
    "conv1d_slice": (lambda: _traced(zoo.digits_conv1d(seed=0), (1, 64)), Box(0.0, 0.6), _plane_through_images(64, 2)),
    "duplicates": (lambda: linear_relu_net([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.3, 1.0], [-0.6, -2.0], [1.0, -1.0]],
                                           [0.1, 0.1, 0.5, 0.0, 0.0, 0.2]), Box(-1, 1), {}),
}


def _bias_free(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 5, bias=False), torch.nn.ReLU(), torch.nn.Linear(5, 4, bias=False),
                               torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()


def _enumerate(name: str, waves: bool, monkeypatch):
    model, domain, kwargs = NETS[name]
    with monkeypatch.context() as patch:
        if not waves:
            patch.setattr(expansion, "wave_applies", lambda space, method: False)
        net = model()
        return enumerate_regions(net if isinstance(net, PWLNet) else PWLNet.from_torch(net), domain, progress=False,
                                 **kwargs)


@pytest.mark.parametrize("name", sorted(NETS))
def test_waves_give_the_one_region_answer(name, monkeypatch):
    one = _enumerate(name, False, monkeypatch)
    wave = _enumerate(name, True, monkeypatch)
    for field in ("codes", "bounded", "n_facets", "edges", "frontier", "points", "radii", "out_weight", "out_bias"):
        assert np.array_equal(getattr(one, field), getattr(wave, field)), field
    assert one.edge_units == wave.edge_units
    assert one.lp_solves == wave.lp_solves and one.degenerate == wave.degenerate
    for a, b in zip(one.vertices, wave.vertices, strict=True):
        if one.space.dim > 2:  # the same Qhull on the same polar points
            assert np.array_equal(a, b)
            continue
        scale = max(1.0, float(np.abs(a).max(initial=0.0)))
        assert a.shape == b.shape and np.allclose(a, b, rtol=0.0, atol=1e-12 * scale)
    wave.check()


@pytest.mark.parametrize("case", ["mlp_2", "mlp_3", "mlp_2_r2", "digits_cnn_slice", "digits_resnet_slice"])
def test_the_wave_route_expands_almost_every_region(case, monkeypatch):
    one_by_one = {"n": 0}
    original = expansion._expand

    def counted(*args):
        one_by_one["n"] += 1
        return original(*args)

    monkeypatch.setattr(expansion, "_expand", counted)
    if case == "mlp_2_r2":  # over R^2, unbounded strips are near-degenerate for the gift wrap: Qhull decides them
        res = enumerate_regions(PWLNet.from_torch(make_mlp(2, [12, 12], seed=0)), None, progress=False)
    elif case.startswith("mlp"):
        d = int(case[-1])
        res = enumerate_regions(PWLNet.from_torch(make_mlp(d, [16, 16] if d == 2 else [10, 8], seed=11)), Box(-2, 2),
                                progress=False)
    else:  # every region of these slices has tied units, a third coincident rows
        model, domain, kwargs = NETS[case]
        res = enumerate_regions(model(), domain, progress=False, **kwargs)
    assert res.n_regions > 200
    assert one_by_one["n"] <= 0.02 * res.n_regions


@pytest.mark.parametrize("name", ["relu_2_16_16_r2", "relu_2_12_12_12_box", "relu_3_10_8_box", "slice_6_10_10"])
def test_a_point_inside_is_expanded_by_the_wave_as_by_the_one_region_route(name, monkeypatch):
    # a search's seed: a point inside and no direction (region_path starts so)
    model, domain, kwargs = NETS[name]
    net = PWLNet.from_torch(model())
    space = Space(net, domain, x0=kwargs.get("origin"), U=kwargs.get("basis"))
    spec = expansion.SearchSpec(net, domain, kwargs.get("origin"), kwargs.get("basis"), "highs", "auto", space=space)
    t = np.random.default_rng(0).uniform(-1, 1, (6, space.dim))
    codes = net.codes(space.to_input(t))
    hints = np.stack([t, np.full(t.shape, np.nan)], axis=1)
    served = expand_wave(space, codes, hints)
    assert served.index.tolist() == list(range(6))  # every region served by the wave
    wave = expansion.expand_batch(spec, (range(6), codes, hints))
    with monkeypatch.context() as patch:
        patch.setattr(expansion, "wave_applies", lambda space, method: False)
        alone = expansion.expand_batch(spec, (range(6), codes, hints))
    for w, a in zip(wave, alone, strict=True):
        assert np.array_equal(w.point, a.point) and w.radius == a.radius and w.lp_solves == a.lp_solves
        assert [(c.tobytes(), u) for c, _, u in w.crossings] == [(c.tobytes(), u) for c, _, u in a.crossings]
        for (_, (wp, wn), _), (_, (ap, an), _) in zip(w.crossings, a.crossings):
            assert np.array_equal(wn, an) and np.allclose(wp, ap, rtol=0.0, atol=1e-12 * max(1.0, np.abs(ap).max()))


def test_the_wave_route_serves_dense_one_break_nets_with_the_hull_method():
    relu = PWLNet.from_torch(make_mlp(2, [4], seed=0))
    hardtanh = PWLNet.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Hardtanh(), torch.nn.Linear(4, 1)))
    six, seven = (PWLNet.from_torch(make_mlp(d, [4], seed=0)) for d in (6, 7))
    assert wave_applies(Space(relu, Box(-1, 1)), "auto") and wave_applies(Space(relu, None), "hull")
    assert wave_applies(Space(six, Box(-1, 1)), "auto")
    assert wave_applies(Space(class_net(relu), None), "auto")
    assert not wave_applies(Space(relu, Box(-1, 1)), "lp")
    assert not wave_applies(Space(hardtanh, Box(-1, 1)), "auto")
    assert not wave_applies(Space(seven, Box(-1, 1)), "auto")


def test_in_order_puts_plane_vertices_counter_clockwise_around_the_centre():
    rng = np.random.default_rng(0)
    angles = np.sort(rng.uniform(-np.pi, np.pi, 7))
    square = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 2.0 + [3.0, -1.0]
    got = in_order(rng.permutation(square), np.array([3.0, -1.0]))
    assert np.array_equal(got, square)
    cube = rng.standard_normal((5, 3))
    assert np.array_equal(in_order(cube, np.zeros(3)), cube)


def test_batched_and_padded_chebyshev_centres_equal_one_set_at_a_time_bit_for_bit():
    rng = np.random.default_rng(1)
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False) + rng.uniform(-0.3, 0.3, (40, 6))
    A = np.stack([np.cos(angles), np.sin(angles)], axis=2)  # bounded polygons around 0
    b = rng.uniform(0.5, 2.0, (40, 6))
    found, point, radius = chebyshev_by_vertices(A, b, 1e6)
    for i in range(40):
        f1, p1, r1 = chebyshev_by_vertices(A[i:i + 1], b[i:i + 1], 1e6)
        assert f1[0] == found[i] and np.array_equal(p1[0], point[i]) and r1[0] == radius[i]
    assert found.all() and np.all(radius > 0)
    counts = np.arange(40) % 4 + 3  # sets of 3 to 6 rows, padded to 6 with junk
    padded = np.where(np.arange(6)[None, :, None] < counts[:, None, None], A, 7.0)
    f_pad, p_pad, r_pad = chebyshev_by_vertices(padded, np.where(np.arange(6) < counts[:, None], b, -3.0), 1e6, counts)
    for i, n in enumerate(counts):
        f1, p1, r1 = chebyshev_by_vertices(A[i:i + 1, :n], b[i:i + 1, :n], 1e6)
        assert f1[0] == f_pad[i] and np.array_equal(p1[0], p_pad[i]) and r1[0] == r_pad[i]
    assert np.all(np.einsum("gmk,gk->gm", A, point) + radius[:, None] <= b + 1e-12)


@pytest.mark.parametrize("sizes, classes", [((2, 16, 16), False), ((6, 32, 32), False), ((3, 12, 12), True)])
def test_frozen_forms_of_a_batch_equal_each_code_alone_bit_for_bit(sizes, classes):
    net = PWLNet.from_torch(make_mlp(sizes[0], list(sizes[1:]), out=4 if classes else 1, seed=3))
    net = class_net(net) if classes else net
    codes = net.codes(np.random.default_rng(2).uniform(-1, 1, (50, sizes[0])))
    basis = np.vstack([np.zeros(sizes[0]), np.eye(sizes[0])])
    pre, out = net.frozen_forms(codes, basis)
    for i, code in enumerate(codes):
        pre_i, out_i = net.frozen_forms(code, basis)
        assert all(np.array_equal(p[i], q) for p, q in zip(pre, pre_i)) and np.array_equal(out[i], out_i)


def test_distinct_rows_of_many_sets_keep_what_unique_rows_keeps_in_each():
    rng = np.random.default_rng(4)
    merged = 0
    for _ in range(100):
        counts = rng.integers(0, 30, rng.integers(1, 8))
        sets = []
        for c in counts:
            points = rng.standard_normal((c, 3)) * 10.0 ** rng.integers(-3, 3)
            copies = rng.integers(0, c, (2, c // 3))
            # near copies: bit-equal, within round-off, and just inside or outside the tolerance
            points[copies[1]] = points[copies[0]] * (1 + rng.choice([0, 1e-15, 1e-13, 1e-11, 1e-9], c // 3))[:, None]
            sets.append(points)
        keep = distinct_rows(np.concatenate([np.zeros((0, 3)), *sets]), counts)
        merged += int((~keep).sum())
        ends = np.cumsum(counts)
        for points, end, c in zip(sets, ends, counts):
            assert np.array_equal(points[keep[end - c:end]], unique_rows(points))
    assert merged > 100


def test_a_wave_in_passes_of_bounded_forms_gives_the_same_answer(monkeypatch):
    import polylens.models.pwlnet as pwlnet

    model, domain, kwargs = NETS["digits_cnn_slice"]
    whole = enumerate_regions(model(), domain, progress=False, **kwargs)
    net = model()
    monkeypatch.setattr(pwlnet, "FORMS_BATCH_VALUES", 17 * 3 * net.n_units)  # passes of 17 codes
    assert net.forms_batch_size(3) == 17 and wave_applies(Space(net, domain, kwargs["origin"], kwargs["basis"]), "auto")
    parts = enumerate_regions(net, domain, progress=False, **kwargs)
    for field in ("codes", "edges", "points", "radii", "out_weight", "out_bias"):
        assert np.array_equal(getattr(whole, field), getattr(parts, field)), field
    # a net whose pass holds fewer codes than a wave needs takes the one-region route
    monkeypatch.setattr(pwlnet, "FORMS_BATCH_VALUES", 15 * 3 * net.n_units)
    assert not wave_applies(Space(net, domain, kwargs["origin"], kwargs["basis"]), "auto")


@pytest.mark.parametrize("name", ["relu_2_40_40_many_rows", "digits_cnn_slice"])
def test_a_wave_in_parts_of_bounded_row_slots_gives_the_same_answer(name, monkeypatch):
    import polylens.geometry.waves as waves

    whole = _enumerate(name, True, monkeypatch)
    model, domain, kwargs = NETS[name]
    net = model()
    net = net if isinstance(net, PWLNet) else PWLNet.from_torch(net)
    space = Space(net, domain, kwargs.get("origin"), kwargs.get("basis"))
    slots = space.domain_b.shape[0] + sum(
        int((a.windows >= 0).sum()) if hasattr(a, "windows") else a.n_units for a in net.activations)
    monkeypatch.setattr(waves, "WAVE_SLOTS", 5 * slots + slots // 2)  # parts of 5 regions
    assert wave_size(space) == 5
    sizes = []
    real = expansion.expand_wave
    monkeypatch.setattr(expansion, "expand_wave", lambda space, codes, hints: sizes.append(len(codes)) or real(
        space, codes, hints))
    parts = enumerate_regions(net, domain, progress=False, **kwargs)
    assert max(sizes) == 5 and len(sizes) > whole.n_regions / 5
    for field in ("codes", "edges", "points", "radii", "n_facets", "out_weight", "out_bias"):
        assert np.array_equal(getattr(whole, field), getattr(parts, field)), field
    assert all(np.array_equal(a, b) for a, b in zip(whole.vertices, parts.vertices))
