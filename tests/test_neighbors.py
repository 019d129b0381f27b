"""neighbors.build_index / NeighborIndex.search against brute-force cosine similarity."""

from __future__ import annotations

import numpy as np

from dataquality.signals.neighbors import build_index


def brute(x: np.ndarray, q: np.ndarray, k: int, self_rows=None):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = qn @ xn.T
    if self_rows is not None:
        s[np.arange(len(q)), self_rows] = -np.inf
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


def clustered(n: int, d: int, n_clusters: int, seed: int = 0, spread: float = 0.3, with_labels: bool = False):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, d))
    c = rng.integers(0, n_clusters, n)
    x = (centers[c] + spread * rng.normal(size=(n, d))).astype(np.float32)
    return (x, c) if with_labels else x


def test_exact_search_matches_brute_force():
    x = np.random.default_rng(0).normal(size=(200, 12)).astype(np.float32)
    q = np.random.default_rng(1).normal(size=(30, 12)).astype(np.float32)
    index = build_index(x)
    assert index.exact and index.pca is None and index.n == 200
    sims, idx = index.search(q, 7)
    bs, bi = brute(x, q, 7)
    np.testing.assert_array_equal(idx, bi)
    np.testing.assert_allclose(sims, bs, atol=1e-5)
    assert sims.dtype == np.float32 and idx.dtype == np.int64
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # descending


def test_cosine_ignores_vector_length():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    index = build_index(x)
    sims, idx = index.search(np.array([[10.0, 0.1]], dtype=np.float32), 3)
    assert idx.tolist() == [[0, 2, 1]]
    np.testing.assert_allclose(sims[0], [10 / np.hypot(10, 0.1), 10.1 / np.hypot(10, 0.1) / np.sqrt(2),
                                         0.1 / np.hypot(10, 0.1)], atol=1e-5)


def test_self_rows_are_excluded():
    x = np.random.default_rng(2).normal(size=(50, 6)).astype(np.float32)
    index = build_index(x)
    rows = np.arange(50)
    sims, idx = index.search(x, 5, self_rows=rows)
    assert not (idx == rows[:, None]).any()
    bs, bi = brute(x, x, 5, self_rows=rows)
    np.testing.assert_array_equal(idx, bi)
    np.testing.assert_allclose(sims, bs, atol=1e-5)
    # the reduced path (the index's own points) gives the same answer
    s2, i2 = index.search(index.points, 5, self_rows=rows, reduced=True)
    np.testing.assert_array_equal(i2, idx)


def test_k_larger_than_n_pads_with_minus_one():
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    index = build_index(x)
    sims, idx = index.search(x[:2], 8)
    assert idx.shape == (2, 8)
    assert (idx[:, :5] >= 0).all() and (idx[:, 5:] == -1).all()
    assert np.isneginf(sims[:, 5:]).all() and np.isfinite(sims[:, :5]).all()
    assert sorted(idx[0, :5].tolist()) == [0, 1, 2, 3, 4]
    sims, idx = index.search(x, 8, self_rows=np.arange(5))
    assert (idx[:, :4] >= 0).all() and (idx[:, 4:] == -1).all()
    assert not (idx == np.arange(5)[:, None]).any()
    # a single reference point has no neighbours other than itself
    one = build_index(x[:1])
    s1, i1 = one.search(x[:1], 3, self_rows=np.array([0]))
    assert (i1 == -1).all() and np.isneginf(s1).all()


def test_duplicate_vectors():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(10, 5)).astype(np.float32)
    x = np.concatenate([np.repeat(base[:1], 6, axis=0), base[1:]])  # rows 0..5 identical
    index = build_index(x)
    rows = np.arange(len(x))
    sims, idx = index.search(x, 3, self_rows=rows)
    assert not (idx == rows[:, None]).any()
    for r in range(6):  # each copy's neighbours are other copies, at similarity 1
        assert set(idx[r].tolist()) <= set(range(6)) - {r}
        np.testing.assert_allclose(sims[r], 1.0, atol=1e-5)


def test_zero_vector_does_not_break_the_index():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    sims, idx = build_index(x).search(x, 2, self_rows=np.arange(3))
    assert np.isfinite(sims).all() and (idx >= 0).all()


def test_ivf_path_recall_on_clustered_data():
    x = clustered(3000, 24, 30, seed=5)
    index = build_index(x, exact_max=100)
    assert not index.exact
    rows = np.arange(len(x))
    q = rows[::10]
    sims, idx = index.search(x[q], 10, self_rows=q)
    _, bi = brute(x, x[q], 10, self_rows=q)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx.tolist(), bi.tolist())])
    assert recall >= 0.8
    assert not (idx == q[:, None]).any()
    valid = idx >= 0
    assert valid.mean() > 0.99
    assert np.isfinite(sims[valid]).all() and (sims[~valid] == -np.inf).all()


def test_ivf_path_on_fewer_points_than_lists():
    x = clustered(40, 8, 4, seed=6)
    index = build_index(x, exact_max=10)
    sims, idx = index.search(x, 3, self_rows=np.arange(40))
    assert idx.shape == (40, 3)
    assert not (idx == np.arange(40)[:, None]).any()


def test_pca_path_keeps_neighbourhoods():
    x, c = clustered(1000, 128, 10, seed=7, spread=0.5, with_labels=True)
    index = build_index(x, pca_dim=16)
    assert index.pca is not None and index.points.shape == (1000, 16)
    np.testing.assert_allclose(np.linalg.norm(index.points, axis=1), 1.0, atol=1e-5)
    q = np.arange(0, 1000, 10)
    _, idx = index.search(x[q], 10, self_rows=q)
    assert not (idx == q[:, None]).any() and (idx >= 0).all()
    # clusters are what matters for label votes and the map: the neighbours sit in the query's cluster
    assert (c[idx] == c[q][:, None]).mean() > 0.99


def test_empty_query():
    index = build_index(np.eye(3, dtype=np.float32))
    sims, idx = index.search(np.zeros((0, 3), np.float32), 2)
    assert sims.shape == idx.shape == (0, 2)
