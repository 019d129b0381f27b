"""The console API (dataquality.server) on real finished runs, through FastAPI's TestClient and a
real uvicorn server: every endpoint, keyset paging, filters in the URL, the Arrow map payload,
token enforcement, exports, edits with undo/redo, and typed errors as 4xx responses.

Expected values come from ``dq.metrics`` / pandas on the same store, never from the server's own
query code."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

import dataquality as dq  # noqa: E402
from dataquality.exceptions import RunStateError  # noqa: E402
from dataquality.server import create_app  # noqa: E402
from dataquality.server import runner  # noqa: E402
from tests.test_filters import (  # noqa: E402
    EVIL_COL,
    LABELS,
    NASTY_SOURCE,
    NLI,
    PROJECT,
    QUOTED_COL,
    RUN,
    _NoCurrentRun,
    build_main_run,
    build_nli_run,
)

NER_RUN = "ner"
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BASE = f"/api/runs/{PROJECT}/{RUN}/splits"


def build_ner_run(root: Path) -> None:
    """A small BIO NER run: whitespace tokens, predicted tags equal to gold except for a few
    samples (a wrong tag, a missed span, a ghost span)."""
    rng = np.random.default_rng(11)
    rows, tags = [], []
    for i in range(24):
        words = [f"w{i}x{j}" for j in range(6)]
        text = " ".join(words)
        offs = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        gold_tags = ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]
        pred = list(gold_tags)
        if i % 6 == 1:
            pred[3] = "B-PER"  # wrong_tag
        elif i % 6 == 2:
            pred[3] = "O"  # missed_label
        elif i % 6 == 3:
            pred[5] = "B-LOC"  # ghost_span
        rows.append({"id": i, "text": text, "text_token_indices": offs,
                     "gold_spans": [{"start": offs[0][0], "end": offs[1][1], "label": "PER"},
                                    {"start": offs[3][0], "end": offs[3][1], "label": "LOC"}]})
        tags.append(pred)
    with _NoCurrentRun():
        dq.init("text_ner", project_name=PROJECT, run_name=NER_RUN, root=root)
        dq.set_labels_for_run(NER_LABELS)
        dq.set_tagging_schema("BIO")
        dq.log_dataset(pd.DataFrame(rows), split="training")
        logits = []
        for t in tags:
            x = rng.normal(size=(len(t), len(NER_LABELS))).astype(np.float32) * 0.3
            x[np.arange(len(t)), [NER_LABELS.index(s) for s in t]] += 4.0
            logits.append(x)
        embs = [rng.normal(size=(6, 8)).astype(np.float32) for _ in rows]
        dq.log_model_outputs(ids=[r["id"] for r in rows], embs=embs, logits=logits, split="training", epoch=0)
        dq.finish(verbose=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("server") / "dqhome"
    logged = build_main_run(root)
    build_nli_run(root)
    build_ner_run(root)
    return root, logged


@pytest.fixture
def store(built) -> Path:
    """The built store with no edits before and after each test."""
    root = built[0]
    for run in (RUN, NLI, NER_RUN):
        (root / PROJECT / run / "edits.parquet").unlink(missing_ok=True)
    yield root
    for run in (RUN, NLI, NER_RUN):
        (root / PROJECT / run / "edits.parquet").unlink(missing_ok=True)


@pytest.fixture
def client(store) -> TestClient:
    return TestClient(create_app(store), base_url="http://127.0.0.1:8765")


def F(**kw) -> str:
    return json.dumps(kw)


def gdf(store, split="train", inference_name="", run=RUN, **kw) -> pd.DataFrame:
    df = dq.metrics.get_dataframe(PROJECT, run, split, inference_name, root=store, **kw)
    return df


def samples_file(store, key="training", run=RUN) -> pd.DataFrame:
    df = pq.read_table(store / PROJECT / run / "results" / key / "samples.parquet").to_pandas()
    df["_row"] = np.arange(len(df))
    return df


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def all_pages(client, url, **params) -> tuple[list[dict], int]:
    rows, cursor, pages = [], None, 0
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        body = ok(client.get(url, params=p))
        rows += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        assert len(body["rows"]) <= params.get("limit", 50)
        if cursor is None:
            return rows, pages
        assert pages < 1000


# -- projects, runs, docs ----------------------------------------------------------------------------


def test_projects_runs_and_run_detail(client):
    projects = ok(client.get("/api/projects"))
    assert projects == [{"project_name": PROJECT, "n_runs": 4, "runs": sorted(["main", NER_RUN, NLI, "nosig"])}]
    runs = ok(client.get("/api/runs", params={"project": PROJECT}))
    assert {r["run_name"] for r in runs} == {"main", NER_RUN, NLI, "nosig"}
    assert ok(client.get("/api/runs", params={"project": "other"})) == []
    run = ok(client.get(f"/api/runs/{PROJECT}/{RUN}"))
    assert run["task_type"] == "text_classification" and run["labels"] == LABELS
    keys = {s["key"]: s for s in run["splits"]}
    assert set(keys) == {"training", "validation", "inference/prod"}
    assert keys["training"]["n_samples"] == 150 and keys["inference/prod"]["inference_name"] == "prod"
    cols = {c["name"]: c for c in keys["training"]["columns"]}
    assert cols["data_error_potential"]["sortable"] and cols["source"]["meta"] and not cols["gold"]["meta"]
    assert keys["training"]["has_map"] and keys["training"]["has_embeddings"] and not keys["training"]["has_spans"]
    assert keys["training"]["tables"] == []
    ner = ok(client.get(f"/api/runs/{PROJECT}/{NER_RUN}"))
    assert ner["tagging_schema"] == "BIO" and ner["splits"][0]["has_spans"]
    assert ner["splits"][0]["tables"] == ["spans"]  # the task's result tables, not a file sniffed
    cols = {c["name"]: c for c in ner["splits"][0]["columns"]}
    assert not cols["gold_spans"]["sortable"]
    assert ok(client.get("/api/health"))["status"] == "ok"


def test_openapi_documents_every_route_and_docs_page(client):
    spec = ok(client.get("/api/openapi.json"))
    paths = set(spec["paths"])
    split = "/api/runs/{project}/{run}/splits/{split}"
    for p in ("/summary", "/samples", "/count", "/confusion", "/ids", "/map", "/similar", "/spans", "/metrics",
              "/histogram", "/rows", "/export", "/edits"):
        assert split + p in paths, p
    for p in ("/api/projects", "/api/runs", "/api/runs/{project}/{run}", "/api/runs/{project}/{run}/edits",
              "/api/runs/{project}/{run}/edits/undo", "/api/runs/{project}/{run}/edits/{edit_id}/redo"):
        assert p in paths, p
    assert "filter" in {q["name"] for q in spec["paths"][split + "/samples"]["get"]["parameters"]}
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    # the docs page loads Swagger UI from the server itself, not from a CDN
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", docs.text), docs.text
    for asset in re.findall(r"(/api/docs-assets/[\w.-]+)", docs.text):
        assert client.get(asset).status_code == 200, asset
    assert "/api/docs-assets/swagger-ui-bundle.js" in docs.text
    home = client.get("/")
    # the built single-page app (the package build makes it; see hatch_build.py)
    assert home.status_code == 200 and '<div id="app">' in home.text and "/assets/" in home.text
    page = client.get("/runs/filt/main?split=training&view=map")  # client-side routes get the page
    assert page.status_code == 200 and page.text == home.text
    asset = re.search(r'src="(/assets/[^"]+\.js)"', home.text).group(1)
    js = client.get(asset)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/assets/../../../app.py").status_code in (200, 404) and "FastAPI" not in client.get("/assets/../../../app.py").text
    assert client.get("/api/nope").status_code == 404


# -- summary and charts ------------------------------------------------------------------------------


def test_summary_training_matches_dq_metrics(client, store):
    s = ok(client.get(f"{BASE}/training/summary"))
    df = gdf(store)
    cm = pd.crosstab(pd.Categorical(df["gold"], LABELS), pd.Categorical(df["pred"], LABELS), dropna=False)
    assert s["confusion_matrix"] == cm.to_numpy().tolist()
    assert s["accuracy"] == pytest.approx((df["gold"] == df["pred"]).mean())
    assert set(s["per_class"]) == set(LABELS) and s["labels"] == LABELS and s["key"] == "training"
    assert s["alerts"] == dq.metrics.get_alerts(PROJECT, RUN, "train", root=store)
    assert {c["cluster_id"] for c in s["clusters"]} == set(df["cluster_id"].unique()) - {-1}
    assert "easy_threshold" in s["data_error_potential"]
    # with a filter the metrics are those of the filtered rows
    f = F(meta={"source": ["web"]})
    s2 = ok(client.get(f"{BASE}/training/summary", params={"filter": f}))
    sub = df[df["source"] == "web"]
    assert s2["n_samples"] == len(sub) and s2["accuracy"] == pytest.approx((sub["gold"] == sub["pred"]).mean())
    # the split's alerts and clusters stay listed, marked as of the whole split
    assert s2["split_wide"] == ["alerts", "clusters"] and s2["alerts"] == s["alerts"] and s2["clusters"] == s["clusters"]
    assert "split_wide" not in s


def test_summary_inference_has_drift(client):
    s = ok(client.get(f"{BASE}/inference/summary", params={"inference_name": "prod"}))
    assert s["key"] == "inference/prod" and "drift" in s and "class_shift" in s["drift"]
    assert "pred_distribution" in s


@pytest.mark.parametrize("filt", [
    {},
    {"gold": ["negative"]},
    {"dep_min": 0.3},
    {"misclassified_only": True},
    {"meta": {"source": [NASTY_SOURCE, "web"]}, "text": "sample"},
    {"meta": {"length": {"min": 10, "max": 30}}, "labels": ["positive"]},
    {"text": "' OR 1=1 --"},
    {"lasso": {"x": [-100, 100, 100, -100], "y": [-100, -100, 0, 0]}},
])
def test_count_confusion_and_ids_follow_the_filter(client, store, filt):
    df = samples_file(store)
    want = gdf(store, filter=filt or None)
    params = {"filter": json.dumps(filt)}
    c = ok(client.get(f"{BASE}/training/count", params=params))
    assert c == {"count": len(want), "total": 150}
    conf = ok(client.get(f"{BASE}/training/confusion", params=params))
    cm = pd.crosstab(pd.Categorical(want["gold"], LABELS), pd.Categorical(want["pred"], LABELS), dropna=False)
    assert conf["labels"] == LABELS and conf["matrix"] == cm.to_numpy().tolist() and conf["level"] == "sample"
    js = ok(client.get(f"{BASE}/training/ids", params={**params, "format": "json"}))
    rows = df.loc[df["id"].isin(want["id"]), "_row"].tolist()
    assert js["count"] == len(want) and js["rows"] == rows and sorted(js["ids"]) == sorted(want["id"].tolist())
    r = client.get(f"{BASE}/training/ids", params=params)
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    t = pa.ipc.open_stream(r.content).read_all()
    assert t.column("row").type == pa.uint32() and t.column("row").to_pylist() == rows


def test_metrics_histogram_and_rows(client, store):
    m = ok(client.get(f"{BASE}/training/metrics", params={"category": "source"}))
    want = dq.metrics.get_metrics(PROJECT, RUN, "train", category="source", root=store)
    assert [r["source"] for r in m["rows"]] == want["source"].tolist()
    assert [r["count"] for r in m["rows"]] == want["count"].tolist()
    g = ok(client.get(f"{BASE}/training/metrics", params={"category": "gold", "filter": F(dep_min=0.2)}))
    assert [r["gold"] for r in g["rows"]] == LABELS
    df = samples_file(store)
    h = ok(client.get(f"{BASE}/training/histogram", params={"column": "confidence", "bins": 7}))
    edges = np.asarray(h["edges"])
    assert len(h["counts"]) == 7 and h["n"] == 150
    assert edges[0] == pytest.approx(df["confidence"].min()) and edges[-1] == pytest.approx(df["confidence"].max())
    want_counts, _ = np.histogram(df["confidence"], bins=edges)
    assert h["counts"] == want_counts.tolist()
    hf = ok(client.get(f"{BASE}/training/histogram", params={"column": "confidence", "bins": 7, "filter": F(gold=["neutral"])}))
    assert hf["edges"] == h["edges"] and hf["n"] == int((df["gold"] == "neutral").sum())
    # a fixed range shared by two splits: values outside fall in the end bins
    hr = ok(client.get(f"{BASE}/training/histogram", params={"column": "confidence", "bins": 4, "lo": 0.5, "hi": 0.9}))
    assert hr["edges"] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9]) and hr["n"] == 150
    clipped = df["confidence"].clip(0.5, 0.9 - 1e-9)
    assert hr["counts"] == np.histogram(clipped, bins=np.asarray(hr["edges"]))[0].tolist()
    for bad in ({"lo": 0.9, "hi": 0.5}, {"lo": 0.5, "hi": 0.5}, {"lo": "x"}):
        r = client.get(f"{BASE}/training/histogram", params={"column": "confidence", **bad})
        assert r.status_code in (400, 422), (bad, r.text)
    hc = ok(client.get(f"{BASE}/training/histogram", params={"column": "pred"}))
    assert dict(zip(hc["values"], hc["counts"])) == df["pred"].value_counts().to_dict()
    rows = ok(client.get(f"{BASE}/training/rows", params={"rows": "[5, 0, 149]", "columns": "id,text,gold"}))["rows"]
    assert [r["id"] for r in rows] == df["id"].iloc[[5, 0, 149]].tolist() and [r["_row"] for r in rows] == [5, 0, 149]
    assert set(rows[0]) == {"id", "text", "gold", "_row"}


# -- the sample table: keyset paging -----------------------------------------------------------------


@pytest.mark.parametrize("sort,order,filt", [
    ("data_error_potential", "desc", {}),
    ("confidence", "asc", {"gold": ["negative", "positive"]}),
    ("source", "asc", {}),  # a string meta column with many ties
    ("flagged", "desc", {}),  # booleans: two values, all ties
    ("id", "desc", {"text": "sample"}),
])
def test_keyset_paging_returns_every_row_once_in_order(client, store, sort, order, filt):
    df = samples_file(store)
    want = df[df["id"].isin(gdf(store, filter=filt or None)["id"])]
    asc = order == "asc"
    want = want.sort_values([sort, "_row"], ascending=[asc, asc], kind="stable")
    rows, pages = all_pages(client, f"{BASE}/training/samples", sort=sort, order=order, limit=7,
                            filter=json.dumps(filt))
    assert [r["_row"] for r in rows] == want["_row"].tolist()
    assert len({r["id"] for r in rows}) == len(rows) == len(want)
    assert pages == max(1, -(-len(want) // 7))  # no empty last page: a page knows whether more follow
    assert "text" in rows[0] and "gold" in rows[0]


def test_default_sort_is_dep_descending_and_columns_select(client, store):
    df = samples_file(store)
    body = ok(client.get(f"{BASE}/training/samples", params={"limit": 5, "columns": "text,data_error_potential"}))
    assert body["sort"] == "data_error_potential" and body["descending"] is True
    assert [r["id"] for r in body["rows"]] == df.sort_values(["data_error_potential", "_row"], ascending=False)["id"].head(5).tolist()
    assert set(body["rows"][0]) == {"id", "text", "data_error_potential", "_row"}


def test_keyset_paging_with_nulls_and_inference(client, store):
    df = samples_file(store, "inference/prod")
    # inference has no gold: every key is NULL, the order falls back to the row number
    rows, _ = all_pages(client, f"{BASE}/inference/samples", inference_name="prod", sort="gold", order="asc", limit=9)
    assert [r["_row"] for r in rows] == df["_row"].tolist()
    rows, _ = all_pages(client, f"{BASE}/inference/samples", inference_name="prod", sort="drift_score", limit=9)
    want = df.sort_values(["drift_score", "_row"], ascending=False)
    assert [r["_row"] for r in rows] == want["_row"].tolist()


@pytest.mark.parametrize("run,params", [
    (RUN, {"limit": 11}),
    (RUN, {"limit": 11, "sort": "source", "order": "asc", "filter": F(meta={"flagged": True})}),
    (RUN, {"limit": 4, "sort": "similarity", "filter": F(similar_to={"ids": [3], "k": 5})}),
    (NER_RUN, {"limit": 5, "sort": "n_errors"}),
])
def test_pages_from_memory_equal_pages_read_through_duckdb(client, store, run, params):
    """Rows of a page come from the split held in memory, or (past the cache budget) from DuckDB."""
    cold = TestClient(create_app(store, cache_bytes=0), base_url="http://127.0.0.1")
    url = f"/api/runs/{PROJECT}/{run}/splits/training/samples"
    a, b = all_pages(client, url, **params), all_pages(cold, url, **params)
    assert a == b and a[0]
    r = ok(cold.get(f"/api/runs/{PROJECT}/{run}/splits/training/rows", params={"rows": "[3, 1]"}))["rows"]
    assert [x["_row"] for x in r] == [3, 1] and r == ok(client.get(f"/api/runs/{PROJECT}/{run}/splits/training/rows",
                                                                     params={"rows": "[3, 1]"}))["rows"]


def test_similar_to_filter_adds_similarity_and_sorts_by_it(client, store):
    f = F(similar_to={"ids": [3], "k": 5})
    body = ok(client.get(f"{BASE}/training/samples", params={"filter": f, "sort": "similarity"}))
    want = gdf(store, filter={"similar_to": {"ids": [3], "k": 5}})
    assert [r["id"] for r in body["rows"]] == want["id"].tolist()
    assert body["rows"][0]["id"] == 3 and body["rows"][0]["similarity"] == pytest.approx(1.0)
    assert ok(client.get(f"{BASE}/training/count", params={"filter": f}))["count"] == 6


# -- map, similar, spans --------------------------------------------------------------------------------


def test_map_is_an_arrow_stream_aligned_with_rows(client, store):
    r = client.get(f"{BASE}/training/map", params={"include_ids": True})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    t = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    df = samples_file(store)
    assert t.num_rows == len(df)
    assert json.loads(t.schema.metadata[b"labels"]) == LABELS
    assert t.schema.field("x").type == pa.float32() and t.schema.field("gold").type == pa.int16()
    np.testing.assert_array_equal(t.column("x").to_numpy(), df["x"].to_numpy(np.float32))
    np.testing.assert_array_equal(t.column("y").to_numpy(), df["y"].to_numpy(np.float32))
    assert [LABELS[i] for i in t.column("gold").to_numpy()] == df["gold"].tolist()
    assert [LABELS[i] for i in t.column("pred").to_numpy()] == df["pred"].tolist()
    np.testing.assert_array_equal(t.column("dep").to_numpy(), df["data_error_potential"].to_numpy(np.float32))
    assert t.column("cluster").to_pylist() == df["cluster_id"].tolist()
    assert t.column("id").to_pylist() == df["id"].tolist()
    assert client.get(f"{BASE}/training/map").content == client.get(f"{BASE}/training/map").content  # cached
    inf = pa.ipc.open_stream(client.get(f"{BASE}/inference/map", params={"inference_name": "prod"}).content).read_all()
    assert set(inf.column("gold").to_pylist()) == {-1} and "id" not in inf.column_names


def test_similar_by_ids_and_by_row(client, store):
    want = dq.metrics.get_similar(PROJECT, RUN, "train", ids=[7], k=4, root=store)
    body = ok(client.get(f"{BASE}/training/similar", params={"ids": "[7]", "k": 4}))
    assert [r["id"] for r in body["rows"]] == want["id"].tolist()
    assert [r["similarity"] for r in body["rows"]] == pytest.approx(want["similarity"].tolist())
    row = int(samples_file(store).index[samples_file(store)["id"] == 7][0])
    by_row = ok(client.get(f"{BASE}/training/similar", params={"row": row, "k": 4}))
    assert by_row["anchors"] == [7] and by_row["rows"] == body["rows"]
    across = ok(client.get(f"{BASE}/training/similar", params={"ids": "[7]", "k": 6, "splits": "training,inference/prod"}))
    assert {r["split"] for r in across["rows"]} <= {"training", "inference/prod"}
    assert len(across["rows"]) == 7


def test_ner_spans_confusion_samples_and_summary(client, store):
    base = f"/api/runs/{PROJECT}/{NER_RUN}/splits/training"
    spans = ok(client.get(base + "/spans", params={"filter": F(error_type=["wrong_tag"])}))
    want = dq.metrics.get_spans(PROJECT, NER_RUN, "training", filter={"error_type": ["wrong_tag"]}, root=store)
    assert spans["n"] == len(want) > 0 and {r["error_type"] for r in spans["rows"]} == {"wrong_tag"}
    allspans = dq.metrics.get_spans(PROJECT, NER_RUN, "training", root=store)
    conf = ok(client.get(base + "/confusion"))
    assert conf["level"] == "span" and conf["labels"] == ["PER", "LOC", "O"]
    gold = allspans[allspans["span_kind"] == "gold"]
    ghosts = allspans[(allspans["span_kind"] == "pred") & (allspans["error_type"] == "ghost_span")]
    m = np.zeros((3, 3), int)
    pos = {"PER": 0, "LOC": 1, "O": 2}
    for g, p in zip(gold["label"], gold["matched_label"].fillna("O")):
        m[pos[g], pos[p]] += 1
    for p in ghosts["label"]:
        m[2, pos[p]] += 1
    assert conf["matrix"] == m.tolist() and m[1, 0] == 4 and m[1, 2] == 4 and m[2, 1] == 4
    page = ok(client.get(base + "/samples", params={"limit": 30}))
    assert len(page["rows"]) == 24 and isinstance(page["rows"][0]["gold_spans"], list)
    assert page["rows"][0]["gold_spans"][0]["label"] in ("PER", "LOC")
    assert ok(client.get(base + "/count", params={"filter": F(span_label=["LOC"], error_type=["missed_label"])}))["count"] == 4
    s = ok(client.get(base + "/summary", params={"filter": F(error_type=["ghost_span"])}))
    assert "entity_metrics" in s and s["n_filtered"] == 4
    r = client.get(base + "/map")
    assert r.status_code == 400 and "no map" in r.json()["detail"]


# -- edits and export -----------------------------------------------------------------------------------


def _export(client, fmt, **params) -> pd.DataFrame:
    r = client.get(f"{BASE}/training/export", params={"format": fmt, **params})
    assert r.status_code == 200, r.text
    assert f'filename="{PROJECT}-{RUN}-training.{fmt}"' in r.headers["content-disposition"]
    buf = io.BytesIO(r.content)
    if fmt == "csv":
        return pd.read_csv(buf, keep_default_na=False)
    if fmt == "parquet":
        return pd.read_parquet(buf)
    return pd.read_json(buf, lines=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_filtered_in_the_logged_schema(client, store, built, fmt):
    tr = built[1]["train"]
    out = _export(client, fmt, filter=F(gold=["neutral"]))
    want = tr[tr["label"] == "neutral"].sort_values("id")
    assert list(out.columns) == ["id", "text", "label", "length", "source", "flagged"]
    assert out.sort_values("id")["id"].tolist() == want["id"].tolist()
    assert out.sort_values("id")["text"].tolist() == want["text"].tolist()  # SQL/CSV metacharacters survive
    full = _export(client, fmt, include_signals="true")
    assert len(full) == 150 and "data_error_potential" in full.columns


def test_edit_undo_redo_round_trip_and_edited_export(client, store):
    url = f"/api/runs/{PROJECT}/{RUN}"
    target = gdf(store, filter={"gold": ["negative"], "pred": ["positive"]})
    assert len(target)
    e = ok(client.post(f"{BASE}/training/edits", json={"edit_action": "relabel", "new_label": "positive",
                                                       "filter": {"gold": ["negative"], "pred": ["positive"]}}))
    assert e["action"] == "relabel" and e["n_samples"] == len(target) and e["filter"] == {"gold": ["negative"], "pred": ["positive"]}
    d = ok(client.post(f"{BASE}/training/edits", json={"edit_action": "delete", "filter": {"ids": [0, 1]}}))
    edits = ok(client.get(url + "/edits"))["edits"]
    assert [x["edit_id"] for x in edits] == [e["edit_id"], d["edit_id"]] and not any(x["undone"] for x in edits)
    assert "ids" not in edits[0] and ok(client.get(url + "/edits", params={"include_ids": True}))["edits"][1]["ids"] == [0, 1]
    out = _export(client, "parquet").set_index("id")
    assert 0 not in out.index and 1 not in out.index and len(out) == 148
    for i in set(target["id"]) - {0, 1}:
        assert out.loc[i, "label"] == "positive"
    u = ok(client.post(url + "/edits/undo", json={}))  # the latest: the delete
    assert u["edit_id"] == d["edit_id"] and u["undone"] is True
    assert len(_export(client, "csv")) == 150
    ok(client.post(url + "/edits/undo", json={"edit_id": e["edit_id"]}))
    orig = _export(client, "jsonl").set_index("id")
    assert (orig.loc[target["id"], "label"] == "negative").all()
    unedited = _export(client, "csv", edited="false")
    assert len(unedited) == 150
    r = ok(client.post(url + f"/edits/{e['edit_id']}/redo", json={}))
    assert r["undone"] is False
    assert (_export(client, "parquet").set_index("id").loc[target["id"], "label"] == "positive").all()


def test_ner_span_edit(client, store):
    base = f"/api/runs/{PROJECT}/{NER_RUN}/splits/training"
    e = ok(client.post(base + "/edits", json={"edit_action": "relabel_span", "new_label": "PER",
                                              "filter": {"error_type": ["wrong_tag"]}}))
    assert e["n_samples"] == 4
    r = client.get(base + "/export", params={"format": "jsonl"})
    rows = [json.loads(x) for x in r.text.splitlines()]
    wrong = {i for i in range(24) if i % 6 == 1}
    for row in rows:
        labels = [s["label"] for s in row["gold_spans"]]
        assert labels == (["PER", "PER"] if row["id"] in wrong else ["PER", "LOC"])


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path,params,status,pattern", [
    (f"{BASE}/training/count", {"filter": "{bad json"}, 400, r"`filter` must be a JSON object"),
    (f"{BASE}/training/count", {"filter": "[1, 2]"}, 400, r"`filter` must be a JSON object"),
    (f"{BASE}/training/count", {"filter": F(nope=1)}, 400, r"unknown filter field\(s\) \['nope'\]"),
    (f"{BASE}/training/count", {"filter": F(dep_min="high")}, 400, r"`dep_min` must be a number"),
    (f"{BASE}/training/count", {"filter": F(text_regex="(?=x)")}, 400, r"not a valid RE2"),
    (f"{BASE}/training/count", {"filter": F(meta={"nope": 1})}, 400, r"column 'nope'"),
    (f"{BASE}/training/count", {"filter": F(meta={"length": "ten"})}, 400, r"do not fit column 'length'"),
    (f"{BASE}/training/samples", {"sort": "nope"}, 400, r"`sort` must be a scalar column"),
    (f"{BASE}/training/samples", {"sort": "x; DROP TABLE samples"}, 400, r"`sort` must be a scalar column"),
    (f"{BASE}/training/samples", {"cursor": "garbage!"}, 400, r"`cursor` must be the `next_cursor`"),
    (f"{BASE}/training/samples", {"limit": 0}, 422, r"limit"),
    (f"{BASE}/training/histogram", {"column": "nope"}, 400, r"`column` must be"),
    (f"{BASE}/training/metrics", {"category": "nope"}, 400, r"`category` must be"),
    (f"{BASE}/training/similar", {}, 400, r"exactly one of `ids`"),
    (f"{BASE}/training/similar", {"ids": "[999999]"}, 400, r"not in split"),
    (f"{BASE}/training/rows", {"rows": "[1000]"}, 404, r"outside this split"),
    (f"{BASE}/training/rows", {"rows": "[\"a\"]"}, 400, r"must list integers"),
    (f"{BASE}/training/rows", {"rows": "[1]", "columns": "id,nope"}, 400, r"`columns` names \['nope'\]"),
    (f"{BASE}/training/samples", {"columns": "nope"}, 400, r"`columns` names \['nope'\]"),
    (f"{BASE}/training/spans", {}, 404, r"no spans"),
    (f"{BASE}/test/count", {}, 404, r"no results for split 'test'"),
    (f"{BASE}/bogus/count", {}, 400, r"split"),
    (f"{BASE}/inference/count", {}, 400, r"needs `inference_name`"),
    (f"{BASE}/inference/count", {"inference_name": "nope"}, 404, r"no results for split 'inference/nope'"),
    (f"/api/runs/{PROJECT}/nope/splits/training/count", {}, 404, r"no run 'nope'"),
    (f"/api/runs/nope/{RUN}/splits/training/summary", {}, 404, r"no project 'nope'"),
    (f"/api/runs/{PROJECT}/nope", {}, 404, r"no run 'nope'"),
    (f"{BASE}/training/export", {"filter": F(gold="negative")}, 400, r"`gold` must be a list"),
])
def test_errors_are_4xx_with_the_message(client, path, params, status, pattern):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert re.search(pattern, r.text), r.text


def test_cursor_of_another_sort_is_rejected(client):
    c = ok(client.get(f"{BASE}/training/samples", params={"limit": 3}))["next_cursor"]
    r = client.get(f"{BASE}/training/samples", params={"limit": 3, "cursor": c, "sort": "confidence"})
    assert r.status_code == 400 and "belongs to a page sorted by 'data_error_potential'" in r.json()["detail"]


def test_edit_errors(client, store):
    url = f"{BASE}/training/edits"
    r = client.post(url, json={"edit_action": "explode"})
    assert r.status_code == 400 and r.json()["error"] == "ConfigurationError" and "edit_action" in r.json()["detail"]
    r = client.post(url, json={"edit_action": "relabel", "new_label": "nope"})
    assert r.status_code == 400 and "nope" in r.json()["detail"]
    r = client.post(url, json={"edit_action": "delete", "filter": {"ids": [123456]}})
    assert r.status_code == 400 and "selects no samples" in r.json()["detail"]
    r = client.post(f"/api/runs/{PROJECT}/{RUN}/edits/undo", json={})
    assert r.status_code in (400, 404, 409) and r.json()["detail"]
    r = client.post(url, content="edit_action=delete", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    assert not (store / PROJECT / RUN / "edits.parquet").exists()


def test_nasty_column_names_and_values_pass_as_parameters(client, store):
    base = f"/api/runs/{PROJECT}/{NLI}/splits/training"
    df = gdf(store, run=NLI)
    for col, val in ((QUOTED_COL, 'v"1'), (EVIL_COL, 2)):
        c = ok(client.get(base + "/count", params={"filter": json.dumps({"meta": {col: [val]}})}))
        assert c["count"] == int((df[col] == val).sum()) > 0
    rows, _ = all_pages(client, base + "/samples", sort=EVIL_COL, order="asc", limit=4)
    assert [r[EVIL_COL] for r in rows] == sorted(df[EVIL_COL].tolist())
    assert ok(client.get(base + "/count", params={"filter": F(text="cat")}))["count"] == 10  # text_pair too


# -- access: tokens and hosts --------------------------------------------------------------------------------


def test_token_required_when_set(store):
    c = TestClient(create_app(store, token="s3cret-token", allowed_hosts=None), base_url="http://192.0.2.5:8765")
    for path in ("/api/runs", f"{BASE}/training/count", "/api/openapi.json", "/api/docs", "/"):
        r = c.get(path)
        assert r.status_code == 401, path
        assert "access token" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
    assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/runs", params={"token": "wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    r = c.get("/api/runs", params={"token": "s3cret-token"})
    assert r.status_code == 200 and "dq_token" in r.cookies
    assert c.get(f"{BASE}/training/count").status_code == 200  # the cookie now carries it
    c.cookies.clear()
    assert c.get(f"{BASE}/training/count").status_code == 401


def test_loopback_rejects_foreign_host_headers(store):
    c = TestClient(create_app(store), base_url="http://127.0.0.1:8765")
    assert c.get("/api/runs").status_code == 200
    assert c.get("/api/runs", headers={"host": "localhost:8765"}).status_code == 200
    r = c.get("/api/runs", headers={"host": "evil.example:8765"})
    assert r.status_code == 403 and "not a loopback name" in r.json()["detail"]


def test_tokens_for_binds():
    assert runner.is_loopback("127.0.0.1") and runner.is_loopback("localhost") and runner.is_loopback("::1")
    assert not runner.is_loopback("0.0.0.0") and not runner.is_loopback("192.168.1.4")
    assert runner.resolve_token("127.0.0.1", None) is None
    t1, t2 = runner.resolve_token("0.0.0.0", None), runner.resolve_token("0.0.0.0", None)
    assert t1 and t2 and t1 != t2 and len(t1) >= 24
    assert runner.resolve_token("0.0.0.0", "mine") == "mine"
    assert runner.url_for("0.0.0.0", 9, "p", "r", "t") == "http://127.0.0.1:9/runs/p/r?token=t"


def test_non_loopback_bind_enforces_a_generated_token(store):
    import httpx

    srv = runner.start_background(store, host="0.0.0.0", port=0)
    try:
        assert srv.token
        base = f"http://127.0.0.1:{srv.port}"
        assert httpx.get(base + "/api/runs").status_code == 401
        r = httpx.get(base + "/api/runs", headers={"Authorization": f"Bearer {srv.token}"})
        assert r.status_code == 200 and {x["run_name"] for x in r.json()} >= {RUN}
        assert srv.url(PROJECT, RUN).endswith(f"/runs/{PROJECT}/{RUN}?token={srv.token}")
    finally:
        runner.stop_background()


# -- dq.show, dq serve, import cost ---------------------------------------------------------------------------


def test_show_serves_the_current_run_in_the_background(store, capsys):
    import httpx

    with pytest.raises(RunStateError, match=r"dq.show: no run to show; call dq.init"):
        dq.show()
    try:
        with _NoCurrentRun():
            dq.init("text_classification", project_name=PROJECT, run_name=RUN, root=store)
            url = dq.show(port=0)
        printed = capsys.readouterr().out
        assert f"dataquality console: {url}" in printed
        m = re.match(r"http://127\.0\.0\.1:(\d+)/runs/filt/main$", url)
        assert m, url
        port = int(m.group(1))
        assert httpx.get(url).status_code == 200
        assert dq.show(PROJECT, RUN, root=store) == url  # reused, same server
        # concurrent requests, each on its own DuckDB cursor, each gets its own answer
        df = gdf(store)
        want = {lab: int((df["gold"] == lab).sum()) for lab in LABELS}
        got: dict = {}

        def ask(lab):
            for _ in range(5):
                r = httpx.get(f"http://127.0.0.1:{port}{BASE}/training/count", params={"filter": F(gold=[lab])})
                got.setdefault(lab, set()).add(r.json()["count"])

        threads = [threading.Thread(target=ask, args=(lab,)) for lab in LABELS * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == {lab: {n} for lab, n in want.items()}
    finally:
        runner.stop_background()


def test_dq_serve_command(store):
    proc = subprocess.Popen([sys.executable, "-m", "dataquality", "serve", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", "".join(lines))
        assert m, lines
        import httpx

        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{m.group(1)}/api/runs")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r.status_code == 200 and len(r.json()) == 4
        assert "token" not in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(10)


def test_dq_serve_beyond_loopback_prints_a_token_once(store):
    proc = subprocess.Popen([sys.executable, "-m", "dataquality", "serve", str(store), "--host", "0.0.0.0",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        text = "".join(lines)
        tok = re.search(r"access token \(shown once\): (\S+)", text).group(1)
        port = re.search(r":(\d+)/\?token=", text).group(1)
        assert text.count(tok) == 2  # in the URL and on its own line
        import httpx

        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/runs")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert r.status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/api/runs", params={"token": tok}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_import_dataquality_stays_light():
    code = "import sys, dataquality as dq; dq.show; print(sorted(m for m in ('fastapi', 'uvicorn', 'duckdb', 'starlette') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
