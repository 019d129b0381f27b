"""The compute side of ``text_ner``: join token outputs to samples and score spans (see ..base.Task).

Per split it writes into the pipeline's staging folder:

- ``samples.parquet``: one row per sample: id, text, ``gold_spans`` and ``pred_spans`` (character
  offsets; predicted spans carry their error type and DEP), sample ``data_error_potential``,
  ``confidence`` (mean token confidence), span and error counts, meta columns, and outside
  training the sample's drift (``drift_score``, ``is_drifted``, ``knn_distance``: its mean token
  embedding against the training samples', the shared ``drift`` signal) and its spans'
  (``span_drift`` signal: ``span_drift_score``, the highest of its predicted spans, and ``has_drifted_span``);
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

Drift and the set-level tests of an inference set run through the signal registry like every
other task's: the sample-unit signals :data:`SAMPLE_SIGNALS` over each sample's mean token
embedding, the span-unit signals :data:`SPAN_SIGNALS` over the predicted spans, both against the
one training reference of the ``finish()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...core import parts as P
from ...core.numerics import softmax
from ...exceptions import ShapeError
from ...signals import SplitArrays, run_signals
from ...signals.alerts import drift_alerts
from ...signals.reference import HELDOUT_SPLITS, SpanReference, SplitOutputs, TrainingReference
from ...signals.span_drift import HELDOUT_MIN_SPANS  # noqa: F401  (public here since the span drift moved)
from ..base import SplitContext
from .alerts import error_alerts
from .align import char_spans_to_token_spans
from .dep import DEFAULT_CALIBRATION, sample_dep, span_dep, word_ids
from .dep import token_dep as _token_dep
from .errors import entity_metrics, span_errors_batch
from .ingest import GOLD_SPANS, PRED_SPANS, TOKEN_ENDS, TOKEN_STARTS
from .reference import load_reference
from .spans import arrays_to_spans, empty_spans, spans_to_arrays
from .tables import (
    ERRORS,
    SAMPLE_EMBEDDINGS_FILE,
    SPANS_FILE,
    char_bounds,
    gather_index,
    index_within,
    runs_of,
    sample_columns,
    span_mean,
    span_means,
    span_token_embs,
    span_twins,
)
from .tag_codec import decode_batch, encode_batch
from .tagging import infer_schema, parse_labels

SAMPLE_SIGNALS = ["drift", "production_shift"]  # the sample-unit signals an NER split runs
SPAN_SIGNALS = ["span_drift"]  # and its span-unit ones

__all__ = ["NerCompute", "compute_ner_split", "span_twins", "HELDOUT_MIN_SPANS", "SPANS_FILE",
           "SAMPLE_EMBEDDINGS_FILE", "ERRORS"]


def tagset_of(manifest: dict):
    """The run's tag set: its labels parsed with its tagging schema (inferred if not set)."""
    labels = manifest["labels"]
    return parse_labels(labels, manifest.get("tagging_schema") or infer_schema(labels))


class NerCompute:
    """Compute-side methods of the task protocol."""

    def training_reference(self, results_root: Path, manifest: dict, *, stored_training: bool) -> TrainingReference:
        types = list(tagset_of(manifest).entity_types) if manifest.get("labels") else []
        return load_reference(results_root, manifest, types, stored_training=stored_training)

    def compute_split(self, ctx: SplitContext) -> dict:
        return compute_ner_split(ctx)


def compute_ner_split(ctx: SplitContext) -> dict:
    """Join an NER split's inputs and token outputs, score its spans and samples, and write its
    results into ``ctx.tmp`` (see the module docstring). Returns the split's summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths, labels, key, fn, tmp, signals = ctx.paths, ctx.labels, ctx.key, ctx.fn, ctx.tmp, ctx.signals
    reference = ctx.reference
    tagset = tagset_of(ctx.manifest)
    types = list(tagset.entity_types)
    split, name = ctx.split, ctx.inference_name
    labeled = split != S.INFERENCE

    table = P.read_inputs(paths, key, fn=fn)
    in_ids = table.column(S.ID).to_numpy(zero_copy_only=False)
    in_index = P.unique_index(in_ids, fn=fn, what=f"the inputs of split {key!r}")
    n_tok_in = np.asarray(table.column(TOKEN_STARTS).combine_chunks().value_lengths().to_numpy(zero_copy_only=False), np.int64)
    epochs = P.epochs(paths, key)
    final = epochs[-1]

    # Which input rows have final-epoch outputs, and how many token rows each logged.
    runs_per_batch = []
    for _, batch in P.open_parts(final.parts):
        tid = P.ids_of(batch)
        starts, lens = runs_of(tid)
        pos = P.lookup(in_index, tid[starts], key, final.epoch, fn)
        runs_per_batch.append((starts, lens, pos))
    pos_all = np.concatenate([r[2] for r in runs_per_batch])
    P.check_unique_pos(pos_all, in_ids, key, final.epoch, fn)
    rows = np.sort(pos_all)
    row_of_input = np.full(len(in_ids), -1, np.int64)
    row_of_input[rows] = np.arange(len(rows))
    n = len(rows)
    ntok = n_tok_in[rows]
    offsets = np.r_[0, np.cumsum(ntok)].astype(np.int64)
    T = int(offsets[-1])
    k = len(labels)

    probs = np.empty((T, k), np.float32)
    emb_dim = None
    for (_, batch), (starts, lens, pos) in zip(P.open_parts(final.parts), runs_per_batch):
        r = row_of_input[pos]
        need = ntok[r]
        short = lens < need
        if short.any():
            bad = in_ids[pos[short]][:10].tolist()
            raise ShapeError(
                f"{fn}: model outputs of split {key!r} have fewer token rows than the sample's "
                f"text_token_indices for ids {bad}; log one row per model token (padding may follow)."
            )
        src, dst = gather_index(starts, offsets[r], need)
        probs[dst] = softmax(P.matrix(batch, S.LOGITS)[src].astype(np.float32))
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
        calibration = ctx.settings.get("dep_calibration", DEFAULT_CALIBRATION)
        token_dep = _token_dep(probs, gold_tags, tag_groups=tagset.type_ids + 1,
                               word_of=word_ids(offsets, tok_start, tok_end), calibration=calibration)

    # Span tables: gold rows then predicted rows.
    kinds = [("gold", gold)] if labeled else []
    kinds.append(("pred", pred))
    token_embs = rank = sample_embs = None
    if emb_dim is not None:
        token_embs, rank, sample_embs = span_token_embs(final.parts, runs_per_batch, row_of_input, ntok, offsets,
                                            [sp for _, sp in kinds], emb_dim)
    errs = span_errors_batch(gold, pred) if labeled else None
    span_cols: dict[str, list] = {c: [] for c in ("row", "kind", "index", "token_start", "token_end", "type_id",
                                                     "error", "match_type", "dep", "confidence")}
    span_embs = []
    for kind, sp in kinds:
        m = len(sp)
        span_cols["row"].append(sp.sample)
        span_cols["kind"].append(np.full(m, kind, object))
        span_cols["index"].append(index_within(sp.sample))
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
        span_cols["confidence"].append(span_mean(token_conf, sp, offsets))
        if token_embs is not None:
            span_embs.append(span_means(token_embs, rank, sp, offsets))
    sc = {c: np.concatenate(v) if v else np.zeros(0) for c, v in span_cols.items()}
    n_spans = len(sc["row"])
    abs_start = offsets[sc["row"].astype(np.int64)] + sc["token_start"].astype(np.int64)
    abs_end = offsets[sc["row"].astype(np.int64)] + sc["token_end"].astype(np.int64)
    c_start, c_end = char_bounds(tok_start, tok_end, abs_start, abs_end)
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

    # What later splits are scored against: this split's outputs, and from training its
    # samples' and spans' embeddings (the training reference).
    sample_rows = sc["row"].astype(np.int64)
    conf_sample = np.add.reduceat(token_conf, offsets[:-1]) / np.maximum(ntok, 1) if n else np.zeros(0)
    type_counts = np.bincount(pred.type_id.astype(np.int64), minlength=len(types))[: len(types)]
    is_pred = sc["kind"] == "pred"
    if labeled:
        reference.set_outputs(split, SplitOutputs(np.asarray(conf_sample, np.float64), type_counts))
    if split == S.TRAIN:
        reference.embeddings = sample_embs
        if emb_all is not None:
            from ...core import vectors

            reference.spans = SpanReference(
                embeddings=emb_all, twins=span_twins(sc["row"], sc["token_start"], sc["token_end"]),
                heldout=reference.spans.heldout if reference.spans is not None else {},
                index=vectors.build_index(emb_all) if len(emb_all) and signals else None)
    elif split in HELDOUT_SPLITS and emb_all is not None and reference.spans is not None:
        reference.spans.heldout[split] = emb_all[is_pred]

    # Signals of the samples (drift of their mean token embedding, set-level tests) and of
    # the spans (drift of predicted spans), from the registry.
    sample_drift: dict = {}
    sample_drift_summary: dict = {}
    drift_summary: dict = {}
    if signals and n and split != S.TRAIN:
        data = SplitArrays(split=split, inference_name=name, labels=types, ids=in_ids[rows], gold=None, probs=None,
                           embeddings=sample_embs, epoch_probs=None, epochs=[], texts=None, settings=ctx.settings,
                           confidence=np.asarray(conf_sample, np.float64), pred_counts=type_counts,
                           count_unit="predicted span entity type", reference=reference)
        sample_drift, sums = run_signals(data, SAMPLE_SIGNALS)
        sample_drift_summary = {**sums.get("drift", {}), **sums.get("production_shift", {})}
    if signals and split != S.TRAIN and emb_all is not None and len(emb_all):
        data = SplitArrays(split=split, inference_name=name, labels=types, ids=sample_rows, gold=None, probs=None,
                           embeddings=emb_all, epoch_probs=None, epochs=[], texts=None, settings=ctx.settings,
                           unit="span", scored=is_pred, reference=reference)
        span_cols, sums = run_signals(data, SPAN_SIGNALS)
        drift_summary = sums.get("span_drift", {})
        for c, v in span_cols.items():
            span_table[c] = pa.array(v)
    pq.write_table(pa.table(span_table), tmp / SPANS_FILE)

    # Samples table.
    dep_sample = (sample_dep(sample_rows, sc["dep"], n, token_deps=token_dep, offsets=offsets) if labeled
                  else np.full(n, np.nan, np.float32))
    sample_cols = sample_columns(n, sc, span_table, labeled)
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
                          "alerts": error_alerts(span_table, errors, dep_sample, hard, n),
                          "accuracy": metrics.get("micro", {}).get("f1")}
        sig["data_error_potential"] = {"easy_threshold": easy, "hard_threshold": hard, "mean": easy,
                                       "span_mean": float(np.nanmean(dep)) if len(dep) else None}
    if not labeled:
        n_with_drifted_span = int(np.asarray(out["has_drifted_span"]).sum()) if "has_drifted_span" in out else 0
        with_type = {t: int(len(np.unique(pred.sample[pred.type_id == i]))) for i, t in enumerate(types)}
        sig["summary"] = {"alerts": drift_alerts(
            sample_drift_summary, split=split, n=n,
            n_drifted=sample_drift_summary["count"] if "count" in sample_drift_summary else None,
            expected=sample_drift_summary.get("expected_rate", 0.05), confidence=np.asarray(conf_sample),
            grown_filter=lambda t: ({"span_label": [t]}, with_type.get(t, 0)), predicted="entity types",
            share_of=" of predicted spans", spans=drift_summary, n_with_drifted_span=n_with_drifted_span),
            "pred_span_counts": {t: int(c) for t, c in zip(types, type_counts)}}
    if sample_drift_summary:
        sig["drift"] = sample_drift_summary
    if drift_summary:
        sig["span_drift"] = drift_summary
    summary["signals"] = sig
    return summary
