"""Tagging schemas for NER: parse a tagged label list, infer a schema, decode and encode spans.

Three schemas are supported, named case-insensitively (``IOB2`` is an alias of ``BIO`` and
``IOBES`` of ``BIOES``, as seqeval calls them):

========  ==========================================================================
``BIO``   ``B-X`` begins a span of type X, ``I-X`` continues it, ``O`` is outside.
``BILOU`` adds ``L-X`` (last token of a multi-token span) and ``U-X`` (a one-token span).
``BIOES`` the same as BILOU with ``E-X`` for ``L-X`` and ``S-X`` for ``U-X``.
========  ==========================================================================

A tag is ``"O"`` or ``"<P>-<type>"`` with a one-letter prefix ``P`` (the type may itself contain
dashes: ``B-geo-loc`` has type ``geo-loc``). Labels in brackets, such as ``"[PAD]"``, ``"[CLS]"``
or ``"<pad>"``, are accepted as *special* columns and decode like ``O``.

Decoding malformed sequences
----------------------------
``decode`` reads a tag sequence as chains: token *t* continues the chain of token *t − 1* when
*t* is ``I-X`` or ``L-X``/``E-X``, *t − 1* is ``B-X`` or ``I-X`` (a chain still open) and both
have the same type X. Every other non-``O`` token starts a new chain. Hence:

- ``mode="lenient"`` (default) turns every chain into a span. A stray ``I-X`` (or ``L-X``/``E-X``)
  without a begin starts a span, as seqeval's default mode does for BIO; a change of type inside a
  chain ends the span and starts another; ``B-X B-X`` is two spans; a ``B-X I-X …`` chain that is
  never closed by ``L``/``E`` ends at the next ``O``, at a new begin or at the end of the sequence;
  ``U-X``/``S-X`` is always a one-token span; ``L-X``/``E-X`` closes the span, so an ``I-X`` after
  it starts a new one.
- ``mode="strict"`` keeps only well-formed chains, exactly as seqeval's ``mode="strict"``: a chain
  must start with ``B`` (or ``U``/``S``) and, in BILOU and BIOES, end with ``L``/``E`` (or be a
  ``U``/``S``). Stray ``I`` tokens and unterminated BILOU/BIOES chains produce no span.

On well-formed sequences (the output of :func:`encode`) both modes give the same spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

from ...exceptions import ConfigurationError, LabelError, SchemaError
from .spans import SpanArrays, arrays_to_spans, check_offsets, empty_spans, spans_to_arrays

#: The canonical schema names and the prefixes each allows besides ``O``.
SCHEMA_PREFIXES: dict[str, tuple[str, ...]] = {
    "BIO": ("B", "I"),
    "BILOU": ("B", "I", "L", "U"),
    "BIOES": ("B", "I", "E", "S"),
}
_ALIASES = {"BIO": "BIO", "IOB2": "BIO", "BILOU": "BILOU", "BIOES": "BIOES", "IOBES": "BIOES"}

# Prefix codes shared by all schemas: L and E both end a chain, U and S are single-token spans.
OUTSIDE, BEGIN, INSIDE, LAST, UNIT = 0, 1, 2, 3, 4
_CODE = {"O": OUTSIDE, "B": BEGIN, "I": INSIDE, "L": LAST, "E": LAST, "U": UNIT, "S": UNIT}
_SPECIAL = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")
_TAG = re.compile(r"^([A-Za-z])-(.+)$", re.DOTALL)
_MODES = ("lenient", "strict")


def normalize_schema(schema: str, *, where: str = "normalize_schema", argument: str = "schema") -> str:
    """Canonical name of a tagging schema: ``"BIO"``, ``"BILOU"`` or ``"BIOES"``.

    Parameters
    ----------
    schema : str
        Case-insensitive; ``"IOB2"`` means BIO and ``"IOBES"`` means BIOES.
    where, argument : str
        Function and argument named in the error message.

    Raises
    ------
    ConfigurationError
        ``schema`` is not a string naming a supported schema.
    """
    key = schema.strip().upper() if isinstance(schema, str) else None
    if key not in _ALIASES:
        raise ConfigurationError(
            f"{where}: `{argument}` must be one of 'BIO', 'BILOU', 'BIOES' (case-insensitive; 'IOB2' "
            f"and 'IOBES' are accepted as aliases); got {schema!r}."
        )
    return _ALIASES[key]


@dataclass(frozen=True, eq=False)
class TagSet:
    """A validated tagged label list (see :func:`parse_labels`).

    Attributes
    ----------
    schema : str
        ``"BIO"``, ``"BILOU"`` or ``"BIOES"``.
    labels : tuple of str, length k
        The tags in logit-column order.
    entity_types : tuple of str
        Entity types in order of first appearance in ``labels``.
    columns : tuple of (str, str or None), length k
        Per column its prefix (``"O"`` for ``O`` and special columns) and its entity type
        (``None`` for ``O`` and special columns).
    outside_id : int
        Column of ``"O"``.
    special_ids : tuple of int
        Columns of special labels such as ``"[PAD]"``; they decode like ``O``.
    prefix_codes : numpy.ndarray of int8, shape (k,)
        0 = outside, 1 = B, 2 = I, 3 = L/E, 4 = U/S.
    type_ids : numpy.ndarray of int64, shape (k,)
        Index into ``entity_types`` per column, -1 for outside and special columns.
    """

    schema: str
    labels: tuple[str, ...]
    entity_types: tuple[str, ...]
    columns: tuple[tuple[str, str | None], ...]
    outside_id: int
    special_ids: tuple[int, ...]
    prefix_codes: np.ndarray = field(repr=False)
    type_ids: np.ndarray = field(repr=False)

    @property
    def n_labels(self) -> int:
        """Number of tag columns k."""
        return len(self.labels)

    def tag_id(self, prefix: str, entity_type: str, *, where: str = "TagSet.tag_id") -> int:
        """Column of the tag ``f"{prefix}-{entity_type}"``.

        Raises
        ------
        LabelError
            The label list has no such tag.
        """
        try:
            return self._index[f"{prefix}-{entity_type}"]
        except KeyError:
            raise LabelError(
                f"{where}: the {self.schema} label list has no {prefix + '-' + entity_type!r} column; "
                f"labels: {list(self.labels)}. Add the tag to the labels set with dq.set_labels_for_run."
            ) from None

    @cached_property
    def _index(self) -> dict[str, int]:
        return {lab: i for i, lab in enumerate(self.labels)}

    def ids_of(self, tags: Sequence[str], *, where: str, argument: str) -> np.ndarray:
        """Column ids of tag strings; raises :class:`LabelError` naming an unknown tag."""
        index = self._index
        out = np.empty(len(tags), np.int64)
        for i, tag in enumerate(tags):
            j = index.get(tag)
            if j is None:
                raise LabelError(
                    f"{where}: `{argument}` holds the tag {tag!r} at position {i}, which is not among "
                    f"the labels {list(self.labels)}."
                )
            out[i] = j
        return out


def parse_labels(labels: Sequence[str], schema: str) -> TagSet:
    """Validate a tagged label list against a schema.

    Parameters
    ----------
    labels : sequence of str, length k
        Tags in logit-column order, e.g. ``["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]``. ``"O"`` must
        appear exactly once; every other label is ``<prefix>-<type>`` with a prefix the schema allows,
        or a special label in brackets (``"[PAD]"``, ``"<pad>"``) that decodes like ``O``.
    schema : str
        ``"BIO"`` (alias ``"IOB2"``), ``"BILOU"`` or ``"BIOES"`` (alias ``"IOBES"``), any case.

    Returns
    -------
    TagSet

    Raises
    ------
    ConfigurationError
        Unknown schema; labels not a list of strings; duplicated labels; ``"O"`` missing; a label
        whose prefix the schema does not allow or that has no entity type.

    Examples
    --------
    >>> ts = parse_labels(["O", "B-PER", "I-PER"], "bio")
    >>> ts.entity_types, ts.columns[1]
    (('PER',), ('B', 'PER'))
    """
    where = "parse_labels"
    name = normalize_schema(schema, where=where)
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise ConfigurationError(
            f"{where}: `labels` must be a list of tag strings such as ['O', 'B-PER', 'I-PER']; "
            f"got {type(labels).__name__}."
        )
    labels = list(labels)
    bad = [lab for lab in labels if not isinstance(lab, str)]
    if bad:
        raise ConfigurationError(
            f"{where}: every label in `labels` must be a string; got {bad[0]!r} ({type(bad[0]).__name__})."
        )
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ConfigurationError(f"{where}: `labels` must not repeat a tag; {dupes} appear more than once.")
    if "O" not in labels:
        raise ConfigurationError(
            f"{where}: `labels` must contain the outside tag 'O' exactly once; got {labels}."
        )
    allowed = SCHEMA_PREFIXES[name]
    columns: list[tuple[str, str | None]] = []
    codes, type_ids, specials, types = [], [], [], []
    for i, lab in enumerate(labels):
        if lab == "O" or _SPECIAL.match(lab):
            columns.append(("O", None))
            codes.append(OUTSIDE)
            type_ids.append(-1)
            if lab != "O":
                specials.append(i)
            continue
        m = _TAG.match(lab)
        if m is None or m.group(1) not in allowed:
            hint = ""
            if m is not None and m.group(1) in _CODE:
                try:
                    hint = f" The labels look like {infer_schema(labels)}; pass that schema instead."
                except ConfigurationError:
                    pass
            raise ConfigurationError(
                f"{where}: label {lab!r} (column {i}) does not fit the {name} schema, whose tags are 'O' "
                f"or {'-/'.join(allowed)}- followed by an entity type (e.g. '{allowed[0]}-PER').{hint}"
            )
        prefix, etype = m.group(1), m.group(2)
        if etype not in types:
            types.append(etype)
        columns.append((prefix, etype))
        codes.append(_CODE[prefix])
        type_ids.append(types.index(etype))
    return TagSet(
        schema=name,
        labels=tuple(labels),
        entity_types=tuple(types),
        columns=tuple(columns),
        outside_id=labels.index("O"),
        special_ids=tuple(specials),
        prefix_codes=np.asarray(codes, np.int8),
        type_ids=np.asarray(type_ids, np.int64),
    )


def infer_schema(tags: Iterable[str]) -> str:
    """The smallest schema that fits the observed tag strings.

    Any ``L-``/``U-`` tag gives ``"BILOU"``, any ``E-``/``S-`` tag gives ``"BIOES"``, otherwise
    ``"BIO"`` (a BIO sequence is also valid BILOU/BIOES with no single-token or last tags, so BIO is
    the answer whenever only ``B``/``I``/``O`` are seen). ``O`` and bracketed special tags are ignored.

    Parameters
    ----------
    tags : iterable of str
        Observed tags, in any order, repeats allowed (e.g. every tag of a dataset, flattened).

    Returns
    -------
    str

    Raises
    ------
    ConfigurationError
        A tag is not ``O``, special or ``<prefix>-<type>`` with a prefix among B, I, L, U, E, S; or
        the tags mix BILOU (``L``/``U``) and BIOES (``E``/``S``) prefixes.
    """
    seen: set[str] = set()
    for tag in set(tags):
        if not isinstance(tag, str):
            raise ConfigurationError(
                f"infer_schema: `tags` must be tag strings such as 'B-PER'; got {tag!r} "
                f"({type(tag).__name__}). Map integer tags to names first."
            )
        if tag == "O" or _SPECIAL.match(tag):
            continue
        m = _TAG.match(tag)
        if m is None or m.group(1) not in _CODE or m.group(1) == "O":
            raise ConfigurationError(
                f"infer_schema: tag {tag!r} is not 'O' nor a prefix among B, I, L, U, E, S followed by "
                "'-' and an entity type (e.g. 'B-PER')."
            )
        seen.add(m.group(1))
    bilou, bioes = seen & {"L", "U"}, seen & {"E", "S"}
    if bilou and bioes:
        raise ConfigurationError(
            f"infer_schema: the tags mix BILOU prefixes {sorted(bilou)} with BIOES prefixes "
            f"{sorted(bioes)}; one dataset must use one schema."
        )
    return "BILOU" if bilou else "BIOES" if bioes else "BIO"


def _check_mode(mode: str, where: str) -> None:
    if mode not in _MODES:
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
            lookup[_CODE[prefix], parsed.entity_types.index(etype)] = col

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


__all__ = [
    "SCHEMA_PREFIXES",
    "TagSet",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "infer_schema",
    "normalize_schema",
    "parse_labels",
]
