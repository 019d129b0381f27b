"""Full-dimensional cosine search over a split's final-epoch embeddings.

Used by the drift signal (neighbours in training) and by similarity search (``dq.metrics``).
Vectors are L2-normalised, so inner product = cosine similarity. Up to ``EXACT_MAX`` vectors the
search is exact (``IndexFlatIP``, built on the fly from ``embeddings.npy``); beyond, an inverted
file index (``IndexIVFFlat``: ``nlist`` = √n lists, k-means with ``KMEANS_ITER`` iterations on
``TRAIN_PER_LIST``·nlist sampled vectors, ``NPROBE`` lists probed) is built once at ``finish()``
and stored as ``results/index/<split>.faiss``, then loaded lazily. An IVF index was chosen over
HNSW for its build time: on these 2-core machines faiss HNSW needs ≈ 80 s for 200k × 768 and
≈ 520 s for 1M, while this IVF-Flat builds 1M × 768 in well under a minute on a quiet machine and
answers a query in a few milliseconds on one thread at recall@10 ≈ 0.98 on clustered data
(``bench/similarity.py``). Large batches of queries (drift) are scored list by list with matrix
products (:func:`ivf_batch_search`, ``bench/drift_speed.py``).

The search is in the full embedding space on purpose: a PCA fitted on training keeps the
directions training varies along and drops the ones new data departs in, which hides drift
(measured on Rotten Tomatoes + MiniLM: AUROC for headlines fell from 0.99 to 0.56 after PCA-64).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import layout as S

EXACT_MAX = 50_000
NPROBE = 16
LISTS_PER_SQRT_N = 1  # nlist = LISTS_PER_SQRT_N · √n, clipped to [MIN_LISTS, MAX_LISTS]
MIN_LISTS, MAX_LISTS = 64, 65_536
TRAIN_PER_LIST = 40  # k-means trains on TRAIN_PER_LIST · nlist sampled vectors
KMEANS_ITER = 10
INDEX_DIR = "index"
CHUNK = 16_384
BATCH_MIN = 256  # IVF searches of at least this many queries go list by list (ivf_batch_search) ...
BATCH_MIN_DIM = 384  # ... for wide vectors; narrow ones scan fast enough per query
BATCH_CHUNK = 65_536


def normalized(x: np.ndarray) -> np.ndarray:
    """A float32, C-contiguous, L2-normalised copy of ``x`` (rows of zeros stay zero)."""
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out /= norms
    return out


def n_lists(n: int) -> int:
    """The number of inverted lists of an IVF index over ``n`` vectors."""
    return int(min(MAX_LISTS, max(MIN_LISTS, LISTS_PER_SQRT_N * np.sqrt(n))))


def build_index(embeddings: np.ndarray, *, seed: int = 0, exact_max: int | None = None,
                nprobe: int | None = None, nlist: int | None = None, normalize: bool = True,
                train_rows: int | None = None, rng: np.random.Generator | None = None,
                kmeans: dict | None = None):
    """A cosine index over the rows of ``embeddings`` (shape (n, d)), added in chunks: the one
    vector index builder of the package (similarity search, drift, and the reduced neighbour
    index of DEP and the map, :func:`dataquality.signals.neighbors.build_index`).

    Exact (``IndexFlatIP``) up to ``exact_max`` (default :data:`EXACT_MAX`) rows, else
    ``IndexIVFFlat`` with ``nlist`` (default :func:`n_lists`) lists, trained by k-means on
    ``train_rows`` (default ``TRAIN_PER_LIST · nlist``) rows sampled with ``rng`` (default
    ``numpy.random.default_rng(seed)``), searching ``nprobe`` (default :data:`NPROBE`) lists.
    Defaults are read at call time.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (n, d)
        Possibly memory-mapped.
    normalize : bool
        L2-normalise the rows first (False: they already are, and are indexed as they are).
    kmeans : dict, optional
        faiss clustering parameters of the IVF quantizer (``niter``, ``seed``,
        ``max_points_per_centroid``); default ``niter`` :data:`KMEANS_ITER`, ``seed`` ``seed``,
        ``max_points_per_centroid`` :data:`TRAIN_PER_LIST`. An empty dict keeps faiss' own.

    Returns
    -------
    faiss.IndexFlatIP or faiss.IndexIVFFlat
    """
    import faiss

    n, d = embeddings.shape
    prep = normalized if normalize else (lambda x: np.ascontiguousarray(x, dtype=np.float32))
    if n <= (EXACT_MAX if exact_max is None else exact_max):
        index = faiss.IndexFlatIP(d)
    else:
        nlist = n_lists(n) if nlist is None else int(nlist)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        params = ({"niter": KMEANS_ITER, "seed": seed, "max_points_per_centroid": max(TRAIN_PER_LIST, 1)}
                  if kmeans is None else kmeans)
        for name, value in params.items():
            setattr(index.cp, name, value)
        rng = np.random.default_rng(seed) if rng is None else rng
        m = TRAIN_PER_LIST * nlist if train_rows is None else int(train_rows)
        sample = np.sort(rng.choice(n, min(n, m), replace=False))
        index.train(prep(embeddings[sample]))
        index.nprobe = NPROBE if nprobe is None else int(nprobe)
    for s in range(0, n, CHUNK * 4):
        index.add(prep(embeddings[s : s + CHUNK * 4]))
    return index


def index_path(results_root: Path, key: str) -> Path:
    return Path(results_root) / INDEX_DIR / f"{key.replace('/', '__')}.faiss"


def save_index(index, path: Path) -> None:
    """Write a non-exact index (exact ones are rebuilt from embeddings.npy on demand)."""
    import faiss

    if isinstance(index, faiss.IndexFlat):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{S.TMP_PREFIX}{path.name}")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)


@lru_cache(maxsize=8)
def _load(path: str, mtime: float, emb_path: str, emb_mtime: float):
    import faiss

    if path:
        index = faiss.read_index(path)
        if hasattr(index, "nprobe"):
            index.nprobe = NPROBE
        return index
    return build_index(np.load(emb_path, mmap_mode="r"))


def load_index(results_root: Path, key: str):
    """The split's index: the stored one, else an exact one built from its embeddings."""
    emb = Path(results_root) / key / S.EMBEDDINGS_FILE
    if not emb.exists():
        return None
    p = index_path(results_root, key)
    if p.exists():
        return _load(str(p), p.stat().st_mtime, str(emb), emb.stat().st_mtime)
    return _load("", 0.0, str(emb), emb.stat().st_mtime)


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(sims, rows) of the ``k`` nearest indexed vectors of each query row, in chunks.

    Shapes (m, k); sims are cosine similarities (higher = more similar), rows -1 (sim
    ``-FLT_MAX``) where an IVF index found fewer than ``k``. Batches of at least
    :data:`BATCH_MIN` queries of at least :data:`BATCH_MIN_DIM` dimensions on an IVF index are
    answered list by list (:func:`ivf_batch_search`).
    """
    m = len(queries)
    k = min(k, index.ntotal)
    sims = np.empty((m, k), dtype=np.float32)
    rows = np.empty((m, k), dtype=np.int64)
    ivf = is_ivf_flat(index)
    step = BATCH_CHUNK if ivf else CHUNK
    for s in range(0, m, step):
        q = normalized(queries[s : s + step])
        if ivf and len(q) >= BATCH_MIN and q.shape[1] >= BATCH_MIN_DIM:
            D, I = ivf_batch_search(index, q, k)
        else:
            D, I = index.search(q, k)
        sims[s : s + len(D)], rows[s : s + len(D)] = D, I
    return sims, rows


def is_ivf_flat(index) -> bool:
    """Whether ``index`` is a faiss ``IndexIVFFlat`` (searched list by list for large batches)."""
    import faiss

    return isinstance(index, faiss.IndexIVFFlat)


def ivf_batch_search(index, queries: np.ndarray, k: int, *, score_queries: np.ndarray | None = None,
                     row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The result of ``index.search(queries, k)`` for an ``IndexIVFFlat`` (inner product),
    computed list by list: each inverted list is read once and scored against every query that
    probes it with one matrix product (BLAS), instead of one scan per query.

    For many queries (drift scores a whole inference set) faiss' per-query scan is bound by memory
    bandwidth: every query reads ``nprobe`` lists (≈ 24 MB at 1M × 768 with 1,000 lists and
    ``nprobe`` 8). Grouping queries by list turns that into matrix products, several times faster
    on these machines (``bench/drift_speed.py``). Same lists probed, same exact scores, so the
    same neighbours up to ties.

    With ``score_queries`` and ``row_weights`` the lists are still chosen by ``queries``, but an
    indexed row ``j`` is scored ``(score_queries[i] · x_j) · row_weights[j]`` instead of
    ``queries[i] · x_j``: a bilinear similarity such as the cosine in a linearly transformed space
    (the drift signal's whitened cosine), at the cost of the plain search.

    Parameters
    ----------
    queries : numpy.ndarray, shape (m, d)
        L2-normalised float32 query rows.
    score_queries : numpy.ndarray, shape (m, d), optional
        float32 rows that score the indexed vectors in place of ``queries``.
    row_weights : numpy.ndarray, shape (ntotal,), optional
        float32 factor of each indexed row's score.

    Returns
    -------
    sims, rows : numpy.ndarray, shape (m, k)
    """
    import faiss

    m, d = queries.shape
    scoring = queries if score_queries is None else np.ascontiguousarray(score_queries, dtype=np.float32)
    nprobe, nlist = int(index.nprobe), int(index.nlist)
    _, probe = index.quantizer.search(queries, nprobe)  # (m, nprobe) lists to scan
    flat = probe.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(nlist + 1))
    cand_s = np.full((m, nprobe * k), -np.inf, dtype=np.float32)
    cand_r = np.full((m, nprobe * k), -1, dtype=np.int64)
    invlists = faiss.downcast_InvertedLists(index.invlists)
    for lst in range(nlist):
        a, b = bounds[lst], bounds[lst + 1]
        size = invlists.list_size(lst)
        if a == b or size == 0:
            continue
        codes = invlists.get_codes(lst)
        ids_ptr = invlists.get_ids(lst)
        try:
            # a copy: BLAS is several times slower on faiss' 16-byte-aligned buffer
            x = np.array(faiss.rev_swig_ptr(codes, size * invlists.code_size)).view(np.float32).reshape(size, d)
            ids = faiss.rev_swig_ptr(ids_ptr, size).copy()
            pos = order[a:b]
            qi, slot = pos // nprobe, pos % nprobe
            sc = scoring[qi] @ x.T  # (queries probing this list, size)
            if row_weights is not None:
                sc *= row_weights[ids][None, :]
            kk = min(k, size)
            top = np.argpartition(-sc, kk - 1, axis=1)[:, :kk] if size > kk else np.broadcast_to(np.arange(size), (len(qi), size))
            cols = slot[:, None] * k + np.arange(kk)
            cand_s[qi[:, None], cols] = np.take_along_axis(sc, top, axis=1)
            cand_r[qi[:, None], cols] = ids[top]
        finally:
            invlists.release_codes(lst, codes)
            invlists.release_ids(lst, ids_ptr)
    best = np.argpartition(-cand_s, k - 1, axis=1)[:, :k] if cand_s.shape[1] > k else np.broadcast_to(np.arange(cand_s.shape[1]), (m, cand_s.shape[1]))
    s_top = np.take_along_axis(cand_s, best, axis=1)
    r_top = np.take_along_axis(cand_r, best, axis=1)
    srt = np.argsort(-s_top, axis=1, kind="stable")
    sims = np.take_along_axis(s_top, srt, axis=1)
    rows = np.take_along_axis(r_top, srt, axis=1)
    missing = rows < 0
    sims[missing] = -np.finfo(np.float32).max  # what faiss returns for a missing neighbour
    return sims, rows
