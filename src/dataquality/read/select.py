"""Filtered reads of a split's ``samples.parquet`` with DuckDB (one connection per query).

:func:`select` is what ``dq.metrics``, exports and edits use: it resolves the non-SQL parts of a
filter (lasso on the map, similar samples) to ids, compiles the rest to parameterised SQL and
returns the matching rows with their row number (``_row``) in the split's arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import layout as S
from ..exceptions import SchemaError
from .filters import Compiled, Filter, compile_filter, lasso_mask

ROW = "_row"  # row of a sample in samples.parquet / embeddings.npy / probs.npy


def _connect():
    import duckdb

    return duckdb.connect()


def columns_of(results_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(results_dir / S.SAMPLES_FILE).names


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
    for key in keys:
        _refuse_spans(Path(results_root) / key, fn=fn)
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


def _refuse_spans(results_dir: Path, *, fn: str) -> None:
    """NER results hold span embeddings (one row per span, not per sample): refuse sample search."""
    if (results_dir / "spans.parquet").exists():
        raise SchemaError(
            f"{fn}: similarity search by sample is not available for text_ner splits yet (their "
            "embeddings are per span); read span embeddings with dq.metrics.get_spans(..., include_embs=True)."
        )


def similar_rows(results_dir: Path, anchor_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine search inside one split through its index: the ``k`` most similar rows of each
    anchor row (exact up to ``similarity.EXACT_MAX`` samples, the stored IVF index beyond).

    Returns
    -------
    rows, scores : numpy.ndarray
        Unique rows (anchors included, score 1) with their best similarity to any anchor,
        by descending score.
    """
    _refuse_spans(results_dir, fn="filter `similar_to`")
    root, key = root_and_key(results_dir)
    anchor_rows = np.asarray(anchor_rows, dtype=np.int64)
    emb = results_dir / S.EMBEDDINGS_FILE
    if not emb.exists():
        raise SchemaError("similar_to needs embeddings; this split was logged with exclude_embs=True.")
    queries = np.load(emb, mmap_mode="r")[np.sort(anchor_rows)][np.argsort(np.argsort(anchor_rows))]
    df = nearest(root, [key], queries, k, fn="similar_to", what="similar_to", own=(key, anchor_rows))
    return df[ROW].to_numpy(np.int64), df["similarity"].to_numpy(np.float32)


def read_rows(results_dir: Path, rows: np.ndarray, columns: list[str]):
    """Columns of the given rows of a split's ``samples.parquet`` (in the order of ``rows``),
    reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = np.asarray(rows, dtype=np.int64)
    pf = pq.ParquetFile(results_dir / S.SAMPLES_FILE)
    cols = [c for c in columns if c in pf.schema_arrow.names]
    sizes = np.array([pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.unique(np.searchsorted(starts, rows, side="right") - 1)
    if len(groups) == 0:
        return pf.schema_arrow.empty_table().select(cols).to_pandas()
    table = pf.read_row_groups(groups.tolist(), columns=cols)
    offsets = np.concatenate([[0], np.cumsum(sizes[groups])])
    gpos = np.searchsorted(groups, np.searchsorted(starts, rows, side="right") - 1)
    local = offsets[gpos] + rows - starts[groups[gpos]]
    return table.take(pa.array(local)).to_pandas()


def _kind(typ) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "number"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "string"
    if pa.types.is_temporal(typ):
        return "temporal"
    return None  # lists and structs (NER spans)


def _fits(value, kind: str | None) -> bool:
    if value is None or kind not in ("bool", "number", "string"):
        return True  # dates and the rest: left to DuckDB
    if kind == "bool":
        return isinstance(value, (bool, np.bool_))
    if kind == "number":
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, str)


def _check_value_types(f: Filter, schema, fn: str) -> None:
    """Filter values must fit their column's type (else DuckDB would fail to cast, or match nothing
    for a reason the user cannot see)."""
    checks: list[tuple[str, str, list]] = []
    if S.ID in schema.names:
        for name in ("ids", "exclude_ids"):
            v = getattr(f, name)
            if v:
                checks.append((name, S.ID, list(v)))
    for col, cond in f.meta.items():
        if col not in schema.names:
            continue  # compile_filter names the missing column
        if isinstance(cond, dict):
            vals = [cond[b] for b in ("min", "max") if b in cond]
            inn = cond.get("in")
            if inn is not None and not isinstance(inn, (str, bytes)) and hasattr(inn, "__iter__"):
                vals += list(inn)
        elif isinstance(cond, (list, tuple)):
            vals = list(cond)
        else:
            vals = [cond]
        checks.append((f"meta[{col!r}]", col, vals))
    for what, col, vals in checks:
        kind = _kind(schema.field(col).type)
        if kind is None:
            continue
        bad = [v for v in vals if not _fits(v, kind)]
        if bad:
            raise SchemaError(
                f"{fn}: filter `{what}` holds values that do not fit column {col!r} ({kind}); got {bad[:5]!r}."
            )


def select(results_dir: Path, filt: Filter | dict | None, *, fn: str, columns: list[str] | None = None,
           order_by: str | None = None, limit: int | None = None, extra_sql: str = ""):
    """Rows of a split matching ``filt`` as a pandas DataFrame (plus ``_row``, and ``similarity``
    when the filter has ``similar_to``)."""
    import pandas as pd
    import pyarrow.parquet as pq

    f = Filter.parse(filt, fn=fn)
    schema = pq.read_schema(results_dir / S.SAMPLES_FILE)
    cols = schema.names
    _check_value_types(f, schema, fn)
    id_sets: dict[str, np.ndarray] = {}
    sim = None
    if f.lasso is not None or f.similar_to is not None:
        import pyarrow.parquet as pq

        need = [S.ID] + [c for c in ("x", "y") if f.lasso is not None]
        if f.lasso is not None and not {"x", "y"} <= set(cols):
            raise SchemaError(f"{fn}: filter `lasso` needs the map (columns x, y), which this split does not have.")
        t = pq.read_table(results_dir / S.SAMPLES_FILE, columns=need)
        ids = t.column(S.ID).to_numpy(zero_copy_only=False)
        if f.lasso is not None:
            inside = lasso_mask(t.column("x").to_numpy(), t.column("y").to_numpy(), f.lasso)
            id_sets["lasso"] = ids[inside]
        if f.similar_to is not None:
            import pandas as pd

            anchors = pd.Index(ids).get_indexer(pd.Index(list(f.similar_to["ids"])))
            if (anchors < 0).any():
                missing = np.asarray(list(f.similar_to["ids"]), dtype=object)[anchors < 0][:10].tolist()
                raise SchemaError(f"{fn}: filter `similar_to` ids {missing} are not in this split.")
            k = int(f.similar_to.get("k", 50))
            if not (results_dir / S.EMBEDDINGS_FILE).exists():
                raise SchemaError(f"{fn}: filter `similar_to` needs embeddings; this split was logged with exclude_embs=True.")
            rows, scores = similar_rows(results_dir, anchors, k)
            id_sets["similar"] = ids[rows]
            sim = pd.DataFrame({S.ID: ids[rows], "similarity": scores})
    compiled: Compiled = compile_filter(f, cols, fn=fn, id_sets=id_sets)
    con = _connect()
    try:
        rel = con.read_parquet(str(results_dir / S.SAMPLES_FILE), file_row_number=True)
        con.register("samples", rel)
        spans = results_dir / "spans.parquet"  # NER: span conditions select samples through it
        if spans.exists():
            con.register("spans", con.read_parquet(str(spans)))
        for name, table in compiled.id_tables.items():
            con.register(name, table)
        wanted = "*" if columns is None else ", ".join(
            ['"' + c.replace('"', '""') + '"' for c in dict.fromkeys([S.ID, *columns]) if c in cols]
        )
        sql = f"SELECT {wanted}, file_row_number AS {ROW} FROM samples WHERE {compiled.where} {extra_sql}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        else:
            sql += " ORDER BY file_row_number"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # through Arrow, so the dtypes are those of an unfiltered read (pyarrow -> pandas)
        result = con.sql(sql, params=compiled.params)
        fetch = getattr(result, "to_arrow_table", None) or result.arrow  # duckdb 2 / 1.x
        df = fetch().to_pandas()
    finally:
        con.close()
    if "file_row_number" in df.columns:
        df = df.drop(columns=["file_row_number"])
    if sim is not None:
        df = df.merge(sim, on=S.ID, how="left").sort_values("similarity", ascending=False, kind="stable")
        df = df.reset_index(drop=True)
    return df
