"""Similarity search over a run's final-epoch embeddings: the nearest samples of ids or of raw
vectors across splits (``dq.metrics.get_similar``, the console's "show similar") and the
``similar_to`` filter.

Each split is searched through its own index (:func:`dataquality.core.vectors.load_index`: exact
up to ``EXACT_MAX`` samples, the IVF index stored at ``finish()`` beyond).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import layout as S
from ..core import store
from ..core.splits import normalize_split
from ..exceptions import (
    ConfigurationError,
    InputTypeError,
    NonFiniteError,
    RunNotFoundError,
    SchemaError,
    ShapeError,
    SplitError,
)
from .splits import ROW, SplitRef, ids_of, read_rows, split_at

def root_and_key(results_dir: Path) -> tuple[Path, str]:
    """(results root, split key) of a split's results folder (``results/<key>``)."""
    results_dir = Path(results_dir)
    if results_dir.parent.name == S.INFERENCE:
        return results_dir.parent.parent, f"{S.INFERENCE}/{results_dir.name}"
    return results_dir.parent, results_dir.name


def split_index(results_root: Path, key: str, *, fn: str, what: str):
    """The split's cosine index (stored IVF, else exact built from ``embeddings.npy``)."""
    from ..core import vectors as similarity

    index = similarity.load_index(results_root, key)
    if index is None:
        raise SchemaError(f"{fn}: {what} needs embeddings; split {key!r} was logged with exclude_embs=True.")
    return index


def nearest(results_root: Path, keys: list[str], queries: np.ndarray, k: int, *, fn: str, what: str,
            own: tuple[str, np.ndarray] | None = None):
    """The ``k`` nearest samples (cosine) of each query row across the splits ``keys``.

    Each split is searched through its index (:func:`dataquality.core.vectors.load_index`: exact up to
    ``EXACT_MAX`` samples, IVF beyond), the per-split candidates are merged per query, and the
    union over the queries is returned with each sample's best similarity to any query.

    Parameters
    ----------
    queries : numpy.ndarray, shape (m, d)
        Query vectors (normalised here).
    k : int
        Neighbours per query, not counting the query's own sample.
    own : (key, rows), optional
        When the queries are samples of split ``key`` (at ``rows``, shape (m,)): each query's own
        sample is not one of its ``k`` neighbours, and the anchors are added with similarity 1.0
        when ``key`` is among ``keys``.

    Returns
    -------
    pandas.DataFrame
        Columns ``split`` (key), ``_row`` (row in that split) and ``similarity`` (higher = more
        similar, in [-1, 1]), one row per distinct sample, by descending similarity.
    """
    import pandas as pd

    from ..core import vectors as similarity

    m = len(queries)
    sims_all, rows_all, keys_all = [], [], []
    if k > 0 and m:
        q = similarity.normalized(queries)
        for ki, key in enumerate(keys):
            index = split_index(results_root, key, fn=fn, what=what)
            mine = own is not None and own[0] == key
            sims, rows = similarity.search(index, q, k + 1 if mine else k)
            if mine:  # drop each anchor's own row (else the last candidate)
                is_self = rows == np.asarray(own[1])[:, None]
                drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), rows.shape[1] - 1)
                keep = np.ones(rows.shape, dtype=bool)
                keep[np.arange(m), drop] = False
                width = rows.shape[1] - 1
                sims, rows = sims[keep].reshape(m, width), rows[keep].reshape(m, width)
            sims_all.append(sims)
            rows_all.append(rows)
            keys_all.append(np.full(rows.shape, ki, dtype=np.int64))
    parts = []
    if sims_all:
        sims = np.concatenate(sims_all, axis=1)
        rows = np.concatenate(rows_all, axis=1)
        kidx = np.concatenate(keys_all, axis=1)
        sims = np.where(rows >= 0, sims, -np.inf)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # the k best across splits, per query
        take = np.take_along_axis
        s, r, ki = take(sims, top, 1).ravel(), take(rows, top, 1).ravel(), take(kidx, top, 1).ravel()
        ok = np.isfinite(s)
        parts.append(pd.DataFrame({"_k": ki[ok], ROW: r[ok], "similarity": s[ok].astype(np.float32)}))
    if own is not None and own[0] in keys:
        anchors = np.unique(np.asarray(own[1], dtype=np.int64))
        parts.append(pd.DataFrame({"_k": keys.index(own[0]), ROW: anchors,
                                   "similarity": np.ones(len(anchors), dtype=np.float32)}))
    if not parts:
        return pd.DataFrame({"split": pd.Series([], dtype=object), ROW: np.zeros(0, np.int64),
                             "similarity": np.zeros(0, np.float32)})
    df = pd.concat(parts, ignore_index=True)
    df = df.groupby(["_k", ROW], as_index=False, sort=False)["similarity"].max()
    df = df.sort_values(["similarity", "_k", ROW], ascending=[False, True, True], kind="stable")
    df.insert(0, "split", np.asarray(keys, dtype=object)[df.pop("_k").to_numpy()])
    return df.reset_index(drop=True)


def refuse_unless_sample_embeddings(split, *, fn: str) -> None:
    """Sample similarity needs embeddings row-aligned with the samples; the task says what the
    rows of ``embeddings.npy`` are (NER: spans)."""
    rows = split.task.embeddings_rows(split.manifest)
    if rows != "samples":
        raise SchemaError(
            f"{fn}: similarity search by sample is not available for {split.task.name} splits yet (their "
            f"embeddings are per {rows.rstrip('s')}); read them with dq.metrics.get_{rows}(..., include_embs=True)."
        )


def similar_rows(split, anchor_rows: np.ndarray, k: int, *, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """Cosine search inside one split through its index: the ``k`` most similar rows of each
    anchor row (exact up to ``similarity.EXACT_MAX`` samples, the stored IVF index beyond).

    Returns
    -------
    rows, scores : numpy.ndarray
        Unique rows (anchors included, score 1) with their best similarity to any anchor,
        by descending score.
    """
    refuse_unless_sample_embeddings(split, fn="filter `similar_to`")
    results_dir = split.dir
    root, key = root_and_key(results_dir)
    anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
    emb = results_dir / S.EMBEDDINGS_FILE
    if not emb.exists():
        raise SchemaError(f"{fn}: filter `similar_to` needs embeddings; this split was logged with exclude_embs=True.")
    queries = np.load(emb, mmap_mode="r")[np.sort(anchor_rows)][np.argsort(np.argsort(anchor_rows))]
    df = nearest(root, [key], queries, k, fn="similar_to", what="similar_to", own=(key, anchor_rows))
    return df[ROW].to_numpy(np.int64), df["similarity"].to_numpy(np.float32)


def similar(split: SplitRef, ids=None, k: int = 10, *, embedding=None, splits=None, fn: str):
    """The ``k`` samples most similar to each of ``ids`` of ``split`` or to each row of a raw
    ``embedding``, across ``splits``: the body of ``dq.metrics.get_similar`` (see there)."""
    import pandas as pd

    paths, key, d = split.paths, split.key, split.dir
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise InputTypeError(f"{fn}: `k` must be an integer ≥ 1; got {k!r}.")
    if k < 1:
        raise ConfigurationError(f"{fn}: `k` must be ≥ 1 (neighbours per anchor); got {k}.")
    if (ids is None) == (embedding is None):
        raise ConfigurationError(f"{fn}: pass exactly one of `ids` (samples of split {key!r}) or `embedding` "
                                 f"(raw query vectors); got {'both' if ids is not None else 'neither'}.")
    keys = search_keys(paths, key, splits, fn=fn)
    for sk in keys:
        refuse_unless_sample_embeddings(split_at(paths, split.manifest, split.task, sk), fn=fn)
    widths = {}
    for sk in keys:
        emb_path = paths.results(sk) / S.EMBEDDINGS_FILE
        if not emb_path.exists():
            raise SchemaError(f"{fn}: split {sk!r} has no embeddings (logged with exclude_embs=True); it cannot be searched.")
        widths[sk] = np.load(emb_path, mmap_mode="r").shape[1]
    if ids is not None:
        if isinstance(ids, (str, bytes, int, np.integer)):
            ids = [ids]
        ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
        if not ids:
            raise ConfigurationError(f"{fn}: `ids` is empty; pass at least one id of split {key!r}.")
        anchors = pd.Index(ids_of(split)).get_indexer(pd.Index(ids))
        if (anchors < 0).any():
            missing = [i for i, a in zip(ids, anchors) if a < 0][:10]
            raise SchemaError(f"{fn}: `ids` {missing} are not in split {key!r}; pass ids of that split "
                              f"(or search with `embedding`).")
        emb_path = d / S.EMBEDDINGS_FILE
        if not emb_path.exists():
            raise SchemaError(f"{fn}: split {key!r} has no embeddings (logged with exclude_embs=True); `ids` cannot be searched.")
        emb = np.load(emb_path, mmap_mode="r")
        order = np.argsort(anchors, kind="stable")
        queries = np.empty((len(anchors), emb.shape[1]), np.float32)
        queries[order] = emb[anchors[order]]  # read in row order
        own = (key, anchors)
    else:
        try:
            queries = np.array(embedding, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InputTypeError(f"{fn}: `embedding` must be a numeric vector (d,) or matrix (m, d); {e}.") from None
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[0] == 0:
            raise ShapeError(f"{fn}: `embedding` must have shape (d,) or (m, d) with m ≥ 1; got {queries.shape}.")
        if not np.isfinite(queries).all():
            raise NonFiniteError(f"{fn}: `embedding` contains NaN or infinity.")
        own = None
    for sk, w in widths.items():
        if queries.shape[1] != w:
            if embedding is not None:
                raise ShapeError(f"{fn}: `embedding` must have {w} columns, the embedding width of split {sk!r}; "
                                 f"got shape {queries.shape}.")
            raise ShapeError(f"{fn}: `splits` holds split {sk!r} with {w}-d embeddings, but split {key!r} of "
                             f"`ids` has {queries.shape[1]}-d ones; search splits logged with the same model.")
    found = nearest(paths.results(), keys, queries, int(k), fn=fn, what="get_similar", own=own)
    want = [S.ID, S.TEXT, S.TEXT_PAIR, S.GOLD, S.PRED, S.CONFIDENCE]
    frames = []
    for sk in keys:
        part = found[found["split"] == sk]
        if len(part):
            rows = read_rows(split_at(paths, split.manifest, split.task, sk), part[ROW].to_numpy(), want)
            rows.insert(1, "split", sk)
            rows.insert(2, "similarity", part["similarity"].to_numpy())
            frames.append(rows)
    cols = [S.ID, "split", "similarity", S.TEXT, S.TEXT_PAIR, S.GOLD, S.PRED, S.CONFIDENCE]
    if not frames:
        return pd.DataFrame(columns=[c for c in cols if c != S.TEXT_PAIR])
    out = pd.concat(frames, ignore_index=True)
    for c in (S.GOLD, S.PRED, S.CONFIDENCE, S.TEXT):
        if c not in out.columns:
            out[c] = None
    out = out[[c for c in cols if c in out.columns]]
    split_rank = out["split"].map({sk: i for i, sk in enumerate(keys)})
    out = out.assign(_r=split_rank).sort_values(["similarity", "_r"], ascending=[False, True], kind="stable")
    return out.drop(columns=["_r"]).reset_index(drop=True)


def search_keys(paths, key: str, splits, *, fn: str) -> list[str]:
    """The split keys named by ``splits`` (default ``[key]``), each with results."""
    if splits is None:
        return [key]
    if isinstance(splits, str):
        splits = [splits]
    if not hasattr(splits, "__iter__") or any(not isinstance(s, str) for s in splits):
        raise InputTypeError(f"{fn}: `splits` must be a split name or a list of them (strings); got {splits!r}.")
    keys: list[str] = []
    for s in splits:
        if s.lower().startswith(S.INFERENCE + "/"):
            name = s.split("/", 1)[1]
            store.check_name(name, fn=fn, arg="splits")
            sk = S.split_key(S.INFERENCE, name)
        else:
            try:
                sk = normalize_split(s, fn=fn)
            except SplitError:
                raise SplitError(f"{fn}: `splits` entries must be split names {sorted(set(S.SPLIT_ALIASES) - {S.INFERENCE})} "
                                 f"or 'inference/<name>'; got {s!r}.") from None
            if sk == S.INFERENCE:
                raise SplitError(f"{fn}: `splits` names inference sets as 'inference/<name>'; got {s!r}.")
        if not (paths.results(sk) / S.SAMPLES_FILE).exists():
            have = sorted(str(p.parent.relative_to(paths.results())) for p in paths.results().glob("**/" + S.SAMPLES_FILE))
            raise RunNotFoundError(f"{fn}: `splits` names {s!r}, which has no results in this run; splits with "
                                   f"results: {have}.")
        if sk not in keys:
            keys.append(sk)
    if not keys:
        raise ConfigurationError(f"{fn}: `splits` is empty; name at least one split to search.")
    return keys


