"""The 2-D map and clusters: UMAP of the final-epoch embeddings, HDBSCAN on the layout.

Fast path, so the map scales: UMAP is fitted on at most ``map_fit_max`` (default 20,000)
training samples, in the reduced space of the neighbour index, with their exact k-nearest
neighbours computed by faiss and handed to UMAP (``precomputed_knn``), which skips UMAP's own
neighbour search and most of its numba compilation. Every other sample — the rest of training,
validation, test, inference — is placed at the similarity-weighted mean position of its nearest
fitted (or training) neighbours, and takes the majority cluster among them. Clusters are found by
HDBSCAN on the fitted layout; each carries its top distinguishing words (class-based TF-IDF over
the texts of its fitted members), size, mean DEP and F1.

References
----------
McInnes, Healy, Melville. "UMAP: Uniform Manifold Approximation and Projection." 2018.
Campello, Moulavi, Sander. "Density-Based Clustering Based on Hierarchical Density Estimates." 2013.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core import layout as S
from .reference import reference_neighbors
from .registry import SignalResult, SplitArrays

FIT_MAX = 20_000
N_NEIGHBORS = 15
PLACE_K = 10


def _place(sims: np.ndarray, idx: np.ndarray, xy: np.ndarray, clusters: np.ndarray | None):
    """Weighted mean position and majority cluster of each row's neighbours."""
    valid = idx >= 0
    w = np.where(valid, np.exp((sims - np.nanmax(np.where(valid, sims, -np.inf), axis=1, keepdims=True)) / 0.05), 0.0)
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    safe = np.clip(idx, 0, None)
    pos = (w[:, :, None] * xy[safe]).sum(axis=1).astype(np.float32)
    cl = None
    if clusters is not None:
        nb = np.where(valid, clusters[safe] + 1, 0)  # 0 = unclustered or no neighbour
        n_c = int(clusters.max()) + 2 if len(clusters) else 1
        cl = np.empty(len(idx), dtype=np.int32)
        step = max(1, 4_000_000 // max(n_c, 1))
        for s in range(0, len(idx), step):
            part = nb[s : s + step]
            votes = np.zeros((len(part), n_c), dtype=np.float32)
            rows = np.repeat(np.arange(len(part)), part.shape[1])
            np.add.at(votes, (rows, part.ravel()), (w[s : s + step] * valid[s : s + step]).ravel())
            cl[s : s + step] = votes.argmax(axis=1) - 1
    return pos, cl


def _fit_training_map(data: SplitArrays, index) -> dict:
    import faiss

    n = index.n
    seed = int(data.settings.get("seed", 0))
    fit_max = int(data.settings.get("map_fit_max", FIT_MAX))
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, fit_max, replace=False)) if n > fit_max else np.arange(n)
    z = np.ascontiguousarray(index.points[fit_rows])
    m = len(fit_rows)
    if m < 4:
        xy = np.zeros((n, 2), np.float32)
        return {"xy": xy, "clusters": np.full(n, -1, np.int32), "fit_rows": fit_rows}
    k = min(N_NEIGHBORS, m - 1)
    flat = faiss.IndexFlatIP(z.shape[1])
    flat.add(z)
    sims, idx = flat.search(z, k + 1)
    dists = np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, None)).astype(np.float32)  # unit vectors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        if m <= k + 2:
            layout = np.asarray(z[:, :2], dtype=np.float32)
        else:
            reducer = umap.UMAP(
                n_neighbors=k + 1, min_dist=0.1, n_epochs=200 if m > 10_000 else 400,
                metric="euclidean", precomputed_knn=(idx.astype(np.int64), dists, None),
                random_state=seed, n_jobs=1, init="spectral" if m > k + 8 else "random",
            )
            layout = reducer.fit_transform(z).astype(np.float32)
    clusters_fit = _cluster(layout, data)
    xy = np.zeros((n, 2), np.float32)
    clusters = np.full(n, -1, np.int32)
    xy[fit_rows] = layout
    clusters[fit_rows] = clusters_fit
    rest = np.setdiff1d(np.arange(n), fit_rows)
    if len(rest):
        s2, i2 = flat.search(np.ascontiguousarray(index.points[rest]), PLACE_K)
        pos, cl = _place(s2, i2, layout, clusters_fit)
        xy[rest], clusters[rest] = pos, cl
    return {"xy": xy, "clusters": clusters, "fit_rows": fit_rows}


def _cluster(layout: np.ndarray, data: SplitArrays) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    m = len(layout)
    min_size = int(data.settings.get("cluster_min_size", max(10, m // 100)))
    if m < 2 * min_size:
        return np.zeros(m, dtype=np.int32)
    return HDBSCAN(min_cluster_size=min_size, min_samples=min(10, min_size), copy=True).fit_predict(layout).astype(np.int32)


def top_words(texts: list[str], clusters: np.ndarray, n_words: int = 8) -> dict[int, list[str]]:
    """Class-based TF-IDF: the words most specific to each cluster's texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    ids = [c for c in np.unique(clusters) if c >= 0]
    if not ids or not texts:
        return {}
    try:
        vec = CountVectorizer(stop_words="english", min_df=2, max_features=30_000, token_pattern=r"(?u)\b[^\W\d_]{2,}\b")
        counts = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary
        return {}
    vocab = np.asarray(vec.get_feature_names_out())
    per = np.vstack([np.asarray(counts[clusters == c].sum(axis=0)).ravel() for c in ids]).astype(np.float64)
    total = per.sum(axis=0)
    out = {}
    for i, c in enumerate(ids):
        rest = total - per[i]
        p_in = (per[i] + 0.5) / (per[i].sum() + 0.5 * len(vocab))
        p_out = (rest + 0.5) / (rest.sum() + 0.5 * len(vocab))
        # the word's contribution to KL(cluster || rest): frequent in the cluster, rarer elsewhere
        score = np.where(per[i] >= 2, p_in * np.log(p_in / p_out), -np.inf)
        top = np.argsort(-score)[:n_words]
        out[int(c)] = vocab[top][score[top] > 0].tolist()
    return out


def embedding_map(data: SplitArrays) -> SignalResult:
    """Columns ``x``, ``y`` (map position) and ``cluster_id`` (-1 = unclustered).

    The training split is fitted; every other split is placed on the training map of
    ``data.reference`` (nothing without one)."""
    ref = data.reference
    index = ref.neighbor_index() if ref is not None else None
    if index is None:
        return SignalResult(columns={})
    if data.split == S.TRAIN:
        fit = _fit_training_map(data, index)
        xy, clusters = fit["xy"], fit["clusters"]
        texts = data.texts.take(fit["fit_rows"]).to_pylist() if hasattr(data.texts, "take") else []
        words = top_words(texts, clusters[fit["fit_rows"]])
    else:
        if ref.xy is None:
            return SignalResult(columns={})
        sims, idx = reference_neighbors(data, PLACE_K)
        xy, clusters = _place(sims, idx, ref.xy, ref.cluster_id)
        words = ref.cluster_words
    data.cache.cluster_words = {str(k): v for k, v in (words or {}).items()}
    return SignalResult(
        columns={"x": xy[:, 0].copy(), "y": xy[:, 1].copy(), "cluster_id": clusters},
        summary={"words": {str(k): v for k, v in (words or {}).items()}},
    )
