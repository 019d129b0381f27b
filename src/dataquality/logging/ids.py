"""The ids logged so far for one split (or one split and epoch), to reject duplicates early."""

from __future__ import annotations

from typing import Any

import numpy as np

_BITMAP_MIN_IDS = 1 << 22  # integer ids below this may always use a bitmap (at most 4 MiB)
_BITMAP_BYTES_PER_ID = 16  # beyond that, a bitmap may take this many bytes per id it holds


class IdSet:
    """The ids logged so far for one split (or one split and epoch), to reject duplicates early.

    Non-negative integer ids live in a numpy boolean bitmap indexed by id, grown as needed, so a
    batch is checked and added with a few vectorised operations and memory does not depend on
    how many batches brought the ids. Strings, negative ids and ids so large that the bitmap would
    take more than ``max(4 MiB, 16 bytes per id held)`` live in a Python set instead.

    :meth:`check` changes nothing a caller can see; :meth:`add` adds a checked batch.
    """

    __slots__ = ("_bitmap", "_set", "_count", "_checked")

    def __init__(self) -> None:
        self._bitmap = np.zeros(0, dtype=bool)
        self._set: set | None = None
        self._count = 0
        self._checked: np.ndarray | None = None  # the last batch check() passed for the bitmap

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: Any) -> bool:
        if self._set is not None:
            return value in self._set
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return 0 <= value < self._bitmap.size and bool(self._bitmap[value])
        return False

    def check(self, ids: np.ndarray) -> tuple[list, list]:
        """Return ``(repeated, clash)``: ids that repeat within ``ids`` (then ``clash`` is not
        computed) and ids of ``ids`` already in the set; both empty for a batch that may be added.

        ``ids`` is a 1-D ``int64`` array or an object array of ``str`` (see ``check_ids``).
        """
        self._checked = None
        n = ids.shape[0]
        if ids.dtype.kind == "i":
            if n == 0:
                return [], []
            # (count_nonzero: a fraction of the cost of .any()/.all() on a small array)
            if n == 1 or not np.count_nonzero(ids[1:] <= ids[:-1]):  # increasing (the usual batch): no repeats
                lo, hi = int(ids[0]), int(ids[-1])
            else:
                order = np.sort(ids)
                if (order[1:] == order[:-1]).any():
                    return repeats(ids.tolist()), []
                lo, hi = int(order[0]), int(order[-1])
            if self._set is None and lo >= 0 and hi < max(_BITMAP_MIN_IDS, _BITMAP_BYTES_PER_ID * (self._count + n)):
                if hi >= self._bitmap.size:
                    self._grow(hi + 1)
                hit = self._bitmap[ids]
                if np.count_nonzero(hit):
                    return [], ids[hit].tolist()
                self._checked = ids
                return [], []
            self._to_set()
            values = ids.tolist()
        else:
            values = ids.tolist()
            if len(set(values)) != n:
                return repeats(values), []
            if self._set is None:
                self._to_set()
        if self._set.isdisjoint(values):
            return [], []
        return [], [v for v in values if v in self._set]

    def discard(self, ids: np.ndarray) -> None:
        """Take back a batch just :meth:`add`-ed (its ids were not in the set before)."""
        if self._set is None:
            self._bitmap[ids] = False
        else:
            self._set.difference_update(ids.tolist())
        self._count -= ids.shape[0]

    def add(self, ids: np.ndarray) -> None:
        """Add a batch that :meth:`check` passed (and nothing was added since)."""
        if ids is self._checked:
            self._bitmap[ids] = True
        else:
            if self._set is None:
                self._to_set()
            self._set.update(ids.tolist())
        self._checked = None
        self._count += ids.shape[0]

    def _grow(self, size: int) -> None:
        new = np.zeros(max(size, 2 * self._bitmap.size, 1 << 16), dtype=bool)
        new[: self._bitmap.size] = self._bitmap
        self._bitmap = new

    def _to_set(self) -> None:
        if self._set is None:
            self._set = set(np.flatnonzero(self._bitmap).tolist())
            self._bitmap = np.zeros(0, dtype=bool)


def repeats(values: list) -> list:
    """The values that occur more than once in ``values`` (the first ten, in order)."""
    seen, dups = set(), []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
            if len(dups) >= 10:
                break
        seen.add(v)
    return dups
