"""NER through dq.metrics: span filters, get_spans, span edits (relabel, shift, delete) and export."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
from dataquality.exceptions import ConfigurationError, LabelError, RunNotFoundError, SchemaError, SplitError
from test_ner_integration import labels_for, one_hot_logits, sample, tags_for

P, R = "ner", "edits"


@pytest.fixture()
def ner_run():
    labels = labels_for("BIO")
    rows = [
        sample(0, ["joe", "biden", "visited", "paris"], [(0, 2, "PER"), (3, 4, "LOC")]),
        sample(1, ["anna", "lives", "in", "rome"], [(0, 1, "PER"), (3, 4, "LOC")]),
        sample(2, ["nothing", "here"], []),
    ]
    # the model: right on sample 0, tags "rome" as PER (wrong_tag) and invents a span in sample 2
    preds = {0: [(0, 2, "PER"), (3, 4, "LOC")], 1: [(0, 1, "PER"), (3, 4, "PER")], 2: [(1, 2, "LOC")]}
    run = dq.init("text_ner", project_name=P, run_name=R)
    dq.set_labels_for_run(labels)
    dq.set_tagging_schema("BIO")
    dq.log_dataset(pd.DataFrame(rows), split="train", meta=None)
    for ep in range(2):
        dq.set_epoch(ep)
        dq.set_split("train")
        n_tok = [len(r["text_token_indices"]) for r in rows]
        logits = [one_hot_logits(tags_for(preds[r["id"]], n, "BIO"), labels) for r, n in zip(rows, n_tok)]
        embs = [np.random.default_rng(i).normal(size=(n, 8)) for i, n in enumerate(n_tok)]
        dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits)
    dq.finish(verbose=False)
    return run


def test_span_filters_select_samples_with_a_matching_span(ner_run):
    m = dq.metrics
    assert m.get_dataframe(P, R, "train", filter={"error_type": ["wrong_tag"]})["id"].tolist() == [1]
    assert m.get_dataframe(P, R, "train", filter={"error_type": ["ghost_span"]})["id"].tolist() == [2]
    assert m.get_dataframe(P, R, "train", filter={"span_text": "PARIS"})["id"].tolist() == [0]
    assert m.get_dataframe(P, R, "train", filter={"span_regex": "^r"})["id"].tolist() == [1]
    # conditions hold for one and the same span: no LOC span is a wrong_tag (rome is LOC gold, PER pred)
    assert m.get_dataframe(P, R, "train", filter={"span_label": ["LOC"], "error_type": ["none"]})["id"].tolist() == [0]
    spans = m.get_spans(P, R, "train", filter={"error_type": ["wrong_tag"]})
    assert sorted(zip(spans["span_kind"], spans["span_text"], spans["label"])) == [("gold", "rome", "LOC"), ("pred", "rome", "PER")]
    for a in m.get_alerts(P, R, "train"):
        assert len(m.get_dataframe(P, R, "train", filter=a["filter"])) == a["count"], a


def test_span_filters_are_validated():
    with pytest.raises(ConfigurationError, match=r"filter `error_type` must list error types"):
        dq.metrics.Filter.parse({"error_type": ["typo"]}, fn="f")
    with pytest.raises(ConfigurationError, match=r"filter `span_regex`"):
        dq.metrics.Filter.parse({"span_regex": "(?<=a)b"}, fn="f")
    with pytest.raises(ConfigurationError, match=r"filter `span_label` must be a list"):
        dq.metrics.Filter.parse({"span_label": "PER"}, fn="f")


def test_span_filter_on_a_classification_run_is_refused():
    dq.init("text_classification", project_name="p", run_name="c")
    dq.set_labels_for_run(["a", "b"])
    dq.log_dataset(pd.DataFrame({"id": [0, 1], "text": ["x", "y"], "label": ["a", "b"]}), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=[0, 1], embs=np.eye(2, 4), logits=np.eye(2))
    dq.finish(verbose=False)
    with pytest.raises(SchemaError, match=r"filters on spans .* apply to text_ner runs"):
        dq.metrics.get_dataframe("p", "c", "train", filter={"span_text": "x"})
    with pytest.raises(SchemaError, match=r"filters on spans \(has_drifted_span\) apply to text_ner runs"):
        dq.metrics.get_dataframe("p", "c", "train", filter={"has_drifted_span": True})
    with pytest.raises(ConfigurationError, match=r"`edit_action` must be one of \['relabel', .*; got 'relabel_span'\. \('relabel_span' applies to text_ner runs\.\)"):
        dq.metrics.create_edit("p", "c", "train", "relabel_span", filter={"ids": [0]}, new_label="a")
    with pytest.raises(RunNotFoundError, match=r"get_spans: split 'training' has no spans; spans exist for text_ner runs"):
        dq.metrics.get_spans("p", "c", "train")


def test_span_edits_round_trip_and_export(ner_run, tmp_path):
    m = dq.metrics
    m.create_edit(P, R, "train", "relabel_span", filter={"span_text": "rome"}, new_label="PER")
    m.create_edit(P, R, "train", "shift_span", filter={"ids": [0], "span_label": ["PER"]}, shift_start=4)
    m.create_edit(P, R, "train", "delete_span", filter={"span_text": "paris"})
    ed = m.get_edited_dataframe(P, R, "train").set_index("id")
    assert ed.loc[1, "gold_spans"] == [{"start": 0, "end": 4, "label": "PER"}, {"start": 14, "end": 18, "label": "PER"}]
    assert ed.loc[0, "gold_spans"] == [{"start": 4, "end": 9, "label": "PER"}]  # "biden", paris deleted
    assert ed.loc[2, "gold_spans"] == [] and not ed.loc[2, "edited"]
    out = m.export_dataframe(P, R, "train", tmp_path / "edited.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2] and set(rows[0]) == {"id", "text", "gold_spans"}
    assert rows[0]["gold_spans"] == [{"start": 4, "end": 9, "label": "PER"}]
    m.undo_edit(P, R)  # the delete
    ed = m.get_edited_dataframe(P, R, "train").set_index("id")
    assert {"start": 18, "end": 23, "label": "LOC"} in ed.loc[0, "gold_spans"]


def test_span_edit_errors_name_the_argument(ner_run):
    m = dq.metrics
    with pytest.raises(LabelError, match=r"create_edit: `new_label` must be one of the run's entity types \['PER', 'LOC'\]"):
        m.create_edit(P, R, "train", "relabel_span", filter={"span_text": "rome"}, new_label="B-PER")
    with pytest.raises(ConfigurationError, match=r"create_edit: text_ner samples have spans, not a label"):
        m.create_edit(P, R, "train", "relabel", filter={"ids": [0]}, new_label="PER")
    with pytest.raises(ConfigurationError, match=r"`shift_start` must be an integer"):
        m.create_edit(P, R, "train", "shift_span", filter={"ids": [0]}, shift_start=1.5)
    with pytest.raises(ConfigurationError, match=r"needs a non-zero `shift_start` or `shift_end`"):
        m.create_edit(P, R, "train", "shift_span", filter={"ids": [0]})
    with pytest.raises(SplitError, match=r"selects no gold spans"):
        m.create_edit(P, R, "train", "delete_span", filter={"ids": [2]})
    assert len(m.get_edits(P, R)) == 0


def test_sample_similarity_is_refused_on_span_embeddings(ner_run):
    with pytest.raises(SchemaError, match=r"get_similar: similarity search by sample is not available for text_ner"):
        dq.metrics.get_similar(P, R, "train", ids=[0], k=2)
    with pytest.raises(SchemaError, match=r"filter `similar_to`: similarity search by sample"):
        dq.metrics.get_dataframe(P, R, "train", filter={"similar_to": {"ids": [0], "k": 2}})
    spans = dq.metrics.get_spans(P, R, "train", include_embs=True)
    assert len(spans) and spans["emb"].map(len).eq(8).all()


def test_get_dataframe_returns_spans_on_request(ner_run):
    by_span = dq.metrics.get_dataframe(P, R, "train", spans=True, filter={"span_label": ["LOC"]})
    # gold + pred paris, gold rome (pred rome is PER), the ghost "here" predicted LOC
    assert sorted(by_span["span_text"]) == ["here", "paris", "paris", "rome"]
    assert set(by_span["span_kind"]) == {"gold", "pred"}
    with pytest.raises(ConfigurationError, match=r"get_dataframe: `include_probs` applies to samples"):
        dq.metrics.get_dataframe(P, R, "train", spans=True, include_probs=True)


def test_span_fields_are_filter_keywords_and_attributes():
    F = dq.metrics.Filter
    f = F(span_text="paris", error_type=["wrong_tag"], dep_min=0.1)
    assert f.span_text == "paris" and f.error_type == ["wrong_tag"] and F().span_label is None
    assert f.to_dict() == {"dep_min": 0.1, "span_text": "paris", "error_type": ["wrong_tag"]}
    assert F.parse(f.to_dict(), fn="f") == f
    with pytest.raises(AttributeError, match="no field 'nope'"):
        F().nope
    with pytest.raises(ConfigurationError, match=r"f: unknown filter field\(s\) \['nope'\]"):
        F.parse(F(nope=1), fn="f")
    with pytest.raises(ConfigurationError, match=r"filter `has_drifted_span` must be True or False"):
        F.parse({"has_drifted_span": "yes"}, fn="f")


def test_ner_summary_under_a_filter_counts_and_confusion_is_of_spans(ner_run):
    m = dq.metrics
    whole = m.get_run_summary(P, R, "train")
    got = m.get_run_summary(P, R, "train", filter={"error_type": ["wrong_tag", "ghost_span"]})
    assert got["n_filtered"] == 2 and {k: v for k, v in got.items() if k != "n_filtered"} == whole


def test_sample_edits_on_ner_runs(ner_run):
    m = dq.metrics
    m.create_edit(P, R, "train", "delete", filter={"error_type": ["ghost_span"]})
    m.create_edit(P, R, "train", "select_for_label", filter={"span_text": "rome"})
    ed = m.get_edited_dataframe(P, R, "train").set_index("id")
    assert sorted(ed.index) == [0, 1] and ed.loc[1, "selected_for_label"] and not ed.loc[0, "selected_for_label"]
    with pytest.raises(ConfigurationError, match=r"`edit_action` must be one of \['relabel_span', .*'delete'"):
        m.create_edit(P, R, "train", "rename", filter={"ids": [0]})
