"""Finding the codes of a search again: an open-addressing hash table in arrays.

A search looks up every code it reaches across a facet among the regions it has found.
:class:`CodeIndex` keeps, per region, one 64-bit hash of its code and, per table slot,
the region it holds (a table of ``LOAD`` to twice as many slots as regions, linear
probing); a hit is confirmed against the region's stored code, so two codes with the
same hash are told apart. It holds 8 bytes a region for the hashes (up to 16 below
about half a million regions, where they are an ordinary array with room to grow) and 4
a slot (8 past 2**31 slots): 20 to 32 bytes a region in all, where a dictionary of
packed codes held a bytes object and a dictionary entry a region (about 300 bytes for a
net of 1,414 units).
"""

from __future__ import annotations

import functools

import numpy as np

from polylens.geometry.mapped_arrays import empty, resize

__all__ = ["CodeIndex"]

_MULTIPLIERS = np.random.default_rng(0x9E3779B97F4A7C15).integers(1, 2 ** 63, size=4096, dtype=np.int64).astype(
    np.uint64) | np.uint64(1)
"""Odd multipliers of the hash's words (a multilinear hash; fixed, so hashes are the
same in every run)."""


LOAD = 3
"""Slots per region at least (the table doubles when it would hold fewer): linear
probing at a load of a third or less stays short, most look-ups and insertions end at
their first or second slot."""


def code_hashes(codes: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every code (shape (m, n_units), int8) -> (m,) uint64.

    Raises
    ------
    None of its own
        Inputs are taken as validated by the search.
    """
    m, n = codes.shape
    width = -(-n // 8)
    words = np.zeros((m, width * 8), np.uint8)
    words[:, :n] = codes.view(np.uint8)
    words = words.view(np.uint64)
    h = (words * _weights(width)).sum(axis=1, dtype=np.uint64)  # integer arithmetic wraps around, silently
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return h


@functools.lru_cache(maxsize=16)
def _weights(width: int) -> np.ndarray:
    """The multipliers of ``width`` words (the fixed ones, repeated)."""
    return np.tile(_MULTIPLIERS, -(-width // _MULTIPLIERS.size))[:width]


class CodeIndex:
    """Region of each code found so far (see the module notes).

    Parameters
    ----------
    codes : callable
        ``codes(rows)`` -> the stored codes of regions ``rows`` (shape (len(rows), n_units)),
        against which a hit is confirmed.
    """

    def __init__(self, codes):
        self._codes = codes
        self._hashes = empty(64, (), np.uint64)  # the first ``_n`` rows are the regions'
        self._n = 0
        self._slots = _empty_slots(8)

    def __len__(self) -> int:
        return self._n

    def find(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Region of every code, and the codes' hashes.

        Parameters
        ----------
        codes : ndarray of shape (m, n_units), int8

        Returns
        -------
        regions : ndarray of shape (m,), int64
            -1 where the code is not indexed.
        hashes : ndarray of shape (m,), uint64

        Raises
        ------
        None of its own
        """
        h = code_hashes(codes)
        out = np.full(codes.shape[0], -1, np.int64)
        mask = np.uint64(self._slots.size - 1)
        pos = (h & mask).astype(np.int64)
        todo = np.arange(codes.shape[0])
        while todo.size:
            region = self._slots[pos[todo]]
            filled = region >= 0
            same = np.zeros(todo.size, bool)
            maybe = np.flatnonzero(filled)
            maybe = maybe[self._hashes[region[maybe]] == h[todo[maybe]]]
            if maybe.size:
                same[maybe] = np.all(self._codes(region[maybe]) == codes[todo[maybe]], axis=1)
            out[todo[same]] = region[same]
            todo = todo[filled & ~same]
            pos[todo] = (pos[todo] + 1) & int(mask)
        return out, h

    def add(self, hashes: np.ndarray) -> None:
        """Index the next regions (in order), of codes with these hashes.

        Parameters
        ----------
        hashes : ndarray of shape (n_new,), uint64
            From :meth:`find`, of codes it did not find, each once; their regions are
            the next ``n_new`` (their codes already stored).

        Raises
        ------
        None of its own
        """
        first, n = self._n, self._n + hashes.size
        if n > self._hashes.size:  # room for twice as many (amortised appends), in place where mapped
            resize(vars(self), "_hashes", 2 * n)
        self._hashes[first:n] = hashes
        self._n = n
        if LOAD * self._n > self._slots.size:
            size = self._slots.size
            while LOAD * self._n > size:
                size *= 2
            self._slots = _empty_slots(size)
            self._place(np.arange(self._n))
        else:
            self._place(np.arange(first, self._n))

    def truncate(self, n: int) -> None:
        """Forget every region from ``n`` on, as if they had never been added (the table
        is filled again from the regions kept: a region added later may sit on the
        probe path of an earlier one).

        Raises
        ------
        None of its own
            (``MemoryError`` where the system has no memory for the refill's temporaries;
            the index is then not to be used.)
        """
        if n >= self._n:
            return
        self._n = n
        self._slots.fill(-1)
        self._place(np.arange(n))

    def _place(self, regions: np.ndarray) -> None:
        """Put regions in free slots, probing from their hashes: each round, the regions
        at a free slot write themselves there, one of several reaching the same slot
        keeps it, and the others probe on (which one keeps it changes where regions sit,
        not what a look-up finds)."""
        mask = self._slots.size - 1
        pos = (self._hashes[regions] & np.uint64(mask)).astype(np.int64)
        while regions.size:
            free = self._slots[pos] < 0
            self._slots[pos[free]] = regions[free]
            won = self._slots[pos] == regions
            regions, pos = regions[~won], (pos[~won] + 1) & mask


def _empty_slots(size: int) -> np.ndarray:
    """A table of ``size`` free slots (-1), of 4-byte entries where they can number its
    regions (fewer than the slots); mapped from
    :data:`~polylens.geometry.mapped_arrays.MAPPED_BYTES` up, so that a dropped table's
    memory goes back to the system (where the C heap may keep it)."""
    slots = empty(size, (), np.int32 if size <= 2 ** 31 else np.int64)
    slots.fill(-1)
    return slots
