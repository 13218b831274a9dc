"""Arrays in anonymous memory maps: a page takes memory when it is first written, an
array grows or shrinks in place (``mremap`` on Linux, no copy), and a deleted array's
memory goes back to the system at once (where the C heap may keep what it frees).
Where the platform maps no anonymous memory, or an array is small, they are ordinary
arrays.
"""

from __future__ import annotations

import ctypes
import functools
import math
import mmap

import numpy as np

__all__ = ["MAPPED_BYTES", "empty", "mapping", "resize", "trim_heap"]

_PRIVATE = getattr(mmap, "MAP_PRIVATE", None)
_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", None)


MAPPED_BYTES = 1 << 22
"""Arrays of at least this many bytes are mapped (:func:`empty`); smaller ones, whose
spare capacity is small, are ordinary arrays (a mapping costs system calls)."""


def empty(rows: int, shape: tuple, dtype) -> np.ndarray:
    """An array of ``rows`` rows of ``shape`` (contents unset); from
    :data:`MAPPED_BYTES` up, in anonymous private memory where the platform maps it
    (``mmap``): a page of it takes memory when first written, so rows not yet used hold
    none, and :func:`resize` grows it in place (``mremap``, no copy). Elsewhere an
    ordinary array.

    Parameters
    ----------
    rows : int
    shape : tuple of int
        The shape of one row.
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (rows, *shape)

    Raises
    ------
    None of its own
        (``OSError`` where the system has no memory to map.)
    """
    dtype = np.dtype(dtype)
    count = rows * math.prod(shape)
    if _PRIVATE is None or _ANONYMOUS is None or count * dtype.itemsize < MAPPED_BYTES:
        return np.empty((rows, *shape), dtype)
    buffer = mmap.mmap(-1, max(count * dtype.itemsize, 1), flags=_PRIVATE | _ANONYMOUS)
    return np.frombuffer(buffer, dtype, count).reshape(rows, *shape)


def mapping(a: np.ndarray):
    """The ``mmap`` that holds ``a`` (made by :func:`empty`), or None.

    Raises
    ------
    None of its own
    """
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    return base if isinstance(base, mmap.mmap) else None


def resize(columns: dict, name: str, rows: int) -> None:
    """Give ``columns[name]`` ``rows`` rows, its first rows kept and any new ones unset:
    in place where the array is mapped (:func:`empty`), the platform can resize a
    mapping and nothing but ``columns`` refers to it (no copy, and growing neither holds
    the old and the new array at once nor touches the new rows), else as a new array
    (:func:`empty`) with the rows copied. Whatever goes wrong (no memory to map or to
    copy into, an interrupt), ``columns[name]`` is left as it was: a failed resize loses
    no rows.

    Parameters
    ----------
    columns : dict
        Name -> ndarray of shape (n, ...); its entry is the only reference to the array
        where it is to grow in place (a mapped array referred to elsewhere is copied).
    name : str
    rows : int

    Raises
    ------
    None of its own
        (``MemoryError`` or ``OSError`` where the system has no memory for the new rows,
        with ``columns[name]`` unchanged.)
    """
    a = columns.pop(name)
    buffer = None
    try:
        shape, dtype, old = a.shape[1:], a.dtype, a.shape[0]
        buffer = mapping(a)
        if buffer is not None:
            held, a = old, None  # the rows it holds; the mapping cannot be resized while an array refers to it
            try:
                buffer.resize(max(rows * math.prod(shape) * dtype.itemsize, 1))
            except (BufferError, OSError, SystemError, ValueError):  # a view exists, or no mremap
                pass
            else:
                held = rows
            a = _rows_of(buffer, dtype, shape, held)
            if held == rows:
                columns[name] = a
                return
        grown = empty(rows, shape, dtype)
        grown[:min(old, rows)] = a[:rows]
        columns[name] = grown
    finally:
        if name not in columns:  # a failure: the array as it is (its mapping resized or not)
            columns[name] = a if a is not None else _rows_of(buffer, dtype, shape, held)


def _rows_of(buffer: mmap.mmap, dtype: np.dtype, shape: tuple, rows: int) -> np.ndarray:
    """The first ``rows`` rows of a mapping made by :func:`empty`, as an array."""
    return np.frombuffer(buffer, dtype, rows * math.prod(shape)).reshape(rows, *shape)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the process runs on
    except (AttributeError, OSError, TypeError):  # none, or not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim``; where
    there is none, nothing): what a long computation's temporaries left in the heap,
    which Python's own objects (in arenas of their own) cannot reuse.

    Raises
    ------
    None of its own
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
