"""Torch models as piecewise-linear networks: adapters, activations and codes."""

from polylens.models.activations import Activation, LeakyReLU, ReLU
from polylens.models.pwlnet import AffineForms, PWLNet, Stage

__all__ = ["PWLNet", "Stage", "AffineForms", "Activation", "ReLU", "LeakyReLU"]
