"""Round trips through the public API: what a user logs comes back from results/ and dq.metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataquality as dq
from dataquality.exceptions import ConfigurationError, RunNotFoundError, SplitError
from tests.conftest import LABELS, make_df, outputs, run_dir, sigmoid, softmax


def results(home: Path, key: str, project: str = "proj", run: str = "run") -> Path:
    return run_dir(home, project, run) / "results" / key


def manifest(home: Path, project: str = "proj", run: str = "run") -> dict:
    return json.loads((run_dir(home, project, run) / "run.json").read_text())


# --- the seed documentation example ----------------------------------------------------------------


def test_seed_example_runs_as_written(dq_home):
    dq.init(task_type="text_classification", project_name="seed", run_name="example")
    dq.set_labels_for_run(["apple", "banana", "cherry"])
    dq.log_dataset(
        pd.DataFrame(
            {"id": [0, 1, 2, 3], "text": ["a", "b", "c", "d"], "label": ["apple", "banana", "cherry", "apple"]}
        ),
        split="train",
    )

    # ... within your model's forward function
    dq.set_epoch(0)
    dq.set_split("train")

    embs: np.ndarray = np.random.rand(4, 768)  # 4 samples, embedding dim 768
    logits: np.ndarray = np.random.rand(4, 3)  # 4 samples, 3 classes
    ids: List[int] = [0, 1, 2, 3]

    dq.log_model_outputs(embs=embs, logits=logits, ids=ids)
    dq.finish()

    d = results(dq_home, "training", "seed", "example")
    samples = pq.read_table(d / "samples.parquet").to_pandas()
    assert len(samples) == 4
    assert {"id", "text", "gold", "pred", "confidence"} <= set(samples.columns)
    assert samples["id"].tolist() == [0, 1, 2, 3]
    assert samples["gold"].tolist() == ["apple", "banana", "cherry", "apple"]
    e = np.load(d / "embeddings.npy")
    assert e.shape == (4, 768)
    np.testing.assert_allclose(e, embs.astype(np.float32), rtol=1e-6)
    p = np.load(d / "probs.npy")
    np.testing.assert_allclose(p, softmax(logits), rtol=1e-5, atol=1e-6)
    assert samples["pred"].tolist() == [["apple", "banana", "cherry"][i] for i in logits.argmax(1)]
    np.testing.assert_allclose(samples["confidence"], softmax(logits).max(1), rtol=1e-5)
    assert manifest(dq_home, "seed", "example")["status"] == "finished"


# --- a full run -------------------------------------------------------------------------------------


def _log_shuffled(ids: np.ndarray, embs: np.ndarray, logits: np.ndarray, rng, batch: int = 5, **kw) -> None:
    order = rng.permutation(len(ids))
    for start in range(0, len(ids), batch):
        sel = order[start : start + batch]
        dq.log_model_outputs(ids=ids[sel], embs=embs[sel], logits=logits[sel], **kw)


@pytest.fixture
def full_run(dq_home):
    """train (3 epochs), validation (2 epochs), test (1), two inference sets; logged shuffled."""
    rng = np.random.default_rng(42)
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dfs = {
        "train": make_df(20, start=0, meta=True, seed=1),
        "validation": make_df(10, start=100, seed=2),
        "test": make_df(7, start=200, seed=3),
    }
    for split, df in dfs.items():
        dq.log_dataset(df, split=split, meta=["length", "source", "score", "flagged"] if split == "train" else None)
    inf = {
        "prod-a": pd.DataFrame({"id": np.arange(300, 306), "text": [f"prod a {i}" for i in range(6)]}),
        "prod-b": pd.DataFrame({"id": np.arange(400, 404), "text": [f"prod b {i}" for i in range(4)]}),
    }
    for name, df in inf.items():
        dq.log_dataset(df, split="inference", inference_name=name)

    logged: dict = {}
    n_epochs = {"train": 3, "validation": 2, "test": 1}
    for epoch in range(3):
        dq.set_epoch(epoch)
        for split, df in dfs.items():
            if epoch >= n_epochs[split]:
                continue
            dq.set_split(split)
            ids = df["id"].to_numpy()
            embs, logits = outputs(len(ids), seed=epoch * 10 + len(ids))
            _log_shuffled(ids, embs, logits, rng)
            logged[(split, epoch)] = (ids, embs, logits)
    for name, df in inf.items():
        dq.set_split("inference", inference_name=name)
        ids = df["id"].to_numpy()
        embs, logits = outputs(len(ids), seed=len(ids) + 77)
        _log_shuffled(ids, embs, logits, rng, batch=3)
        logged[("inference", name)] = (ids, embs, logits)
    report = dq.finish(verbose=False)
    return dfs, inf, logged, report


def test_full_run_every_split_has_results(dq_home, full_run):
    dfs, inf, logged, report = full_run
    assert set(report["splits"]) == {"training", "validation", "test", "inference/prod-a", "inference/prod-b"}
    for key in ("training", "validation", "test", "inference/prod-a", "inference/prod-b"):
        d = results(dq_home, key)
        for f in ("samples.parquet", "embeddings.npy", "probs.npy"):
            assert (d / f).is_file(), f"{key}/{f}"
    assert report["splits"]["training"]["epochs"] == [0, 1, 2]
    assert report["splits"]["validation"]["epochs"] == [0, 1]
    assert report["splits"]["test"]["epochs"] == [0]
    assert manifest(dq_home)["status"] == "finished"


@pytest.mark.parametrize(
    "split,key,last",
    [("train", "training", ("train", 2)), ("validation", "validation", ("validation", 1)), ("test", "test", ("test", 0))],
)
def test_results_row_aligned_with_last_epoch(dq_home, full_run, split, key, last):
    dfs, _, logged, _ = full_run
    ids, embs, logits = logged[last]
    d = results(dq_home, key)
    samples = pq.read_table(d / "samples.parquet").to_pandas()
    # one row per sample, in the order the inputs were logged
    assert samples["id"].tolist() == dfs[split]["id"].tolist()
    assert samples["text"].tolist() == dfs[split]["text"].tolist()
    assert samples["gold"].tolist() == dfs[split]["label"].tolist()
    pos = {int(i): j for j, i in enumerate(ids)}
    order = [pos[int(i)] for i in samples["id"]]
    np.testing.assert_allclose(np.load(d / "embeddings.npy"), embs[order], rtol=1e-6)
    probs = np.load(d / "probs.npy")
    np.testing.assert_allclose(probs, softmax(logits[order]), rtol=1e-5, atol=1e-6)
    assert samples["pred"].tolist() == [LABELS[i] for i in logits[order].argmax(1)]


@pytest.mark.parametrize("name", ["prod-a", "prod-b"])
def test_inference_results(dq_home, full_run, name):
    _, inf, logged, _ = full_run
    ids, embs, logits = logged[("inference", name)]
    df = dq.metrics.get_dataframe("proj", "run", "inference", inference_name=name, include_embs=True, include_probs=True)
    assert df["id"].tolist() == inf[name]["id"].tolist()
    assert df["gold"].isna().all()
    pos = {int(i): j for j, i in enumerate(ids)}
    order = [pos[int(i)] for i in df["id"]]
    np.testing.assert_allclose(np.stack(df["emb"]), embs[order], rtol=1e-6)
    np.testing.assert_allclose(np.stack(df["prob"]), softmax(logits[order]), rtol=1e-5, atol=1e-6)
    assert not (results(dq_home, f"inference/{name}") / "dynamics.parquet").exists()


def test_dynamics_match_numpy(dq_home, full_run):
    dfs, _, logged, _ = full_run
    dyn = dq.metrics.get_dynamics("proj", "run", "train")
    assert sorted(dyn["epoch"].unique().tolist()) == [0, 1, 2]
    gold_idx = {int(i): LABELS.index(l) for i, l in zip(dfs["train"]["id"], dfs["train"]["label"])}
    for epoch in range(3):
        ids, _, logits = logged[("train", epoch)]
        p = softmax(logits)
        g = np.array([gold_idx[int(i)] for i in ids])
        gp = p[np.arange(len(ids)), g]
        other = p.copy()
        other[np.arange(len(ids)), g] = -np.inf
        margin = gp - other.max(1)
        got = dyn[dyn["epoch"] == epoch].set_index("id").loc[ids]
        np.testing.assert_allclose(got["gold_prob"], gp, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["margin"], margin, rtol=1e-5, atol=1e-6)
        assert got["pred"].tolist() == p.argmax(1).tolist()


def test_meta_columns_preserved(dq_home, full_run):
    dfs, *_ = full_run
    df = dq.metrics.get_dataframe("proj", "run", "training")
    src = dfs["train"]
    for c in ("length", "source", "score", "flagged"):
        assert c in df.columns
        assert df[c].tolist() == src[c].tolist()
    cols = df.columns.tolist()
    assert cols[:5] == ["id", "text", "gold", "pred", "confidence"]


def test_metrics_functions(dq_home, full_run):
    dfs, inf, logged, _ = full_run
    assert dq.metrics.get_labels_for_run("proj", "run") == LABELS
    assert dq.metrics.get_epochs("proj", "run", "train") == [0, 1, 2]
    assert dq.metrics.get_epochs("proj", "run", "validation") == [0, 1]
    assert dq.metrics.get_epochs("proj", "run", "test") == [0]
    assert dq.metrics.get_epochs("proj", "run", "inference") == []

    df = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True, include_probs=True)
    plain = dq.metrics.get_dataframe("proj", "run", "training")
    assert "emb" not in plain.columns and "prob" not in plain.columns
    assert len(df) == 20 and df["emb"].iloc[0].shape == (16,) and df["prob"].iloc[0].shape == (3,)

    # epoch=: the outputs of that epoch, per id
    for epoch in (0, 1, 2):
        ids, embs, logits = logged[("train", epoch)]
        e = dq.metrics.get_embeddings("proj", "run", "train", epoch=epoch).set_index("id").loc[ids]
        np.testing.assert_allclose(np.stack(e["emb"]), embs, rtol=1e-6)
        p = dq.metrics.get_probabilities("proj", "run", "train", epoch=epoch).set_index("id").loc[ids]
        np.testing.assert_allclose(np.stack(p["prob"]), softmax(logits), rtol=1e-5, atol=1e-6)
        assert p["pred"].tolist() == [LABELS[i] for i in logits.argmax(1)]
        assert p["gold"].tolist() == dfs["train"].set_index("id").loc[ids, "label"].tolist()
    # default: the final epoch
    ids, embs, logits = logged[("train", 2)]
    e = dq.metrics.get_embeddings("proj", "run", "train").set_index("id").loc[ids]
    np.testing.assert_allclose(np.stack(e["emb"]), embs, rtol=1e-6)
    p = dq.metrics.get_probabilities("proj", "run", "train").set_index("id").loc[ids]
    np.testing.assert_allclose(np.stack(p["prob"]), softmax(logits), rtol=1e-5, atol=1e-6)
    ids, _, logits = logged[("inference", "prod-b")]
    p = dq.metrics.get_probabilities("proj", "run", "inference", inference_name="prod-b").set_index("id").loc[ids]
    np.testing.assert_allclose(np.stack(p["prob"]), softmax(logits), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: dq.metrics.get_dataframe("nope", "run", "train"), RunNotFoundError, r"get_dataframe: no project 'nope'"),
        (lambda: dq.metrics.get_dataframe("proj", "nope", "train"), RunNotFoundError, r"get_dataframe: no run 'nope'.*\['run'\]"),
        (lambda: dq.metrics.get_dataframe("proj", "run", "bogus"), SplitError, r"get_dataframe: `split` must be one of"),
        (lambda: dq.metrics.get_dataframe("proj", "run", "inference"), SplitError, r"get_dataframe: split 'inference' needs `inference_name`"),
        (lambda: dq.metrics.get_dataframe("proj", "run", "inference", inference_name="prod-c"), RunNotFoundError, r"get_dataframe: .*no results for split 'inference/prod-c'"),
        (lambda: dq.metrics.get_dataframe("proj", "run", "train", inference_name="x"), SplitError, r"get_dataframe: `inference_name` applies only"),
        (lambda: dq.metrics.get_dataframe("../proj", "run", "train"), dq.exceptions.ConfigurationError, r"get_dataframe: `project_name`"),
        (lambda: dq.metrics.get_epochs("proj", "nope", "train"), RunNotFoundError, r"get_epochs: no run 'nope'"),
        (lambda: dq.metrics.get_embeddings("proj", "run", "train", epoch=7), RunNotFoundError, r"get_embeddings: no outputs for split 'training' at epoch 7"),
        (lambda: dq.metrics.get_probabilities("proj", "run", "test", epoch=3), RunNotFoundError, r"get_probabilities: no outputs for split 'test' at epoch 3"),
        (lambda: dq.metrics.get_probabilities("proj", "run", "test", epoch=-1), SplitError, r"get_probabilities: `epoch` must be a non-negative integer"),
        (lambda: dq.metrics.get_labels_for_run("nope", "run"), RunNotFoundError, r"get_labels_for_run: no project 'nope'"),
        (lambda: dq.metrics.get_dynamics("proj", "run", "inference"), SplitError, r"get_dynamics: split 'inference' needs `inference_name`"),
    ],
)
def test_metrics_errors(dq_home, full_run, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_metrics_missing_split_before_finish(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    with pytest.raises(RunNotFoundError, match=r"get_dataframe: run proj/run has no results for split 'training'") as ei:
        dq.metrics.get_dataframe("proj", "run", "train")
    assert isinstance(ei.value, LookupError)


# --- task variants ----------------------------------------------------------------------------------


def _finish_simple(ids, embs, logits, **kw):
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits, **kw)
    dq.finish(verbose=False)
    return dq.metrics.get_dataframe("proj", "run", "train", include_probs=True)


def test_nli_text_pair_kept_apart(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["entailment", "neutral", "contradiction"])
    df = pd.DataFrame(
        {
            "id": [0, 1, 2],
            "premise": ["A man plays guitar.", "A dog runs.", "It rains."],
            "hypothesis": ["A person makes music.", "A cat sleeps.", "The ground is dry."],
            "label": ["entailment", "neutral", "contradiction"],
        }
    )
    dq.log_dataset(df, text="premise", text_pair="hypothesis", split="train")
    embs, logits = outputs(3)
    out = _finish_simple([0, 1, 2], embs, logits)
    assert out["text"].tolist() == df["premise"].tolist()
    assert out["text_pair"].tolist() == df["hypothesis"].tolist()
    assert out.columns.tolist()[:3] == ["id", "text", "text_pair"]


def test_nli_default_text_pair_column(dq_home):
    dq.init("nli", project_name="proj", run_name="run")
    dq.set_labels_for_run(["yes", "no"])
    dq.log_dataset({"id": [0, 1], "text": ["p0", "p1"], "text_pair": ["h0", "h1"], "label": ["yes", "no"]}, split="train")
    embs, logits = outputs(2, k=2)
    out = _finish_simple([0, 1], embs, logits)
    assert out["text"].tolist() == ["p0", "p1"] and out["text_pair"].tolist() == ["h0", "h1"]


@pytest.mark.parametrize("labels_first", [True, False])
def test_integer_labels_mapped_through_label_list(dq_home, labels_first):
    dq.init("text_classification", project_name="proj", run_name="run")
    if labels_first:
        dq.set_labels_for_run(LABELS)
    dq.log_dataset(pd.DataFrame({"id": [0, 1, 2, 3], "text": list("abcd"), "label": [2, 0, 1, 2]}), split="train")
    if not labels_first:
        dq.set_labels_for_run(LABELS)
    embs, logits = outputs(4)
    out = _finish_simple([0, 1, 2, 3], embs, logits)
    assert out["gold"].tolist() == ["positive", "negative", "neutral", "positive"]
    dyn = dq.metrics.get_dynamics("proj", "run", "train").set_index("id").loc[[0, 1, 2, 3]]
    p = softmax(logits)
    np.testing.assert_allclose(dyn["gold_prob"], p[np.arange(4), [2, 0, 1, 2]], rtol=1e-5)


def test_integer_labels_out_of_range_logged_before_labels_fail_at_finish(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(pd.DataFrame({"id": [0, 1], "text": ["a", "b"], "label": [0, 5]}), split="train")
    dq.set_labels_for_run(["a", "b"])
    dq.set_epoch(0)
    dq.set_split("train")
    embs, logits = outputs(2, k=2)
    dq.log_model_outputs(ids=[0, 1], embs=embs, logits=logits)
    with pytest.raises(dq.exceptions.LabelError, match=r"dq.finish: integer labels \[5\] in split 'training' are out of range"):
        dq.finish(verbose=False)
    assert not (results(dq_home, "training") / "samples.parquet").exists()


def test_one_label_means_binary(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["toxic"])
    assert dq.get_run().labels == ["NOT_toxic", "toxic"]
    dq.log_dataset(pd.DataFrame({"id": [0, 1, 2], "text": list("abc"), "label": ["toxic", "NOT_toxic", "toxic"]}), split="train")
    x = np.array([2.0, -1.0, 0.5])
    embs, _ = outputs(3)
    out = _finish_simple([0, 1, 2], embs, x)
    assert dq.metrics.get_labels_for_run("proj", "run") == ["NOT_toxic", "toxic"]
    np.testing.assert_allclose(np.stack(out["prob"])[:, 1], sigmoid(x), rtol=1e-5)
    assert out["pred"].tolist() == ["toxic", "NOT_toxic", "toxic"]


@pytest.mark.parametrize("shape", [(5,), (5, 1)])
def test_single_logit_is_sigmoid(dq_home, shape):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["neg", "pos"])
    dq.log_dataset(make_df(5, labels=["neg", "pos"]), split="train")
    x = np.array([-3.0, -0.2, 0.0, 0.7, 4.0]).reshape(shape)
    embs, _ = outputs(5)
    out = _finish_simple(np.arange(5), embs, x)
    p = np.stack(out["prob"])
    np.testing.assert_allclose(p[:, 1], sigmoid(x.reshape(-1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)


def test_probs_instead_of_logits(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(4), split="train")
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [1.0, 0.0, 0.0]])
    embs, _ = outputs(4)
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=[0, 1, 2, 3], embs=embs, probs=probs)
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "train", include_probs=True)
    np.testing.assert_allclose(np.stack(out["prob"]), probs, atol=1e-6)
    assert out["pred"].tolist() == ["negative", "positive", "neutral", "negative"]


def test_binary_probs_single_column(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["neg", "pos"])
    dq.log_dataset(make_df(3, labels=["neg", "pos"]), split="train")
    embs, _ = outputs(3)
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=[0, 1, 2], embs=embs, probs=np.array([0.9, 0.2, 0.5]))
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "train", include_probs=True)
    np.testing.assert_allclose(np.stack(out["prob"])[:, 1], [0.9, 0.2, 0.5], atol=1e-5)


def test_exclude_embs(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(4), split="train")
    _, logits = outputs(4)
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=[0, 1, 2, 3], logits=logits, exclude_embs=True)
    dq.finish(verbose=False)
    d = results(dq_home, "training")
    assert not (d / "embeddings.npy").exists()
    np.testing.assert_allclose(np.load(d / "probs.npy"), softmax(logits), rtol=1e-5)
    with pytest.raises(RunNotFoundError, match=r"get_dataframe: no embeddings .*exclude_embs=True"):
        dq.metrics.get_dataframe("proj", "run", "train", include_embs=True)


# --- dataset sources ---------------------------------------------------------------------------------


def _src_df():
    return make_df(6, meta=True)


def _check_logged(dq_home, expected: pd.DataFrame, meta=()):
    embs, logits = outputs(len(expected))
    out = _finish_simple(expected["id"].to_numpy(), embs, logits)
    assert out["id"].tolist() == expected["id"].tolist()
    assert out["text"].tolist() == expected["text"].tolist()
    assert out["gold"].tolist() == expected["label"].tolist()
    for m in meta:
        assert out[m].tolist() == expected[m].tolist()


def _init():
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)


def test_log_dataset_pandas(dq_home):
    _init()
    df = _src_df()
    dq.log_dataset(df, split="train", meta=["source", "length"], batch_size=4)
    _check_logged(dq_home, df, meta=("source", "length"))


def test_log_dataset_list_of_dicts(dq_home):
    _init()
    df = _src_df()
    dq.log_dataset(df.to_dict("records"), split="train", meta=["score"])
    _check_logged(dq_home, df, meta=("score",))


def test_log_dataset_generator(dq_home):
    _init()
    df = _src_df()
    gen = ({"id": int(r.id), "text": r.text, "label": r.label} for r in df.itertuples())
    dq.log_dataset(gen, split="train", batch_size=4)
    _check_logged(dq_home, df)


def test_log_dataset_dict_of_columns(dq_home):
    _init()
    df = _src_df()
    dq.log_dataset({c: df[c].tolist() for c in df.columns}, split="train", meta=["flagged"])
    _check_logged(dq_home, df, meta=("flagged",))


def test_log_dataset_pyarrow_table(dq_home):
    _init()
    df = _src_df()
    dq.log_dataset(pa.Table.from_pandas(df, preserve_index=False), split="train", batch_size=4, meta=["source"])
    _check_logged(dq_home, df, meta=("source",))


def test_log_dataset_csv_path(dq_home, tmp_path):
    _init()
    df = _src_df()
    path = tmp_path / "train.csv"
    df.to_csv(path, index=False)
    dq.log_dataset(str(path), split="train", meta=["length"])
    _check_logged(dq_home, df, meta=("length",))


def test_log_dataset_custom_column_names(dq_home):
    _init()
    df = pd.DataFrame({"uid": [5, 6], "sentence": ["x", "y"], "y": ["neutral", "positive"]})
    dq.log_dataset(df, id="uid", text="sentence", label="y", split="train")
    out = _check_logged(dq_home, pd.DataFrame({"id": [5, 6], "text": ["x", "y"], "label": ["neutral", "positive"]}))
    assert out is None


def test_log_dataset_hf_dataset_with_class_label(dq_home):
    datasets = pytest.importorskip("datasets")
    _init()
    features = datasets.Features(
        {
            "id": datasets.Value("int64"),
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=LABELS),
        }
    )
    ds = datasets.Dataset.from_dict({"id": [0, 1, 2, 3], "text": list("abcd"), "label": [2, 1, 0, 2]}, features=features)
    dq.log_dataset(ds, split="train", batch_size=3)
    _check_logged(
        dq_home, pd.DataFrame({"id": [0, 1, 2, 3], "text": list("abcd"), "label": ["positive", "neutral", "negative", "positive"]})
    )


def test_log_data_samples_and_sample(dq_home):
    _init()
    dq.log_data_samples(
        texts=["a", "b", "c"], ids=[0, 1, 2], labels=["negative", "positive", "neutral"], split="train",
        meta={"lang": ["en", "de", "fr"]},
    )
    dq.log_data_sample(text="d", id=3, label="positive", split="train", meta={"lang": "en"})
    dq.log_data_sample(text="e", id=4, label=0, split="train", meta={"lang": "it"})
    dq.log_data_sample(text="q", id=9, split="inference", inference_name="live")
    expected = pd.DataFrame(
        {"id": [0, 1, 2, 3, 4], "text": list("abcde"), "label": ["negative", "positive", "neutral", "positive", "negative"],
         "lang": ["en", "de", "fr", "en", "it"]}
    )
    embs, logits = outputs(5)
    dq.set_split("inference", inference_name="live")
    dq.log_model_outputs(ids=[9], embs=embs[:1], logits=logits[:1])
    out = _finish_simple(expected["id"].to_numpy(), embs, logits)
    assert out["text"].tolist() == list("abcde")
    assert out["gold"].tolist() == expected["label"].tolist()
    assert out["lang"].tolist() == expected["lang"].tolist()
    live = dq.metrics.get_dataframe("proj", "run", "inference", inference_name="live")
    assert live["id"].tolist() == [9] and live["text"].tolist() == ["q"]


def test_string_ids_round_trip(dq_home):
    _init()
    ids = ["s-3", "s-1", "s-2"]
    dq.log_dataset({"id": ids, "text": ["c", "a", "b"], "label": ["negative", "neutral", "positive"]}, split="train")
    embs, logits = outputs(3)
    out = _finish_simple(np.array(ids[::-1], dtype=object), embs, logits)
    assert out["id"].tolist() == ids
    np.testing.assert_allclose(np.stack(out["prob"]), softmax(logits[::-1]), rtol=1e-5, atol=1e-6)


# --- torch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_tensors(dq_home, dtype):
    torch = pytest.importorskip("torch")
    _init()
    dq.log_dataset(make_df(4), split="train")
    emb_t = torch.randn(4, 8, dtype=getattr(torch, dtype), requires_grad=True)
    logit_t = torch.randn(4, 3, dtype=getattr(torch, dtype), requires_grad=True)
    embs, logits = emb_t * 2, logit_t * 1  # non-leaf tensors in the autograd graph
    ids = torch.tensor([3, 1, 0, 2], dtype=torch.int64)
    out = _finish_simple(ids, embs, logits)
    e_ref = embs.detach().float().numpy()
    l_ref = logits.detach().float().numpy()
    order = [2, 1, 3, 0]  # rows of ids 0, 1, 2, 3
    got = dq.metrics.get_embeddings("proj", "run", "train")
    np.testing.assert_allclose(np.stack(got["emb"]), e_ref[order], rtol=1e-6)
    np.testing.assert_allclose(np.stack(out["prob"]), softmax(l_ref[order]), rtol=1e-4, atol=1e-5)


def test_torch_cuda_tensors(dq_home):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    _init()
    dq.log_dataset(make_df(4), split="train")
    embs = torch.randn(4, 8, device="cuda", requires_grad=True)
    logits = torch.randn(4, 3, device="cuda", dtype=torch.float16)
    out = _finish_simple(torch.arange(4, device="cuda"), embs, logits)
    np.testing.assert_allclose(np.stack(out["prob"]), softmax(logits.float().cpu().numpy()), rtol=1e-4, atol=1e-5)
    got = dq.metrics.get_embeddings("proj", "run", "train")
    np.testing.assert_allclose(np.stack(got["emb"]), embs.detach().cpu().numpy(), rtol=1e-6)


def test_torch_tensor_mutated_after_logging_does_not_change_results(dq_home):
    torch = pytest.importorskip("torch")
    _init()
    dq.log_dataset(make_df(2), split="train")
    embs = torch.ones(2, 4)
    logits = torch.zeros(2, 3)
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=torch.tensor([0, 1]), embs=embs, logits=logits)
    embs.fill_(7.0)
    logits[:, 0] = 100.0
    dq.finish(verbose=False)
    got = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True, include_probs=True)
    np.testing.assert_allclose(np.stack(got["emb"]), 1.0)
    np.testing.assert_allclose(np.stack(got["prob"]), 1 / 3, rtol=1e-6)


# --- context manager, kill switch, later processes ---------------------------------------------------


def test_context_manager_clean_exit_finishes(dq_home):
    with dq.init("text_classification", project_name="proj", run_name="run") as run:
        assert isinstance(run, dq.Run)
        dq.set_labels_for_run(LABELS)
        dq.log_dataset(make_df(3), split="train")
        embs, logits = outputs(3)
        dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits, split="train", epoch=0)
    assert run.finished
    assert manifest(dq_home)["status"] == "finished"
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 3


def test_context_manager_exception_marks_failed_and_reraises(dq_home):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with dq.init("text_classification", project_name="proj", run_name="run") as run:
            dq.set_labels_for_run(LABELS)
            dq.log_dataset(make_df(3), split="train")
            embs, logits = outputs(3)
            dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits, split="train", epoch=0)
            raise Boom("training crashed")
    assert not run.finished
    assert manifest(dq_home)["status"] == "failed"
    assert not (results(dq_home, "training") / "samples.parquet").exists()
    # what was logged before the crash is on disk, complete
    parts = list((run_dir(dq_home) / "outputs" / "training" / "0").glob("part-*.arrow"))
    assert len(parts) == 1


def test_kill_switch_makes_every_call_a_noop(dq_home, monkeypatch, tmp_path):
    monkeypatch.setenv("DQ_DISABLED", "1")
    with dq.init("text_classification", project_name="proj", run_name="run") as run:
        dq.set_labels_for_run(LABELS)
        dq.log_dataset(make_df(3), split="train")
        dq.log_data_samples(texts=["a"], ids=[9], labels=["negative"], split="train")
        dq.log_data_sample(text="a", id=10, label="negative", split="train")
        dq.set_epoch(0)
        dq.set_split("train")
        dq.set_epoch_and_split(1, "validation")
        # even invalid input is ignored: nothing is checked
        dq.log_model_outputs(ids=[0, 1], embs=np.full((2, 3), np.nan), logits=np.zeros((5, 9)))
        assert dq.finish() is None
        run.finish()
    assert not dq_home.exists()
    assert dq.get_run() is None
    monkeypatch.setenv("DQ_DISABLED", "false")
    dq.init("text_classification", project_name="proj", run_name="run")
    assert (run_dir(dq_home) / "run.json").exists()


def _train_run(dq_home) -> dict[str, bytes]:
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(6), split="train")
    for epoch in range(2):
        embs, logits = outputs(6, seed=epoch)
        dq.log_model_outputs(ids=np.arange(6), embs=embs, logits=logits, split="train", epoch=epoch)
    dq.finish(verbose=False)
    d = results(dq_home, "training")
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.iterdir()}


def test_later_process_adds_inference_and_leaves_training_untouched(dq_home):
    before = _train_run(dq_home)
    train_df = dq.metrics.get_dataframe("proj", "run", "train")

    # a later "process": a new session on the same project/run that logs only inference
    run2 = dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)  # the same labels are accepted
    dq.log_dataset(pd.DataFrame({"id": [100, 101, 102], "text": ["x", "y", "z"]}), split="inference", inference_name="nov")
    dq.set_split("inference", inference_name="nov")
    embs, logits = outputs(3, seed=9)
    dq.log_model_outputs(ids=[100, 101, 102], embs=embs, logits=logits)
    report = run2.finish(verbose=False)
    assert "training" in report["unchanged"]
    assert list(report["splits"]) == ["inference/nov"]

    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in results(dq_home, "training").iterdir()}
    assert after == before
    pd.testing.assert_frame_equal(dq.metrics.get_dataframe("proj", "run", "train"), train_df)
    inf = dq.metrics.get_dataframe("proj", "run", "inference", inference_name="nov", include_probs=True)
    np.testing.assert_allclose(np.stack(inf["prob"]), softmax(logits), rtol=1e-5, atol=1e-6)
    m = manifest(dq_home)
    assert m["status"] == "finished" and len(m["sessions"]) == 2
    assert set(m["results"]) == {"training", "inference/nov"}


def test_later_process_cannot_mix_into_earlier_training_data(dq_home):
    _train_run(dq_home)
    dq.init("text_classification", project_name="proj", run_name="run")
    embs, logits = outputs(1)
    with pytest.raises(dq.exceptions.RunStateError, match=r"dq.log_model_outputs: run proj/run already has 'training' data from an earlier session"):
        dq.log_model_outputs(ids=[0], embs=embs, logits=logits, split="train", epoch=5)
    with pytest.raises(dq.exceptions.RunStateError, match=r"dq.log_dataset: run proj/run already has 'training' data"):
        dq.log_dataset(make_df(2, start=50), split="train")


def test_overwrite_starts_over(dq_home):
    _train_run(dq_home)
    dq.init("text_classification", project_name="proj", run_name="run", overwrite=True)
    assert not (run_dir(dq_home) / "results").exists()
    assert manifest(dq_home)["labels"] is None


def test_logging_from_another_thread_uses_the_run(dq_home):
    import threading

    _init()
    dq.log_dataset(make_df(4), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    embs, logits = outputs(4)
    errors = []

    def worker():
        try:
            dq.log_model_outputs(ids=[0, 1, 2, 3], embs=embs, logits=logits)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors == []
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 4


def test_label_column_of_inference_data_is_ignored_with_a_warning(dq_home):
    _init()
    with pytest.warns(UserWarning, match=r"dq\.log_dataset: column 'label' is ignored for split 'inference'"):
        dq.log_dataset(make_df(3), split="inference", inference_name="nov")
    embs, logits = outputs(3)
    dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits, split="inference", inference_name="nov")
    dq.finish(verbose=False)
    df = dq.metrics.get_dataframe("proj", "run", "inference", inference_name="nov")
    assert df["gold"].isna().all() and "label" not in df.columns


def test_set_epoch_and_split_and_aliases(dq_home):
    _init()
    dq.log_dataset(make_df(3), split="val")
    dq.set_epoch_and_split(4, "dev")
    embs, logits = outputs(3)
    dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits)
    dq.finish(verbose=False)
    assert dq.metrics.get_epochs("proj", "run", "validation") == [4]
    assert (run_dir(dq_home) / "outputs" / "validation" / "4").is_dir()


def test_same_ids_in_new_epoch_are_fine_and_last_epoch_wins(dq_home):
    _init()
    dq.log_dataset(make_df(3), split="train")
    dq.set_split("train")
    for epoch in range(3):
        dq.set_epoch(epoch)
        embs, logits = outputs(3, seed=epoch)
        dq.log_model_outputs(ids=[0, 1, 2], embs=embs, logits=logits)
    dq.finish(verbose=False)
    e = np.load(results(dq_home, "training") / "embeddings.npy")
    np.testing.assert_allclose(e, outputs(3, seed=2)[0], rtol=1e-6)


def test_samples_without_final_epoch_outputs_are_left_out(dq_home):
    _init()
    dq.log_dataset(make_df(5), split="train")
    embs, logits = outputs(5)
    dq.log_model_outputs(ids=np.arange(5), embs=embs, logits=logits, split="train", epoch=0)
    dq.log_model_outputs(ids=[1, 3], embs=embs[[1, 3]], logits=logits[[1, 3]], split="train", epoch=1)
    report = dq.finish(verbose=False)
    assert report["splits"]["training"]["n_samples"] == 2
    assert report["splits"]["training"]["n_inputs_without_outputs"] == 3
    out = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True)
    assert out["id"].tolist() == [1, 3]
    np.testing.assert_allclose(np.stack(out["emb"]), embs[[1, 3]], rtol=1e-6)


# --- task arguments of log_data_samples / log_data_sample (NER) -----------------------------------


def _ner_logits(tags: list[str], labels: list[str]) -> np.ndarray:
    out = np.full((len(tags), len(labels)), -4.0, np.float32)
    out[np.arange(len(tags)), [labels.index(t) for t in tags]] = 4.0
    return out


def test_ner_log_data_samples_takes_galileos_arguments(dq_home):
    """Galileo's ``dq.log_data_samples(texts=, ids=, text_token_indices=, gold_spans=, split=)``
    logs NER inputs, and ``dq.log_data_sample`` one sample, as ``dq.log_dataset`` would."""
    labels = ["O", "B-PER", "I-PER"]
    run = dq.init("text_ner", project_name="proj", run_name="run")
    dq.set_labels_for_run(labels)
    dq.set_tagging_schema("BIO")
    dq.log_data_samples(
        texts=["bob ran", "we saw ann lee"], ids=[0, 1],
        text_token_indices=[[(0, 3), (4, 7)], [(0, 2), (3, 6), (7, 10), (11, 14)]],
        gold_spans=[[{"start": 0, "end": 3, "label": "PER"}], [{"start": 7, "end": 14, "label": "PER"}]],
        split="training",
    )
    dq.log_data_sample(text="hi ann", id=2, text_token_indices=[(0, 2), (3, 6)],
                       gold_spans=[{"start": 3, "end": 6, "label": "PER"}], split="training")
    tags = [["B-PER", "O"], ["O", "O", "B-PER", "I-PER"], ["O", "B-PER"]]
    rng = np.random.default_rng(0)
    dq.log_model_outputs(ids=[0, 1, 2], embs=[rng.normal(size=(len(t), 4)).astype(np.float32) for t in tags],
                         logits=[_ner_logits(t, labels) for t in tags], split="training", epoch=0)
    dq.finish(verbose=False)
    samples = pd.read_parquet(run.paths.results("training") / "samples.parquet")
    assert samples["id"].tolist() == [0, 1, 2]
    pred = [[(s["start"], s["end"], s["label"]) for s in row] for row in samples["pred_spans"]]
    assert pred == [[(0, 3, "PER")], [(7, 14, "PER")], [(3, 6, "PER")]]


def test_task_arguments_are_checked(dq_home):
    dq.init("text_ner", project_name="proj", run_name="run")
    dq.set_labels_for_run(["O", "B-PER", "I-PER"])
    with pytest.raises(dq.exceptions.InputTypeError, match=r"dq\.log_data_samples: got unexpected argument\(s\) `task_labels` for task_type 'text_ner' \(its extra arguments: `text_token_indices`, `gold_spans`\)"):
        dq.log_data_samples(texts=["a"], ids=[0], task_labels=[["x"]], split="training")
    with pytest.raises(dq.exceptions.ShapeError, match=r"dq\.log_data_samples: all arguments must have one value per sample; got lengths \{'texts': 1, 'ids': 1, 'text_token_indices': 2"):
        dq.log_data_samples(texts=["a"], ids=[0], text_token_indices=[[(0, 1)], [(0, 1)]], gold_spans=[[]], split="training")
    with pytest.raises(dq.exceptions.LabelError, match=r"dq\.log_data_samples: a text_ner run takes its labels as `gold_spans`"):
        dq.log_data_samples(texts=["a"], ids=[0], labels=["PER"], text_token_indices=[[(0, 1)]], gold_spans=[[]], split="training")
    with pytest.raises(dq.exceptions.LabelError, match=r"dq\.log_data_sample: `gold_spans` of sample id 0: .*'LOC'"):
        dq.log_data_sample(text="a", id=0, text_token_indices=[(0, 1)], gold_spans=[{"start": 0, "end": 1, "label": "LOC"}], split="training")
    dq.init("text_classification", project_name="proj", run_name="cls")
    dq.set_labels_for_run(LABELS)
    with pytest.raises(dq.exceptions.InputTypeError, match=r"dq\.log_data_sample: got unexpected argument\(s\) `gold_spans` for task_type 'text_classification' \(its extra arguments: none\)"):
        dq.log_data_sample(text="a", id=0, label="negative", gold_spans=[], split="training")
    with pytest.raises(ConfigurationError, match=r"dq\.set_tagging_schema: `tagging_schema` does not apply to task_type 'text_classification'; it is set for 'text_ner' runs"):
        dq.set_tagging_schema("BIO")
