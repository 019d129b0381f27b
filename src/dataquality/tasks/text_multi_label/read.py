"""The read side of the task: filter fields, edit actions, console capabilities (see ..base.Task)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import ConfigurationError, LabelError
from ..base import Capabilities, EditAction, EditRequest, FilterField
from .labels import TASK_LABELS, gold_indices, labels_of

EDIT_ACTIONS = (
    EditAction("relabel", "label", "Set the label of one task (the filter's or the edit's `task`) to new_label."),
    EditAction("relabel_as_pred", None, "Set the label of one task to the model's prediction for it."),
    EditAction("delete", None, "Remove the samples."),
    EditAction("update_text", "text", "Replace search_string by text_replacement in the text."),
    EditAction("select_for_label", None, "Mark the samples for (re)labelling."),
)


def task_filter_columns(task: str) -> dict[str, str]:
    """The per-task result columns the core filter fields read when a filter names ``task``:
    ``gold``, ``pred``, DEP, misclassified, likely mislabeled, on the boundary and confidence."""
    return {
        "gold": f"gold_{task}",
        "pred": f"pred_{task}",
        "data_error_potential": f"data_error_potential_{task}",
        "is_misclassified": f"is_misclassified_{task}",
        "likely_mislabeled": f"likely_mislabeled_{task}",
        "is_on_the_boundary": f"is_on_the_boundary_{task}",
        "confidence": f"confidence_{task}",
    }


class MultiLabelRead:
    """Read-side methods of the task protocol."""

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        tasks = tuple(manifest.get("tasks") or ())
        return [FilterField(
            "task", "choice",
            "The task the label fields (gold, pred, DEP range, misclassified, likely mislabeled, on the "
            "boundary) apply to; without it they apply to the sample (DEP = highest over its tasks).",
            choices=tasks,
        )]

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        return list(EDIT_ACTIONS)

    def filter_clauses(self, values: dict, *, manifest: dict, columns: list[str], fn: str) -> list[tuple[str, list]]:
        return []  # ``task`` selects no rows: it points the label fields at that task's columns

    def filter_columns(self, values: dict, *, manifest: dict) -> dict[str, str]:
        task = values.get("task")
        if task is None:
            return {}
        return task_filter_columns(check_task(task[0] if isinstance(task, list) and len(task) == 1 else task,
                                              manifest, fn="filter `task`"))

    def edit_keys(self, edit: EditRequest, con: Any, where: str, params: list, values: dict, *,
                  manifest: dict, split_key: str, fn: str) -> list | None:
        if edit.action in ("relabel", "relabel_as_pred"):
            task = values.get("task")
            if task is None:
                raise ConfigurationError(
                    f"{fn}: a text_multi_label {edit.action!r} edit relabels one task: put it in the filter, "
                    f"e.g. filter={{'task': {(manifest.get('tasks') or ['<task>'])[0]!r}, ...}}."
                )
            task = check_task(task, manifest, fn=fn)
            if edit.action == "relabel" and edit.new_label not in self.label_choices(manifest, task):
                raise LabelError(f"{fn}: `new_label` must be a label of task {task!r} "
                                 f"{self.label_choices(manifest, task)}; got {edit.new_label!r}.")
        return None  # the ids of the samples the filter selects

    def check_edit(self, edit: EditRequest, *, manifest: dict, fn: str) -> None:
        if edit.action == "relabel" and edit.new_label not in self.label_choices(manifest):
            raise LabelError(f"{fn}: `new_label` must be a label of one of the run's tasks "
                             f"{self.label_choices(manifest)}; got {edit.new_label!r}.")
        super().check_edit(edit, manifest=manifest, fn=fn)  # type: ignore[misc]

    def begin_edits(self, df: Any, *, manifest: dict) -> Any:
        for c in (S.GOLD, S.PRED):
            if c in df.columns:
                df[c] = [None if v is None else list(v) for v in df[c]]
        return df

    def apply_edit(self, df: Any, edit: Any, keys: list, live: np.ndarray, *, manifest: dict) -> None:
        m = df[S.ID].isin(keys).to_numpy() & live
        if not m.any():
            return
        task = json.loads(edit.filter).get("task") if isinstance(edit.filter, str) else None
        if edit.action not in ("relabel", "relabel_as_pred") or task is None:
            raise NotImplementedError(f"{self.name}: edit action {edit.action!r} is not applied")
        rows = np.flatnonzero(m)
        t = manifest["tasks"].index(task)
        for r in rows:
            gold = df.at[df.index[r], S.GOLD]
            new = df.at[df.index[r], S.PRED][t] if edit.action == "relabel_as_pred" else edit.new_label
            df.at[df.index[r], S.GOLD] = relabel_task([gold], task, new, manifest, fn="edit")[0]
        col = f"gold_{task}"
        if col in df.columns:
            df.loc[m, col] = [g[t] for g in df.loc[m, S.GOLD]]
        df.loc[m, "edited"] = True

    def end_edits(self, df: Any, *, manifest: dict) -> Any:
        tasks = manifest.get("tasks") or []
        for t in tasks:
            if f"gold_{t}" in df.columns and f"is_misclassified_{t}" in df.columns:
                df[f"is_misclassified_{t}"] = df[f"gold_{t}"] != df[f"pred_{t}"]
        have = [f"is_misclassified_{t}" for t in tasks if f"is_misclassified_{t}" in df.columns]
        if have and "is_misclassified" in df.columns:
            df["is_misclassified"] = df[have].any(axis=1)
        return df

    def logged_schema(self, df: Any, *, has_labels: bool, meta: list[str], manifest: dict) -> Any:
        out = df[[S.ID, S.TEXT]].copy()
        if has_labels:
            out[TASK_LABELS] = logged_labels([list(g) for g in df[S.GOLD]], manifest)
        for c in meta:
            out[c] = df[c]
        return out

    def confusion_pairs(self, con: Any, where: str, params: list, *, manifest: dict, fn: str,
                        values: dict | None = None) -> tuple[list[str], list[tuple], str]:
        """The confusion of one task's labels: the filter's ``task``, else the first task."""
        tasks = manifest.get("tasks") or []
        task = check_task((values or {}).get("task") or (tasks[0] if tasks else None), manifest, fn=fn)
        g, p = f'"gold_{task}"', f'"pred_{task}"'
        sql = f"SELECT {g}, {p}, count(*) FROM samples WHERE {where} AND {g} IS NOT NULL GROUP BY ALL"
        return self.label_choices(manifest, task), con.execute(sql, params).fetchall(), f"task {task}"

    def summary_columns(self, manifest: dict) -> list[str]:
        return [S.GOLD, S.PRED, S.CONFIDENCE]

    def filtered_summary(self, rows: Any, *, manifest: dict) -> dict | None:
        from .signals import multilabel_metrics

        labels = labels_of(manifest)
        out: dict = {"mean_confidence": float(rows[S.CONFIDENCE].mean()) if len(rows) else None}
        labeled = [g is not None for g in rows[S.GOLD]]
        if any(labeled):
            gold = gold_indices([list(g) for g, ok in zip(rows[S.GOLD], labeled) if ok], labels)
            pred = gold_indices([list(p) for p, ok in zip(rows[S.PRED], labeled) if ok], labels)
            out["metrics"] = multilabel_metrics(gold, pred, manifest["tasks"], labels, bool(manifest.get("binary")))
        return out

    def subtasks(self, manifest: dict) -> list[str]:
        return list(manifest.get("tasks") or [])

    def label_view(self, manifest: dict, values: dict, *, fn: str) -> tuple[list[str], dict[str, str]]:
        task = values.get("task")
        if task is None:
            raise ConfigurationError(f"{fn}: per-label metrics of a text_multi_label run are per task: pass "
                                     f"`task` (one of {self.subtasks(manifest)}).")
        task = check_task(task, manifest, fn=fn)
        return self.label_choices(manifest, task), task_filter_columns(task)

    def subtask_summary(self, summary: dict, subtask: str, *, manifest: dict, fn: str) -> dict:
        out = {k: summary[k] for k in ("split", "inference_name", "n_samples", "epochs") if k in summary}
        out.update(task_metrics(summary, subtask, manifest, fn=fn))
        out["alerts"] = [a for a in summary.get("alerts", []) if a.get("filter", {}).get("task") in (None, subtask)]
        return out

    def label_choices(self, manifest: dict, task: str | None = None) -> list[str]:
        """The labels of ``task`` (every task's labels, once each, without one)."""
        tasks, labels = manifest.get("tasks") or [], labels_of(manifest) or []
        if task is not None and task in tasks and labels:
            return list(labels[tasks.index(task)])
        seen: list[str] = []
        for ls in labels:
            seen.extend(l for l in ls if l not in seen)
        return seen

    def capabilities(self, manifest: dict) -> Capabilities:
        return Capabilities.of_labelled_samples(
            filter_fields=self.filter_fields(manifest), edit_actions=self.edit_actions(manifest),
            label_choices=self.label_choices(manifest), summary_sections=["per_task", "per_class", "confusion"],
            subtasks=self.subtasks(manifest),
        )


def relabel_task(rows: list[list[str]], task: str | None, new_label: str, manifest: dict, *,
                 fn: str) -> list[list[str]]:
    """The stored per-task labels of the edited samples with ``task`` set to ``new_label``.

    Binary runs also take ``new_label`` as True/False, 1/0 or the task's name / ``NOT_<task>``.

    Raises
    ------
    ConfigurationError
        ``task`` is missing or not one of the run's tasks.
    LabelError
        ``new_label`` is not a label of ``task``.
    """
    from ...exceptions import ConfigurationError, LabelError

    tasks, labels = manifest.get("tasks") or [], labels_of(manifest) or []
    if task not in tasks:
        raise ConfigurationError(
            f"{fn}: a text_multi_label edit relabels one task: pass `task` (one of {tasks}); got {task!r}."
        )
    t = tasks.index(task)
    choices = labels[t]
    value = new_label
    if manifest.get("binary") and isinstance(value, (bool, int)) and value in (0, 1):
        value = choices[int(value)]
    if value not in choices:
        raise LabelError(f"{fn}: `new_label` must be a label of task {task!r} {choices}; got {new_label!r}.")
    return [[value if i == t else l for i, l in enumerate(r)] for r in rows]


def logged_labels(rows: list[list[str]], manifest: dict) -> list[list[str]]:
    """Stored per-task labels in the schema they were logged with, for export: binary runs list
    each sample's active tasks, other runs one label per task."""
    if not manifest.get("binary"):
        return [list(r) for r in rows]
    tasks = manifest.get("tasks") or []
    return [[t for t, l in zip(tasks, r) if l == t] for r in rows]


def check_task(task: object, manifest: dict, *, fn: str) -> str:
    """``task`` if it is one of the run's tasks; ConfigurationError listing them otherwise."""
    from ...exceptions import ConfigurationError

    tasks = manifest.get("tasks") or []
    if not isinstance(task, str) or task not in tasks:
        raise ConfigurationError(f"{fn}: `task` must be one of the run's tasks {tasks}; got {task!r}.")
    return task


def task_metrics(split_summary: dict, task: object, manifest: dict, *, fn: str) -> dict:
    """One task's metrics from a split's summary, shaped as a classification split's
    (``accuracy``, ``per_class``, ``weighted``, ``macro``, ``confusion_matrix``) plus its DEP
    thresholds and counts: what ``dq.metrics.get_metrics(..., task=)`` and
    ``get_run_summary(..., task=)`` return for a multi-label run."""
    name = check_task(task, manifest, fn=fn)
    per_task = split_summary.get("metrics", {}).get("per_task", {})
    out = dict(per_task.get(name, {}))
    out.update(split_summary.get("per_task", {}).get(name, {}))
    out["task"] = name
    return out
