"""polylens: neural networks through the polytope lens.

The exact engine (``polylens.geometry``) finds the convex region of a piecewise-linear
network that holds a point, its facets and neighbours, every region of a domain, exact
paths and planes; ``polylens.models`` converts torch models; ``polylens.solvers`` holds
the LP back ends; ``polylens.sampling`` approximates the same quantities for any model
(polytope codes through hooks; ``polylens.sampling.codes(model, inputs)``).

Importing the package is light: every public name below is loaded from its module on
first use (PEP 562), so ``import polylens`` (and ``polylens --help``) does not load torch,
scipy or the sampling package until a name that needs them is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["PolylensError", "InvalidParameterError", "UnsupportedLayerError", "InfeasibleRegionError",
                     "SolverError", "TaskError", "CheckpointError", "InvariantError", "ConversionError",
                     "ComplexError", "PolylensWarning"],
                    "polylens.errors"),
    **dict.fromkeys(["Box", "Polyhedron", "Space", "Region", "Facet", "Neighbor", "region_at", "region_for_code",
                     "facets", "neighbors", "enumerate_regions", "EnumerationResult", "region_graph",
                     "write_graphml", "path_crossings", "PathCrossings", "plane_partition", "PlanePartition"],
                    "polylens.geometry"),
    "PWLNet": "polylens.models",
    **dict.fromkeys(["Codes", "hamming", "pairwise_hamming", "path_density", "scale_activations",
                     "local_complexity", "cluster_codes", "validate_density", "validate_local_complexity"],
                    "polylens.sampling"),
}

# sub-packages and modules reachable as attributes (``polylens.zoo``) without an import
_SUBMODULES = frozenset(["errors", "geometry", "models", "sampling", "solvers", "experiments", "parallel",
                         "plotting", "zoo", "demo", "cli", "tolerances", "studies"])

__all__ = [
    "PWLNet", "Box", "Polyhedron", "Space", "Region", "Facet", "Neighbor",
    "region_at", "region_for_code", "facets", "neighbors",
    "enumerate_regions", "EnumerationResult", "region_graph", "write_graphml",
    "path_crossings", "PathCrossings", "plane_partition", "PlanePartition",
    "Codes", "hamming", "pairwise_hamming", "path_density", "scale_activations", "local_complexity",
    "cluster_codes", "validate_density", "validate_local_complexity",
    "PolylensError", "InvalidParameterError", "UnsupportedLayerError", "InfeasibleRegionError", "SolverError",
    "TaskError", "CheckpointError", "InvariantError", "ConversionError", "ComplexError",
    "PolylensWarning",
]


def __getattr__(name: str):
    """Load a public name (or a sub-module) on first use and cache it in the package."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"polylens.{name}")
    else:
        raise AttributeError(f"module 'polylens' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
