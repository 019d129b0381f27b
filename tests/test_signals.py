"""Signals on small hand-computed cases (the pure functions), and end to end through dq.finish.

Every expected number below was worked out by hand from the definitions in DESIGN.md §4; the
comments show the arithmetic.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataquality as dq
import dataquality.logging.run as dq_run
from dataquality.core import layout as S
from dataquality.read.filters import Filter, compile_filter
from dataquality.signals import SIGNALS, SplitArrays, TrainingReference, run_signals
from dataquality.signals.boundary import certainty_ratio, is_on_the_boundary
from dataquality.signals.dep import (
    calibrate,
    class_thresholds,
    data_error_potential,
    knn_label_distribution,
    margin_of,
    mean_probs,
)
from dataquality.signals.dynamics import gold_margins, training_dynamics
from dataquality.signals.map import top_words
from dataquality.signals.mislabeled import confident_joint_offdiagonal, likely_mislabeled
from dataquality.signals.summary import classification_metrics, split_summary, top_misclassified_pairs
from tests.conftest import LABELS, sigmoid, softmax

NAN = np.nan


def arrays(probs, gold=None, *, epoch_probs=None, embeddings=None, split=S.TRAIN, labels=None,
           settings=None, reference=None, texts=None) -> SplitArrays:
    """A SplitArrays from plain lists; ``epoch_probs`` defaults to the final probs as one epoch.
    A training split becomes its ``reference`` (a new one if none is given), as in finish()."""
    probs = np.asarray(probs, dtype=np.float32)
    n, k = probs.shape
    if gold is not None:
        gold = np.asarray(gold, dtype=np.int64)
        if epoch_probs is None:
            epoch_probs = probs[None]
        epoch_probs = np.asarray(epoch_probs, dtype=np.float32)
    else:
        epoch_probs = None
    labels = labels or [f"c{i}" for i in range(k)]
    if reference is None:
        reference = TrainingReference(labels=labels, settings=settings or {})
    data = SplitArrays(
        split=split,
        inference_name="prod" if split == S.INFERENCE else None,
        labels=labels,
        ids=np.arange(n),
        gold=gold,
        probs=probs,
        embeddings=None if embeddings is None else np.asarray(embeddings, dtype=np.float32),
        epoch_probs=epoch_probs,
        epochs=list(range(len(epoch_probs))) if epoch_probs is not None else [],
        texts=pa.chunked_array([pa.array(texts or [f"t{i}" for i in range(n)])]),
        settings=settings or {},
        reference=reference,
    )
    if split == S.TRAIN:
        reference.adopt_training(data)
    return data


# --- training dynamics --------------------------------------------------------------------------

# E = 2 epochs, n = 3 samples, k = 3 classes; sample 1 was not logged at epoch 1 (NaN row);
# sample 2 ties: all equal at epoch 0, a two-way tie at epoch 1.
EPOCH_PROBS = np.array(
    [
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]],
        [[0.8, 0.1, 0.1], [NAN, NAN, NAN], [0.5, 0.5, 0.0]],
    ],
    dtype=np.float32,
)
GOLD = np.array([0, 0, 1])


def test_gold_margins_by_hand():
    gp, margin = gold_margins(EPOCH_PROBS, GOLD)
    assert gp.shape == margin.shape == (2, 3)
    # epoch 0: 0.6 - 0.3, 0.2 - 0.5, 1/3 - 1/3 (tie); epoch 1: 0.8 - 0.1, missing, 0.5 - 0.5 (tie)
    np.testing.assert_allclose(margin[0], [0.3, -0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(margin[1, [0, 2]], [0.7, 0.0], atol=1e-6)
    assert np.isnan(margin[1, 1]) and np.isnan(gp[1, 1])
    np.testing.assert_allclose(gp[0], [0.6, 0.2, 1 / 3], atol=1e-6)


def test_gold_margins_single_class_column_is_the_gold_probability():
    gp, margin = gold_margins(np.array([[[1.0], [1.0]]], dtype=np.float32), np.array([0, 0]))
    np.testing.assert_allclose(margin, [[1.0, 1.0]])


def test_training_dynamics_by_hand():
    res = training_dynamics(arrays(EPOCH_PROBS[-1], GOLD, epoch_probs=EPOCH_PROBS))
    c = res.columns
    # aum: mean margin over the epochs the sample was logged: (0.3+0.7)/2, -0.3 (one epoch), 0
    np.testing.assert_allclose(c["aum"], [0.5, -0.3, 0.0], atol=1e-6)
    # cartography mu = mean p(gold): (0.6+0.8)/2, 0.2, (1/3+1/2)/2 = 5/12
    np.testing.assert_allclose(c["confidence_mean"], [0.7, 0.2, 5 / 12], atol=1e-6)
    # sigma = population std of p(gold): |0.8-0.6|/2, 0 (one value), |1/2-1/3|/2 = 1/12
    np.testing.assert_allclose(c["variability"], [0.1, 0.0, 1 / 12], atol=1e-6)
    # correctness: sample 0 right twice; sample 1 wrong at epoch 0 and not logged at epoch 1;
    # sample 2 (gold 1) ties, and a tie resolves to the first class, as pred does.
    assert c["correctness"].tolist() == [2, 0, 0]
    assert c["correctness"].dtype.kind == "i"
    assert all(v.dtype == np.float32 for k, v in c.items() if k != "correctness")
    assert res.summary["epochs"] == 2
    assert res.summary["aum_mean"] == pytest.approx((0.5 - 0.3 + 0.0) / 3, abs=1e-6)


def test_training_dynamics_single_epoch():
    probs = [[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8]]
    c = training_dynamics(arrays(probs, [0, 0, 2])).columns
    np.testing.assert_allclose(c["aum"], [0.5, -0.1, 0.7], atol=1e-6)
    np.testing.assert_allclose(c["confidence_mean"], [0.7, 0.3, 0.8], atol=1e-6)
    assert c["variability"].tolist() == [0.0, 0.0, 0.0]
    assert c["correctness"].tolist() == [1, 0, 1]


# --- DEP building blocks ------------------------------------------------------------------------


def test_knn_label_distribution_with_missing_neighbours_and_prior():
    nb = np.array([[0, 1, -1], [2, 2, -1], [-1, -1, -1]])
    q = knn_label_distribution(nb, np.array([0, 1, 1]), 2, prior=np.array([0.25, 0.75]), strength=2.0)
    # counts + 2 * prior: [1, 1] + [.5, 1.5] = [1.5, 2.5] / 4; [0, 2] + [.5, 1.5] = [.5, 3.5] / 4; prior
    np.testing.assert_allclose(q, [[0.375, 0.625], [0.125, 0.875], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)


def test_knn_label_distribution_without_prior_is_the_vote_share():
    q = knn_label_distribution(np.array([[0, 1, 2, 3]]), np.array([2, 2, 0, 2]), 3,
                               prior=np.full(3, 1 / 3), strength=0.0)
    np.testing.assert_allclose(q, [[0.25, 0.0, 0.75]])


def test_class_thresholds_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.6, 0.2]])
    t = class_thresholds(p, np.array([0, 0, 1]), 3)
    # t0 = mean(0.7, 0.5); t1 = 0.6 (one sample); class 2 has no samples: 1/k
    np.testing.assert_allclose(t, [0.6, 0.6, 1 / 3])


def test_calibrate_by_hand():
    # [0.5/0.5, 0.5/0.25] = [1, 2] -> [1/3, 2/3]; equal thresholds change nothing
    np.testing.assert_allclose(calibrate(np.array([[0.5, 0.5]]), np.array([0.5, 0.25])), [[1 / 3, 2 / 3]])
    p = np.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(calibrate(p, np.array([0.4, 0.4, 0.4])), p)


def test_margin_of_by_hand_with_ties_and_one_class():
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(margin_of(p, np.array([0, 2, 1])), [0.2, -0.3, 0.0])
    np.testing.assert_allclose(margin_of(np.array([[1.0]]), np.array([0])), [1.0])


def test_mean_probs_ignores_missing_epochs():
    np.testing.assert_allclose(mean_probs(EPOCH_PROBS)[1], [0.2, 0.5, 0.3], atol=1e-6)
    np.testing.assert_allclose(mean_probs(EPOCH_PROBS)[0], [0.7, 0.2, 0.1], atol=1e-6)


# --- DEP ----------------------------------------------------------------------------------------


def test_dep_without_neighbours_by_hand():
    # thresholds t0 = (0.9 + 0.3)/2 = t1 = (0.9 + 0.3)/2 = 0.6: calibration changes nothing, and
    # DEP = (1 - margin)/2: (1 - 0.8)/2 = 0.1 twice, (1 + 0.4)/2 = 0.7 twice.
    probs = [[0.9, 0.1], [0.1, 0.9], [0.3, 0.7], [0.7, 0.3]]
    res = data_error_potential(arrays(probs, [0, 1, 0, 1]))
    np.testing.assert_allclose(res.columns["data_error_potential"], [0.1, 0.1, 0.7, 0.7], atol=1e-6)
    assert res.columns["data_error_potential"].dtype == np.float32
    s = res.summary
    assert s["easy_threshold"] == pytest.approx(0.4)  # mean
    assert s["hard_threshold"] == pytest.approx(0.7)  # mean + std = 0.4 + 0.3
    assert s["n_hard"] == 2
    assert s["uses_neighbors"] is False
    assert sum(s["histogram"]["counts"]) == 4


def test_dep_ties_are_one_half():
    res = data_error_potential(arrays([[0.5, 0.5], [0.5, 0.5]], [0, 1]))
    np.testing.assert_allclose(res.columns["data_error_potential"], [0.5, 0.5], atol=1e-6)


def _two_clusters():
    """Six samples: A = rows 0-2 near (1, 0, 0), B = rows 3-5 near (0, 0, 1); row 5 is labeled 0.

    The model says A -> [0.8, 0.2] and B -> [0.2, 0.8] (mean over two epochs).
    """
    emb = np.array([[1, 0.01, 0], [1, 0.02, 0], [1, 0.03, 0], [0, 0.01, 1], [0, 0.02, 1], [0, 0.03, 1]])
    a0, a1, b0, b1 = [0.7, 0.3], [0.9, 0.1], [0.3, 0.7], [0.1, 0.9]
    ep = np.array([[a0, a0, a0, b0, b0, b0], [a1, a1, a1, b1, b1, b1]])
    return emb, ep, [0, 0, 0, 1, 1, 0]


def test_dep_with_neighbours_by_hand():
    emb, ep, gold = _two_clusters()
    data = arrays(ep[-1], gold, epoch_probs=ep, embeddings=emb,
                  settings={"dep_knn_k": 2, "dep_prior_strength": 0.0, "dep_knn_weight": 0.5, "dep_calibration": 1.0})
    dep = data_error_potential(data).columns["data_error_potential"]
    # neighbour labels (k = 2, itself excluded): A -> [1, 0]; rows 3, 4 -> one 1 and row 5's 0 ->
    # [.5, .5]; row 5 -> [0, 1]. Blend 0.5 * model + 0.5 * q: A [.9, .1], rows 3-4 [.35, .65],
    # row 5 [.1, .9]. Thresholds: t0 = mean p0 over rows 0, 1, 2, 5 = (3 * .9 + .1)/4 = .7;
    # t1 = .65. Calibrated, and binary DEP = 1 - p(gold):
    #   A: (.1/.65) / (.9/.7 + .1/.65) = 14/131; rows 3-4: 1 - 1/(.5 + 1) = 1/3;
    #   row 5: 1 - (.1/.7) / (.1/.7 + .9/.65) = 126/139.
    np.testing.assert_allclose(dep, [14 / 131] * 3 + [1 / 3, 1 / 3] + [126 / 139], atol=1e-5)
    assert data.cache.knn_q is not None


def test_likely_mislabeled_on_the_two_clusters_by_hand():
    emb, ep, gold = _two_clusters()
    data = arrays(ep[-1], gold, epoch_probs=ep, embeddings=emb,
                  settings={"dep_knn_k": 2, "dep_prior_strength": 0.0, "dep_knn_weight": 0.5, "dep_calibration": 1.0})
    cols, summ = run_signals(data, ["data_error_potential", "likely_mislabeled"])
    # calibrated blend (see above): A [117/131, 14/131], rows 3-4 [1/3, 2/3], row 5 [13/139, 126/139];
    # thresholds t0 = (3 * 117/131 + 13/139)/4 ≈ .693, t1 = 2/3: row 5 (given 0) is confidently 1,
    # the only off-diagonal sample, so exactly one flag: the highest DEP, row 5.
    assert cols["likely_mislabeled"].tolist() == [False] * 5 + [True]
    assert summ["likely_mislabeled"]["confident_joint"][0] == [3, 1]
    assert summ["likely_mislabeled"]["estimated_label_issues"] == 1


def test_dep_is_monotone_in_disagreement():
    """A sample whose label disagrees with the model and its neighbours scores higher."""
    emb, ep, gold = _two_clusters()
    data = arrays(ep[-1], gold, epoch_probs=ep, embeddings=emb, settings={"dep_knn_k": 2})
    dep = data_error_potential(data).columns["data_error_potential"]
    assert ((dep >= 0) & (dep <= 1)).all()
    assert dep[5] > dep[[0, 1, 2, 3, 4]].max()
    # the same sample with the label the model and neighbours agree on is easy again
    gold_fixed = [0, 0, 0, 1, 1, 1]
    dep2 = data_error_potential(arrays(ep[-1], gold_fixed, epoch_probs=ep, embeddings=emb,
                                       settings={"dep_knn_k": 2})).columns["data_error_potential"]
    assert dep2[5] < 0.5 < dep[5]


def test_dep_neighbours_disagreeing_raise_dep():
    """Same probabilities; the labels around sample 0 agree with it in one case and not the other."""
    probs = np.array([[0.6, 0.4]] * 4, dtype=np.float32)
    emb = np.array([[1, 0.0], [1, 0.01], [1, 0.02], [1, 0.03]])
    s = {"dep_knn_k": 3}
    agree = data_error_potential(arrays(probs, [0, 0, 0, 0], embeddings=emb, settings=s)).columns
    disagree = data_error_potential(arrays(probs, [0, 1, 1, 1], embeddings=emb, settings=s)).columns
    assert disagree["data_error_potential"][0] > agree["data_error_potential"][0]


def test_dep_split_with_one_gold_class():
    """Every sample has the same gold; absent classes fall back to threshold 1/k."""
    probs = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.4, 0.3, 0.3]]
    res = data_error_potential(arrays(probs, [0, 0, 0]))
    dep = res.columns["data_error_potential"]
    assert np.isfinite(dep).all() and ((dep >= 0) & (dep <= 1)).all()
    assert dep[1] > dep[2] > dep[0]
    assert res.summary["easy_threshold"] <= res.summary["hard_threshold"] <= 1.0


# --- likely mislabeled --------------------------------------------------------------------------

# Thresholds t = mean probability of the class over samples labeled with it:
#   t0 = (.8 + .6)/2 = .7; t1 = (.7 + .4)/2 = .55; t2 = (.8 + .3 + .28)/3 = .46.
# Confident label = the argmax among classes with p >= t:
#   row 0: .8 >= .7 -> 0 (given 0); row 1: nothing reaches; row 2: .7 >= .55 -> 1 (given 1);
#   row 3: nothing; row 4: .8 >= .46 -> 2 (given 2); row 5: .6 >= .55 -> 1 (given 2: off);
#   row 6: .72 >= .7 -> 0 (given 2: off).
CL_P = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1],
                 [0.1, 0.1, 0.8], [0.1, 0.6, 0.3], [0.72, 0.0, 0.28]])
CL_GOLD = np.array([0, 0, 1, 1, 2, 2, 2])


def test_confident_joint_by_hand():
    off, joint = confident_joint_offdiagonal(CL_P, CL_GOLD, 3)
    assert off.tolist() == [False, False, False, False, False, True, True]
    assert joint.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]


def _cl_data(dep, **settings) -> SplitArrays:
    data = arrays(CL_P, CL_GOLD, settings=settings)
    data.columns["data_error_potential"] = np.asarray(dep, dtype=np.float32)
    data.cache.blended = CL_P  # what data_error_potential leaves for likely_mislabeled
    return data


def test_likely_mislabeled_flags_the_top_n_by_dep():
    # two off-diagonal samples -> the two highest DEP are flagged, whichever samples they are
    dep = [0.9, 0.1, 0.2, 0.8, 0.3, 0.4, 0.5]
    res = likely_mislabeled(_cl_data(dep))
    assert res.columns["likely_mislabeled"].tolist() == [True, False, False, True, False, False, False]
    assert res.flag == "likely_mislabeled"
    assert res.summary["estimated_label_issues"] == 2 and res.summary["count"] == 2
    assert res.summary["confident_joint"] == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]


def test_likely_mislabeled_percentile_knob_reduces_flags_monotonically():
    rng = np.random.default_rng(3)
    p = softmax(rng.normal(size=(200, 3)) * 2)
    gold = rng.integers(0, 3, 200)
    counts, prev = [], None
    for pct in [0, 25, 50, 80, 90, 95, 99, 100]:
        data = arrays(p, gold, settings={"likely_mislabeled_dep_percentile": pct})
        cols, summary = run_signals(data, ["data_error_potential", "likely_mislabeled"])
        flag = cols["likely_mislabeled"]
        if prev is not None:
            assert not (flag & ~prev).any()  # a stricter knob only removes flags
        prev = flag
        counts.append(int(flag.sum()))
        dep = cols["data_error_potential"]
        if flag.any():
            assert dep[flag].min() >= np.percentile(dep, pct) - 1e-7
    assert counts[0] > 0 and counts == sorted(counts, reverse=True) and counts[-1] < counts[0]


@pytest.mark.parametrize("pct", [-1, 100.5, float("nan")])
def test_likely_mislabeled_invalid_percentile_raises(pct):
    with pytest.raises(ValueError, match=r"`likely_mislabeled_dep_percentile` must be in \[0, 100\]"):
        likely_mislabeled(_cl_data([0.1] * 7, likely_mislabeled_dep_percentile=pct))


# --- on the boundary ----------------------------------------------------------------------------


def test_certainty_ratio_by_hand():
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.4, 0.4], [0.1, 0.2, 0.7]])
    np.testing.assert_allclose(certainty_ratio(p), [0.6, 1.0, 0.0, 1.0, 2 / 7], atol=1e-6)
    assert certainty_ratio(np.ones((3, 1))).tolist() == [0.0, 0.0, 0.0]


def test_boundary_threshold_is_the_training_quantile():
    # ratios 0.0, 0.1, ..., 0.9 -> the 0.5 quantile is 0.45; flags 0.5 .. 0.9
    r = np.arange(10) / 10
    p = np.stack([1 / (1 + r), r / (1 + r)], axis=1)
    res = is_on_the_boundary(arrays(p, settings={"boundary_quantile": 0.5}))
    assert res.summary["threshold"] == pytest.approx(0.45, abs=1e-6)
    assert res.columns["is_on_the_boundary"].tolist() == [False] * 5 + [True] * 5


def test_boundary_floor_keeps_confident_samples_off_the_boundary():
    p = np.array([[0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.95, 0.05]])
    res = is_on_the_boundary(arrays(p))
    assert res.summary["threshold"] == 0.25
    assert not res.columns["is_on_the_boundary"].any()


def _boundary_probs():
    train = np.array([[0.99, 0.01]] * 18 + [[0.6, 0.4], [0.55, 0.45]])  # 0.9 quantile -> floor
    # ratios 3/7 (nine) and 1 (one): validation's own 0.9 quantile (≈ 0.49) would flag only the
    # last; the training threshold 0.25 flags all ten
    val = np.array([[0.7, 0.3]] * 9 + [[0.5, 0.5]])
    return train, val


@pytest.mark.parametrize("with_embeddings", [True, False])
def test_boundary_other_splits_reuse_the_training_threshold(with_embeddings):
    train, val = _boundary_probs()
    shared = TrainingReference(labels=["c0", "c1"])
    emb_t = np.random.default_rng(0).normal(size=(len(train), 4)) if with_embeddings else None
    emb_v = np.random.default_rng(1).normal(size=(len(val), 4)) if with_embeddings else None
    t_cols, t_sum = run_signals(arrays(train, [0] * 20, embeddings=emb_t, reference=shared),
                                ["data_error_potential", "is_on_the_boundary"])
    thr = t_sum["is_on_the_boundary"]["threshold"]
    assert thr == 0.25
    v_cols, v_sum = run_signals(arrays(val, [0] * 10, embeddings=emb_v, split=S.VALIDATION, reference=shared),
                                ["is_on_the_boundary"])
    assert v_sum["is_on_the_boundary"]["threshold"] == thr
    assert v_cols["is_on_the_boundary"].all()
    i_cols, i_sum = run_signals(arrays(val, embeddings=emb_v, split=S.INFERENCE, reference=shared),
                                ["is_on_the_boundary"])
    assert i_sum["is_on_the_boundary"]["threshold"] == thr
    alone = is_on_the_boundary(arrays(val, [0] * 10, split=S.VALIDATION))
    assert alone.columns["is_on_the_boundary"].sum() == 1


def test_boundary_threshold_survives_a_later_process_without_embeddings(dq_home):
    """Training finished (no embeddings) in one process; an inference set added later."""
    train, val = _boundary_probs()
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["a", "b"])
    dq.log_dataset(pd.DataFrame({"id": np.arange(20), "text": ["t"] * 20, "label": ["a"] * 20}), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=np.arange(20), probs=train, exclude_embs=True)
    dq.finish(verbose=False)
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(pd.DataFrame({"id": np.arange(100, 110), "text": ["v"] * 10}), split="inference",
                   inference_name="later")
    dq.set_split("inference", inference_name="later")
    dq.log_model_outputs(ids=np.arange(100, 110), probs=val, exclude_embs=True)
    dq.finish(verbose=False)
    summ = dq.metrics.get_summary("proj", "run")["splits"]
    thr = summ["training"]["signals"]["is_on_the_boundary"]["threshold"]
    assert summ["inference/later"]["signals"]["is_on_the_boundary"]["threshold"] == pytest.approx(thr)
    assert dq.metrics.get_dataframe("proj", "run", "inference", "later")["is_on_the_boundary"].all()


# --- summary ------------------------------------------------------------------------------------


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d", "e"]
    gold = rng.choice([0, 1, 2, 3], 300)  # "e" has no support
    pred = np.where(rng.random(300) < 0.6, gold, rng.choice([0, 1, 3, 4], 300))
    pred[pred == 2] = 3  # "c" is never predicted
    m = classification_metrics(gold, pred, labels)
    L = list(range(5))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=L, zero_division=0)
    for i, l in enumerate(labels):
        pc = m["per_class"][l]
        assert pc["precision"] == pytest.approx(p[i]) and pc["recall"] == pytest.approx(r[i])
        assert pc["f1"] == pytest.approx(f[i]) and pc["support"] == s[i]
    assert m["per_class"]["c"]["precision"] == 0.0 and m["per_class"]["c"]["predicted"] == 0
    assert m["per_class"]["c"]["recall"] == 0.0 and m["per_class"]["c"]["support"] > 0
    assert m["per_class"]["e"]["support"] == 0 and m["per_class"]["e"]["predicted"] > 0
    cm = np.asarray(m["confusion_matrix"])
    np.testing.assert_array_equal(cm, confusion_matrix(gold, pred, labels=L))
    assert cm[:, 2].sum() == 0 and cm[4].sum() == 0
    assert m["accuracy"] == pytest.approx((gold == pred).mean())
    wp, wr, wf, _ = precision_recall_fscore_support(gold, pred, labels=L, average="weighted", zero_division=0)
    assert m["weighted"] == pytest.approx({"precision": wp, "recall": wr, "f1": wf})
    # macro over the classes present in gold
    mp, mr, mf, _ = precision_recall_fscore_support(gold, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    assert m["macro"] == pytest.approx({"precision": mp, "recall": mr, "f1": mf})


def test_classification_metrics_two_classes_by_hand():
    m = classification_metrics(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 0]), ["n", "p"])
    assert m["confusion_matrix"] == [[2, 1], [1, 1]]
    assert m["per_class"]["n"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["p"]["recall"] == pytest.approx(1 / 2)
    assert m["accuracy"] == pytest.approx(3 / 5)


def test_top_misclassified_pairs_ordering():
    cm = [[5, 3, 1], [3, 2, 0], [0, 4, 1]]
    pairs = top_misclassified_pairs(cm, ["a", "b", "c"])
    assert [(p["gold"], p["pred"], p["count"]) for p in pairs] == [("c", "b", 4), ("a", "b", 3), ("b", "a", 3), ("a", "c", 1)]
    assert pairs[0]["filter"] == {"gold": ["c"], "pred": ["b"]}
    assert len(top_misclassified_pairs(cm, ["a", "b", "c"], top=2)) == 2
    assert top_misclassified_pairs([[3, 0], [0, 2]], ["a", "b"]) == []


def _count(table: pa.Table, filt: dict) -> int:
    import duckdb

    f = Filter.parse(filt, fn="test")
    c = compile_filter(f, table.column_names, fn="test")
    con = duckdb.connect()
    con.register("samples", table)
    for name, t in c.id_tables.items():
        con.register(name, t)
    return con.execute(f"SELECT count(*) FROM samples WHERE {c.where}", c.params).fetchone()[0]


def _summary_table(data: SplitArrays, cols: dict) -> pa.Table:
    lab = np.asarray(data.labels, dtype=object)
    out = {"id": data.ids, "text": data.texts, "pred": pa.array(lab[data.pred], pa.string()),
           "confidence": data.probs.max(axis=1)}
    if data.gold is not None:
        out["gold"] = pa.array(lab[data.gold], pa.string())
    out.update({k: pa.array(v) for k, v in cols.items()})
    return pa.table(out)


def test_alert_counts_match_their_filters():
    """Each alert's filter selects exactly ``count`` samples, even at a rounded DEP threshold."""
    rng = np.random.default_rng(0)
    n = 200
    gold = np.concatenate([np.zeros(150, int), np.ones(40, int), np.full(10, 2)])  # imbalanced
    probs = softmax(rng.normal(size=(n, 3)) + 3 * np.eye(3)[gold])
    probs[gold == 2] = softmax(rng.normal(size=(10, 3)))  # class 2 is hard: low F1
    data = arrays(probs, gold, labels=LABELS)
    cols, summ = run_signals(data, ["is_misclassified", "data_error_potential", "likely_mislabeled",
                                    "is_on_the_boundary"])
    # Place one sample between mean + std and that value rounded to 4 decimals (the alert's
    # filter): the alert's count and the filter's selection must still agree.
    dep = cols["data_error_potential"].astype(np.float64)
    i = int(np.argmax(dep))
    for _ in range(50):
        hard = dep.mean() + dep.std()
        dep[i] = (hard + round(hard, 4)) / 2
    cols["data_error_potential"] = dep.astype(np.float32)
    d32 = cols["data_error_potential"].astype(np.float64)
    hard = float(cols["data_error_potential"].mean() + cols["data_error_potential"].std())
    assert min(hard, round(hard, 4)) < d32[i] < max(hard, round(hard, 4))  # set up as intended
    data.columns["data_error_potential"] = cols["data_error_potential"]
    alerts = split_summary(data).summary["alerts"]
    kinds = {a["kind"] for a in alerts}
    assert {"likely_mislabeled", "hard_for_the_model", "low_performing_class", "class_imbalance"} <= kinds
    table = _summary_table(data, cols)
    for a in alerts:
        assert isinstance(a["filter"], dict) and a["filter"]
        assert _count(table, a["filter"]) == a["count"], a


def test_split_summary_inference_has_prediction_distribution():
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]
    s = split_summary(arrays(probs, split=S.INFERENCE, labels=LABELS)).summary
    assert s["pred_distribution"] == {"negative": 2, "neutral": 1, "positive": 0}
    assert s["mean_confidence"] == pytest.approx(0.7)
    assert s["alerts"] == [] and "accuracy" not in s


# --- map ----------------------------------------------------------------------------------------


def test_top_words_are_specific_to_each_cluster():
    texts = ["apple banana fruit"] * 5 + ["engine wheel car"] * 5 + ["noise word"] * 3
    clusters = np.array([0] * 5 + [1] * 5 + [-1] * 3)
    words = top_words(texts, clusters, n_words=3)
    assert set(words) == {0, 1}
    assert set(words[0]) == {"apple", "banana", "fruit"}
    assert set(words[1]) == {"engine", "wheel", "car"}
    assert top_words(texts, np.full(13, -1)) == {}
    assert top_words([], np.array([], dtype=int)) == {}


# --- the registry -------------------------------------------------------------------------------


def test_run_signals_on_a_binary_two_class_split():
    rng = np.random.default_rng(1)
    p1 = sigmoid(rng.normal(size=50) * 3)
    probs = np.stack([1 - p1, p1], axis=1)
    gold = (rng.random(50) < p1).astype(int)
    cols, summ = run_signals(arrays(probs, gold, labels=["NOT_x", "x"]))
    assert cols["is_misclassified"].tolist() == (probs.argmax(1) != gold).tolist()
    dep = cols["data_error_potential"]
    assert ((dep >= 0) & (dep <= 1)).all()
    assert summ["summary"]["confusion_matrix"] == classification_metrics(gold, probs.argmax(1), ["a", "b"])["confusion_matrix"]
    assert summ["flags"] == {"is_misclassified": "is_misclassified", "likely_mislabeled": "likely_mislabeled",
                             "is_on_the_boundary": "is_on_the_boundary"}


def test_run_signals_skips_what_a_split_lacks():
    cols, summ = run_signals(arrays([[0.6, 0.4], [0.2, 0.8]], split=S.INFERENCE))
    assert set(cols) == {"certainty_ratio", "is_on_the_boundary"}  # no gold, no embeddings
    assert "summary" in summ and set(SIGNALS) >= {"map", "data_error_potential"}


def test_run_signals_rejects_a_column_of_the_wrong_length(monkeypatch):
    from dataquality.signals import registry

    bad = registry.Signal("bad", lambda d: registry.SignalResult({"x": np.zeros(1)}), inputs=("probs",))
    monkeypatch.setitem(registry.SIGNALS, "bad", bad)
    with pytest.raises(RuntimeError, match=r"signal 'bad' returned 1 values for column 'x'; expected 2"):
        run_signals(arrays([[0.6, 0.4], [0.2, 0.8]]), ["bad"])


# --- end to end ---------------------------------------------------------------------------------

TOPICS = [["apple", "banana", "cherry", "grape", "melon"], ["engine", "wheel", "brake", "piston", "clutch"],
          ["violin", "cello", "trumpet", "flute", "oboe"]]


def _texts(rng, topic: np.ndarray) -> list[str]:
    return [" ".join(rng.choice(TOPICS[t], 3).tolist() + ["the", "sample"]) for t in topic]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """300 training samples in 3 Gaussian clusters, 10% of labels flipped, 3 epochs in which the model
    slowly memorises the flipped labels; validation logged at ONE epoch; an inference set."""
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    d = 16
    centers = rng.normal(size=(3, d)) * 3

    def draw(n):
        c = rng.integers(0, 3, n)
        return c, (centers[c] + rng.normal(size=(n, d))).astype(np.float32)

    def logits(e, noisy, epoch):
        base = -((e[:, None, :] - centers[None]) ** 2).sum(-1) / 40.0  # nearer centre, larger logit
        mem = np.eye(3)[noisy] * 2.5 * epoch if noisy is not None else 0.0
        return (base + mem).astype(np.float32)

    c_tr, e_tr = draw(300)
    flip = rng.random(300) < 0.1
    g_tr = np.where(flip, (c_tr + rng.integers(1, 3, 300)) % 3, c_tr)
    c_va, e_va = draw(60)
    c_in, e_in = draw(40)
    token, last = dq_run._current.set(None), dq_run._last_run
    try:
        dq.init("text_classification", project_name="syn", run_name="r", root=root)
        dq.set_labels_for_run(LABELS)
        dq.log_dataset(pd.DataFrame({"id": np.arange(300), "text": _texts(rng, c_tr),
                                     "label": [LABELS[g] for g in g_tr]}), split="train")
        dq.log_dataset(pd.DataFrame({"id": np.arange(1000, 1060), "text": _texts(rng, c_va),
                                     "label": [LABELS[g] for g in c_va]}), split="validation")
        dq.log_dataset(pd.DataFrame({"id": np.arange(2000, 2040), "text": _texts(rng, c_in)}),
                       split="inference", inference_name="prod")
        for ep in range(3):
            dq.set_epoch(ep)
            dq.set_split("train")
            dq.log_model_outputs(ids=np.arange(300), embs=e_tr, logits=logits(e_tr, g_tr, ep))
        dq.set_split("validation")  # validation at the last epoch only
        dq.log_model_outputs(ids=np.arange(1000, 1060), embs=e_va, logits=logits(e_va, None, 2))
        dq.set_split("inference", inference_name="prod")
        dq.log_model_outputs(ids=np.arange(2000, 2040), embs=e_in, logits=logits(e_in, None, 2))
        dq.finish(verbose=False)
    finally:
        dq_run._current.reset(token)
        dq_run._last_run = last
    res = root / "syn" / "r" / "results"
    return {"root": root, "results": res, "flip": flip, "summary": json.loads((res / "summary.json").read_text())}


def _samples(syn, key: str) -> pd.DataFrame:
    return pq.read_table(syn["results"] / key / "samples.parquet").to_pandas()


LABELED_COLUMNS = {"data_error_potential": "f", "aum": "f", "confidence_mean": "f", "variability": "f",
                   "correctness": "i", "confidence": "f", "is_misclassified": "b", "likely_mislabeled": "b",
                   "is_on_the_boundary": "b", "cluster_id": "i", "x": "f", "y": "f"}


@pytest.mark.parametrize("key", ["training", "validation"])
def test_e2e_labeled_splits_have_every_signal_column(synthetic, key):
    df = _samples(synthetic, key)
    for col, kind in LABELED_COLUMNS.items():
        assert col in df.columns, col
        assert df[col].dtype.kind == kind, (col, df[col].dtype)
        if kind == "f":
            assert np.isfinite(df[col]).all(), col
    dep = df["data_error_potential"]
    assert ((dep >= 0) & (dep <= 1)).all()
    assert ((df["aum"] >= -1) & (df["aum"] <= 1)).all()
    assert (df["is_misclassified"] == (df["gold"] != df["pred"])).all()


def test_e2e_validation_with_one_epoch(synthetic):
    df = _samples(synthetic, "validation")
    assert (df["variability"] == 0).all()
    assert set(df["correctness"]) <= {0, 1}
    assert (df["correctness"] == (~df["is_misclassified"]).astype(int)).all()
    # AUM with one epoch is that epoch's margin: p(gold) - max other
    probs = np.load(synthetic["results"] / "validation" / "probs.npy")
    gold = df["gold"].map({l: i for i, l in enumerate(LABELS)}).to_numpy()
    np.testing.assert_allclose(df["aum"], margin_of(probs, gold), atol=1e-6)
    np.testing.assert_allclose(df["confidence_mean"], probs[np.arange(len(gold)), gold], atol=1e-6)
    dep_summary = synthetic["summary"]["splits"]["validation"]["signals"]["data_error_potential"]
    assert dep_summary["uses_neighbors"] is True


def test_e2e_training_dynamics_columns(synthetic):
    df = _samples(synthetic, "training")
    assert set(df["correctness"]) <= {0, 1, 2, 3}
    assert (df["variability"] > 0).any()


def test_e2e_flipped_labels_score_clearly_higher(synthetic):
    df = _samples(synthetic, "training")
    flip = synthetic["flip"]
    dep = df["data_error_potential"].to_numpy()
    assert dep[flip].mean() > dep[~flip].mean() + 0.3
    assert df["aum"][flip].mean() < df["aum"][~flip].mean()
    # ranking: most flipped samples are above every-but-a-few clean ones
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(flip, dep) > 0.9
    lm = df["likely_mislabeled"].to_numpy()
    assert lm.any()
    assert (lm & flip).sum() >= 0.7 * lm.sum()  # precision
    assert (lm & flip).sum() >= 0.5 * flip.sum()  # recall


def test_e2e_inference_split(synthetic):
    df = _samples(synthetic, "inference/prod")
    assert df["gold"].isna().all()
    for col in ("confidence", "is_on_the_boundary", "cluster_id", "x", "y"):
        assert col in df.columns
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    for col in ("data_error_potential", "aum", "likely_mislabeled", "is_misclassified"):
        assert col not in df.columns


def test_e2e_map_places_every_split_on_the_training_layout(synthetic):
    tr = _samples(synthetic, "training")
    assert tr["cluster_id"].dtype == np.int32
    assert (tr["cluster_id"] >= 0).mean() > 0.5
    # three well-separated topics: the training map finds (about) three clusters
    assert 2 <= tr.loc[tr.cluster_id >= 0, "cluster_id"].nunique() <= 6
    lo, hi = tr[["x", "y"]].min().to_numpy(), tr[["x", "y"]].max().to_numpy()
    span = hi - lo
    for key in ("validation", "inference/prod"):
        df = _samples(synthetic, key)
        xy = df[["x", "y"]].to_numpy()
        assert np.isfinite(xy).all()
        assert ((xy >= lo - 0.1 * span) & (xy <= hi + 0.1 * span)).all()
        assert set(df["cluster_id"]) <= set(tr["cluster_id"]) | {-1}
    # clusters' words occur in the texts of their members
    words = synthetic["summary"]["splits"]["training"]["signals"]["map"]["words"]
    assert words
    for c, ws in words.items():
        text = " ".join(tr.loc[tr.cluster_id == int(c), "text"])
        assert ws and all(w in text for w in ws)


def test_e2e_summary_json(synthetic):
    tr = synthetic["summary"]["splits"]["training"]
    s = tr["signals"]["summary"]
    df = _samples(synthetic, "training")
    assert s["accuracy"] == pytest.approx((df["gold"] == df["pred"]).mean())
    assert set(s["per_class"]) == set(LABELS)
    assert np.asarray(s["confusion_matrix"]).sum() == 300
    assert s["alerts"] and all(isinstance(a["filter"], dict) and a["filter"] for a in s["alerts"])
    assert any(a["kind"] == "likely_mislabeled" for a in s["alerts"])
    table = pq.read_table(synthetic["results"] / "training" / "samples.parquet")
    for a in s["alerts"]:
        assert _count(table, a["filter"]) == a["count"], a
    dep = tr["signals"]["data_error_potential"]
    assert 0 <= dep["easy_threshold"] <= dep["hard_threshold"] <= 1
    assert dep["easy_threshold"] == pytest.approx(df["data_error_potential"].mean(), abs=1e-5)
    assert dep["hard_threshold"] == pytest.approx(df["data_error_potential"].mean() + df["data_error_potential"].std(ddof=0), abs=1e-5)
    clusters = s["clusters"]
    assert sum(c["size"] for c in clusters) == 300
    for c in clusters:
        assert {"cluster_id", "words", "size", "mean_dep", "f1", "filter"} <= set(c)
        sub = df[df.cluster_id == c["cluster_id"]]
        assert c["mean_dep"] == pytest.approx(sub["data_error_potential"].mean(), abs=1e-5)
        assert c["filter"] == {"cluster_id": [c["cluster_id"]]}
    inf = synthetic["summary"]["splits"]["inference/prod"]["signals"]["summary"]
    assert sum(inf["pred_distribution"].values()) == 40


# --- end to end: edge cases ---------------------------------------------------------------------


def test_e2e_one_label_run_is_binary(dq_home):
    rng = np.random.default_rng(0)
    n = 40
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    gold = rng.random(n) < 0.5
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(["spam"])
    dq.log_dataset(pd.DataFrame({"id": np.arange(n), "text": [f"mail {i}" for i in range(n)],
                                 "label": np.where(gold, "spam", "NOT_spam")}), split="train")
    logit = (np.where(gold, 2.0, -2.0) + rng.normal(size=n)).astype(np.float32)
    for ep in range(2):
        dq.set_epoch(ep)
        dq.set_split("train")
        dq.log_model_outputs(ids=np.arange(n), embs=emb, logits=logit * (ep + 1))
    dq.finish(verbose=False)
    df = dq.metrics.get_dataframe("proj", "run", "training")
    p = sigmoid(logit * 2)
    np.testing.assert_allclose(df["confidence"], np.maximum(p, 1 - p), rtol=1e-5)
    assert set(df["pred"]) <= {"spam", "NOT_spam"}
    # AUM by hand: binary margin = 2 p(gold) - 1, averaged over the two epochs
    pg = lambda s: np.where(gold, sigmoid(logit * s), 1 - sigmoid(logit * s))  # noqa: E731
    np.testing.assert_allclose(df["aum"], ((2 * pg(1) - 1) + (2 * pg(2) - 1)) / 2, atol=1e-5)
    assert ((df["data_error_potential"] >= 0) & (df["data_error_potential"] <= 1)).all()
    s = dq.metrics.get_summary("proj", "run")["splits"]["training"]["signals"]["summary"]
    assert set(s["per_class"]) == {"NOT_spam", "spam"}
    assert np.asarray(s["confusion_matrix"]).shape == (2, 2)


def test_e2e_split_where_every_sample_has_the_same_gold(dq_home):
    rng = np.random.default_rng(0)
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    n_tr, n_va = 30, 12
    dq.log_dataset(pd.DataFrame({"id": np.arange(n_tr), "text": [f"t {i}" for i in range(n_tr)],
                                 "label": [LABELS[i % 3] for i in range(n_tr)]}), split="train")
    dq.log_dataset(pd.DataFrame({"id": np.arange(100, 100 + n_va), "text": [f"v {i}" for i in range(n_va)],
                                 "label": ["positive"] * n_va}), split="validation")
    dq.set_epoch(0)
    dq.set_split("train")
    dq.log_model_outputs(ids=np.arange(n_tr), embs=rng.normal(size=(n_tr, 8)), logits=rng.normal(size=(n_tr, 3)))
    dq.set_split("validation")
    logits = rng.normal(size=(n_va, 3))
    logits[:, 1] -= 10  # "neutral" is never predicted
    dq.log_model_outputs(ids=np.arange(100, 100 + n_va), embs=rng.normal(size=(n_va, 8)), logits=logits)
    dq.finish(verbose=False)
    df = dq.metrics.get_dataframe("proj", "run", "validation")
    assert (df["gold"] == "positive").all()
    assert np.isfinite(df["data_error_potential"]).all()
    s = dq.metrics.get_summary("proj", "run")["splits"]["validation"]["signals"]["summary"]
    assert s["per_class"]["negative"]["support"] == 0 and s["per_class"]["neutral"]["predicted"] == 0
    assert s["per_class"]["neutral"]["precision"] == 0.0
    cm = np.asarray(s["confusion_matrix"])
    assert cm[0].sum() == 0 and cm[1].sum() == 0 and cm[:, 1].sum() == 0 and cm[2].sum() == n_va
    assert s["per_class"]["positive"]["recall"] == pytest.approx((df["pred"] == "positive").mean())
