"""``likely_mislabeled``: confident learning on the cross-epoch probabilities, ranked by DEP.

Confident learning counts, per pair of classes (given y, likely j), the samples whose probability
of class j reaches that class's threshold t_j (the mean probability of j among samples labeled j),
and calibrates the counts so each row sums to the number of samples labeled y. The off-diagonal
mass estimates how many labels are wrong; the samples flagged are that many of the highest DEP (cleanlab's ``prune_by_noise_rate`` ranks by margin instead; DEP adds neighbour
evidence). The knob ``likely_mislabeled_dep_percentile`` (0–100, default 0) trades recall for
precision: a flagged sample must also have a DEP at or above that percentile of the split's DEP.

References
----------
Northcutt, Jiang, Chuang. "Confident Learning: Estimating Uncertainty in Dataset Labels." JAIR 2021.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigurationError
from .dep import blended_probs, class_thresholds
from .registry import SignalResult, SplitArrays


def confident_joint_offdiagonal(p: np.ndarray, gold: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples off the diagonal of the confident joint, and the joint itself.

    Returns
    -------
    off : numpy.ndarray of bool, shape (n,)
        True where some class j ≠ gold has p[i, j] ≥ t_j.
    joint : numpy.ndarray of int, shape (k, k)
        Counts per (given label, confident label).
    """
    t = class_thresholds(p, gold, n_labels)
    above = p >= t[None, :]
    masked = np.where(above, p, -np.inf)
    confident = masked.argmax(axis=1)
    has = above.any(axis=1)
    joint = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(joint, (gold[has], confident[has]), 1)
    off = has & (confident != gold)
    return off, joint


def estimated_issue_count(joint: np.ndarray, gold: np.ndarray, n_labels: int) -> int:
    """Off-diagonal mass of the confident joint calibrated to the label counts (cleanlab's
    ``calibrate_confident_joint``): row y is rescaled to sum to the number of samples labeled y."""
    counts = np.bincount(gold, minlength=n_labels).astype(np.float64)
    rows = joint.sum(axis=1).astype(np.float64)
    scale = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    cal = joint * scale[:, None]
    return int(round(cal.sum() - np.trace(cal)))


def likely_mislabeled(data: SplitArrays) -> SignalResult:
    dep = data.columns["data_error_potential"]
    p = blended_probs(data)
    off, joint = confident_joint_offdiagonal(p, data.gold, len(data.labels))
    n_issues = estimated_issue_count(joint, data.gold, len(data.labels))
    flag = np.zeros(len(dep), dtype=bool)
    if n_issues:
        order = np.argsort(-dep, kind="stable")[:n_issues]
        flag[order] = True
    pct = float(data.settings.get("likely_mislabeled_dep_percentile", 0))
    if not 0 <= pct <= 100:
        raise ConfigurationError(f"dq.finish: signal setting `likely_mislabeled_dep_percentile` must be in [0, 100]; got {pct}.")
    cut = float(np.percentile(dep, pct)) if len(dep) and pct > 0 else 0.0
    flag &= dep >= cut
    return SignalResult(
        columns={"likely_mislabeled": flag},
        flag="likely_mislabeled",
        summary={"count": int(flag.sum()), "estimated_label_issues": n_issues,
                 "dep_percentile": pct, "dep_cut": cut, "confident_joint": joint.tolist()},
    )
