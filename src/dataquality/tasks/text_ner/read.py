"""The read side of the task: filter fields, edit actions, console capabilities (see ..base.Task)."""

from __future__ import annotations

from ..base import Capabilities, EditAction, FilterField
from .errors import ERROR_TYPES
from .ingest import entity_types_of

FILTER_FIELDS = (
    FilterField("span_text", "text", "Samples with a (gold or predicted) span whose text contains this."),
    FilterField("span_regex", "text", "Samples with a span whose text matches this regular expression (RE2)."),
    FilterField("span_label", "labels", "Samples with a span of one of these entity types."),
    FilterField("error_type", "choice", "Samples with a predicted or gold span of one of these error types.",
                choices=tuple(ERROR_TYPES)),
    FilterField("has_drifted_span", "bool", "Samples with (or without) a drifted predicted span."),
)

EDIT_ACTIONS = (
    EditAction("relabel_span", "label", "Set the entity type of the selected gold spans to new_label."),
    EditAction("shift_span", "shift", "Move the selected gold spans' boundaries by shift_start / shift_end."),
    EditAction("delete_span", None, "Remove the selected gold spans."),
)


class NerRead:
    """Read-side methods of the task protocol."""

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        return list(FILTER_FIELDS)

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        return list(EDIT_ACTIONS)

    def capabilities(self, manifest: dict) -> Capabilities:
        return Capabilities(
            views=["table", "map", "summary", "inference", "spans", "edits"],
            filter_fields=self.filter_fields(manifest),
            label_filters=[],
            edit_actions=self.edit_actions(manifest),
            color_by=["dep", "cluster"],
            label_choices=entity_types_of(manifest.get("labels")) or [],
            sample_view="spans",
            summary_sections=["confusion", "entity_metrics", "error_counts"],
        )
