"""Tagging schemas for NER: parse a tagged label list and infer a schema.

Decoding tags into spans and encoding spans into tags is :mod:`.tag_codec`.

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

from ...exceptions import ConfigurationError, LabelError

#: The canonical schema names and the prefixes each allows besides ``O``.
SCHEMA_PREFIXES: dict[str, tuple[str, ...]] = {
    "BIO": ("B", "I"),
    "BILOU": ("B", "I", "L", "U"),
    "BIOES": ("B", "I", "E", "S"),
}
_ALIASES = {"BIO": "BIO", "IOB2": "BIO", "BILOU": "BILOU", "BIOES": "BIOES", "IOBES": "BIOES"}

# Prefix codes shared by all schemas: L and E both end a chain, U and S are single-token spans.
OUTSIDE, BEGIN, INSIDE, LAST, UNIT = 0, 1, 2, 3, 4
#: The prefix code of each tag prefix letter.
PREFIX_CODES = {"O": OUTSIDE, "B": BEGIN, "I": INSIDE, "L": LAST, "E": LAST, "U": UNIT, "S": UNIT}
_SPECIAL = re.compile(r"^(\[[^\]]*\]|<[^>]*>)$")
_TAG = re.compile(r"^([A-Za-z])-(.+)$", re.DOTALL)


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
            if m is not None and m.group(1) in PREFIX_CODES:
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
        codes.append(PREFIX_CODES[prefix])
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
        if m is None or m.group(1) not in PREFIX_CODES or m.group(1) == "O":
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


__all__ = ["SCHEMA_PREFIXES", "TagSet", "infer_schema", "normalize_schema", "parse_labels"]
