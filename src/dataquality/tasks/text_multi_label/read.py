"""The read side of the task: filter fields, edit actions, console capabilities (see ..base.Task)."""

from __future__ import annotations

from ..base import Capabilities, EditAction, FilterField
from .schema import labels_of

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
        return Capabilities(
            views=["table", "map", "summary", "inference", "edits"],
            filter_fields=self.filter_fields(manifest),
            label_filters=["gold", "pred"],
            edit_actions=self.edit_actions(manifest),
            color_by=["gold", "pred", "dep", "cluster"],
            label_choices=self.label_choices(manifest),
            sample_view="text",
            summary_sections=["per_task", "per_class", "confusion"],
            subtasks=list(manifest.get("tasks") or []),
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
