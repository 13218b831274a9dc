"""The exceptions polylens raises for domain outcomes.

Every error polylens raises on purpose derives from :class:`PolylensError`, so callers
can catch the whole family with one ``except`` clause.
"""

__all__ = ["PolylensError", "UnsupportedLayerError", "InfeasibleRegionError", "SolverError"]


class PolylensError(Exception):
    """Base class of every error polylens raises on purpose."""


class UnsupportedLayerError(PolylensError):
    """A model contains a module that is not piecewise linear or not supported yet."""


class InfeasibleRegionError(PolylensError):
    """A region or domain is empty, or thinner than the numerical tolerance."""


class SolverError(PolylensError):
    """An LP back end is missing or failed in a way that leaves no usable answer."""
