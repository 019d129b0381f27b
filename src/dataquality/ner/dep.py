"""Data error potential (DEP) for NER: per token, per span and per sample.

Tokens of all samples are flat: ``epoch_probs`` has shape (E, n_tokens, k) and sample ``i`` owns
tokens ``offsets[i]:offsets[i + 1]``. Spans are :class:`~dataquality.ner.spans.SpanArrays` whose
``start``/``end`` are positions inside their sample.

- token margin_e = p_e(gold tag) − max_{j ≠ gold} p_e(j) ∈ [-1, 1] (AUM, Pleiss et al. 2020, on
  probabilities); token DEP = (1 − mean_e margin_e) / 2 ∈ [0, 1], higher = more likely a problem.
- span DEP = max of its tokens' DEP (its weakest token);
- sample DEP = max over its gold and predicted spans; a sample with no span at all gets 0 (nothing
  to fix in a sentence that is all ``O`` and predicted all ``O``; its token DEPs stay available).
- span embedding = mean of its tokens' embeddings.

References
----------
Pleiss, Zhang, Elenberg, Weinberger. "Identifying Mislabeled Data using the Area Under the Margin
Ranking." NeurIPS 2020.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import SchemaError, ShapeError
from .spans import SpanArrays, check_offsets

_CHUNK = 1 << 16


def token_margins(epoch_probs, gold_tag_ids) -> np.ndarray:
    """Per epoch and token the margin of the gold tag.

    Parameters
    ----------
    epoch_probs : array-like of float, shape (E, n_tokens, k)
        Tag probabilities per epoch (softmax of the logits); a NaN row marks a token not logged at
        that epoch.
    gold_tag_ids : array-like of int, shape (n_tokens,)
        Gold tag column per token (see :func:`~dataquality.ner.schemas.encode_batch`).

    Returns
    -------
    numpy.ndarray of float32, shape (E, n_tokens)
        ``p(gold) − max_{j≠gold} p(j)`` ∈ [-1, 1], higher = the model agrees more with the gold tag;
        NaN where the token was not logged. With k = 1 the margin is ``p(gold)``.

    Raises
    ------
    ShapeError
        ``epoch_probs`` is not 3-D or disagrees with ``gold_tag_ids``.
    SchemaError
        A gold id outside ``[0, k)``.
    """
    where = "token_margins"
    probs = np.asarray(epoch_probs)
    gold = np.asarray(gold_tag_ids)
    if probs.ndim != 3 or gold.ndim != 1 or probs.shape[1] != gold.shape[0]:
        raise ShapeError(
            f"{where}: `epoch_probs` must have shape (n_epochs, n_tokens, n_labels) and `gold_tag_ids` "
            f"shape (n_tokens,); got {probs.shape} and {gold.shape}."
        )
    E, n, k = probs.shape
    if n and (not np.issubdtype(gold.dtype, np.integer) or gold.min() < 0 or gold.max() >= k):
        raise SchemaError(
            f"{where}: `gold_tag_ids` must be integer columns in [0, {k}); got dtype {gold.dtype} "
            f"and range [{gold.min()}, {gold.max()}]."
        )
    out = np.empty((E, n), np.float32)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        p = np.asarray(probs[:, a:b, :], np.float32)
        g = gold[a:b]
        gp = np.take_along_axis(p, np.broadcast_to(g[None, :, None], (E, b - a, 1)), axis=2)[..., 0]
        if k > 1:
            other = p.copy()
            np.put_along_axis(other, np.broadcast_to(g[None, :, None], (E, b - a, 1)), -np.inf, axis=2)
            out[:, a:b] = gp - other.max(axis=2)
        else:
            out[:, a:b] = gp
    return out


def token_dep(epoch_probs, gold_tag_ids) -> np.ndarray:
    """Token DEP = (1 − mean margin over the epochs a token was logged) / 2.

    Parameters
    ----------
    epoch_probs : array-like of float, shape (E, n_tokens, k)
    gold_tag_ids : array-like of int, shape (n_tokens,)

    Returns
    -------
    numpy.ndarray of float32, shape (n_tokens,)
        In [0, 1]; higher = more likely a problem. NaN for a token never logged.
    """
    m = token_margins(epoch_probs, gold_tag_ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aum = np.nanmean(m, axis=0) if m.shape[0] else np.full(m.shape[1], np.nan, np.float32)
    return ((1.0 - aum) / 2.0).astype(np.float32)


def _span_bounds(spans: SpanArrays, offsets: np.ndarray, n_tokens: int, where: str):
    smp, s, e = (np.asarray(a, np.int64) for a in spans[:3])
    n_samples = offsets.size - 1
    if smp.size and (smp.min() < 0 or smp.max() >= n_samples):
        raise SchemaError(f"{where}: span samples must be in [0, {n_samples}); got {int(smp.max())}.")
    if smp.size:
        length = offsets[smp + 1] - offsets[smp]
        bad = np.flatnonzero((s < 0) | (s >= e) | (e > length))
        if bad.size:
            j = int(bad[0])
            raise SchemaError(
                f"{where}: span ({int(s[j])}, {int(e[j])}) of sample {int(smp[j])} must satisfy "
                f"0 <= start < end <= {int(length[j])}, the sample's token count."
            )
    return offsets[smp] + s, offsets[smp] + e


def _reduce_spans(ufunc, values: np.ndarray, a: np.ndarray, b: np.ndarray, dtype=None) -> np.ndarray:
    """``ufunc.reduce(values[a_i:b_i])`` per span with one reduceat over interleaved bounds."""
    if a.size == 0:
        return np.zeros((0,) + values.shape[1:], dtype or values.dtype)
    pad = np.zeros((1,) + values.shape[1:], values.dtype)
    padded = np.concatenate([values, pad])  # so that an end == n_tokens is a valid index
    idx = np.empty(2 * a.size, np.int64)
    idx[0::2], idx[1::2] = a, b
    return ufunc.reduceat(padded, idx, axis=0, dtype=dtype)[0::2]


def span_dep(token_deps, spans: SpanArrays, offsets) -> np.ndarray:
    """Span DEP = max of the DEP of its tokens.

    Parameters
    ----------
    token_deps : array-like of float, shape (n_tokens,)
    spans : SpanArrays
        Positions inside each sample.
    offsets : array-like of int, shape (n_samples + 1,)

    Returns
    -------
    numpy.ndarray of float32, shape (n_spans,)
        In [0, 1], higher = more likely a problem (NaN tokens are ignored unless all are NaN).
    """
    dep = np.asarray(token_deps, np.float32)
    off = check_offsets(offsets, dep.shape[0], where="span_dep")
    a, b = _span_bounds(spans, off, dep.shape[0], "span_dep")
    return _reduce_spans(np.fmax, dep, a, b).astype(np.float32)


def sample_dep(span_samples, span_deps, n_samples: int) -> np.ndarray:
    """Sample DEP = max over its spans; 0 for a sample without spans.

    Parameters
    ----------
    span_samples : array-like of int, shape (n_spans,)
        Sample of each span; pass gold and predicted spans together (concatenated).
    span_deps : array-like of float, shape (n_spans,)
    n_samples : int

    Returns
    -------
    numpy.ndarray of float32, shape (n_samples,)
        In [0, 1], higher = more likely a problem.
    """
    smp = np.asarray(span_samples, np.int64)
    dep = np.asarray(span_deps, np.float32)
    if smp.shape != dep.shape:
        raise ShapeError(f"sample_dep: `span_samples` {smp.shape} and `span_deps` {dep.shape} must match.")
    if smp.size and (smp.min() < 0 or smp.max() >= n_samples):
        raise SchemaError(f"sample_dep: `span_samples` must be in [0, {n_samples}); got {int(smp.max())}.")
    out = np.zeros(n_samples, np.float32)
    np.fmax.at(out, smp, np.nan_to_num(dep, nan=0.0))
    return out


def span_embeddings(token_embs, spans: SpanArrays, offsets) -> np.ndarray:
    """Span embedding = mean of its tokens' embeddings.

    Parameters
    ----------
    token_embs : array-like of float, shape (n_tokens, d)
    spans : SpanArrays
    offsets : array-like of int, shape (n_samples + 1,)

    Returns
    -------
    numpy.ndarray of float32, shape (n_spans, d)
        Accumulated in float64 with one ``np.add.reduceat`` over the flat tokens.
    """
    embs = np.asarray(token_embs)
    if embs.ndim != 2:
        raise ShapeError(f"span_embeddings: `token_embs` must have shape (n_tokens, d); got {embs.shape}.")
    off = check_offsets(offsets, embs.shape[0], where="span_embeddings")
    a, b = _span_bounds(spans, off, embs.shape[0], "span_embeddings")
    sums = _reduce_spans(np.add, embs, a, b, dtype=np.float64)
    return (sums / (b - a)[:, None]).astype(np.float32)


def ner_dep(epoch_probs, gold_tag_ids, offsets, gold_spans: SpanArrays, pred_spans: SpanArrays) -> dict:
    """Token, span and sample DEP in one call.

    Parameters
    ----------
    epoch_probs : array-like of float, shape (E, n_tokens, k)
    gold_tag_ids : array-like of int, shape (n_tokens,)
    offsets : array-like of int, shape (n_samples + 1,)
    gold_spans, pred_spans : SpanArrays

    Returns
    -------
    dict
        ``token`` (n_tokens,), ``gold_span`` (n_gold,), ``pred_span`` (n_pred,), ``sample``
        (n_samples,), all float32 in [0, 1], higher = more likely a problem.
    """
    tok = token_dep(epoch_probs, gold_tag_ids)
    off = check_offsets(offsets, tok.shape[0], where="ner_dep")
    g = span_dep(tok, gold_spans, off)
    p = span_dep(tok, pred_spans, off)
    smp = sample_dep(np.concatenate([np.asarray(gold_spans.sample), np.asarray(pred_spans.sample)]),
                     np.concatenate([g, p]), off.size - 1)
    return {"token": tok, "gold_span": g, "pred_span": p, "sample": smp}


__all__ = ["ner_dep", "sample_dep", "span_dep", "span_embeddings", "token_dep", "token_margins"]
