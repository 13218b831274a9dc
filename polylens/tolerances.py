"""Numerical policy: every tolerance of the exact engine, in one place.

All exact work runs in float64. Constraint rows ``a @ t <= b`` are normalised so that
``||a|| = 1``; the tolerances below are then distances in the coordinates ``t`` of the
subspace being studied, relative to ``scale``, the size of the problem (the largest
absolute right-hand side or domain coordinate, at least 1).

Boundary rule: a unit whose pre-activation is exactly 0 is in its lower piece (for ReLU:
``z > 0`` is "on", ``z <= 0`` is "off").
"""

#: A row whose normal has norm below this (relative to the largest row norm of the
#: region) is a constant unit: its pre-activation does not depend on ``t``.
ZERO_ROW = 1e-12

#: Two normalised rows whose normals and offsets agree to this (relative) are coincident:
#: they bound the region along the same hyperplane and are crossed together.
COINCIDENT = 1e-9

#: A region whose Chebyshev radius is below this (relative) is treated as empty.
MIN_RADIUS = 1e-9

#: A row is redundant when the polytope of the other rows exceeds it by at most this
#: (relative distance).
REDUNDANCY = 1e-9

#: Chebyshev radius cap for unbounded regions (absolute, in the coordinates ``t``): the
#: interior point of an unbounded region is the centre of a ball of this radius, or of
#: the largest ball if that is smaller.
RADIUS_CAP = 1.0

#: Step (relative to the scale) past a facet at which the pieces of units whose
#: boundaries coincide on that facet are read off their exact affine forms.
CROSSING_STEP = 1e-7

#: Plane splitting: a vertex whose value of the function being cut along is within this
#: (relative to the function's largest absolute value over the vertices) lies on the cut
#: line.
VERTEX_ON_LINE = 1e-12

#: Model conversion check: the converted net and the model agree, node by node, when
#: every difference is at most this relative to the larger absolute entry of the two
#: values compared (float64 rounding through a deep network stays far below it).
CONVERSION_CHECK = 1e-9
