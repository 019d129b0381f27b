"""NER inputs for ``dq.log_dataset``: validate and store ``text_token_indices`` and ``gold_spans``.

A NER dataset has, per sample, ``id``, ``text``, ``text_token_indices`` (per model token its
``(start, end)`` character offsets; sub-word tokens repeat their word's offsets, special tokens
may be ``(0, 0)``) and, on labeled splits, ``gold_spans`` (``{"start", "end", "label"}``,
character offsets, ``end`` exclusive, ``label`` an entity type such as ``"PER"``). Every gold
span is checked against the tokens when it is logged (:func:`char_spans_to_token_spans`).

Stored columns: ``id, text, token_starts, token_ends, gold_spans`` (list of struct), then meta.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import LabelError, SchemaError
from ..base import Columns
from ..columns import id_and_text
from .align import char_spans_to_token_spans

TOKEN_INDICES = "text_token_indices"
GOLD_SPANS = "gold_spans"
PRED_SPANS = "pred_spans"
TOKEN_STARTS = "token_starts"
TOKEN_ENDS = "token_ends"


def entity_types_of(labels: list[str] | None) -> list[str] | None:
    """Entity types of a tagged label list (``B-PER`` -> ``PER``), in order of appearance."""
    if labels is None:
        return None
    out: list[str] = []
    for lab in labels:
        if lab == "O" or lab.startswith(("[", "<")):
            continue
        t = lab.split("-", 1)[1] if "-" in lab and lab.split("-", 1)[0] in ("B", "I", "L", "U", "E", "S") else lab
        if t not in out:
            out.append(t)
    return out


def _token_pairs(value: Any, *, fn: str, sid) -> np.ndarray:
    try:
        arr = np.asarray(value.tolist() if hasattr(value, "tolist") and not isinstance(value, np.ndarray) else value)
        if arr.dtype == object:
            arr = np.asarray([list(v) for v in value], dtype=np.int64)
        arr = arr.astype(np.int64)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{fn}: `{TOKEN_INDICES}` of sample id {sid!r} must be a list of (start, end) character offsets, "
            f"one per model token; got {value!r:.200}."
        ) from None
    if arr.ndim == 1 and arr.size % 2 == 0 and arr.size:
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise SchemaError(
            f"{fn}: `{TOKEN_INDICES}` of sample id {sid!r} must have shape (n_tokens, 2) with at least one "
            f"token; got shape {arr.shape}."
        )
    return arr


def normalize_ner_frame(df: Any, *, fn: str, cols: Columns, split: str, labels: list[str] | None):
    """Validate one DataFrame chunk of a NER dataset; returns an Arrow table (see module doc)."""
    import pyarrow as pa

    present = set(map(str, df.columns))
    ids, head = id_and_text(df, cols, fn=fn, required=((TOKEN_INDICES, TOKEN_INDICES),))
    texts = head[S.TEXT].to_pylist()
    labeled = split != S.INFERENCE
    if labeled and GOLD_SPANS not in present:
        raise LabelError(f"{fn}: split {split!r} of a text_ner run needs a {GOLD_SPANS!r} column "
                         f"(list of {{'start', 'end', 'label'}} per sample); columns are {sorted(present)}.")
    types = entity_types_of(labels)
    tok_values = df[TOKEN_INDICES].tolist()
    gold_values = df[GOLD_SPANS].tolist() if labeled else None
    starts, ends, golds = [], [], []
    for i, (sid, text, tok) in enumerate(zip(ids.tolist(), texts, tok_values)):
        pairs = _token_pairs(tok, fn=fn, sid=sid)
        if (pairs[:, 0] < 0).any() or (pairs[:, 1] < pairs[:, 0]).any() or (pairs[:, 1] > len(text)).any():
            raise SchemaError(
                f"{fn}: `{TOKEN_INDICES}` of sample id {sid!r} must hold 0 <= start <= end <= len(text) = "
                f"{len(text)} for every token; got {pairs[(pairs[:, 1] > len(text)) | (pairs[:, 1] < pairs[:, 0]) | (pairs[:, 0] < 0)][:3].tolist()}."
            )
        starts.append(pairs[:, 0].astype(np.int32))
        ends.append(pairs[:, 1].astype(np.int32))
        if labeled:
            spans = gold_values[i]
            if spans is None or (isinstance(spans, float) and np.isnan(spans)):
                spans = []
            spans = list(spans.tolist() if hasattr(spans, "tolist") else spans)
            try:
                char_spans_to_token_spans(spans, pairs, text, entity_types=types, where=fn)
            except (SchemaError, LabelError) as e:
                msg = str(e)
                msg = msg[len(fn) + 2:] if msg.startswith(f"{fn}: ") else msg
                raise type(e)(f"{fn}: `{GOLD_SPANS}` of sample id {sid!r}: {msg}") from None
            golds.append([{"start": int(s["start"]), "end": int(s["end"]), "label": str(s["label"])} for s in spans])
    out: dict[str, Any] = {
        **head,
        TOKEN_STARTS: pa.array(starts, pa.list_(pa.int32())),
        TOKEN_ENDS: pa.array(ends, pa.list_(pa.int32())),
    }
    if labeled:
        out[GOLD_SPANS] = pa.array(golds, SPAN_TYPE())
    for m in cols.meta:
        if m not in present:
            raise SchemaError(f"{fn}: meta column {m!r} is not in the dataset; columns are {sorted(present)}.")
        if m in S.RESERVED_COLUMNS or m in (TOKEN_INDICES, GOLD_SPANS, TOKEN_STARTS, TOKEN_ENDS, PRED_SPANS):
            raise SchemaError(f"{fn}: meta column {m!r} clashes with a column dataquality uses; rename it.")
        out[m] = pa.array(df[m].tolist(), from_pandas=True)
    return pa.table(out)


def SPAN_TYPE():
    import pyarrow as pa

    return pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())]))
