"""One-line ``repr`` for result dataclasses (private).

``@short_repr`` replaces a dataclass's generated ``repr`` (which prints every array in
full) by one line: scalars and short strings as they are, arrays as their shape (a
vector of at most 4 entries as its values), long sequences as their length, nested
objects by their class name::

    EnumerationResult(regions=<list of 210>, ..., seconds=0.21, complete=True)

Apply it above ``@dataclass`` (it runs after the dataclass machinery). numpy is not
imported here (a value can only be a numpy object once numpy is loaded), so light modules
such as :mod:`polylens.cli` can use the decorator without paying numpy's import.
"""

from __future__ import annotations

import dataclasses
import sys

__all__ = ["short_repr", "summary"]


def summary(value) -> str:
    """A short text for one attribute value."""
    np = sys.modules.get("numpy")
    integers = (bool, int) + ((np.integer, np.bool_) if np is not None else ())
    floats = (float,) + ((np.floating,) if np is not None else ())
    if value is None or isinstance(value, integers):
        return repr(value)
    if isinstance(value, floats):
        return f"{float(value):.4g}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if np is not None and isinstance(value, np.ndarray):
        if value.ndim <= 1 and value.size <= 4:
            return repr(value.tolist())
        return f"<array {value.shape} {value.dtype}>"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} {tuple(value.shape)} {value.dtype}>"
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if len(value) <= 4 and all(isinstance(v, (*integers, *floats, str))
                                   for v in (value.values() if isinstance(value, dict) else value)):
            return repr(value)
        return f"<{type(value).__name__} of {len(value)}>"
    return f"<{type(value).__name__}>"


def short_repr(cls):
    """Class decorator: a one-line ``__repr__`` over the dataclass's fields shown in repr."""

    def __repr__(self) -> str:
        fields = [f for f in dataclasses.fields(self) if f.repr]
        body = ", ".join(f"{f.name}={summary(getattr(self, f.name))}" for f in fields)
        return f"{type(self).__name__}({body})"

    cls.__repr__ = __repr__
    return cls
