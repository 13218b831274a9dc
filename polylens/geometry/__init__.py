"""Exact geometry: domains, regions, facets, neighbours, enumeration and the region graph."""

from polylens.geometry.domain import Box, Polyhedron
from polylens.geometry.enumeration import EnumerationResult, enumerate_regions
from polylens.geometry.facet_finding import Facet
from polylens.geometry.graph import region_graph, write_graphml
from polylens.geometry.paths import PathCrossings, path_crossings
from polylens.geometry.plane import PlanePartition, plane_partition
from polylens.geometry.region import (
    Neighbor,
    Region,
    facets,
    neighbors,
    region_at,
    region_for_code,
)
from polylens.geometry.space import Space

__all__ = [
    "Box", "Polyhedron", "Space", "Region", "Facet", "Neighbor",
    "region_at", "region_for_code", "facets", "neighbors",
    "enumerate_regions", "EnumerationResult", "region_graph", "write_graphml",
    "path_crossings", "PathCrossings", "plane_partition", "PlanePartition",
]
