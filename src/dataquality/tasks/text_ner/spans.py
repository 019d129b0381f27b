"""Flat span arrays: many samples' token-level spans in four aligned numpy columns.

A span is ``(start, end, type)`` over the tokens of one sample, ``end`` exclusive. The batch
functions of :mod:`dataquality.tasks.text_ner` take and return :class:`SpanArrays` so that 50k sentences are
handled without a Python loop per sample; the per-sample functions wrap them.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple, Sequence

import numpy as np

from ...exceptions import LabelError, SchemaError


class SpanArrays(NamedTuple):
    """Token-level spans of many samples, one row per span, sorted by (sample, start).

    Attributes
    ----------
    sample : numpy.ndarray of int64, shape (n_spans,)
        Index of the sample the span belongs to (0 .. n_samples - 1).
    start, end : numpy.ndarray of int64, shape (n_spans,)
        Token positions inside the sample; ``end`` is exclusive, ``start < end``.
    type_id : numpy.ndarray of int64, shape (n_spans,)
        Index of the entity type in the type list the arrays were built with.
    """

    sample: np.ndarray
    start: np.ndarray
    end: np.ndarray
    type_id: np.ndarray

    def __len__(self) -> int:  # the number of spans, not the number of columns
        return int(self.sample.shape[0])


def empty_spans() -> SpanArrays:
    """A :class:`SpanArrays` with no rows."""
    z = np.zeros(0, np.int64)
    return SpanArrays(z, z.copy(), z.copy(), z.copy())


def check_span(span, *, where: str, argument: str, sample: int | None = None) -> tuple[int, int, Hashable]:
    """A ``(start, end, type)`` triple with integer ``0 <= start < end``, or SchemaError."""
    at = "" if sample is None else f" in sample {sample}"
    try:
        s, e, t = span
        s, e = int(s), int(e)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{where}: every span in `{argument}` must be a (start, end, type) triple of two "
            f"token positions and an entity type; got {span!r}{at}."
        ) from None
    if not 0 <= s < e:
        within = f"in `{argument}`" if sample is None else f"in sample {sample} of `{argument}`"
        raise SchemaError(f"{where}: span {span!r} {within} must have 0 <= start < end (end exclusive).")
    return s, e, t


def spans_to_arrays(
    spans_per_sample: Sequence[Sequence[tuple[int, int, Hashable]]],
    types: Sequence[Hashable],
    *,
    where: str = "spans_to_arrays",
    argument: str = "spans_per_sample",
) -> SpanArrays:
    """Pack per-sample lists of ``(start, end, type)`` into :class:`SpanArrays`.

    Parameters
    ----------
    spans_per_sample : sequence of sequences of (int, int, type)
        Token-level spans per sample, ``end`` exclusive.
    types : sequence of hashable
        The entity types; ``type_id`` is the position of a span's type in it.
    where, argument : str
        Function and argument named in error messages.

    Returns
    -------
    SpanArrays
        Sorted by (sample, start, end).

    Raises
    ------
    SchemaError
        A span is not a triple of two integers and a type, or has ``start >= end`` or ``start < 0``.
    LabelError
        A span's type is not in ``types``.
    """
    index = {t: i for i, t in enumerate(types)}
    rows: list[tuple[int, int, int, int]] = []
    for i, spans in enumerate(spans_per_sample):
        for span in spans:
            s, e, t = check_span(span, where=where, argument=argument, sample=i)
            if t not in index:
                raise LabelError(
                    f"{where}: span {span!r} in sample {i} of `{argument}` has the unknown entity type "
                    f"{t!r}; known types: {list(types)}."
                )
            rows.append((i, s, e, index[t]))
    if not rows:
        return empty_spans()
    a = np.asarray(rows, dtype=np.int64)
    a = a[np.lexsort((a[:, 2], a[:, 1], a[:, 0]))]
    return SpanArrays(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())


def arrays_to_spans(
    spans: SpanArrays, n_samples: int, types: Sequence[Hashable]
) -> list[list[tuple[int, int, Hashable]]]:
    """Unpack :class:`SpanArrays` into one list of ``(start, end, type)`` per sample.

    Parameters
    ----------
    spans : SpanArrays
    n_samples : int
        Number of samples; samples without spans get an empty list.
    types : sequence of hashable
        Maps ``type_id`` back to the type.

    Returns
    -------
    list of list of (int, int, type)
    """
    out: list[list[tuple[int, int, Hashable]]] = [[] for _ in range(n_samples)]
    for i, s, e, t in zip(spans.sample.tolist(), spans.start.tolist(), spans.end.tolist(),
                          spans.type_id.tolist()):
        out[i].append((s, e, types[t]))
    return out


def check_offsets(offsets, n_tokens: int, *, where: str, argument: str = "offsets") -> np.ndarray:
    """Validate sample boundaries into a flat token array and return them as int64.

    Parameters
    ----------
    offsets : array-like of int, shape (n_samples + 1,)
        Sample ``i`` owns flat tokens ``offsets[i]:offsets[i + 1]``; ``offsets[0] == 0``,
        non-decreasing, ``offsets[-1] == n_tokens``.
    n_tokens : int
        Length of the flat token axis.
    where, argument : str
        Function and argument named in error messages.

    Returns
    -------
    numpy.ndarray of int64, shape (n_samples + 1,)

    Raises
    ------
    SchemaError
        The offsets are not 1-D integers, do not start at 0, decrease, or do not end at ``n_tokens``.
    """
    off = np.asarray(offsets)
    if off.ndim != 1 or off.size == 0 or not np.issubdtype(off.dtype, np.integer):
        raise SchemaError(
            f"{where}: `{argument}` must be a 1-D integer array of n_samples + 1 sample boundaries "
            f"starting at 0; got dtype {off.dtype} and shape {off.shape}."
        )
    off = off.astype(np.int64)
    if off[0] != 0 or off[-1] != n_tokens or (off.size > 1 and np.any(np.diff(off) < 0)):
        raise SchemaError(
            f"{where}: `{argument}` must start at 0, never decrease and end at the number of tokens "
            f"({n_tokens}); got {off[:3].tolist()}{'...' if off.size > 3 else ''} ending at {int(off[-1])}."
        )
    return off
