"""Drift (inference) and out-of-coverage (validation, test) per sample and per set.

Per sample: the *k-NN distance* is the mean cosine distance from the sample's embedding to its
``drift_k`` (default 5) nearest training embeddings, in the full embedding space. The training
distribution of the same distance is measured on (a sample of) the training points with each
point excluded from its own neighbours. ``drift_score`` is the percentile of the sample's
distance within that distribution (in [0, 1]; 0.97 = farther from training than 97% of training
points are from the rest), and ``is_drifted`` is true above the ``drift_quantile`` (0.95), so
about 5% of in-distribution data is flagged by construction.

The mean over the ``k`` nearest rather than the k-th distance alone, and a small ``k``, were
chosen on real data (Rotten Tomatoes reviews + MiniLM, shifted to plot descriptions and Guardian
headlines; ``bench/drift.py``): both separate shifted data slightly better than k = 10.

Per inference set against training (``summary["drift"]``):

- a set-level verdict: kernel two-sample test, MMD² with an RBF kernel (median heuristic) on up
  to 1,000 samples of each set, p-value from 200 permutations (Gretton et al., JMLR 2012);
- the shift of the predicted class distribution: chi-square test of the set's predicted counts
  against the training prediction shares, and the total variation distance;
- the shift of confidence: two-sample Kolmogorov–Smirnov test and the change in mean.

Each finding becomes an alert carrying its filter.
"""

from __future__ import annotations

import numpy as np

from .. import schema as S
from .. import similarity
from .registry import SignalResult, SplitArrays

REF_SAMPLE = 20_000
SET_SAMPLE = 1_000
PERMUTATIONS = 200


def _setting(data: SplitArrays, name: str, default):
    return data.settings.get(name, default)


def knn_distance(index, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance to the ``k`` nearest indexed vectors (own row excluded if given)."""
    sims, rows = similarity.search(index, queries, k + (1 if self_rows is not None else 0))
    if self_rows is not None:
        own = rows == self_rows[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), sims.shape[1] - 1)
        keep = np.ones_like(sims, dtype=bool)
        keep[np.arange(len(sims)), drop] = False
        sims = sims[keep].reshape(len(sims), -1)
    valid = rows[:, : sims.shape[1]] >= 0 if self_rows is None else np.ones_like(sims, dtype=bool)
    d = np.where(valid, 1.0 - sims, np.nan)
    return np.nanmean(d, axis=1).astype(np.float32)


def training_reference(data: SplitArrays) -> dict | None:
    """The training index and the training distribution of the k-NN distance (cached per finish)."""
    ref = data.shared.get("drift_reference")
    if ref is not None:
        return ref
    k = int(_setting(data, "drift_k", 5))
    seed = int(_setting(data, "seed", 0))
    if data.split == S.TRAIN:
        emb, conf, pred = data.embeddings, data.probs.max(axis=1), data.pred
        index = similarity.build_index(emb, seed=seed)
        data.shared.setdefault("indexes", {})[S.TRAIN] = index
    else:
        if data.results_root is None:
            return None
        index = similarity.load_index(data.results_root, S.TRAIN)
        if index is None:
            return None
        d = data.results_root / S.TRAIN
        emb = np.load(d / S.EMBEDDINGS_FILE, mmap_mode="r")
        import pyarrow.parquet as pq

        t = pq.read_table(d / S.SAMPLES_FILE, columns=[S.CONFIDENCE, S.PRED])
        conf = t.column(S.CONFIDENCE).to_numpy()
        lab = {l: i for i, l in enumerate(data.labels)}
        pred = np.fromiter((lab[p] for p in t.column(S.PRED).to_pylist()), dtype=np.int64, count=len(t))
    n = len(emb)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, min(n, REF_SAMPLE), replace=False))
    dist = np.sort(knn_distance(index, emb[rows], min(k, n - 1), self_rows=rows))
    dist = dist[np.isfinite(dist)]
    q = float(_setting(data, "drift_quantile", 0.95))
    set_rows = np.sort(rng.choice(n, min(n, SET_SAMPLE), replace=False))
    ref = {
        "index": index, "k": k, "distances": dist, "threshold": float(np.quantile(dist, q)),
        "quantile": q, "confidence": conf.astype(np.float64), "pred_counts": np.bincount(pred, minlength=len(data.labels)),
        "set_sample": similarity.normalized(emb[set_rows]),
    }
    data.shared["drift_reference"] = ref
    return ref


def drift(data: SplitArrays) -> SignalResult:
    """``drift_score`` and ``is_drifted`` per sample; set-level tests for inference sets."""
    ref = training_reference(data)
    if data.split == S.TRAIN or ref is None:
        return SignalResult(columns={})
    d = knn_distance(ref["index"], data.embeddings, ref["k"])
    score = (np.searchsorted(ref["distances"], d, side="right") / max(len(ref["distances"]), 1)).astype(np.float32)
    flag = d > ref["threshold"]
    summary = {
        "k": ref["k"], "threshold_distance": ref["threshold"], "quantile": ref["quantile"],
        "count": int(flag.sum()), "rate": float(flag.mean()) if len(flag) else 0.0,
        "expected_rate": round(1.0 - ref["quantile"], 4),
        "mean_knn_distance": float(np.nanmean(d)) if len(d) else None,
    }
    if data.split == S.INFERENCE:
        summary.update(set_level_tests(data, ref))
    data.memo["drift_summary"] = summary
    return SignalResult(columns={"drift_score": score, "is_drifted": flag, "knn_distance": d},
                        flag="is_drifted", summary=summary)


def set_level_tests(data: SplitArrays, ref: dict) -> dict:
    from scipy import stats

    out: dict = {}
    seed = int(_setting(data, "seed", 0))
    rng = np.random.default_rng(seed + 1)
    n = len(data.ids)
    if n >= 10:
        rows = np.sort(rng.choice(n, min(n, SET_SAMPLE), replace=False))
        mmd2, p = mmd_permutation_test(ref["set_sample"], similarity.normalized(data.embeddings[rows]),
                                       permutations=PERMUTATIONS, seed=seed)
        out["mmd"] = {"mmd2": mmd2, "p_value": p, "n_reference": len(ref["set_sample"]), "n": len(rows),
                      "drifted": bool(p < 0.01)}
    k = len(data.labels)
    counts = np.bincount(data.pred, minlength=k).astype(np.float64)
    train = ref["pred_counts"].astype(np.float64)
    share_train = (train + 0.5) / (train.sum() + 0.5 * k)
    if n:
        chi = stats.chisquare(counts, f_exp=share_train * counts.sum())
        share = counts / counts.sum()
        out["class_shift"] = {
            "chi2": float(chi.statistic), "p_value": float(chi.pvalue),
            "total_variation": float(0.5 * np.abs(share - train / max(train.sum(), 1)).sum()),
            "train_share": {l: float(s) for l, s in zip(data.labels, train / max(train.sum(), 1))},
            "share": {l: float(s) for l, s in zip(data.labels, share)},
        }
        conf = data.probs.max(axis=1).astype(np.float64)
        ks = stats.ks_2samp(conf, ref["confidence"])
        out["confidence_shift"] = {
            "ks": float(ks.statistic), "p_value": float(ks.pvalue),
            "mean": float(conf.mean()), "train_mean": float(ref["confidence"].mean()),
            "median": float(np.median(conf)), "train_median": float(np.median(ref["confidence"])),
        }
    return out


def mmd_permutation_test(x: np.ndarray, y: np.ndarray, *, permutations: int = 200, seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD² between samples ``x`` (m, d) and ``y`` (n, d), RBF kernel with the median
    heuristic bandwidth, and its permutation p-value.

    References
    ----------
    Gretton, Borgwardt, Rasch, Schölkopf, Smola. "A Kernel Two-Sample Test." JMLR 2012.
    """
    z = np.concatenate([x, y]).astype(np.float64)
    sq = (z * z).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    off = d2[np.triu_indices(len(z), 1)]
    bw = np.median(off) if len(off) and np.median(off) > 0 else 1.0
    kern = np.exp(-d2 / bw)
    m = len(x)
    rng = np.random.default_rng(seed)

    def stat(idx_x: np.ndarray, idx_y: np.ndarray) -> float:
        kxx = kern[np.ix_(idx_x, idx_x)]
        kyy = kern[np.ix_(idx_y, idx_y)]
        kxy = kern[np.ix_(idx_x, idx_y)]
        a, b = len(idx_x), len(idx_y)
        return float((kxx.sum() - np.trace(kxx)) / (a * (a - 1)) + (kyy.sum() - np.trace(kyy)) / (b * (b - 1))
                     - 2 * kxy.mean())

    all_idx = np.arange(len(z))
    observed = stat(all_idx[:m], all_idx[m:])
    exceed = 0
    for _ in range(permutations):
        perm = rng.permutation(len(z))
        if stat(perm[:m], perm[m:]) >= observed:
            exceed += 1
    return observed, (exceed + 1) / (permutations + 1)
