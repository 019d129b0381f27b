"""Decoding tag sequences into spans and encoding spans into tags, per tagging schema.

The schemas and the rules for malformed sequences are described in :mod:`.tagging`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...exceptions import ConfigurationError, LabelError, SchemaError
from .spans import SpanArrays, arrays_to_spans, check_offsets, empty_spans, spans_to_arrays
from .tagging import BEGIN, INSIDE, LAST, OUTSIDE, PREFIX_CODES, UNIT, TagSet

MODES = ("lenient", "strict")


def _check_mode(mode: str, where: str) -> None:
    if mode not in MODES:
        raise ConfigurationError(f"{where}: `mode` must be 'lenient' or 'strict'; got {mode!r}.")


def _as_tag_ids(tag_ids, parsed: TagSet, *, where: str, argument: str) -> np.ndarray:
    arr = np.asarray(tag_ids)
    if arr.ndim != 1:
        raise SchemaError(
            f"{where}: `{argument}` must be a 1-D sequence of tag ids (or tag strings); got shape {arr.shape}."
        )
    if arr.size and (arr.dtype.kind in "UO"):
        return parsed.ids_of(list(arr.tolist()), where=where, argument=argument)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise SchemaError(
            f"{where}: `{argument}` must hold integer tag ids (logit columns) or tag strings; "
            f"got dtype {arr.dtype}."
        )
    bad = np.flatnonzero((arr < 0) | (arr >= parsed.n_labels))
    if bad.size:
        raise SchemaError(
            f"{where}: `{argument}` must hold column indices in [0, {parsed.n_labels}) of the "
            f"{parsed.n_labels} labels; got {int(arr[bad[0]])} at position {int(bad[0])}."
        )
    return arr.astype(np.int64, copy=False)


def decode_batch(tag_ids, offsets, parsed: TagSet, *, mode: str = "lenient") -> SpanArrays:
    """Decode the spans of many samples at once from a flat array of tag ids.

    Parameters
    ----------
    tag_ids : array-like of int, shape (n_tokens,)
        Tag ids (logit columns, e.g. the argmax of the logits) of all samples, concatenated.
    offsets : array-like of int, shape (n_samples + 1,)
        Sample ``i`` owns ``tag_ids[offsets[i]:offsets[i + 1]]``.
    parsed : TagSet
        From :func:`parse_labels`.
    mode : {"lenient", "strict"}
        How malformed sequences decode; see the module docstring.

    Returns
    -------
    SpanArrays
        ``start``/``end`` are positions inside each sample, ``type_id`` indexes
        ``parsed.entity_types``; sorted by (sample, start).

    Raises
    ------
    SchemaError
        Ids outside ``[0, k)`` or offsets that do not partition ``tag_ids``.
    ConfigurationError
        Unknown ``mode``.

    Notes
    -----
    Vectorised: a continuation mask from each token and its predecessor, then span starts and ends
    from that mask; no loop over samples or tokens.
    """
    where = "decode_batch"
    _check_mode(mode, where)
    ids = _as_tag_ids(tag_ids, parsed, where=where, argument="tag_ids")
    off = check_offsets(offsets, ids.size, where=where)
    n = ids.size
    if n == 0:
        return empty_spans()
    p = parsed.prefix_codes[ids]
    t = parsed.type_ids[ids]
    cont = np.zeros(n, bool)
    cont[1:] = (
        ((p[1:] == INSIDE) | (p[1:] == LAST))
        & ((p[:-1] == BEGIN) | (p[:-1] == INSIDE))
        & (t[1:] == t[:-1])
    )
    firsts = off[:-1][np.diff(off) > 0]
    cont[firsts] = False  # a chain never crosses into the next sample
    entity = p != OUTSIDE
    starts = np.flatnonzero(entity & ~cont)
    nxt = np.zeros(n, bool)
    nxt[:-1] = cont[1:]
    ends = np.flatnonzero(entity & ~nxt) + 1
    if mode == "strict":
        ok = (p[starts] == BEGIN) | (p[starts] == UNIT)
        if parsed.schema != "BIO":
            ok &= (p[ends - 1] == LAST) | (p[ends - 1] == UNIT)
        starts, ends = starts[ok], ends[ok]
    sample = np.searchsorted(off, starts, side="right") - 1
    return SpanArrays(sample, starts - off[sample], ends - off[sample], t[starts])


def decode(tag_ids, parsed: TagSet, *, mode: str = "lenient") -> list[tuple[int, int, str]]:
    """Decode the spans of one tag sequence.

    Parameters
    ----------
    tag_ids : array-like of int or of str, shape (n_tokens,)
        Tag ids (logit columns) or tag strings of one sample.
    parsed : TagSet
        From :func:`parse_labels`.
    mode : {"lenient", "strict"}
        How malformed sequences decode; see the module docstring.

    Returns
    -------
    list of (int, int, str)
        ``(start_token, end_token_exclusive, entity_type)`` sorted by start.

    Raises
    ------
    SchemaError
        Ids outside ``[0, k)`` or not 1-D.
    LabelError
        A tag string that is not among the labels.

    Examples
    --------
    >>> ts = parse_labels(["O", "B-PER", "I-PER"], "BIO")
    >>> decode(["B-PER", "I-PER", "O", "I-PER"], ts)
    [(0, 2, 'PER'), (3, 4, 'PER')]
    >>> decode(["B-PER", "I-PER", "O", "I-PER"], ts, mode="strict")
    [(0, 2, 'PER')]
    """
    _check_mode(mode, "decode")
    ids = _as_tag_ids(tag_ids, parsed, where="decode", argument="tag_ids")
    spans = decode_batch(ids, [0, ids.size], parsed, mode=mode)
    return arrays_to_spans(spans, 1, parsed.entity_types)[0]


def encode_batch(spans: SpanArrays, offsets, parsed: TagSet) -> np.ndarray:
    """Well-formed tag ids of many samples from their token-level spans.

    Parameters
    ----------
    spans : SpanArrays
        ``type_id`` indexes ``parsed.entity_types``.
    offsets : array-like of int, shape (n_samples + 1,)
        Sample ``i`` owns flat tokens ``offsets[i]:offsets[i + 1]``.
    parsed : TagSet

    Returns
    -------
    numpy.ndarray of int64, shape (n_tokens,)
        ``O`` everywhere outside spans; BIO: ``B I I``; BILOU: ``B I L`` and ``U`` for one token;
        BIOES: ``B I E`` and ``S``.

    Raises
    ------
    SchemaError
        A span outside its sample, with ``start >= end``, or overlapping another span.
    LabelError
        A ``type_id`` out of range, or a tag the encoding needs that is not among the labels.
    """
    where = "encode"
    raw = np.asarray(offsets)
    off = check_offsets(raw, int(raw[-1]) if raw.ndim == 1 and raw.size else 0, where=where)
    n_tok, n_samples = int(off[-1]), off.size - 1
    out = np.full(n_tok, parsed.outside_id, np.int64)
    if len(spans) == 0:
        return out
    smp, s, e, ty = (np.asarray(a, np.int64) for a in spans)
    bad = np.flatnonzero((smp < 0) | (smp >= n_samples))
    if bad.size:
        raise SchemaError(f"{where}: span {int(bad[0])} names sample {int(smp[bad[0]])} of {n_samples}.")
    length = off[smp + 1] - off[smp]
    bad = np.flatnonzero((s < 0) | (s >= e) | (e > length))
    if bad.size:
        j = int(bad[0])
        raise SchemaError(
            f"{where}: span ({int(s[j])}, {int(e[j])}) must satisfy 0 <= start < end <= n_tokens = "
            f"{int(length[j])} (end exclusive)."
        )
    bad = np.flatnonzero((ty < 0) | (ty >= len(parsed.entity_types)))
    if bad.size:
        raise LabelError(
            f"{where}: span type id {int(ty[bad[0]])} is not an index of the entity types "
            f"{list(parsed.entity_types)}."
        )
    order = np.lexsort((s, smp))
    smp, s, e, ty = smp[order], s[order], e[order], ty[order]
    clash = np.flatnonzero((smp[1:] == smp[:-1]) & (s[1:] < e[:-1]))
    if clash.size:
        j = int(clash[0])
        raise SchemaError(
            f"{where}: spans ({int(s[j])}, {int(e[j])}) and ({int(s[j + 1])}, {int(e[j + 1])}) of sample "
            f"{int(smp[j])} overlap; a token belongs to at most one span."
        )
    last_p, unit_p = {"BIO": (None, None), "BILOU": ("L", "U"), "BIOES": ("E", "S")}[parsed.schema]
    n_types = len(parsed.entity_types)
    lookup = np.full((5, n_types), -1, np.int64)
    for col, (prefix, etype) in enumerate(parsed.columns):
        if etype is not None:
            lookup[PREFIX_CODES[prefix], parsed.entity_types.index(etype)] = col

    def need(code: int, prefix: str, mask: np.ndarray) -> np.ndarray:
        cols = lookup[code, ty[mask]]
        miss = np.flatnonzero(cols < 0)
        if miss.size:
            etype = parsed.entity_types[int(ty[mask][miss[0]])]
            parsed.tag_id(prefix, etype, where=where)  # raises LabelError naming the tag
        return cols

    start_flat = off[smp] + s
    lens = e - s
    single = lens == 1
    multi = ~single
    if parsed.schema == "BIO":
        out[start_flat] = need(BEGIN, "B", np.ones_like(single))
    else:
        out[start_flat[single]] = need(UNIT, unit_p, single)
        out[start_flat[multi]] = need(BEGIN, "B", multi)
        out[start_flat[multi] + lens[multi] - 1] = need(LAST, last_p, multi)
    inner = lens - (1 if parsed.schema == "BIO" else 2)
    inner = np.maximum(inner, 0)
    has_inner = inner > 0
    if has_inner.any():
        cols = need(INSIDE, "I", has_inner)
        reps = inner[has_inner]
        first = np.repeat(start_flat[has_inner] + 1, reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        out[first + within] = np.repeat(cols, reps)
    return out


def encode(spans: Sequence[tuple[int, int, str]], n_tokens: int, parsed: TagSet) -> np.ndarray:
    """Well-formed tag ids of one sample from its token-level spans.

    Parameters
    ----------
    spans : sequence of (int, int, str)
        ``(start_token, end_token_exclusive, entity_type)``; non-overlapping.
    n_tokens : int
        Length of the sequence.
    parsed : TagSet

    Returns
    -------
    numpy.ndarray of int64, shape (n_tokens,)
        ``decode(encode(spans, n, parsed), parsed) == sorted(spans)`` in both modes.

    Raises
    ------
    SchemaError
        A malformed span, one past ``n_tokens``, or overlapping spans.
    LabelError
        An unknown entity type, or a needed tag (e.g. ``I-PER``) missing from the labels.

    Examples
    --------
    >>> ts = parse_labels(["O", "B-PER", "I-PER", "L-PER", "U-PER"], "BILOU")
    >>> [ts.labels[i] for i in encode([(0, 3, "PER"), (4, 5, "PER")], 5, ts)]
    ['B-PER', 'I-PER', 'L-PER', 'O', 'U-PER']
    """
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)) or n_tokens < 0:
        raise SchemaError(f"encode: `n_tokens` must be a non-negative integer; got {n_tokens!r}.")
    arrays = spans_to_arrays([spans], parsed.entity_types, where="encode", argument="spans")
    return encode_batch(arrays, [0, int(n_tokens)], parsed)


__all__ = ["decode", "decode_batch", "encode", "encode_batch"]
