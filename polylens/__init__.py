"""polylens: neural networks through the polytope lens.

The exact engine (``polylens.geometry``) finds the convex region of a piecewise-linear
network that holds a point, its facets and neighbours, and every region of a domain;
``polylens.models`` converts torch models; ``polylens.solvers`` holds the LP back ends.
"""

from polylens.errors import InfeasibleRegionError, PolylensError, SolverError, UnsupportedLayerError
from polylens.geometry import (
    Box,
    EnumerationResult,
    Facet,
    Neighbor,
    PathCrossings,
    PlanePartition,
    Polyhedron,
    PolylensWarning,
    Region,
    Space,
    enumerate_regions,
    facets,
    neighbors,
    path_crossings,
    plane_partition,
    region_at,
    region_for_code,
    region_graph,
    write_graphml,
)
from polylens.models import PWLNet

__version__ = "0.1.0"

__all__ = [
    "PWLNet", "Box", "Polyhedron", "Space", "Region", "Facet", "Neighbor",
    "region_at", "region_for_code", "facets", "neighbors",
    "enumerate_regions", "EnumerationResult", "region_graph", "write_graphml",
    "path_crossings", "PathCrossings", "plane_partition", "PlanePartition",
    "PolylensError", "UnsupportedLayerError", "InfeasibleRegionError", "SolverError", "PolylensWarning",
]
