"""Argument checks shared by every public function (private).

Each check takes the value, the public function's name (``func``) and the parameter's
name as the caller typed it (``name``), and either returns the value in canonical form or
raises :class:`~polylens.errors.InvalidParameterError` with a message that names both,
says what is allowed and shows what was given::

    enumerate_regions: `max_regions` must be an int >= 1 or None; got 0

The command line catches these and names the flag instead (see :mod:`polylens.cli`).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from polylens.errors import InvalidParameterError

__all__ = ["invalid", "check_int", "check_number", "check_bool", "check_option", "check_array",
           "check_output_path", "check_input_file"]


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def invalid(func: str, name: str, allowed: str, got) -> InvalidParameterError:
    """The error for ``func``'s parameter ``name``: it must be ``allowed``; ``got`` was given."""
    return InvalidParameterError(f"{func}: `{name}` must be {allowed}; got {_shown(got)}")


def _range_text(low, high, low_open: bool = False) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"<= {high}")
    return " ".join(parts)


def check_int(value, *, func: str, name: str, low: int | None = None, high: int | None = None,
              none_ok: bool = False) -> int | None:
    """An int (not a bool) in ``[low, high]``; numpy integers are accepted and returned as int."""
    if value is None and none_ok:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = int(value)
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        allowed = " ".join(p for p in ("an int", _range_text(low, high)) if p)
        raise invalid(func, name, allowed + (" or None" if none_ok else ""), value)
    return value


def check_number(value, *, func: str, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, none_ok: bool = False) -> float | None:
    """A finite real number (not a bool) in the range, as a float; ``low_open`` excludes ``low``."""
    if value is None and none_ok:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (low is None or (value > low if low_open else value >= low)) \
            and (high is None or value <= high)
    if not ok:
        allowed = " ".join(p for p in ("a finite number", _range_text(low, high, low_open)) if p)
        raise invalid(func, name, allowed + (" or None" if none_ok else ""), value)
    return value


def check_bool(value, *, func: str, name: str) -> bool:
    """``True`` or ``False`` (numpy bools included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid(func, name, "True or False", value)
    return bool(value)


def check_option(value, options: Collection, *, func: str, name: str):
    """One of ``options`` (compared with ``==``; unhashable values are refused, not raised on)."""
    try:
        ok = value in options
    except TypeError:
        ok = False
    if not ok:
        raise invalid(func, name, f"one of {sorted(options, key=str)}", value)
    return value


def check_array(value, *, func: str, name: str, shape: Sequence[int | None] | None = None,
                ndim: int | Sequence[int] | None = None, dtype=np.float64, finite: bool = True) -> np.ndarray:
    """An array of ``dtype`` (a copy only when the input is not already one).

    Parameters
    ----------
    shape : sequence of int or None, optional
        Required shape; ``None`` entries match any length.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions (when ``shape`` is not given).
    finite : bool, default=True
        Refuse NaN and infinite entries.
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise invalid(func, name, f"an array of {np.dtype(dtype).name} numbers", value) from None
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
            want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise invalid(func, name, f"an array of shape {want}", f"an array of shape {arr.shape}")
    elif ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise invalid(func, name, f"an array with {' or '.join(map(str, allowed))} dimensions",
                          f"an array of shape {arr.shape}")
    if finite and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise invalid(func, name, "finite (no NaN or infinity)", f"{bad} non-finite entries")
    return arr


def check_output_path(path, *, func: str, name: str, overwrite: bool = False,
                      inputs: Sequence = ()) -> Path:
    """A file path that can be written now, before any work starts.

    Refuses a path that names a directory, whose directory is missing or not writable,
    that names one of ``inputs`` (paths the same call reads), or that exists while
    ``overwrite`` is false.
    """
    try:
        p = Path(os.fspath(path)).expanduser()
    except TypeError:
        raise invalid(func, name, "a file path (str or os.PathLike)", path) from None
    if p.is_dir():
        raise InvalidParameterError(f"{func}: `{name}` names the directory {str(p)!r}; give a file path inside it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidParameterError(f"{func}: the directory of `{name}` does not exist: {str(parent)!r}; "
                                    "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidParameterError(f"{func}: the directory of `{name}` is not writable: {str(parent)!r}")
    for other in inputs:
        if other is not None and _same_file(p, other):
            raise InvalidParameterError(f"{func}: `{name}` ({str(p)!r}) is one of the inputs; "
                                        "writing it would destroy them: give another path")
    if p.exists() and not overwrite:
        raise InvalidParameterError(f"{func}: `{name}` ({str(p)!r}) exists already; pass overwrite=True to "
                                    "replace it, or give another path")
    if p.exists() and not os.access(p, os.W_OK):
        raise InvalidParameterError(f"{func}: `{name}` ({str(p)!r}) exists and is not writable")
    return p


def _same_file(a: Path, b) -> bool:
    try:
        b = Path(os.fspath(b))
    except TypeError:
        return False
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_input_file(path, *, func: str, name: str) -> Path:
    """An existing, non-empty regular file."""
    try:
        p = Path(os.fspath(path)).expanduser()
    except TypeError:
        raise invalid(func, name, "a file path (str or os.PathLike)", path) from None
    if p.is_dir():
        raise InvalidParameterError(f"{func}: `{name}` names the directory {str(p)!r}, not a file")
    if not p.exists():
        raise InvalidParameterError(f"{func}: `{name}`: no such file {str(p)!r}")
    if p.stat().st_size == 0:
        raise InvalidParameterError(f"{func}: `{name}`: the file {str(p)!r} is empty")
    return p
