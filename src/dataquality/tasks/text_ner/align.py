"""Character spans ↔ model tokens.

``text_token_indices`` gives, per model token, the ``(start, end)`` character offsets in ``text``
of the text it covers. Sub-word tokens may repeat the boundaries of their word (``bi`` and ``##den``
both ``(14, 19)``); special and padding tokens are zero-width, typically ``(0, 0)``, and belong to
no span. Character spans are dicts ``{"start", "end", "label"}`` with ``end`` exclusive, as in
``dq.log_dataset`` for ``text_ner``; token spans are ``(start_token, end_token_exclusive, type)``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ...exceptions import LabelError, SchemaError
from .tagging import TagSet


def _token_array(token_indices, n_chars: int | None, *, where: str) -> np.ndarray:
    arr = np.asarray(token_indices)
    if arr.size == 0:
        return np.zeros((0, 2), np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise SchemaError(
            f"{where}: `token_indices` must be a list of (start, end) integer character offsets, one pair "
            f"per model token; got an array of dtype {arr.dtype} and shape {arr.shape}."
        )
    arr = arr.astype(np.int64, copy=False)
    bad = (arr[:, 0] < 0) | (arr[:, 1] < arr[:, 0])
    if n_chars is not None:
        bad |= arr[:, 1] > n_chars
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        limit = f" <= len(text) = {n_chars}" if n_chars is not None else ""
        raise SchemaError(
            f"{where}: `token_indices` pair {j} is {tuple(arr[j].tolist())}; every pair must satisfy "
            f"0 <= start <= end{limit}."
        )
    return arr


def _known_types(entity_types: TagSet | Iterable[str] | None) -> tuple[str, ...] | None:
    if entity_types is None:
        return None
    if isinstance(entity_types, TagSet):
        return entity_types.entity_types
    return tuple(entity_types)


def char_spans_to_token_spans(
    gold_spans: Sequence[Mapping[str, Any]],
    token_indices: Sequence[tuple[int, int]] | np.ndarray,
    text: str,
    *,
    entity_types: TagSet | Iterable[str] | None = None,
    where: str = "char_spans_to_token_spans",
) -> list[tuple[int, int, str]]:
    """Map character spans to the model tokens inside them.

    Parameters
    ----------
    gold_spans : sequence of dict
        ``{"start": int, "end": int, "label": str}``, character offsets into ``text``, ``end``
        exclusive; ``label`` is an entity type without prefix (``"PER"``, not ``"B-PER"``).
    token_indices : array-like of int, shape (n_tokens, 2)
        Per model token its ``(start, end)`` character offsets; sub-words may repeat their word's
        offsets; zero-width pairs (special tokens, padding) never belong to a span.
    text : str
        The sample's text.
    entity_types : TagSet or iterable of str, optional
        The known entity types; when given, a span with another label raises :class:`LabelError`.
    where : str
        Function named in error messages (callers such as ``dq.log_dataset`` pass their own name).

    Returns
    -------
    list of (int, int, str)
        Per span, in the order of ``gold_spans``, ``(first_token, last_token + 1, label)`` over the
        non-zero-width tokens whose character range lies within the span.

    Raises
    ------
    SchemaError
        A span is not a dict with integer ``start``/``end`` and a ``label``; has ``start >= end``;
        runs past the text; overlaps another span; starts or ends inside a token; or contains no
        token (e.g. only whitespace, or text cut off by truncation). ``token_indices`` malformed.
    LabelError
        A label not among ``entity_types`` (the message lists them).

    Examples
    --------
    >>> text = "joe biden spoke"
    >>> toks = [(0, 0), (0, 3), (4, 9), (4, 9), (10, 15), (0, 0)]   # [CLS] joe bi ##den spoke [SEP]
    >>> char_spans_to_token_spans([{"start": 0, "end": 9, "label": "PER"}], toks, text)
    [(1, 4, 'PER')]
    """
    if not isinstance(text, str):
        raise SchemaError(f"{where}: `text` must be a string; got {type(text).__name__}.")
    n_chars = len(text)
    tok = _token_array(token_indices, n_chars, where=where)
    known = _known_types(entity_types)
    starts, ends, labels = [], [], []
    for i, span in enumerate(gold_spans):
        try:
            s, e, lab = span["start"], span["end"], span["label"]
        except (TypeError, KeyError, IndexError):
            raise SchemaError(
                f"{where}: every gold span must be a dict with keys 'start', 'end' and 'label'; "
                f"span {i} is {span!r}."
            ) from None
        if isinstance(s, bool) or isinstance(e, bool) or not isinstance(s, (int, np.integer)) \
                or not isinstance(e, (int, np.integer)):
            raise SchemaError(
                f"{where}: span {i} {dict(span)!r} must have integer 'start' and 'end' character offsets."
            )
        if s >= e:
            raise SchemaError(
                f"{where}: span {i} {dict(span)!r} must have start < end (end is exclusive); got "
                f"start={s}, end={e}."
            )
        if s < 0 or e > n_chars:
            raise SchemaError(
                f"{where}: span {i} {dict(span)!r} runs past the text, which has {n_chars} characters "
                f"(valid offsets 0..{n_chars})."
            )
        if known is not None and lab not in known:
            raise LabelError(
                f"{where}: span {i} {dict(span)!r} has the unknown label {lab!r}; known entity types: "
                f"{list(known)}. Span labels are entity types without the B-/I- prefix."
            )
        starts.append(int(s))
        ends.append(int(e))
        labels.append(lab)
    if not starts:
        return []
    s_arr, e_arr = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    order = np.argsort(s_arr, kind="stable")
    clash = np.flatnonzero(s_arr[order][1:] < e_arr[order][:-1])
    if clash.size:
        a, b = int(order[clash[0]]), int(order[clash[0] + 1])
        raise SchemaError(
            f"{where}: spans {a} {dict(gold_spans[a])!r} and {b} {dict(gold_spans[b])!r} overlap; "
            "gold spans of one sample must not share characters."
        )
    real = tok[:, 1] > tok[:, 0]
    ts, te = tok[:, 0][None, :], tok[:, 1][None, :]
    s_col, e_col = s_arr[:, None], e_arr[:, None]
    cut_start = real & (ts < s_col) & (s_col < te)
    cut_end = real & (ts < e_col) & (e_col < te)
    inside = real & (ts >= s_col) & (te <= e_col)
    out: list[tuple[int, int, str]] = []
    for i in range(len(starts)):
        for cut, edge, pos in ((cut_start, "starts", starts[i]), (cut_end, "ends", ends[i])):
            if cut[i].any():
                j = int(np.flatnonzero(cut[i])[0])
                a, b = int(tok[j, 0]), int(tok[j, 1])
                raise SchemaError(
                    f"{where}: span {i} {dict(gold_spans[i])!r} ({text[starts[i]:ends[i]]!r}) {edge} at "
                    f"character {pos}, inside token {j} {text[a:b]!r} at ({a}, {b}); span boundaries "
                    "must fall on token boundaries."
                )
        idx = np.flatnonzero(inside[i])
        if idx.size == 0:
            raise SchemaError(
                f"{where}: span {i} {dict(gold_spans[i])!r} ({text[starts[i]:ends[i]]!r}) contains no "
                "model token; check `text_token_indices` (was the text truncated?)."
            )
        out.append((int(idx[0]), int(idx[-1]) + 1, labels[i]))
    return out


def token_spans_to_char_spans(
    token_spans: Sequence[tuple[int, int, Any]],
    token_indices: Sequence[tuple[int, int]] | np.ndarray,
    *,
    where: str = "token_spans_to_char_spans",
) -> list[dict[str, Any]]:
    """Character offsets of token-level spans (e.g. spans decoded from predicted tags).

    Parameters
    ----------
    token_spans : sequence of (int, int, label)
        ``(start_token, end_token_exclusive, label)``.
    token_indices : array-like of int, shape (n_tokens, 2)
        Per model token its ``(start, end)`` character offsets.
    where : str
        Function named in error messages.

    Returns
    -------
    list of dict
        ``{"start", "end", "label"}`` per span, same order: ``start`` = start of the span's first
        token, ``end`` = end of its last token. Zero-width tokens (special tokens, padding) at either
        edge are skipped; a span made only of zero-width tokens gets ``start == end`` (the offset of
        its first token), so the list stays aligned with ``token_spans``.

    Raises
    ------
    SchemaError
        A span outside ``[0, n_tokens]`` or with ``start >= end``; malformed ``token_indices``.

    Examples
    --------
    >>> toks = [(0, 0), (0, 3), (4, 9), (4, 9), (10, 15), (0, 0)]
    >>> token_spans_to_char_spans([(1, 4, "PER")], toks)
    [{'start': 0, 'end': 9, 'label': 'PER'}]
    """
    tok = _token_array(token_indices, None, where=where)
    n = tok.shape[0]
    real = tok[:, 1] > tok[:, 0]
    out: list[dict[str, Any]] = []
    for i, span in enumerate(token_spans):
        try:
            s, e, lab = span
            s, e = int(s), int(e)
        except (TypeError, ValueError):
            raise SchemaError(
                f"{where}: span {i} must be a (start_token, end_token, label) triple; got {span!r}."
            ) from None
        if not 0 <= s < e <= n:
            raise SchemaError(
                f"{where}: span {i} {span!r} must satisfy 0 <= start < end <= n_tokens = {n} "
                "(end exclusive)."
            )
        idx = np.flatnonzero(real[s:e])
        if idx.size == 0:
            out.append({"start": int(tok[s, 0]), "end": int(tok[s, 0]), "label": lab})
        else:
            out.append({"start": int(tok[s + idx[0], 0]), "end": int(tok[s + idx[-1], 1]), "label": lab})
    return out


__all__ = ["char_spans_to_token_spans", "token_spans_to_char_spans"]
