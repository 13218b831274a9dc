"""Numerical policy: every tolerance of the exact engine, in one place.

All exact work runs in float64. Constraint rows ``a @ t <= b`` are normalised so that
``||a|| = 1``, so ``b`` and every slack ``b - a @ t`` are distances in the coordinates
``t`` of the subspace being studied.

Every tolerance is **relative to the quantities it compares**, never to the domain's
extent and never an absolute floor:

- a distance test at a point ``t`` (is ``t`` on row ``(a, b)``? is a region thinner than
  a ball of radius ``r``?) is relative to the magnitude ``|b| + ||t||`` of the numbers
  being compared, since that is what float64 resolves there;
- a test of a pre-activation (is a unit constant? tied at its breakpoint?) is relative to
  the magnitude of its own layer's pre-activations;
- LPs are solved on rows divided by a length of the problem (the median distance of
  its rows from the origin), so that an LP back end's absolute tolerances act on numbers
  of order 1.

Scaling the inputs, the domain and the basis of a subspace together, or the
pre-activations of a layer, therefore leaves every decision unchanged, wherever float64
can resolve the partition at all. Where it cannot (a subspace whose basis is so small
next to its origin that the points ``origin + basis @ t`` of the domain cannot be told
apart), :attr:`polylens.geometry.space.Space.resolution` says so: regions thinner than
``RESOLVED`` times it are not resolved, and a domain that thin is refused with an error.

Boundary rule: a unit whose pre-activation is exactly 0 is in its lower piece (for ReLU:
``z > 0`` is "on", ``z <= 0`` is "off").
"""

#: A row whose normal has norm below this, relative to the largest row norm of its own
#: layer, is a constant unit: its pre-activation does not depend on ``t``.
ZERO_ROW = 1e-12

#: A constant unit whose pre-activation is within this of its breakpoint, relative to
#: the largest pre-activation magnitude of its layer, is tied on that breakpoint
#: throughout the region (and one beyond it is in a piece it never leaves).
TIED = 1e-9

#: Two normalised rows whose normals agree to this, and whose offsets agree to this
#: relative to their magnitude (and the region's location), are coincident: they bound
#: the region along the same hyperplane and are crossed together.
COINCIDENT = 1e-9

#: Thinness resolved relative to a distance from the origin: the floor of a row's slack
#: at an inner point (relative to the row's distance ``|b|``, so that a polar point
#: stays finite) and the smallest face radius a facet search accepts (relative to the
#: region's distance). A region's own Chebyshev radius is judged by round-off alone
#: (``Space.thin``).
MIN_RADIUS = 1e-9

#: A row is redundant (a point is on it, a point lies in a half-space) when the slack
#: differs from 0 by at most this relative to ``|b| + ||t||``.
REDUNDANCY = 1e-9

#: Chebyshev radius cap for unbounded regions, relative to the space's length (the
#: median distance of its hyperplanes from the origin): the interior point of an
#: unbounded region is the centre of a ball of this radius, or of the largest ball if
#: that is smaller.
RADIUS_CAP = 1.0

#: Step past a facet, relative to the magnitude of the facet point and the region's
#: radius, at which the pieces of units whose boundaries coincide on that facet are read
#: off a forward pass.
CROSSING_STEP = 1e-7

#: A point reached along a ray into a region is interior when its slack on every row
#: exceeds this, relative to the point's magnitude and the ray's step.
INNER_MARGIN = 1e-7

#: Random perturbation of the seed point (relative to its magnitude and the space's
#: length) tried when the seed lies on a boundary.
SEED_JITTER = 1e-6

#: Random perturbation (relative to the ray's length) of a ray that hits two rows at
#: once.
RAY_JITTER = 1e-6

#: A ray moves toward a row when its speed ``a @ d`` exceeds this relative to ``||d||``.
RAY_SPEED = 1e-14

#: Singular values below this relative to the largest one are zero (rank of a set of
#: unit-norm rows; singular vertex systems of the small Chebyshev LP).
RANK = 1e-10

#: A Qhull facet of the polar points whose offset is below this (relative to the
#: largest polar coordinate) passes through the origin: it is an extreme ray. A facet's
#: offset carries Qhull's round-off times the conditioning of its points, so an offset
#: of a few 1e-15 is a ray seen through round-off, not a vertex at 1e15 (at 1e-14, such
#: "vertices" of unbounded regions in 5-D and 6-D pushed facet points so far that
#: genuine facets failed the check against other rows, and facets were lost).
POLAR_RAY = 1e-12

#: A vertex is a duplicate of another when they agree to this, relative to the spread
#: of the region's vertices.
VERTEX_MERGE = 1e-9

#: Units of float64 round-off (``eps = 2.2e-16``) the computed points of a subspace
#: carry: the resolution of ``t`` is this times ``eps * ||origin|| / sigma_min(basis)``.
ROUNDING = 1.0

#: A region (or a domain) is resolved when its Chebyshev radius exceeds this many times
#: the resolution of its subspace.
RESOLVED = 16.0

#: Plane splitting: a vertex whose value of the function being cut along is within this
#: (relative to the function's largest absolute value over the vertices) lies on the cut
#: line.
VERTEX_ON_LINE = 1e-12

#: Plane splitting: round-off floor of a cut function at the vertices, in units of
#: ``eps`` times the largest input magnitude of its layer.
VERTEX_ROUNDING = 16.0

#: Plane meshes: two edges meeting at a vertex are collinear when the sine of their
#: angle is below this.
COLLINEAR = 1e-9

#: A mesh face whose vertices spread less than this along some direction, relative to
#: its extent and its distance from the origin, gets its output map from exact frozen
#: forms rather than a fit to its vertices.
THIN_FACE = 1e-6

#: Invariant checks (``EnumerationResult.check``, ``PlanePartition.check``): relative
#: tolerance of the volume sum and of the output maps against a forward pass.
CHECK_RELATIVE = 1e-6

#: Invariant checks: round-off allowed to a forward pass, in units of ``eps`` times its
#: largest pre-activation.
CHECK_ROUNDING = 1e3

#: Model conversion check: the converted net and the model agree, node by node, when
#: every difference is at most this relative to the larger absolute entry of the two
#: values compared (float64 rounding through a deep network stays far below it).
CONVERSION_CHECK = 1e-9

#: Cell complexes (``polylens.studies``): a vertex lies on a breakpoint hyperplane (or
#: domain face) when its distance to it is within this, relative to the vertex's own size
#: (its largest coordinate, at least the subspace's ``length``).
COMPLEX_SIGN_ZERO = 1e-8

#: Cell complexes: copies of one vertex (same sign vector) must agree to this, relative
#: to its size.
COMPLEX_SAME_VERTEX = 1e-6

#: Truncated complexes over R^d: a cut vertex is on the truncating box when within this,
#: relative to its size.
TRUNCATION_ON_BOX = 1e-9
