"""Adjacency-graph studies on exact results: one module per family.

- :mod:`~polylens.studies.distances`: geodesic, Hamming and Euclidean distances between
  regions and their correlation; :func:`region_path`, a lazy A* facet path between the
  regions of two points (no enumeration), and :func:`region_paths` for many pairs.
- :mod:`~polylens.studies.statistics`: degrees, diameter, eccentricities, bounded vs
  unbounded regions, regions that hold data.
- :mod:`~polylens.studies.complex`: the polyhedral complex (vertices, edges, faces) of an
  enumeration in dimension 2 and 3.
- :mod:`~polylens.studies.topology`: decision regions, their components and the Betti
  numbers over GF(2) of each class region and of the decision boundary.
- :mod:`~polylens.studies.persistence`: sublevel sets of a scalar output, persistence
  diagram, PL Morse critical vertices.
- :mod:`~polylens.studies.spectra`: Laplacian spectrum, Fiedler cut vs decision boundary.
- :mod:`~polylens.studies.training`: the same measurements over training checkpoints.

Modules load lazily: ``import polylens.studies`` imports none of them.
"""

from __future__ import annotations

from importlib import import_module

__all__ = [
    "pair_distances", "PairDistances", "region_path", "region_paths", "RegionPath",
    "graph_statistics", "GraphStatistics", "data_regions", "DataRegions", "eccentricities", "Eccentricities",
    "cell_complex", "CellComplex", "class_net",
    "decision_topology", "DecisionTopology", "betti_numbers",
    "sublevel_persistence", "Persistence",
    "laplacian_spectrum", "Spectrum",
    "training_measurements", "TrainingTable",
]

_HOME = {
    "pair_distances": "distances", "PairDistances": "distances", "region_path": "distances",
    "region_paths": "distances", "RegionPath": "distances",
    "graph_statistics": "statistics", "GraphStatistics": "statistics", "data_regions": "statistics",
    "DataRegions": "statistics", "eccentricities": "statistics", "Eccentricities": "statistics",
    "cell_complex": "complex", "CellComplex": "complex", "class_net": "complex",
    "decision_topology": "topology", "DecisionTopology": "topology", "betti_numbers": "topology",
    "sublevel_persistence": "persistence", "Persistence": "persistence",
    "laplacian_spectrum": "spectra", "Spectrum": "spectra",
    "training_measurements": "training", "TrainingTable": "training",
}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(import_module(f"polylens.studies.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'polylens.studies' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
