"""The built-in signals, registered in the order they run (later ones read earlier columns)."""

from __future__ import annotations

from ..core import layout as S
from .boundary import is_on_the_boundary
from .dep import data_error_potential
from .drift import drift, production_shift
from .dynamics import training_dynamics
from .map import embedding_map
from .mislabeled import likely_mislabeled
from .registry import Signal, SignalResult, SplitArrays, register
from .span_drift import span_drift
from .summary import split_summary


def _is_misclassified(data: SplitArrays) -> SignalResult:
    wrong = data.pred != data.gold
    return SignalResult(
        columns={"is_misclassified": wrong},
        flag="is_misclassified",
        summary={"count": int(wrong.sum()), "rate": float(wrong.mean()) if len(wrong) else 0.0},
    )


register(Signal("is_misclassified", _is_misclassified, inputs=("gold", "probs"), splits=S.LABELED_SPLITS,
                doc="True where the final-epoch argmax differs from the gold label."))
register(Signal("training_dynamics", training_dynamics, inputs=("gold", "epoch_probs"), splits=S.LABELED_SPLITS,
                doc="aum, confidence_mean, variability, correctness across epochs."))
register(Signal("data_error_potential", data_error_potential, inputs=("gold", "probs"), splits=S.LABELED_SPLITS,
                doc="DEP in [0, 1], higher = more likely a labeling or model problem."))
register(Signal("likely_mislabeled", likely_mislabeled, inputs=("gold", "probs"), splits=S.LABELED_SPLITS,
                doc="Confident learning on the blended probabilities, ranked by DEP."))
register(Signal("is_on_the_boundary", is_on_the_boundary, inputs=("probs",),
                doc="Certainty ratio p2/p1 above the training quantile."))
register(Signal("map", embedding_map, inputs=("embeddings",),
                doc="x, y (UMAP, fitted on training) and cluster_id (HDBSCAN)."))
register(Signal("drift", drift, inputs=("embeddings",),
                doc="drift_score, is_drifted (k-NN distance to training); set-level drift tests for inference."))
register(Signal("production_shift", production_shift, inputs=(),
                doc="Class and confidence shift of an inference set logged without embeddings."))
register(Signal("summary", split_summary, inputs=("probs",),
                doc="Metrics, confusion matrix, clusters and alerts of the split."))
register(Signal("span_drift", span_drift, inputs=("embeddings",), splits=(S.VALIDATION, S.TEST, S.INFERENCE),
                unit="span", doc="drift_score, is_drifted of predicted spans (k-NN distance to the training spans)."))
