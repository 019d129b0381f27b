"""The training split as the reference that other splits are compared with.

Validation and test samples get their label-agreement evidence from their nearest training
neighbours, every split is placed on the training map, and boundary thresholds come from the
training distribution. Within one ``finish()`` the reference built for the training split is kept
in ``SplitArrays.shared``; a later process (e.g. one that only adds an inference set) loads it
from ``results/training/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import layout as S
from .neighbors import NeighborIndex, build_index


@dataclass
class Reference:
    """Training-split arrays that cross-split signals need (rows as in its samples.parquet)."""

    embeddings: np.ndarray
    gold: np.ndarray
    n_labels: int
    index: NeighborIndex
    xy: np.ndarray | None = None
    cluster_id: np.ndarray | None = None
    thresholds: dict = field(default_factory=dict)


def reference_for(data) -> Reference | None:
    """The reference for ``data``'s split: built from ``data`` itself for the training split."""
    ref = data.shared.get("reference")
    if ref is not None:
        return ref
    if data.split == S.TRAIN:
        if data.embeddings is None or data.gold is None:
            return None
        ref = Reference(embeddings=data.embeddings, gold=data.gold, n_labels=len(data.labels),
                        index=build_index(data.embeddings))
    else:
        ref = _load(data.results_root, len(data.labels))
    if ref is not None:
        data.shared["reference"] = ref
    return ref


def _load(results_root: Path | None, n_labels: int) -> Reference | None:
    if results_root is None:
        return None
    d = Path(results_root) / S.TRAIN
    if not (d / S.EMBEDDINGS_FILE).exists() or not (d / S.SAMPLES_FILE).exists():
        return None
    import pyarrow.parquet as pq

    from ..core.store import read_json

    emb = np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r")
    cols = pq.read_schema(d / S.SAMPLES_FILE).names
    want = [c for c in ("gold", "x", "y", "cluster_id") if c in cols]
    t = pq.read_table(d / S.SAMPLES_FILE, columns=want)
    summary_path = Path(results_root) / S.SUMMARY_FILE
    labels = None
    thresholds = {}
    if summary_path.exists():
        summ = read_json(summary_path)
        labels = summ.get("labels")
        sig = summ.get("splits", {}).get(S.TRAIN, {}).get("signals", {})
        if "threshold" in sig.get("is_on_the_boundary", {}):
            thresholds["boundary_ratio"] = sig["is_on_the_boundary"]["threshold"]
    gold_names = t.column("gold").to_pylist()
    lab = {l: i for i, l in enumerate(labels or sorted(set(gold_names)))}
    gold = np.fromiter((lab[g] for g in gold_names), dtype=np.int64, count=len(gold_names))
    ref = Reference(embeddings=emb, gold=gold, n_labels=n_labels, index=build_index(emb), thresholds=thresholds)
    if "x" in want and "y" in want:
        ref.xy = np.stack([t.column("x").to_numpy(), t.column("y").to_numpy()], axis=1).astype(np.float32)
    if "cluster_id" in want:
        ref.cluster_id = t.column("cluster_id").to_numpy()
    return ref


def reference_neighbors(data, k: int):
    """(sims, idx) of each sample's ``k`` nearest training samples (itself excluded in training).

    Cached per split in ``data.memo``; None without a reference or embeddings.
    """
    key = ("reference_neighbors", k)
    if key in data.memo:
        return data.memo[key]
    ref = reference_for(data)
    if ref is None or data.embeddings is None:
        return None
    if data.split == S.TRAIN:
        out = ref.index.search(ref.index.points, k, self_rows=np.arange(ref.index.n), reduced=True)
    else:
        out = ref.index.search(data.embeddings, k)
    data.memo[key] = out
    return out
