"""Drift (inference) and out-of-coverage (validation, test) per sample and per set.

Per sample, with ``k = drift_k`` (default 10), β = ``drift_whitening`` (default 0.25) and
α = ``drift_local_scale`` (default 0.25):

- the *drift metric* is the cosine similarity after a partial whitening of the L2-normalised
  embeddings, z(x) = W x̂ with W = C^(-β) (the matrix power of the covariance C of the normalised
  training embeddings, its eigenvalues floored at 10⁻³ of their mean and scaled by that mean, so
  that W is scale-free). β = 0 is the plain cosine, β = 0.5 a full whitening (a Mahalanobis-like
  cosine); in between, the directions every training sample varies along (topic, length, label)
  weigh less and the directions training hardly uses weigh more, so new data that departs from
  training in a minor direction stands out. The vectors are whitened *without* centering on the
  training mean: their common direction is what in-distribution data shares, and centering removes
  it (measured on ``bench/drift.py``: a k-NN on the centered cosine lost 0.07 AUROC on plot
  descriptions and 0.10 on headlines; a full whitening, β = 0.5, lost 0.03 on plot descriptions);
- ``knn_distance`` d(x) = the mean distance 1 − cos(z(x), z(t)) from x to its ``k`` nearest
  training embeddings t in that metric (a training point's own row excluded from its neighbours);
- the *local scale* s(x) = the spread of those ``k`` neighbours: their mean pairwise distance in
  the same metric, read from the neighbours the search returned (no second search);
- the *drift distance* D(x) = d(x) · (d(x) / s(x))^α: the k-NN distance, raised where x is farther
  from training than its training neighbours are from each other and lowered where training
  itself is sparse (a local density correction in the spirit of LOF, Breunig et al., SIGMOD 2000).
  α = 0 gives the plain mean k-NN distance.

The training distribution of D is measured on (a sample of) the training points with each point
excluded from its own neighbours. ``drift_score`` is the percentile of D(x) within that
distribution (in [0, 1], higher = more drifted; 0.97 = farther from training than 97% of training
points are from the rest), and ``is_drifted`` is true above the ``drift_quantile`` (0.95), so about
5% of in-distribution data is flagged by construction.

The defaults were measured on real data (MiniLM sentence embeddings; ``bench/drift.py``: 10k
Rotten Tomatoes reviews as training, shifted to their plot descriptions and to Guardian headlines)
and checked on other training corpora shifted to each other (Guardian headlines, WNUT-16 tweets,
reviews + headlines as training), so as not to fit one benchmark. Against the plain mean 5-NN
cosine distance they lift the near shift (plot descriptions) from 0.877–0.884 to 0.906–0.909 AUROC
over three splits of the reviews, keep the far shift at 0.992–0.994, and on the eight shifts of the
other training corpora average 0.954 against 0.950: reviews + headlines → plots +0.028, headlines →
reviews +0.012, the 1,800 tweets as training lose the most (→ plots −0.010, → headlines −0.004).
α = 0.5 scores the plot descriptions 0.002–0.003 higher but those other corpora 0.003 lower on
average. The whitening (W, and each training row's 1/‖W x̂‖ for an IVF index) is fitted once per
reference; the search costs what the plain search costs, scoring an IVF index's lists with the
whitened queries (:func:`similarity.ivf_batch_search`), or an exact whitened index up to
``similarity.EXACT_MAX`` rows. At 1M × 768 training rows the row weights and the local scale's reads
of the neighbours' vectors add about 20 s to a 100k inference set (``bench/drift_speed.py``).

Per inference set (``summary["drift"]``):

- a set-level verdict: kernel two-sample test against training, MMD² with an RBF kernel (median
  heuristic) on up to 1,000 samples of each set, p-value from 200 permutations (Gretton et al.,
  JMLR 2012);
- the shift of the predicted class distribution: chi-square test of the set's predicted counts
  against the reference prediction shares, and the total variation distance;
- the shift of confidence: two-sample Kolmogorov–Smirnov test against the reference confidences and
  the change in mean.

The reference of the class and confidence tests is held-out labeled data when the run has it (the
validation split, else test): training outputs are in-sample and logged while the model was still
learning (dropout on), so their confidence is biased and in-distribution data would look shifted.
Without validation or test results the training outputs are the reference (``reference_split`` in
the summary says which).

Each finding becomes an alert carrying its filter.

References
----------
Breunig, Kriegel, Ng, Sander. "LOF: Identifying Density-Based Local Outliers." SIGMOD 2000.
Sun, Ming, Zhu, Li. "Out-of-Distribution Detection with Deep Nearest Neighbors." ICML 2022.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core import layout as S
from ..core import vectors as similarity
from .reference import TrainingReference
from .registry import SignalResult, SplitArrays
from .settings import setting_value

REF_SAMPLE = 20_000
SET_SAMPLE = 1_000
PERMUTATIONS = 200
EIGEN_FLOOR = 1e-3  # eigenvalues of the whitening floored at this share of their mean
GATHER_CHUNK = 4_096  # queries whose neighbours' vectors are gathered at once (local scale)
# The whitening is applied only with this many reference rows, and this many per dimension: below
# that, half of them cannot estimate the covariance well enough, and new in-distribution data
# scored as drifted more often than the quantile says (tests/test_drift.py).
WHITEN_MIN_ROWS = 2_000
WHITEN_ROWS_PER_DIM = 4


def _setting(holder, name: str):
    """``holder.settings``' value of ``name`` (a SplitArrays or a TrainingReference)."""
    return setting_value(holder.settings, name)


def _drop_self(sims: np.ndarray, rows: np.ndarray, self_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave out each query's own row(s): ``self_rows`` is (m,) or (m, j) with -1 for none. The
    results keep ``j`` fewer columns: where fewer than ``j`` own rows were found, the last
    neighbours go instead."""
    own = self_rows if self_rows.ndim == 2 else self_rows[:, None]
    drop = (rows[:, :, None] == own[:, None, :]).any(axis=2) & (rows >= 0)
    need = own.shape[1] - drop.sum(axis=1)
    kept_from_end = np.cumsum(~drop[:, ::-1], axis=1)[:, ::-1]  # columns kept at or after each one
    drop |= ~drop & (kept_from_end <= need[:, None])
    keep = ~drop
    return sims[keep].reshape(len(sims), -1), rows[keep].reshape(len(rows), -1)


def _n_own(self_rows: np.ndarray | None) -> int:
    return 0 if self_rows is None else (self_rows.shape[1] if self_rows.ndim == 2 else 1)


def knn(index, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances (m, k) and rows (m, k) of the ``k`` nearest indexed vectors of each query.

    With ``self_rows`` (the query's own row in the index, shape (m,), or its rows, shape (m, j),
    -1 for none) those rows are left out. Missing neighbours (an IVF index probing too few lists)
    have distance NaN and row -1.
    """
    sims, rows = similarity.search(index, queries, k + _n_own(self_rows))
    if self_rows is not None:
        sims, rows = _drop_self(sims, rows, self_rows)
    d = np.where(rows >= 0, 1.0 - sims, np.nan).astype(np.float32)
    return d, rows


def knn_distance(index, queries: np.ndarray, k: int, self_rows: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance to the ``k`` nearest indexed vectors (own row excluded if given)."""
    d, _ = knn(index, queries, k, self_rows)
    return _mean_rows(d).astype(np.float32)


def _mean_rows(d: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        return np.nanmean(d, axis=1)


def whitening(sample: np.ndarray, beta: float) -> np.ndarray | None:
    """The partial whitening W = C^(-β) of the L2-normalised rows of ``sample`` (shape (m, d)).

    C is their covariance (centered on their mean, Ledoit-Wolf shrunk); its eigenvalues λ are floored at
    :data:`EIGEN_FLOOR` · mean(λ) and divided by mean(λ), so W = V diag((λ / mean λ)^(-β)) Vᵀ is
    symmetric, shape (d, d), float32. None (no whitening) for β = 0 or a sample without variance.
    """
    if beta == 0 or len(sample) < 2:
        return None
    x = similarity.normalized(sample).astype(np.float64)
    x -= x.mean(axis=0)
    lam, vec = np.linalg.eigh(_covariance(x))
    mean = float(lam.clip(min=0).mean())
    if not mean > 0:
        return None
    w = (np.maximum(lam, EIGEN_FLOOR * mean) / mean) ** (-beta)
    return ((vec * w) @ vec.T).astype(np.float32)


def _covariance(x: np.ndarray) -> np.ndarray:
    """The covariance of the centered rows ``x``, shrunk towards a multiple of the identity by
    the Ledoit-Wolf estimate (Ledoit & Wolf, J. Multivariate Anal. 2004): with fewer rows than
    dimensions, or not many more, the sample covariance has near-zero eigenvalues in directions
    the rows merely did not sample, which a whitening would blow up."""
    from sklearn.covariance import ledoit_wolf

    return ledoit_wolf(x, assume_centered=True)[0]


def _whitened(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """W x̂ for each row x of ``x`` (not normalised again)."""
    return similarity.normalized(x) @ w


def _row_weights(emb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1 / ‖W x̂‖ of every row (0 for a zero row), in chunks."""
    out = np.empty(len(emb), dtype=np.float32)
    step = similarity.CHUNK * 4
    for s in range(0, len(emb), step):
        norms = np.linalg.norm(_whitened(emb[s : s + step], w), axis=1)
        out[s : s + step] = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    return out


def _metric(ref: dict, index, emb: np.ndarray) -> None:
    """Set up the search in the drift metric: each training row's 1 / ‖W x̂‖ (with which an IVF
    index scores its lists with whitened queries, and the local scale sums whitened neighbours),
    and for an exact index an exact index of the whitened training rows."""
    w = ref["whitening"]
    ref["search_index"], ref["row_weights"] = index, None
    if w is None:
        return
    ref["row_weights"] = _row_weights(emb, w)
    if not similarity.is_ivf_flat(index):
        import faiss

        flat = faiss.IndexFlatIP(emb.shape[1])
        step = similarity.CHUNK * 4
        for s in range(0, len(emb), step):
            flat.add(similarity.normalized(_whitened(emb[s : s + step], w)))
        ref["search_index"] = flat


def neighbours(ref: dict, queries: np.ndarray, k: int,
               self_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances (m, k) in the drift metric and rows (m, k) of the ``k`` nearest training rows of
    each query (own row left out with ``self_rows``; a missing neighbour: NaN and -1)."""
    w = ref["whitening"]
    if w is None or not similarity.is_ivf_flat(ref["search_index"]):
        q = queries if w is None else _whitened(queries, w)
        return knn(ref["search_index"], q, k, self_rows)
    index, m = ref["search_index"], len(queries)
    kk = min(k + _n_own(self_rows), index.ntotal)
    sims = np.empty((m, kk), dtype=np.float32)
    rows = np.empty((m, kk), dtype=np.int64)
    ww = w @ w
    for s in range(0, m, similarity.BATCH_CHUNK):
        q = similarity.normalized(queries[s : s + similarity.BATCH_CHUNK])
        norms = np.linalg.norm(q @ w, axis=1, keepdims=True)
        scoring = (q @ ww) / np.where(norms > 0, norms, 1.0)
        sims[s : s + len(q)], rows[s : s + len(q)] = similarity.ivf_batch_search(
            index, q, kk, score_queries=scoring, row_weights=ref["row_weights"])
    if self_rows is not None:
        sims, rows = _drop_self(sims, rows, self_rows)
    return np.where(rows >= 0, 1.0 - sims, np.nan).astype(np.float32), rows


def neighbour_spread(ref: dict, rows: np.ndarray) -> np.ndarray:
    """The mean pairwise drift-metric distance among each query's training neighbours ``rows``
    (shape (m, k), -1 = missing), from their vectors: for unit vectors z_1..z_k,
    Σ_{i≠j} (1 − z_i·z_j) = k² − ‖Σ z_i‖². NaN with fewer than two neighbours."""
    emb, w, out = ref["embeddings"], ref["whitening"], np.full(len(rows), np.nan, dtype=np.float32)
    for s in range(0, len(rows), GATHER_CHUNK):
        r = rows[s : s + GATHER_CHUNK]
        valid = r >= 0
        flat = np.maximum(r, 0).ravel()
        order = np.argsort(flat, kind="stable")
        vec = np.empty((len(flat), emb.shape[1]), dtype=np.float32)
        vec[order] = similarity.normalized(emb[flat[order]])  # sorted reads of a memory-mapped file
        if w is not None:  # z_j = W x̂_j / ‖W x̂_j‖, so Σ z_j = W Σ x̂_j / ‖W x̂_j‖: one product per query
            vec *= ref["row_weights"][flat][:, None]
        vec = vec.reshape(len(r), r.shape[1], -1) * valid[:, :, None]
        total = vec.sum(axis=1)
        if w is not None:
            total = total @ w
        n = valid.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = (n * n - (total.astype(np.float64) ** 2).sum(axis=1)) / (n * (n - 1))
        out[s : s + len(r)] = np.where(n >= 2, np.maximum(spread, 0.0), np.nan)
    return out


def drift_distance(ref: dict, d: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean k-NN distance d, locally scaled drift distance D) from neighbour distances and rows."""
    dk = _mean_rows(d)
    alpha = ref["alpha"]
    if alpha == 0 or not len(dk):
        return dk.astype(np.float32), dk.astype(np.float32)
    s = neighbour_spread(ref, rows)
    ratio = np.where(s > 0, dk / np.where(s > 0, s, 1.0), np.where(dk > 0, 1e3, 1.0))
    ratio = np.where(np.isnan(s), 1.0, ratio)  # one neighbour: no spread, the plain distance
    return dk.astype(np.float32), (dk * np.power(ratio, alpha)).astype(np.float32)


def sample_metric(ref: TrainingReference) -> dict | None:
    """The drift metric of the training samples of ``ref`` (see :func:`metric_reference`), with a
    sample of their normalised embeddings for the set-level test; derived once and kept in
    ``ref.drift``. None without training embeddings (or fewer than 2)."""
    if ref.drift is not None:
        return ref.drift
    if ref.embeddings is None:
        return None
    index = ref.sample_index()
    emb = ref.embeddings
    rng = np.random.default_rng(int(_setting(ref, "seed")))
    metric = metric_reference(index, emb, k=int(_setting(ref, "drift_k")), alpha=float(_setting(ref, "drift_local_scale")),
                              beta=float(_setting(ref, "drift_whitening")), quantile=float(_setting(ref, "drift_quantile")),
                              rng=rng)
    if metric is None:
        return None
    set_rows = np.sort(rng.choice(metric["n"], min(metric["n"], SET_SAMPLE), replace=False))
    metric["set_sample"] = similarity.normalized(emb[set_rows])
    ref.drift = metric
    return metric


def metric_reference(index, emb: np.ndarray, *, k: int, alpha: float, beta: float, quantile: float,
                     rng: np.random.Generator, twins: np.ndarray | None = None,
                     heldout: np.ndarray | None = None) -> dict | None:
    """The drift metric of a reference set (training samples, or NER training spans): ``emb``
    (n, d), possibly memory-mapped, with its similarity ``index``; the whitening, fitted on a
    sample of up to :data:`REF_SAMPLE` rows drawn with ``rng``; and the distribution of the drift
    distance D that scores are percentiles of.

    That distribution is D of ``heldout`` rows ((m, d): held-out data of the training
    distribution, such as an NER run's validation spans) when given, else D of another sample of
    training rows, each left out of its own neighbours, and so are its ``twins`` ((n, j), -1 for
    none: other rows that are the same item, such as an NER gold span and the predicted span with
    its boundaries, whose embeddings are equal). None for fewer than 2 rows. Score queries with
    :func:`score_drift`."""
    n = len(emb)
    j = 0 if twins is None else twins.shape[1]
    if n < 2 + j:
        return None
    k = min(k, n - 1 - j)
    # The whitening is fitted on other rows than those that give the distribution of D: fitted
    # and scored on the same rows, it would have learned their noise, and new in-distribution
    # data would score as drifted (with 2,000 training rows of 384-d, 17% instead of 5%).
    if n < WHITEN_MIN_ROWS or n < WHITEN_ROWS_PER_DIM * emb.shape[1]:
        beta = 0.0  # too few rows to estimate the directions training does not use: plain cosine
    perm = rng.permutation(n)
    m = min(REF_SAMPLE, n if beta == 0 or heldout is not None else n // 2)
    rows = np.sort(perm[:m])
    fit = perm[m : m + REF_SAMPLE] if m < n and heldout is None else perm[:m]
    ref = {"index": index, "k": k, "alpha": alpha, "beta": beta, "n": n, "embeddings": emb,
           "whitening": whitening(np.asarray(emb[np.sort(fit)]), beta) if n > 2 else None}
    _metric(ref, index, emb)
    if heldout is not None:
        d, nb = neighbours(ref, np.asarray(heldout), k)
    else:
        d, nb = neighbours(ref, np.asarray(emb[rows]), k, self_rows=rows if twins is None else np.c_[rows, twins[rows]])
    _, dist = drift_distance(ref, d, nb)
    dist = np.sort(dist[np.isfinite(dist)])
    ref.update({"distances": dist, "threshold": float(np.quantile(dist, quantile)), "quantile": quantile})
    return ref


def score_drift(ref: dict, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean k-NN distance d, ``drift_score`` in [0, 1], ``is_drifted``) of each query row against
    a :func:`metric_reference`."""
    d, rows = neighbours(ref, queries, ref["k"])
    dk, dist = drift_distance(ref, d, rows)
    score = (np.searchsorted(ref["distances"], dist, side="right") / max(len(ref["distances"]), 1)).astype(np.float32)
    return dk, score, dist > ref["threshold"]


def drift(data: SplitArrays) -> SignalResult:
    """``drift_score``, ``is_drifted`` and ``knn_distance`` per sample against the training
    samples of ``data.reference``; set-level tests for inference sets. Nothing for training."""
    if data.split == S.TRAIN or data.reference is None:
        return SignalResult(columns={})
    ref = sample_metric(data.reference)
    if ref is None:
        return SignalResult(columns={})
    dk, score, flag = score_drift(ref, data.embeddings)
    summary = {
        "k": ref["k"], "local_scale_alpha": ref["alpha"], "whitening_beta": ref["beta"],
        "threshold_distance": ref["threshold"],
        "quantile": ref["quantile"], "count": int(flag.sum()), "rate": float(flag.mean()) if len(flag) else 0.0,
        "expected_rate": round(1.0 - ref["quantile"], 4), "reference": "training samples", "unit": "sample",
        "mean_knn_distance": float(np.nanmean(dk)) if len(dk) else None,
    }
    if data.split == S.INFERENCE:
        summary.update(set_level_tests(data.reference, ref.get("set_sample"), data.embeddings,
                                       data.confidences(), data.predicted_counts(), unit=data.count_unit))
    data.cache.drift_summary = summary
    return SignalResult(columns={"drift_score": score, "is_drifted": flag, "knn_distance": dk},
                        flag="is_drifted", summary=summary)


def set_level_tests(ref: TrainingReference, set_sample: np.ndarray | None, embeddings: np.ndarray | None,
                    confidence: np.ndarray, counts: np.ndarray, *, unit: str | None = None) -> dict:
    """The set-level tests of an inference set against the training reference ``ref``.

    Parameters
    ----------
    ref : TrainingReference
        Gives the outputs of the reference split (held-out, else training) and the seed.
    set_sample : numpy.ndarray, shape (m, d), or None
        Normalised training embeddings the MMD test compares with (None: no MMD test).
    embeddings : numpy.ndarray, shape (n, d), or None
        The set's embeddings (per sample).
    confidence : numpy.ndarray, shape (n,)
        The set's per-sample confidence.
    counts : numpy.ndarray of int, shape (len(ref.labels),)
        Its predictions per class (NER: predicted spans per entity type).
    unit : str, optional
        What ``counts`` counts, recorded in the class-shift result when given.

    Returns
    -------
    dict
        ``mmd`` (kernel two-sample test), ``reference_split``, ``class_shift`` (chi-square) and
        ``confidence_shift`` (Kolmogorov-Smirnov), where they apply.
    """
    out: dict = {}
    seed = int(_setting(ref, "seed"))
    rng = np.random.default_rng(seed + 1)
    n = len(confidence)
    if n >= 10 and set_sample is not None and embeddings is not None:
        rows = np.sort(rng.choice(n, min(n, SET_SAMPLE), replace=False))
        mmd2, p = mmd_permutation_test(set_sample, similarity.normalized(embeddings[rows]),
                                       permutations=PERMUTATIONS, seed=seed)
        out["mmd"] = {"mmd2": mmd2, "p_value": p, "n_reference": len(set_sample), "n": len(rows),
                      "drifted": bool(p < 0.01), "reference_split": S.TRAIN}
    held = ref.heldout_outputs()
    if held is None or not n:
        return out
    ref_split, outputs = held
    out["reference_split"] = ref_split
    counts = np.asarray(counts)
    if unit is None:
        out["class_shift"] = class_shift(counts, outputs.counts, ref.labels, ref_split)
    elif counts.sum() > 0 and outputs.counts.sum() > 0:
        out["class_shift"] = class_shift(counts, outputs.counts, ref.labels, ref_split, unit=unit)
    out["confidence_shift"] = confidence_shift(confidence, outputs.confidence, ref_split)
    return out


def class_shift(counts: np.ndarray, ref_counts: np.ndarray, names: list[str], ref_split: str, **extra) -> dict:
    """Chi-square test of predicted counts per class against the reference split's shares (each
    count + 0.5, so a class the reference never predicted does not make the test infinite) and the
    total variation distance between the two distributions."""
    from scipy import stats

    counts, train = np.asarray(counts, np.float64), np.asarray(ref_counts, np.float64)
    k = len(names)
    share_train = (train + 0.5) / (train.sum() + 0.5 * k)
    chi = stats.chisquare(counts, f_exp=share_train * counts.sum())
    share = counts / counts.sum()
    return {
        **extra, "chi2": float(chi.statistic), "p_value": float(chi.pvalue), "reference_split": ref_split,
        "total_variation": float(0.5 * np.abs(share - train / max(train.sum(), 1)).sum()),
        "train_share": {l: float(s) for l, s in zip(names, train / max(train.sum(), 1))},
        "share": {l: float(s) for l, s in zip(names, share)},
    }


def confidence_shift(conf: np.ndarray, ref_conf: np.ndarray, ref_split: str) -> dict:
    """Two-sample Kolmogorov-Smirnov test of confidence against the reference split's, and the
    change in mean and median."""
    from scipy import stats

    conf = np.asarray(conf, np.float64)
    ks = stats.ks_2samp(conf, ref_conf)
    return {
        "ks": float(ks.statistic), "p_value": float(ks.pvalue), "reference_split": ref_split,
        "mean": float(conf.mean()), "train_mean": float(ref_conf.mean()),
        "median": float(np.median(conf)), "train_median": float(np.median(ref_conf)),
    }


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
    m, n = len(x), len(y)
    rng = np.random.default_rng(seed)
    # every split as an indicator row: row 0 the observed one, then one per permutation; the
    # statistic of each is a quadratic form in the kernel matrix (one matrix product for all)
    member = np.zeros((permutations + 1, len(z)))
    member[0, :m] = 1.0
    for i in range(permutations):
        member[i + 1, rng.permutation(len(z))[:m]] = 1.0
    other = 1.0 - member
    km = member @ kern  # (P + 1, m + n)
    kxx = (km * member).sum(axis=1) - member @ np.diag(kern)
    kyy = ((other @ kern) * other).sum(axis=1) - other @ np.diag(kern)
    kxy = (km * other).sum(axis=1)
    values = kxx / (m * (m - 1)) + kyy / (n * (n - 1)) - 2 * kxy / (m * n)
    observed = float(values[0])
    exceed = int((values[1:] >= observed).sum())
    return observed, (exceed + 1) / (permutations + 1)


def production_shift(data: SplitArrays) -> SignalResult:
    """Class-distribution and confidence shift of an inference set logged without embeddings
    (with embeddings, :func:`drift` runs the same tests beside the per-sample drift)."""
    if data.split != S.INFERENCE or data.embeddings is not None or data.reference is None:
        return SignalResult(columns={})
    if data.reference.outputs.get(S.TRAIN) is None:
        return SignalResult(columns={})
    summary = set_level_tests(data.reference, None, None, data.confidences(), data.predicted_counts(),
                              unit=data.count_unit)
    data.cache.drift_summary = summary
    return SignalResult(columns={}, summary=summary)
