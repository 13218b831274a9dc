"""Bit-packed polytope codes: :class:`Codes`, their layout, and the on-disk store.

Bit order
---------
The unpacked code of a sample is the concatenation of its sites' codes, in the order the
sites ran in the model's forward pass. Within a site, units are in C order of the
per-sample unit shape (for a ``(T, H)`` sequence site: token by token; for max pooling:
the windows, in the order of the pooled output), and each unit has consecutive bits:
a unit with ``m`` boundaries has ``m`` bits, bit ``j`` being ``z > b_j`` (thermometer
code), a max-pooling window of ``K`` positions has ``K`` bits, one set at its arg-max
(one-hot code; see :mod:`polylens.sampling.sites`). For a ``nn.Sequential`` MLP this is the unit order of
:meth:`polylens.PWLNet.codes`: layer by layer, units in order, one bit per ReLU with
``1 = on``.

Packing: every site starts on a byte boundary (its last byte is padded with zero bits),
and bit ``i`` of a site is bit ``i % 8`` (least significant first, numpy's
``bitorder="little"``) of the site's byte ``i // 8``. Hamming distances are therefore
XOR + popcount over whole bytes, per site or in total.

On disk a store is two files: ``<name>.npy`` (the packed array, ``uint8`` of shape
``(n, n_bytes)``, readable with ``np.load(..., mmap_mode="r")``) and
``<name>.layout.json`` (the layout).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from polylens._files import atomic_output
from polylens._repr import short_repr
from polylens._validation import check_output_path, invalid
from polylens.sampling.bits import pack_bits, unpack_bits

__all__ = ["SiteLayout", "CodeLayout", "Codes", "CodeStore", "check_store_path"]


@short_repr
@dataclass(frozen=True)
class SiteLayout:
    """Where one site's bits are in a code.

    Attributes
    ----------
    name : str
        Site name (see :mod:`polylens.sampling.sites`).
    kind : str
        Module class, function name (``"relu()"``) or ``"output"``.
    shape : tuple of int
        Per-sample unit shape (the activation's, or the pooled output's for max
        pooling); ``n_units = prod(shape)``.
    bits_per_unit : int
        Boundaries per unit (1 for ReLU-like units, 2 for Hardtanh/ReLU6), or window size
        for max pooling.
    thresholds : tuple of float
        The boundaries (bit ``j`` of a unit is ``value > thresholds[j]``); empty for max
        pooling.
    approximate : bool
        True for smooth activations and output-sign sites.
    encoding : {"thermometer", "one-hot"}
        One-hot for max pooling: one change of arg-max flips two bits.
    bit_offset : int
        Position of the site's first bit in the unpacked code.
    byte_offset : int
        Position of the site's first byte in the packed code.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    bits_per_unit: int
    thresholds: tuple[float, ...]
    approximate: bool
    encoding: str
    bit_offset: int
    byte_offset: int

    @property
    def bits_per_change(self) -> int:
        """Bits that one boundary crossing flips: 2 for one-hot sites, else 1."""
        return 2 if self.encoding == "one-hot" else 1

    @property
    def n_units(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_bits(self) -> int:
        return self.n_units * self.bits_per_unit

    @property
    def n_bytes(self) -> int:
        return (self.n_bits + 7) // 8

    @property
    def positions(self) -> int | None:
        """Number of token positions of a sequence site (per-sample shape ``(T, H)``), else None."""
        return self.shape[0] if len(self.shape) == 2 else None


@short_repr
@dataclass(frozen=True)
class CodeLayout:
    """The sites of a code, in order.

    Attributes
    ----------
    sites : tuple of SiteLayout
    """

    sites: tuple[SiteLayout, ...]

    @classmethod
    def build(cls, specs) -> "CodeLayout":
        """Lay out sites given as ``(name, kind, shape, bits_per_unit, thresholds,
        approximate, encoding)`` tuples, in order.

        Raises
        ------
        ValueError
            If a site's encoding is neither ``"thermometer"`` nor ``"one-hot"``.
        """
        sites, bit, byte = [], 0, 0
        for name, kind, shape, bits_per_unit, thresholds, approximate, encoding in specs:
            if encoding not in ("thermometer", "one-hot"):
                raise ValueError(f"CodeLayout: site {name!r} has unknown encoding {encoding!r}")
            site = SiteLayout(name, kind, tuple(int(v) for v in shape), int(bits_per_unit),
                              tuple(float(v) for v in thresholds), bool(approximate), encoding, bit, byte)
            sites.append(site)
            bit += site.n_bits
            byte += site.n_bytes
        return cls(tuple(sites))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sites]

    @property
    def n_bits(self) -> int:
        return sum(s.n_bits for s in self.sites)

    @property
    def n_bytes(self) -> int:
        return sum(s.n_bytes for s in self.sites)

    @property
    def n_units(self) -> int:
        return sum(s.n_units for s in self.sites)

    @property
    def approximate(self) -> bool:
        """True if any site is approximate."""
        return any(s.approximate for s in self.sites)

    def site(self, name: str) -> SiteLayout:
        """The layout of the site called ``name``.

        Raises
        ------
        KeyError
            If no site is called ``name``.
        """
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(f"no site named {name!r}; sites: {self.names}")

    @cached_property
    def bit_columns(self) -> np.ndarray:
        """Column of every code bit in ``np.unpackbits(packed, bitorder="little")``, shape (n_bits,)."""
        parts = [8 * s.byte_offset + np.arange(s.n_bits) for s in self.sites]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    @cached_property
    def byte_starts(self) -> np.ndarray:
        """First byte of every site, shape (n_sites,) (for ``np.add.reduceat``)."""
        return np.array([s.byte_offset for s in self.sites], dtype=np.int64)

    def unit_of_bit(self) -> np.ndarray:
        """Global unit index of every bit, shape (n_bits,), int.

        Raises
        ------
        None of its own
        """
        parts, unit = [], 0
        for s in self.sites:
            parts.append(unit + np.repeat(np.arange(s.n_units), s.bits_per_unit))
            unit += s.n_units
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def token_positions(self) -> np.ndarray:
        """Token position of every bit, shape (n_bits,): the index along the first axis of
        a sequence site's per-sample shape ``(T, H)``; -1 for other sites.

        Raises
        ------
        None of its own
        """
        parts = []
        for s in self.sites:
            if s.positions is None:
                parts.append(np.full(s.n_bits, -1))
            else:
                parts.append(np.repeat(np.arange(s.positions), s.n_bits // s.positions))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def select(self, names) -> "CodeLayout":
        """The layout of a subset of sites (in this layout's order).

        Raises
        ------
        KeyError
            If ``names`` holds a name that is no site of this layout.
        """
        names = set(names)
        missing = names - set(self.names)
        if missing:
            raise KeyError(f"no sites named {sorted(missing)}; sites: {self.names}")
        return CodeLayout.build(
            (s.name, s.kind, s.shape, s.bits_per_unit, s.thresholds, s.approximate, s.encoding)
            for s in self.sites if s.name in names
        )

    def to_json(self) -> str:
        """The layout as JSON text (what ``<name>.layout.json`` holds; see :meth:`from_json`).

        Raises
        ------
        None of its own
        """
        return json.dumps({"sites": [asdict(s) for s in self.sites]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "CodeLayout":
        """The layout written by :meth:`to_json`.

        Raises
        ------
        json.JSONDecodeError
            If ``text`` is not JSON (a ``ValueError``).
        KeyError, TypeError
            If ``text`` is JSON without a ``"sites"`` list of :class:`SiteLayout` fields.
        """
        sites = []
        for d in json.loads(text)["sites"]:
            d["shape"], d["thresholds"] = tuple(d["shape"]), tuple(d["thresholds"])
            sites.append(SiteLayout(**d))
        return cls(tuple(sites))


@short_repr
@dataclass(frozen=True)
class Codes:
    """Bit-packed polytope codes of ``n`` samples.

    Attributes
    ----------
    packed : ndarray of shape (n, n_bytes), uint8
        In memory or a read-only memmap (:meth:`load`).
    layout : CodeLayout

    Examples
    --------
    >>> layout = CodeLayout.build([("relu", "ReLU", (3,), 1, (0.0,), False, "thermometer")])
    >>> c = Codes.from_bits([[1, 0, 1], [0, 0, 1]], layout)
    >>> c.packed
    array([[5],
           [4]], dtype=uint8)
    >>> c.unpack().astype(int)
    array([[1, 0, 1],
           [0, 0, 1]])
    """

    packed: np.ndarray
    layout: CodeLayout

    def __post_init__(self):
        p = self.packed
        if not isinstance(p, np.ndarray) or p.dtype != np.uint8 or p.ndim != 2 or p.shape[1] != self.layout.n_bytes:
            raise ValueError(
                f"Codes: `packed` must be a uint8 array of shape (n, {self.layout.n_bytes}); "
                f"got {type(p).__name__} {getattr(p, 'dtype', '')} {getattr(p, 'shape', '')}"
            )

    @classmethod
    def from_bits(cls, bits, layout: CodeLayout) -> "Codes":
        """Codes from unpacked bits of shape (n, n_bits).

        Raises
        ------
        ValueError
            If ``bits`` does not have shape (n, layout.n_bits) (from
            :func:`~polylens.sampling.bits.pack_bits`).
        """
        return cls(pack_bits(bits, layout), layout)

    def __len__(self) -> int:
        return int(self.packed.shape[0])

    def __getitem__(self, rows) -> "Codes":
        """The codes of some rows (an int keeps the row axis)."""
        if isinstance(rows, (int, np.integer)):
            rows = slice(int(rows), int(rows) + 1 if rows != -1 else None)
        return Codes(np.asarray(self.packed[rows]), self.layout)

    @property
    def n_bits(self) -> int:
        return self.layout.n_bits

    @property
    def n_bytes(self) -> int:
        return self.layout.n_bytes

    @property
    def approximate(self) -> bool:
        """True if any site's code is approximate (smooth activations, output signs)."""
        return self.layout.approximate

    @property
    def sites(self) -> list[str]:
        return self.layout.names

    def unpack(self) -> np.ndarray:
        """Unpacked codes, bool of shape (n, n_bits) (slice rows first for big stores).

        Raises
        ------
        None of its own
        """
        return unpack_bits(self.packed, self.layout)

    def pieces(self) -> np.ndarray:
        """Piece of every unit, int8 of shape (n, n_units), comparable with
        ``PWLNet.codes``: the number of bits set (0/1 for ReLU-like units, 0/1/2 for
        Hardtanh) or, for max pooling, the position of the set bit (the arg-max).

        Raises
        ------
        None of its own
        """
        bits = self.unpack()
        parts = []
        for s in self.layout.sites:
            unit_bits = bits[:, s.bit_offset:s.bit_offset + s.n_bits].reshape(len(bits), s.n_units, s.bits_per_unit)
            if s.encoding == "one-hot":
                parts.append(np.argmax(unit_bits, axis=2).astype(np.int8))
            else:
                parts.append(unit_bits.sum(axis=2, dtype=np.int8))
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(bits), 0), np.int8)

    def select(self, sites) -> "Codes":
        """The codes of a subset of sites (names, in this layout's order).

        Raises
        ------
        KeyError
            If ``sites`` names a site that is not in the layout.
        ValueError
            If ``sites`` is empty.
        """
        sub = self.layout.select(sites)
        if not sub.sites:
            raise ValueError("Codes.select: `sites` is empty")
        cols = np.concatenate([
            np.arange(s.byte_offset, s.byte_offset + s.n_bytes)
            for s in self.layout.sites if s.name in set(sub.names)
        ])
        return Codes(np.ascontiguousarray(self.packed[:, cols]), sub)

    def save(self, path: str | os.PathLike, chunk_rows: int = 65536, *, overwrite: bool = False) -> Path:
        """Write ``<path>.npy`` and ``<path>.layout.json`` (in chunks); returns the ``.npy`` path.

        An existing store at ``path`` is refused unless ``overwrite=True`` (see
        :class:`CodeStore`); a memory-mapped store cannot be saved over itself.

        Raises
        ------
        polylens.errors.InvalidParameterError
            If ``path`` is not a path, names a directory, lies in a missing or read-only
            directory, is the memory-mapped store being saved, or names an existing store while
            ``overwrite`` is false (from :func:`check_store_path`, before anything is written).
        OSError
            If writing the files fails (the target is then left as it was).
        """
        inputs = [self.packed.filename] if isinstance(self.packed, np.memmap) and self.packed.filename else []
        with CodeStore(path, self.layout, overwrite=overwrite, inputs=inputs, func="Codes.save") as store:
            for i in range(0, len(self), chunk_rows):
                store.append(np.asarray(self.packed[i:i + chunk_rows]))
        return store.path

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> "Codes":
        """Read a store written by :func:`polylens.sampling.codes` or :meth:`save`.

        Parameters
        ----------
        path : path
            The ``.npy`` file (the ``.layout.json`` file must sit next to it).
        mmap : bool, default=True
            Memory-map the array read-only instead of reading it into memory.

        Raises
        ------
        FileNotFoundError
            If the ``.npy`` file or the ``.layout.json`` file next to it is missing.
        ValueError
            If the ``.npy`` file is not an array file, the layout file is not a layout (a
            ``json.JSONDecodeError``), or the array does not have the layout's ``(n, n_bytes)``
            uint8 shape.
        """
        npy = _npy_path(path)
        meta = _layout_path(npy)
        if not meta.exists():
            raise FileNotFoundError(f"Codes.load: no layout file {meta} next to {npy} (was the store completed?)")
        layout = CodeLayout.from_json(meta.read_text())
        return cls(np.load(npy, mmap_mode="r" if mmap else None), layout)


class CodeStore:
    """Append-only ``.npy`` writer for packed codes, memory-bounded.

    Rows are appended to a temporary file beside the target as they come; on
    :meth:`close` the header (shape) is rewritten and, only when the store is complete,
    the file and its layout are moved into place. An earlier store at the target is
    untouched until then, so a failing run leaves it as it was, and :meth:`Codes.load`
    never reads a half-written store.

    Parameters
    ----------
    path : path
        Target ``.npy`` file (the suffix is added if missing).
    layout : CodeLayout
    overwrite : bool, default=False
        Replace an existing store at ``path``; otherwise an existing ``.npy`` or
        ``.layout.json`` file there is refused before anything is written.
    inputs : sequence of paths, optional
        Files the caller reads; the store may not be one of them.
    func, name : str, default="CodeStore", "path"
        The public function and its parameter named in error messages.
    """

    _HEADER = 128  # bytes; a multiple of 64 as the .npy format asks

    def __init__(self, path: str | os.PathLike, layout: CodeLayout, *, overwrite: bool = False, inputs=(),
                 func: str = "CodeStore", name: str = "path"):
        self.path = check_store_path(path, func=func, name=name, overwrite=overwrite, inputs=inputs)
        self.layout = layout
        self.n = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._file.write(self._header())

    def _header(self) -> bytes:
        text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({self.n}, {self.layout.n_bytes}), }}"
        text = text.ljust(self._HEADER - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")

    def append(self, packed: np.ndarray) -> None:
        """Append rows of shape (m, n_bytes), uint8.

        Raises
        ------
        ValueError
            If ``packed`` is not uint8 of shape (m, layout.n_bytes).
        """
        if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != self.layout.n_bytes:
            raise ValueError(
                f"CodeStore.append: rows must be uint8 of shape (m, {self.layout.n_bytes}); got {packed.shape}"
            )
        self._file.write(np.ascontiguousarray(packed).tobytes())
        self.n += packed.shape[0]

    def close(self, complete: bool = True) -> None:
        """Finish the file; when ``complete``, move it and its layout into place, else
        delete it (an earlier store at the target stays as it was).

        Raises
        ------
        None of its own
            An ``OSError`` from the file system (writing the header, moving the files) passes
            through; when ``complete`` is false the temporary file is deleted in any case.
        """
        if self._file.closed:
            return
        try:
            if complete:
                self._file.seek(0)
                self._file.write(self._header())
        finally:
            self._file.close()
        if not complete:
            self._tmp.unlink(missing_ok=True)
            return
        layout = _layout_path(self.path)
        with atomic_output(layout) as tmp_layout:
            tmp_layout.write_text(self.layout.to_json())
            # the old layout goes first: a crash between the two moves leaves a store that
            # Codes.load refuses (no layout), never new codes read with an old layout
            layout.unlink(missing_ok=True)
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "CodeStore":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def check_store_path(path, *, func: str, overwrite: bool = False, inputs=(), name: str = "store") -> Path:
    """The ``.npy`` path of a code store that may be written now (see :class:`CodeStore`).

    Refuses, before any work: a missing or read-only directory, a directory, a store that
    exists (its ``.npy`` or its ``.layout.json``) unless ``overwrite``, and a store that
    is one of ``inputs``.

    Raises
    ------
    polylens.errors.InvalidParameterError
        If ``path`` is not a file path, names a directory, lies in a missing or read-only
        directory, is one of ``inputs``, or its ``.npy`` or ``.layout.json`` file exists while
        ``overwrite`` is false (or exists read-only).
    """
    try:
        npy = _npy_path(os.fspath(path))
    except TypeError:
        raise invalid(func, name, "a file path (str or os.PathLike)", path) from None
    check_output_path(npy, func=func, name=name, overwrite=overwrite, inputs=inputs)
    check_output_path(_layout_path(npy), func=func, name=name, overwrite=overwrite, inputs=inputs)
    return npy


def _npy_path(path) -> Path:
    path = Path(path)
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


def _layout_path(npy: Path) -> Path:
    return npy.with_name(npy.name[: -len(".npy")] + ".layout.json")
