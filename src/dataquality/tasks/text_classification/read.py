"""The read side of the task: filter fields, edit actions, console capabilities, how edits apply,
the confusion matrix and the filtered summary (see ..base.Task)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import LabelError
from ..base import SAMPLE_EDIT_ACTIONS, Capabilities, EditAction, EditRequest, FilterField

EDIT_ACTIONS = (
    EditAction("relabel", "label", "Set the label to new_label."),
    EditAction("relabel_as_pred", None, "Set the label to the model's prediction."),
    *SAMPLE_EDIT_ACTIONS,
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ClassificationRead:
    """Read-side methods of the task protocol: one ``gold`` and one ``pred`` label per sample."""

    def filter_fields(self, manifest: dict) -> list[FilterField]:
        return []

    def edit_actions(self, manifest: dict) -> list[EditAction]:
        return list(EDIT_ACTIONS)

    def check_edit(self, edit: EditRequest, *, manifest: dict, fn: str) -> None:
        super().check_edit(edit, manifest=manifest, fn=fn)
        if edit.action == "relabel":
            labels = list(manifest.get("labels") or [])
            if edit.new_label not in labels:
                raise LabelError(f"{fn}: `new_label` must be one of the run's labels {labels}; got {edit.new_label!r}.")

    def apply_edit(self, df: Any, edit: Any, keys: list, live: np.ndarray, *, manifest: dict) -> None:
        m = df[S.ID].isin(keys).to_numpy() & live
        if not m.any():
            return
        if edit.action == "relabel":
            df.loc[m, S.GOLD] = edit.new_label
        elif edit.action == "relabel_as_pred":
            df.loc[m, S.GOLD] = df.loc[m, S.PRED]
        else:
            raise NotImplementedError(f"{self.name}: edit action {edit.action!r} is not applied")
        df.loc[m, "edited"] = True

    def end_edits(self, df: Any, *, manifest: dict) -> Any:
        if S.GOLD in df.columns and "is_misclassified" in df.columns:
            df["is_misclassified"] = df[S.GOLD].notna() & (df[S.GOLD] != df[S.PRED])
        return df

    def logged_schema(self, df: Any, *, has_labels: bool, meta: list[str], manifest: dict) -> Any:
        cols = [S.ID, S.TEXT] + ([S.TEXT_PAIR] if S.TEXT_PAIR in df.columns else [])
        out = df[cols].copy()
        if has_labels or df[S.GOLD].notna().any():
            out["label"] = df[S.GOLD]
        for m in meta:
            out[m] = df[m]
        return out

    def confusion_pairs(self, con: Any, where: str, params: list, *, manifest: dict, fn: str,
                        values: dict | None = None) -> tuple[list[str], list[tuple], str]:
        g, p = _quote(S.GOLD), _quote(S.PRED)
        sql = f"SELECT {g}, {p}, count(*) FROM samples WHERE {where} AND {g} IS NOT NULL GROUP BY ALL"
        return list(manifest.get("labels") or []), con.execute(sql, params).fetchall(), "sample"

    def summary_columns(self, manifest: dict) -> list[str]:
        return [S.GOLD, S.PRED, S.CONFIDENCE]

    def filtered_summary(self, rows: Any, *, manifest: dict) -> dict | None:
        from ...signals.summary import classification_metrics, top_misclassified_pairs

        labels = manifest["labels"]
        out: dict = {"mean_confidence": float(rows[S.CONFIDENCE].mean()) if len(rows) else None}
        if rows[S.GOLD].notna().any():
            idx = {l: i for i, l in enumerate(labels)}
            g = rows[S.GOLD].map(idx).to_numpy(dtype=np.int64)
            p = rows[S.PRED].map(idx).to_numpy(dtype=np.int64)
            m = classification_metrics(g, p, labels)
            out.update(m)
            out["top_misclassified_pairs"] = top_misclassified_pairs(m["confusion_matrix"], labels)
        return out

    def capabilities(self, manifest: dict) -> Capabilities:
        return Capabilities.of_labelled_samples(
            filter_fields=self.filter_fields(manifest), edit_actions=self.edit_actions(manifest),
            label_choices=list(manifest.get("labels") or []), summary_sections=["per_class", "confusion"],
        )
