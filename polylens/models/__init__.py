"""Torch models as piecewise-linear networks: adapters, activations and codes."""

from polylens.models.activations import Activation, Elementwise, MaxPool
from polylens.models.pwlnet import AffineForms, PWLNet

__all__ = ["PWLNet", "AffineForms", "Activation", "Elementwise", "MaxPool"]
