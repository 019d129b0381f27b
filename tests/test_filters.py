"""The filter model against pandas ground truth, over a small finished run built with the real API.

Every filter field (and combinations) selects exactly the rows a pandas / numpy re-implementation
selects on the unfiltered ``get_dataframe``; values travel as SQL parameters, never as SQL; bad
filters raise typed errors naming the field. Also: run summaries, metrics by category, alerts and
distributions, each checked against pandas.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

import dataquality as dq  # noqa: E402
import dataquality.logging.run as dq_run  # noqa: E402
from dataquality.exceptions import ConfigurationError, DataQualityError, SchemaError  # noqa: E402
from dataquality.read.filters import Filter  # noqa: E402

LABELS = ["negative", "neutral", "positive"]
NLI_LABELS = ["entailment", "neutral", "contradiction"]
PROJECT, RUN, NLI, NOSIG = "filt", "main", "nli", "nosig"
N_TRAIN, N_VAL, N_INF = 150, 60, 40
QUOTED_COL = 'we"ird'  # a meta column whose name holds a double quote
EVIL_COL = "a'b; --"  # ... and one with a quote, a semicolon and a comment
NASTY_TEXTS = [
    "it's a \"quoted\" review; fine",
    "' OR 1=1 --",
    "'; DROP TABLE samples; --",
    "100% _under_ score",
    "back\\slash and (parens) [brackets]",
]
NASTY_SOURCE = "o'brien\"; --"


def _texts(ids: np.ndarray, g: np.ndarray, rng) -> list[str]:
    words = ["good", "bad", "okay", "Great", "awful", "meh"]
    out = [f"Sample {i} is {words[(int(c) * 2 + int(rng.integers(0, 2))) % 6]} text" for i, c in zip(ids, g)]
    for j, t in enumerate(NASTY_TEXTS):  # a few texts full of SQL and regex metacharacters
        if 3 * j + 1 < len(out):
            out[3 * j + 1] = t
    return out


def make_split(n: int, start: int, rng, *, labeled: bool = True, noise: float = 0.1):
    """A dataset whose label is the true class ``g`` except for a ``noise`` fraction of samples."""
    g = rng.integers(0, 3, n)
    ids = np.arange(start, start + n)
    df = pd.DataFrame({
        "id": ids,
        "text": _texts(ids, g, rng),
        "length": rng.integers(1, 50, n),
        "source": rng.choice(["web", "app", "mail", NASTY_SOURCE], n, p=[0.3, 0.3, 0.3, 0.1]),
        "flagged": rng.random(n) < 0.3,
    })
    if labeled:
        lab = g.copy()
        flip = rng.random(n) < noise
        lab[flip] = (lab[flip] + rng.integers(1, 3, flip.sum())) % 3
        df["label"] = [LABELS[k] for k in lab]
    return df, g


def model_outputs(g: np.ndarray, rng, d: int = 16):
    """Embeddings clustered by true class, logits leaning to the true class."""
    centers = np.eye(3, d) * 4.0
    embs = centers[g] + rng.normal(size=(len(g), d))
    logits = np.eye(3)[g] * 2.0 + rng.normal(size=(len(g), 3)) * 1.2
    return embs.astype(np.float32), logits.astype(np.float32)


class _NoCurrentRun:
    """Build a run outside any test's current-run state, and leave none behind."""

    def __enter__(self):
        self.token = dq_run._current.set(None)
        self.last = dq_run._last_run
        return self

    def __exit__(self, *exc):
        dq_run._current.reset(self.token)
        dq_run._last_run = self.last


def build_main_run(root: Path, project: str = PROJECT, run: str = RUN) -> dict:
    """train (3 epochs), validation (3 epochs) and inference 'prod'; meta length/source/flagged."""
    rng = np.random.default_rng(2024)
    meta = ["length", "source", "flagged"]
    with _NoCurrentRun():
        dq.init("text_classification", project_name=project, run_name=run, root=root)
        dq.set_labels_for_run(LABELS)
        tr, gt = make_split(N_TRAIN, 0, rng)
        va, gv = make_split(N_VAL, 1000, rng)
        inf, gi = make_split(N_INF, 5000, rng, labeled=False)
        dq.log_dataset(tr, split="train", meta=meta)
        dq.log_dataset(va, split="validation", meta=meta)
        dq.log_dataset(inf, split="inference", inference_name="prod", meta=meta)
        for epoch in range(3):
            dq.set_epoch(epoch)
            for split, df, g in (("train", tr, gt), ("validation", va, gv)):
                dq.set_split(split)
                embs, logits = model_outputs(g, rng)
                dq.log_model_outputs(ids=df["id"].to_numpy(), embs=embs, logits=logits)
        dq.set_split("inference", inference_name="prod")
        embs, logits = model_outputs(gi, rng)
        dq.log_model_outputs(ids=inf["id"].to_numpy(), embs=embs, logits=logits)
        dq.finish(verbose=False)
    return {"train": tr, "validation": va, "inference": inf}


def build_nli_run(root: Path) -> pd.DataFrame:
    """An NLI run (text_pair) with meta columns whose names hold quotes, plus a run without signals."""
    rng = np.random.default_rng(7)
    n = 30
    df = pd.DataFrame({
        "id": np.arange(n),
        "text": [f"Premise {i}" for i in range(n)],
        "text_pair": [f"Hypothesis {'CAT' if i % 3 == 0 else 'dog'} {i}" for i in range(n)],
        "label": [NLI_LABELS[i % 3] for i in range(n)],
        QUOTED_COL: [f'v"{i % 2}' for i in range(n)],
        EVIL_COL: np.arange(n) % 4,
    })
    with _NoCurrentRun():
        dq.init("nli", project_name=PROJECT, run_name=NLI, root=root)
        dq.set_labels_for_run(NLI_LABELS)
        dq.log_dataset(df, split="train", meta=[QUOTED_COL, EVIL_COL])
        for epoch in range(2):
            dq.set_epoch(epoch)
            dq.set_split("train")
            dq.log_model_outputs(ids=df["id"].to_numpy(), embs=rng.normal(size=(n, 8)), logits=rng.normal(size=(n, 3)))
        dq.finish(verbose=False)

        dq.init("text_classification", project_name=PROJECT, run_name=NOSIG, root=root)
        dq.set_labels_for_run(NLI_LABELS)
        dq.log_dataset(df[["id", "text", "label"]], split="train")
        dq.set_epoch(0)
        dq.set_split("train")
        dq.log_model_outputs(ids=df["id"].to_numpy(), embs=rng.normal(size=(n, 8)), logits=rng.normal(size=(n, 3)))
        dq.finish(signals=False, verbose=False)
    return df


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("filters") / "dqhome"
    build_main_run(root)
    build_nli_run(root)
    return root


def gdf(store: Path, split: str = "train", inference_name: str = "", run: str = RUN, **kw) -> pd.DataFrame:
    return dq.metrics.get_dataframe(PROJECT, run, split, inference_name, root=store, **kw)


@pytest.fixture(scope="module")
def base(store) -> pd.DataFrame:
    return gdf(store)


def results_dir(store: Path, key: str, run: str = RUN) -> Path:
    return store / PROJECT / run / "results" / key


def assert_selects(store, filt, expected_mask, split="train", inference_name="", run=RUN):
    """``filt`` selects exactly the rows of ``expected_mask``, in file order, with the same values."""
    full = gdf(store, split, inference_name, run=run)
    mask = np.asarray(expected_mask, dtype=bool)
    got = gdf(store, split, inference_name, run=run, filter=filt)
    assert got["id"].tolist() == full.loc[mask, "id"].tolist(), filt
    # (an empty result may carry object dtypes where the full table has pandas string dtypes)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), full[mask].reset_index(drop=True),
                                  check_dtype=bool(mask.any()), check_index_type=bool(mask.any()))
    return got


# --- each field against pandas ---------------------------------------------------------------------


def _f64(s: pd.Series) -> pd.Series:
    return s.astype("float64")


def _cases(df: pd.DataFrame) -> dict:
    """name -> (filter, expected mask), thresholds taken from the data itself."""
    dep = _f64(df["data_error_potential"])
    conf = _f64(df["confidence"])
    d_lo, d_hi = float(np.sort(dep)[40]), float(np.sort(dep)[110])
    c_lo, c_hi = float(np.sort(conf)[30]), float(np.sort(conf)[120])
    ids = df["id"].to_numpy()
    some = ids[[0, 3, 17, 42, 99, 149]].tolist()
    pct = 60.0
    return {
        "ids": ({"ids": some}, df["id"].isin(some)),
        "ids_numpy": ({"ids": np.asarray(some)}, df["id"].isin(some)),
        "exclude_ids": ({"exclude_ids": some}, ~df["id"].isin(some)),
        "ids_and_exclude": ({"ids": some, "exclude_ids": some[:2]}, df["id"].isin(some[2:])),
        "text_ci": ({"text": "GREAT"}, df["text"].str.lower().str.contains("great", regex=False)),
        "text_percent": ({"text": "%"}, df["text"].str.contains("%", regex=False)),
        "text_underscore": ({"text": "_"}, df["text"].str.contains("_", regex=False)),
        "text_regex": ({"text_regex": r"^Sample 1\d is (?:good|bad)"}, df["text"].str.contains(r"^Sample 1\d is (?:good|bad)", regex=True)),
        "text_regex_case": ({"text_regex": "Great"}, df["text"].str.contains("Great", regex=True)),
        "dep_min": ({"dep_min": d_lo}, dep >= d_lo),
        "dep_max": ({"dep_max": d_hi}, dep <= d_hi),
        "dep_range": ({"dep_min": d_lo, "dep_max": d_hi}, (dep >= d_lo) & (dep <= d_hi)),
        "dep_int": ({"dep_max": 0}, dep <= 0),
        "confidence_range": ({"confidence_min": c_lo, "confidence_max": c_hi}, (conf >= c_lo) & (conf <= c_hi)),
        "confidence_np": ({"confidence_min": np.float32(c_lo)}, conf >= c_lo),
        "misclassified_only": ({"misclassified_only": True}, df["gold"] != df["pred"]),
        "misclassified_false": ({"misclassified_only": False}, np.ones(len(df), bool)),
        "gold": ({"gold": ["neutral"]}, df["gold"] == "neutral"),
        "gold_empty": ({"gold": []}, np.zeros(len(df), bool)),
        "pred": ({"pred": ["negative", "positive"]}, df["pred"].isin(["negative", "positive"])),
        "labels": ({"labels": ["neutral"]}, (df["gold"] == "neutral") | (df["pred"] == "neutral")),
        "cluster_id": ({"cluster_id": [0, 2]}, df["cluster_id"].isin([0, 2])),
        "meta_value_str": ({"meta": {"source": "web"}}, df["source"] == "web"),
        "meta_value_bool": ({"meta": {"flagged": True}}, df["flagged"]),
        "meta_value_int": ({"meta": {"length": 7}}, df["length"] == 7),
        "meta_list": ({"meta": {"source": ["web", "mail"]}}, df["source"].isin(["web", "mail"])),
        "meta_range": ({"meta": {"length": {"min": 10, "max": 30}}}, df["length"].between(10, 30)),
        "meta_min_float": ({"meta": {"length": {"min": 10.5}}}, df["length"] >= 10.5),
        "meta_in": ({"meta": {"length": {"in": [5, 6, 7, 8]}}}, df["length"].isin([5, 6, 7, 8])),
        "meta_two_columns": ({"meta": {"source": ["app"], "flagged": False}}, (df["source"] == "app") & ~df["flagged"]),
        "is_otb": ({"is_otb": True}, df["is_on_the_boundary"]),
        "is_otb_false": ({"is_otb": False}, ~df["is_on_the_boundary"]),
        "likely_mislabeled": ({"likely_mislabeled": True}, df["likely_mislabeled"]),
        "dep_percentile": ({"likely_mislabeled_dep_percentile": pct}, dep >= np.percentile(dep, pct)),
        "mislabeled_percentile": (
            {"likely_mislabeled": True, "likely_mislabeled_dep_percentile": 50},
            df["likely_mislabeled"] & (dep >= np.percentile(dep, 50)),
        ),
        "combination": (
            {"gold": ["negative", "neutral"], "dep_min": d_lo, "meta": {"flagged": False}, "text": "sample",
             "exclude_ids": some},
            df["gold"].isin(["negative", "neutral"]) & (dep >= d_lo) & ~df["flagged"]
            & df["text"].str.lower().str.contains("sample") & ~df["id"].isin(some),
        ),
        "combination_mis_cluster": (
            {"misclassified_only": True, "cluster_id": [1], "confidence_max": c_hi},
            (df["gold"] != df["pred"]) & (df["cluster_id"] == 1) & (conf <= c_hi),
        ),
    }


CASE_NAMES = [
    "ids",
    "ids_numpy",
    "exclude_ids",
    "ids_and_exclude",
    "text_ci",
    "text_percent",
    "text_underscore",
    "text_regex",
    "text_regex_case",
    "dep_min",
    "dep_max",
    "dep_range",
    "dep_int",
    "confidence_range",
    "confidence_np",
    "misclassified_only",
    "misclassified_false",
    "gold",
    "gold_empty",
    "pred",
    "labels",
    "cluster_id",
    "meta_value_str",
    "meta_value_bool",
    "meta_value_int",
    "meta_list",
    "meta_range",
    "meta_min_float",
    "meta_in",
    "meta_two_columns",
    "is_otb",
    "is_otb_false",
    "likely_mislabeled",
    "dep_percentile",
    "mislabeled_percentile",
    "combination",
    "combination_mis_cluster",
]


def test_case_names_cover_every_case(base):
    assert CASE_NAMES == list(_cases(base))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_filter_field_matches_pandas(store, base, name):
    filt, mask = _cases(base)[name]
    assert_selects(store, filt, mask)


@pytest.mark.parametrize("name", ["is_otb", "likely_mislabeled", "misclassified_only", "text_ci", "text_regex",
                                  "meta_list", "ids", "cluster_id", "dep_percentile", "meta_range"])
def test_filter_cases_are_not_trivial(base, name):
    """Guard for the test above: the conditions it checks select some rows but not all."""
    _, mask = _cases(base)[name]
    assert 0 < int(np.asarray(mask).sum()) < len(base)


def test_filter_object_and_dict_agree(store, base):
    f = Filter(gold=["positive"], dep_max=0.5, meta={"source": ["web"]})
    a = gdf(store, filter=f)
    b = gdf(store, filter=f.to_dict())
    assert a["id"].tolist() == b["id"].tolist()
    assert_selects(store, f.to_dict(), (base["gold"] == "positive") & (_f64(base["data_error_potential"]) <= 0.5)
                   & (base["source"] == "web"))


def test_empty_filter_is_everything(store, base):
    for f in ({}, Filter()):
        assert gdf(store, filter=f)["id"].tolist() == base["id"].tolist()


def test_text_matches_text_pair_on_nli(store):
    full = gdf(store, run=NLI)
    assert "text_pair" in full.columns
    mask = full["text"].str.lower().str.contains("cat") | full["text_pair"].str.lower().str.contains("cat")
    assert 0 < mask.sum() < len(full)
    assert_selects(store, {"text": "cAt"}, mask, run=NLI)
    # the premise matches too
    assert_selects(store, {"text": "premise 1"}, full["text"].str.lower().str.contains("premise 1"), run=NLI)


def test_validation_and_inference_filters(store):
    val = gdf(store, "validation")
    assert_selects(store, {"pred": ["neutral"], "is_otb": False}, (val["pred"] == "neutral") & ~val["is_on_the_boundary"],
                   split="validation")
    inf = gdf(store, "inference", "prod")
    assert_selects(store, {"meta": {"source": ["app", NASTY_SOURCE]}, "confidence_min": 0.5},
                   inf["source"].isin(["app", NASTY_SOURCE]) & (_f64(inf["confidence"]) >= 0.5),
                   split="inference", inference_name="prod")
    assert_selects(store, {"is_otb": True}, inf["is_on_the_boundary"], split="inference", inference_name="prod")


# --- lasso --------------------------------------------------------------------------------------------


def _polygons(df: pd.DataFrame) -> dict:
    x, y = df["x"].to_numpy(np.float64), df["y"].to_numpy(np.float64)
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    star = [(cx + r * np.cos(a) * w / 2, cy + r * np.sin(a) * h / 2)
            for a, r in zip(np.linspace(0, 2 * np.pi, 10, endpoint=False), [1.1, 0.35] * 5)]
    # an L: the bounding box less its densest quadrant (top right, mirrored as needed)
    sx = 1.0 if (x > cx).sum() >= (x <= cx).sum() else -1.0
    sy = 1.0 if (y > cy).sum() >= (y <= cy).sum() else -1.0
    l_shape = [(cx + sx * u * (w / 2 + 1), cy + sy * v * (h / 2 + 1))
               for u, v in [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]]
    return {
        "triangle": [(x0 - 1, y0 - 1), (x1 + 1, y0 - 1), (cx, y1 + 1)],
        "left_half": [(x0 - 1, y0 - 1), (cx, y0 - 1), (cx, y1 + 1), (x0 - 1, y1 + 1)],
        # an L shape (concave) and a star (concave, many vertices)
        "l_shape": l_shape,
        "star": star,
        "outside": [(x1 + 10, y1 + 10), (x1 + 11, y1 + 10), (x1 + 10, y1 + 11)],
    }


@pytest.mark.parametrize("shape", ["triangle", "left_half", "l_shape", "star", "outside"])
def test_lasso_matches_matplotlib(store, base, shape):
    poly = _polygons(base)[shape]
    pts = np.column_stack([base["x"].to_numpy(np.float64), base["y"].to_numpy(np.float64)])
    mask = MplPath(poly).contains_points(pts)
    if shape != "outside":
        assert 0 < mask.sum() < len(base)
    lasso = {"x": [float(p[0]) for p in poly], "y": [float(p[1]) for p in poly]}
    assert_selects(store, {"lasso": lasso}, mask)
    # with another condition
    assert_selects(store, {"lasso": lasso, "gold": ["positive"]}, mask & (base["gold"] == "positive").to_numpy())


def test_lasso_add_and_subtract(store, base):
    """A list of polygons with ops (the console's lasso add / subtract) applies them in order."""
    polys = _polygons(base)
    pts = np.column_stack([base["x"].to_numpy(np.float64), base["y"].to_numpy(np.float64)])
    tri, half, star = (MplPath(polys[k]).contains_points(pts) for k in ("triangle", "left_half", "star"))

    def poly(name, op):
        return {"x": [float(p[0]) for p in polys[name]], "y": [float(p[1]) for p in polys[name]], "op": op}

    want = (half | star) & ~tri
    assert 0 < want.sum() < len(base)
    assert_selects(store, {"lasso": [poly("left_half", "add"), poly("star", "add"), poly("triangle", "subtract")]}, want)
    # order matters: adding after subtracting puts points back
    assert_selects(store, {"lasso": [poly("left_half", "add"), poly("triangle", "subtract"), poly("star", "add")]},
                   (half & ~tri) | star)
    # a subtraction first selects nothing
    assert_selects(store, {"lasso": [poly("triangle", "subtract")]}, np.zeros(len(base), bool))


@pytest.mark.parametrize("bad", [[], [{"x": [0, 1, 2], "y": [0, 1, 2], "op": "xor"}], [{"x": [0, 1], "y": [0, 1]}],
                                 [{"x": [0, 1, float("nan")], "y": [0, 1, 2]}], ["not a polygon"],
                                 [{"x": [0, "a", 2], "y": [0, 1, 2]}]])
def test_lasso_bad_polygons(store, bad):
    with pytest.raises(ConfigurationError, match="lasso"):
        gdf(store, "train", filter={"lasso": bad})


def test_lasso_on_inference(store):
    inf = gdf(store, "inference", "prod")
    poly = _polygons(inf)["left_half"]
    mask = MplPath(poly).contains_points(np.column_stack([inf["x"], inf["y"]]).astype(np.float64))
    assert 0 < mask.sum() < len(inf)
    assert_selects(store, {"lasso": {"x": [p[0] for p in poly], "y": [p[1] for p in poly]}}, mask,
                   split="inference", inference_name="prod")


# --- similar_to ---------------------------------------------------------------------------------------


def _brute_similar(store: Path, df: pd.DataFrame, anchors: list, k: int, key: str = "training"):
    emb = np.load(results_dir(store, key) / "embeddings.npy").astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows = pd.Index(df["id"]).get_indexer(anchors)
    sims = emb[rows] @ emb.T  # (n_anchors, n)
    chosen = set(rows.tolist())
    for r in range(len(rows)):
        chosen |= set(np.argsort(-sims[r], kind="stable")[: k + 1].tolist())
    chosen = np.array(sorted(chosen))
    best = sims[:, chosen].max(axis=0)
    best[np.isin(chosen, rows)] = 1.0
    return dict(zip(df["id"].to_numpy()[chosen].tolist(), best.tolist()))


@pytest.mark.parametrize("anchors,k", [([5], 10), ([5, 6, 7], 8), ([0, 60, 120], 4), ([11], 0), ([12, 13], 200)])
def test_similar_to_matches_brute_force_cosine(store, base, anchors, k):
    expected = _brute_similar(store, base, anchors, k)
    got = gdf(store, filter={"similar_to": {"ids": anchors, "k": k}})
    assert set(got["id"].tolist()) == set(expected)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got["similarity"].to_numpy(np.float64), [expected[i] for i in got["id"]], atol=1e-5)
    # most similar first, anchors (similarity 1) included
    assert (np.diff(got["similarity"].to_numpy()) <= 1e-6).all()
    assert set(anchors) <= set(got["id"].tolist())
    # the other columns are the samples' own
    full = base.set_index("id")
    pd.testing.assert_frame_equal(got.drop(columns=["similarity"]).set_index("id"), full.loc[got["id"]])


def test_similar_to_with_other_conditions_and_get_similar(store, base):
    expected = _brute_similar(store, base, [5], 20)
    sel = base[base["id"].isin(list(expected)) & (base["gold"] == "negative")]
    got = gdf(store, filter={"similar_to": {"ids": [5], "k": 20}, "gold": ["negative"]})
    assert set(got["id"]) == set(sel["id"])
    sim = dq.metrics.get_similar(PROJECT, RUN, "train", ids=[5], k=20, root=store)
    assert set(sim["id"]) == set(expected)
    assert sim["id"].iloc[0] == 5 and sim["similarity"].iloc[0] == pytest.approx(1.0)


# --- include_embs / include_probs with a filter ---------------------------------------------------


@pytest.mark.parametrize("filt", [{"gold": ["neutral"], "dep_min": 0.1}, {"ids": [149, 3, 77]},
                                  {"similar_to": {"ids": [20], "k": 6}}, {"lasso": None}])
def test_include_embs_and_probs_follow_the_filter(store, base, filt):
    if "lasso" in filt:
        poly = _polygons(base)["triangle"]
        filt = {"lasso": {"x": [p[0] for p in poly], "y": [p[1] for p in poly]}}
    d = results_dir(store, "training")
    emb, probs = np.load(d / "embeddings.npy"), np.load(d / "probs.npy")
    got = gdf(store, filter=filt, include_embs=True, include_probs=True)
    assert 0 < len(got) < len(base)
    rows = pd.Index(base["id"]).get_indexer(got["id"])
    np.testing.assert_array_equal(np.stack(got["emb"]), emb[rows])
    np.testing.assert_array_equal(np.stack(got["prob"]), probs[rows])
    assert "_row" not in got.columns


def test_include_embs_on_inference_with_filter(store):
    inf = gdf(store, "inference", "prod")
    d = results_dir(store, "inference/prod")
    got = gdf(store, "inference", "prod", filter={"pred": ["positive"]}, include_embs=True, include_probs=True)
    assert 0 < len(got) < len(inf)
    rows = pd.Index(inf["id"]).get_indexer(got["id"])
    np.testing.assert_array_equal(np.stack(got["emb"]), np.load(d / "embeddings.npy")[rows])
    np.testing.assert_array_equal(np.stack(got["prob"]), np.load(d / "probs.npy")[rows])


# --- alerts and the filters a summary hands out ---------------------------------------------------------


@pytest.mark.parametrize("split,inference_name", [("train", ""), ("validation", ""), ("inference", "prod")])
def test_every_alert_filter_selects_count_rows(store, split, inference_name):
    alerts = dq.metrics.get_alerts(PROJECT, RUN, split, inference_name, root=store)
    for a in alerts:
        assert {"kind", "severity", "message", "count", "filter"} <= set(a)
        got = gdf(store, split, inference_name, filter=a["filter"])
        assert len(got) == a["count"], a


def test_run_has_alerts(store):
    alerts = dq.metrics.get_alerts(PROJECT, RUN, "train", root=store)
    assert alerts, "the fixture is meant to produce alerts"


def test_summary_cluster_and_pair_filters_select_their_counts(store, base):
    s = dq.metrics.get_run_summary(PROJECT, RUN, "train", root=store)
    assert s["clusters"]
    for c in s["clusters"]:
        assert len(gdf(store, filter=c["filter"])) == c["size"] == int((base["cluster_id"] == c["cluster_id"]).sum())
    for p in s["top_misclassified_pairs"]:
        assert len(gdf(store, filter=p["filter"])) == p["count"]


# --- injection safety -----------------------------------------------------------------------------------

INJECTIONS = ["' OR 1=1 --", "'; DROP TABLE samples; --", "\" OR \"1\"=\"1", "it's", "\\", "%", "a'); --"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_text_values_are_never_sql(store, base, value):
    assert_selects(store, {"text": value}, base["text"].str.lower().str.contains(value.lower(), regex=False))
    assert_selects(store, {"meta": {"source": value}}, base["source"] == value)
    assert_selects(store, {"meta": {"source": [value, "web"]}}, base["source"].isin([value, "web"]))
    assert_selects(store, {"gold": [value]}, np.zeros(len(base), bool))
    assert len(gdf(store)) == N_TRAIN  # the table is intact


def test_injection_strings_that_are_in_the_data_match_literally(store, base):
    for t in NASTY_TEXTS:
        got = gdf(store, filter={"text": t})
        assert got["text"].tolist() == [t]
    got = gdf(store, filter={"text_regex": re.escape("' OR 1=1 --")})
    assert got["text"].tolist() == ["' OR 1=1 --"]
    got = gdf(store, filter={"text_regex": "DROP TABLE samples; --$"})
    assert got["text"].tolist() == ["'; DROP TABLE samples; --"]
    assert_selects(store, {"meta": {"source": NASTY_SOURCE}}, base["source"] == NASTY_SOURCE)
    assert (base["source"] == NASTY_SOURCE).any()
    assert_selects(store, {"text_regex": "' OR 1=1 --"}, base["text"].str.contains("' OR 1=1 --", regex=True))


def test_meta_columns_with_quotes_in_their_names(store):
    full = gdf(store, run=NLI)
    assert {QUOTED_COL, EVIL_COL} <= set(full.columns)
    assert_selects(store, {"meta": {QUOTED_COL: 'v"1'}}, full[QUOTED_COL] == 'v"1', run=NLI)
    assert_selects(store, {"meta": {QUOTED_COL: ['v"0', "' OR 1=1 --"]}}, full[QUOTED_COL] == 'v"0', run=NLI)
    assert_selects(store, {"meta": {EVIL_COL: {"min": 2}}}, full[EVIL_COL] >= 2, run=NLI)
    assert_selects(store, {"meta": {EVIL_COL: {"in": [0, 3]}, QUOTED_COL: 'v"0'}},
                   full[EVIL_COL].isin([0, 3]) & (full[QUOTED_COL] == 'v"0'), run=NLI)
    m = dq.metrics.get_metrics(PROJECT, NLI, "train", category=QUOTED_COL, root=store)
    assert m.set_index(QUOTED_COL)["count"].to_dict() == full[QUOTED_COL].value_counts().to_dict()


@pytest.mark.parametrize("col", ['source" OR 1=1 --', 'source"', "source; DROP TABLE samples", '"source"'])
def test_meta_column_names_are_checked_not_spliced(store, col):
    with pytest.raises(SchemaError, match=r"filter `meta` names column"):
        gdf(store, filter={"meta": {col: "web"}})


# --- bad filters ---------------------------------------------------------------------------------------

BAD = [
    ({"bogus": 1}, ConfigurationError, r"unknown filter field\(s\) \['bogus'\]"),
    ("gold == 'x'", ConfigurationError, r"`filter` must be a dict"),
    ({"ids": 5}, ConfigurationError, r"filter `ids` must be a list"),
    ({"ids": "0,1"}, ConfigurationError, r"filter `ids` must be a list"),
    ({"exclude_ids": 3}, ConfigurationError, r"filter `exclude_ids` must be a list"),
    ({"gold": "neutral"}, ConfigurationError, r"filter `gold` must be a list"),
    ({"cluster_id": 0}, ConfigurationError, r"filter `cluster_id` must be a list"),
    ({"dep_min": "0.2"}, ConfigurationError, r"filter `dep_min` must be a number"),
    ({"dep_max": True}, ConfigurationError, r"filter `dep_max` must be a number"),
    ({"confidence_min": None, "confidence_max": [1]}, ConfigurationError, r"filter `confidence_max` must be a number"),
    ({"likely_mislabeled_dep_percentile": 101}, ConfigurationError, r"`likely_mislabeled_dep_percentile` must be in \[0, 100\]"),
    ({"likely_mislabeled_dep_percentile": -1}, ConfigurationError, r"`likely_mislabeled_dep_percentile` must be in \[0, 100\]"),
    ({"text_regex": "("}, ConfigurationError, r"filter `text_regex` is not a valid regular expression"),
    ({"text_regex": "(?=lookahead)"}, ConfigurationError, r"filter `text_regex`"),  # valid Python, not RE2
    ({"text_regex": r"(a)\1"}, ConfigurationError, r"filter `text_regex`"),  # backreference: not RE2
    ({"text": 5}, ConfigurationError, r"filter `text` must be a string"),
    ({"text_regex": ["a"]}, ConfigurationError, r"filter `text_regex` must be a string"),
    ({"misclassified_only": "yes"}, ConfigurationError, r"filter `misclassified_only` must be True or False"),
    ({"is_otb": "no"}, ConfigurationError, r"filter `is_otb` must be True or False"),
    ({"likely_mislabeled": 1}, ConfigurationError, r"filter `likely_mislabeled` must be True or False"),
    ({"lasso": {"x": [0, 1], "y": [0, 1]}}, ConfigurationError, r"filter `lasso` polygons need .* ≥ 3 finite numbers"),
    ({"lasso": {"x": [0, 1, 2]}}, ConfigurationError, r"filter `lasso` polygons need 'x' and 'y'"),
    ({"lasso": {"x": [0, 1, 2], "y": [0, 1]}}, ConfigurationError, r"filter `lasso` polygons need .* equal length"),
    ({"lasso": [[0, 0], [1, 0], [0, 1]]}, ConfigurationError, r"filter `lasso` must be"),
    ({"similar_to": [1, 2]}, ConfigurationError, r"filter `similar_to` must be"),
    ({"similar_to": {"ids": []}}, ConfigurationError, r"filter `similar_to` must be"),
    ({"similar_to": {"ids": [1], "k": "ten"}}, ConfigurationError, r"filter `similar_to`"),
    ({"similar_to": {"ids": [1], "k": -1}}, ConfigurationError, r"filter `similar_to`"),
    ({"similar_to": {"ids": [99999, 1]}}, SchemaError, r"filter `similar_to` ids \[99999\] are not in this split"),
    ({"meta": "source"}, ConfigurationError, r"filter `meta` must be a dict"),
    ({"meta": {"nope": 1}}, SchemaError, r"filter `meta` names column 'nope'"),
    ({"meta": {"length": {"between": [1, 2]}}}, ConfigurationError, r"filter `meta\['length'\]` takes 'min', 'max' or 'in'"),
    ({"meta": {"length": "abc"}}, SchemaError, r"filter `meta\['length'\]`"),
    ({"meta": {"length": {"min": "abc"}}}, SchemaError, r"filter `meta\['length'\]`"),
    ({"ids": ["0", "1"]}, SchemaError, r"filter `ids`"),
    ({"exclude_ids": ["a"]}, SchemaError, r"filter `exclude_ids`"),
]


@pytest.mark.parametrize("filt,exc,msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_filter_raises_typed_error_naming_the_field(store, filt, exc, msg):
    with pytest.raises(exc, match=msg) as info:
        gdf(store, filter=filt)
    assert "dq.metrics.get_dataframe" in str(info.value)
    assert isinstance(info.value, (DataQualityError, ValueError))


@pytest.mark.parametrize("filt,field", [
    ({"dep_min": 0.1}, "dep_min"), ({"dep_max": 0.1}, "dep_max"), ({"likely_mislabeled": True}, "likely_mislabeled"),
    ({"likely_mislabeled_dep_percentile": 50}, "likely_mislabeled_dep_percentile"),
])
def test_filter_on_a_column_the_inference_split_lacks(store, filt, field):
    with pytest.raises(SchemaError, match=rf"filter `{field}` needs column '\w+', which this split does not have"):
        gdf(store, "inference", "prod", filter=filt)


@pytest.mark.parametrize("filt,field", [
    ({"is_otb": True}, "is_otb"), ({"cluster_id": [0]}, "cluster_id"), ({"dep_min": 0.1}, "dep_min"),
    ({"likely_mislabeled": False}, "likely_mislabeled"), ({"is_drifted": True}, "is_drifted"),
])
def test_filter_on_a_column_a_split_without_signals_lacks(store, filt, field):
    with pytest.raises(SchemaError, match=rf"filter `{field}` needs column"):
        gdf(store, run=NOSIG, filter=filt)


def test_lasso_on_a_split_without_the_map(store):
    with pytest.raises(SchemaError, match=r"filter `lasso` needs the map"):
        gdf(store, run=NOSIG, filter={"lasso": {"x": [0, 1, 0], "y": [0, 0, 1]}})


def test_empty_id_lists(store, base):
    assert_selects(store, {"ids": []}, np.zeros(len(base), bool))
    assert_selects(store, {"exclude_ids": []}, np.ones(len(base), bool))
    assert_selects(store, {"cluster_id": []}, np.zeros(len(base), bool))


def test_filter_errors_in_other_functions_name_them(store):
    with pytest.raises(ConfigurationError, match=r"dq.metrics.get_run_summary: unknown filter field"):
        dq.metrics.get_run_summary(PROJECT, RUN, "train", filter={"nope": 1}, root=store)
    with pytest.raises(SchemaError, match=r"dq.metrics.get_metrics: filter `meta` names column 'nope'"):
        dq.metrics.get_metrics(PROJECT, RUN, "train", filter={"meta": {"nope": 1}}, root=store)
    with pytest.raises(ConfigurationError, match=r"dq.metrics.display_distribution: filter `dep_min` must be a number"):
        dq.metrics.display_distribution(PROJECT, RUN, "train", filter={"dep_min": "x"}, root=store)


# --- run summary, metrics, distributions ------------------------------------------------------------


def test_run_summary_unfiltered(store, base):
    s = dq.metrics.get_run_summary(PROJECT, RUN, "train", root=store)
    assert s["n_samples"] == N_TRAIN
    assert s["accuracy"] == pytest.approx((base["gold"] == base["pred"]).mean())
    cm = pd.crosstab(pd.Categorical(base["gold"], LABELS), pd.Categorical(base["pred"], LABELS), dropna=False)
    assert s["confusion_matrix"] == cm.to_numpy().tolist()


@pytest.mark.parametrize("filt", [{"meta": {"source": ["web"]}}, {"cluster_id": [1]}, {"gold": ["neutral"]},
                                  {"dep_min": 0.3, "is_otb": False}])
def test_run_summary_with_filter_recomputes(store, base, filt):
    sel = gdf(store, filter=filt)
    assert 0 < len(sel) < len(base)
    s = dq.metrics.get_run_summary(PROJECT, RUN, "train", filter=filt, root=store)
    assert s["n_samples"] == len(sel)
    assert s["filter"] == Filter.parse(filt, fn="t").to_dict()
    assert s["accuracy"] == pytest.approx((sel["gold"] == sel["pred"]).mean())
    assert s["mean_confidence"] == pytest.approx(float(sel["confidence"].mean()), rel=1e-6)
    cm = pd.crosstab(pd.Categorical(sel["gold"], LABELS), pd.Categorical(sel["pred"], LABELS), dropna=False)
    assert s["confusion_matrix"] == cm.to_numpy().tolist()
    for lab in LABELS:
        tp = int(((sel["gold"] == lab) & (sel["pred"] == lab)).sum())
        support = int((sel["gold"] == lab).sum())
        assert s["per_class"][lab]["support"] == support
        assert s["per_class"][lab]["recall"] == pytest.approx(tp / support if support else 0.0)
    for p in s["top_misclassified_pairs"]:
        assert p["count"] == int(((sel["gold"] == p["gold"]) & (sel["pred"] == p["pred"])).sum())


def test_run_summary_filter_selecting_nothing_and_inference(store):
    s = dq.metrics.get_run_summary(PROJECT, RUN, "train", filter={"ids": [-1]}, root=store)
    assert s["n_samples"] == 0 and "accuracy" not in s
    inf = gdf(store, "inference", "prod")
    s = dq.metrics.get_run_summary(PROJECT, RUN, "inference", "prod", filter={"pred": ["neutral"]}, root=store)
    assert s["n_samples"] == int((inf["pred"] == "neutral").sum())
    assert "accuracy" not in s


@pytest.mark.parametrize("category", ["gold", "pred"])
def test_get_metrics_by_label(store, base, category):
    m = dq.metrics.get_metrics(PROJECT, RUN, "train", category=category, root=store).set_index(category)
    assert m.index.tolist() == LABELS
    for lab in LABELS:
        grp = base[base[category] == lab]
        assert m.loc[lab, "count"] == len(grp)
        assert m.loc[lab, "accuracy"] == pytest.approx((grp["gold"] == grp["pred"]).mean())
        assert m.loc[lab, "mean_dep"] == pytest.approx(float(grp["data_error_potential"].mean()), rel=1e-5)
    col = "recall" if category == "gold" else "precision"
    assert m[col].to_numpy() == pytest.approx(m["accuracy"].to_numpy())


@pytest.mark.parametrize("category", ["source", "flagged"])
def test_get_metrics_by_meta_column(store, base, category):
    m = dq.metrics.get_metrics(PROJECT, RUN, "train", category=category, root=store)
    g = base.groupby(category)
    exp_count = g.size()
    exp_acc = g.apply(lambda x: (x["gold"] == x["pred"]).mean())
    assert sorted(m[category].tolist()) == sorted(exp_count.index.tolist())
    for _, row in m.iterrows():
        assert row["count"] == exp_count[row[category]]
        assert row["accuracy"] == pytest.approx(exp_acc[row[category]])


def test_get_metrics_with_filter(store, base):
    filt = {"gold": ["positive", "neutral"]}
    m = dq.metrics.get_metrics(PROJECT, RUN, "train", category="source", filter=filt, root=store)
    sel = base[base["gold"].isin(["positive", "neutral"])]
    assert m.set_index("source")["count"].to_dict() == sel["source"].value_counts().to_dict()


def test_get_metrics_binned_numeric_column_in_order(store, base):
    m = dq.metrics.get_metrics(PROJECT, RUN, "train", category="length", root=store)
    assert m["count"].sum() == N_TRAIN
    assert 2 <= len(m) <= 10
    bins = pd.qcut(base["length"], 10, duplicates="drop")
    assert sorted(m["count"].tolist()) == sorted(bins.value_counts().tolist())
    # bins come in ascending order of the values they hold
    lefts = [float(str(v).strip("([").split(",")[0]) for v in m["length"]]
    assert lefts == sorted(lefts)


def test_get_metrics_on_inference_counts_by_pred(store):
    inf = gdf(store, "inference", "prod")
    m = dq.metrics.get_metrics(PROJECT, RUN, "inference", "prod", category="pred", root=store)
    assert m.set_index("pred")["count"].to_dict() == inf["pred"].value_counts().to_dict()


@pytest.mark.parametrize("category", ["nope", "data_error_potential", "text", 'source"'])
def test_get_metrics_unknown_category(store, category):
    with pytest.raises(DataQualityError, match=r"get_metrics: `category` must be 'gold', 'pred' or a meta column") as info:
        dq.metrics.get_metrics(PROJECT, RUN, "train", category=category, root=store)
    assert isinstance(info.value, ValueError)
    assert repr(category) in str(info.value)


@pytest.mark.parametrize("column,filt", [("data_error_potential", None), ("gold", None), ("source", {"flagged": True}),
                                         ("confidence", {"gold": ["neutral"]}), ("length", None)])
def test_display_distribution_draws_and_saves(store, base, tmp_path, column, filt):
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    f = None if filt is None else ({"meta": filt} if "flagged" in filt else filt)
    ax = dq.metrics.display_distribution(PROJECT, RUN, "train", column=column, filter=f, root=store)
    try:
        assert isinstance(ax, Axes)
        assert ax.get_xlabel() == column
        n = len(gdf(store, filter=f)) if f else len(base)
        heights = sum(p.get_height() for p in ax.patches)
        assert heights == n
        assert f"{n:,}" in ax.get_title()
        out = tmp_path / f"{column}.png"
        ax.figure.savefig(out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        plt.close(ax.figure)


def test_display_distribution_dep_has_threshold_lines(store):
    import matplotlib.pyplot as plt

    ax = dq.metrics.display_distribution(PROJECT, RUN, "train", root=store)
    try:
        assert len(ax.get_lines()) == 2  # easy and hard thresholds
    finally:
        plt.close(ax.figure)


def test_display_distribution_on_given_axes_and_unknown_column(store):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert dq.metrics.display_distribution(PROJECT, RUN, "validation", column="pred", ax=ax, root=store) is ax
    finally:
        plt.close(fig)
    with pytest.raises(DataQualityError, match=r"display_distribution: `column` must be one of .*; got 'nope'"):
        dq.metrics.display_distribution(PROJECT, RUN, "train", column="nope", root=store)
    with pytest.raises(DataQualityError, match=r"`column` must be one of .*; got 'data_error_potential'"):
        dq.metrics.display_distribution(PROJECT, RUN, "inference", "prod", column="data_error_potential", root=store)


# --- task fields: compiled by the run's task -----------------------------------------------------------


def test_task_fields_compile_through_the_task_and_may_remap_core_columns():
    import duckdb
    import pyarrow as pa

    from dataquality.read.filters import compile_filter
    from dataquality.tasks import FilterField, get_task

    base = get_task("text_classification", fn="t")

    class PerTask(type(base)):  # a task whose `head` field points the label fields at its columns
        def filter_fields(self, manifest):
            return [FilterField("head", "choice", choices=("a", "b"))]

        def filter_columns(self, values, *, manifest):
            return {"gold": f"gold_{values['head']}", "pred": f"pred_{values['head']}"}

        def filter_clauses(self, values, *, manifest, columns, fn):
            return []

    t = pa.table({"id": [0, 1, 2], "gold_a": ["x", "y", "x"], "pred_a": ["x", "x", "y"],
                  "gold_b": ["y", "y", "y"], "pred_b": ["y", "y", "y"]})
    con = duckdb.connect()
    con.register("samples", t)

    def ids(filt):
        c = compile_filter(Filter(**filt), t.column_names, fn="t", task=PerTask(), manifest={})
        return [r[0] for r in con.execute(f"SELECT id FROM samples WHERE {c.where} ORDER BY id", c.params).fetchall()]

    assert ids({"head": "a", "misclassified_only": True}) == [1, 2]
    assert ids({"head": "b", "misclassified_only": True}) == []
    assert ids({"head": "a", "gold": ["x"]}) == [0, 2]
    with pytest.raises(ConfigurationError, match=r"t: filter `head` must list heads from \['a', 'b'\]; got \['c'\]"):
        compile_filter(Filter(head="c"), t.column_names, fn="t", task=PerTask(), manifest={})
    with pytest.raises(SchemaError, match=r"t: filter field\(s\) \['head'\] need the run's task type"):
        compile_filter(Filter(head="a"), t.column_names, fn="t")
