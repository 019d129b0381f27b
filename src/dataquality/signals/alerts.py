"""Alerts: what a split's summary points the user to, each with the filter that shows its samples.

Every alert carries the filter (the model of ``dataquality.read.filters``) that selects its
samples, so the console and ``dq.metrics.get_dataframe(..., filter=alert["filter"])`` show exactly
them, and its ``count`` is what that filter selects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core import layout as S


def alert(kind: str, severity: str, message: str, filt: dict, count: int, **extra) -> dict:
    """One alert: ``kind``, ``severity`` (``"warning"`` or ``"info"``), ``message``, ``filter``,
    ``count`` and any ``extra`` keys."""
    return {"kind": kind, "severity": severity, "message": message, "filter": filt, "count": int(count), **extra}


def drift_alerts(drift: dict, *, split: str, n: int, n_drifted: int | None, expected: float,
                 confidence: np.ndarray, grown_filter: Callable[[str], tuple[dict, int]],
                 predicted: str = "classes", share_of: str = "", spans: dict | None = None,
                 n_with_drifted_span: int = 0) -> list[dict]:
    """Alerts of drift: out-of-coverage (validation, test) or drifted (inference) samples, and
    for an inference set a set-level difference (MMD), a shift of the predicted labels and a drop
    of confidence against the reference split, and drifted spans.

    Parameters
    ----------
    drift : dict
        The split's drift summary (:func:`dataquality.signals.drift.drift` and the set-level tests).
    split : str
    n : int
        Samples in the split.
    n_drifted : int or None
        Samples flagged ``is_drifted`` (None: no per-sample drift).
    expected : float
        The share of in-distribution samples flagged by construction (1 − ``drift_quantile``).
    confidence : numpy.ndarray, shape (n,)
        Per-sample confidence (counts the samples of the confidence-drop filter).
    grown_filter : callable
        ``grown_filter(label) -> (filter, count)``: the filter showing the samples of a label whose
        predicted share grew, and how many it selects.
    predicted : str
        What the predicted labels are called in the message (``"classes"``, ``"entity types"``).
    share_of : str
        Appended to the grown share in the message (``" of predicted spans"``).
    spans : dict, optional
        The span drift summary (``rate``, ``expected_rate``, ``count``, ``reference``).
    n_with_drifted_span : int
        Samples with a drifted span (what the span alert's filter selects).

    Returns
    -------
    list of dict
    """
    out: list[dict] = []
    c = n_drifted or 0
    inference = split == S.INFERENCE
    if n_drifted is not None and n and c / n > 2 * expected:
        kind = "drifted_samples" if inference else "out_of_coverage"
        what = "drifted from training" if inference else "out of training coverage"
        out.append(alert(kind, "warning",
                         f"{c} samples ({c / n:.1%}) are {what}: farther from their nearest training samples "
                         f"than {1 - expected:.0%} of training samples are (expected about {expected:.0%}).",
                         {"is_drifted": True}, c))
    if not inference:
        return out
    mmd = drift.get("mmd")
    if mmd and mmd["p_value"] < 0.01:
        out.append(alert("set_drift", "warning",
                         f"The inference set differs from training (MMD² {mmd['mmd2']:.4f}, permutation p = "
                         f"{mmd['p_value']:.3f}).", {"is_drifted": True}, c))
    cs = drift.get("class_shift")
    if cs and cs["p_value"] < 0.01 and cs["total_variation"] >= 0.05:
        grown = max(cs["share"], key=lambda l: cs["share"][l] - cs["train_share"][l])
        filt, count = grown_filter(grown)
        out.append(alert("class_distribution_shift", "warning",
                         f"Predicted {predicted} shifted from {cs.get('reference_split', 'training')} "
                         f"(total variation {cs['total_variation']:.2f}, "
                         f"chi-square p = {cs['p_value']:.2g}); {grown!r} grew from {cs['train_share'][grown]:.1%} to "
                         f"{cs['share'][grown]:.1%}{share_of}.", filt, count, label=grown))
    conf = drift.get("confidence_shift")
    if conf and conf["p_value"] < 0.01 and conf["mean"] < conf["train_mean"] - 0.02:
        cut = round(conf["train_median"], 4)
        below = int((np.asarray(confidence) <= cut).sum())
        out.append(alert("confidence_drop", "warning",
                         f"Model confidence dropped from {conf['train_mean']:.2f} in {conf.get('reference_split', 'training')} "
                         f"to {conf['mean']:.2f} "
                         f"(KS {conf['ks']:.2f}, p = {conf['p_value']:.2g}).", {"confidence_max": cut}, below))
    if spans and spans.get("rate", 0) > 2 * spans.get("expected_rate", 0.05):
        out.append(alert("drifted_spans", "warning",
                         f"{spans['count']} predicted spans ({spans['rate']:.1%}) are farther from the training spans "
                         f"than {1 - spans['expected_rate']:.0%} of {spans['reference']} are, in {n_with_drifted_span} samples.",
                         {"has_drifted_span": True}, n_with_drifted_span))
    return out
