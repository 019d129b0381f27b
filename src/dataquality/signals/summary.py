"""Per-split summary: metrics, confusion matrix, misclassified pairs, clusters, and alerts.

Every alert carries the filter (the model of ``dataquality.read.filters``) that selects its samples, so
the console and ``dq.metrics.get_dataframe(..., filter=alert["filter"])`` show exactly them.
"""

from __future__ import annotations

import numpy as np

from ..core import layout as S
from .alerts import alert, drift_alerts
from .registry import SignalResult, SplitArrays
from .settings import setting_value


def classification_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class and weighted/macro precision, recall, F1, support; confusion matrix.

    ``confusion[i][j]`` counts samples with gold ``labels[i]`` predicted ``labels[j]``.
    """
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (gold, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    n = float(support.sum())
    w = support / n if n else np.zeros(k)
    per_class = {
        labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i]), "predicted": int(predicted[i])}
        for i in range(k)
    }
    present = support > 0
    return {
        "accuracy": float(tp.sum() / n) if n else None,
        "per_class": per_class,
        "weighted": {"precision": float((w * precision).sum()), "recall": float((w * recall).sum()),
                     "f1": float((w * f1).sum())},
        "macro": {"precision": float(precision[present].mean()) if present.any() else 0.0,
                  "recall": float(recall[present].mean()) if present.any() else 0.0,
                  "f1": float(f1[present].mean()) if present.any() else 0.0},
        "confusion_matrix": cm.tolist(),
    }


def top_misclassified_pairs(cm: list[list[int]], labels: list[str], top: int = 10) -> list[dict]:
    m = np.asarray(cm)
    pairs = [(int(m[i, j]), i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j and m[i, j] > 0]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [{"gold": labels[i], "pred": labels[j], "count": c,
             "filter": {"gold": [labels[i]], "pred": [labels[j]]}} for c, i, j in pairs[:top]]


def _cluster_table(data: SplitArrays, words: dict) -> list[dict]:
    cols = data.columns
    if "cluster_id" not in cols:
        return []
    cl = cols["cluster_id"]
    dep = cols.get("data_error_potential")
    out = []
    pred = data.pred
    for c in np.unique(cl):
        m = cl == c
        row = {"cluster_id": int(c), "size": int(m.sum()), "words": words.get(str(int(c)), [])}
        if dep is not None:
            row["mean_dep"] = float(dep[m].mean())
        if data.gold is not None:
            sub = classification_metrics(data.gold[m], pred[m], data.labels)
            row["f1"] = sub["weighted"]["f1"]
            row["accuracy"] = sub["accuracy"]
        row["mean_confidence"] = float(data.probs[m].max(axis=1).mean())
        row["filter"] = {"cluster_id": [int(c)]}
        out.append(row)
    return out


def split_summary(data: SplitArrays) -> SignalResult:
    """Metrics and alerts of the split (no per-sample columns)."""
    summary: dict = {}
    alerts: list[dict] = []
    n = len(data.ids)
    cols = data.columns
    if data.gold is not None and n:
        m = classification_metrics(data.gold, data.pred, data.labels)
        summary.update(m)
        summary["top_misclassified_pairs"] = top_misclassified_pairs(m["confusion_matrix"], data.labels)
        dep = cols.get("data_error_potential")
        if "likely_mislabeled" in cols and cols["likely_mislabeled"].any():
            c = int(cols["likely_mislabeled"].sum())
            alerts.append(alert("likely_mislabeled", "warning",
                                 f"{c} samples ({c / n:.1%}) are likely mislabeled: their label disagrees with "
                                 "the model across epochs and with their nearest neighbours.",
                                 {"likely_mislabeled": True}, c))
        if dep is not None:
            # count with the threshold the filter carries (rounded; compared in float64 as DuckDB does)
            hard = round(min(float(dep.mean() + dep.std()), 1.0), 4)
            c = int((dep.astype(np.float64) >= hard).sum())
            if c:
                alerts.append(alert("hard_for_the_model", "info",
                                     f"{c} samples ({c / n:.1%}) are hard for the model (DEP ≥ {hard:.2f}).",
                                     {"dep_min": hard}, c))
        f1s = {l: v["f1"] for l, v in m["per_class"].items() if v["support"] > 0}
        if len(f1s) > 1:
            mean_f1 = float(np.mean(list(f1s.values())))
            for l, f in sorted(f1s.items(), key=lambda t: t[1]):
                if f < mean_f1 - 0.1 or f < 0.5 * mean_f1:
                    alerts.append(alert("low_performing_class", "warning",
                                         f"Class {l!r} has F1 {f:.2f}, below the class average {mean_f1:.2f}.",
                                         {"gold": [l]}, m["per_class"][l]["support"], label=l))
        support = np.array([m["per_class"][l]["support"] for l in data.labels])
        if len(support) > 1 and support.max() > 0:
            share = support / support.sum()
            for i in np.flatnonzero(share < 0.5 / len(data.labels)):
                if support[i] == 0 and data.split != S.TRAIN:
                    continue  # a class absent from an evaluation split is not an imbalance
                alerts.append(alert("class_imbalance", "info",
                                     f"Class {data.labels[i]!r} has {int(support[i])} samples ({share[i]:.1%}), "
                                     f"under half of an even share ({1 / len(data.labels):.1%}).",
                                     {"gold": [data.labels[i]]}, int(support[i]), label=data.labels[i]))
        if "is_on_the_boundary" in cols:
            otb = cols["is_on_the_boundary"]
            for pair in _overlapping_pairs(data, otb):
                alerts.append(alert("class_overlap", "info",
                                     f"Classes {pair['a']!r} and {pair['b']!r} overlap: {pair['count']} samples "
                                     "sit on the boundary between them.",
                                     {"gold": [pair["a"], pair["b"]], "pred": [pair["a"], pair["b"]], "is_otb": True},
                                     pair["count"]))
    clusters = _cluster_table(data, data.cache.cluster_words or {})
    if clusters:
        summary["clusters"] = clusters
        dep = cols.get("data_error_potential")
        if dep is not None:
            hard = min(float(dep.mean() + dep.std()), 1.0)
            for c in clusters:
                if c["cluster_id"] >= 0 and c["size"] >= 10 and c.get("mean_dep", 0) >= hard:
                    alerts.append(alert("high_dep_cluster", "warning",
                                         f"Cluster {c['cluster_id']} ({', '.join(c['words'][:4])}) has a high mean DEP "
                                         f"{c['mean_dep']:.2f} over {c['size']} samples.",
                                         {"cluster_id": [c["cluster_id"]]}, c["size"]))
    if "is_drifted" in cols or data.cache.drift_summary is not None:
        flag = data.columns.get("is_drifted")  # absent when logged without embeddings
        alerts.extend(drift_alerts(
            data.cache.drift_summary or {}, split=data.split, n=n,
            n_drifted=int(flag.sum()) if flag is not None else None,
            expected=1.0 - float(setting_value(data.settings, "drift_quantile")), confidence=data.probs.max(axis=1),
            grown_filter=lambda label: ({"pred": [label]},
                                        int(round(data.cache.drift_summary["class_shift"]["share"][label] * n)))))
    if data.split == S.INFERENCE or data.gold is None:
        counts = np.bincount(data.pred, minlength=len(data.labels))
        summary["pred_distribution"] = {l: int(c) for l, c in zip(data.labels, counts)}
        summary["mean_confidence"] = float(data.probs.max(axis=1).mean()) if n else None
    summary["alerts"] = alerts
    return SignalResult(columns={}, summary=summary)


def _overlapping_pairs(data: SplitArrays, otb: np.ndarray, min_share: float = 0.02) -> list[dict]:
    if not otb.any() or len(data.labels) < 2:
        return []
    top2 = np.argsort(-data.probs[otb], axis=1)[:, :2]
    a, b = np.minimum(top2[:, 0], top2[:, 1]), np.maximum(top2[:, 0], top2[:, 1])
    pairs, counts = np.unique(np.stack([a, b], axis=1), axis=0, return_counts=True)
    out = []
    for (i, j), c in sorted(zip(pairs.tolist(), counts.tolist()), key=lambda t: -t[1]):
        if c >= max(5, min_share * len(data.ids)):
            # the alert's count is what its filter (gold and pred in the pair, on the boundary) selects
            sel = otb & np.isin(data.gold, [i, j]) & np.isin(data.pred, [i, j])
            if sel.any():
                out.append({"a": data.labels[i], "b": data.labels[j], "count": int(sel.sum())})
    return out[:5]
