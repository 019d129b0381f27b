"""The compute side of the task: a split's results at ``finish()`` (see ..base.Task).

The signals themselves are pure functions in :mod:`.signals`; this module joins what the pipeline
hands over into their arrays and writes the split's results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core import layout as S
from ...exceptions import ConfigurationError
from .schema import TASK_LABELS, gold_indices, require_labels, widths_of
from .signals import multilabel_signals, task_probs

DEP_KNN_K = 10


class MultiLabelCompute:
    """Compute-side methods of the task protocol."""

    def check_ready(self, manifest: dict, *, fn: str) -> None:
        require_labels(manifest, fn=fn)
        width, logged = self.logits_width(manifest), manifest.get("logits_dim")  # type: ignore[attr-defined]
        if logged is not None and width is not None and logged != width:
            raise ConfigurationError(
                f"{fn}: the run's tasks and labels give logit rows of width {width}, but model outputs were "
                f"logged with {logged} columns."
            )

    def compute_split(self, ctx: Any) -> dict:
        """Per-task and per-sample results of one split, written into ``ctx.tmp``.

        ``ctx`` (the pipeline's split context) provides: ``manifest``, ``split``,
        ``inference_name``, ``inputs`` (the split's input table, row-aligned with the results),
        ``epoch_logits`` ((E, n, width) float32, ascending epochs, the final one last; E = 1 for
        inference), ``embeddings`` ((n, d) or None), ``tmp`` (the staging folder), ``settings``,
        ``shared`` (a dict shared by the splits of one ``finish()``), and optionally
        ``neighbors(k)`` (each sample's k nearest training rows, itself excluded, (n, k) ints;
        None without embeddings) and ``reference_gold`` (the training split's gold, (n_ref, T)).
        Drift, similarity, the map and clusters are the pipeline's embedding signals, as for
        classification; this adds the per-task columns and summary.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        m = ctx.manifest
        tasks, labels = require_labels(m, fn="dq.finish")
        binary = bool(m.get("binary"))
        table = ctx.inputs
        gold = None
        if ctx.split != S.INFERENCE:
            gold = gold_indices(table.column(TASK_LABELS).to_pylist(), labels)
        shared = ctx.shared.setdefault("multilabel", {})
        nb_idx = ref_gold = None
        neighbors = getattr(ctx, "neighbors", None)
        if gold is not None and neighbors is not None:
            # the training split's gold: its own, the pipeline's reference, or the training split
            # computed earlier in this finish()
            ref_gold = gold if ctx.split == S.TRAIN else getattr(ctx, "reference_gold", None)
            if ref_gold is None:
                ref_gold = shared.get("reference_gold")
            nb_idx = neighbors(int(ctx.settings.get("dep_knn_k", DEP_KNN_K))) if ref_gold is not None else None
            if nb_idx is None:
                ref_gold = None
        cols, summary = multilabel_signals(
            ctx.epoch_logits, gold, tasks=tasks, labels=labels, binary=binary, nb_idx=nb_idx, ref_gold=ref_gold,
            boundary_thresholds=shared.get("boundary_thresholds") if ctx.split != S.TRAIN else None,
            settings=ctx.settings,
        )
        if ctx.split == S.TRAIN:
            shared["boundary_thresholds"] = summary["boundary_thresholds"]
            shared["reference_gold"] = gold
        probs = np.concatenate(task_probs(ctx.epoch_logits[-1], widths_of(m), binary), axis=1)
        np.save(ctx.tmp / S.PROBS_FILE, probs)
        out = {S.ID: table.column(S.ID), S.TEXT: table.column(S.TEXT)}
        out[S.GOLD] = (table.column(TASK_LABELS) if gold is not None
                       else pa.nulls(table.num_rows, pa.list_(pa.string())))
        out[S.PRED] = pa.array(cols.pop("pred"), pa.list_(pa.string()))
        out[S.CONFIDENCE] = pa.array(cols.pop("confidence"))
        for c in table.column_names:
            if c not in (S.ID, S.TEXT, TASK_LABELS):
                out[c] = table.column(c)
        for c, v in cols.items():
            out[c] = pa.array(v, pa.list_(pa.string())) if c == "mislabeled_tasks" else pa.array(v)
        pq.write_table(pa.table(out), ctx.tmp / S.SAMPLES_FILE)
        summary.update({"split": ctx.split, "inference_name": ctx.inference_name, "n_samples": int(table.num_rows)})
        return summary
