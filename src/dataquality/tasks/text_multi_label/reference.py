"""The training reference of a multi-label run, read from its stored results.

When a ``finish()`` does not recompute the training split (it is unchanged), the splits it does
compute are scored against the training results an earlier ``finish()`` stored: embeddings, gold
labels per task, the map and its clusters, the per-task boundary thresholds, and the outputs of the
labeled splits. This is the only place they are read back from disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...signals.reference import HELDOUT_SPLITS, SplitOutputs, TrainingReference
from .schema import gold_indices, labels_of


def stored_outputs(results_root: Path, split: str, manifest: dict) -> SplitOutputs | None:
    """Confidence and predictions other than each task's first label of a stored split."""
    import pyarrow.parquet as pq

    path = Path(results_root) / split / S.SAMPLES_FILE
    if not path.exists():
        return None
    t = pq.read_table(path, columns=[S.CONFIDENCE, S.PRED])
    pred = gold_indices(t.column(S.PRED).to_pylist(), labels_of(manifest))
    return SplitOutputs(t.column(S.CONFIDENCE).to_numpy().astype(np.float64), (pred > 0).sum(axis=0))


def load_reference(results_root: Path, manifest: dict, *, stored_training: bool) -> TrainingReference:
    """The run's :class:`TrainingReference` (see :meth:`Task.training_reference`)."""
    tasks = list(manifest.get("tasks") or [])
    ref = TrainingReference(labels=tasks, settings=dict(manifest.get("signal_settings", {})))
    root = Path(results_root)
    for split in HELDOUT_SPLITS:
        out = stored_outputs(root, split, manifest)
        if out is not None:
            ref.outputs[split] = out
    if not stored_training:
        return ref
    out = stored_outputs(root, S.TRAIN, manifest)
    if out is not None:
        ref.outputs[S.TRAIN] = out
    if (root / S.SUMMARY_FILE).exists():
        from ...core.store import read_json

        sig = read_json(root / S.SUMMARY_FILE).get("splits", {}).get(S.TRAIN, {}).get("signals", {})
        ref.task_thresholds = sig.get("summary", {}).get("boundary_thresholds")
        words = sig.get("map", {}).get("words")
        if words is not None:
            ref.cluster_words = {int(k): v for k, v in words.items()}
    d = root / S.TRAIN
    if not (d / S.EMBEDDINGS_FILE).exists() or not (d / S.SAMPLES_FILE).exists():
        return ref
    import pyarrow.parquet as pq

    from ...core import vectors

    names = pq.read_schema(d / S.SAMPLES_FILE).names
    t = pq.read_table(d / S.SAMPLES_FILE, columns=[c for c in (S.GOLD, "x", "y", "cluster_id") if c in names])
    ref.gold = gold_indices(t.column(S.GOLD).to_pylist(), labels_of(manifest))
    ref.embeddings = np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r")
    ref.index = vectors.load_index(root, S.TRAIN)
    if "x" in t.column_names and "y" in t.column_names:
        ref.xy = np.stack([t.column("x").to_numpy(), t.column("y").to_numpy()], axis=1).astype(np.float32)
    if "cluster_id" in t.column_names:
        ref.cluster_id = t.column("cluster_id").to_numpy()
    return ref
