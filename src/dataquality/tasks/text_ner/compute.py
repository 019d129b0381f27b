"""``finish()`` for ``text_ner`` runs: join token outputs to samples and score spans.

Per split it writes (through a temporary folder, like the classification path):

- ``samples.parquet``: one row per sample: id, text, ``gold_spans`` and ``pred_spans`` (character
  offsets; predicted spans carry their error type and DEP), sample ``data_error_potential``,
  ``confidence`` (mean token confidence), span and error counts, meta columns, and outside
  training the sample's drift (``drift_score``, ``is_drifted``, ``knn_distance``: its mean token
  embedding against the training samples', see :func:`_sample_drift`) and its spans'
  (``span_drift_score``, the highest of its predicted spans, and ``has_drifted_span``);
- ``spans.parquet``: one row per gold and per predicted span (``span_kind``), with token and
  character offsets, text, entity type, error type, the matched counterpart's type, span DEP,
  confidence, and outside training ``drift_score`` / ``is_drifted`` of predicted spans;
- ``embeddings.npy``: span embeddings (mean of token embeddings), row-aligned with ``spans.parquet``;
- ``sample_embeddings.npy``: each sample's mean token embedding, row-aligned with ``samples.parquet``.

Predicted spans are decoded leniently (every chain of argmax tags is a span, so a stray ``I-X`` is
shown and typed); the per-entity precision / recall / F1 in the summary (``entity_metrics``) are
seqeval strict (CoNLL scoring: only well-formed chains count), with the lenient figures beside them
(``entity_metrics_lenient``).

Token DEP = 1 − the final epoch's calibrated probability of the token's gold entity type, averaged
over the sub-word tokens of its word (:mod:`dataquality.tasks.text_ner.dep`; the ``dep_calibration`` signal
setting, when set, replaces the NER default of 0.5); span DEP = max over its tokens; sample DEP =
max over its spans and the tokens outside every span (DESIGN §4). Model outputs are logged one row
per token; rows past a sample's logged token count (padding) are cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core import layout as S
from ...core import store
from ...exceptions import SchemaError, ShapeError
from .align import char_spans_to_token_spans
from .dep import DEFAULT_CALIBRATION, sample_dep, span_dep, word_ids
from .dep import token_dep as _token_dep
from .errors import ERROR_TYPES, entity_metrics, span_errors_batch
from .ingest import GOLD_SPANS, PRED_SPANS, TOKEN_ENDS, TOKEN_STARTS
from .tagging import decode_batch, encode_batch, infer_schema, parse_labels
from .spans import SpanArrays, arrays_to_spans, empty_spans, spans_to_arrays

if TYPE_CHECKING:
    from ...logging.run import Run

SPANS_FILE = "spans.parquet"
SAMPLE_EMBEDDINGS_FILE = "sample_embeddings.npy"  # NER: each sample's mean token embedding, row-aligned
ERRORS = tuple(e for e in ERROR_TYPES if e != "none")


def _gather_index(src_starts: np.ndarray, dst_starts: np.ndarray, lengths: np.ndarray):
    """Flat (src, dst) row indices copying ``lengths[j]`` rows from ``src_starts[j]`` to ``dst_starts[j]``."""
    total = int(lengths.sum())
    base = np.repeat(np.cumsum(lengths) - lengths, lengths)
    within = np.arange(total) - base
    return np.repeat(src_starts, lengths) + within, np.repeat(dst_starts, lengths) + within


def _runs(token_ids: np.ndarray):
    """Start and length of each run of equal sample ids in a token-row batch."""
    starts = np.flatnonzero(np.r_[True, token_ids[1:] != token_ids[:-1]])
    return starts, np.diff(np.r_[starts, len(token_ids)])


def compute_ner_split(run: "Run", key: str, *, signals: bool, fn: str, shared: dict) -> tuple[dict, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ...pipeline import _check_unique_pos, _epochs, _ids_of, _index, _lookup, _matrix, _open_parts
    from ...pipeline import softmax as _softmax

    paths, labels = run.paths, run.labels
    tagset = parse_labels(labels, run.manifest.get("tagging_schema") or infer_schema(labels))
    types = list(tagset.entity_types)
    split = S.INFERENCE if key.startswith(S.INFERENCE) else key
    name = key.split("/", 1)[1] if split == S.INFERENCE else None
    labeled = split != S.INFERENCE

    parts = store.list_parts(paths.inputs(key), S.INPUT_PART_SUFFIX)
    if not parts:
        raise SchemaError(f"{fn}: model outputs were logged for split {key!r} but no inputs; log them with dq.log_dataset.")
    table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="permissive")
    in_ids = table.column(S.ID).to_numpy(zero_copy_only=False)
    in_index = _index(in_ids, fn=fn, what=f"the inputs of split {key!r}")
    n_tok_in = np.asarray(table.column(TOKEN_STARTS).combine_chunks().value_lengths().to_numpy(zero_copy_only=False), np.int64)
    epochs = _epochs(paths, key)
    final = epochs[-1]

    # Which input rows have final-epoch outputs, and how many token rows each logged.
    runs_per_batch = []
    for _, batch in _open_parts(final.parts):
        tid = _ids_of(batch)
        starts, lens = _runs(tid)
        pos = _lookup(in_index, tid[starts], key, final.epoch, fn)
        runs_per_batch.append((starts, lens, pos))
    pos_all = np.concatenate([r[2] for r in runs_per_batch])
    _check_unique_pos(pos_all, in_ids, key, final.epoch, fn)
    rows = np.sort(pos_all)
    row_of_input = np.full(len(in_ids), -1, np.int64)
    row_of_input[rows] = np.arange(len(rows))
    n = len(rows)
    ntok = n_tok_in[rows]
    offsets = np.r_[0, np.cumsum(ntok)].astype(np.int64)
    T = int(offsets[-1])
    k = len(labels)

    tmp = paths.results() / f"{S.TMP_PREFIX}{store.new_token()}-{key.replace('/', '-')}"
    tmp.mkdir(parents=True)
    try:
        probs = np.empty((T, k), np.float32)
        emb_dim = None
        for (_, batch), (starts, lens, pos) in zip(_open_parts(final.parts), runs_per_batch):
            r = row_of_input[pos]
            need = ntok[r]
            short = lens < need
            if short.any():
                bad = in_ids[pos[short]][:10].tolist()
                raise ShapeError(
                    f"{fn}: model outputs of split {key!r} have fewer token rows than the sample's "
                    f"text_token_indices for ids {bad}; log one row per model token (padding may follow)."
                )
            src, dst = _gather_index(starts, offsets[r], need)
            probs[dst] = _softmax(_matrix(batch, S.LOGITS)[src].astype(np.float32))
            if S.EMB in batch.schema.names and emb_dim is None:
                emb_dim = batch.schema.field(S.EMB).type.list_size
        pred_tags = probs.argmax(axis=1)
        token_conf = probs.max(axis=1)
        pred = decode_batch(pred_tags, offsets, tagset)

        texts = table.column(S.TEXT).to_pylist()
        starts_l = table.column(TOKEN_STARTS).to_pylist()
        ends_l = table.column(TOKEN_ENDS).to_pylist()
        tok_start = np.concatenate([np.asarray(starts_l[i], np.int64) for i in rows]) if n else np.zeros(0, np.int64)
        tok_end = np.concatenate([np.asarray(ends_l[i], np.int64) for i in rows]) if n else np.zeros(0, np.int64)

        gold = empty_spans()
        token_dep = None
        if labeled:
            gold_l = table.column(GOLD_SPANS).to_pylist()
            per_sample = []
            for i in rows:
                pairs = np.stack([starts_l[i], ends_l[i]], axis=1)
                per_sample.append(char_spans_to_token_spans(gold_l[i] or [], pairs, texts[i], entity_types=types, where=fn))
            gold = spans_to_arrays(per_sample, types, where=fn, argument="gold_spans")
            gold_tags = encode_batch(gold, offsets, tagset)
            # Token DEP from the final epoch (see ner.dep): calibrated self-confidence of the gold
            # entity type, pooled over each word's sub-word tokens.
            calibration = run.manifest.get("signal_settings", {}).get("dep_calibration", DEFAULT_CALIBRATION)
            token_dep = _token_dep(probs, gold_tags, tag_groups=tagset.type_ids + 1,
                                   word_of=word_ids(offsets, tok_start, tok_end), calibration=calibration)

        # Span tables: gold rows then predicted rows.
        kinds = [("gold", gold)] if labeled else []
        kinds.append(("pred", pred))
        token_embs = rank = sample_embs = None
        if emb_dim is not None:
            token_embs, rank, sample_embs = _span_token_embs(final.parts, runs_per_batch, row_of_input, ntok, offsets,
                                                [sp for _, sp in kinds], emb_dim)
        errs = span_errors_batch(gold, pred) if labeled else None
        span_cols: dict[str, list] = {c: [] for c in ("row", "kind", "index", "token_start", "token_end", "type_id",
                                                         "error", "match_type", "dep", "confidence")}
        span_embs = []
        for kind, sp in kinds:
            m = len(sp)
            span_cols["row"].append(sp.sample)
            span_cols["kind"].append(np.full(m, kind, object))
            span_cols["index"].append(_index_within(sp.sample))
            span_cols["token_start"].append(sp.start)
            span_cols["token_end"].append(sp.end)
            span_cols["type_id"].append(sp.type_id)
            if errs is not None:
                err = errs.gold_error if kind == "gold" else errs.pred_error
                match = errs.gold_match if kind == "gold" else errs.pred_match
                other = pred if kind == "gold" else gold
                mt = np.where(match >= 0, other.type_id[np.clip(match, 0, None)] if len(other) else -1, -1)
                span_cols["error"].append(np.asarray(err, object))
                span_cols["match_type"].append(mt)
                span_cols["dep"].append(span_dep(token_dep, sp, offsets) if m else np.zeros(0, np.float32))
            else:
                span_cols["error"].append(np.full(m, None, object))
                span_cols["match_type"].append(np.full(m, -1))
                span_cols["dep"].append(np.full(m, np.nan, np.float32))
            span_cols["confidence"].append(_span_mean(token_conf, sp, offsets))
            if token_embs is not None:
                span_embs.append(_span_means(token_embs, rank, sp, offsets))
        sc = {c: np.concatenate(v) if v else np.zeros(0) for c, v in span_cols.items()}
        n_spans = len(sc["row"])
        abs_start = offsets[sc["row"].astype(np.int64)] + sc["token_start"].astype(np.int64)
        abs_end = offsets[sc["row"].astype(np.int64)] + sc["token_end"].astype(np.int64)
        c_start, c_end = _char_bounds(tok_start, tok_end, abs_start, abs_end)
        type_names = np.asarray(types + [None], dtype=object)
        span_text = [texts[rows[r]][a:b] for r, a, b in zip(sc["row"].tolist(), c_start.tolist(), c_end.tolist())]
        span_table = {
            S.ID: pa.array(in_ids[rows][sc["row"].astype(np.int64)] if n_spans else np.zeros(0, in_ids.dtype),
                           type=pa.int64() if in_ids.dtype.kind == "i" else pa.string()),
            "span_kind": pa.array(sc["kind"].tolist(), pa.string()),
            "span_index": pa.array(sc["index"].astype(np.int32)),
            "token_start": pa.array(sc["token_start"].astype(np.int32)),
            "token_end": pa.array(sc["token_end"].astype(np.int32)),
            "start": pa.array(c_start.astype(np.int32)),
            "end": pa.array(c_end.astype(np.int32)),
            "span_text": pa.array(span_text, pa.string()),
            "label": pa.array(type_names[sc["type_id"].astype(np.int64)].tolist(), pa.string()),
            "error_type": pa.array(sc["error"].tolist(), pa.string()),
            "matched_label": pa.array(type_names[sc["match_type"].astype(np.int64)].tolist(), pa.string()),
            "data_error_potential": pa.array(sc["dep"].astype(np.float32)),
            "confidence": pa.array(sc["confidence"].astype(np.float32)),
        }
        emb_all = np.concatenate(span_embs) if span_embs else None
        if emb_all is not None:
            np.save(tmp / S.EMBEDDINGS_FILE, emb_all.astype(np.float32))
        if sample_embs is not None:
            np.save(tmp / SAMPLE_EMBEDDINGS_FILE, sample_embs)
        del token_embs, rank

        # Drift of the samples (their mean token embedding) against the training samples.
        sample_drift = {}
        sample_drift_summary = {}
        if sample_embs is not None and signals and n:
            if split == S.TRAIN:
                shared["ner_train_sample_embs"] = sample_embs
            else:
                sample_drift, sample_drift_summary = _sample_drift(run, sample_embs, shared, split)

        # Drift of inference spans against the training spans.
        drift_summary = {}
        if split != S.TRAIN and emb_all is not None and signals and len(emb_all):
            drift_summary = _span_drift(run, emb_all, span_table, shared, split)
        elif split == S.TRAIN and emb_all is not None and signals:
            from ...core import vectors as similarity

            shared.setdefault("indexes", {})[S.TRAIN] = similarity.build_index(emb_all) if len(emb_all) else None
            shared["ner_train_embs"] = emb_all
            shared["ner_train_twins"] = span_twins(sc["row"], sc["token_start"], sc["token_end"])
            if shared["indexes"][S.TRAIN] is None:
                del shared["indexes"][S.TRAIN]
        pq.write_table(pa.table(span_table), tmp / SPANS_FILE)

        # Samples table.
        sample_rows = sc["row"].astype(np.int64)
        dep_sample = (sample_dep(sample_rows, sc["dep"], n, token_deps=token_dep, offsets=offsets) if labeled
                      else np.full(n, np.nan, np.float32))
        conf_sample = np.add.reduceat(token_conf, offsets[:-1]) / np.maximum(ntok, 1) if n else np.zeros(0)
        sample_cols = _sample_columns(n, sc, span_table, labeled)
        samples = table.take(pa.array(rows))
        keep_cols = [c for c in samples.column_names if c not in (TOKEN_STARTS, TOKEN_ENDS)]
        samples = samples.select(keep_cols)
        out = {c: samples.column(c) for c in samples.column_names if c in (S.ID, S.TEXT, GOLD_SPANS)}
        if not labeled:
            out[GOLD_SPANS] = pa.nulls(n, pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])))
        out[PRED_SPANS] = sample_cols.pop(PRED_SPANS)
        out["data_error_potential"] = pa.array(dep_sample)
        out[S.CONFIDENCE] = pa.array(np.asarray(conf_sample, np.float32))
        for c, v in sample_cols.items():
            out[c] = v
        if "drift_score" in span_table:
            ds = np.asarray(span_table["drift_score"].to_numpy(zero_copy_only=False))
            dd = np.asarray(span_table["is_drifted"].to_numpy(zero_copy_only=False))
            best = np.full(n, np.nan, np.float32)
            np.fmax.at(best, sample_rows, ds)
            anyd = np.zeros(n, bool)
            np.logical_or.at(anyd, sample_rows, dd)
            out["span_drift_score"] = pa.array(best)
            out["has_drifted_span"] = pa.array(anyd)
        for c, v in sample_drift.items():
            out[c] = pa.array(v)
        for c in keep_cols:
            if c not in (S.ID, S.TEXT, GOLD_SPANS):
                out[c] = samples.column(c)
        pq.write_table(pa.table(out), tmp / S.SAMPLES_FILE)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise

    summary = {
        "split": split, "inference_name": name, "task": "text_ner", "n_samples": int(n), "n_inputs": int(len(in_ids)),
        "n_inputs_without_outputs": int(len(in_ids) - n), "epochs": [e.epoch for e in epochs] if labeled else [],
        "n_tokens": T, "n_pred_spans": int(len(pred)), "n_gold_spans": int(len(gold)),
        "has_embeddings": emb_all is not None,
    }
    sig: dict = {}
    if labeled:
        # Scores are CoNLL/seqeval strict (only well-formed predicted chains count); the spans shown
        # and typed above are decoded leniently, so a stray I- tag still shows as a (ghost) span.
        gold_l = arrays_to_spans(gold, n, types)
        strict = decode_batch(pred_tags, offsets, tagset, mode="strict")
        metrics = entity_metrics(gold_l, arrays_to_spans(strict, n, types), types)
        lenient = entity_metrics(gold_l, arrays_to_spans(pred, n, types), types)
        errors = {e: int((np.asarray(span_table["error_type"].to_pylist(), object) == e).sum()) for e in ERRORS}
        dep = np.asarray(span_table["data_error_potential"].to_numpy(zero_copy_only=False))
        easy = float(np.nanmean(dep_sample)) if n else 0.0
        hard = min(easy + (float(np.nanstd(dep_sample)) if n else 0.0), 1.0)
        sig["summary"] = {"entity_metrics": metrics, "entity_metrics_lenient": lenient, "error_counts": errors,
                          "alerts": _alerts(span_table, errors, dep_sample, hard, n),
                          "accuracy": metrics.get("micro", {}).get("f1")}
        sig["data_error_potential"] = {"easy_threshold": easy, "hard_threshold": hard, "mean": easy,
                                       "span_mean": float(np.nanmean(dep)) if len(dep) else None}
    type_counts = np.bincount(pred.type_id.astype(np.int64), minlength=len(types))[: len(types)]
    if labeled and signals:
        shared.setdefault("ner_outputs", {})[split] = (np.asarray(conf_sample, np.float64), type_counts)
    if not labeled:
        if signals:
            sample_drift_summary = {**sample_drift_summary, **_set_level_tests(
                run, shared, sample_embs, np.asarray(conf_sample, np.float64), type_counts, types)}
        n_with_drifted_span = int(np.asarray(out["has_drifted_span"]).sum()) if "has_drifted_span" in out else 0
        with_type = {t: int(len(np.unique(pred.sample[pred.type_id == i]))) for i, t in enumerate(types)}
        sig["summary"] = {"alerts": _drift_alerts(sample_drift_summary, drift_summary, n_with_drifted_span,
                                                  np.asarray(conf_sample), with_type),
                          "pred_span_counts": {t: int(c) for t, c in zip(types, type_counts)}}
    if sample_drift_summary:
        sig["drift"] = sample_drift_summary
    if drift_summary:
        sig["span_drift"] = drift_summary
    summary["signals"] = sig
    return summary, tmp


def _span_token_embs(parts, runs_per_batch, row_of_input, ntok, offsets, span_sets, d: int):
    """Final-epoch embeddings of the tokens inside any span, gathered from the logged parts, and
    the mean embedding of each sample's tokens.

    Returns ``(embs, rank, sample_embs)``: ``embs`` (n_span_tokens, d) float32 in flat token order,
    ``rank`` (n_tokens + 1,) the row of flat token ``t`` in ``embs`` (valid where ``t`` is in a
    span), and ``sample_embs`` (n_samples, d) float32. Only span tokens are kept (about a fifth of
    the tokens on typical NER data), never a (n_tokens, d) copy; the sample means are summed batch
    by batch.
    """
    from ...pipeline import _matrix, _open_parts

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
    for (_, batch), (starts, lens, pos) in zip(_open_parts(parts), runs_per_batch):
        r = row_of_input[pos]
        src, dst = _gather_index(starts, offsets[r], ntok[r])
        matrix = _matrix(batch, S.EMB)
        keep = need[dst]
        if keep.any():
            embs[rank[dst[keep]]] = matrix[src[keep]]
        has = ntok[r] > 0
        if has.any():  # the tokens of a sample are consecutive rows of src
            first = (np.cumsum(ntok[r]) - ntok[r])[has]
            sums = np.add.reduceat(matrix[src].astype(np.float64), first, axis=0)
            sample_embs[r[has]] = sums / ntok[r][has, None]
    return embs, rank, sample_embs


def _span_means(embs: np.ndarray, rank: np.ndarray, sp: SpanArrays, offsets: np.ndarray,
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
        rows, _ = _gather_index(a[i:j], np.zeros(j - i, np.int64), lens[i:j])
        block = embs[rows].astype(np.float64)
        starts = np.r_[0, np.cumsum(lens[i:j])[:-1]]
        out[i:j] = np.add.reduceat(block, starts, axis=0) / lens[i:j, None]
        i = j
    return out


def _index_within(sample: np.ndarray) -> np.ndarray:
    """Position of each span within its sample (spans are sorted by sample)."""
    if not len(sample):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sample[1:] != sample[:-1]])
    lens = np.diff(np.r_[starts, len(sample)])
    return np.arange(len(sample)) - np.repeat(starts, lens)


def _span_mean(values: np.ndarray, sp: SpanArrays, offsets: np.ndarray) -> np.ndarray:
    if not len(sp):
        return np.zeros(0, np.float32)
    a = offsets[sp.sample] + sp.start
    b = offsets[sp.sample] + sp.end
    csum = np.r_[0.0, np.cumsum(values, dtype=np.float64)]
    return ((csum[b] - csum[a]) / np.maximum(b - a, 1)).astype(np.float32)


def _char_bounds(tok_start, tok_end, a, b):
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


def _sample_columns(n: int, sc: dict, span_table: dict, labeled: bool) -> dict:
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


def _alerts(span_table: dict, errors: dict, dep_sample: np.ndarray, hard: float, n: int) -> list[dict]:
    from ...signals.summary import _alert

    out = []
    errs = np.asarray(span_table["error_type"].to_pylist(), object)
    texts = np.asarray([t.lower() for t in span_table["span_text"].to_pylist()], object)
    ids = np.asarray(span_table[S.ID].to_pylist(), object)
    # An alert's count is what its filter selects: samples (with such a span), not spans.
    for e, c in errors.items():
        if c:
            m = len(set(ids[errs == e].tolist()))
            out.append(_alert(e, "warning" if e != "ghost_span" else "info",
                              f"{c} spans are {e.replace('_', ' ')}s, in {m} samples.", {"error_type": [e]}, m))
    bad = np.isin(errs, ERRORS)
    if bad.any():
        words, counts = np.unique(texts[bad], return_counts=True)
        order = np.argsort(-counts, kind="stable")[:10]
        top = [{"text": str(words[i]), "errors": int(counts[i])} for i in order if counts[i] >= 2]
        if top:
            word = top[0]["text"]
            m = len({i for i, t in zip(ids.tolist(), texts.tolist()) if word in t})
            out.append(_alert("problematic_words", "info",
                              "Frequently problematic spans: " + ", ".join(f"{t['text']!r} ({t['errors']})" for t in top[:5]) + ".",
                              {"span_text": word}, m, words=top))
    cut = round(hard, 4)
    c = int((dep_sample.astype(np.float64) >= cut).sum()) if n else 0
    if c:
        out.append(_alert("hard_for_the_model", "info", f"{c} samples ({c / n:.1%}) have a span DEP ≥ {cut:.2f}.",
                          {"dep_min": cut}, c))
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


def _stored_span_twins(run: "Run") -> np.ndarray | None:
    """:func:`span_twins` of the stored training spans (when this finish() does not recompute them)."""
    import pyarrow.parquet as pq

    path = run.paths.results(S.TRAIN) / SPANS_FILE
    if not path.exists():
        return None
    t = pq.read_table(path, columns=[S.ID, "token_start", "token_end"])
    return span_twins(t.column(S.ID).to_numpy(zero_copy_only=False), t.column("token_start").to_numpy(),
                      t.column("token_end").to_numpy())


HELDOUT_MIN_SPANS = 100  # held-out predicted spans needed to be the drift reference


def _heldout_pred_spans(run: "Run", shared: dict) -> tuple[str | None, np.ndarray | None]:
    """Embeddings of the predicted spans of held-out labeled data (validation, else test), from
    this finish() or from stored results, if there are at least :data:`HELDOUT_MIN_SPANS`."""
    import pyarrow.parquet as pq

    here = shared.get("ner_heldout_spans", {})
    for split in (S.VALIDATION, S.TEST):
        emb = here.get(split)
        if emb is None:
            folder = run.paths.results(split)
            if not (folder / SPANS_FILE).exists() or not (folder / S.EMBEDDINGS_FILE).exists():
                continue
            kind = pq.read_table(folder / SPANS_FILE, columns=["span_kind"]).column("span_kind").to_pylist()
            all_emb = np.load(folder / S.EMBEDDINGS_FILE, mmap_mode="r")
            if len(all_emb) != len(kind):
                continue
            emb = np.asarray(all_emb[np.flatnonzero(np.asarray(kind, object) == "pred")])
        if len(emb) >= HELDOUT_MIN_SPANS:
            return split, emb
    return None, None


def _reference_settings(run: "Run") -> dict:
    """The run's drift settings as :func:`dataquality.signals.drift.metric_reference` takes them,
    and its ``seed``."""
    from ...signals.settings import SETTINGS

    settings = run.manifest.get("signal_settings", {})
    names = ("drift_k", "drift_local_scale", "drift_whitening", "drift_quantile", "seed")
    v = {name: settings.get(name, SETTINGS[name][3]) for name in names}
    return {"k": int(v["drift_k"]), "alpha": float(v["drift_local_scale"]), "beta": float(v["drift_whitening"]),
            "quantile": float(v["drift_quantile"]), "rng": np.random.default_rng(int(v["seed"])), "seed": int(v["seed"])}


def _sample_drift(run: "Run", sample_embs: np.ndarray, shared: dict, split: str) -> tuple[dict, dict]:
    """Per sample: drift of its mean token embedding against the training samples', as for text
    classification (:mod:`dataquality.signals.drift`; percentiles among the training samples, each
    measured without itself). Every sample is scored, also one without predicted spans (such as
    text the model finds nothing familiar in). Returns (columns, summary)."""
    from ...core import vectors as similarity
    from ...signals.drift import metric_reference, score_drift

    ref = shared.get("ner_sample_drift_reference")
    if ref is None:
        train = shared.get("ner_train_sample_embs")
        if train is None:
            p = run.paths.results(S.TRAIN) / SAMPLE_EMBEDDINGS_FILE
            train = np.load(p) if p.exists() else None
        if train is None or len(train) < 2:
            return {}, {}
        rs = _reference_settings(run)
        ref = metric_reference(similarity.build_index(train, seed=rs.pop("seed")), train, **rs)
        if ref is None:
            return {}, {}
        ref["reference"] = "training samples"
        shared["ner_sample_drift_reference"] = ref
    dk, score, flag = score_drift(ref, sample_embs)
    m = len(sample_embs)
    summary = {"k": ref["k"], "local_scale_alpha": ref["alpha"], "whitening_beta": ref["beta"],
               "reference": ref["reference"], "threshold_distance": ref["threshold"], "quantile": ref["quantile"],
               "count": int(flag.sum()), "rate": float(flag.mean()) if m else 0.0,
               "expected_rate": round(1 - ref["quantile"], 4), "unit": "sample",
               "mean_knn_distance": float(np.nanmean(dk)) if m else None}
    return {"drift_score": score, "is_drifted": flag, "knn_distance": dk.astype(np.float32)}, summary


def _span_drift(run: "Run", emb: np.ndarray, span_table: dict, shared: dict, split: str) -> dict:
    """Per predicted span: drift against the training spans, in the drift metric of samples
    (:mod:`dataquality.signals.drift`: partially whitened cosine, mean distance to the ``drift_k``
    nearest training spans, local scale). The score is the percentile of a span's drift distance
    among those of held-out data's predicted spans (validation, else test; at least
    :data:`HELDOUT_MIN_SPANS`): training spans sit closer to each other than new spans of the same
    distribution do, as the model predicts fewer spurious spans on the data it was trained on, so
    held-out tweets scored against the training spans' own distribution were flagged at 13.7%
    instead of 5% (``bench/ner_drift.py``). Without held-out data the training spans are the
    reference, each scored without itself and without its twin (a gold span and the predicted span
    with its boundaries have one embedding, at distance 0). The held-out reference assumes the
    validation spans are like the training ones: out-of-coverage data in the validation split would
    raise the threshold with it (samples, scored against training, would show that data)."""
    import pyarrow as pa

    from ...core import vectors as similarity
    from ...signals.drift import metric_reference, score_drift

    is_pred = np.asarray(span_table["span_kind"].to_pylist(), object) == "pred"
    if split in (S.VALIDATION, S.TEST):
        shared.setdefault("ner_heldout_spans", {})[split] = emb[is_pred]
    ref = shared.get("ner_drift_reference")
    if ref is None:
        index = shared.get("indexes", {}).get(S.TRAIN) or similarity.load_index(run.paths.results(), S.TRAIN)
        train = shared.get("ner_train_embs")
        if train is None:
            p = run.paths.results(S.TRAIN) / S.EMBEDDINGS_FILE
            train = np.load(p, mmap_mode="r") if p.exists() else None
        if index is None or train is None:
            return {}
        heldout_split, heldout = _heldout_pred_spans(run, shared)
        twins = None
        if heldout is None:
            twins = shared["ner_train_twins"] if "ner_train_twins" in shared else _stored_span_twins(run)
            if twins is not None and len(twins) != len(train):
                twins = None
        rs = _reference_settings(run)
        rs.pop("seed")
        ref = metric_reference(index, train, **rs, twins=twins, heldout=heldout)
        if ref is None:
            return {}
        ref["reference"] = f"{heldout_split} predicted spans" if heldout is not None else "training spans"
        shared["ner_drift_reference"] = ref
    score = np.full(len(emb), np.nan, np.float32)
    flag = np.zeros(len(emb), bool)
    if is_pred.any():
        _, score[is_pred], flag[is_pred] = score_drift(ref, emb[is_pred])
    span_table["drift_score"] = pa.array(score)
    span_table["is_drifted"] = pa.array(flag)
    m = int(is_pred.sum())
    return {"k": ref["k"], "local_scale_alpha": ref["alpha"], "whitening_beta": ref["beta"], "reference": ref["reference"],
            "threshold_distance": ref["threshold"], "quantile": ref["quantile"], "count": int(flag.sum()),
            "rate": float(flag.sum() / m) if m else 0.0, "expected_rate": round(1 - ref["quantile"], 4),
            "unit": "predicted span"}


def _outputs_reference(run: "Run", shared: dict, types: list[str]) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(split, sample confidences, predicted span counts per entity type) the confidence and
    entity-type tests of an inference set compare it with: validation, else test, else training
    (held-out outputs first: training outputs are in-sample), from this finish() or stored."""
    import pyarrow.parquet as pq

    here = shared.get("ner_outputs", {})
    for split in (S.VALIDATION, S.TEST, S.TRAIN):
        if split in here:
            conf, counts = here[split]
        else:
            folder = run.paths.results(split)
            if not (folder / S.SAMPLES_FILE).exists() or not (folder / SPANS_FILE).exists():
                continue
            conf = pq.read_table(folder / S.SAMPLES_FILE, columns=[S.CONFIDENCE]).column(S.CONFIDENCE).to_numpy()
            spans = pq.read_table(folder / SPANS_FILE, columns=["span_kind", "label"]).to_pandas()
            lab = spans.loc[spans["span_kind"] == "pred", "label"]
            counts = np.array([int((lab == t).sum()) for t in types], np.int64)
        if len(conf):
            return split, np.asarray(conf, np.float64), np.asarray(counts, np.int64)
    return None


def _set_level_tests(run: "Run", shared: dict, sample_embs: np.ndarray | None, conf: np.ndarray,
                     type_counts: np.ndarray, types: list[str]) -> dict:
    """Per inference set, as for text classification (:func:`dataquality.signals.drift.set_level_tests`):
    the MMD permutation test of its sample embeddings against the training samples', the
    chi-square test of its predicted entity types against the reference split's, and the KS test of
    its sample confidence against the reference split's."""
    from ...core import vectors as similarity
    from ...signals.drift import PERMUTATIONS, SET_SAMPLE, class_shift, confidence_shift, mmd_permutation_test

    out: dict = {}
    seed = int(run.manifest.get("signal_settings", {}).get("seed", 0))
    rng = np.random.default_rng(seed + 1)
    ref = shared.get("ner_sample_drift_reference")
    n = len(conf)
    if ref is not None and sample_embs is not None and n >= 10:
        train = ref["embeddings"]
        a = np.sort(rng.choice(len(train), min(len(train), SET_SAMPLE), replace=False))
        b = np.sort(rng.choice(n, min(n, SET_SAMPLE), replace=False))
        mmd2, p = mmd_permutation_test(similarity.normalized(np.asarray(train[a])), similarity.normalized(sample_embs[b]),
                                       permutations=PERMUTATIONS, seed=seed)
        out["mmd"] = {"mmd2": mmd2, "p_value": p, "n_reference": len(a), "n": len(b), "drifted": bool(p < 0.01),
                      "reference_split": S.TRAIN}
    reference = _outputs_reference(run, shared, types)
    if reference is None or not n:
        return out
    ref_split, ref_conf, ref_counts = reference
    out["reference_split"] = ref_split
    if type_counts.sum() > 0 and ref_counts.sum() > 0:
        out["class_shift"] = class_shift(type_counts, ref_counts, types, ref_split, unit="predicted span entity type")
    out["confidence_shift"] = confidence_shift(conf, ref_conf, ref_split)
    return out


def _drift_alerts(samples: dict, spans: dict, n_with_drifted_span: int, conf: np.ndarray,
                  samples_with_type: dict) -> list[dict]:
    """Alerts of an inference set: more drifted samples, or predicted spans, than twice the rate
    expected of data like the reference; a set that differs from training (MMD); predicted entity
    types or confidence shifted from the reference split."""
    from ...signals.summary import _alert

    out = []
    mmd = samples.get("mmd")
    if mmd and mmd["p_value"] < 0.01:
        out.append(_alert("set_drift", "warning",
                          f"The inference set differs from training (MMD² {mmd['mmd2']:.4f}, permutation p = "
                          f"{mmd['p_value']:.3f}).", {"is_drifted": True}, samples.get("count", 0)))
    cs = samples.get("class_shift")
    if cs and cs["p_value"] < 0.01 and cs["total_variation"] >= 0.05:
        grown = max(cs["share"], key=lambda t: cs["share"][t] - cs["train_share"][t])
        out.append(_alert("class_distribution_shift", "warning",
                          f"Predicted entity types shifted from {cs['reference_split']} (total variation "
                          f"{cs['total_variation']:.2f}, chi-square p = {cs['p_value']:.2g}); {grown!r} grew from "
                          f"{cs['train_share'][grown]:.1%} to {cs['share'][grown]:.1%} of predicted spans.",
                          {"span_label": [grown]}, samples_with_type.get(grown, 0), label=grown))
    conf_shift = samples.get("confidence_shift")
    if conf_shift and conf_shift["p_value"] < 0.01 and conf_shift["mean"] < conf_shift["train_mean"] - 0.02:
        cut = round(conf_shift["train_median"], 4)
        out.append(_alert("confidence_drop", "warning",
                          f"Model confidence dropped from {conf_shift['train_mean']:.2f} in {conf_shift['reference_split']} "
                          f"to {conf_shift['mean']:.2f} (KS {conf_shift['ks']:.2f}, p = {conf_shift['p_value']:.2g}).",
                          {"confidence_max": cut}, int((conf <= cut).sum())))
    if samples and samples.get("rate", 0) > 2 * samples.get("expected_rate", 0.05):
        out.append(_alert("drifted_samples", "warning",
                          f"{samples['count']} samples ({samples['rate']:.1%}) are farther from the training samples than "
                          f"{1 - samples['expected_rate']:.0%} of {samples['reference']} are.",
                          {"is_drifted": True}, samples["count"]))
    if spans and spans.get("rate", 0) > 2 * spans.get("expected_rate", 0.05):
        out.append(_alert("drifted_spans", "warning",
                          f"{spans['count']} predicted spans ({spans['rate']:.1%}) are farther from the training spans "
                          f"than {1 - spans['expected_rate']:.0%} of {spans['reference']} are, in {n_with_drifted_span} samples.",
                          {"has_drifted_span": True}, n_with_drifted_span))
    return out

class NerCompute:
    """Compute-side methods of the task protocol."""
