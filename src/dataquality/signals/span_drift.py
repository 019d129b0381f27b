"""``span_drift``: drift of predicted spans against the training spans (span-scoring tasks).

Per predicted span, in the drift metric of samples (:mod:`.drift`: partially whitened cosine,
mean distance to the ``drift_k`` nearest training spans, local scale). The score is the
percentile of a span's drift distance among those of held-out data's predicted spans
(validation, else test; at least :data:`HELDOUT_MIN_SPANS`): training spans sit closer to each
other than new spans of the same distribution do, as the model predicts fewer spurious spans on
the data it was trained on, so held-out tweets scored against the training spans' own
distribution were flagged at 13.7% instead of 5% (``bench/ner_drift.py``). Without held-out data
the training spans are the reference, each scored without itself and without its twin (a gold
span and the predicted span with its boundaries have one embedding, at distance 0). The held-out
reference assumes the validation spans are like the training ones: out-of-coverage data in the
validation split would raise the threshold with it (samples, scored against training, would show
that data).
"""

from __future__ import annotations

import numpy as np

from ..core import layout as S
from .drift import metric_reference, score_drift
from .reference import HELDOUT_SPLITS, TrainingReference
from .registry import SignalResult, SplitArrays
from .settings import setting_value

HELDOUT_MIN_SPANS = 100  # held-out predicted spans needed to be the drift reference


def span_metric(ref: TrainingReference) -> dict | None:
    """The drift metric of the training spans of ``ref``, derived once (kept in
    ``ref.spans.drift``); None without training spans or their index."""
    spans = ref.spans
    if spans is None:
        return None
    if spans.drift is not None:
        return spans.drift
    if spans.index is None or spans.embeddings is None:
        return None
    heldout_split, heldout = None, None
    for split in HELDOUT_SPLITS:
        emb = spans.heldout.get(split)
        if emb is not None and len(emb) >= HELDOUT_MIN_SPANS:
            heldout_split, heldout = split, emb
            break
    twins = None
    if heldout is None:
        twins = spans.twins
        if twins is not None and len(twins) != len(spans.embeddings):
            twins = None
    st = ref.settings
    metric = metric_reference(spans.index, spans.embeddings, k=int(setting_value(st, "drift_k")),
                              alpha=float(setting_value(st, "drift_local_scale")),
                              beta=float(setting_value(st, "drift_whitening")),
                              quantile=float(setting_value(st, "drift_quantile")),
                              rng=np.random.default_rng(int(setting_value(st, "seed"))), twins=twins, heldout=heldout)
    if metric is None:
        return None
    metric["reference"] = f"{heldout_split} predicted spans" if heldout is not None else "training spans"
    spans.drift = metric
    return metric


def span_drift(data: SplitArrays) -> SignalResult:
    """``drift_score`` and ``is_drifted`` of each scored span row (NaN / False for the others)."""
    if data.split == S.TRAIN or data.reference is None or not len(data.embeddings):
        return SignalResult(columns={})
    ref = span_metric(data.reference)
    if ref is None:
        return SignalResult(columns={})
    emb = data.embeddings
    is_pred = data.scored if data.scored is not None else np.ones(len(emb), bool)
    score = np.full(len(emb), np.nan, np.float32)
    flag = np.zeros(len(emb), bool)
    if is_pred.any():
        _, score[is_pred], flag[is_pred] = score_drift(ref, emb[is_pred])
    m = int(is_pred.sum())
    return SignalResult(
        columns={"drift_score": score, "is_drifted": flag}, flag="is_drifted",
        summary={"k": ref["k"], "local_scale_alpha": ref["alpha"], "whitening_beta": ref["beta"],
                 "reference": ref["reference"], "threshold_distance": ref["threshold"], "quantile": ref["quantile"],
                 "count": int(flag.sum()), "rate": float(flag.sum() / m) if m else 0.0,
                 "expected_rate": round(1 - ref["quantile"], 4), "unit": "predicted span"})
