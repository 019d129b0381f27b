"""The read side of the task: filter fields, edit actions, console capabilities (see ..base.Task)."""

from __future__ import annotations

from ..base import Capabilities, EditAction, FilterField

EDIT_ACTIONS = (
    EditAction("relabel", "label", "Set the label to new_label."),
    EditAction("relabel_as_pred", None, "Set the label to the model's prediction."),
    EditAction("delete", None, "Remove the samples."),
    EditAction("update_text", "text", "Replace search_string by text_replacement in the text."),
    EditAction("select_for_label", None, "Mark the samples for (re)labelling."),
)


class ClassificationRead:
    """Read-side methods of the task protocol."""

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        return []

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        return list(EDIT_ACTIONS)

    def capabilities(self, manifest: dict) -> Capabilities:
        return Capabilities(
            views=["table", "map", "summary", "inference", "edits"],
            filter_fields=self.filter_fields(manifest),
            label_filters=["gold", "pred"],
            edit_actions=self.edit_actions(manifest),
            color_by=["gold", "pred", "dep", "cluster"],
            label_choices=list(manifest.get("labels") or []),
            sample_view="text",
            summary_sections=["per_class", "confusion"],
        )
