"""The compute side of the multi-label task: a split's results at ``finish()`` (see ..base.Task).

The per-task signals are pure functions in :mod:`.signals`; drift, the map and clusters come from
the registry's embedding signals (:mod:`dataquality.signals`), exactly as for classification, over
the one embedding each sample has. Per split it writes into the pipeline's staging folder:

- ``samples.parquet``: id, text, ``gold`` and ``pred`` (one label per task, in task order),
  ``confidence`` (the lowest over the tasks), meta columns, per-task columns (``gold_<task>``,
  ``pred_<task>``, ``confidence_<task>``, ``aum_<task>``, ``data_error_potential_<task>``,
  ``is_misclassified_<task>``, ``likely_mislabeled_<task>``, ``is_on_the_boundary_<task>``),
  sample columns (``data_error_potential`` = the highest over the tasks, ``mislabeled_tasks``,
  ``likely_mislabeled``, ``is_misclassified``), and the embedding signals' columns;
- ``embeddings.npy`` and ``probs.npy`` (every task's probabilities side by side), row-aligned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...core import parts as P
from ...exceptions import ConfigurationError
from ...signals import SplitArrays, run_signals
from ...signals.reference import SplitOutputs, TrainingReference, reference_neighbors
from ...signals.settings import setting_value
from ..base import SplitContext
from .labels import TASK_LABELS, gold_indices, require_labels, widths_of
from .signals import multilabel_signals, task_probs

EMBEDDING_SIGNALS = ("map", "drift")  # the registry's signals this task runs on its samples


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

    def probabilities(self, logits: np.ndarray, manifest: dict) -> np.ndarray:
        """Every task's probabilities side by side (binary tasks ``[1 − σ, σ]``)."""
        return np.concatenate(task_probs(np.asarray(logits, np.float32), widths_of(manifest),
                                         bool(manifest.get("binary"))), axis=-1)

    def training_reference(self, results_root: Path, manifest: dict, *, stored_training: bool) -> TrainingReference:
        from .reference import load_reference

        return load_reference(results_root, manifest, stored_training=stored_training)

    def compute_split(self, ctx: SplitContext) -> dict:
        """Join the split's inputs and outputs, run the per-task and embedding signals and write
        the results into ``ctx.tmp`` (see the module docstring). Returns the split's summary."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        m, fn, key, split = ctx.manifest, ctx.fn, ctx.key, ctx.split
        tasks, labels = require_labels(m, fn=fn)
        binary = bool(m.get("binary"))
        labeled = split != S.INFERENCE
        table = P.read_inputs(ctx.paths, key, fn=fn)
        in_ids = table.column(S.ID).to_numpy(zero_copy_only=False)
        joined = P.join_outputs(ctx.paths, key, in_ids, width=self.logits_width(m),  # type: ignore[attr-defined]
                                emb_path=ctx.tmp / S.EMBEDDINGS_FILE, all_epochs=labeled, fn=fn)
        rows, n = joined.rows, len(joined.rows)
        table = table.take(pa.array(rows))
        gold = gold_indices(table.column(TASK_LABELS).to_pylist(), labels) if labeled else None
        probs = self.probabilities(joined.logits[-1], m)
        np.save(ctx.tmp / S.PROBS_FILE, probs)

        ref = ctx.reference
        data = SplitArrays(split=split, inference_name=ctx.inference_name, labels=list(tasks), ids=in_ids[rows],
                           gold=None, probs=None, embeddings=joined.embeddings, epoch_probs=None,
                           epochs=joined.epochs if labeled else [], texts=table.column(S.TEXT),
                           settings=ctx.settings, reference=ref)
        if split == S.TRAIN:
            ref.embeddings, ref.gold = joined.embeddings, gold
            ref.neighbors = ref.index = ref.drift = None
        nb_idx = ref_gold = None
        if gold is not None and ref.gold is not None and ref.embeddings is not None and data.embeddings is not None:
            found = reference_neighbors(data, int(setting_value(ctx.settings, "dep_knn_k")))
            if found is not None:
                nb_idx, ref_gold = found[1], ref.gold
        cols, task_summary = multilabel_signals(
            joined.logits, gold, tasks=tasks, labels=labels, binary=binary, nb_idx=nb_idx, ref_gold=ref_gold,
            boundary_thresholds=None if split == S.TRAIN else ref.task_thresholds, settings=ctx.settings,
        )
        if split == S.TRAIN:
            ref.task_thresholds = task_summary["boundary_thresholds"]
        # What inference sets are tested against: per-sample confidence, predicted positives per task.
        pred_idx = np.asarray([[labels[t].index(p) for t, p in enumerate(row)] for row in cols["pred"]],
                              dtype=np.int64).reshape(n, len(tasks))
        data.confidence = np.asarray(cols["confidence"], np.float64)
        data.pred_counts = (pred_idx > 0).sum(axis=0)  # per task: predictions other than its first label
        data.count_unit = "positive predictions per task" if binary else "predictions other than each task's first label"
        if labeled:
            ref.set_outputs(split, SplitOutputs(data.confidence, data.pred_counts))
        emb_cols, emb_summary = ({}, {})
        if ctx.signals:
            emb_cols, emb_summary = run_signals(data, names=list(EMBEDDING_SIGNALS))
            if split == S.TRAIN:
                ref.remember_training(emb_cols, emb_summary)
        summary = {"signals": {**emb_summary, "summary": task_summary}}  # the task's summary, as classification's

        out = {S.ID: table.column(S.ID), S.TEXT: table.column(S.TEXT)}
        out[S.GOLD] = table.column(TASK_LABELS) if labeled else pa.nulls(n, pa.list_(pa.string()))
        out[S.PRED] = pa.array(cols.pop("pred"), pa.list_(pa.string()))
        out[S.CONFIDENCE] = pa.array(cols.pop("confidence"))
        for c in table.column_names:
            if c not in (S.ID, S.TEXT, TASK_LABELS):
                out[c] = table.column(c)
        for c, v in {**cols, **emb_cols}.items():
            out[c] = pa.array(v, pa.list_(pa.string())) if c == "mislabeled_tasks" else pa.array(v)
        pq.write_table(pa.table(out), ctx.tmp / S.SAMPLES_FILE)
        summary.update({"split": split, "inference_name": ctx.inference_name, "n_samples": int(n),
                        "n_inputs": int(joined.n_inputs), "n_inputs_without_outputs": int(joined.n_inputs - n),
                        "epochs": joined.epochs if labeled else [], "has_embeddings": joined.embeddings is not None,
                        "pred_counts": {t: int(c) for t, c in zip(tasks, (pred_idx > 0).sum(axis=0))}})
        if gold is not None:
            summary["gold_counts"] = {t: int(c) for t, c in zip(tasks, (gold > 0).sum(axis=0))}
            summary["accuracy"] = float((pred_idx == gold).all(axis=1).mean()) if n else None
        return summary
