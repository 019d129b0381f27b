"""Edits (a filter plus an action, undoable, applied on export) against a pandas re-implementation,
and exports to CSV, Parquet and JSON lines read back and checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
from dataquality.exceptions import ConfigurationError, DataQualityError, LabelError, SchemaError, SplitError
from tests.test_filters import (
    EVIL_COL,
    NASTY_SOURCE,
    NASTY_TEXTS,
    NLI,
    PROJECT,
    QUOTED_COL,
    RUN,
    build_main_run,
    build_nli_run,
)

META = ["length", "source", "flagged"]
ORIGINAL = ["id", "text", "label", *META]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("edits") / "dqhome"
    logged = build_main_run(root)
    nli = build_nli_run(root)
    return root, logged, nli


@pytest.fixture
def store(built) -> Path:
    """The built store, with no edits before and after each test."""
    root = built[0]
    for run in (RUN, NLI):
        (root / PROJECT / run / "edits.parquet").unlink(missing_ok=True)
    yield root
    for run in (RUN, NLI):
        (root / PROJECT / run / "edits.parquet").unlink(missing_ok=True)


def gdf(store, split="train", inference_name="", run=RUN, **kw):
    return dq.metrics.get_dataframe(PROJECT, run, split, inference_name, root=store, **kw)


def edited(store, split="train", inference_name="", run=RUN, **kw):
    return dq.metrics.get_edited_dataframe(PROJECT, run, split, inference_name, root=store, **kw)


def edit(store, split="train", action="relabel", inference_name="", run=RUN, **kw):
    return dq.metrics.create_edit(PROJECT, run, split, action, inference_name, root=store, **kw)


def ids_of(store, filt, split="train", inference_name=""):
    return gdf(store, split, inference_name, filter=filt)["id"].tolist()


def reference_apply(df: pd.DataFrame, edits: list[dict]) -> pd.DataFrame:
    """Row by row, in order: what the active ``edits`` (dicts with action, ids, ...) make of ``df``."""
    import re

    rows = []
    for rec in df.to_dict("records"):
        rec = dict(rec, edited=False, selected_for_label=False)
        deleted = False
        for e in edits:
            if rec["id"] not in set(e["ids"]) or deleted:
                continue
            a = e["action"]
            if a == "delete":
                deleted = True
            elif a == "relabel":
                rec["gold"] = e["new_label"]
            elif a == "relabel_as_pred":
                rec["gold"] = rec["pred"]
            elif a == "update_text":
                rec["text"] = (re.sub(e["search_string"], e["text_replacement"], rec["text"]) if e.get("use_regex")
                               else rec["text"].replace(e["search_string"], e["text_replacement"]))
            if a == "select_for_label":
                rec["selected_for_label"] = True
            else:
                rec["edited"] = True
        if not deleted:
            if "is_misclassified" in rec:
                rec["is_misclassified"] = rec["gold"] is not None and rec["gold"] == rec["gold"] and rec["gold"] != rec["pred"]
            rows.append(rec)
    out = pd.DataFrame(rows, columns=[*df.columns, "edited", "selected_for_label"])
    return out.astype({c: df[c].dtype for c in df.columns if c not in ("gold", "text")})


def assert_edited_matches(store, edits, split="train", inference_name="", filt=None):
    base = gdf(store, split, inference_name, filter=filt)
    got = edited(store, split, inference_name, filter=filt)
    exp = reference_apply(base, edits)
    assert got["id"].tolist() == exp["id"].tolist()
    for c in exp.columns:
        assert got[c].tolist() == exp[c].tolist(), c
    return got


# --- each action ------------------------------------------------------------------------------------


def test_relabel(store):
    base = gdf(store)
    filt = {"gold": ["neutral"], "confidence_max": 0.6}
    want = ids_of(store, filt)
    assert 0 < len(want) < len(base)
    rec = edit(store, filter=filt, new_label="positive", note="fix")
    assert rec["edit_id"] == 1 and rec["action"] == "relabel" and rec["n_samples"] == len(want)
    assert json.loads(rec["ids"]) == want and json.loads(rec["filter"]) == filt
    got = assert_edited_matches(store, [dict(action="relabel", ids=want, new_label="positive")])
    g = got.set_index("id")
    assert (g.loc[want, "gold"] == "positive").all() and g.loc[want, "edited"].all()
    assert not g.drop(index=want)["edited"].any()
    assert (g.loc[want, "is_misclassified"] == (g.loc[want, "pred"] != "positive")).all()
    # the unedited data is untouched
    assert gdf(store)["gold"].tolist() == base["gold"].tolist()


def test_relabel_as_pred(store):
    filt = {"misclassified_only": True}
    want = ids_of(store, filt)
    assert want
    edit(store, action="relabel_as_pred", filter=filt)
    got = assert_edited_matches(store, [dict(action="relabel_as_pred", ids=want)])
    assert not got["is_misclassified"].any()
    assert (got["gold"] == got["pred"]).sum() == len(got)


def test_delete(store):
    filt = {"meta": {"source": ["web"]}, "dep_min": 0.1}
    want = ids_of(store, filt)
    assert want
    edit(store, action="delete", filter=filt)
    got = assert_edited_matches(store, [dict(action="delete", ids=want)])
    assert len(got) == len(gdf(store)) - len(want)
    assert not set(want) & set(got["id"])


@pytest.mark.parametrize("search,repl,regex", [
    ("Sample", "Example", False),
    (r"Sample (\d+) is", r"S#\1 was", True),
    ("(parens) [brackets]", "{ok}", False),  # metacharacters taken literally without use_regex
    ("' OR 1=1 --", "safe", False),
    (r"^(\w+)", r"<\1>", True),
])
def test_update_text(store, search, repl, regex):
    filt = {"text_regex": "Sample 1|OR 1=1|parens"}
    want = ids_of(store, filt)
    edit(store, action="update_text", filter=filt, search_string=search, text_replacement=repl, use_regex=regex)
    got = assert_edited_matches(store, [dict(action="update_text", ids=want, search_string=search,
                                             text_replacement=repl, use_regex=regex)])
    assert got.set_index("id").loc[want, "edited"].all()
    changed = got["text"] != gdf(store)["text"]
    assert changed.any() and set(got.loc[changed, "id"]) <= set(want)


def test_select_for_label(store):
    filt = {"likely_mislabeled": True}
    want = ids_of(store, filt)
    assert want
    edit(store, action="select_for_label", filter=filt)
    got = assert_edited_matches(store, [dict(action="select_for_label", ids=want)])
    assert got.loc[got["selected_for_label"], "id"].tolist() == want
    assert not got["edited"].any()
    assert got["gold"].tolist() == gdf(store)["gold"].tolist()


def test_edit_with_no_filter_selects_the_whole_split(store):
    rec = edit(store, action="select_for_label")
    assert rec["n_samples"] == len(gdf(store)) and json.loads(rec["filter"]) == {}
    assert edited(store)["selected_for_label"].all()


# --- order, undo, redo ------------------------------------------------------------------------------


def test_edits_apply_in_order(store):
    a = ids_of(store, {"gold": ["neutral"]})
    b = ids_of(store, {"cluster_id": [0]})
    c = ids_of(store, {"meta": {"flagged": True}})
    d = ids_of(store, {"text": "sample 1"})
    assert set(a) & set(b) and set(b) & set(c) and set(c) & set(d)
    plan = [
        dict(action="relabel", ids=a, new_label="positive", filter={"gold": ["neutral"]}),
        dict(action="relabel", ids=b, new_label="negative", filter={"cluster_id": [0]}),  # wins over the first
        dict(action="delete", ids=c, filter={"meta": {"flagged": True}}),
        dict(action="relabel_as_pred", ids=d, filter={"text": "sample 1"}),  # deleted rows stay deleted
        dict(action="update_text", ids=b, search_string="is", text_replacement="was", use_regex=False,
             filter={"cluster_id": [0]}),
        dict(action="select_for_label", ids=a, filter={"gold": ["neutral"]}),
    ]
    for p in plan:
        kw = {k: v for k, v in p.items() if k not in ("action", "ids")}
        rec = edit(store, action=p["action"], **kw)
        assert json.loads(rec["ids"]) == p["ids"]
    got = assert_edited_matches(store, plan)
    g = got.set_index("id")
    both = sorted((set(a) & set(b)) - set(c) - set(d))
    assert both and (g.loc[both, "gold"] == "negative").all()
    assert not set(c) & set(got["id"])
    assert dq.metrics.get_edits(PROJECT, RUN, root=store)["edit_id"].tolist() == [1, 2, 3, 4, 5, 6]


def test_edit_keeps_the_ids_it_selected(store):
    """An edit means the samples its filter selected when it was made."""
    neutral = ids_of(store, {"gold": ["neutral"]})
    edit(store, filter={"gold": ["neutral"]}, new_label="positive")
    rec = edit(store, action="select_for_label", filter={"gold": ["neutral"]})
    assert json.loads(rec["ids"]) == neutral  # selected on the logged labels, not the edited ones
    got = edited(store).set_index("id")
    assert got.loc[neutral, "selected_for_label"].all() and (got.loc[neutral, "gold"] == "positive").all()


def test_undo_latest_and_by_id_then_redo(store):
    a = ids_of(store, {"gold": ["neutral"]})
    b = ids_of(store, {"meta": {"source": ["app"]}})
    c = ids_of(store, {"cluster_id": [2]})
    e1 = edit(store, filter={"gold": ["neutral"]}, new_label="negative")
    e2 = edit(store, action="delete", filter={"meta": {"source": ["app"]}})
    e3 = edit(store, action="select_for_label", filter={"cluster_id": [2]})
    E1 = dict(action="relabel", ids=a, new_label="negative")
    E2 = dict(action="delete", ids=b)
    E3 = dict(action="select_for_label", ids=c)
    assert_edited_matches(store, [E1, E2, E3])

    undone = dq.metrics.undo_edit(PROJECT, RUN, root=store)  # the latest
    assert undone["edit_id"] == e3["edit_id"] and undone["undone"]
    assert_edited_matches(store, [E1, E2])

    undone = dq.metrics.undo_edit(PROJECT, RUN, e1["edit_id"], root=store)  # by id
    assert undone["edit_id"] == e1["edit_id"]
    got = assert_edited_matches(store, [E2])
    assert not (got["gold"] != gdf(store).set_index("id").loc[got["id"], "gold"].to_numpy()).any()

    edits = dq.metrics.get_edits(PROJECT, RUN, root=store)
    assert edits["undone"].tolist() == [True, False, True]
    assert dq.metrics.undo_edit(PROJECT, RUN, root=store)["edit_id"] == e2["edit_id"]  # latest active
    assert_edited_matches(store, [])

    redone = dq.metrics.redo_edit(PROJECT, RUN, e1["edit_id"], root=store)
    assert redone["edit_id"] == e1["edit_id"] and not redone["undone"]
    assert_edited_matches(store, [E1])
    dq.metrics.redo_edit(PROJECT, RUN, e3["edit_id"], root=store)
    assert_edited_matches(store, [E1, E3])

    # a new edit gets a fresh id, after undone ones too
    e4 = edit(store, action="delete", filter={"ids": [0]})
    assert e4["edit_id"] == 4
    assert_edited_matches(store, [E1, E3, dict(action="delete", ids=[0])])


def test_undo_and_redo_errors(store):
    with pytest.raises(ConfigurationError, match=r"dq.metrics.undo_edit: there is no edit to undo"):
        dq.metrics.undo_edit(PROJECT, RUN, root=store)
    e = edit(store, action="delete", filter={"ids": [1]})
    with pytest.raises(ConfigurationError, match=r"dq.metrics.undo_edit: no edit with `edit_id` 99"):
        dq.metrics.undo_edit(PROJECT, RUN, 99, root=store)
    dq.metrics.undo_edit(PROJECT, RUN, e["edit_id"], root=store)
    with pytest.raises(ConfigurationError, match=r"edit 1 is already undone"):
        dq.metrics.undo_edit(PROJECT, RUN, e["edit_id"], root=store)
    with pytest.raises(ConfigurationError, match=r"there is no edit to undo"):
        dq.metrics.undo_edit(PROJECT, RUN, root=store)
    with pytest.raises(ConfigurationError, match=r"dq.metrics.redo_edit: no edit with `edit_id` 7"):
        dq.metrics.redo_edit(PROJECT, RUN, 7, root=store)


# --- splits --------------------------------------------------------------------------------------------


def test_edits_on_inference_and_split_isolation(store):
    inf = gdf(store, "inference", "prod")
    assert inf["gold"].isna().all()
    want = ids_of(store, {"pred": ["positive"]}, "inference", "prod")
    rec = edit(store, "inference", inference_name="prod", filter={"pred": ["positive"]}, new_label="neutral")
    assert rec["split"] == "inference/prod"
    edit(store, "inference", "delete", inference_name="prod", filter={"ids": [5000, 5001]})
    got = assert_edited_matches(store, [dict(action="relabel", ids=want, new_label="neutral"),
                                        dict(action="delete", ids=[5000, 5001])], "inference", "prod")
    g = got.set_index("id")
    assert (g.loc[[i for i in want if i not in (5000, 5001)], "gold"] == "neutral").all()
    # other splits are untouched
    for split in ("train", "validation"):
        e = edited(store, split)
        assert not e["edited"].any() and len(e) == len(gdf(store, split))
    edit(store, "validation", "delete", filter={"ids": [1000]})
    assert 1000 not in edited(store, "validation")["id"].tolist()
    assert len(edited(store)) == len(gdf(store))


def test_edits_of_one_run_do_not_touch_another(store):
    edit(store, action="delete", filter={"ids": [0, 1, 2]})
    assert len(edited(store, run=NLI)) == len(gdf(store, run=NLI))
    assert dq.metrics.get_edits(PROJECT, NLI, root=store).empty


def test_edited_dataframe_with_filter(store):
    a = ids_of(store, {"gold": ["negative"]})
    edit(store, filter={"gold": ["negative"]}, new_label="positive")
    filt = {"meta": {"source": ["mail"]}}
    got = assert_edited_matches(store, [dict(action="relabel", ids=a, new_label="positive")], filt=filt)
    assert got["id"].tolist() == ids_of(store, filt)


# --- bad edits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(action="rename"), ConfigurationError, r"`edit_action` must be one of \['relabel', "),
    (dict(action=None), ConfigurationError, r"`edit_action` must be one of"),
    (dict(action="relabel"), LabelError, r"`new_label` must be one of the run's labels .*; got None"),
    (dict(action="relabel", new_label="POSITIVE"), LabelError, r"`new_label` must be one of the run's labels"),
    (dict(action="delete", new_label="positive"), ConfigurationError, r"`new_label` applies only to edit_action='relabel'"),
    (dict(action="update_text"), ConfigurationError, r"needs a non-empty `search_string`"),
    (dict(action="update_text", search_string=""), ConfigurationError, r"needs a non-empty `search_string`"),
    (dict(action="update_text", search_string="a"), ConfigurationError, r"needs a string `text_replacement`"),
    (dict(action="update_text", search_string="(", text_replacement="", use_regex=True), ConfigurationError,
     r"`search_string` is not a valid regular expression"),
    (dict(action="delete", filter={"ids": [-5]}), SplitError, r"the filter selects no samples of split 'training'"),
    (dict(action="delete", filter={"dep_min": "high"}), ConfigurationError, r"filter `dep_min` must be a number"),
    (dict(action="delete", filter={"nope": 1}), ConfigurationError, r"unknown filter field"),
    (dict(action="delete", filter={"meta": {"nope": 1}}), SchemaError, r"filter `meta` names column 'nope'"),
])
def test_bad_edit_raises_and_writes_nothing(store, kw, exc, msg):
    before = dq.metrics.get_edits(PROJECT, RUN, root=store)
    action = kw.pop("action")
    with pytest.raises(exc, match=msg) as info:
        edit(store, action=action, **kw)
    assert str(info.value).startswith("dq.metrics.create_edit: ")
    assert isinstance(info.value, (DataQualityError, ValueError))
    assert len(dq.metrics.get_edits(PROJECT, RUN, root=store)) == len(before)
    assert not (store / PROJECT / RUN / "edits.parquet").exists()


def test_edit_filter_on_a_column_inference_lacks(store):
    with pytest.raises(SchemaError, match=r"create_edit: filter `dep_min` needs column"):
        edit(store, "inference", "delete", inference_name="prod", filter={"dep_min": 0.1})


# --- export ------------------------------------------------------------------------------------------


def read_back(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    if fmt == "parquet":
        return pd.read_parquet(path)
    with open(path, encoding="utf-8") as fh:
        return pd.DataFrame([json.loads(line) for line in fh if line.strip()])


def expected_export(df: pd.DataFrame, meta=META, label=True) -> pd.DataFrame:
    cols = ["id", "text"] + (["text_pair"] if "text_pair" in df.columns else [])
    out = df[cols].copy()
    if label:
        out["label"] = df["gold"]
    for m in meta:
        out[m] = df[m]
    return out.reset_index(drop=True)


def assert_same_table(got: pd.DataFrame, exp: pd.DataFrame):
    assert got.columns.tolist() == exp.columns.tolist()
    assert len(got) == len(exp)
    for c in exp.columns:
        g, e = got[c].tolist(), exp[c].tolist()
        assert [None if x is None or x != x else x for x in g] == [None if x is None or x != x else x for x in e], c


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_edited_round_trip(store, tmp_path, fmt):
    a = ids_of(store, {"gold": ["neutral"]})
    edit(store, filter={"gold": ["neutral"]}, new_label="negative")
    edit(store, action="delete", filter={"ids": [2, 3]})
    edit(store, action="update_text", filter={"text": "sample"}, search_string="Sample", text_replacement="Ex")
    path = dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / f"out.{fmt}", root=store)
    assert path == tmp_path / f"out.{fmt}" and path.is_file()
    assert not list(tmp_path.glob(".tmp-*"))
    got = read_back(path, fmt)
    assert got.columns.tolist() == ORIGINAL
    exp = expected_export(edited(store))
    assert_same_table(got, exp)
    assert set(got.loc[got["id"].isin(a), "label"]) == {"negative"}
    assert {2, 3}.isdisjoint(got["id"])
    for t in NASTY_TEXTS:  # texts full of quotes, separators and backslashes survive
        if t in gdf(store)["text"].tolist():
            assert t in got["text"].tolist()
    assert NASTY_SOURCE in got["source"].tolist()
    assert got["flagged"].map(bool).tolist() == exp["flagged"].tolist()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_filtered_unedited(store, tmp_path, fmt):
    edit(store, action="delete", filter={"gold": ["positive"]})
    filt = {"gold": ["positive", "neutral"], "meta": {"flagged": False}}
    path = dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / "x", format=fmt, filter=filt,
                                       edited=False, root=store)
    got = read_back(path, fmt)
    exp = expected_export(gdf(store, filter=filt))
    assert (exp["label"] == "positive").any()  # edited=False keeps the deleted ones
    assert_same_table(got, exp)


def test_export_edited_with_filter(store, tmp_path):
    edit(store, action="delete", filter={"gold": ["positive"]})
    filt = {"gold": ["positive", "neutral"]}
    got = read_back(dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / "x.parquet", filter=filt,
                                                root=store), "parquet")
    assert set(got["label"]) == {"neutral"}
    assert_same_table(got, expected_export(edited(store, filter=filt)))


def test_export_include_signals_keeps_every_column(store, tmp_path):
    edit(store, action="select_for_label", filter={"ids": [4, 5]})
    path = dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / "all.parquet", include_signals=True,
                                       root=store)
    got = pd.read_parquet(path)
    exp = edited(store)
    assert got.columns.tolist() == exp.columns.tolist()
    assert {"data_error_potential", "cluster_id", "gold", "pred", "edited", "selected_for_label"} <= set(got.columns)
    assert got.loc[got["selected_for_label"], "id"].tolist() == [4, 5]
    np.testing.assert_allclose(got["data_error_potential"], exp["data_error_potential"])


def test_export_similar_to_filter_drops_similarity(store, tmp_path):
    p = dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / "s.csv", filter={"similar_to": {"ids": [3], "k": 5}},
                                    root=store)
    got = read_back(p, "csv")
    assert got.columns.tolist() == ORIGINAL and len(got) == 6 and 3 in got["id"].tolist()


def test_export_inference(store, tmp_path):
    p = dq.metrics.export_dataframe(PROJECT, RUN, "inference", tmp_path / "inf.parquet", inference_name="prod", root=store)
    got = pd.read_parquet(p)
    assert got.columns.tolist() == ["id", "text", *META]  # no labels logged, none exported
    assert_same_table(got, expected_export(gdf(store, "inference", "prod"), label=False))
    # once relabelled, the labels are exported
    edit(store, "inference", inference_name="prod", filter={"ids": [5003, 5004]}, new_label="positive")
    got = pd.read_parquet(dq.metrics.export_dataframe(PROJECT, RUN, "inference", tmp_path / "inf2.parquet",
                                                      inference_name="prod", root=store))
    assert got.columns.tolist() == ["id", "text", "label", *META]
    assert got.set_index("id")["label"].dropna().to_dict() == {5003: "positive", 5004: "positive"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_nli_with_quoted_meta_columns(store, tmp_path, built, fmt):
    _, _, nli = built
    edit(store, run=NLI, action="update_text", filter={"text": "cat"}, search_string="Premise", text_replacement='P"re')
    p = dq.metrics.export_dataframe(PROJECT, NLI, "train", tmp_path / f"nli.{fmt}", root=store)
    got = read_back(p, fmt)
    assert got.columns.tolist() == ["id", "text", "text_pair", "label", QUOTED_COL, EVIL_COL]
    exp = expected_export(edited(store, run=NLI), meta=[QUOTED_COL, EVIL_COL])
    assert_same_table(got, exp)
    assert got["text_pair"].tolist() == nli["text_pair"].tolist()
    assert got[QUOTED_COL].tolist() == nli[QUOTED_COL].tolist()


@pytest.mark.parametrize("path,fmt", [("out.xlsx", None), ("out", None), ("out.csv", "excel")])
def test_export_bad_format(store, tmp_path, path, fmt):
    with pytest.raises(ConfigurationError, match=r"dq.metrics.export_dataframe: export format must be 'csv', "
                                                 r"'parquet' or 'jsonl'") as info:
        dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / path, format=fmt, root=store)
    assert "format" in str(info.value)
    assert not any(tmp_path.iterdir())


def test_export_bad_filter_and_split(store, tmp_path):
    with pytest.raises(ConfigurationError, match=r"export_dataframe: filter `ids` must be a list"):
        dq.metrics.export_dataframe(PROJECT, RUN, "train", tmp_path / "a.csv", filter={"ids": 3}, root=store)
    with pytest.raises(SplitError, match=r"export_dataframe: split 'inference' needs `inference_name`"):
        dq.metrics.export_dataframe(PROJECT, RUN, "inference", tmp_path / "a.csv", root=store)
    assert not any(tmp_path.iterdir())


def test_edited_dataframe_errors_name_it(store):
    with pytest.raises(ConfigurationError, match=r"dq.metrics.get_edited_dataframe: filter `ids` must be a list"):
        edited(store, filter={"ids": 3})
