"""NER error types per span and span-level precision / recall / F1.

Error types (Galileo's names), for spans ``(start, end_exclusive, type)`` over the tokens of one
sample. Two spans *overlap* when they share a token: ``max(starts) < min(ends)``; touching spans
such as ``(0, 2)`` and ``(2, 4)`` do not overlap.

=================  =====================================================================
``"none"``         exact match: a counterpart with the same start, end and type.
``"wrong_tag"``    a counterpart with the same start and end but another type.
``"span_shift"``   no counterpart with the same boundaries, but one that overlaps it —
                   whatever the types (a shifted span with another type is ``span_shift``,
                   not ``wrong_tag``, as Galileo reports it).
``"ghost_span"``   a predicted span that overlaps no gold span.
``"missed_label"`` a gold span that overlaps no predicted span.
=================  =====================================================================

Precedence: ``none`` > ``wrong_tag`` > ``span_shift`` > ``ghost_span``/``missed_label``. The
matched counterpart is the best one by that precedence; among several overlapping ones, the one
sharing most tokens, then the first in the list.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple, Sequence

import numpy as np

from ...exceptions import LabelError, SchemaError
from .spans import SpanArrays, check_span, spans_to_arrays

#: Error type names indexed by match priority (3 = exact ... 0 = no overlap).
GOLD_ERRORS = ("missed_label", "span_shift", "wrong_tag", "none")
PRED_ERRORS = ("ghost_span", "span_shift", "wrong_tag", "none")
ERROR_TYPES = ("none", "wrong_tag", "span_shift", "ghost_span", "missed_label")


class SpanErrors(NamedTuple):
    """Error type and matched counterpart of every gold and every predicted span.

    Attributes
    ----------
    gold_error : numpy.ndarray of str, shape (n_gold,)
        ``"none"``, ``"wrong_tag"``, ``"span_shift"`` or ``"missed_label"``.
    gold_match : numpy.ndarray of int64, shape (n_gold,)
        Index of the matched predicted span, -1 for ``missed_label``.
    pred_error : numpy.ndarray of str, shape (n_pred,)
        ``"none"``, ``"wrong_tag"``, ``"span_shift"`` or ``"ghost_span"``.
    pred_match : numpy.ndarray of int64, shape (n_pred,)
        Index of the matched gold span, -1 for ``ghost_span``.
    """

    gold_error: np.ndarray
    gold_match: np.ndarray
    pred_error: np.ndarray
    pred_match: np.ndarray


def _best(owner: np.ndarray, other: np.ndarray, prio: np.ndarray, ov: np.ndarray, n_owner: int):
    """Per owner row the priority and index of its best counterpart (-1 / 0 when none)."""
    best_prio = np.zeros(n_owner, np.int64)
    best = np.full(n_owner, -1, np.int64)
    keep = prio > 0
    owner, other, prio, ov = owner[keep], other[keep], prio[keep], ov[keep]
    if owner.size:
        order = np.lexsort((other, -ov, -prio, owner))
        owner, other, prio = owner[order], other[order], prio[order]
        first = np.ones(owner.size, bool)
        first[1:] = owner[1:] != owner[:-1]
        best_prio[owner[first]] = prio[first]
        best[owner[first]] = other[first]
    return best_prio, best


def _ranges(lo: np.ndarray, hi: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, order[j]) for every i and every j in [lo_i, hi_i)."""
    counts = np.maximum(hi - lo, 0)
    ai = np.repeat(np.arange(lo.size), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return ai, order[np.repeat(lo, counts) + within]


def _same_sample_pairs(a: list, b: list) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows of ``a`` and ``b`` from the same sample."""
    order = np.argsort(b[0], kind="stable")
    sb = b[0][order]
    return _ranges(np.searchsorted(sb, a[0], "left"), np.searchsorted(sb, a[0], "right"), order)


def _disjoint(x: list) -> bool:
    """True when no two spans of the same sample share a token (as decoded spans never do)."""
    if x[0].size < 2:
        return True
    o = np.lexsort((x[1], x[0]))
    smp, s, e = x[0][o], x[1][o], x[2][o]
    return not bool(np.any((smp[1:] == smp[:-1]) & (s[1:] < e[:-1])))


def _overlapping_pairs(a: list, b: list) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of rows of ``a`` and ``b`` that overlap, for spans ``b`` disjoint per sample.

    Sorted by (sample, start), disjoint spans also have sorted ends, so the spans of ``b`` that
    overlap ``[s, e)`` form one run: ends after ``s`` and starts before ``e``. Linear in the number
    of overlapping pairs instead of quadratic in the spans per sample.
    """
    scale = int(max(a[2].max(initial=0), b[2].max(initial=0))) + 1
    order = np.lexsort((b[1], b[0]))
    start_key = b[0][order] * scale + b[1][order]
    end_key = b[0][order] * scale + b[2][order]
    lo = np.searchsorted(end_key, a[0] * scale + a[1], side="right")
    hi = np.searchsorted(start_key, a[0] * scale + a[2], side="left")
    return _ranges(lo, hi, order)


def span_errors_batch(gold: SpanArrays, pred: SpanArrays) -> SpanErrors:
    """Error types of the gold and predicted spans of many samples at once.

    Parameters
    ----------
    gold, pred : SpanArrays
        Token-level spans; rows may come in any order; ``type_id`` must use one type list for both.

    Returns
    -------
    SpanErrors
        Row-aligned with ``gold`` and ``pred``; matches are row indices into the other array.

    Notes
    -----
    Only overlapping pairs of spans of the same sample are built, without a Python loop: when the
    predicted (or the gold) spans are disjoint within each sample, as decoded spans are, with two
    binary searches per span; otherwise from all n_gold × n_pred pairs of each sample.
    """
    g = [np.asarray(a, np.int64) for a in gold]
    p = [np.asarray(a, np.int64) for a in pred]
    ng, npred = g[0].size, p[0].size
    if _disjoint(p):
        gi, pi = _overlapping_pairs(g, p)
    elif _disjoint(g):
        pi, gi = _overlapping_pairs(p, g)
    else:
        gi, pi = _same_sample_pairs(g, p)
    gs, ge, gt = g[1][gi], g[2][gi], g[3][gi]
    ps, pe, pt = p[1][pi], p[2][pi], p[3][pi]
    ov = np.minimum(ge, pe) - np.maximum(gs, ps)
    same = (gs == ps) & (ge == pe)
    prio = np.where(same & (gt == pt), 3, np.where(same, 2, np.where(ov > 0, 1, 0)))
    g_prio, g_best = _best(gi, pi, prio, ov, ng)
    p_prio, p_best = _best(pi, gi, prio, ov, npred)
    return SpanErrors(
        gold_error=np.asarray(GOLD_ERRORS, dtype=object)[g_prio].astype(str),
        gold_match=g_best,
        pred_error=np.asarray(PRED_ERRORS, dtype=object)[p_prio].astype(str),
        pred_match=p_best,
    )


def _one_sample(spans, argument: str, index: dict, where: str) -> SpanArrays:
    rows = []
    for span in spans:
        s, e, t = check_span(span, where=where, argument=argument)
        rows.append((0, s, e, index.setdefault(t, len(index))))
    a = np.asarray(rows, np.int64).reshape(-1, 4)
    return SpanArrays(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def span_errors(
    gold_spans: Sequence[tuple[int, int, Hashable]],
    pred_spans: Sequence[tuple[int, int, Hashable]],
) -> SpanErrors:
    """Error types of the gold and predicted spans of ONE sample.

    Parameters
    ----------
    gold_spans, pred_spans : sequence of (int, int, type)
        Token-level spans ``(start, end_exclusive, type)``, any order.

    Returns
    -------
    SpanErrors
        ``gold_error[i]``/``gold_match[i]`` for ``gold_spans[i]`` (match = index into
        ``pred_spans``, -1 for none) and ``pred_error[j]``/``pred_match[j]`` for ``pred_spans[j]``.

    Raises
    ------
    SchemaError
        A span that is not a triple with ``0 <= start < end``.

    Examples
    --------
    >>> r = span_errors([(0, 2, "PER"), (5, 6, "LOC")], [(0, 2, "ORG"), (2, 4, "PER")])
    >>> r.gold_error.tolist(), r.pred_error.tolist()
    (['wrong_tag', 'missed_label'], ['wrong_tag', 'ghost_span'])
    """
    index: dict = {}
    gold = _one_sample(gold_spans, "gold_spans", index, "span_errors")
    pred = _one_sample(pred_spans, "pred_spans", index, "span_errors")
    return span_errors_batch(gold, pred)


def _prf(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
        r = np.where(n_gold > 0, tp / np.maximum(n_gold, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return p, r, f


def entity_metrics(
    gold_spans_per_sample: Sequence[Sequence[tuple[int, int, Hashable]]],
    pred_spans_per_sample: Sequence[Sequence[tuple[int, int, Hashable]]],
    types: Sequence[Hashable] | None = None,
) -> dict:
    """Span-level precision, recall and F1 per entity type, with strict (exact) span matching.

    A predicted span is a true positive when a gold span of the same sample has the same start, end
    and type (CoNLL / seqeval scoring). Duplicated spans count once.

    Parameters
    ----------
    gold_spans_per_sample, pred_spans_per_sample : sequence of sequences of (int, int, type)
        Per sample its token-level spans; both sequences have one entry per sample.
    types : sequence of hashable, optional
        Entity types to report, in this order. Defaults to every type seen in gold or predictions,
        sorted. Every span's type must be among them.

    Returns
    -------
    dict
        ``{"per_type": {type: row}, "micro": row, "macro": row, "weighted": row}`` where a row is
        ``{"precision", "recall", "f1", "support", "n_pred", "n_correct"}`` (``support`` = number of
        gold spans). Ratios with a zero denominator are 0. ``macro`` averages the types that occur
        in the gold or the predictions (a listed type that occurs in neither is reported with zeros
        and left out of the average, as seqeval and scikit-learn do); ``weighted`` weights by
        support. Higher is better for all three scores.

    Raises
    ------
    SchemaError
        The two sequences differ in length, or a span is malformed.
    LabelError
        A span's type is not in ``types``.

    Notes
    -----
    Matches ``seqeval.metrics.classification_report(..., mode="strict", scheme=...)`` when the spans
    are decoded from the same tag sequences with ``decode(..., mode="strict")``.
    """
    where = "entity_metrics"
    if len(gold_spans_per_sample) != len(pred_spans_per_sample):
        raise SchemaError(
            f"{where}: `gold_spans_per_sample` and `pred_spans_per_sample` must have one entry per sample; "
            f"got {len(gold_spans_per_sample)} and {len(pred_spans_per_sample)}."
        )
    if types is None:
        seen = {sp[2] for seqs in (gold_spans_per_sample, pred_spans_per_sample) for spans in seqs
                for sp in spans if isinstance(sp, (tuple, list)) and len(sp) == 3}
        types = sorted(seen, key=str)
    types = list(types)
    try:
        gold = spans_to_arrays(gold_spans_per_sample, types, where=where, argument="gold_spans_per_sample")
        pred = spans_to_arrays(pred_spans_per_sample, types, where=where, argument="pred_spans_per_sample")
    except LabelError as err:
        raise LabelError(f"{err} Pass every type in `types`, or leave `types` out.") from None
    k = len(types)
    g_rows = np.unique(np.stack(gold, axis=1), axis=0) if len(gold) else np.zeros((0, 4), np.int64)
    p_rows = np.unique(np.stack(pred, axis=1), axis=0) if len(pred) else np.zeros((0, 4), np.int64)
    both = np.concatenate([g_rows, p_rows])
    if both.shape[0]:
        uniq, cnt = np.unique(both, axis=0, return_counts=True)
        tp_rows = uniq[cnt == 2]
    else:
        tp_rows = both
    n_gold = np.bincount(g_rows[:, 3], minlength=k).astype(np.int64)
    n_pred = np.bincount(p_rows[:, 3], minlength=k).astype(np.int64)
    tp = np.bincount(tp_rows[:, 3], minlength=k).astype(np.int64)
    p, r, f = _prf(tp, n_pred, n_gold)

    def row(pi, ri, fi, sup, npd, ntp) -> dict:
        return {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(sup),
                "n_pred": int(npd), "n_correct": int(ntp)}

    per_type = {t: row(p[i], r[i], f[i], n_gold[i], n_pred[i], tp[i]) for i, t in enumerate(types)}
    mp, mr, mf = _prf(tp.sum(keepdims=True), n_pred.sum(keepdims=True), n_gold.sum(keepdims=True))
    present = (n_gold > 0) | (n_pred > 0)
    tot = (int(n_gold.sum()), int(n_pred.sum()), int(tp.sum()))
    if present.any():
        macro = row(p[present].mean(), r[present].mean(), f[present].mean(), *tot)
    else:
        macro = row(0, 0, 0, *tot)
    w = n_gold / n_gold.sum() if n_gold.sum() else np.zeros(k)
    weighted = row((p * w).sum(), (r * w).sum(), (f * w).sum(), *tot)
    return {"per_type": per_type, "micro": row(mp[0], mr[0], mf[0], *tot), "macro": macro,
            "weighted": weighted}


__all__ = ["ERROR_TYPES", "SpanErrors", "entity_metrics", "span_errors", "span_errors_batch"]
