"""Sampling approximations of the polytope lens for models too large for the exact engine.

Works on any ``torch.nn.Module``, on the model's device:

* :func:`codes` -- bit-packed polytope codes of a data set through forward hooks on the
  activation sites (:func:`find_sites`), streamed to memory or to an on-disk store
  (:class:`Codes`, :meth:`Codes.load`); with ``per_token=True`` one code per token of a
  sequence model (:class:`TokenCodes`: every row's sequence, position and token id).
* :func:`hamming`, :func:`hamming_by_site`, :func:`pairwise_hamming`,
  :func:`n_distinct`, :func:`site_stats` -- Hamming geometry of codes.
* :func:`path_density`, :func:`scale_activations`, :func:`local_complexity` -- sampled
  boundary density along paths, under activation scaling and around a point.
* :func:`cluster_codes` -- HDBSCAN, agglomerative or k-medoids clusters of codes.
* :func:`validate_density`, :func:`validate_local_complexity` -- sampled estimates next
  to the exact engine on models it supports.

Codes of smooth activations (GELU, SiLU) are the signs of their pre-activations and are
marked ``approximate``.
"""

from polylens.sampling.bits import pack_bits
from polylens.sampling.clustering import ClusterResult, ClusterSummary, cluster_codes
from polylens.sampling.collect import codes
from polylens.sampling.density import (
    LocalComplexity,
    PathDensity,
    ScaleResult,
    local_complexity,
    path_density,
    predictions,
    scale_activations,
)
from polylens.sampling.hamming_geometry import (
    SiteStats,
    crossings_by_site,
    hamming,
    hamming_by_site,
    n_distinct,
    pairwise_hamming,
    site_stats,
)
from polylens.sampling.packed_codes import CodeLayout, Codes, CodeStore, SiteLayout
from polylens.sampling.sites import Pool, Site, SitePlan, find_sites
from polylens.sampling.tokens import TOKEN_DTYPE, TokenCodes
from polylens.sampling.validation import (
    DensityValidation,
    LocalComplexityValidation,
    validate_density,
    validate_local_complexity,
)

__all__ = [
    "codes", "Codes", "CodeLayout", "SiteLayout", "CodeStore", "pack_bits", "TokenCodes", "TOKEN_DTYPE",
    "find_sites", "Site", "Pool", "SitePlan",
    "hamming", "hamming_by_site", "crossings_by_site", "pairwise_hamming", "n_distinct", "site_stats", "SiteStats",
    "path_density", "PathDensity", "scale_activations", "ScaleResult", "predictions",
    "local_complexity", "LocalComplexity",
    "cluster_codes", "ClusterResult", "ClusterSummary",
    "validate_density", "DensityValidation", "validate_local_complexity", "LocalComplexityValidation",
]
