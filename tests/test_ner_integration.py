"""NER end to end through the public API: dq.init("text_ner") ... dq.finish().

Every expectation here is computed by hand in the test (tags, margins, span maxima, means, seqeval),
never by calling ``dataquality.tasks.text_ner`` helpers, so a wrong result in the library cannot pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import dataquality as dq
from dataquality.exceptions import ConfigurationError, LabelError, SchemaError, ShapeError

TYPES = ("PER", "LOC")
SCHEMAS = ("BIO", "BILOU", "BIOES")
SEQEVAL_SCHEME = {"BIO": "IOB2", "BILOU": "BILOU", "BIOES": "IOBES"}


def labels_for(schema: str) -> list[str]:
    prefixes = {"BIO": "BI", "BILOU": "BILU", "BIOES": "BIES"}[schema]
    return ["O"] + [f"{p}-{t}" for t in TYPES for p in prefixes]


def tags_for(spans, n: int, schema: str) -> list[str]:
    """Tag strings of ``n`` tokens from token spans (start, end_exclusive, type), written out by hand."""
    tags = ["O"] * n
    last, unit = {"BIO": ("I", "B"), "BILOU": ("L", "U"), "BIOES": ("E", "S")}[schema]
    for s, e, t in spans:
        if e - s == 1:
            tags[s] = f"{unit}-{t}"
            continue
        tags[s] = f"B-{t}"
        for j in range(s + 1, e - 1):
            tags[j] = f"I-{t}"
        tags[e - 1] = f"{last}-{t}"
    return tags


def sample(sid: int, words: list[str], ents=()) -> dict:
    """A whitespace-tokenised sample; ``ents`` are token spans (start, end_exclusive, type)."""
    text = " ".join(words)
    offs = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    gold = [{"start": offs[s][0], "end": offs[e - 1][1], "label": t} for s, e, t in ents]
    return {"id": sid, "text": text, "text_token_indices": offs, "gold_spans": gold}


def one_hot_logits(tags: list[str], labels: list[str], hi: float = 6.0) -> np.ndarray:
    out = np.zeros((len(tags), len(labels)), np.float32)
    out[np.arange(len(tags)), [labels.index(t) for t in tags]] = hi
    return out


def softmax(x):
    z = np.asarray(x, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def results(run, key: str = "training"):
    d = run.paths.results(key)
    return (pq.read_table(d / "samples.parquet").to_pandas(), pq.read_table(d / "spans.parquet").to_pandas(),
            d)


def start(schema: str = "BIO", project: str = "ner", run: str = "it"):
    r = dq.init("text_ner", project_name=project, run_name=run)
    dq.set_labels_for_run(labels_for(schema))
    dq.set_tagging_schema(schema)
    return r


# --- the seed documentation's example ------------------------------------------------------------


def test_seed_doc_example_runs_with_real_arrays():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    t0 = "the president is joe biden"
    t1 = "joe biden addressed the united states on monday"
    # model tokens (sub-words repeat their position in the text): "bi", "##den"
    tok0 = [(0, 3), (4, 13), (14, 16), (17, 20), (21, 23), (23, 26)]
    tok1 = [(0, 3), (4, 6), (6, 9), (10, 19), (20, 23), (24, 30), (31, 37), (38, 40), (41, 47)]
    df = pd.DataFrame({
        "id": [0, 1], "text": [t0, t1], "text_token_indices": [tok0, tok1],
        "gold_spans": [[{"start": 17, "end": 26, "label": "PER"}],
                       [{"start": 0, "end": 9, "label": "PER"}, {"start": 24, "end": 37, "label": "LOC"}]],
    })
    run = dq.init("text_ner", project_name="seed", run_name="ner")
    dq.set_labels_for_run(labels)
    dq.set_tagging_schema("BIO")
    dq.log_dataset(df, split="training")
    model_tags = [["O", "O", "O", "B-PER", "I-PER", "I-PER"] + ["O"] * 3,  # 3 <pad> rows
                  ["B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "O"]]
    logits = [one_hot_logits(t, labels) for t in model_tags]
    rng = np.random.default_rng(0)
    embs = [rng.normal(size=(9, 8)).astype(np.float32) for _ in range(2)]
    epoch = 0
    ids = [0, 1]
    split = "training"
    dq.log_model_outputs(embs=embs, logits=logits, ids=ids, split=split, epoch=epoch)
    dq.finish()

    samples, spans, d = results(run)
    assert samples["id"].tolist() == [0, 1]
    pred = [[(s["start"], s["end"], s["label"], s["error_type"]) for s in row] for row in samples["pred_spans"]]
    assert pred == [[(17, 26, "PER", "none")], [(0, 9, "PER", "none"), (24, 37, "LOC", "none")]]
    assert sorted(spans["span_text"]) == sorted(["joe biden"] * 4 + ["united states"] * 2)
    assert (spans["error_type"] == "none").all()
    # "joe biden" in sample 0 is tokens 3..6 (joe, bi, ##den): its embedding is their mean.
    e = np.load(d / "embeddings.npy")
    row = spans.index[(spans["id"] == 0) & (spans["span_kind"] == "gold")][0]
    np.testing.assert_allclose(e[row], embs[0][3:6].mean(axis=0), rtol=1e-5, atol=1e-6)
    summary = dq.metrics.get_summary("seed", "ner")
    assert summary["splits"]["training"]["signals"]["summary"]["entity_metrics"]["micro"]["f1"] == 1.0


# --- error types on a tiny hand-made case ---------------------------------------------------------

# (words, gold token spans, predicted token spans)
TINY = [
    (["alice", "smith", "met", "bob"], [(0, 1, "PER")], [(0, 2, "PER")]),                  # span_shift
    (["we", "flew", "to", "paris", "today"], [(3, 4, "LOC")], [(3, 4, "PER")]),            # wrong_tag
    (["bob", "left", "early"], [(0, 1, "PER")], []),                                       # missed_label
    (["rome", "is", "warm"], [], [(0, 1, "LOC")]),                                         # ghost_span
    (["ann", "lee", "paris"], [(0, 2, "PER"), (2, 3, "LOC")], [(0, 2, "PER"), (2, 3, "LOC")]),  # touching
    (["ann", "lee", "paris"], [(0, 2, "PER")], [(2, 3, "LOC")]),                           # touching, no overlap
]

# (id, kind, token_start, token_end, text, label, error_type, matched_label)
TINY_EXPECTED = {
    (0, "gold", 0, 1, "alice", "PER", "span_shift", "PER"),
    (0, "pred", 0, 2, "alice smith", "PER", "span_shift", "PER"),
    (1, "gold", 3, 4, "paris", "LOC", "wrong_tag", "PER"),
    (1, "pred", 3, 4, "paris", "PER", "wrong_tag", "LOC"),
    (2, "gold", 0, 1, "bob", "PER", "missed_label", None),
    (3, "pred", 0, 1, "rome", "LOC", "ghost_span", None),
    (4, "gold", 0, 2, "ann lee", "PER", "none", "PER"),
    (4, "gold", 2, 3, "paris", "LOC", "none", "LOC"),
    (4, "pred", 0, 2, "ann lee", "PER", "none", "PER"),
    (4, "pred", 2, 3, "paris", "LOC", "none", "LOC"),
    (5, "gold", 0, 2, "ann lee", "PER", "missed_label", None),
    (5, "pred", 2, 3, "paris", "LOC", "ghost_span", None),
}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_span_rows_and_error_types_by_hand(schema):
    labels = labels_for(schema)
    run = start(schema)
    dq.log_dataset(pd.DataFrame([sample(i, w, g) for i, (w, g, _) in enumerate(TINY)]), split="train")
    logits = [one_hot_logits(tags_for(p, len(w), schema), labels) for w, _, p in TINY]
    dq.log_model_outputs(ids=list(range(len(TINY))), embs=[np.ones((len(w), 4)) for w, _, _ in TINY],
                         logits=logits, split="train", epoch=0)
    dq.finish()
    samples, spans, _ = results(run)
    got = {(int(r.id), r.span_kind, int(r.token_start), int(r.token_end), r.span_text, r.label, r.error_type,
            None if pd.isna(r.matched_label) else r.matched_label) for r in spans.itertuples()}
    assert got == TINY_EXPECTED
    assert len(spans) == len(TINY_EXPECTED)
    # character offsets of each span are those of its first and last words
    for r in spans.itertuples():
        text = samples.set_index("id").loc[r.id, "text"]
        assert text[r.start:r.end] == r.span_text
    counts = dq.metrics.get_summary("ner", "it")["splits"]["training"]["signals"]["summary"]["error_counts"]
    assert counts == {"wrong_tag": 2, "span_shift": 2, "ghost_span": 2, "missed_label": 2}
    by_id = samples.set_index("id")
    assert by_id["n_errors"].tolist() == [2, 2, 1, 1, 0, 2]
    assert by_id["ghost_span"].tolist() == [0, 0, 0, 1, 0, 1]
    assert by_id["n_gold_spans"].tolist() == [len(g) for _, g, _ in TINY]
    assert by_id["n_pred_spans"].tolist() == [len(p) for _, _, p in TINY]


# --- DEP, padding, span embeddings over several epochs and every input form -----------------------


def _random_dataset(n: int, seed: int):
    """Samples of 3..9 words with 0..2 non-touching entities each, and their gold token spans."""
    rng = np.random.default_rng(seed)
    rows, gold = [], []
    for i in range(n):
        m = int(rng.integers(3, 10))
        spans, pos = [], 0
        while pos < m and len(spans) < 2:
            s = int(rng.integers(pos, m))
            e = min(m, s + int(rng.integers(1, 4)))
            spans.append((s, e, TYPES[int(rng.integers(0, 2))]))
            pos = e + 1
        if rng.random() < 0.2:
            spans = []
        rows.append(sample(i, [f"w{i}x{j}" for j in range(m)], spans))
        gold.append(spans)
    return rows, gold


@pytest.mark.parametrize("schema", SCHEMAS)
def test_dep_padding_and_span_embeddings_recomputed_by_hand(schema):
    import torch

    labels = labels_for(schema)
    k, d, pad_to, n_ep = len(labels), 6, 12, 3
    rows, gold = _random_dataset(40, seed=1)
    run = start(schema)
    dq.log_dataset(pd.DataFrame(rows), split="train")
    n_tok = [len(r["text_token_indices"]) for r in rows]
    gold_cols = [np.array([labels.index(t) for t in tags_for(g, m, schema)]) for g, m in zip(gold, n_tok)]
    rng = np.random.default_rng(2)
    # logits that lean towards the gold tag more with every epoch; padding rows shout "B-PER" and
    # carry huge embeddings, so any padding row that is not cut shows in spans, DEP and means.
    logit = {}
    emb = {}
    for ep in range(n_ep):
        for i, m in enumerate(n_tok):
            lg = rng.normal(size=(pad_to, k)).astype(np.float32)
            lg[np.arange(m), gold_cols[i]] += 0.8 * ep
            lg[m:] = 0.0
            lg[m:, labels.index("B-PER")] = 50.0
            em = rng.normal(size=(pad_to, d)).astype(np.float32)
            em[m:] = 1e4
            logit[ep, i], emb[ep, i] = lg, em
    order = rng.permutation(len(rows))
    for ep in range(n_ep):
        dq.set_epoch(ep)
        dq.set_split("train")
        for b in np.array_split(order if ep else np.arange(len(rows)), 4):
            ids = [int(i) for i in b]
            if ep == 0:    # lists of arrays cut to each sample's length
                dq.log_model_outputs(ids=ids, embs=[emb[ep, i][:n_tok[i]] for i in ids],
                                     logits=[logit[ep, i][:n_tok[i]] for i in ids])
            elif ep == 1:  # padded 3-D numpy arrays
                dq.log_model_outputs(ids=np.array(ids), embs=np.stack([emb[ep, i] for i in ids]),
                                     logits=np.stack([logit[ep, i] for i in ids]))
            else:          # torch tensors: a padded 3-D tensor of logits, a list of padded tensors for embs
                dq.log_model_outputs(ids=torch.tensor(ids), embs=[torch.from_numpy(emb[ep, i]) for i in ids],
                                     logits=torch.from_numpy(np.stack([logit[ep, i] for i in ids])))
    dq.finish()
    samples, spans, d_ = results(run)
    embs = np.load(d_ / "embeddings.npy")
    assert embs.shape == (len(spans), d)
    # each sample's mean token embedding, final epoch, padding cut (it would add 1e4 rows)
    sample_embs = np.load(d_ / "sample_embeddings.npy")
    want = np.stack([emb[n_ep - 1, int(i)][: n_tok[int(i)]].mean(axis=0) for i in samples["id"]])
    np.testing.assert_allclose(sample_embs, want, rtol=1e-5, atol=1e-6)

    # token DEP by hand (ner.dep), on the real tokens only: final-epoch probabilities; per tag j the
    # threshold t_j = mean p(j) over the split's tokens labeled j; p(j) / sqrt(t_j) renormalised and
    # summed over the gold tag's entity type (O alone); one token per word here, so no word pooling
    final_p = {i: softmax(logit[n_ep - 1, i][:m]) for i, m in enumerate(n_tok)}
    all_p, all_g = np.concatenate(list(final_p.values())), np.concatenate(gold_cols)
    t = np.array([all_p[all_g == j, j].mean() if (all_g == j).any() else 1.0 for j in range(k)])
    group = np.array([0] + [1 + TYPES.index(lab.split("-", 1)[1]) for lab in labels[1:]])
    tok_dep = {}
    for i, m in enumerate(n_tok):
        q = final_p[i] / np.sqrt(t)
        q /= q.sum(axis=1, keepdims=True)
        same_type = group[None, :] == group[gold_cols[i]][:, None]
        tok_dep[i] = 1 - (q * same_type).sum(axis=1)

    assert (spans["token_end"].to_numpy() <= np.array([n_tok[i] for i in spans["id"]])).all()
    for r, e in zip(spans.itertuples(), embs):
        i, a, b = int(r.id), int(r.token_start), int(r.token_end)
        assert r.data_error_potential == pytest.approx(tok_dep[i][a:b].max(), abs=1e-5)
        np.testing.assert_allclose(e, emb[n_ep - 1, i][a:b].mean(axis=0), rtol=1e-5, atol=1e-5)
    # predicted spans = the argmax tags of the last epoch (padding cut, so no "B-PER" span past the end)
    final_pred = {i: np.argmax(logit[n_ep - 1, i][:m], axis=1) for i, m in enumerate(n_tok)}
    for i in range(len(rows)):
        pr = spans[(spans["id"] == i) & (spans["span_kind"] == "pred")]
        covered = np.zeros(n_tok[i], bool)
        for a, b in zip(pr["token_start"], pr["token_end"]):
            covered[a:b] = True
        assert (covered == (final_pred[i] != 0)).all()
        gr = spans[(spans["id"] == i) & (spans["span_kind"] == "gold")]
        assert sorted(zip(gr["token_start"], gr["token_end"], gr["label"])) == sorted(gold[i])
    # sample DEP = max over its gold and predicted spans and its tokens outside them = max over its tokens
    expected = spans.groupby("id")["data_error_potential"].max()
    by_id = samples.set_index("id")["data_error_potential"]
    for i in range(len(rows)):
        assert by_id[i] >= expected.get(i, 0.0) - 1e-6
        assert by_id[i] == pytest.approx(tok_dep[i].max(), abs=1e-5)
    # confidence = mean over the real tokens of the final max probability
    conf = samples.set_index("id")["confidence"]
    for i, m in enumerate(n_tok):
        assert conf[i] == pytest.approx(softmax(logit[n_ep - 1, i][:m]).max(axis=1).mean(), abs=1e-5)


def test_dep_pools_sub_word_tokens_and_counts_unspanned_tokens():
    labels = labels_for("BIO")
    # "Johnny" is two model tokens repeating the word's bounds; "Paris" is an entity nobody labeled
    rows = [{"id": 0, "text": "Johnny went home", "text_token_indices": [(0, 6), (0, 6), (7, 11), (12, 16)],
             "gold_spans": [{"start": 0, "end": 6, "label": "PER"}]},
            {"id": 1, "text": "off to Paris", "text_token_indices": [(0, 3), (4, 6), (7, 12)], "gold_spans": []}]
    run = start("BIO")
    dq.set_signal_settings(dep_calibration=0.0)  # plain self-confidence, to check by hand
    dq.log_dataset(pd.DataFrame(rows), split="train")
    lg0 = one_hot_logits(["B-PER", "O", "O", "O"], labels, hi=3.0)   # the sub-word "##nny" looks like O
    lg1 = one_hot_logits(["O", "O", "O"], labels, hi=3.0)
    lg1[2] = 0.0
    lg1[2, [0, labels.index("B-LOC")]] = [1.0, 0.8]                 # "Paris": O by a hair, no span
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=[0, 1], embs=[np.ones((4, 2)), np.ones((3, 2))], logits=[lg0, lg1])
    dq.finish()
    samples, spans, _ = results(run)
    p0, p1 = softmax(lg0), softmax(lg1)
    per = [labels.index("B-PER"), labels.index("I-PER")]
    word = 1 - (p0[0, per].sum() + p0[1, per].sum()) / 2       # both tokens of "Johnny": the word's mean
    gold = spans[(spans.id == 0) & (spans.span_kind == "gold")]
    assert gold.data_error_potential.tolist() == pytest.approx([word], abs=1e-5)
    pred = spans[(spans.id == 0) & (spans.span_kind == "pred")]   # the predicted span is token 0 alone
    assert (pred.token_start.tolist(), pred.token_end.tolist()) == ([0], [1])
    assert pred.data_error_potential.tolist() == pytest.approx([word], abs=1e-5)
    by_id = samples.set_index("id")["data_error_potential"]
    assert by_id[0] == pytest.approx(max(word, 1 - p0[2, 0], 1 - p0[3, 0]), abs=1e-5)
    # sample 1 has no span at all; its DEP is its worst token outside spans: "Paris", 1 - p(O)
    assert not (spans.id == 1).any()
    assert by_id[1] == pytest.approx(1 - p1[2, 0], abs=1e-5) and by_id[1] > 0.5


# --- per-entity metrics equal seqeval strict ------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS)
def test_entity_metrics_equal_seqeval_strict(schema):
    from seqeval.metrics import classification_report
    from seqeval.scheme import BILOU, IOB2, IOBES

    labels = labels_for(schema)
    rows, gold = _random_dataset(120, seed=3)
    start(schema)
    dq.log_dataset(pd.DataFrame(rows), split="train")
    rng = np.random.default_rng(4)
    y_true, y_pred, logits = [], [], []
    for r, g in zip(rows, gold):
        m = len(r["text_token_indices"])
        tags = tags_for(g, m, schema)
        lg = rng.normal(size=(m, len(labels))).astype(np.float32)
        lg[np.arange(m), [labels.index(t) for t in tags]] += 1.5  # right often, malformed sometimes
        logits.append(lg)
        y_true.append(tags)
        y_pred.append([labels[j] for j in lg.argmax(axis=1)])
    dq.log_model_outputs(ids=[r["id"] for r in rows], embs=[np.zeros((len(x), 3)) for x in logits],
                         logits=logits, split="train", epoch=0)
    dq.finish()
    scheme = {"BIO": IOB2, "BILOU": BILOU, "BIOES": IOBES}[schema]
    ref = classification_report(y_true, y_pred, mode="strict", scheme=scheme, output_dict=True, zero_division=0)
    got = dq.metrics.get_summary("ner", "it")["splits"]["training"]["signals"]["summary"]["entity_metrics"]
    for t in TYPES:
        for key in ("precision", "recall", "f1"):
            assert got["per_type"][t][key] == pytest.approx(ref[t][f"{key}-score" if key == "f1" else key], abs=1e-9)
        assert got["per_type"][t]["support"] == ref[t]["support"]
    for avg, name in (("micro", "micro avg"), ("macro", "macro avg"), ("weighted", "weighted avg")):
        assert got[avg]["f1"] == pytest.approx(ref[name]["f1-score"], abs=1e-9)


# --- inference: drift columns, and a later inference-only process --------------------------------


def _log_train_and_inference(run, schema="BIO"):
    labels = labels_for(schema)
    rows, gold = _random_dataset(60, seed=5)
    dq.log_dataset(pd.DataFrame(rows), split="train")
    rng = np.random.default_rng(6)
    centers = rng.normal(size=(len(labels), 16)) * 3

    def outputs(tag_lists, shift=0.0):
        lg, em = [], []
        for tags in tag_lists:
            cols = np.array([labels.index(t) for t in tags])
            lg.append(one_hot_logits(tags, labels, hi=4.0))
            em.append((centers[cols] + rng.normal(size=(len(tags), 16)) * 0.3 + shift).astype(np.float32))
        return em, lg

    train_tags = [tags_for(g, len(r["text_token_indices"]), schema) for r, g in zip(rows, gold)]
    em, lg = outputs(train_tags)
    dq.log_model_outputs(ids=[r["id"] for r in rows], embs=em, logits=lg, split="train", epoch=0)
    return rows, gold, train_tags, outputs


def test_inference_split_gets_drift_columns():
    run = start()
    rows, gold, train_tags, outputs = _log_train_and_inference(run)
    inf = pd.DataFrame([{k: v for k, v in r.items() if k != "gold_spans"} | {"id": 1000 + r["id"]} for r in rows[:20]])
    dq.log_dataset(inf, split="inference", inference_name="prod")
    dq.set_split("inference", inference_name="prod")
    near, far = outputs(train_tags[:10]), outputs(train_tags[10:20], shift=25.0)
    dq.log_model_outputs(ids=list(range(1000, 1020)), embs=near[0] + far[0], logits=near[1] + far[1])
    dq.finish()
    samples, spans, _ = results(run, "inference/prod")
    assert {"drift_score", "is_drifted", "knn_distance", "span_drift_score", "has_drifted_span"} <= set(samples.columns)
    assert {"drift_score", "is_drifted"} <= set(spans.columns)
    assert samples["gold_spans"].isna().all()
    assert (spans["span_kind"] == "pred").all() and spans["error_type"].isna().all()
    s = samples.set_index("id")
    # every sample has a drift of its own (its mean token embedding), with or without spans
    assert s["drift_score"].notna().all()
    far, near = list(range(1010, 1020)), list(range(1000, 1010))
    assert s.loc[far, "is_drifted"].all() and s.loc[near, "is_drifted"].sum() <= 2  # ~5% expected
    assert s.loc[far, "knn_distance"].min() > s.loc[near, "knn_distance"].max()
    # and the drift of its most drifted span
    has_span = s["n_pred_spans"] > 0
    far_ids, near_ids = [i for i in far if has_span[i]], [i for i in near if has_span[i]]
    assert far_ids and near_ids
    assert s.loc[far_ids, "has_drifted_span"].all()
    best = spans.groupby("id")["drift_score"].max()
    np.testing.assert_allclose(s.loc[best.index, "span_drift_score"], best, rtol=1e-6)
    assert s.loc[~has_span, "span_drift_score"].isna().all()
    summ = dq.metrics.get_summary("ner", "it")["splits"]["inference/prod"]["signals"]
    assert summ["drift"]["unit"] == "sample" and summ["drift"]["count"] == int(s["is_drifted"].sum())
    assert summ["span_drift"]["unit"] == "predicted span" and summ["span_drift"]["count"] == int(spans["is_drifted"].sum())
    # set level, as for classification: MMD against training, entity types and confidence against training
    # (no validation split here)
    assert summ["drift"]["mmd"]["drifted"] and summ["drift"]["mmd"]["p_value"] < 0.01
    assert summ["drift"]["reference_split"] == "training"
    assert set(summ["drift"]["class_shift"]["share"]) == set(TYPES)
    assert summ["drift"]["confidence_shift"]["reference_split"] == "training"
    kinds = {a["kind"]: a for a in summ["summary"]["alerts"]}
    assert "set_drift" in kinds
    assert kinds["drifted_samples"]["filter"] == {"is_drifted": True}
    assert kinds["drifted_samples"]["count"] == int(s["is_drifted"].sum())
    assert kinds["drifted_spans"]["filter"] == {"has_drifted_span": True}
    for kind, col in (("drifted_samples", "is_drifted"), ("drifted_spans", "has_drifted_span")):
        got = dq.metrics.get_dataframe("ner", "it", "inference", inference_name="prod", filter=kinds[kind]["filter"])
        assert sorted(got["id"]) == sorted(s.index[s[col]]) and len(got) == kinds[kind]["count"]


def test_later_inference_only_process(dq_home):
    run = start()
    rows, *_ = _log_train_and_inference(run)
    dq.finish()
    train_before = (run.paths.results("training") / "samples.parquet").read_bytes()
    inf = [{"id": 5000 + i, "text": r["text"], "text_token_indices": r["text_token_indices"]} for i, r in enumerate(rows[:8])]
    script = f"""
import json, numpy as np, pandas as pd, dataquality as dq
rows = json.loads({json.dumps(inf)!r})
run = dq.init("text_ner", project_name="ner", run_name="it")
assert dq.get_run().labels == {labels_for('BIO')!r}
dq.log_dataset(pd.DataFrame(rows), split="inference", inference_name="later")
dq.set_split("inference", inference_name="later")
rng = np.random.default_rng(0)
ids = [r["id"] for r in rows]
n = [len(r["text_token_indices"]) for r in rows]
dq.log_model_outputs(ids=ids, embs=[rng.normal(size=(m, 16)) for m in n],
                     logits=[np.eye(5)[rng.integers(0, 5, m)] * 5 for m in n])
dq.finish()
"""
    env = dict(os.environ, DQ_HOME=str(dq_home))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    samples, spans, _ = results(run, "inference/later")
    assert sorted(samples["id"]) == list(range(5000, 5008))
    assert {"drift_score", "is_drifted"} <= set(samples.columns)
    assert (run.paths.results("training") / "samples.parquet").read_bytes() == train_before
    splits = dq.metrics.get_summary("ner", "it")["splits"]
    assert {"training", "inference/later"} <= set(splits)


# --- bad input: typed errors naming the function and the argument ---------------------------------


def _df(**override):
    base = sample(0, ["joe", "biden", "visited", "paris"], [(0, 2, "PER"), (3, 4, "LOC")])
    base.update(override)
    return pd.DataFrame([base])


@pytest.mark.parametrize("spans, exc, pattern", [
    ([{"start": 0, "end": 5, "label": "PER"}], SchemaError, r"ends at character 5, inside token 1 'biden'"),
    ([{"start": 1, "end": 9, "label": "PER"}], SchemaError, r"starts at character 1, inside token 0 'joe'"),
    ([{"start": 0, "end": 9, "label": "PER"}, {"start": 4, "end": 17, "label": "LOC"}], SchemaError,
     r"overlap"),
    ([{"start": 18, "end": 40, "label": "LOC"}], SchemaError, r"runs past the text, which has 23 characters"),
    ([{"start": 0, "end": 9, "label": "ORG"}], LabelError, r"unknown label 'ORG'.*\['PER', 'LOC'\]"),
    ([{"start": 0, "end": 9}], SchemaError, r"keys 'start', 'end' and 'label'"),
    ([{"start": 9, "end": 9, "label": "PER"}], SchemaError, r"start < end"),
])
def test_bad_gold_spans(spans, exc, pattern):
    run = start()
    with pytest.raises(exc, match=r"^dq\.log_dataset: `gold_spans` of sample id 0: .*" + pattern):
        dq.log_dataset(_df(gold_spans=spans), split="train")
    assert not run.paths.inputs("training").exists() or not any(run.paths.inputs("training").iterdir())


@pytest.mark.parametrize("tokens, pattern", [
    ([(0, 3), (4, 9), (10, 17), (18, 40)], r"text_token_indices.*0 <= start <= end <= len\(text\) = 23"),
    ([(0, 3), (9, 4), (10, 17), (18, 23)], r"text_token_indices.*0 <= start <= end"),
    ([(0, 3, 1), (4, 9, 1)], r"text_token_indices.*shape \(n_tokens, 2\)"),
    ([], r"text_token_indices.*at least one token"),
    ("0-3 4-9", r"text_token_indices.*\(start, end\) character offsets"),
])
def test_bad_token_indices(tokens, pattern):
    start()
    with pytest.raises(SchemaError, match=r"^dq\.log_dataset: .*" + pattern):
        dq.log_dataset(_df(text_token_indices=tokens, gold_spans=[]), split="train")


def test_missing_ner_columns():
    start()
    with pytest.raises(SchemaError, match=r"dq\.log_dataset: .*'text_token_indices'"):
        dq.log_dataset(_df().drop(columns=["text_token_indices"]), split="train")
    with pytest.raises(LabelError, match=r"dq\.log_dataset: .*'gold_spans'"):
        dq.log_dataset(_df().drop(columns=["gold_spans"]), split="train")


def test_labels_that_do_not_fit_the_schema():
    dq.init("text_ner", project_name="ner", run_name="it")
    dq.set_tagging_schema("BIO")
    with pytest.raises(ConfigurationError, match=r"^dq\.set_labels_for_run: .*'L-PER'.*BIO.*BILOU"):
        dq.set_labels_for_run(["O", "B-PER", "I-PER", "L-PER", "U-PER"])
    dq.init("text_ner", project_name="ner", run_name="it2")
    dq.set_labels_for_run(["O", "B-PER", "I-PER", "L-PER", "U-PER"])
    with pytest.raises(ConfigurationError, match=r"^dq\.set_tagging_schema: .*'L-PER'.*BIO"):
        dq.set_tagging_schema("BIO")
    with pytest.raises(ConfigurationError, match=r"^dq\.set_labels_for_run: .*'O'"):
        dq.set_labels_for_run(["B-PER", "I-PER"])


def test_wrong_tagging_schema_name():
    dq.init("text_ner", project_name="ner", run_name="it")
    with pytest.raises(ConfigurationError, match=r"^dq\.set_tagging_schema: `tagging_schema`.*'BIOX'"):
        dq.set_tagging_schema("BIOX")
    dq.set_tagging_schema("bilou")
    with pytest.raises(ConfigurationError, match=r"^dq\.set_tagging_schema: .*already uses 'BILOU'"):
        dq.set_tagging_schema("BIO")
    c = dq.init("text_classification", project_name="tc", run_name="x")
    with pytest.raises(ConfigurationError, match=r"^dq\.set_tagging_schema: .*text_ner"):
        dq.set_tagging_schema("BIO")
    assert c is not None


@pytest.fixture
def logged():
    run = start()
    dq.log_dataset(pd.concat([_df(), _df(id=1)]), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    return run


def test_logits_with_the_wrong_number_of_tags(logged):
    with pytest.raises(ShapeError, match=r"^dq\.log_model_outputs: `logits\[1\]` \(id 1\) must have shape \(tokens, 5\).*"
                                        r"got \(4, 4\)"):
        dq.log_model_outputs(ids=[0, 1], embs=[np.zeros((4, 3))] * 2, logits=[np.zeros((4, 5)), np.zeros((4, 4))])
    with pytest.raises(ShapeError, match=r"^dq\.log_model_outputs: `logits`.*\(2, tokens, width\).*got shape \(2, 4\)"):
        dq.log_model_outputs(ids=[0, 1], embs=[np.zeros((4, 3))] * 2, logits=np.zeros((2, 4)))
    with pytest.raises(ShapeError, match=r"^dq\.log_model_outputs: `logits` must hold one array per sample \(2"):
        dq.log_model_outputs(ids=[0, 1], embs=[np.zeros((4, 3))] * 2, logits=[np.zeros((4, 5))])
    assert not logged.paths.outputs("training").exists() or not any(logged.paths.outputs("training").rglob("*.arrow"))


def test_embs_and_logits_token_counts_differ(logged):
    with pytest.raises(ShapeError, match=r"^dq\.log_model_outputs: `embs\[0\]` \(id 0\) must have shape \(4, d\)"):
        dq.log_model_outputs(ids=[0, 1], embs=[np.zeros((5, 3)), np.zeros((4, 3))], logits=[np.zeros((4, 5))] * 2)
    with pytest.raises(ShapeError, match=r"^dq\.log_model_outputs: `embs\[0\]` \(id 0\) must have shape \(6, d\).*got \(5, 3\)"):
        dq.log_model_outputs(ids=[0, 1], embs=np.zeros((2, 5, 3)), logits=np.zeros((2, 6, 5)))


def test_fewer_token_rows_than_token_indices_fails_at_finish(logged):
    dq.log_model_outputs(ids=[0, 1], embs=[np.zeros((4, 3)), np.zeros((2, 3))],
                         logits=[np.zeros((4, 5)), np.zeros((2, 5))])
    with pytest.raises(ShapeError, match=r"^dq\.finish: .*fewer token rows than .*text_token_indices for ids \[1\]"):
        dq.finish()
    assert not (logged.paths.results("training") / "samples.parquet").exists()


def test_token_rows_of_a_sample_stay_together_across_writer_slabs(dq_home):
    """Batches of long sentences fill several of the writer's slabs; a sample's token rows must
    never be split over two record batches (finish() would count it twice)."""
    labels = ["O", "B-PER", "I-PER"]
    dq.init("text_ner", project_name="slabs", run_name="r")
    dq.set_labels_for_run(labels)
    dq.set_tagging_schema("BIO")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        words = [f"w{j}" for j in range(int(rng.integers(20, 60)))]
        text = " ".join(words)
        offs = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        rows.append({"id": i, "text": text, "text_token_indices": offs, "gold_spans": [{"start": 0, "end": 2, "label": "PER"}]})
    dq.log_dataset(pd.DataFrame(rows), split="training")
    n_tokens = sum(len(r["text_token_indices"]) for r in rows)
    assert n_tokens * 384 * 4 > 3 * (2 << 20)  # several slabs' worth per epoch
    for ep in range(2):
        dq.set_epoch(ep)
        dq.set_split("training")
        for a in range(0, 400, 64):
            b = rows[a:a + 64]
            dq.log_model_outputs(ids=[r["id"] for r in b],
                                 embs=[rng.normal(size=(len(r["text_token_indices"]), 384)).astype(np.float32) for r in b],
                                 logits=[rng.normal(size=(len(r["text_token_indices"]), 3)).astype(np.float32) for r in b])
    dq.finish(verbose=False)
    df = dq.metrics.get_dataframe("slabs", "r", "training")
    assert sorted(df["id"]) == list(range(400))


def test_span_twins_pair_a_gold_span_with_the_predicted_span_of_its_boundaries():
    from dataquality.tasks.text_ner.compute import span_twins

    # rows: (sample, start, end); rows 0/3 and 1/4 share boundaries, 2 and 5 do not; 6/7/8 are three of a kind
    sample = np.array([0, 0, 1, 0, 0, 1, 2, 2, 2])
    start = np.array([0, 3, 1, 0, 3, 2, 5, 5, 5])
    end = np.array([2, 4, 2, 2, 4, 3, 6, 6, 6])
    tw = span_twins(sample, start, end)
    assert tw.shape == (9, 2)
    got = [sorted(int(x) for x in row if x >= 0) for row in tw]
    assert got == [[3], [4], [], [0], [1], [], [7, 8], [6, 8], [6, 7]]
    assert span_twins(np.array(["a", "b"], dtype=object), np.array([0, 0]), np.array([1, 1])) is None
    assert span_twins(np.array(["a", "a"], dtype=object), np.array([0, 0]), np.array([1, 1])).tolist() == [[1], [0]]


def test_span_drift_percentiles_come_from_validation_predicted_spans_when_there_are_enough():
    """With a validation split of at least HELDOUT_MIN_SPANS predicted spans, span drift scores
    are percentiles among those spans (so about 5% of them, and of new spans like them, are
    flagged) rather than among the training spans themselves."""
    from dataquality.tasks.text_ner.compute import HELDOUT_MIN_SPANS

    run = start()
    labels = labels_for("BIO")
    rows, gold = _random_dataset(300, seed=11)
    rng = np.random.default_rng(12)
    centers = rng.normal(size=(len(labels), 16)) * 3

    def log(part, split, shift=0.0, **kw):
        tags = [tags_for(g, len(r["text_token_indices"]), "BIO") for r, g in part]
        em = [(centers[[labels.index(t) for t in tg]] + rng.normal(size=(len(tg), 16)) * 0.3 + shift).astype(np.float32)
              for tg in tags]
        dq.log_model_outputs(ids=[r["id"] for r, _ in part], embs=em, logits=[one_hot_logits(tg, labels, hi=4.0) for tg in tags],
                             split=split, **kw)

    pairs = list(zip(rows, gold))
    dq.log_dataset(pd.DataFrame(rows[:120]), split="train")
    dq.log_dataset(pd.DataFrame(rows[120:240]), split="validation")
    inf = pd.DataFrame([{k: v for k, v in r.items() if k != "gold_spans"} for r in rows[240:]])
    dq.log_dataset(inf, split="inference", inference_name="prod")
    log(pairs[:120], "train", epoch=0)
    log(pairs[120:240], "validation", epoch=0)
    log(pairs[240:270], "inference", inference_name="prod")
    log(pairs[270:], "inference", shift=25.0, inference_name="prod")
    dq.finish(verbose=False)
    val = pd.read_parquet(run.paths.results("validation") / "spans.parquet")
    val_pred = val[val["span_kind"] == "pred"]
    assert len(val_pred) >= HELDOUT_MIN_SPANS
    summ = dq.metrics.get_summary("ner", "it")["splits"]
    for key in ("validation", "inference/prod"):
        assert summ[key]["signals"]["span_drift"]["reference"] == "validation predicted spans"
        assert summ[key]["signals"]["drift"]["reference"] == "training samples"
    assert summ["inference/prod"]["signals"]["drift"]["confidence_shift"]["reference_split"] == "validation"
    assert summ["inference/prod"]["signals"]["drift"]["class_shift"]["reference_split"] == "validation"
    # percentiles among themselves: 95% of the validation spans at or below the 0.95 quantile
    assert val_pred["is_drifted"].mean() <= 0.06
    _, spans, _ = results(run, "inference/prod")
    spans["shifted"] = spans["id"] >= rows[270]["id"]
    assert spans.loc[spans["shifted"], "is_drifted"].all()
    assert spans.loc[~spans["shifted"], "is_drifted"].mean() < 0.25
