"""Torch models as piecewise-linear networks: adapters, activations and codes."""

from polylens.models.activations import Activation, Elementwise, MaxPool
from polylens.models.pwlnet import AffineForms, PWLNet


def exported_input_shape(program):
    """Shape of one input of a ``torch.export`` program, or None (see
    :func:`polylens.models.adapters.exported_input_shape`).

    Raises
    ------
    InvalidParameterError
        If ``program`` is not a ``torch.export.ExportedProgram``.
    """
    from polylens.models.adapters import exported_input_shape as shape

    return shape(program)


__all__ = ["PWLNet", "AffineForms", "Activation", "Elementwise", "MaxPool", "exported_input_shape"]
