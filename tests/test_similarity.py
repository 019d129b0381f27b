"""Similarity search: ``dq.metrics.get_similar`` and the ``similar_to`` filter against brute-force
cosine similarity, across splits, for raw embeddings, through a stored IVF index, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
import dataquality.logging.run as dq_run
from dataquality.core import vectors as similarity
from dataquality.exceptions import (
    ConfigurationError,
    InputTypeError,
    NonFiniteError,
    RunNotFoundError,
    SchemaError,
    ShapeError,
    SplitError,
)

LABELS = ["negative", "neutral", "positive"]
PROJECT, RUN, IVF_RUN, NOEMB_RUN = "sim", "small", "ivf", "noemb"
D = 16
SIZES = {"training": 200, "validation": 60, "inference/prod": 40}
IVF_N, IVF_D, IVF_EXACT_MAX = 3_000, 32, 500


class _NoCurrentRun:
    def __enter__(self):
        self.token = dq_run._current.set(None)
        self.last = dq_run._last_run
        return self

    def __exit__(self, *exc):
        dq_run._current.reset(self.token)
        dq_run._last_run = self.last


def _clustered(n: int, d: int, rng, centers: np.ndarray) -> np.ndarray:
    c = rng.integers(0, len(centers), n)
    return (centers[c] + rng.normal(size=(n, d))).astype(np.float32)


def _log_split(df: pd.DataFrame, split: str, embs: np.ndarray, rng, inference_name: str | None = None) -> None:
    dq.set_split(split, inference_name=inference_name) if inference_name else dq.set_split(split)
    dq.log_model_outputs(ids=df["id"].to_numpy(), embs=embs, logits=rng.normal(size=(len(df), 3)).astype(np.float32))


def _frame(n: int, start: int, rng, labeled: bool = True) -> pd.DataFrame:
    df = pd.DataFrame({"id": np.arange(start, start + n), "text": [f"text {i}" for i in range(start, start + n)]})
    if labeled:
        df["label"] = rng.choice(LABELS, n)
    return df


def build_run(root: Path, run: str, sizes: dict, d: int, seed: int) -> dict[str, np.ndarray]:
    """A finished run with the given split sizes; returns each split's logged embeddings."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, d)) * 3.0
    embs, start = {}, 0
    with _NoCurrentRun():
        dq.init("text_classification", project_name=PROJECT, run_name=run, root=root)
        dq.set_labels_for_run(LABELS)
        frames = {}
        for key, n in sizes.items():
            inf = key.startswith("inference/")
            frames[key] = _frame(n, start, rng, labeled=not inf)
            start += 10_000
            if inf:
                dq.log_dataset(frames[key], split="inference", inference_name=key.split("/", 1)[1])
            else:
                dq.log_dataset(frames[key], split=key)
        dq.set_epoch(0)
        for key, df in frames.items():
            embs[key] = _clustered(len(df), d, rng, centers)
            if key.startswith("inference/"):
                _log_split(df, "inference", embs[key], rng, inference_name=key.split("/", 1)[1])
            else:
                _log_split(df, key, embs[key], rng)
        dq.finish(signals=False, verbose=False)
    return embs


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("similarity") / "dqhome"
    embs = build_run(root, RUN, SIZES, D, seed=3)
    with pytest.MonkeyPatch.context() as mp:  # finish stores an IVF index for the larger split
        mp.setattr(similarity, "EXACT_MAX", IVF_EXACT_MAX)
        ivf = build_run(root, IVF_RUN, {"training": IVF_N, "validation": 400}, IVF_D, seed=5)
    return root, {RUN: embs, IVF_RUN: ivf}


def ids_of(key: str, n: int) -> np.ndarray:
    start = {"training": 0, "validation": 10_000, "inference/prod": 20_000}[key]
    return np.arange(start, start + n)


def brute(embs: dict, keys: list[str], queries: np.ndarray, k: int, own: tuple[str, np.ndarray] | None = None,
          sizes: dict = SIZES) -> dict[tuple[str, int], float]:
    """(split, id) -> best cosine similarity: each query's k nearest across ``keys`` (own row
    excluded), union over queries, anchors at 1.0 when their split is searched."""
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cand_sims, cand_keys = [], []
    for key in keys:
        e = embs[key].astype(np.float64)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        s = q @ e.T
        if own is not None and own[0] == key:
            s[np.arange(len(q)), own[1]] = -np.inf
        cand_sims.append(s)
        cand_keys += [(key, int(i)) for i in ids_of(key, sizes[key])]
    sims = np.concatenate(cand_sims, axis=1)
    out: dict = {}
    for r in range(len(q)):
        for j in np.argsort(-sims[r], kind="stable")[:k]:
            out[cand_keys[j]] = max(out.get(cand_keys[j], -np.inf), sims[r, j])
    if own is not None and own[0] in keys:
        for row in own[1]:
            out[(own[0], int(ids_of(own[0], sizes[own[0]])[row]))] = 1.0
    return out


def as_dict(df: pd.DataFrame) -> dict[tuple[str, int], float]:
    return {(s, int(i)): float(v) for s, i, v in zip(df["split"], df["id"], df["similarity"])}


def check_against(got: pd.DataFrame, expected: dict) -> None:
    assert set(as_dict(got)) == set(expected)
    np.testing.assert_allclose([as_dict(got)[x] for x in expected], list(expected.values()), atol=1e-5)
    assert (np.diff(got["similarity"].to_numpy()) <= 1e-6).all()  # most similar first


@pytest.mark.parametrize("anchors,k,splits", [
    ([5], 10, None),
    ([5, 6, 7], 4, None),
    ([0, 99, 199], 7, ["training"]),
    ([12], 15, ["train", "validation"]),
    ([12, 40], 5, ["validation", "inference/prod"]),
    ([3], 500, ["training", "validation", "inference/prod"]),  # k beyond every split's size
])
def test_get_similar_matches_brute_force(store, anchors, k, splits):
    root, embs = store
    e = embs[RUN]
    rows = np.asarray(anchors)
    got = dq.metrics.get_similar(PROJECT, RUN, "training", ids=anchors, k=k, splits=splits, root=root)
    keys = ["training"] if splits is None else [{"train": "training"}.get(s, s) for s in splits]
    expected = brute(e, keys, e["training"][rows], k, own=("training", rows))
    check_against(got, expected)
    assert list(got.columns) == ["id", "split", "similarity", "text", "gold", "pred", "confidence"]
    # anchors at 1.0 only when their own split is searched
    anchor_rows = got[(got["split"] == "training") & got["id"].isin(anchors)]
    assert len(anchor_rows) == (len(anchors) if "training" in keys else 0)
    # the other columns are the samples' own
    for key in set(got["split"]):
        split, name = (key.split("/") + [""])[:2]
        full = dq.metrics.get_dataframe(PROJECT, RUN, split, name, root=root).set_index("id")
        part = got[got["split"] == key].set_index("id")
        for col in ("text", "gold", "pred", "confidence"):
            pd.testing.assert_series_equal(part[col], full.loc[part.index, col], check_names=False)


def test_get_similar_positional_call_and_inference_anchors(store):
    root, embs = store
    a = dq.metrics.get_similar(PROJECT, RUN, "train", [5, 9], 6, root=root)  # the old positional form
    b = dq.metrics.get_similar(PROJECT, RUN, "training", ids=[5, 9], k=6, root=root)
    pd.testing.assert_frame_equal(a, b)
    e = embs[RUN]
    got = dq.metrics.get_similar(PROJECT, RUN, "inference", ids=[20_003], k=5, inference_name="prod",
                                 splits=["training", "inference/prod"], root=root)
    check_against(got, brute(e, ["training", "inference/prod"], e["inference/prod"][[3]], 5,
                             own=("inference/prod", np.array([3]))))
    inf = got[got["split"] == "inference/prod"]
    assert inf["gold"].isna().all() and (inf["id"] == 20_003).any()


def test_get_similar_raw_embedding(store):
    root, embs = store
    e = embs[RUN]
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, D)).astype(np.float32)
    got = dq.metrics.get_similar(PROJECT, RUN, "training", embedding=q, k=8, splits=["training", "validation"], root=root)
    check_against(got, brute(e, ["training", "validation"], q, 8))
    one = dq.metrics.get_similar(PROJECT, RUN, "training", embedding=q[0].tolist(), k=8, root=root)
    check_against(one, brute(e, ["training"], q[:1], 8))
    # a sample's own embedding finds that sample (no anchor to exclude), at similarity 1
    own = dq.metrics.get_similar(PROJECT, RUN, "validation", embedding=e["validation"][4], k=3, root=root)
    assert own["id"].iloc[0] == 10_004 and own["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert len(own) == 3


def test_similar_to_filter_and_get_similar_agree(store):
    root, embs = store
    got = dq.metrics.get_dataframe(PROJECT, RUN, "validation", filter={"similar_to": {"ids": [10_002, 10_030], "k": 6}},
                                   root=root)
    e = embs[RUN]
    rows = np.array([2, 30])
    check_against(got.assign(split="validation"), brute(e, ["validation"], e["validation"][rows], 6, own=("validation", rows)))
    sim = dq.metrics.get_similar(PROJECT, RUN, "validation", ids=[10_002, 10_030], k=6, root=root)
    assert set(sim["id"]) == set(got["id"])


# --- the IVF path: an index stored at finish, loaded lazily -------------------------------------------


def test_finish_stores_an_ivf_index_and_load_index_reads_it(store):
    import faiss

    root, _ = store
    results = root / PROJECT / IVF_RUN / "results"
    assert similarity.index_path(results, "training").exists()
    assert not similarity.index_path(results, "validation").exists()  # small: exact, built on demand
    index = similarity.load_index(results, "training")
    assert isinstance(index, faiss.IndexIVFFlat) and index.ntotal == IVF_N and index.nprobe == similarity.NPROBE
    assert isinstance(similarity.load_index(results, "validation"), faiss.IndexFlatIP)
    assert similarity.load_index(results, "training") is index  # cached


def _recall(got: pd.DataFrame, expected: dict, anchors: int) -> float:
    found = set(as_dict(got)) & set(expected)
    return (len(found) - anchors) / (len(expected) - anchors)


def test_ivf_get_similar_recall_and_exact_scores(store):
    root, embs = store
    e = embs[IVF_RUN]
    sizes = {"training": IVF_N, "validation": 400}
    anchors = np.arange(0, IVF_N, 60)  # 50 anchors
    got = dq.metrics.get_similar(PROJECT, IVF_RUN, "training", ids=anchors.tolist(), k=10, root=root)
    expected = brute(e, ["training"], e["training"][anchors], 10, own=("training", anchors), sizes=sizes)
    assert _recall(got, expected, len(anchors)) >= 0.9
    # every similarity returned is the exact cosine of that sample to one of the anchors
    n = e["training"] / np.linalg.norm(e["training"], axis=1, keepdims=True)
    to_anchors = n[got["id"].to_numpy()] @ n[anchors].T  # (found, anchors)
    gap = np.abs(to_anchors - got["similarity"].to_numpy()[:, None]).min(axis=1)
    assert gap.max() < 1e-4
    assert (got[got["id"].isin(anchors)]["similarity"] == 1.0).all()
    # across the IVF split and the exact one
    both = dq.metrics.get_similar(PROJECT, IVF_RUN, "validation", ids=[10_001, 10_002], k=10,
                                  splits=["validation", "training"], root=root)
    exp = brute(e, ["validation", "training"], e["validation"][[1, 2]], 10, own=("validation", np.array([1, 2])),
                sizes=sizes)
    assert _recall(both, exp, 2) >= 0.9


def test_ivf_similar_to_filter_uses_the_index(store, monkeypatch):
    root, embs = store
    e = embs[IVF_RUN]
    calls = []
    real = similarity.load_index
    monkeypatch.setattr(similarity, "load_index", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    anchors = [7, 1500, 2999]
    got = dq.metrics.get_dataframe(PROJECT, IVF_RUN, "training", filter={"similar_to": {"ids": anchors, "k": 20}},
                                   root=root)
    assert calls == ["training"]
    expected = brute(e, ["training"], e["training"][anchors], 20, own=("training", np.array(anchors)),
                     sizes={"training": IVF_N})
    assert _recall(got.assign(split="training"), expected, len(anchors)) >= 0.9
    sim = dq.metrics.get_similar(PROJECT, IVF_RUN, "training", ids=anchors, k=20, root=root)
    assert set(sim["id"]) == set(got["id"])


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw,exc,msg", [
    ({"ids": [5, 99_999]}, SchemaError, r"get_similar: `ids` \[99999\] are not in split 'training'"),
    ({"ids": ["nope"]}, SchemaError, r"`ids` \['nope'\] are not in split"),
    ({"ids": []}, ConfigurationError, r"`ids` is empty"),
    ({"embedding": np.zeros(D + 1)}, ShapeError, r"get_similar: `embedding` must have 16 columns, .* got shape \(1, 17\)"),
    ({"embedding": np.zeros((2, 3, D))}, ShapeError, r"`embedding` must have shape \(d,\) or \(m, d\)"),
    ({"embedding": [np.nan] * D}, NonFiniteError, r"`embedding` contains NaN"),
    ({"embedding": ["a"] * D}, InputTypeError, r"`embedding` must be a numeric"),
    ({}, ConfigurationError, r"exactly one of `ids` .* or `embedding`.*neither"),
    ({"ids": [5], "embedding": np.zeros(D)}, ConfigurationError, r"exactly one of `ids`.*both"),
    ({"ids": [5], "k": 0}, ConfigurationError, r"get_similar: `k` must be ≥ 1 .*got 0"),
    ({"ids": [5], "k": -3}, ConfigurationError, r"`k` must be ≥ 1"),
    ({"ids": [5], "k": 2.5}, InputTypeError, r"`k` must be an integer"),
    ({"ids": [5], "k": True}, InputTypeError, r"`k` must be an integer"),
    ({"ids": [5], "splits": ["bogus"]}, SplitError, r"get_similar: `splits` entries must be split names .* got 'bogus'"),
    ({"ids": [5], "splits": ["inference"]}, SplitError, r"`splits` names inference sets as 'inference/<name>'"),
    ({"ids": [5], "splits": ["inference/nope"]}, RunNotFoundError, r"`splits` names 'inference/nope', which has no results"),
    ({"ids": [5], "splits": ["test"]}, RunNotFoundError, r"`splits` names 'test'"),
    ({"ids": [5], "splits": []}, ConfigurationError, r"`splits` is empty"),
    ({"ids": [5], "splits": [3]}, InputTypeError, r"`splits` must be a split name"),
])
def test_get_similar_errors(store, kw, exc, msg):
    root, _ = store
    with pytest.raises(exc, match=msg):
        dq.metrics.get_similar(PROJECT, RUN, "training", root=root, **kw)


def test_get_similar_unknown_split_and_run(store):
    root, _ = store
    with pytest.raises(SplitError, match=r"get_similar: `split` must be one of"):
        dq.metrics.get_similar(PROJECT, RUN, "bogus", ids=[1], root=root)
    with pytest.raises(RunNotFoundError, match=r"no results for split 'test'"):
        dq.metrics.get_similar(PROJECT, RUN, "test", ids=[1], root=root)
    with pytest.raises(RunNotFoundError):
        dq.metrics.get_similar(PROJECT, "missing", "training", ids=[1], root=root)


def test_mixed_embedding_widths_are_refused(store):
    root, _ = store
    # the IVF run's splits are 32-d; searching them with a 16-d vector names `embedding`
    with pytest.raises(ShapeError, match=r"`embedding` must have 32 columns"):
        dq.metrics.get_similar(PROJECT, IVF_RUN, "training", embedding=np.ones(D), root=root)


def test_split_without_embeddings(store, tmp_path):
    root, _ = store
    rng = np.random.default_rng(1)
    with _NoCurrentRun():
        dq.init("text_classification", project_name=PROJECT, run_name=NOEMB_RUN, root=root)
        dq.set_labels_for_run(LABELS)
        dq.log_dataset(_frame(10, 0, rng), split="train")
        dq.set_epoch(0)
        dq.set_split("train")
        dq.log_model_outputs(ids=np.arange(10), logits=rng.normal(size=(10, 3)), exclude_embs=True)
        dq.finish(signals=False, verbose=False)
    with pytest.raises(SchemaError, match=r"get_similar: split 'training' has no embeddings"):
        dq.metrics.get_similar(PROJECT, NOEMB_RUN, "training", ids=[1], root=root)
    with pytest.raises(SchemaError, match=r"get_dataframe: filter `similar_to` needs embeddings"):
        dq.metrics.get_dataframe(PROJECT, NOEMB_RUN, "training", filter={"similar_to": {"ids": [1]}}, root=root)
