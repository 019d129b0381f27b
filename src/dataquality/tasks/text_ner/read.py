"""The read side of the task: filter fields over ``spans.parquet``, span edits and how they apply,
the span-level confusion matrix, console capabilities (see ..base.Task)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import ConfigurationError, LabelError, SplitError
from ..base import SAMPLE_EDIT_ACTIONS, Capabilities, EditAction, EditRequest, FilterField
from .tables import SPANS_FILE
from .errors import ERROR_TYPES
from .ingest import GOLD_SPANS, entity_types_of

SPANS = "spans"  # the view of spans.parquet: one row per gold and per predicted span

FILTER_FIELDS = (
    FilterField("span_text", "text", "Samples with a (gold or predicted) span whose text contains this."),
    FilterField("span_regex", "regex", "Samples with a span whose text matches this regular expression (RE2)."),
    FilterField("span_label", "labels", "Samples with a span of one of these entity types."),
    FilterField("error_type", "choice", "Samples with a predicted or gold span of one of these error types.",
                choices=tuple(ERROR_TYPES)),
    FilterField("has_drifted_span", "bool", "Samples with (or without) a drifted predicted span."),
)
SPAN_FIELDS = ("span_text", "span_regex", "error_type", "span_label")  # conditions on one and the same span

SPAN_EDIT_ACTIONS = (
    EditAction("relabel_span", "label", "Set the entity type of the selected gold spans to new_label."),
    EditAction("shift_span", "shift", "Move the selected gold spans' boundaries by shift_start / shift_end."),
    EditAction("delete_span", None, "Remove the selected gold spans."),
)
EDIT_ACTIONS = SPAN_EDIT_ACTIONS + SAMPLE_EDIT_ACTIONS


def span_condition(values: dict) -> tuple[str, list]:
    """SQL over the ``spans`` view for the span fields set in ``values`` (ANDed: one span must
    meet them all), with its params; ``("TRUE", [])`` when none is set."""
    clauses, params = [], []
    if values.get("span_text"):
        clauses.append("contains(lower(span_text), ?)")
        params.append(values["span_text"].lower())
    if values.get("span_regex"):
        clauses.append("regexp_matches(span_text, ?)")
        params.append(values["span_regex"])
    if values.get("error_type") is not None:
        kinds = values["error_type"]
        clauses.append("list_contains(?, error_type)")
        params.append([kinds] if isinstance(kinds, str) else [str(x) for x in kinds])
    if values.get("span_label") is not None:
        clauses.append("list_contains(?, label)")
        params.append([str(x) for x in values["span_label"]])
    return (" AND ".join(clauses) if clauses else "TRUE"), params


class NerRead:
    """Read-side methods of the task protocol: labels live on spans (``spans.parquet``)."""

    def result_tables(self, manifest: dict) -> dict[str, str]:
        return {SPANS: SPANS_FILE}

    def embeddings_rows(self, manifest: dict) -> str:
        return SPANS

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        return list(FILTER_FIELDS)

    def filter_clauses(self, values: dict, *, manifest: dict, columns: list[str], fn: str) -> list[tuple[str, list]]:
        from ...exceptions import SchemaError

        out = []
        if values.get("has_drifted_span") is not None:
            if "has_drifted_span" not in columns:
                raise SchemaError(f"{fn}: filter `has_drifted_span` needs column 'has_drifted_span', which this split "
                                  "does not have.")
            out.append(('"has_drifted_span" = ?', [bool(values["has_drifted_span"])]))
        cond, params = span_condition(values)
        if params:
            out.append((f'"{S.ID}" IN (SELECT id FROM {SPANS} WHERE {cond})', params))
        return out

    def table_clause(self, table: str, values: dict, *, fn: str) -> tuple[str, list]:
        return span_condition(values) if table == SPANS else ("TRUE", [])

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        return list(EDIT_ACTIONS)

    def check_edit(self, edit: EditRequest, *, manifest: dict, fn: str) -> None:
        if edit.action in ("relabel", "relabel_as_pred"):
            raise ConfigurationError(f"{fn}: text_ner samples have spans, not a label: use 'relabel_span'.")
        super().check_edit(edit, manifest=manifest, fn=fn)
        if edit.action == "relabel_span":
            types = entity_types_of(manifest.get("labels")) or []
            if edit.new_label not in types:
                raise LabelError(f"{fn}: `new_label` must be one of the run's entity types {types}; got {edit.new_label!r}.")
        if edit.action == "shift_span":
            for arg, v in (("shift_start", edit.shift_start), ("shift_end", edit.shift_end)):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                    raise ConfigurationError(f"{fn}: `{arg}` must be an integer number of characters; got {v!r}.")
            if edit.shift_start == 0 and edit.shift_end == 0:
                raise ConfigurationError(f"{fn}: edit_action='shift_span' needs a non-zero `shift_start` or `shift_end`.")

    def edit_keys(self, edit: EditRequest, con: Any, where: str, params: list, values: dict, *,
                  manifest: dict, split_key: str, fn: str) -> list | None:
        """Span edits record ``[id, start, end]`` of the gold spans of the samples ``where``
        selects that the filter's span fields select; sample edits record sample ids (None)."""
        if edit.action not in [a.name for a in SPAN_EDIT_ACTIONS]:
            return None
        cond, cparams = span_condition(values)
        sql = (f"SELECT id, start, \"end\" FROM {SPANS} WHERE span_kind = 'gold' AND ({cond}) "
               f"AND id IN (SELECT id FROM samples WHERE {where}) ORDER BY id, start")
        rows = con.execute(sql, cparams + params).fetchall()
        if not rows:
            raise SplitError(f"{fn}: the filter selects no gold spans of split {split_key!r}; nothing to edit.")
        return [[i, int(a), int(b)] for i, a, b in rows]

    def begin_edits(self, df: Any, *, manifest: dict) -> Any:
        if GOLD_SPANS in df.columns:  # plain lists of span dicts, edited or not
            df[GOLD_SPANS] = [[dict(sp) for sp in v] if v is not None else [] for v in df[GOLD_SPANS]]
        return df

    def apply_edit(self, df: Any, edit: Any, keys: list, live: np.ndarray, *, manifest: dict) -> None:
        """A span edit on ``gold_spans``; ``keys`` are ``[id, start, end]`` of gold spans."""
        if GOLD_SPANS not in df.columns:
            return
        by_id: dict = {}
        for sid, start, end in keys:
            by_id.setdefault(sid, set()).add((int(start), int(end)))
        pos = {sid: i for i, sid in enumerate(df[S.ID].tolist())}
        for sid, targets in by_id.items():
            i = pos.get(sid)
            if i is None:
                continue
            spans = [dict(sp) for sp in (df.at[i, GOLD_SPANS] if df.at[i, GOLD_SPANS] is not None else [])]
            text = df.at[i, S.TEXT]
            new, changed = [], False
            for sp in spans:
                if (int(sp["start"]), int(sp["end"])) not in targets:
                    new.append(sp)
                    continue
                changed = True
                if edit.action == "delete_span":
                    continue
                if edit.action == "relabel_span":
                    sp["label"] = edit.new_label
                elif edit.action == "shift_span":
                    a = int(sp["start"]) + int(getattr(edit, "shift_start", 0) or 0)
                    b = int(sp["end"]) + int(getattr(edit, "shift_end", 0) or 0)
                    if not 0 <= a < b <= len(text):
                        continue  # a shift off the text or to nothing removes the span
                    sp["start"], sp["end"] = a, b
                new.append(sp)
            if changed:
                df.at[i, GOLD_SPANS] = new
                df.at[i, "edited"] = True

    def logged_schema(self, df: Any, *, has_labels: bool, meta: list[str], manifest: dict) -> Any:
        cols = [S.ID, S.TEXT] + ([S.TEXT_PAIR] if S.TEXT_PAIR in df.columns else [])
        out = df[cols + ([GOLD_SPANS] if has_labels else [])].copy()  # the character spans, as logged
        for m in meta:
            out[m] = df[m]
        return out

    def confusion_pairs(self, con: Any, where: str, params: list, *, manifest: dict, fn: str,
                        values: dict | None = None) -> tuple[list[str], list[tuple], str]:
        """Span level, over entity types plus ``"O"``: each gold span against the type of the
        predicted span it matched (``"O"`` when missed), each ghost predicted span as ``("O",
        its type)``."""
        sql = (f"SELECT CASE WHEN span_kind = 'gold' THEN label ELSE 'O' END, "
               f"CASE WHEN span_kind = 'gold' THEN coalesce(matched_label, 'O') ELSE label END, count(*) "
               f"FROM {SPANS} WHERE id IN (SELECT id FROM samples WHERE {where}) "
               f"AND (span_kind = 'gold' OR error_type = 'ghost_span') GROUP BY ALL")
        pairs = con.execute(sql, params).fetchall()
        found = sorted({t for g, p, _ in pairs for t in (g, p)} - {"O"})
        types = list(entity_types_of(manifest.get("labels")) or found)
        return types + ["O"], pairs, "span"

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
