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
from ...signals.reference import HELDOUT_SPLITS, SplitOutputs, TrainingReference


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
    ref = TrainingReference(labels=labels, settings=dict(manifest.get("signal_settings", {})))
    root = Path(results_root)
    for split in HELDOUT_SPLITS:
        out = stored_outputs(root, split, labels)
        if out is not None:
            ref.outputs[split] = out
    if not stored_training:
        return ref
    out = stored_outputs(root, S.TRAIN, labels)
    if out is not None:
        ref.outputs[S.TRAIN] = out
    summary_path = root / S.SUMMARY_FILE
    if summary_path.exists():
        from ...core.store import read_json

        sig = read_json(summary_path).get("splits", {}).get(S.TRAIN, {}).get("signals", {})
        ref.boundary_ratio = sig.get("is_on_the_boundary", {}).get("threshold")
        words = sig.get("map", {}).get("words")
        if words is not None:
            ref.cluster_words = {int(k): v for k, v in words.items()}
    d = root / S.TRAIN
    if not (d / S.EMBEDDINGS_FILE).exists() or not (d / S.SAMPLES_FILE).exists():
        return ref
    import pyarrow.parquet as pq

    from ...core import vectors

    cols = pq.read_schema(d / S.SAMPLES_FILE).names
    want = [c for c in (S.GOLD, "x", "y", "cluster_id") if c in cols]
    t = pq.read_table(d / S.SAMPLES_FILE, columns=want)
    if S.GOLD in want:
        gold_names = t.column(S.GOLD).to_pylist()
        lab = {l: i for i, l in enumerate(labels or sorted(set(gold_names)))}
        ref.gold = np.fromiter((lab[g] for g in gold_names), dtype=np.int64, count=len(gold_names))
    ref.embeddings = np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r")
    ref.index = vectors.load_index(root, S.TRAIN)
    if "x" in want and "y" in want:
        ref.xy = np.stack([t.column("x").to_numpy(), t.column("y").to_numpy()], axis=1).astype(np.float32)
    if "cluster_id" in want:
        ref.cluster_id = t.column("cluster_id").to_numpy()
    return ref
