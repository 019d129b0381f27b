"""text_multi_label: the write side's checks, the pure per-task signals and the compute side."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dataquality.exceptions import ConfigurationError, LabelError, NonFiniteError, ShapeError
from dataquality.tasks import get_task
from dataquality.tasks.text_multi_label.labels import TASK_LABELS, active_tasks, gold_indices
from dataquality.tasks.text_multi_label.signals import (
    multilabel_metrics, multilabel_signals, task_dep, task_probs,
)

FN = "dq.test"
TASK = get_task("text_multi_label", fn=FN)
TASKS = ["toxic", "insult", "threat"]


def cols(**kw):
    base = dict(id="id", text="text", label="label", text_pair="text_pair", meta=(), label_explicit=False,
                text_pair_explicit=False)
    base.update(kw)
    return SimpleNamespace(**base)


def binary_manifest(tasks=TASKS) -> dict:
    m = {"tasks": None, "labels": None, "logits_dim": None, "embedding_dim": None}
    m.update(TASK.set_option("tasks", tasks, fn=FN, manifest=m))
    return m


def multi_manifest() -> dict:
    m = {"tasks": None, "labels": None, "logits_dim": None, "embedding_dim": None}
    m.update(TASK.set_option("tasks", {"tasks": ["colour", "size"], "binary": False}, fn=FN, manifest=m))
    m["labels"] = TASK.normalize_labels([["red", "green", "blue"], ["small", "big"]], fn=FN, manifest=m)
    return m


# -- registry and configuration ------------------------------------------------------------------


def test_registered():
    assert get_task("TEXT_MULTI_LABEL", fn=FN) is TASK
    assert TASK.name == "text_multi_label" and "tasks" in TASK.options


def test_binary_tasks_set_their_labels():
    m = binary_manifest()
    assert m["binary"] is True
    assert m["labels"] == [["NOT_toxic", "toxic"], ["NOT_insult", "insult"], ["NOT_threat", "threat"]]
    assert TASK.logits_width(m) == 3


def test_non_binary_labels_one_list_per_task():
    m = multi_manifest()
    assert m["labels"] == [["red", "green", "blue"], ["small", "big"]]
    assert TASK.logits_width(m) == 5
    with pytest.raises(ConfigurationError, match="one list per task, 2"):
        TASK.normalize_labels([["a", "b"]], fn=FN, manifest=m)
    with pytest.raises(ConfigurationError, match="one label list per task"):
        TASK.normalize_labels(["a", "b"], fn=FN, manifest=m)


@pytest.mark.parametrize("bad", [[], "toxic", ["a", "a"], ["a", ""], [1.5]])
def test_bad_tasks(bad):
    with pytest.raises(ConfigurationError, match="dq.test: `tasks`"):
        TASK.set_option("tasks", bad, fn=FN, manifest={})


def test_tasks_cannot_change_and_must_fit_labels():
    m = binary_manifest()
    with pytest.raises(ConfigurationError, match="must match the tasks"):
        TASK.set_option("tasks", ["toxic", "insult"], fn=FN, manifest=m)
    with pytest.raises(ConfigurationError, match="are binary"):
        TASK.normalize_labels([["a", "b"], ["c", "d"], ["e", "f"]], fn=FN, manifest=m)
    with pytest.raises(ConfigurationError, match="one task per label list"):
        TASK.set_option("tasks", {"tasks": ["a"], "binary": False}, fn=FN, manifest={"labels": [["x", "y"], ["z", "w"]]})
    with pytest.raises(ConfigurationError, match="logged with 4 columns"):
        TASK.set_option("tasks", ["a", "b"], fn=FN, manifest={"logits_dim": 4})


def test_other_options_refused():
    with pytest.raises(ConfigurationError, match="tagging_schema"):
        TASK.set_option("tagging_schema", "BIO", fn=FN, manifest={})


# -- inputs --------------------------------------------------------------------------------------


def test_binary_inputs_active_tasks_or_per_task_values():
    m = binary_manifest()
    df = pd.DataFrame({"id": [1, 2, 3, 4], "text": list("abcd"),
                       "task_labels": [["toxic"], [], ["insult", "threat"], [1, 0, True]]})
    t = TASK.normalize_inputs(df, fn=FN, cols=cols(), split="training", manifest=m)
    rows = t.column(TASK_LABELS).to_pylist()
    assert rows[0] == ["toxic", "NOT_insult", "NOT_threat"]
    assert rows[1] == ["NOT_toxic", "NOT_insult", "NOT_threat"]
    assert active_tasks(rows[2], TASKS) == ["insult", "threat"]
    assert active_tasks(rows[3], TASKS) == ["toxic", "threat"]
    assert gold_indices(rows, m["labels"]).tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 1], [1, 0, 1]]


def test_log_dataset_label_column_holding_lists():
    m = multi_manifest()
    df = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "tags": [["red", "big"], [2, 0]], "src": ["u", "v"]})
    t = TASK.normalize_inputs(df, fn=FN, cols=cols(label="tags", label_explicit=True, meta=("src",)),
                              split="training", manifest=m)
    assert t.column_names == ["id", "text", TASK_LABELS, "src"]
    assert t.column(TASK_LABELS).to_pylist() == [["red", "big"], ["blue", "small"]]


@pytest.mark.parametrize("value, match", [
    (["purple", "big"], "task 'colour' takes labels"),
    (["red"], "one label per task"),
    ([5, 0], "indices 0..2"),
    ("red", "a list per sample"),
])
def test_label_outside_its_task(value, match):
    df = pd.DataFrame({"id": [1], "text": ["x"], "task_labels": [value]})
    with pytest.raises(LabelError, match=match):
        TASK.normalize_inputs(df, fn=FN, cols=cols(), split="training", manifest=multi_manifest())


def test_binary_unknown_task_and_missing_labels():
    m = binary_manifest()
    with pytest.raises(LabelError, match=r"names tasks \['spam'\]"):
        TASK.normalize_inputs(pd.DataFrame({"id": [1], "text": ["x"], "task_labels": [["spam"]]}),
                              fn=FN, cols=cols(), split="training", manifest=m)
    with pytest.raises(LabelError, match="needs labels"):
        TASK.normalize_inputs(pd.DataFrame({"id": [1], "text": ["x"]}), fn=FN, cols=cols(), split="training", manifest=m)
    with pytest.raises(LabelError, match="has none"):
        TASK.normalize_inputs(pd.DataFrame({"id": [1], "text": ["x"], "task_labels": [None]}),
                              fn=FN, cols=cols(), split="training", manifest=m)


def test_inputs_need_tasks_first_and_inference_has_no_labels():
    df = pd.DataFrame({"id": [1], "text": ["x"], "task_labels": [["a"]]})
    with pytest.raises(ConfigurationError, match="set_tasks_for_run"):
        TASK.normalize_inputs(df, fn=FN, cols=cols(), split="training", manifest={})
    t = TASK.normalize_inputs(df[["id", "text"]], fn=FN, cols=cols(), split="inference", manifest={})
    assert t.column_names == ["id", "text"]


# -- model outputs -------------------------------------------------------------------------------


def test_binary_outputs_rows_as_they_are():
    m = binary_manifest()
    ids = np.arange(4)
    embs, logits = np.zeros((4, 8), np.float32), np.ones((4, 3), np.float32)
    b = TASK.output_batch(ids, embs, logits, None, exclude_embs=False, fn=FN, manifest=m)
    assert b.embs is embs and b.logits is logits  # the run's short path copies them once
    per_task = TASK.output_batch(ids, embs, [np.ones(4), np.zeros((4, 1)), np.ones(4)], None,
                                 exclude_embs=False, fn=FN, manifest=m)
    assert per_task.logits.shape == (4, 3) and per_task.logits[:, 1].tolist() == [0, 0, 0, 0]
    p = TASK.output_batch(ids, None, None, np.full((4, 3), 0.5), exclude_embs=True, fn=FN, manifest=m)
    assert np.allclose(p.logits, 0.0) and p.embs is None


def test_binary_outputs_bad_shapes():
    m = binary_manifest()
    ids = np.arange(4)
    embs = np.zeros((4, 8), np.float32)
    with pytest.raises(ShapeError, match=r"one column per task, shape \(4, 3\)"):
        TASK.output_batch(ids, embs, np.ones((4, 2)), None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(ShapeError, match="one array per task"):
        TASK.output_batch(ids, embs, [np.ones(4)] * 2, None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(ShapeError, match="exactly one of"):
        TASK.output_batch(ids, embs, None, None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(ShapeError, match="`embs` is required"):
        TASK.output_batch(ids, None, np.ones((4, 3)), None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(NonFiniteError, match="logits"):
        TASK.output_batch(ids, embs, [np.ones(4), np.array([0, np.nan, 0, 0]), np.ones(4)], None,
                          exclude_embs=False, fn=FN, manifest=m)


def test_per_task_outputs():
    m = multi_manifest()
    ids = np.arange(3)
    embs = np.zeros((3, 4), np.float32)
    lg = [np.arange(9, dtype=np.float32).reshape(3, 3), -np.ones((3, 2), np.float32)]
    b = TASK.output_batch(ids, embs, lg, None, exclude_embs=False, fn=FN, manifest=m)
    assert b.logits.shape == (3, 5) and b.logits[0].tolist() == [0, 1, 2, -1, -1]
    with pytest.raises(ShapeError, match=r"one array per task \(2"):
        TASK.output_batch(ids, embs, lg[:1], None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(ShapeError, match=r"`logits\[1\]`.*task 'size'"):
        TASK.output_batch(ids, embs, [lg[0], np.ones((3, 3))], None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(ShapeError, match="one block per task"):  # 3-D needs equal label counts and T blocks
        TASK.output_batch(ids, embs, np.ones((3, 3, 3)), None, exclude_embs=False, fn=FN, manifest=m)
    with pytest.raises(NonFiniteError):
        TASK.output_batch(ids, embs, [lg[0], np.full((3, 2), np.nan)], None, exclude_embs=False, fn=FN, manifest=m)
    probs = [np.full((3, 3), 1 / 3), np.array([[0.5, 0.5]] * 3)]
    pb = TASK.output_batch(ids, embs, None, probs, exclude_embs=False, fn=FN, manifest=m)
    assert np.allclose(pb.logits[:, :3], np.log(1 / 3))


def test_outputs_need_tasks_and_labels():
    with pytest.raises(ConfigurationError, match="set_tasks_for_run"):
        TASK.output_batch(np.arange(2), None, np.ones((2, 2)), None, exclude_embs=True, fn=FN, manifest={})
    m = {"tasks": ["a", "b"], "binary": False, "labels": None}
    with pytest.raises(ConfigurationError, match="set_labels_for_run"):
        TASK.output_batch(np.arange(2), None, [np.ones((2, 2))] * 2, None, exclude_embs=True, fn=FN, manifest=m)
    with pytest.raises(ConfigurationError, match="label list per task"):
        TASK.check_ready(m, fn="dq.finish")


# -- pure signals --------------------------------------------------------------------------------


def test_task_probs_sigmoid_and_softmax():
    p = task_probs(np.array([[0.0, 2.0, -1.0]]), [1, 1, 1], True)
    assert len(p) == 3 and np.allclose(p[0], [[0.5, 0.5]]) and np.allclose(p[1].sum(axis=1), 1)
    q = task_probs(np.array([[0.0, 0.0, 0.0, 5.0, 5.0]]), [3, 2], False)
    assert np.allclose(q[0], 1 / 3) and np.allclose(q[1], 0.5)


def test_task_dep_is_the_reference_without_neighbours():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1], size=(3, 20)).astype(np.float32)  # (E, n, 2)
    gold = rng.integers(0, 2, 20)
    r = task_dep(p, gold)
    assert np.allclose(r["dep"], (1 - r["aum"]) / 2, atol=1e-5)
    q = np.tile([[0.5, 0.5]], (20, 1))
    assert not np.allclose(task_dep(p, gold, q, knn_weight=0.5)["dep"], r["dep"])


def test_multilabel_metrics_micro_macro():
    gold = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 1], [0, 1], [0, 1]])
    m = multilabel_metrics(gold, pred, ["a", "b"], [["NOT_a", "a"], ["NOT_b", "b"]], True)
    # a: tp 1, fn 1 -> f1 2/3; b: tp 2, fp 1 -> f1 0.8; micro: tp 3, fp 1, fn 1 -> 0.75
    assert m["task_f1"] == pytest.approx({"a": 2 / 3, "b": 0.8})
    assert m["micro"]["f1"] == pytest.approx(0.75)
    assert m["macro"]["f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["per_task"]["a"]["confusion_matrix"] == [[2, 0], [1, 1]]


def synthetic(n=300, seed=0, flip=0.1):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 2, (n, 2))
    logits = np.where(true == 1, 3.0, -3.0)[None] + rng.normal(0, 1, (4, n, 2))  # a model that learned the truth
    noisy = true.copy()
    flipped = rng.random(n) < flip
    noisy[flipped, 0] = 1 - noisy[flipped, 0]
    return logits.astype(np.float32), noisy, flipped


def test_multilabel_signals_columns_and_flags():
    logits, noisy, flipped = synthetic()
    labels = [["NOT_a", "a"], ["NOT_b", "b"]]
    cols, summary = multilabel_signals(logits, noisy, tasks=["a", "b"], labels=labels, binary=True)
    for c in ("gold_a", "pred_a", "confidence_a", "data_error_potential_a", "aum_a", "likely_mislabeled_a",
              "is_on_the_boundary_b", "data_error_potential", "mislabeled_tasks", "pred", "confidence"):
        assert c in cols, c
    assert np.allclose(cols["data_error_potential"],
                       np.maximum(cols["data_error_potential_a"], cols["data_error_potential_b"]))
    flag = cols["likely_mislabeled_a"]
    assert flag[flipped].mean() > 0.8 and (flag & ~flipped).sum() <= 5
    assert all(("a" in t) == f for t, f in zip(cols["mislabeled_tasks"], flag | cols["likely_mislabeled_b"]) if f)
    assert summary["per_task"]["a"]["likely_mislabeled"] == int(flag.sum())
    assert any(a["kind"] == "likely_mislabeled" and a["filter"] == {"task": "a", "likely_mislabeled": True}
               for a in summary["alerts"])
    # inference: no gold, the training split's boundary thresholds
    icols, isum = multilabel_signals(logits[-1:], None, tasks=["a", "b"], labels=labels, binary=True,
                                     boundary_thresholds=summary["boundary_thresholds"])
    assert "gold_a" not in icols and "data_error_potential" not in icols
    assert isum["boundary_thresholds"] == summary["boundary_thresholds"]


def test_neighbour_labels_enter_dep():
    logits, noisy, _ = synthetic(n=50)
    nb = np.tile(np.arange(10), (50, 1))
    labels = [["NOT_a", "a"], ["NOT_b", "b"]]
    plain, _ = multilabel_signals(logits, noisy, tasks=["a", "b"], labels=labels, binary=True)
    knn, _ = multilabel_signals(logits, noisy, tasks=["a", "b"], labels=labels, binary=True, nb_idx=nb, ref_gold=noisy)
    assert not np.allclose(plain["data_error_potential_a"], knn["data_error_potential_a"])


# -- compute side, read side ---------------------------------------------------------------------


def test_finish_writes_per_task_results(dq_home):
    import dataquality as dq

    logits, noisy, _ = synthetic(n=40)  # (E, n, 2) binary logits of tasks a, b
    rows = [[t for t, on in zip("ab", noisy[i]) if on] for i in range(40)]
    run = dq.init("text_multi_label", project_name="p", run_name="per-task")
    dq.set_tasks_for_run(["a", "b"])
    dq.log_data_samples(texts=[f"t{i}" for i in range(40)], ids=list(range(40)), task_labels=rows,
                        split="training", meta={"src": ["x"] * 40})
    rng = np.random.default_rng(1)
    embs = rng.normal(size=(40, 8)).astype(np.float32)
    for epoch in range(logits.shape[0]):
        dq.log_model_outputs(ids=np.arange(40), embs=embs, logits=logits[epoch], split="training", epoch=epoch)
    report = run.finish(verbose=False)
    d = run.paths.results("training")
    df = pq.read_table(d / "samples.parquet").to_pandas()
    assert list(df.columns[:5]) == ["id", "text", "gold", "pred", "confidence"]
    assert {"gold_a", "pred_b", "data_error_potential_a", "confidence_b", "src", "mislabeled_tasks"} <= set(df.columns)
    assert list(df["gold"][0]) == ["a" if noisy[0, 0] else "NOT_a", "b" if noisy[0, 1] else "NOT_b"]
    assert np.load(d / "probs.npy").shape == (40, 4)
    # the sample's DEP is its highest task DEP
    np.testing.assert_allclose(df["data_error_potential"], df[["data_error_potential_a", "data_error_potential_b"]].max(axis=1))
    summary = report["splits"]["training"]["signals"]["summary"]
    assert set(summary["per_task"]) == {"a", "b"} and "micro" in summary["metrics"]
    assert summary["boundary_thresholds"].keys() == {"a", "b"}


def test_capabilities_and_filter_field():
    m = binary_manifest()
    cap = TASK.capabilities(m)
    assert cap.subtasks == TASKS and "per_task" in cap.summary_sections
    assert [f.name for f in cap.filter_fields] == ["task"] and cap.filter_fields[0].choices == tuple(TASKS)
    assert "relabel" in [a.name for a in cap.edit_actions]
    assert TASK.label_choices(m, "insult") == ["NOT_insult", "insult"]


# -- end to end --------------------------------------------------------------------------------------


def test_end_to_end_through_dq(dq_home):
    import dataquality as dq

    dq.init("text_multi_label", project_name="p", run_name="r")
    dq.set_tasks_for_run(TASKS)
    n = 30
    rng = np.random.default_rng(0)
    active = [[t for t in TASKS if rng.random() < 0.3] for _ in range(n)]
    dq.log_data_samples(texts=[f"text {i}" for i in range(n)], ids=list(range(n)), task_labels=active,
                        split="training")
    for epoch in range(2):
        dq.set_epoch(epoch)
        dq.set_split("training")
        dq.log_model_outputs(ids=np.arange(n), embs=rng.normal(size=(n, 8)).astype(np.float32),
                             logits=rng.normal(size=(n, 3)).astype(np.float32))
    dq.finish()
    df = dq.metrics.get_dataframe("p", "r", "training")
    assert len(df) == n
    assert {"gold_toxic", "pred_toxic", "data_error_potential_toxic", "confidence_toxic"} <= set(df.columns)


def test_relabel_one_task_and_export_schema():
    from dataquality.tasks.text_multi_label.read import logged_labels, relabel_task

    m = binary_manifest()
    rows = [["toxic", "NOT_insult", "NOT_threat"]]
    out = relabel_task(rows, "insult", True, m, fn=FN)
    assert out == [["toxic", "insult", "NOT_threat"]] and rows[0][1] == "NOT_insult"
    assert logged_labels(out, m) == [["toxic", "insult"]]
    with pytest.raises(ConfigurationError, match="pass `task`"):
        relabel_task(rows, None, "insult", m, fn=FN)
    with pytest.raises(LabelError, match="label of task 'threat'"):
        relabel_task(rows, "threat", "insult", m, fn=FN)
    mm = multi_manifest()
    assert relabel_task([["red", "big"]], "colour", "blue", mm, fn=FN) == [["blue", "big"]]
    assert logged_labels([["red", "big"]], mm) == [["red", "big"]]


def test_task_metrics_from_a_split_summary():
    from dataquality.tasks.text_multi_label.read import task_metrics

    logits, noisy, _ = synthetic(n=60)
    m = binary_manifest(["a", "b"])
    _, summary = multilabel_signals(logits, noisy, tasks=["a", "b"], labels=m["labels"], binary=True)
    got = task_metrics(summary, "b", m, fn=FN)
    assert got["task"] == "b" and "confusion_matrix" in got and "easy_threshold" in got
    assert got["per_class"]["b"]["f1"] == summary["metrics"]["task_f1"]["b"]
    with pytest.raises(ConfigurationError, match=r"`task` must be one of the run's tasks \['a', 'b'\]"):
        task_metrics(summary, "c", m, fn=FN)


def test_validation_dep_uses_training_neighbours_and_matches_the_definition(dq_home):
    import dataquality as dq

    logits, noisy, _ = synthetic(n=60)
    rows = [[t for t, on in zip("ab", noisy[i]) if on] for i in range(60)]
    rng = np.random.default_rng(2)
    embs = rng.normal(size=(60, 8)).astype(np.float32)
    run = dq.init("text_multi_label", project_name="p", run_name="val")
    dq.set_tasks_for_run(["a", "b"])
    dq.log_data_samples(texts=[f"t{i}" for i in range(40)], ids=list(range(40)), task_labels=rows[:40], split="training")
    dq.log_data_samples(texts=[f"v{i}" for i in range(40, 60)], ids=list(range(40, 60)), task_labels=rows[40:],
                        split="validation")
    for epoch in range(logits.shape[0]):
        dq.log_model_outputs(ids=np.arange(40), embs=embs[:40], logits=logits[epoch, :40], split="training", epoch=epoch)
    dq.log_model_outputs(ids=np.arange(40, 60), embs=embs[40:], logits=logits[-1, 40:], split="validation", epoch=3)
    run.finish(verbose=False)
    blended = dq.metrics.get_dataframe("p", "val", "validation")["data_error_potential_a"].to_numpy()
    dq.init("text_multi_label", project_name="p", run_name="val")
    dq.set_signal_settings(dep_knn_weight=1.0)  # the model's probabilities alone
    dq.finish(verbose=False)
    plain = dq.metrics.get_dataframe("p", "val", "validation")
    # by hand: DEP = (1 - margin of the gold label) / 2 on the sigmoid's [1 - s, s]
    s = 1 / (1 + np.exp(-logits[-1, 40:, 0].astype(np.float64)))
    gold = noisy[40:, 0]
    p_gold = np.where(gold == 1, s, 1 - s)
    np.testing.assert_allclose(plain["data_error_potential_a"], (1 - (2 * p_gold - 1)) / 2, atol=1e-5)
    assert not np.allclose(blended, plain["data_error_potential_a"])  # the neighbours' labels counted


def test_readers_take_task_and_edits_relabel_one_task(dq_home):
    import dataquality as dq

    finished_example("readers")
    assert dq.metrics.get_labels_for_run("p", "readers", task="insult") == ["NOT_insult", "insult"]
    assert dq.metrics.get_labels_for_run("p", "readers")[0] == ["NOT_toxic", "toxic"]
    summary = dq.metrics.get_run_summary("p", "readers", "training", task="toxic")
    assert summary["task"] == "toxic" and set(summary["per_class"]) == {"NOT_toxic", "toxic"}
    by = dq.metrics.get_metrics("p", "readers", "training", task="toxic")
    assert by["gold"].tolist() == ["NOT_toxic", "toxic"] and by["count"].sum() == 60
    df = dq.metrics.get_dataframe("p", "readers", "training")
    sub = dq.metrics.get_dataframe("p", "readers", "training", filter={"task": "toxic", "gold": ["toxic"]})
    assert len(sub) == (df["gold_toxic"] == "toxic").sum() and (sub["gold_toxic"] == "toxic").all()
    # relabel one task of the samples the filter selects; the other tasks stay as they were
    e = dq.metrics.create_edit("p", "readers", "training", "relabel", filter={"text": "alpha"}, new_label="toxic",
                               task="toxic")
    edited = dq.metrics.get_edited_dataframe("p", "readers", "training").set_index("id")
    before = df.set_index("id")
    assert e["n_samples"] > 0
    for i in edited.index[edited["edited"]]:
        assert list(edited.loc[i, "gold"])[0] == "toxic"
        assert list(edited.loc[i, "gold"])[1:] == list(before.loc[i, "gold"])[1:]
    assert edited["edited"].sum() == before["text"].str.contains("alpha").sum()
    with pytest.raises(LabelError, match="label of task 'insult'"):
        dq.metrics.create_edit("p", "readers", "training", "relabel", new_label="toxic", task="insult")
    with pytest.raises(ConfigurationError, match="one of the run's tasks"):
        dq.metrics.get_run_summary("p", "readers", "training", task="spam")
    out = dq.metrics.export_dataframe("p", "readers", "training", dq_home / "ml.parquet")
    back = pd.read_parquet(out).set_index("id")
    assert sorted(back.loc[3, "task_labels"]) == sorted(["toxic", "insult"])  # id 3 = toxic + insult, logged as active tasks


def test_task_argument_on_a_single_label_run_is_refused(dq_home):
    import dataquality as dq
    from dataquality.tasks import TASKS as REGISTRY

    ex = REGISTRY["text_classification"].example()
    run = dq.init("text_classification", project_name="p", run_name="single")
    ex.configure(dq)
    ex.log_inputs(dq)
    ex.log_outputs(dq)
    run.finish(verbose=False)
    with pytest.raises(ConfigurationError, match="task_type 'text_classification' runs have one"):
        dq.metrics.get_run_summary("p", "single", "training", task="toxic")


def test_a_later_inference_set_is_scored_against_the_stored_training(dq_home):
    import dataquality as dq

    finished_example("later")
    first = dq.metrics.get_dataframe("p", "later", "inference", "prod")
    # a later process: only a new inference set, the same embeddings and logits as "prod"
    dq.init("text_multi_label", project_name="p", run_name="later")
    dq.log_data_samples(texts=first["text"].tolist(), ids=first["id"].tolist(), split="inference",
                        inference_name="again")
    from dataquality.tasks.text_multi_label.example import example_outputs

    ids, embs, logits = example_outputs(first["id"].tolist(), 1)
    dq.log_model_outputs(ids=ids, embs=embs + 3, logits=logits, split="inference", inference_name="again")
    report = dq.finish(verbose=False)
    assert "training" in report["unchanged"] and "inference/again" in report["splits"]
    again = dq.metrics.get_dataframe("p", "later", "inference", "again").set_index("id")
    first = first.set_index("id")
    for col in ("drift_score", "is_drifted", "x", "y", "is_on_the_boundary_toxic", "pred_insult"):
        assert (again.loc[first.index, col].to_numpy() == first[col].to_numpy()).all(), col


def test_a_label_filter_without_a_task_matches_any_task(dq_home):
    import dataquality as dq

    finished_example("any")
    df = dq.metrics.get_dataframe("p", "any", "training")
    got = dq.metrics.get_dataframe("p", "any", "training", filter={"gold": ["threat"]})
    want = df[[("threat" in list(g)) for g in df["gold"]]]
    assert sorted(got["id"]) == sorted(want["id"]) and len(got) > 0
    misc = dq.metrics.get_dataframe("p", "any", "training", filter={"misclassified_only": True})
    assert sorted(misc["id"]) == sorted(df.loc[[list(g) != list(p) for g, p in zip(df["gold"], df["pred"])], "id"])


def finished_example(run_name: str):
    """The multi-label task's contract example, logged and finished as run ``p/<run_name>``."""
    import dataquality as dq
    from dataquality.tasks import TASKS as REGISTRY

    ex = REGISTRY["text_multi_label"].example()
    run = dq.init("text_multi_label", project_name="p", run_name=run_name)
    ex.configure(dq)
    ex.log_inputs(dq)
    ex.log_outputs(dq)
    run.finish(verbose=False)
    return run
