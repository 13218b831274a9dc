"""Writing result files without ever leaving a half-written one in place (private).

:func:`atomic_output` yields a temporary path beside the destination; the caller writes
it, and only when the block ends without an error is it moved over the destination in
one ``os.replace``. On an error the temporary file is removed and the destination (an
earlier complete result, say) is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory; move it to ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The destination. Check it first with
        :func:`polylens._validation.check_output_path`.
    suffix : str, optional
        Suffix of the temporary name (default: ``path``'s own), for writers that choose a
        format by suffix (``np.save`` adds ``.npy`` to a name without it).
    """
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix if suffix is None else suffix,
                               dir=dest.parent if str(dest.parent) else ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
