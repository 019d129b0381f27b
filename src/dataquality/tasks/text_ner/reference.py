"""The training reference of an NER run, read from its stored results.

When a ``finish()`` does not recompute the training split, the splits it computes are scored
against the stored training results: each sample's mean token embedding
(``sample_embeddings.npy``), the span embeddings with their index and twins, and the outputs
(sample confidence, predicted spans per entity type) of the labeled splits. Predicted-span
embeddings of stored held-out splits are read either way. This is the only place those are read
back from disk; the signals get them as a :class:`~dataquality.signals.reference.TrainingReference`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...signals.reference import HELDOUT_SPLITS, SpanReference, SplitOutputs, TrainingReference
from .tables import SAMPLE_EMBEDDINGS_FILE, SPANS_FILE, span_twins


def stored_outputs(folder: Path, types: list[str]) -> SplitOutputs | None:
    """Sample confidences and predicted spans per entity type of a split's stored results."""
    import pyarrow.parquet as pq

    if not (folder / S.SAMPLES_FILE).exists() or not (folder / SPANS_FILE).exists():
        return None
    conf = pq.read_table(folder / S.SAMPLES_FILE, columns=[S.CONFIDENCE]).column(S.CONFIDENCE).to_numpy()
    spans = pq.read_table(folder / SPANS_FILE, columns=["span_kind", "label"]).to_pandas()
    lab = spans.loc[spans["span_kind"] == "pred", "label"]
    counts = np.array([int((lab == t).sum()) for t in types], np.int64)
    return SplitOutputs(np.asarray(conf, np.float64), counts)


def stored_pred_span_embeddings(folder: Path) -> np.ndarray | None:
    """Embeddings of the predicted spans of a split's stored results."""
    import pyarrow.parquet as pq

    if not (folder / SPANS_FILE).exists() or not (folder / S.EMBEDDINGS_FILE).exists():
        return None
    kind = pq.read_table(folder / SPANS_FILE, columns=["span_kind"]).column("span_kind").to_pylist()
    all_emb = np.load(folder / S.EMBEDDINGS_FILE, mmap_mode="r")
    if len(all_emb) != len(kind):
        return None
    return np.asarray(all_emb[np.flatnonzero(np.asarray(kind, object) == "pred")])


def stored_span_twins(folder: Path) -> np.ndarray | None:
    """:func:`span_twins` of a split's stored spans."""
    import pyarrow.parquet as pq

    path = folder / SPANS_FILE
    if not path.exists():
        return None
    t = pq.read_table(path, columns=[S.ID, "token_start", "token_end"])
    return span_twins(t.column(S.ID).to_numpy(zero_copy_only=False), t.column("token_start").to_numpy(),
                      t.column("token_end").to_numpy())


def load_reference(results_root: Path, manifest: dict, types: list[str], *, stored_training: bool) -> TrainingReference:
    """The run's :class:`TrainingReference` (labels: the entity ``types``): held-out outputs and
    predicted-span embeddings from stored results, and with ``stored_training`` the stored
    training split."""
    root = Path(results_root)
    ref = TrainingReference(labels=list(types), settings=dict(manifest.get("signal_settings", {})),
                            spans=SpanReference())
    for split in HELDOUT_SPLITS:
        out = stored_outputs(root / split, types)
        if out is not None:
            ref.outputs[split] = out
        emb = stored_pred_span_embeddings(root / split)
        if emb is not None:
            ref.spans.heldout[split] = emb
    if not stored_training:
        return ref
    train = root / S.TRAIN
    out = stored_outputs(train, types)
    if out is not None:
        ref.outputs[S.TRAIN] = out
    if (train / SAMPLE_EMBEDDINGS_FILE).exists():
        ref.embeddings = np.load(train / SAMPLE_EMBEDDINGS_FILE)
    if (train / S.EMBEDDINGS_FILE).exists():
        from ...core import vectors

        ref.spans.embeddings = np.load(train / S.EMBEDDINGS_FILE, mmap_mode="r")
        ref.spans.index = vectors.load_index(root, S.TRAIN)
        ref.spans.twins = stored_span_twins(train)
    return ref
