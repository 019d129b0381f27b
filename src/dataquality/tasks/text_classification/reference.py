"""The training reference of a text-classification run, read from its stored results.

When a ``finish()`` does not recompute the training split (it is unchanged), the splits it does
compute are scored against the training results stored by an earlier ``finish()``: embeddings,
gold labels, map and clusters, the boundary threshold, and the outputs of the labeled splits.
This is the only place those are read back from disk; the signals get them as a
:class:`~dataquality.signals.reference.TrainingReference`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...signals.reference import SplitOutputs, TrainingReference
from ..stored import load_stored_reference


def stored_outputs(results_root: Path, split: str, labels: list[str]) -> SplitOutputs | None:
    """Confidence and predicted counts of a split's stored results, or None if it has none."""
    import pyarrow.parquet as pq

    path = Path(results_root) / split / S.SAMPLES_FILE
    if not path.exists():
        return None
    t = pq.read_table(path, columns=[S.CONFIDENCE, S.PRED])
    lab = {l: i for i, l in enumerate(labels)}
    pred = np.fromiter((lab[p] for p in t.column(S.PRED).to_pylist()), dtype=np.int64, count=len(t))
    return SplitOutputs(t.column(S.CONFIDENCE).to_numpy().astype(np.float64), np.bincount(pred, minlength=len(labels)))


def load_reference(results_root: Path, manifest: dict, *, stored_training: bool) -> TrainingReference:
    """The run's :class:`TrainingReference`: held-out outputs from stored results, and with
    ``stored_training`` the stored training split (see :meth:`Task.training_reference`)."""
    labels = list(manifest.get("labels") or [])

    def gold_of(names: list) -> np.ndarray:
        lab = {l: i for i, l in enumerate(labels or sorted(set(names)))}
        return np.fromiter((lab[g] for g in names), dtype=np.int64, count=len(names))

    def from_summary(ref: TrainingReference, sig: dict) -> None:
        ref.boundary_ratio = sig.get("is_on_the_boundary", {}).get("threshold")

    return load_stored_reference(results_root, labels=labels, settings=manifest.get("signal_settings", {}),
                                 stored_training=stored_training, gold_of=gold_of, from_summary=from_summary,
                                 outputs_of=lambda root, split: stored_outputs(root, split, labels))
