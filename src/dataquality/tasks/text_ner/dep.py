"""Data error potential (DEP) for NER: per token, per span and per sample.

Tokens of all samples are flat: probabilities have shape (n_tokens, k) (or (E, n_tokens, k) per
epoch) and sample ``i`` owns tokens ``offsets[i]:offsets[i + 1]``. Spans are
:class:`~dataquality.tasks.text_ner.spans.SpanArrays` whose ``start``/``end`` are positions inside their sample.
Every score is in [0, 1], higher = more likely an annotation problem.

- **token DEP** = 1 − calibrated self-confidence of the token's gold entity type at the final
  epoch, pooled over the token's word:

  1. per-tag calibration (confident learning, Northcutt et al. 2021): the probability of each tag
     ``j`` is divided by ``t_j ** calibration``, where ``t_j`` is the mean probability the model gives
     tag ``j`` on the tokens labeled ``j`` (the tag's confident-learning threshold), and each row is
     renormalised. NER tags are very imbalanced (most tokens are ``O`` and the model is sure of them;
     a rare type's tokens seldom get 0.1), so without it "the model says ``O``" weighs as much as
     "the model says another entity type", however strongly the model leans to ``O`` everywhere.
     ``calibration`` 0 switches it off, 1 is confident learning's full threshold; default 0.5 (in
     ``finish()`` the run's ``dep_calibration`` signal setting replaces it when the user set one);
  2. self-confidence of the gold *entity type*: the calibrated probabilities of the tags of the gold
     tag's type are summed (``B-PER`` + ``I-PER`` (+ ``L-``/``U-``…); ``O`` with special columns), so
     a model unsure whether a word begins or continues a ``PER`` span does not make the word's ``PER``
     label look wrong. Self-confidence rather than the margin ``p(gold) − max other``: the margin
     ranks by how sure the model is of *another* tag, which in NER mostly means how sure it is of ``O``;
  3. word pooling: a token's score is the mean of that self-confidence over the tokens of its word
     (consecutive tokens of a sample with the same character bounds: sub-word tokens repeat their
     word's bounds in ``text_token_indices``). Annotators label words; one unsure sub-word piece is
     not evidence that the word's label is wrong.

- **span DEP** = max of its tokens' DEP (its weakest token);
- **sample DEP** = max over its gold and predicted spans and over the tokens outside every span
  (an entity the annotator missed and the model did not predict either shows only there, as a low
  ``p(O)``); since a span's DEP is the max over its tokens, this is the max over all its tokens.
- span embedding = mean of its tokens' embeddings.

The reference is Galileo's AUM form, token DEP = (1 − mean over epochs of the gold-tag margin) / 2
with the sample DEP over spans only (:func:`token_aum_dep`, ``ner_dep(method="aum")``; Pleiss et al.
2020). Measured on ``bench/ner_noise.py`` (WNUT-16, 10% of the sentences with one injected
annotation error, MiniLM fine-tuned 5 epochs, seed 0; sentence-level average precision): the
reference 0.44; margin → self-confidence of the tag at the final epoch 0.60 (which is cleanlab's
worst-token score); + word pooling 0.63; + entity-type grouping 0.635; + calibration 0.5: 0.65 (1.0:
0.64); + tokens outside spans: +0.01 of that. Averaging the probabilities over the later half of the
epochs instead of the final one lost 0.002–0.006 on three seeds, over all epochs 0.04–0.07: a tagger
trained a few epochs underfits early and has not memorised the noisy labels late. (A model trained
until it fits its noisy labels would want the AUM-style average back.) Neighbour labels in
embedding space, which the classification DEP uses, added under 0.005 here and are not used.

References
----------
Pleiss, Zhang, Elenberg, Weinberger. "Identifying Mislabeled Data using the Area Under the Margin
Ranking." NeurIPS 2020.
Northcutt, Jiang, Chuang. "Confident Learning: Estimating Uncertainty in Dataset Labels." JAIR 2021.
Wang, Mueller. "Detecting Label Errors in Token Classification Data." 2022 (cleanlab's
``token_classification``: self-confidence per token, worst token per sentence).
"""

from __future__ import annotations

import warnings

import numpy as np

from ...exceptions import SchemaError, ShapeError
from .spans import SpanArrays, check_offsets

_CHUNK = 1 << 16
DEFAULT_CALIBRATION = 0.5


def token_margins(epoch_probs, gold_tag_ids) -> np.ndarray:
    """Per epoch and token the margin of the gold tag.

    Parameters
    ----------
    epoch_probs : array-like of float, shape (E, n_tokens, k)
        Tag probabilities per epoch (softmax of the logits); a NaN row marks a token not logged at
        that epoch.
    gold_tag_ids : array-like of int, shape (n_tokens,)
        Gold tag column per token (see :func:`~dataquality.tasks.text_ner.tag_codec.encode_batch`).

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


def token_aum_dep(epoch_probs, gold_tag_ids) -> np.ndarray:
    """The reference token DEP: (1 − mean margin over the epochs a token was logged) / 2.

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


def word_ids(offsets, token_starts, token_ends) -> np.ndarray:
    """Index of the word each token belongs to: a new word starts at each sample's first token and
    wherever a token's character bounds differ from the previous token's.

    Parameters
    ----------
    offsets : array-like of int, shape (n_samples + 1,)
    token_starts, token_ends : array-like of int, shape (n_tokens,)
        Character bounds of each token (``text_token_indices``; sub-word tokens repeat their word's).

    Returns
    -------
    numpy.ndarray of int64, shape (n_tokens,)
        0, 1, 2, … in token order.
    """
    s = np.asarray(token_starts, np.int64)
    e = np.asarray(token_ends, np.int64)
    if s.shape != e.shape or s.ndim != 1:
        raise ShapeError(f"word_ids: `token_starts` {s.shape} and `token_ends` {e.shape} must be equal 1-D shapes.")
    off = check_offsets(offsets, s.shape[0], where="word_ids")
    new = np.ones(s.shape[0], bool)
    if s.shape[0]:
        new[1:] = (s[1:] != s[:-1]) | (e[1:] != e[:-1])
        new[off[:-1][off[:-1] < s.shape[0]]] = True
    return np.cumsum(new) - 1


def tag_thresholds(probs, gold_tag_ids) -> np.ndarray:
    """Per tag ``j`` the mean probability of ``j`` on the tokens labeled ``j`` (confident learning's
    per-class threshold); 1 for a tag no token is labeled with (left as it is by the calibration).

    Parameters
    ----------
    probs : array-like of float, shape (n_tokens, k)
    gold_tag_ids : array-like of int, shape (n_tokens,)

    Returns
    -------
    numpy.ndarray of float64, shape (k,), in (0, 1].
    """
    p = np.asarray(probs)
    g = np.asarray(gold_tag_ids, np.int64)
    k = p.shape[1]
    pg = p[np.arange(g.shape[0]), g].astype(np.float64)
    n = np.bincount(g, minlength=k)
    sums = np.bincount(g, weights=np.nan_to_num(pg, nan=0.0), minlength=k)
    t = np.ones(k, np.float64)
    np.divide(sums, n, out=t, where=n > 0)
    return np.clip(t, 1e-6, 1.0)


def token_dep(probs, gold_tag_ids, *, tag_groups=None, word_of=None,
              calibration: float = DEFAULT_CALIBRATION) -> np.ndarray:
    """Token DEP = 1 − mean over the token's word of the calibrated probability of its gold entity type.

    Parameters
    ----------
    probs : array-like of float, shape (n_tokens, k)
        Final-epoch tag probabilities (softmax of the logits); a NaN row marks a token not logged.
    gold_tag_ids : array-like of int, shape (n_tokens,)
    tag_groups : array-like of int, shape (k,), optional
        Group of each tag column; the probabilities of the tags in the gold tag's group are summed.
        For NER the entity type (``TagSet.type_ids + 1``: ``B-PER`` and ``I-PER`` together, ``O``
        and special columns together); None = each tag its own group.
    word_of : array-like of int, shape (n_tokens,), optional
        Word index of each token (:func:`word_ids`); None = every token is its own word.
    calibration : float in [0, 1]
        Exponent of the per-tag threshold each tag's probability is divided by before the rows are
        renormalised (see the module docstring); 0 = plain self-confidence.

    Returns
    -------
    numpy.ndarray of float32, shape (n_tokens,)
        In [0, 1]; higher = more likely a problem. NaN for a token (a word) never logged.

    Raises
    ------
    ShapeError
        ``probs``, ``gold_tag_ids``, ``tag_groups`` or ``word_of`` of the wrong shape.
    SchemaError
        A gold id outside ``[0, k)``, a negative group, or ``calibration`` outside [0, 1].
    """
    where = "token_dep"
    p = np.asarray(probs, np.float32)
    gold = np.asarray(gold_tag_ids)
    if p.ndim != 2 or gold.ndim != 1 or p.shape[0] != gold.shape[0]:
        raise ShapeError(
            f"{where}: `probs` must have shape (n_tokens, n_labels) and `gold_tag_ids` shape (n_tokens,); "
            f"got {p.shape} and {gold.shape}."
        )
    n, k = p.shape
    if n and (not np.issubdtype(gold.dtype, np.integer) or gold.min() < 0 or gold.max() >= k):
        raise SchemaError(
            f"{where}: `gold_tag_ids` must be integer columns in [0, {k}); got dtype {gold.dtype} "
            f"and range [{gold.min()}, {gold.max()}]."
        )
    if not 0.0 <= float(calibration) <= 1.0:
        raise SchemaError(f"{where}: `calibration` must be in [0, 1]; got {calibration!r}.")
    groups = np.arange(k) if tag_groups is None else np.asarray(tag_groups, np.int64)
    if groups.shape != (k,):
        raise ShapeError(f"{where}: `tag_groups` must have shape ({k},), one group per tag column; got {groups.shape}.")
    if k and groups.min() < 0:
        raise SchemaError(f"{where}: `tag_groups` must be non-negative group indices; got {groups.tolist()}.")
    gold = gold.astype(np.int64)
    if n == 0:
        return np.zeros(0, np.float32)
    scale = (tag_thresholds(p, gold) ** -float(calibration)).astype(np.float32)
    out = np.empty(n, np.float64)
    member = np.zeros((k, int(groups.max()) + 1), np.float32)
    member[np.arange(k), groups] = 1.0
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        ps = p[a:b] * scale
        with np.errstate(invalid="ignore", divide="ignore"):
            out[a:b] = (ps @ member)[np.arange(b - a), groups[gold[a:b]]] / ps.sum(axis=1)
    if word_of is not None:
        w = np.asarray(word_of, np.int64)
        if w.shape != (n,):
            raise ShapeError(f"{where}: `word_of` must have shape ({n},), one word id per token; got {w.shape}.")
        out = (np.bincount(w, weights=out) / np.bincount(w))[w]
    return np.clip(1.0 - out, 0.0, 1.0).astype(np.float32)


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


def sample_dep(span_samples, span_deps, n_samples: int, *, token_deps=None, offsets=None) -> np.ndarray:
    """Sample DEP = max over its spans and, given ``token_deps``, over its tokens outside every span.

    Parameters
    ----------
    span_samples : array-like of int, shape (n_spans,)
        Sample of each span; pass gold and predicted spans together (concatenated).
    span_deps : array-like of float, shape (n_spans,)
    n_samples : int
    token_deps : array-like of float, shape (n_tokens,), optional
        Token DEP; with it a token no span covers counts as well (the worst ``O`` token: a missed
        entity neither the annotator nor the model marked). As a span's DEP is the max over its
        tokens, this is the max over all the sample's tokens. Without it a sample with no span gets 0.
    offsets : array-like of int, shape (n_samples + 1,), optional
        Required with ``token_deps``.

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
    if token_deps is not None:
        tok = np.nan_to_num(np.asarray(token_deps, np.float32), nan=0.0)
        if offsets is None:
            raise SchemaError("sample_dep: `offsets` are required with `token_deps`.")
        off = check_offsets(offsets, tok.shape[0], where="sample_dep")
        if off.size - 1 != n_samples:
            raise ShapeError(f"sample_dep: `offsets` describe {off.size - 1} samples; `n_samples` is {n_samples}.")
        nonempty = np.flatnonzero(off[1:] > off[:-1])
        if nonempty.size:
            out[nonempty] = np.fmax(out[nonempty], np.maximum.reduceat(tok, off[nonempty]))
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


def ner_dep(epoch_probs, gold_tag_ids, offsets, gold_spans: SpanArrays, pred_spans: SpanArrays, *,
            tag_groups=None, word_of=None, calibration: float = DEFAULT_CALIBRATION,
            method: str = "self_confidence") -> dict:
    """Token, span and sample DEP in one call.

    Parameters
    ----------
    epoch_probs : array-like of float, shape (E, n_tokens, k)
        Tag probabilities per epoch; ``"self_confidence"`` uses the last one.
    gold_tag_ids : array-like of int, shape (n_tokens,)
    offsets : array-like of int, shape (n_samples + 1,)
    gold_spans, pred_spans : SpanArrays
    tag_groups, word_of, calibration
        As in :func:`token_dep`.
    method : {"self_confidence", "aum"}
        ``"self_confidence"``: :func:`token_dep`, and the sample DEP also counts the tokens outside
        every span; ``"aum"``: the reference :func:`token_aum_dep`, sample DEP over spans only.

    Returns
    -------
    dict
        ``token`` (n_tokens,), ``gold_span`` (n_gold,), ``pred_span`` (n_pred,), ``sample``
        (n_samples,), all float32 in [0, 1], higher = more likely a problem.
    """
    if method == "self_confidence":
        probs = np.asarray(epoch_probs)
        if probs.ndim != 3:
            raise ShapeError(f"ner_dep: `epoch_probs` must have shape (n_epochs, n_tokens, n_labels); got {probs.shape}.")
        tok = token_dep(probs[-1], gold_tag_ids, tag_groups=tag_groups, word_of=word_of, calibration=calibration)
    elif method == "aum":
        tok = token_aum_dep(epoch_probs, gold_tag_ids)
    else:
        raise SchemaError(f"ner_dep: `method` must be 'self_confidence' or 'aum'; got {method!r}.")
    off = check_offsets(offsets, tok.shape[0], where="ner_dep")
    g = span_dep(tok, gold_spans, off)
    p = span_dep(tok, pred_spans, off)
    smp = sample_dep(np.concatenate([np.asarray(gold_spans.sample), np.asarray(pred_spans.sample)]),
                     np.concatenate([g, p]), off.size - 1,
                     token_deps=tok if method == "self_confidence" else None, offsets=off)
    return {"token": tok, "gold_span": g, "pred_span": p, "sample": smp}


__all__ = ["DEFAULT_CALIBRATION", "ner_dep", "sample_dep", "span_dep", "span_embeddings", "tag_thresholds", "token_aum_dep",
           "token_dep", "token_margins", "word_ids"]
