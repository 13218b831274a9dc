"""polylens: neural networks through the polytope lens.

The exact engine (``polylens.geometry``) finds the convex region of a piecewise-linear
network that holds a point, its facets and neighbours, every region of a domain, exact
paths and planes; ``polylens.models`` converts torch models; ``polylens.solvers`` holds
the LP back ends; ``polylens.sampling`` approximates the same quantities for any model
(polytope codes through hooks; ``polylens.sampling.codes(model, inputs)``).
"""

from polylens.errors import (
    InfeasibleRegionError,
    InvalidParameterError,
    PolylensError,
    PolylensWarning,
    SolverError,
    TaskError,
    UnsupportedLayerError,
)
from polylens.geometry import (
    Box,
    EnumerationResult,
    Facet,
    Neighbor,
    PathCrossings,
    PlanePartition,
    Polyhedron,
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
from polylens.sampling import (
    Codes,
    cluster_codes,
    hamming,
    local_complexity,
    pairwise_hamming,
    path_density,
    scale_activations,
    validate_density,
    validate_local_complexity,
)

__version__ = "0.1.0"

__all__ = [
    "PWLNet", "Box", "Polyhedron", "Space", "Region", "Facet", "Neighbor",
    "region_at", "region_for_code", "facets", "neighbors",
    "enumerate_regions", "EnumerationResult", "region_graph", "write_graphml",
    "path_crossings", "PathCrossings", "plane_partition", "PlanePartition",
    "Codes", "hamming", "pairwise_hamming", "path_density", "scale_activations", "local_complexity",
    "cluster_codes", "validate_density", "validate_local_complexity",
    "PolylensError", "InvalidParameterError", "UnsupportedLayerError", "InfeasibleRegionError", "SolverError",
    "TaskError", "PolylensWarning",
]
