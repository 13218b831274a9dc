"""Every exception and warning polylens raises on purpose, in one module.

Every error derives from :class:`PolylensError`, so callers can catch the whole family
with one ``except`` clause; warnings derive from :class:`PolylensWarning`.

==========================  =====================================================
``InvalidParameterError``   a public function got a bad argument (also a
                            ``ValueError`` and a ``TypeError``)
``UnsupportedLayerError``   a model holds a layer or op the exact engine does not
                            model exactly
``InfeasibleRegionError``   a region or domain is empty or thinner than tolerance
``SolverError``             an LP back end is missing or failed
``TaskError``               a task failed on a Dask worker
``CheckpointError``         a checkpoint file cannot be resumed from
``InvariantError``          a result failed one of its invariant checks
``ConversionError``         a converted net does not reproduce its torch model
                            (an ``UnsupportedLayerError``)
``ComplexError``            regions do not form a face-to-face cell complex
``PolylensWarning``         a degenerate configuration was met and reported
==========================  =====================================================
"""

__all__ = [
    "PolylensError", "InvalidParameterError", "UnsupportedLayerError", "InfeasibleRegionError",
    "SolverError", "TaskError", "CheckpointError", "InvariantError", "ConversionError", "ComplexError",
    "PolylensWarning",
]


class PolylensError(Exception):
    """Base class of every error polylens raises on purpose."""


class InvalidParameterError(PolylensError, ValueError, TypeError):
    """A public function was called with an argument it does not accept.

    The message names the public function and the parameter as the caller typed it, what
    is allowed and what was given. It is also a ``ValueError`` and a ``TypeError``, so code
    that catches either keeps working.
    """


class UnsupportedLayerError(PolylensError):
    """A model contains a module or op that is not piecewise linear or not supported yet."""


class InfeasibleRegionError(PolylensError):
    """A region or domain is empty, or thinner than the numerical tolerance."""


class SolverError(PolylensError):
    """An LP back end is missing or failed in a way that leaves no usable answer."""


class TaskError(PolylensError):
    """A task failed on a Dask worker.

    Attributes
    ----------
    where : str
        The input chunk (``"chunk 3 (rows 768-1023)"``) or region (``"region 17 (code
        0110...)"``) whose task failed. The task's own exception is ``__cause__``.
    """

    def __init__(self, message: str, where: str):
        super().__init__(message)
        self.where = where


class PolylensWarning(UserWarning):
    """A degenerate configuration was met and reported (see the message)."""


class InvariantError(PolylensError, AssertionError):
    """A result failed one of its invariants (see ``EnumerationResult.check`` and
    ``PlanePartition.check``): the message names the first violation."""


class CheckpointError(PolylensError):
    """A checkpoint file cannot be resumed from: it is empty, truncated, corrupt or not a
    checkpoint, or it belongs to another net, domain or subspace (the message names the
    file and what to do)."""


class ConversionError(UnsupportedLayerError):
    """A converted net does not reproduce its torch model (checked after every conversion).

    The message names the first traced node (or layer) whose value differs.
    """


class ComplexError(PolylensError):
    """The regions do not form a face-to-face cell complex (a degenerate configuration)."""
