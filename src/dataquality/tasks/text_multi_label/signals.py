"""The multi-label signals as pure functions: arrays in, columns and a small summary out.

Every task is scored as a classification of its own, with the shared definitions of
``dataquality.signals`` (nothing is copied):

- **DEP per task**: the task's probabilities averaged over the logged epochs (softmax over the
  task's logits; a binary task's sigmoid ``σ`` as ``[1 − σ, σ]``), blended with the task's label
  distribution among the sample's nearest training neighbours in the shared embedding
  (:func:`dataquality.signals.dep.knn_label_distribution`, weight ``1 − dep_knn_weight``), and
  DEP = ``(1 − margin) / 2`` (:func:`dataquality.signals.dep.margin_of`). Without neighbours and
  with one epoch it is Galileo's ``(1 − AUM) / 2``; ``aum_<task>`` keeps the plain AUM
  (:func:`dataquality.signals.dynamics.gold_margins`).
- **likely mislabeled per task**: confident learning on the blended probabilities
  (:func:`dataquality.signals.mislabeled.confident_joint_offdiagonal`,
  :func:`~dataquality.signals.mislabeled.estimated_issue_count`), the estimated number of issues
  taken by DEP.
- **on the boundary per task**: certainty ratio (:func:`dataquality.signals.boundary.certainty_ratio`)
  at or above the training quantile.
- **metrics per task** (:func:`dataquality.signals.summary.classification_metrics`), and over the
  tasks micro and macro F1 (binary runs: of the positive label ``x``; otherwise micro F1 pools every
  (sample, task) decision, i.e. accuracy, and macro F1 is the mean of the tasks' macro F1).

Per sample: ``data_error_potential`` is the highest task DEP, ``mislabeled_tasks`` the tasks
flagged likely mislabeled, ``likely_mislabeled`` whether there is any.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...core.numerics import sigmoid, softmax
from ...signals.boundary import certainty_ratio
from ...signals.dep import knn_label_distribution, margin_of, mean_probs
from ...signals.dynamics import gold_margins
from ...signals.settings import setting_value
from ...signals.mislabeled import confident_joint_offdiagonal, estimated_issue_count
from ...signals.summary import classification_metrics

BOUNDARY_QUANTILE = 0.9
BOUNDARY_FLOOR = 0.25


def task_probs(logits: np.ndarray, widths: list[int], binary: bool) -> list[np.ndarray]:
    """Per-task probabilities from stored logit rows.

    Parameters
    ----------
    logits : numpy.ndarray, shape (..., sum(widths))
        Stored logits (NaN rows stay NaN).
    widths : list of int
        Columns per task (1 per binary task).
    binary : bool

    Returns
    -------
    list of numpy.ndarray, shape (..., k_t); binary tasks ``[1 − σ, σ]``.
    """
    out, start = [], 0
    for w in widths:
        block = logits[..., start:start + w]
        start += w
        if binary:
            s = sigmoid(block[..., 0])
            out.append(np.stack([1.0 - s, s], axis=-1).astype(np.float32))
        else:
            out.append(softmax(block))
    return out


def neighbor_task_labels(nb_idx: np.ndarray, ref_gold: np.ndarray, n_labels: list[int], *,
                         strength: float = 1.0) -> list[np.ndarray]:
    """Per task, the label distribution of each sample's training neighbours, smoothed toward the
    task's label prior.

    Parameters
    ----------
    nb_idx : numpy.ndarray of int, shape (n, k)
        Reference (training) rows of each sample's neighbours, itself excluded; ``-1`` for none.
    ref_gold : numpy.ndarray of int, shape (n_ref, n_tasks)
    n_labels : list of int
        Labels per task.
    """
    out = []
    for t, k in enumerate(n_labels):
        prior = np.bincount(ref_gold[:, t], minlength=k).astype(np.float32)
        prior /= max(prior.sum(), 1.0)
        out.append(knn_label_distribution(nb_idx, ref_gold[:, t], k, prior=prior, strength=strength))
    return out


def task_dep(epoch_probs: np.ndarray, gold: np.ndarray, knn_q: np.ndarray | None = None, *,
             knn_weight: float = setting_value({}, "dep_knn_weight")) -> dict:
    """DEP of one task.

    Parameters
    ----------
    epoch_probs : numpy.ndarray, shape (E, n, k)
        The task's probabilities per logged epoch (NaN where a sample was not logged).
    gold : numpy.ndarray of int, shape (n,)
    knn_q : numpy.ndarray, shape (n, k), optional
        The neighbour label distribution (:func:`neighbor_task_labels`).
    knn_weight : float
        Weight of the model's probabilities in the blend (1 = model only).

    Returns
    -------
    dict with ``dep`` (n,), ``aum`` (n,), ``blend`` (n, k): the probabilities DEP is read from.
    """
    k = epoch_probs.shape[2]
    _, margins = gold_margins(epoch_probs, gold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aum = np.nanmean(margins, axis=0)
    p = np.nan_to_num(mean_probs(epoch_probs), nan=1.0 / k).astype(np.float64)
    if knn_q is not None:
        p = knn_weight * p + (1.0 - knn_weight) * knn_q
    dep = np.clip((1.0 - margin_of(p, gold)) / 2.0, 0.0, 1.0).astype(np.float32)
    return {"dep": dep, "aum": np.asarray(aum, dtype=np.float32), "blend": p}


def task_mislabeled(blend: np.ndarray, gold: np.ndarray, dep: np.ndarray) -> tuple[np.ndarray, int]:
    """Confident learning on one task: the estimated number of label issues, taken by DEP."""
    k = blend.shape[1]
    _, joint = confident_joint_offdiagonal(blend, gold, k)
    n_issues = min(estimated_issue_count(joint, gold, k), len(dep))
    flag = np.zeros(len(dep), dtype=bool)
    if n_issues > 0:
        flag[np.argsort(-dep, kind="stable")[:n_issues]] = True
    return flag, n_issues


def boundary_threshold(ratio: np.ndarray, quantile: float = BOUNDARY_QUANTILE, floor: float = BOUNDARY_FLOOR) -> float:
    """The on-the-boundary threshold of a (training) split's certainty ratios."""
    return max(float(np.quantile(ratio, quantile)) if len(ratio) else 1.0, floor)


def multilabel_metrics(gold: np.ndarray, pred: np.ndarray, tasks: list[str], labels: list[list[str]],
                       binary: bool) -> dict:
    """Per-task metrics and confusion matrices, with micro and macro F1 over the tasks.

    Parameters
    ----------
    gold, pred : numpy.ndarray of int, shape (n, n_tasks)
    """
    per_task = {t: classification_metrics(gold[:, i], pred[:, i], labels[i]) for i, t in enumerate(tasks)}
    if binary:
        tp = int(((gold == 1) & (pred == 1)).sum())
        fp = int(((gold == 0) & (pred == 1)).sum())
        fn_ = int(((gold == 1) & (pred == 0)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn_) if tp + fn_ else 0.0
        micro = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        task_f1 = {t: per_task[t]["per_class"][t]["f1"] for t in tasks}
        present = [t for i, t in enumerate(tasks) if (gold[:, i] == 1).any()]
        macro = float(np.mean([task_f1[t] for t in present])) if present else 0.0
        micro_pr = {"precision": prec, "recall": rec}
    else:
        micro = float((gold == pred).mean()) if gold.size else 0.0
        task_f1 = {t: per_task[t]["macro"]["f1"] for t in tasks}
        macro = float(np.mean(list(task_f1.values()))) if tasks else 0.0
        micro_pr = {"precision": micro, "recall": micro}
    return {
        "per_task": per_task,
        "task_f1": task_f1,
        "micro": {"f1": float(micro), **{k: float(v) for k, v in micro_pr.items()}},
        "macro": {"f1": macro},
        "exact_match": float((gold == pred).all(axis=1).mean()) if len(gold) else None,
    }


def _alert(kind: str, severity: str, message: str, filt: dict, count: int, **extra) -> dict:
    return {"kind": kind, "severity": severity, "message": message, "filter": filt, "count": int(count), **extra}


def multilabel_alerts(metrics: dict, mislabeled: dict[str, int], hard: dict[str, int], n: int,
                      tasks: list[str]) -> list[dict]:
    """Alerts per task: likely mislabeled, hard for the model, low-performing tasks. Each carries
    the filter (with its ``task`` field) that shows its samples."""
    out = []
    for t in tasks:
        c = mislabeled.get(t, 0)
        if c:
            out.append(_alert("likely_mislabeled", "high" if n and c / n > 0.05 else "medium",
                              f"Task {t!r}: {c} samples look mislabeled.",
                              {"task": t, "likely_mislabeled": True}, c, task=t))
        h = hard.get(t, 0)
        if h and n and h / n > 0.1:
            out.append(_alert("hard_for_model", "medium", f"Task {t!r}: {h} samples are hard for the model (high DEP).",
                              {"task": t, "dep_hard": True}, h, task=t))
    f1 = metrics.get("task_f1", {})
    if len(f1) > 1:
        mean = float(np.mean(list(f1.values())))
        for t, f in f1.items():
            if f < mean - 0.15:
                out.append(_alert("low_performing_task", "medium",
                                  f"Task {t!r} has F1 {f:.2f}, below the task average {mean:.2f}.",
                                  {"task": t, "misclassified_only": True}, 0, task=t))
    return out


def multilabel_signals(epoch_logits: np.ndarray, gold: np.ndarray | None, *, tasks: list[str],
                       labels: list[list[str]], binary: bool, nb_idx: np.ndarray | None = None,
                       ref_gold: np.ndarray | None = None, boundary_thresholds: dict | None = None,
                       settings: dict | None = None) -> tuple[dict, dict]:
    """Every per-task and per-sample multi-label column of one split, and its summary.

    Parameters
    ----------
    epoch_logits : numpy.ndarray, shape (E, n, width)
        Stored logits per logged epoch, ascending; the last is the final epoch (E = 1 for
        inference). NaN rows where a sample was not logged at an epoch.
    gold : numpy.ndarray of int, shape (n, n_tasks), or None (inference)
    nb_idx : numpy.ndarray of int, shape (n, k), optional
        The samples' nearest training neighbours (rows of ``ref_gold``), themselves excluded.
    ref_gold : numpy.ndarray of int, shape (n_ref, n_tasks), optional
        The training split's gold label indices.
    boundary_thresholds : dict, optional
        Task -> the training split's certainty-ratio threshold; computed here when missing
        (the training split), and returned in the summary for the other splits.
    settings : dict, optional
        The run's signal settings (``dep_knn_weight``, ``dep_prior_strength``).

    Returns
    -------
    columns : dict of str -> numpy.ndarray or list
        ``gold_<task>`` (labeled splits), ``pred_<task>``, ``confidence_<task>``, ``aum_<task>``,
        ``data_error_potential_<task>``, ``is_misclassified_<task>``, ``likely_mislabeled_<task>``,
        ``is_on_the_boundary_<task>``; ``pred`` (list of predicted labels per task, as
        ``gold``'s schema), ``confidence`` (lowest task confidence), ``data_error_potential``
        (highest task DEP), ``is_misclassified``, ``likely_mislabeled``, ``mislabeled_tasks``.
    summary : dict
    """
    settings = settings or {}
    widths = [1] * len(tasks) if binary else [len(l) for l in labels]
    per_epoch = task_probs(epoch_logits, widths, binary)  # list of (E, n, k_t)
    n = epoch_logits.shape[1]
    T = len(tasks)
    cols: dict = {}
    summary: dict = {"tasks": tasks, "binary": binary, "per_task": {}}
    pred = np.empty((n, T), dtype=np.int64)
    conf = np.empty((n, T), dtype=np.float32)
    qs = None
    if gold is not None and nb_idx is not None and ref_gold is not None:
        qs = neighbor_task_labels(nb_idx, ref_gold, [len(l) for l in labels],
                                  strength=float(setting_value(settings, "dep_prior_strength")))
    deps = np.zeros((n, T), dtype=np.float32)
    flags = np.zeros((n, T), dtype=bool)
    thresholds = dict(boundary_thresholds or {})
    for t, name in enumerate(tasks):
        lab = np.asarray(labels[t], dtype=object)
        final = per_epoch[t][-1]
        pred[:, t] = final.argmax(axis=1)
        conf[:, t] = final.max(axis=1)
        ratio = certainty_ratio(final)
        if name not in thresholds:
            thresholds[name] = boundary_threshold(ratio)
        otb = ratio >= thresholds[name]
        info: dict = {"boundary_threshold": float(thresholds[name]), "on_the_boundary": int(otb.sum())}
        if gold is not None:
            cols[f"gold_{name}"] = lab[gold[:, t]].astype(str)
        cols[f"pred_{name}"] = lab[pred[:, t]].astype(str)
        cols[f"confidence_{name}"] = conf[:, t]
        if gold is not None:
            r = task_dep(per_epoch[t], gold[:, t], None if qs is None else qs[t],
                         knn_weight=float(setting_value(settings, "dep_knn_weight")))
            flag, n_issues = task_mislabeled(r["blend"], gold[:, t], r["dep"])
            deps[:, t], flags[:, t] = r["dep"], flag
            easy = float(r["dep"].mean()) if n else 0.0
            hard = min(easy + (float(r["dep"].std()) if n else 0.0), 1.0)
            cols[f"aum_{name}"] = r["aum"]
            cols[f"data_error_potential_{name}"] = r["dep"]
            cols[f"is_misclassified_{name}"] = pred[:, t] != gold[:, t]
            cols[f"likely_mislabeled_{name}"] = flag
            info.update({"easy_threshold": easy, "hard_threshold": hard, "n_hard": int((r["dep"] >= hard).sum()),
                         "likely_mislabeled": int(flag.sum()), "estimated_label_issues": int(n_issues),
                         "aum_mean": float(np.nanmean(r["aum"])) if n else None})
        cols[f"is_on_the_boundary_{name}"] = otb
        summary["per_task"][name] = info
    cols["pred"] = [[labels[t][pred[i, t]] for t in range(T)] for i in range(n)]
    cols["confidence"] = conf.min(axis=1) if T else np.zeros(n, np.float32)
    summary["boundary_thresholds"] = thresholds
    if gold is not None:
        cols["data_error_potential"] = deps.max(axis=1)
        cols["is_misclassified"] = (pred != gold).any(axis=1)
        cols["likely_mislabeled"] = flags.any(axis=1)
        task_arr = np.asarray(tasks, dtype=object)
        cols["mislabeled_tasks"] = [task_arr[f].tolist() for f in flags]
        metrics = multilabel_metrics(gold, pred, tasks, labels, binary)
        summary["metrics"] = metrics
        dep = cols["data_error_potential"]
        easy = float(dep.mean()) if n else 0.0
        summary["dep"] = {"easy_threshold": easy, "hard_threshold": min(easy + (float(dep.std()) if n else 0.0), 1.0),
                          "mean": easy}
        summary["alerts"] = multilabel_alerts(
            metrics, {t: summary["per_task"][t]["likely_mislabeled"] for t in tasks},
            {t: summary["per_task"][t]["n_hard"] for t in tasks}, n, tasks)
    return cols, summary
