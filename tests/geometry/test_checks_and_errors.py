"""Invariant checkers catch corrupted results; errors name the public parameter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _nets import make_mlp

from polylens import Box, Polyhedron, PWLNet, enumerate_regions, path_crossings, plane_partition, region_at
from polylens.errors import InvalidParameterError, InvariantError


@pytest.fixture(scope="module")
def net():
    return PWLNet.from_torch(make_mlp(2, [6, 5], seed=1))


@pytest.fixture(scope="module")
def enumerated(net):
    res = enumerate_regions(net, Box(-1, 1), progress=False)
    res.check()
    return res


def test_enumeration_check_names_a_region_whose_point_has_another_code(enumerated):
    codes = enumerated.codes.copy()
    codes[[0, 1]] = codes[[1, 0]]
    with pytest.raises(InvariantError, match="interior point of region 0 has another code"):
        dataclasses.replace(enumerated, codes=codes).check()


def test_enumeration_check_names_a_missing_region(enumerated):
    keep = np.arange(1, enumerated.n_regions)
    edges = enumerated.edges[np.all(enumerated.edges > 0, axis=1)] - 1
    units = [u for u, e in zip(enumerated.edge_units, enumerated.edges) if np.all(e > 0)]
    smaller = dataclasses.replace(
        enumerated, codes=enumerated.codes[keep], points=enumerated.points[keep], radii=enumerated.radii[keep],
        bounded=enumerated.bounded[keep], n_facets=enumerated.n_facets[keep], edges=edges, edge_units=units,
        vertices=enumerated.vertices[1:], out_weight=enumerated.out_weight[keep], out_bias=enumerated.out_bias[keep])
    with pytest.raises(InvariantError, match="volumes add up to"):
        smaller.check()


def test_enumeration_check_names_an_edge_whose_units_are_wrong(enumerated):
    units = list(enumerated.edge_units)
    units[0] = tuple(u + 1 for u in units[0])
    with pytest.raises(InvariantError, match="edge 0"):
        dataclasses.replace(enumerated, edge_units=units).check()


def test_plane_check_names_a_wrong_output_map(net):
    part = plane_partition(net, domain=(-1, 1))
    part.check()
    bias = part.out_bias.copy()
    bias[3] += 1e-3
    with pytest.raises(InvariantError, match="affine map of region 3"):
        dataclasses.replace(part, out_bias=bias).check()
    with pytest.raises(InvariantError, match="areas add up"):
        shrunk = [p.mean(axis=0) + 0.9 * (p - p.mean(axis=0)) for p in part.polygons]
        dataclasses.replace(part, polygons=shrunk).check()


def test_plane_partition_takes_a_polyhedron_domain_with_the_walk_and_refuses_it_for_splitting(net):
    triangle = Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [1.0, 1.0, 1.0])
    part = plane_partition(net, domain=triangle, method="enumerate")
    part.check()
    assert part.areas().sum() == pytest.approx(4.5, rel=1e-9)
    with pytest.raises(InvalidParameterError, match="method='enumerate'"):
        plane_partition(net, domain=triangle)
    with pytest.raises(InvalidParameterError, match="`domain` must be a bounded"):
        plane_partition(net, domain=None)


def test_plane_partition_box_is_a_deprecated_name_of_domain(net):
    with pytest.warns(DeprecationWarning, match="`box` is deprecated"):
        old = plane_partition(net, box=(-1, 1))
    assert old.n_regions == plane_partition(net, domain=(-1, 1)).n_regions


@pytest.mark.parametrize("kwargs, name", [
    ({"basis": np.ones((3, 2))}, "basis"),
    ({"origin": [1.0, 2.0, 3.0]}, "origin"),
    ({"solver": "simplex-by-hand"}, "solver"),
    ({"domain": "box"}, "domain"),
])
def test_region_at_names_the_parameter_as_typed(net, kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"^region_at: `{name}`"):
        region_at(net, [0.0, 0.0], **kwargs)


def test_enumerate_regions_names_itself_for_a_bad_basis(net):
    with pytest.raises(InvalidParameterError, match="^enumerate_regions: `basis`"):
        enumerate_regions(net, None, basis=np.ones(3), progress=False)


def test_exact_and_sampled_path_densities_share_names(net):
    path = path_crossings(net, [[-1.0, -1.0], [1.0, 1.0]])
    assert path.density == pytest.approx(sum(u.size for u in path.units) / path.length)
    assert path.change_density == pytest.approx(path.n_crossings / path.length)
    centres, density = path.density_windows(4)
    assert centres.shape == density.shape == (4,)
    assert density.sum() * path.length / 4 == pytest.approx(path.n_crossings)
    with pytest.raises(InvalidParameterError, match="`n_windows`"):
        path.density_windows(0)
    assert "\n" not in repr(path) and len(repr(path)) < 600
