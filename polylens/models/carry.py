"""Values carried through a program from one nonlinearity to the next (private).

Plane splitting runs a program layer by layer on the vertices of a mesh: before cutting
along layer ``L`` it needs the input of nonlinearity ``L`` at every vertex, and, to go on
to layer ``L + 1`` without starting again from the input, every other value that a later
step reads. A program's ``advance(state, stop)`` turns the values at one nonlinearity
(or an input batch) into those at a later one (or the output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polylens._repr import short_repr

__all__ = ["Carried"]


@short_repr
@dataclass(frozen=True)
class Carried:
    """The values of a batch that the rest of a program reads, at one point of it.

    Attributes
    ----------
    layer : int or None
        The values are those just before nonlinearity ``layer`` runs; None: the output.
    values : ndarray of shape (n, width), float64
        Columns ``[:n_in]`` are the input of nonlinearity ``layer`` (flattened as its
        ``n_in`` entries; the output for None), the others whatever later steps also read.
    layout : object
        What the program needs to read ``values`` back (opaque to callers).
    """

    layer: int | None
    values: np.ndarray
    layout: object = None
