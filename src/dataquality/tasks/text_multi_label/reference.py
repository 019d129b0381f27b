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
from ...signals.reference import SplitOutputs, TrainingReference
from ..stored import load_stored_reference
from .labels import gold_indices, labels_of


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

    def from_summary(ref: TrainingReference, sig: dict) -> None:
        ref.task_thresholds = sig.get("summary", {}).get("boundary_thresholds")

    return load_stored_reference(results_root, labels=list(manifest.get("tasks") or []),
                                 settings=manifest.get("signal_settings", {}), stored_training=stored_training,
                                 outputs_of=lambda root, split: stored_outputs(root, split, manifest),
                                 gold_of=lambda rows: gold_indices(rows, labels_of(manifest)),
                                 from_summary=from_summary)
