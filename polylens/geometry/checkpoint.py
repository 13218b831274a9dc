"""Checkpoint files of an enumeration: checking the path, writing, reading, validating.

A checkpoint is an uncompressed ``.npz`` archive of plain arrays (no pickles) that holds
the whole state of a search (:class:`~polylens.geometry.search_state.SearchState`):
every region found, finished or pending, the graph so far and the counters, with the
fingerprint of the net, domain and subspace it belongs to. The layout is the one earlier
versions wrote, so their checkpoints still resume. It is written atomically
(a temporary file moved into place), so an interruption while writing leaves the
previous checkpoint intact. Reading validates every array against :data:`LAYOUT` before
anything is used, so a corrupt, truncated or foreign file raises
:class:`~polylens.errors.CheckpointError` naming the file and what to do, never a
traceback from deep inside numpy or a silently wrong resumption.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from polylens._files import atomic_output
from polylens._validation import check_output_path
from polylens.errors import CheckpointError

__all__ = ["LAYOUT", "check_checkpoint_path", "write_checkpoint", "read_checkpoint"]

#: Every array of a checkpoint: dtype kind and shape, in sizes named by letters: ``n``
#: regions, ``u`` units, ``k`` dimensions, ``e`` edges, ``l`` crossed units over all
#: edges, ``v`` vertices, ``m`` output maps, ``o`` outputs plus one, ``d`` degenerate
#: notes; digits are fixed lengths.
LAYOUT: dict[str, tuple[str, tuple]] = {
    "fingerprint": ("U", ()),
    "codes": ("i", ("n", "u")),
    "status": ("i", ("n",)),
    "points": ("f", ("n", "k")),
    "radii": ("f", ("n",)),
    "bounded": ("b", ("n",)),
    "n_facets": ("i", ("n",)),
    "hints": ("f", ("n", 2, "k")),
    "edges": ("i", ("e", 2)),
    "edge_counts": ("i", ("e",)),
    "edge_unit_lengths": ("i", ("e",)),
    "edge_unit_values": ("i", ("l",)),
    "degenerate": ("U", ("d",)),
    "vertex_owner": ("i", ("v",)),
    "vertex_values": ("f", ("v", "k")),
    "map_owner": ("i", ("m",)),
    "map_values": ("f", ("m", "o", "k1")),
    "counters": ("f", (2,)),
}

_WHAT_TO_DO = "delete it (or pass another `checkpoint` path) to start afresh"


def check_checkpoint_path(path, *, func: str) -> Path:
    """The checkpoint path, checked before any work: a file (existing: the resume case)
    in a directory that exists and is writable.

    Raises
    ------
    InvalidParameterError
        If ``path`` is no path, names a directory, or its directory is missing or not
        writable, or it exists and is not writable.
    """
    return check_output_path(path, func=func, name="checkpoint", overwrite=True)


def write_checkpoint(path: Path, fingerprint: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (the names of :data:`LAYOUT` but ``fingerprint``) to ``path``
    atomically.

    Raises
    ------
    OSError
        If the file cannot be written (the previous file, if any, is then left as it was).
    """
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.array(fingerprint), **arrays)


def read_checkpoint(path: Path, fingerprint: str, *, n_units: int, k: int, n_outputs: int,
                    func: str, n_pieces: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The arrays of the checkpoint at ``path``, validated.

    Parameters
    ----------
    path : Path
    fingerprint : str
        Of the search that resumes (see ``enumeration._fingerprint``).
    n_units, k, n_outputs : int
        Of the net and space of that search.
    func : str
        The public function, named in errors.
    n_pieces : ndarray of shape (n_units,), int, optional
        Pieces of every unit: each code's entry must lie in ``[0, n_pieces)`` (the
        search finds codes again by keys that rely on it).

    Raises
    ------
    CheckpointError
        If the file is not a checkpoint (empty, truncated, corrupt, a directory, a
        missing array or one of the wrong shape or type, an index out of range), or
        belongs to another net, domain or subspace.
    """
    where = f"{func}: checkpoint {str(path)!r}"
    if path.is_dir():
        raise CheckpointError(f"{where} is a directory; pass a file path")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{where} is empty (an interrupted write?); {_WHAT_TO_DO}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = sorted(set(LAYOUT) - set(data.files))
            if missing:
                raise CheckpointError(f"{where} is not an enumeration checkpoint (no {', '.join(missing)}); "
                                      f"{_WHAT_TO_DO}")
            arrays = {name: data[name] for name in LAYOUT}
    except CheckpointError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        raise CheckpointError(f"{where} is corrupt or truncated ({type(err).__name__}: {err}); "
                              f"{_WHAT_TO_DO}") from err
    if str(arrays["fingerprint"]) != fingerprint:
        raise CheckpointError(f"{where} belongs to another net, domain or subspace; {_WHAT_TO_DO}")
    _validate(arrays, where, n_units=n_units, k=k, n_outputs=n_outputs, n_pieces=n_pieces)
    return arrays


def _validate(arrays: dict[str, np.ndarray], where: str, *, n_units: int, k: int, n_outputs: int,
              n_pieces: np.ndarray | None) -> None:
    """Check every array against :data:`LAYOUT`, the indices against their ranges and
    every unit's piece against its activation's pieces."""
    sizes: dict[str, int] = {"u": n_units, "k": k, "o": n_outputs, "k1": k + 1}
    for name, (kind, shape) in LAYOUT.items():
        arr = arrays[name]
        ok = arr.dtype.kind == kind or (kind == "i" and arr.dtype.kind == "u" and arr.size == 0) \
            or (kind == "U" and arr.size == 0)
        ok = ok and arr.ndim == len(shape)
        for dim, n in zip(shape, arr.shape) if ok else ():
            want = sizes.setdefault(dim, n) if isinstance(dim, str) else dim
            ok = ok and n == want
        if not ok:
            raise CheckpointError(f"{where} is damaged or of another version: array {name!r} has "
                                  f"shape {arr.shape} and dtype {arr.dtype}; {_WHAT_TO_DO}")
    n = arrays["codes"].shape[0]
    status, owner = arrays["status"], arrays["vertex_owner"]
    pending = np.flatnonzero(status == 0)  # regions are expanded in order: none done after a pending one
    checks = [
        ("codes", len(set(map(bytes, arrays["codes"]))) == n and (n_pieces is None or n == 0 or bool(
            np.all((arrays["codes"] >= 0) & (arrays["codes"] < n_pieces))))),
        ("status", np.isin(status, (0, 1, 2)).all() and (pending.size == 0 or bool(np.all(status[pending[0]:] == 0)))),
        ("edges", arrays["edges"].size == 0 or (arrays["edges"].min() >= 0 and arrays["edges"].max() < n)),
        ("edge_unit_lengths", arrays["edge_unit_lengths"].size == 0 or (
            arrays["edge_unit_lengths"].min() >= 0 and arrays["edge_unit_lengths"].sum() == sizes["l"])),
        ("edge_unit_values", arrays["edge_unit_values"].size == 0 or (
            arrays["edge_unit_values"].min() >= 0 and arrays["edge_unit_values"].max() < n_units)),
        ("vertex_owner", _owners_ok(owner, n, contiguous=True) and bool(np.all(status[owner] == 1))),  # of done regions
        ("map_owner", _owners_ok(arrays["map_owner"], n, contiguous=False)),
        ("counters", bool(np.all(np.isfinite(arrays["counters"])))),
    ]
    for name, ok in checks:
        if not ok:
            raise CheckpointError(f"{where} is damaged: array {name!r} is inconsistent with the rest; {_WHAT_TO_DO}")


def _owners_ok(owner: np.ndarray, n: int, *, contiguous: bool) -> bool:
    """Whether region indices ``owner`` lie in ``[0, n)`` and each region's entries form
    one block (``contiguous``) or each region appears once."""
    if owner.size == 0:
        return True
    if owner.min() < 0 or owner.max() >= n:
        return False
    if contiguous:
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        return np.unique(owner[starts]).size == starts.size
    return np.unique(owner).size == owner.size
