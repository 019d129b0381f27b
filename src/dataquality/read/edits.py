"""Edits: a filter plus an action, kept in an undoable list in ``<run>/edits.parquet``.

An edit records the filter it was made with *and* what that filter selected at that moment (the
sample ids, or the keys of what a task's action edits: NER's gold spans), so it keeps meaning the
same samples however the results change later. The actions are the run's task's
(``Task.edit_actions``): ``delete``, ``update_text`` and ``select_for_label`` apply here to any
task that offers them; the task applies its own (``relabel``, ``relabel_as_pred`` for
classification; ``relabel_span``, ``shift_span``, ``delete_span`` for NER; ``Task.apply_edit``).

Edits are applied, in the order they were made and skipping undone ones, by
:func:`apply_edits` (``dq.metrics.get_edited_dataframe`` and exports).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core import layout as S
from ..core import store
from ..exceptions import ConfigurationError, SplitError
from ..tasks.base import SAMPLE_EDIT_ACTIONS, EditRequest

EDITS_FILE = "edits.parquet"
SAMPLE_ACTIONS = tuple(a.name for a in SAMPLE_EDIT_ACTIONS)  # applied here, for any task offering them
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


def create(split, edit: EditRequest, filt, *, note=None, fn: str) -> dict:
    """Check ``edit`` with the run's task, resolve what ``filt`` selects now and append the edit.

    Raises
    ------
    ConfigurationError, LabelError
        A bad action or argument for this task (``Task.check_edit``), or a bad filter.
    SplitError
        The filter selects nothing to edit.
    """
    from .filters import Filter
    from .views import connect, open_view

    try:
        split.task.check_edit(edit, manifest=split.manifest, fn=fn)
    except ConfigurationError as e:
        others = other_tasks_with_action(split.task, edit.action)
        if not others:
            raise
        raise ConfigurationError(f"{e} ({edit.action!r} applies to {' and '.join(others)} runs.)") from None
    f = Filter.parse(filt, fn=fn)
    con = connect()
    try:
        view = open_view(con, split, f, fn=fn)
        values = {k: v for k, v in f.task_fields.items() if v is not None}
        keys = split.task.edit_keys(edit, con, view.where, view.params, values, manifest=split.manifest,
                                    split_key=split.key, fn=fn)
        if keys is None:
            q = '"' + S.ID + '"'
            keys = [r[0] for r in con.execute(f"SELECT {q} FROM samples WHERE {view.where} ORDER BY file_row_number",
                                              view.params).fetchall()]
            if not keys:
                raise SplitError(f"{fn}: the filter selects no samples of split {split.key!r}; nothing to edit.")
    finally:
        con.close()
    return add_edit(split.paths.dir, split_key=split.key, action=edit.action, filter_dict=f.to_dict(), ids=keys,
                    new_label=edit.new_label, search_string=edit.search_string,
                    text_replacement=edit.text_replacement, use_regex=edit.use_regex, note=note,
                    shift_start=edit.shift_start, shift_end=edit.shift_end)


def other_tasks_with_action(task, action) -> list[str]:
    """The registered task types other than ``task`` that offer the edit ``action``."""
    from ..tasks.registry import TASKS

    if not isinstance(action, str) or action in [a.name for a in task.edit_actions({})]:
        return []
    return [t.name for t in TASKS.values() if t is not task and action in [a.name for a in t.edit_actions({})]]


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


def apply_edits(df, edits, split_key: str, task, manifest: dict):
    """Apply the active edits of ``split_key`` to a samples DataFrame of a run of ``task``.

    Returns a new DataFrame with deleted rows dropped, the task's edits applied (labels, spans),
    texts changed, and boolean columns ``edited`` and ``selected_for_label``.
    """
    out = task.begin_edits(df.copy(), manifest=manifest)
    out["edited"] = False
    out["selected_for_label"] = False
    todo = edits[(edits["split"] == split_key) & ~edits["undone"].astype(bool)].sort_values("edit_id")
    keep = np.ones(len(out), dtype=bool)
    for e in todo.itertuples():
        ids = json.loads(e.ids)
        if e.action not in SAMPLE_ACTIONS:
            task.apply_edit(out, e, ids, keep, manifest=manifest)
            continue
        m = out[S.ID].isin(ids).to_numpy() & keep
        if not m.any():
            continue
        if e.action == "delete":
            keep &= ~m
        elif e.action == "update_text":
            out.loc[m, S.TEXT] = out.loc[m, S.TEXT].str.replace(e.search_string, e.text_replacement,
                                                                regex=bool(e.use_regex))
        elif e.action == "select_for_label":
            out.loc[m, "selected_for_label"] = True
        if e.action != "select_for_label":
            out.loc[m, "edited"] = True
    out = task.end_edits(out, manifest=manifest)
    return out[keep].reset_index(drop=True)
