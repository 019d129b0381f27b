"""A sample-scoring task's training reference, read back from the results an earlier
``finish()`` stored (when this ``finish()`` does not recompute the training split).

This is the one place such results are read back from disk: embeddings and their index, gold
labels, the map and its clusters' words, what the training split's summary keeps for the other
splits, and the outputs of the labeled splits. The signals get them as a
:class:`~dataquality.signals.reference.TrainingReference`. The task says how its stored columns
read (``outputs_of``, ``gold_of``) and what it keeps from the summary (``from_summary``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core import layout as S
from ..signals.reference import HELDOUT_SPLITS, SplitOutputs, TrainingReference


def load_stored_reference(results_root: Path, *, labels: list, settings: dict, stored_training: bool,
                          outputs_of: Callable[[Path, str], SplitOutputs | None],
                          gold_of: Callable[[list], np.ndarray],
                          from_summary: Callable[[TrainingReference, dict], None]) -> TrainingReference:
    """The run's :class:`TrainingReference` (see :meth:`dataquality.tasks.base.Task.training_reference`).

    Parameters
    ----------
    labels : list
        What the reference's outputs count (class names; multi-label: task names).
    outputs_of : callable
        ``outputs_of(results_root, split)``: a stored split's confidence and predicted counts,
        or None when it has no results.
    gold_of : callable
        ``gold_of(values)``: the stored ``gold`` column (a list) as label indices.
    from_summary : callable
        ``from_summary(ref, signals_summary)``: keeps what the training split's summary holds for
        the other splits (a boundary threshold, per-task thresholds).
    """
    ref = TrainingReference(labels=list(labels), settings=dict(settings))
    root = Path(results_root)
    for split in HELDOUT_SPLITS + ((S.TRAIN,) if stored_training else ()):
        out = outputs_of(root, split)
        if out is not None:
            ref.outputs[split] = out
    if not stored_training:
        return ref
    if (root / S.SUMMARY_FILE).exists():
        from ..core.store import read_json

        sig = read_json(root / S.SUMMARY_FILE).get("splits", {}).get(S.TRAIN, {}).get("signals", {})
        from_summary(ref, sig)
        words = sig.get("map", {}).get("words")
        if words is not None:
            ref.cluster_words = {int(k): v for k, v in words.items()}
    d = root / S.TRAIN
    if not (d / S.EMBEDDINGS_FILE).exists() or not (d / S.SAMPLES_FILE).exists():
        return ref
    import pyarrow.parquet as pq

    from ..core import vectors

    names = pq.read_schema(d / S.SAMPLES_FILE).names
    t = pq.read_table(d / S.SAMPLES_FILE, columns=[c for c in (S.GOLD, "x", "y", "cluster_id") if c in names])
    if S.GOLD in t.column_names:
        ref.gold = gold_of(t.column(S.GOLD).to_pylist())
    ref.embeddings = np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r")
    ref.index = vectors.load_index(root, S.TRAIN)
    if "x" in t.column_names and "y" in t.column_names:
        ref.xy = np.stack([t.column("x").to_numpy(), t.column("y").to_numpy()], axis=1).astype(np.float32)
    if "cluster_id" in t.column_names:
        ref.cluster_id = t.column("cluster_id").to_numpy()
    return ref
