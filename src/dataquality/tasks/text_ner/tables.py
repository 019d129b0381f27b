"""Span and sample tables of an NER split: gathering token rows from output parts, span
embeddings and confidences, character bounds, per-sample span columns, and span twins."""

from __future__ import annotations

import numpy as np

from ...core import layout as S
from ...core import parts as P
from .errors import ERROR_TYPES
from .ingest import PRED_SPANS
from .spans import SpanArrays

SPANS_FILE = "spans.parquet"
SAMPLE_EMBEDDINGS_FILE = "sample_embeddings.npy"  # NER: each sample's mean token embedding, row-aligned
ERRORS = tuple(e for e in ERROR_TYPES if e != "none")


def gather_index(src_starts: np.ndarray, dst_starts: np.ndarray, lengths: np.ndarray):
    """Flat (src, dst) row indices copying ``lengths[j]`` rows from ``src_starts[j]`` to ``dst_starts[j]``."""
    total = int(lengths.sum())
    base = np.repeat(np.cumsum(lengths) - lengths, lengths)
    within = np.arange(total) - base
    return np.repeat(src_starts, lengths) + within, np.repeat(dst_starts, lengths) + within


def runs_of(token_ids: np.ndarray):
    """Start and length of each run of equal sample ids in a token-row batch."""
    starts = np.flatnonzero(np.r_[True, token_ids[1:] != token_ids[:-1]])
    return starts, np.diff(np.r_[starts, len(token_ids)])


def span_token_embs(parts, runs_per_batch, row_of_input, ntok, offsets, span_sets, d: int):
    """Final-epoch embeddings of the tokens inside any span, gathered from the logged parts, and
    the mean embedding of each sample's tokens.

    Returns ``(embs, rank, sample_embs)``: ``embs`` (n_span_tokens, d) float32 in flat token order,
    ``rank`` (n_tokens + 1,) the row of flat token ``t`` in ``embs`` (valid where ``t`` is in a
    span), and ``sample_embs`` (n_samples, d) float32. Only span tokens are kept (about a fifth of
    the tokens on typical NER data), never a (n_tokens, d) copy; the sample means are summed batch
    by batch.
    """
    T = int(offsets[-1])
    diff = np.zeros(T + 1, np.int64)
    for sp in span_sets:
        if len(sp):
            base = offsets[sp.sample]
            np.add.at(diff, base + sp.start, 1)
            np.add.at(diff, base + sp.end, -1)
    need = np.cumsum(diff[:T]) > 0
    rank = np.cumsum(need) - 1
    rank = np.r_[rank, rank[-1] + 1 if T else 0]
    embs = np.empty((int(need.sum()), d), np.float32)
    sample_embs = np.zeros((len(ntok), d), np.float32)
    for (_, batch), (starts, lens, pos) in zip(P.open_parts(parts), runs_per_batch):
        r = row_of_input[pos]
        src, dst = gather_index(starts, offsets[r], ntok[r])
        matrix = P.matrix(batch, S.EMB)
        keep = need[dst]
        if keep.any():
            embs[rank[dst[keep]]] = matrix[src[keep]]
        has = ntok[r] > 0
        if has.any():  # the tokens of a sample are consecutive rows of src
            first = (np.cumsum(ntok[r]) - ntok[r])[has]
            sums = np.add.reduceat(matrix[src].astype(np.float64), first, axis=0)
            sample_embs[r[has]] = sums / ntok[r][has, None]
    return embs, rank, sample_embs


def span_means(embs: np.ndarray, rank: np.ndarray, sp: SpanArrays, offsets: np.ndarray,
                max_rows: int = 1 << 15) -> np.ndarray:
    """Span embedding = mean of its tokens' embeddings (accumulated in float64, in chunks)."""
    out = np.empty((len(sp), embs.shape[1]), np.float32)
    if not len(sp):
        return out
    a = rank[offsets[sp.sample] + sp.start]  # the tokens of a span are consecutive rows of embs
    lens = (sp.end - sp.start).astype(np.int64)
    cum = np.cumsum(lens)
    i = 0
    while i < len(a):
        j = max(i + 1, int(np.searchsorted(cum, cum[i] - lens[i] + max_rows, side="right")))
        rows, _ = gather_index(a[i:j], np.zeros(j - i, np.int64), lens[i:j])
        block = embs[rows].astype(np.float64)
        starts = np.r_[0, np.cumsum(lens[i:j])[:-1]]
        out[i:j] = np.add.reduceat(block, starts, axis=0) / lens[i:j, None]
        i = j
    return out


def index_within(sample: np.ndarray) -> np.ndarray:
    """Position of each span within its sample (spans are sorted by sample)."""
    if not len(sample):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])
    lens = np.diff(np.r_[starts, len(sample)])
    return np.arange(len(sample)) - np.repeat(starts, lens)


def span_mean(values: np.ndarray, sp: SpanArrays, offsets: np.ndarray) -> np.ndarray:
    if not len(sp):
        return np.zeros(0, np.float32)
    a = offsets[sp.sample] + sp.start
    b = offsets[sp.sample] + sp.end
    csum = np.r_[0.0, np.cumsum(values, dtype=np.float64)]
    return ((csum[b] - csum[a]) / np.maximum(b - a, 1)).astype(np.float32)


def char_bounds(tok_start, tok_end, a, b):
    """Character (start, end) of token spans [a, b), skipping zero-width (special) tokens."""
    if not len(a):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = tok_end - tok_start
    big = np.iinfo(np.int64).max
    s = np.where(width > 0, tok_start, big)
    e = np.where(width > 0, tok_end, -1)
    bounds = np.stack([a, b], axis=1).ravel()
    s_ext = np.r_[s, big]
    e_ext = np.r_[e, -1]
    cs = np.minimum.reduceat(s_ext, bounds)[::2]
    ce = np.maximum.reduceat(e_ext, bounds)[::2]
    empty = ce < 0
    cs = np.where(empty, 0, cs)
    ce = np.where(empty, 0, ce)
    return cs, ce


def sample_columns(n: int, sc: dict, span_table: dict, labeled: bool) -> dict:
    """pred_spans per sample and span/error counts."""
    import pyarrow as pa

    rows = sc["row"].astype(np.int64)
    is_pred = sc["kind"] == "pred"
    out: dict = {}
    labels_ = span_table["label"].to_pylist()
    starts = span_table["start"].to_pylist()
    ends = span_table["end"].to_pylist()
    errs = span_table["error_type"].to_pylist()
    deps = span_table["data_error_potential"].to_pylist()
    per: list[list] = [[] for _ in range(n)]
    for i in np.flatnonzero(is_pred).tolist():
        per[rows[i]].append({"start": starts[i], "end": ends[i], "label": labels_[i], "error_type": errs[i],
                             "data_error_potential": deps[i]})
    out[PRED_SPANS] = pa.array(per, pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()),
                                                       ("error_type", pa.string()), ("data_error_potential", pa.float32())])))
    out["n_pred_spans"] = pa.array(np.bincount(rows[is_pred], minlength=n).astype(np.int32))
    if labeled:
        out["n_gold_spans"] = pa.array(np.bincount(rows[~is_pred], minlength=n).astype(np.int32))
        err = np.asarray(sc["error"], object)
        has_err = np.isin(err, ERRORS)
        out["n_errors"] = pa.array(np.bincount(rows[has_err], minlength=n).astype(np.int32))
        for e in ERRORS:
            out[e] = pa.array(np.bincount(rows[err == e], minlength=n).astype(np.int32))
    return out


def span_twins(sample: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """For each span row, the other rows of the same sample with the same token boundaries
    (a gold span and the predicted span that matches it: their embeddings, token means, are
    equal), as an (n, j) array padded with -1; None when no two rows share boundaries."""
    n = len(sample)
    if n < 2:
        return None
    codes = np.unique(np.asarray(sample), return_inverse=True)[1].reshape(-1).astype(np.int64)
    key = np.c_[codes, np.asarray(start, np.int64), np.asarray(end, np.int64)]
    order = np.lexsort((key[:, 2], key[:, 1], key[:, 0]))
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, (ks[1:] != ks[:-1]).any(axis=1)])
    sizes = np.diff(np.r_[starts, n])
    j = int(sizes.max()) - 1
    if j == 0:
        return None
    out = np.full((n, j), -1, np.int64)
    for size in np.unique(sizes[sizes > 1]).tolist():
        members = order[starts[sizes == size][:, None] + np.arange(size)]  # (groups, size)
        for p in range(size):
            out[members[:, p], : size - 1] = np.delete(members, p, axis=1)
    return out
