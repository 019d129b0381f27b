"""dq.set_signal_settings: validation, storage in the manifest, and recomputation at finish()."""

import json

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
from dataquality.exceptions import ConfigurationError


def _log_run(run_name="r", n=200, epochs=3, seed=0):
    rng = np.random.default_rng(seed)
    run = dq.init("text_classification", project_name="p", run_name=run_name)
    dq.set_labels_for_run(["a", "b"])
    y = rng.integers(0, 2, n)
    flip = rng.random(n) < 0.15  # 15% of the logged labels are wrong
    noisy = np.where(flip, 1 - y, y)
    dq.log_dataset(pd.DataFrame({"id": np.arange(n), "text": [f"t {i}" for i in range(n)],
                                 "label": np.array(["a", "b"])[noisy]}), split="train")
    centers = rng.normal(size=(2, 16))
    embs = centers[y] + rng.normal(size=(n, 16))
    for ep in range(epochs):
        dq.set_epoch(ep)
        dq.set_split("train")
        score = embs @ (centers[1] - centers[0]) * 0.3
        dq.log_model_outputs(ids=np.arange(n), embs=embs, logits=np.stack([-score, score], axis=1))
    return run


def test_settings_are_validated_and_name_the_setting():
    _log_run()
    with pytest.raises(ConfigurationError, match=r"dq.set_signal_settings: unknown signal setting 'nope'"):
        dq.set_signal_settings(nope=1)
    with pytest.raises(ConfigurationError, match=r"`likely_mislabeled_dep_percentile`.*\[0.0, 100.0\]; got 101"):
        dq.set_signal_settings(likely_mislabeled_dep_percentile=101)
    with pytest.raises(ConfigurationError, match=r"`drift_k`.*an integer"):
        dq.set_signal_settings(drift_k=2.5)
    with pytest.raises(ConfigurationError, match=r"`dep_knn_weight`"):
        dq.set_signal_settings(dep_knn_weight=float("nan"))
    with pytest.raises(ConfigurationError, match=r"`seed`"):
        dq.set_signal_settings(seed=True)
    # a rejected call changes nothing
    assert dq.get_run().manifest.get("signal_settings", {}) == {}


def test_settings_are_stored_and_change_the_results():
    run = _log_run()
    assert dq.set_signal_settings(likely_mislabeled_dep_percentile=0) == {"likely_mislabeled_dep_percentile": 0.0}
    dq.finish(verbose=False)
    loose = dq.metrics.get_dataframe("p", "r", "train")["likely_mislabeled"].sum()
    manifest = json.loads((run.dir / "run.json").read_text())
    assert manifest["signal_settings"] == {"likely_mislabeled_dep_percentile": 0.0}

    # a later session only changes a knob: finish() recomputes with it
    dq.init("text_classification", project_name="p", run_name="r")
    dq.set_signal_settings(likely_mislabeled_dep_percentile=95)
    report = dq.finish(verbose=False)
    assert "training" in report["splits"]
    strict = dq.metrics.get_dataframe("p", "r", "train")["likely_mislabeled"].sum()
    assert 0 < loose and strict < loose
    assert strict <= int(np.ceil(0.05 * 200)) + 1


def test_unchanged_settings_do_not_recompute():
    run = _log_run()
    dq.finish(verbose=False)
    before = (run.dir / "results" / "training" / "samples.parquet").stat().st_mtime_ns
    dq.init("text_classification", project_name="p", run_name="r")
    report = dq.finish(verbose=False)
    assert report["unchanged"] == ["training"] and report["splits"] == {}
    assert (run.dir / "results" / "training" / "samples.parquet").stat().st_mtime_ns == before


def test_kill_switch_makes_set_signal_settings_a_no_op(monkeypatch):
    monkeypatch.setenv("DQ_DISABLED", "1")
    assert dq.set_signal_settings(nope=1) is None


def test_a_later_finish_without_signals_keeps_the_training_signals():
    run = _log_run()
    dq.finish(verbose=False)
    before = (run.dir / "results" / "training" / "samples.parquet").read_bytes()
    dq.init("text_classification", project_name="p", run_name="r")
    dq.log_dataset(pd.DataFrame({"id": [0, 1], "text": ["x", "y"]}), split="inference", inference_name="later")
    dq.log_model_outputs(ids=[0, 1], embs=np.ones((2, 16)), logits=np.zeros((2, 2)), split="inference",
                         inference_name="later")
    report = dq.finish(signals=False, verbose=False)
    assert report["unchanged"] == ["training"] and list(report["splits"]) == ["inference/later"]
    assert (run.dir / "results" / "training" / "samples.parquet").read_bytes() == before
    assert "data_error_potential" in dq.metrics.get_dataframe("p", "r", "train").columns
