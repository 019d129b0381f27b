"""Drift and out of coverage: per-sample drift_score / is_drifted, set-level tests, alerts, later
processes and the stored IVF index, on synthetic data with a known shift."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import dataquality as dq
from dataquality.core import layout as S
from dataquality.core import vectors as similarity
from dataquality.signals import SIGNALS, SignalResult, SplitArrays, TrainingReference
from dataquality.signals.drift import (
    drift,
    drift_distance,
    knn_distance,
    mmd_permutation_test,
    neighbour_spread,
    neighbours,
    whitening,
)

LABELS = ["a", "b", "c"]
D = 16


# -- synthetic data -------------------------------------------------------------------------------


def world(seed: int = 0):
    """Three training clusters in D dimensions and a fourth, never-seen cluster (the shift)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, D)) * 1.5

    def draw(n: int, clusters, *, rng=rng):
        c = rng.choice(clusters, n)
        return (centers[c] + 0.6 * rng.normal(size=(n, D))).astype(np.float32), c

    return draw


def logits_for(c: np.ndarray, rng, *, scale: float = 3.0) -> np.ndarray:
    """Logits that favour the sample's cluster (cluster 3 maps to class 0), with noise."""
    out = rng.normal(size=(len(c), len(LABELS))).astype(np.float32)
    out[np.arange(len(c)), np.minimum(c, 2) % 3] += scale
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def arrays(emb, probs, *, split, shared, name=None, gold=None, settings=None) -> SplitArrays:
    """Arrays of a split scored against the training reference ``shared`` (a training split
    becomes that reference, as in finish())."""
    n = len(emb)
    data = SplitArrays(split=split, inference_name=name, labels=LABELS, ids=np.arange(n), gold=gold,
                       probs=probs, embeddings=emb, epoch_probs=None, epochs=[],
                       texts=pa.chunked_array([pa.array([f"t{i}" for i in range(n)])]),
                       settings=settings or {}, reference=shared)
    if split == S.TRAIN:
        shared.adopt_training(data)
    return data


def reference(n_train: int = 3000, seed: int = 0, settings=None):
    draw = world(seed)
    rng = np.random.default_rng(seed + 100)
    x, c = draw(n_train, [0, 1, 2])
    shared = TrainingReference(labels=LABELS, settings=settings or {})
    res = drift(arrays(x, softmax(logits_for(c, rng)), split=S.TRAIN, shared=shared, gold=np.minimum(c, 2),
                       settings=settings))
    assert res.columns == {}  # training itself gets no drift columns
    return draw, shared, rng


def test_in_distribution_false_positive_rate_is_near_the_quantile():
    draw, shared, rng = reference()
    x, c = draw(4000, [0, 1, 2])
    res = drift(arrays(x, softmax(logits_for(c, rng)), split=S.INFERENCE, name="same", shared=shared))
    rate = res.columns["is_drifted"].mean()
    assert 0.02 <= rate <= 0.09, rate
    assert res.summary["expected_rate"] == 0.05 and res.summary["count"] == res.columns["is_drifted"].sum()
    # the score is a percentile: roughly uniform on in-distribution data
    assert 0.4 < res.columns["drift_score"].mean() < 0.6


def test_shifted_cluster_is_flagged():
    draw, shared, rng = reference()
    x, c = draw(1000, [3])
    res = drift(arrays(x, softmax(logits_for(c, rng)), split=S.INFERENCE, name="new", shared=shared))
    assert res.columns["is_drifted"].mean() > 0.95
    assert np.median(res.columns["drift_score"]) == 1.0
    assert res.flag == "is_drifted"
    assert res.summary["mmd"]["drifted"] and res.summary["mmd"]["p_value"] < 0.01


def test_mixed_set_ranks_the_shifted_samples_first():
    from sklearn.metrics import roc_auc_score

    draw, shared, rng = reference()
    x0, c0 = draw(500, [0, 1, 2])
    x1, c1 = draw(500, [3])
    res = drift(arrays(np.concatenate([x0, x1]), softmax(logits_for(np.r_[c0, c1], rng)), split=S.INFERENCE,
                       name="mix", shared=shared))
    y = np.r_[np.zeros(500), np.ones(500)]
    assert roc_auc_score(y, res.columns["drift_score"]) > 0.98


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.0), (0.5, 0.0), (0.0, 0.25), (0.5, 0.25)])
def test_drift_score_in_unit_interval_and_monotone_in_distance(alpha, beta):
    settings = {"drift_local_scale": alpha, "drift_whitening": beta}
    draw, shared, rng = reference(settings=settings)
    x, c = draw(300, [0, 1, 2])
    away = np.random.default_rng(5).normal(size=D).astype(np.float32)
    # points walking away from the training data along one direction
    steps = np.stack([x[0] + t * 3.0 * away for t in np.linspace(0, 4, 40)]).astype(np.float32)
    q = np.concatenate([x, steps])
    res = drift(arrays(q, softmax(rng.normal(size=(len(q), 3))), split=S.TEST, shared=shared,
                       gold=np.zeros(len(q), np.int64), settings=settings))
    score, dist = res.columns["drift_score"], res.columns["knn_distance"]
    assert score.dtype == np.float32 and ((score >= 0) & (score <= 1)).all()
    walk = score[len(x) : len(x) + len(steps)]
    assert walk[0] < 0.95 and walk[-1] == 1.0  # a training-like point is not drifted; far away: 1
    # drift_score is a non-decreasing function of the drift distance (the plain mean k-NN distance
    # for alpha = 0, locally scaled otherwise), and is_drifted is that distance above the threshold
    ref = shared.drift
    d, rows = neighbours(ref, q, ref["k"])
    dk, dd = drift_distance(ref, d, rows)
    np.testing.assert_allclose(dk, dist, rtol=1e-6)
    if alpha == 0:
        np.testing.assert_array_equal(dd, dk)
    o = np.argsort(dd, kind="stable")
    assert (np.diff(score[o]) >= 0).all()
    np.testing.assert_array_equal(res.columns["is_drifted"], dd > res.summary["threshold_distance"])
    assert res.summary["local_scale_alpha"] == alpha and res.summary["whitening_beta"] == beta
    assert res.summary["k"] == 10  # the default


def test_knn_distance_by_hand_and_self_exclusion():
    x = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], np.float32)
    index = similarity.build_index(x)
    q = np.array([[2, 0]], np.float32)
    c = 1 / np.sqrt(2)
    np.testing.assert_allclose(knn_distance(index, q, 2), [(0 + (1 - c)) / 2], atol=1e-6)
    # own row excluded: x[0]'s nearest others are x[2] (1 - c) and x[1] (1)
    np.testing.assert_allclose(knn_distance(index, x[:1], 2, self_rows=np.array([0])), [(1 - c + 1) / 2], atol=1e-6)


def test_mmd_permutation_test():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    same = rng.normal(size=(200, 8))
    shifted = rng.normal(size=(200, 8)) + 0.5
    mmd_same, p_same = mmd_permutation_test(a, same, permutations=100, seed=1)
    mmd_shift, p_shift = mmd_permutation_test(a, shifted, permutations=100, seed=1)
    assert p_shift == pytest.approx(1 / 101) and mmd_shift > 10 * abs(mmd_same)
    assert p_same > 0.05


def test_mmd_permutation_test_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(25, 4)) + 0.2
    z = np.concatenate([x, y])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    kern = np.exp(-d2 / np.median(d2[np.triu_indices(len(z), 1)]))

    def stat(ix, iy):
        kxx, kyy = kern[np.ix_(ix, ix)], kern[np.ix_(iy, iy)]
        return ((kxx.sum() - np.trace(kxx)) / (len(ix) * (len(ix) - 1))
                + (kyy.sum() - np.trace(kyy)) / (len(iy) * (len(iy) - 1)) - 2 * kern[np.ix_(ix, iy)].mean())

    observed = stat(np.arange(30), np.arange(30, 55))
    perm_rng = np.random.default_rng(4)
    perms = [perm_rng.permutation(55) for _ in range(50)]
    p = (1 + sum(stat(np.sort(q[:30]), np.sort(q[30:])) >= observed - 1e-12 for q in perms)) / 51
    mmd2, p_fast = mmd_permutation_test(x, y, permutations=50, seed=4)
    assert mmd2 == pytest.approx(observed, abs=1e-10)
    assert p_fast == pytest.approx(p)


# -- through dq: finish, alerts, splits, later processes ------------------------------------------


@pytest.fixture
def no_map(monkeypatch):
    """UMAP is not what these tests are about: make it a no-op to keep them quick (replaced in
    place: the registry's order is the order signals run in)."""
    monkeypatch.setitem(SIGNALS, "map", dataclasses.replace(SIGNALS["map"], fn=lambda data: SignalResult(columns={})))


def _frame(n: int, start: int = 0, gold=None) -> pd.DataFrame:
    df = pd.DataFrame({"id": np.arange(start, start + n), "text": [f"text {i}" for i in range(start, start + n)]})
    if gold is not None:
        df["label"] = np.asarray(LABELS)[gold]
    return df


def log_training(*, n_train: int = 2000, n_val: int = 600, seed: int = 0, val_shifted: int = 0, epochs: int = 2):
    """A run with training and validation logged (validation: ``val_shifted`` samples from the unseen
    cluster at the end), not finished; returns the world's sampler."""
    draw = world(seed)
    rng = np.random.default_rng(seed + 7)
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    x, c = draw(n_train, [0, 1, 2])
    xv, cv = draw(n_val - val_shifted, [0, 1, 2])
    if val_shifted:
        xs, cs = draw(val_shifted, [3])
        xv, cv = np.concatenate([xv, xs]), np.concatenate([cv, cs])
    dq.log_dataset(_frame(n_train, gold=np.minimum(c, 2)), split="training")
    dq.log_dataset(_frame(n_val, gold=np.minimum(cv, 2) % 3), split="validation")
    for e in range(epochs):
        dq.log_model_outputs(ids=np.arange(n_train), embs=x, logits=logits_for(c, rng), split="training", epoch=e)
        dq.log_model_outputs(ids=np.arange(n_val), embs=xv, logits=logits_for(cv, rng), split="validation", epoch=e)
    return draw, rng


def log_inference(name: str, x: np.ndarray, logits: np.ndarray, start: int = 0) -> None:
    dq.log_dataset(_frame(len(x), start), split="inference", inference_name=name)
    dq.log_model_outputs(ids=np.arange(start, start + len(x)), embs=x, logits=logits, split="inference",
                         inference_name=name)


def inf_df(name: str) -> pd.DataFrame:
    return dq.metrics.get_dataframe("proj", "run", "inference", inference_name=name).sort_values("id")


def drift_summary(key: str) -> dict:
    return dq.metrics.get_summary("proj", "run")["splits"][key]["signals"]["drift"]


def test_several_inference_sets_in_one_run(no_map):
    # a fixed seed: at any seed the in-distribution MMD p-value is uniform (p < 0.01 in 1% of seeds)
    draw, rng = log_training(seed=1)
    x_same, c_same = draw(1500, [0, 1, 2])
    x_new, c_new = draw(400, [3])
    log_inference("same", x_same, logits_for(c_same, rng))
    log_inference("new", x_new, logits_for(c_new, rng))
    dq.finish(verbose=False)
    same, new = inf_df("same"), inf_df("new")
    assert len(same) == 1500 and len(new) == 400
    assert 0.02 <= same["is_drifted"].mean() <= 0.09
    assert new["is_drifted"].mean() > 0.95
    s_same, s_new = drift_summary("inference/same"), drift_summary("inference/new")
    assert not s_same["mmd"]["drifted"] and s_same["mmd"]["p_value"] > 0.01
    assert s_new["mmd"]["drifted"] and s_new["mmd"]["p_value"] < 0.01
    kinds_same = {a["kind"] for a in dq.metrics.get_alerts("proj", "run", "inference", inference_name="same")}
    kinds_new = {a["kind"] for a in dq.metrics.get_alerts("proj", "run", "inference", inference_name="new")}
    assert not kinds_same & {"drifted_samples", "set_drift", "class_distribution_shift", "confidence_drop"}
    assert {"drifted_samples", "set_drift"} <= kinds_new
    # the class and confidence tests compare with held-out validation outputs, not in-sample training
    assert s_same["reference_split"] == "validation"


def test_class_and_confidence_shift_detected_and_alert_filters_select_count_rows(no_map):
    draw, rng = log_training()
    x, c = draw(1000, [0, 1, 2])
    # in distribution by embedding, but the model now predicts class "a" with low confidence
    logits = rng.normal(scale=0.2, size=(1000, 3)).astype(np.float32)
    logits[:, 0] += 0.6
    log_inference("skewed", x, logits)
    x2, c2 = draw(1000, [0, 1, 2])
    log_inference("plain", x2, logits_for(c2, rng))
    dq.finish(verbose=False)
    s = drift_summary("inference/skewed")
    assert s["class_shift"]["p_value"] < 1e-6 and s["class_shift"]["total_variation"] > 0.3
    assert s["confidence_shift"]["p_value"] < 1e-6 and s["confidence_shift"]["mean"] < s["confidence_shift"]["train_mean"]
    plain = drift_summary("inference/plain")
    assert plain["class_shift"]["p_value"] > 0.01 and plain["confidence_shift"]["p_value"] > 0.01
    alerts = dq.metrics.get_alerts("proj", "run", "inference", inference_name="skewed")
    kinds = {a["kind"]: a for a in alerts}
    assert {"class_distribution_shift", "confidence_drop"} <= set(kinds)
    assert kinds["class_distribution_shift"]["label"] == "a"
    for a in alerts:
        got = dq.metrics.get_dataframe("proj", "run", "inference", inference_name="skewed", filter=a["filter"])
        assert len(got) == a["count"], a


def test_validation_and_test_get_out_of_coverage_columns_and_alert(no_map):
    draw, rng = log_training(val_shifted=150)
    dq.finish(verbose=False)
    val = dq.metrics.get_dataframe("proj", "run", "validation").sort_values("id")
    for col in ("drift_score", "is_drifted", "knn_distance"):
        assert col in val.columns
    flagged = val["is_drifted"].to_numpy()
    assert flagged[-150:].mean() > 0.95 and flagged[:-150].mean() < 0.1
    train = dq.metrics.get_dataframe("proj", "run", "training")
    assert "drift_score" not in train.columns
    alerts = dq.metrics.get_alerts("proj", "run", "validation")
    ooc = [a for a in alerts if a["kind"] == "out_of_coverage"]
    assert len(ooc) == 1 and ooc[0]["filter"] == {"is_drifted": True}
    assert len(dq.metrics.get_dataframe("proj", "run", "validation", filter=ooc[0]["filter"])) == ooc[0]["count"]
    assert not {"set_drift", "class_distribution_shift", "confidence_drop"} & {a["kind"] for a in alerts}


def _training_files(home) -> dict:
    out = {}
    results = home / "proj" / "run" / "results"
    for p in [*sorted((results / "training").iterdir()), similarity.index_path(results, "training")]:
        if p.exists():
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


@pytest.mark.parametrize("ivf", [False, True], ids=["exact-rebuilt", "ivf-stored"])
def test_later_inference_only_process_uses_stored_training_results(dq_home, no_map, monkeypatch, ivf):
    if ivf:
        monkeypatch.setattr(similarity, "EXACT_MAX", 500)
    similarity._load.cache_clear()
    draw, rng = log_training()
    x_same, c_same = draw(800, [0, 1, 2])
    x_new, c_new = draw(200, [3])
    x = np.concatenate([x_same, x_new])
    logits = logits_for(np.r_[c_same, c_new], rng)
    log_inference("first", x, logits)  # scored in the same process, for comparison
    dq.finish(verbose=False)
    index_file = similarity.index_path(dq_home / "proj" / "run" / "results", "training")
    assert index_file.exists() == ivf
    before = _training_files(dq_home)

    similarity._load.cache_clear()  # a new process starts with nothing in memory
    run2 = dq.init("text_classification", project_name="proj", run_name="run")
    log_inference("later", x, logits)
    report = run2.finish(verbose=False)
    assert list(report["splits"]) == ["inference/later"]
    assert {"training", "validation", "inference/first"} <= set(report["unchanged"])
    assert _training_files(dq_home) == before  # training results (and index) untouched

    first, later = inf_df("first"), inf_df("later")
    np.testing.assert_array_equal(later["drift_score"].to_numpy(), first["drift_score"].to_numpy())
    np.testing.assert_array_equal(later["is_drifted"].to_numpy(), first["is_drifted"].to_numpy())
    assert later["is_drifted"].to_numpy()[-200:].mean() > 0.95
    s1, s2 = drift_summary("inference/first"), drift_summary("inference/later")
    for key in ("threshold_distance", "count", "mmd", "class_shift", "confidence_shift", "reference_split"):
        assert s1[key] == s2[key], key
    assert s2["reference_split"] == "validation"


def test_stored_ivf_index_agrees_with_exact_search(dq_home, no_map, monkeypatch):
    def scores(exact_max: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        monkeypatch.setattr(similarity, "EXACT_MAX", exact_max)
        similarity._load.cache_clear()
        draw, rng = log_training(n_train=3000, seed=3)
        x0, c0 = draw(1000, [0, 1, 2])
        x1, c1 = draw(300, [3])
        log_inference("mix", np.concatenate([x0, x1]), logits_for(np.r_[c0, c1], rng))
        dq.finish(verbose=False)
        has_index = similarity.index_path(dq_home / "proj" / "run" / "results", "training").exists()
        out = inf_df("mix"), dq.metrics.get_dataframe("proj", "run", "validation").sort_values("id"), has_index
        dq.init("text_classification", project_name="proj", run_name="run", overwrite=True)
        return out

    exact_inf, exact_val, exact_stored = scores(similarity.EXACT_MAX)
    ivf_inf, ivf_val, ivf_stored = scores(1000)
    assert not exact_stored and ivf_stored
    for e, i in ((exact_inf, ivf_inf), (exact_val, ivf_val)):
        np.testing.assert_array_equal(e["id"].to_numpy(), i["id"].to_numpy())
        assert (e["is_drifted"].to_numpy() == i["is_drifted"].to_numpy()).mean() >= 0.97
        assert np.abs(e["drift_score"].to_numpy() - i["drift_score"].to_numpy()).mean() < 0.03
        np.testing.assert_allclose(i["knn_distance"].to_numpy(), e["knn_distance"].to_numpy(), atol=0.05)
    assert ivf_inf["is_drifted"].to_numpy()[-300:].mean() > 0.95


def test_inference_without_embeddings_still_gets_class_and_confidence_shift():
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 400
    dq.init("text_classification", project_name="p", run_name="noemb-shift")
    dq.set_labels_for_run(["a", "b"])
    y = rng.integers(0, 2, n)
    dq.log_dataset(pd.DataFrame({"id": np.arange(n), "text": ["t"] * n, "label": np.array(["a", "b"])[y]}), split="train")
    dq.log_dataset(pd.DataFrame({"id": np.arange(n), "text": ["t"] * n}), split="inference", inference_name="prod")
    dq.set_epoch(0)
    dq.set_split("train")
    logits = np.stack([-(y * 2.0 - 1), y * 2.0 - 1], axis=1) * 3 + rng.normal(size=(n, 2))
    dq.log_model_outputs(ids=np.arange(n), logits=logits, exclude_embs=True)
    dq.set_split("inference", inference_name="prod")
    # production: almost everything predicted "b", with low confidence
    prod = np.stack([np.zeros(n), 0.3 + 0.1 * rng.normal(size=n)], axis=1)
    dq.log_model_outputs(ids=np.arange(n), logits=prod, exclude_embs=True)
    dq.finish(verbose=False)
    kinds = {a["kind"]: a for a in dq.metrics.get_alerts("p", "noemb-shift", "inference", "prod")}
    assert {"class_distribution_shift", "confidence_drop"} <= set(kinds)
    for a in kinds.values():
        assert len(dq.metrics.get_dataframe("p", "noemb-shift", "inference", "prod", filter=a["filter"])) == a["count"]
    df = dq.metrics.get_dataframe("p", "noemb-shift", "inference", "prod")
    assert "is_drifted" not in df.columns  # no embeddings: no per-sample drift


# -- the drift metric: partial whitening, IVF scoring, local scale ----------------------------------


def test_whitening_flattens_the_spectrum_by_its_exponent():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 6)) * np.array([4.0, 2.0, 1.0, 1.0, 0.5, 0.25]) + 10.0  # far from the origin
    assert whitening(x, 0.0) is None
    from sklearn.covariance import ledoit_wolf

    xn = similarity.normalized(x).astype(np.float64)
    xn -= xn.mean(axis=0)
    cov, shrinkage = ledoit_wolf(xn, assume_centered=True)  # the covariance, shrunk as whitening() does
    assert 0 < shrinkage < 0.05  # 4,000 rows in 6 dimensions: hardly any
    lam = np.linalg.eigvalsh(cov)
    lam = np.maximum(lam, 1e-3 * lam.mean())
    for beta in (0.25, 0.5):
        w = whitening(x, beta).astype(np.float64)
        np.testing.assert_allclose(w, w.T, atol=1e-6)
        # the whitened covariance has eigenvalues mean(λ) · (λ / mean λ)^(1 - 2β): flat for β = 0.5
        got = np.sort(np.linalg.eigvalsh(w @ cov @ w))
        want = np.sort(lam.mean() * (lam / lam.mean()) ** (1 - 2 * beta))
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-9)


def test_whitening_weighs_a_departure_along_a_direction_training_hardly_uses_more():
    rng = np.random.default_rng(1)
    base = np.zeros(8, np.float32)
    base[0] = 5.0
    scale = np.array([0, 1.0, 0.05, 1, 1, 1, 1, 1], np.float32)  # little variance along axis 2
    train = base + rng.normal(size=(3000, 8)).astype(np.float32) * scale
    step = np.zeros((2, 8), np.float32)
    step[0, 1], step[1, 2] = 1.2, 1.2  # the same step along a busy axis and along the quiet one
    q = base + step
    scores = {}
    for beta in (0.0, 0.25):
        settings = {"drift_whitening": beta, "drift_local_scale": 0.0}
        shared = TrainingReference(labels=LABELS, settings=settings)
        drift(arrays(train, softmax(rng.normal(size=(len(train), 3))), split=S.TRAIN, shared=shared,
                     gold=np.zeros(len(train), np.int64), settings=settings))
        res = drift(arrays(q, softmax(rng.normal(size=(2, 3))), split=S.TEST, shared=shared,
                           gold=np.zeros(2, np.int64), settings=settings))
        scores[beta] = res.columns["knn_distance"]
    assert scores[0.25][1] / scores[0.25][0] > 1.5 * scores[0.0][1] / scores[0.0][0]


def test_ivf_scoring_with_whitened_queries_matches_brute_force(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 16)).astype(np.float32) + 1.0
    w = whitening(x, 0.25)
    index = similarity.build_index(x, exact_max=100, nlist=16, nprobe=16)  # every list probed: exact
    ref = {"whitening": w, "embeddings": x}
    from dataquality.signals.drift import _metric

    _metric(ref, index, x)
    assert ref["row_weights"] is not None
    q = rng.normal(size=(300, 16)).astype(np.float32) + 1.0
    d, rows = neighbours(ref, q, 5)
    zx = similarity.normalized(similarity.normalized(x) @ w)
    zq = similarity.normalized(similarity.normalized(q) @ w)
    sims = zq @ zx.T
    want_rows = np.argsort(-sims, axis=1)[:, :5]
    np.testing.assert_allclose(d, 1 - np.take_along_axis(sims, want_rows, axis=1), atol=1e-5)
    assert (rows == want_rows).mean() > 0.99  # up to ties
    # the exact path (a whitened flat index) agrees, own rows excluded
    ref_flat = {"whitening": w, "embeddings": x}
    _metric(ref_flat, similarity.build_index(x), x)
    d_flat, _ = neighbours(ref_flat, q, 5)
    np.testing.assert_allclose(d_flat, d, atol=1e-5)
    self_rows = np.arange(10)
    d_self, r_self = neighbours(ref, x[:10], 3, self_rows=self_rows)
    assert not (r_self == self_rows[:, None]).any()
    np.testing.assert_allclose(d_self, neighbours(ref_flat, x[:10], 3, self_rows=self_rows)[0], atol=1e-5)


def test_neighbour_spread_by_hand():
    x = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
    ref = {"whitening": None, "embeddings": x}
    rows = np.array([[0, 1, 2], [0, 3, -1], [2, -1, -1]])
    c = 1 - 1 / np.sqrt(2)
    got = neighbour_spread(ref, rows)
    np.testing.assert_allclose(got[:2], [1.0, c], atol=1e-6)  # orthogonal: distance 1; 45°: 1 - cos
    assert np.isnan(got[2])  # one neighbour has no spread


def test_local_scale_ranks_a_departure_from_a_tight_cluster_above_one_inside_a_loose_cluster():
    rng = np.random.default_rng(3)
    dim = 12
    a, b = np.zeros(dim, np.float32), np.zeros(dim, np.float32)
    a[0], b[1] = 10.0, 10.0
    train = np.concatenate([a + 0.1 * rng.normal(size=(1500, dim)), b + 2.0 * rng.normal(size=(1500, dim))])
    train = train.astype(np.float32)
    off = np.zeros(dim, np.float32)
    off[2] = 1.5
    q = np.stack([a + off, b + off])  # 15 standard deviations out of the tight cluster, 0.75 inside the loose one
    out = {}
    for alpha in (0.0, 1.0):
        settings = {"drift_whitening": 0.0, "drift_local_scale": alpha}
        shared = TrainingReference(labels=LABELS, settings=settings)
        drift(arrays(train, softmax(rng.normal(size=(len(train), 3))), split=S.TRAIN, shared=shared,
                     gold=np.zeros(len(train), np.int64), settings=settings))
        out[alpha] = drift(arrays(q, softmax(rng.normal(size=(2, 3))), split=S.TEST, shared=shared,
                                  gold=np.zeros(2, np.int64), settings=settings)).columns["drift_score"]
    # the plain k-NN distance cannot tell them apart; scaled by the neighbours' spread, the departure
    # from the tight cluster is unusual for its region and the point inside the loose one is not
    assert abs(out[0.0][0] - out[0.0][1]) < 0.1
    assert out[1.0][0] > 0.9 and out[1.0][0] - out[1.0][1] > 0.3


def test_drift_whitening_setting_is_checked():
    from dataquality.exceptions import ConfigurationError
    from dataquality.signals.settings import check_settings

    assert check_settings({"drift_whitening": 0.25}, fn="f") == {"drift_whitening": 0.25}
    with pytest.raises(ConfigurationError, match=r"`drift_whitening`.*partial whitening.*\[0\.0, 0\.5\]; got 0\.7"):
        check_settings({"drift_whitening": 0.7}, fn="f")


@pytest.mark.parametrize("n,d", [(500, 384), (2500, 384), (200, 64)])
def test_few_training_rows_do_not_make_new_in_distribution_data_look_drifted(n, d):
    """A whitening fitted on the rows that also give the reference distribution learns their noise:
    with 500 or 2,000 training rows of 384-d, 98% and 17% of new in-distribution rows scored as
    drifted. Fitted on other rows, shrunk (Ledoit-Wolf), and skipped below WHITEN_MIN_ROWS, the
    rate stays near the 5% the quantile says."""
    from dataquality.signals.drift import WHITEN_MIN_ROWS, metric_reference, score_drift

    rng = np.random.default_rng(0)
    scales = np.geomspace(3, 0.1, d)  # anisotropic, with a common direction, like sentence embeddings
    mu = rng.normal(size=d) * 2

    def draw(m: int) -> np.ndarray:
        return (mu + rng.normal(size=(m, d)) * scales).astype(np.float32)

    train, fresh = draw(n), draw(4000)
    ref = metric_reference(similarity.build_index(train), train, k=10, alpha=0.25, beta=0.25, quantile=0.95,
                           rng=np.random.default_rng(0))
    assert (ref["beta"] == 0.25) == (n >= WHITEN_MIN_ROWS)
    _, score, flag = score_drift(ref, fresh)
    assert 0.025 <= flag.mean() <= 0.085, flag.mean()
