"""Small exact helpers for convex polygons in the plane (float64)."""

from __future__ import annotations

import numpy as np

__all__ = ["order_convex", "clip_halfplane", "polygon_area", "line_in_polygon"]


def order_convex(points: np.ndarray) -> np.ndarray:
    """Vertices of a convex polygon, shape (n, 2), in counter-clockwise order.

    Raises
    ------
    IndexError
        If ``points`` is not an array of shape (n, 2).
    """
    if points.shape[0] < 3:
        return points
    centre = points.mean(axis=0)
    angle = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    return points[np.argsort(angle)]


def polygon_area(vertices: np.ndarray) -> float:
    """Area of a polygon given its vertices in order, shape (n, 2) (shoelace formula).

    Raises
    ------
    ValueError
        If ``vertices`` is not an array of shape (n, 2).
    """
    if vertices.shape[0] < 3:
        return 0.0
    x, y = (vertices - vertices[0]).T  # relative to a vertex: no cancellation far from the origin
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def clip_halfplane(vertices: np.ndarray, a: np.ndarray, b: float) -> np.ndarray:
    """Clip a convex polygon (ordered vertices, shape (n, 2)) to ``a @ p <= b``.

    Raises
    ------
    ValueError
        If ``vertices`` and ``a`` do not have matching shapes (n, 2) and (2,).
    """
    if vertices.shape[0] == 0:
        return vertices
    val = vertices @ a - b
    inside = val <= 0
    if inside.all():
        return vertices
    if not inside.any():
        return vertices[:0]
    out = []
    n = vertices.shape[0]
    for i in range(n):
        j = (i + 1) % n
        if inside[i]:
            out.append(vertices[i])
        if inside[i] != inside[j]:
            w = val[i] / (val[i] - val[j])
            out.append(vertices[i] + w * (vertices[j] - vertices[i]))
    return np.array(out)


def line_in_polygon(vertices: np.ndarray, a: np.ndarray, b: float) -> np.ndarray | None:
    """The segment where the line ``a @ p == b`` crosses a convex polygon.

    Returns an array of shape (2, 2) (the segment's ends) or None if the line misses it.

    Raises
    ------
    ValueError
        If ``vertices`` and ``a`` do not have matching shapes (n, 2) and (2,).
    """
    if vertices.shape[0] < 3:
        return None
    val = vertices @ a - b
    ends = []
    n = vertices.shape[0]
    for i in range(n):
        j = (i + 1) % n
        if (val[i] < 0) != (val[j] < 0):
            w = val[i] / (val[i] - val[j])
            ends.append(vertices[i] + w * (vertices[j] - vertices[i]))
    return np.array(ends[:2]) if len(ends) >= 2 else None
