"""Edits: a filter plus an action, kept in an undoable list in ``<run>/edits.parquet``.

An edit records the filter it was made with *and* the ids that filter selected at that moment, so
it keeps meaning the same samples however the results change later. Actions:

``relabel``           set the label to ``new_label``
``relabel_as_pred``   set the label to the model's prediction
``delete``            drop the samples
``update_text``       replace ``search_string`` by ``text_replacement`` in the text (``use_regex``)
``select_for_label``  mark the samples for (re)labelling (column ``selected_for_label``)

NER (``text_ner`` runs) edits gold spans, the ones the filter's span fields select
(``span_text``, ``span_regex``, ``error_type``, ``span_label``) in the samples it selects:

``relabel_span``      set the entity type to ``new_label``
``shift_span``        move the span's character boundaries by ``shift_start`` / ``shift_end``
``delete_span``       remove the span

Edits are applied, in the order they were made and skipping undone ones, by
:func:`apply_edits` (``dq.metrics.get_edited_dataframe`` and exports).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..core import store
from ..exceptions import ConfigurationError, LabelError

EDITS_FILE = "edits.parquet"
SPAN_ACTIONS = ("relabel_span", "shift_span", "delete_span")
ACTIONS = ("relabel", "relabel_as_pred", "delete", "update_text", "select_for_label") + SPAN_ACTIONS
EDIT_COLUMNS = ["edit_id", "created_at", "split", "action", "filter", "ids", "new_label",
                "search_string", "text_replacement", "use_regex", "note", "n_samples", "undone",
                "shift_start", "shift_end"]


def edits_path(run_dir: Path) -> Path:
    return run_dir / EDITS_FILE


def load_edits(run_dir: Path):
    """Every edit of the run (undone ones included) as a DataFrame, oldest first."""
    import pandas as pd

    p = edits_path(run_dir)
    if not p.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EDIT_COLUMNS})
    return pd.read_parquet(p)


def _save(run_dir: Path, df) -> None:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    store.atomic_write_bytes(edits_path(run_dir), buf.getvalue())


def validate_action(action: Any, *, labels: list[str], new_label: Any, search_string: Any,
                    text_replacement: Any, use_regex: bool, fn: str, ner: bool = False,
                    shift_start: Any = 0, shift_end: Any = 0) -> None:
    allowed = ACTIONS if ner else tuple(a for a in ACTIONS if a not in SPAN_ACTIONS)
    if action not in allowed:
        extra = "" if ner or action not in SPAN_ACTIONS else " (span edits apply to text_ner runs)"
        raise ConfigurationError(f"{fn}: `edit_action` must be one of {list(allowed)}{extra}; got {action!r}.")
    if ner and action in ("relabel", "relabel_as_pred"):
        raise ConfigurationError(f"{fn}: text_ner samples have spans, not a label: use 'relabel_span'.")
    if action == "relabel_span":
        from ..tasks.text_ner.ingest import entity_types_of

        types = entity_types_of(labels) or []
        if new_label not in types:
            raise LabelError(f"{fn}: `new_label` must be one of the run's entity types {types}; got {new_label!r}.")
        return
    if action == "shift_span":
        for arg, v in (("shift_start", shift_start), ("shift_end", shift_end)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigurationError(f"{fn}: `{arg}` must be an integer number of characters; got {v!r}.")
        if shift_start == 0 and shift_end == 0:
            raise ConfigurationError(f"{fn}: edit_action='shift_span' needs a non-zero `shift_start` or `shift_end`.")
    if action == "relabel":
        if new_label not in labels:
            raise LabelError(f"{fn}: `new_label` must be one of the run's labels {labels}; got {new_label!r}.")
    elif new_label is not None:
        raise ConfigurationError(f"{fn}: `new_label` applies only to edit_action='relabel' or 'relabel_span'; got {new_label!r}.")
    if action == "update_text":
        if not isinstance(search_string, str) or not search_string:
            raise ConfigurationError(f"{fn}: edit_action='update_text' needs a non-empty `search_string`; got {search_string!r}.")
        if not isinstance(text_replacement, str):
            raise ConfigurationError(f"{fn}: edit_action='update_text' needs a string `text_replacement`; got {text_replacement!r}.")
        if use_regex:
            try:
                re.compile(search_string)
            except re.error as e:
                raise ConfigurationError(f"{fn}: `search_string` is not a valid regular expression: {e}.") from None


def add_edit(run_dir: Path, *, split_key: str, action: str, filter_dict: dict, ids: list, new_label=None,
             search_string=None, text_replacement=None, use_regex=False, note=None,
             shift_start: int = 0, shift_end: int = 0) -> dict:
    """Append an edit; returns its record."""
    import pandas as pd

    df = load_edits(run_dir)
    edit_id = int(df["edit_id"].max()) + 1 if len(df) else 1
    rec = {
        "edit_id": edit_id, "created_at": store.now_iso(), "split": split_key, "action": action,
        "filter": json.dumps(filter_dict, sort_keys=True), "ids": json.dumps(ids), "new_label": new_label,
        "search_string": search_string, "text_replacement": text_replacement, "use_regex": bool(use_regex),
        "note": note, "n_samples": len(ids), "undone": False,
        "shift_start": int(shift_start), "shift_end": int(shift_end),
    }
    df = pd.concat([df, pd.DataFrame([rec])], ignore_index=True) if len(df) else pd.DataFrame([rec])
    _save(run_dir, df)
    return rec


def undo(run_dir: Path, edit_id: int | None, *, fn: str) -> dict:
    """Mark an edit undone (the latest active one when ``edit_id`` is None); returns it."""
    df = load_edits(run_dir)
    active = df[~df["undone"].astype(bool)]
    if edit_id is None:
        if not len(active):
            raise ConfigurationError(f"{fn}: there is no edit to undo.")
        edit_id = int(active["edit_id"].max())
    m = df["edit_id"] == edit_id
    if not m.any():
        raise ConfigurationError(f"{fn}: no edit with `edit_id` {edit_id}; edits: {df['edit_id'].tolist()}.")
    if bool(df.loc[m, "undone"].iloc[0]):
        raise ConfigurationError(f"{fn}: edit {edit_id} is already undone.")
    df.loc[m, "undone"] = True
    _save(run_dir, df)
    return df[m].iloc[0].to_dict()


def redo(run_dir: Path, edit_id: int, *, fn: str) -> dict:
    df = load_edits(run_dir)
    m = df["edit_id"] == edit_id
    if not m.any():
        raise ConfigurationError(f"{fn}: no edit with `edit_id` {edit_id}.")
    if not bool(df.loc[m, "undone"].iloc[0]):
        raise ConfigurationError(f"{fn}: edit {edit_id} is not undone; nothing to redo.")
    df.loc[m, "undone"] = False
    _save(run_dir, df)
    return df[m].iloc[0].to_dict()


def apply_edits(df, edits, split_key: str):
    """Apply the active edits of ``split_key`` to a samples DataFrame (columns id, text, gold, pred...).

    Returns a new DataFrame with deleted rows dropped, labels and texts changed, and boolean
    columns ``edited`` and ``selected_for_label``.
    """
    out = df.copy()
    if "gold_spans" in out.columns:  # NER: plain lists of span dicts, edited or not
        out["gold_spans"] = [[dict(sp) for sp in v] if v is not None else [] for v in out["gold_spans"]]
    out["edited"] = False
    out["selected_for_label"] = False
    todo = edits[(edits["split"] == split_key) & ~edits["undone"].astype(bool)].sort_values("edit_id")
    keep = np.ones(len(out), dtype=bool)
    for e in todo.itertuples():
        ids = json.loads(e.ids)
        if e.action in SPAN_ACTIONS:
            _apply_span_edit(out, e, ids)
            continue
        m = out[S.ID].isin(ids).to_numpy() & keep
        if not m.any():
            continue
        if e.action == "delete":
            keep &= ~m
        elif e.action == "relabel":
            out.loc[m, S.GOLD] = e.new_label
        elif e.action == "relabel_as_pred":
            out.loc[m, S.GOLD] = out.loc[m, S.PRED]
        elif e.action == "update_text":
            if e.use_regex:
                out.loc[m, S.TEXT] = out.loc[m, S.TEXT].str.replace(e.search_string, e.text_replacement, regex=True)
            else:
                out.loc[m, S.TEXT] = out.loc[m, S.TEXT].str.replace(e.search_string, e.text_replacement, regex=False)
        elif e.action == "select_for_label":
            out.loc[m, "selected_for_label"] = True
        if e.action != "select_for_label":
            out.loc[m, "edited"] = True
    if S.GOLD in out.columns and "is_misclassified" in out.columns:
        out["is_misclassified"] = out[S.GOLD].notna() & (out[S.GOLD] != out[S.PRED])
    return out[keep].reset_index(drop=True)


def original_schema(df, *, has_labels: bool, meta: list[str]):
    """The columns a user logged: id, text, [text_pair], label, meta columns."""
    cols = [S.ID, S.TEXT] + ([S.TEXT_PAIR] if S.TEXT_PAIR in df.columns else [])
    if "gold_spans" in df.columns:  # NER: the character spans, as logged
        out = df[cols + (["gold_spans"] if has_labels else [])].copy()
        for m in meta:
            out[m] = df[m]
        return out
    out = df[cols].copy()
    if has_labels or df[S.GOLD].notna().any():
        out["label"] = df[S.GOLD]
    for m in meta:
        out[m] = df[m]
    return out


def write_table(df, path: Path, fmt: str | None, *, fn: str) -> Path:
    """Write ``df`` as CSV, Parquet or JSON lines (by ``fmt`` or the file suffix)."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson"):
        fmt = "jsonl"
    if fmt not in ("csv", "parquet", "jsonl"):
        raise ConfigurationError(f"{fn}: export format must be 'csv', 'parquet' or 'jsonl' (or a path with that suffix); got {fmt!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{S.TMP_PREFIX}{path.name}")
    if fmt == "csv":
        df.to_csv(tmp, index=False)
    elif fmt == "parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    tmp.replace(path)
    return path


def _apply_span_edit(out, e, keys: list) -> None:
    """Apply a span edit to the ``gold_spans`` column; ``keys`` are ``[id, start, end]`` of spans."""
    if "gold_spans" not in out.columns:
        return
    by_id: dict = {}
    for sid, start, end in keys:
        by_id.setdefault(sid, set()).add((int(start), int(end)))
    pos = {sid: i for i, sid in enumerate(out[S.ID].tolist())}
    for sid, targets in by_id.items():
        i = pos.get(sid)
        if i is None:
            continue
        spans = [dict(sp) for sp in (out.at[i, "gold_spans"] if out.at[i, "gold_spans"] is not None else [])]
        text = out.at[i, S.TEXT]
        new = []
        changed = False
        for sp in spans:
            if (int(sp["start"]), int(sp["end"])) not in targets:
                new.append(sp)
                continue
            changed = True
            if e.action == "delete_span":
                continue
            if e.action == "relabel_span":
                sp["label"] = e.new_label
            elif e.action == "shift_span":
                a = int(sp["start"]) + int(getattr(e, "shift_start", 0) or 0)
                b = int(sp["end"]) + int(getattr(e, "shift_end", 0) or 0)
                if not 0 <= a < b <= len(text):
                    continue  # a shift off the text or to nothing removes the span
                sp["start"], sp["end"] = a, b
            new.append(sp)
        if changed:
            out.at[i, "gold_spans"] = new
            out.at[i, "edited"] = True
