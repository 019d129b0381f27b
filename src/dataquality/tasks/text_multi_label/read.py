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
