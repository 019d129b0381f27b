"""Filtered reads of a split's ``samples.parquet`` with DuckDB (one connection per query).

:func:`select` is what ``dq.metrics``, exports and edits use: it resolves the non-SQL parts of a
filter (lasso on the map, similar samples) to ids, compiles the rest to parameterised SQL and
returns the matching rows with their row number (``_row``) in the split's arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import schema as S
from .exceptions import SchemaError
from .filters import Compiled, Filter, compile_filter, points_in_polygon

ROW = "_row"  # row of a sample in samples.parquet / embeddings.npy / probs.npy


def _connect():
    import duckdb

    return duckdb.connect()


def columns_of(results_dir: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(results_dir / S.SAMPLES_FILE).names


def similar_rows(results_dir: Path, anchor_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine search inside one split: the ``k`` most similar rows of each anchor row.

    Returns
    -------
    rows, scores : numpy.ndarray
        Unique rows (anchors included, score 1) with their best similarity to any anchor,
        by descending score.
    """
    import faiss

    path = results_dir / S.EMBEDDINGS_FILE
    if not path.exists():
        raise SchemaError("similar_to needs embeddings; this split was logged with exclude_embs=True.")
    emb = np.load(path, mmap_mode="r")
    index = faiss.IndexFlatIP(emb.shape[1])
    step = 65_536
    for s in range(0, len(emb), step):
        block = np.array(emb[s : s + step], dtype=np.float32, order="C")  # a writable copy
        faiss.normalize_L2(block)
        index.add(block)
    q = np.array(emb[np.asarray(anchor_rows)], dtype=np.float32, order="C")
    faiss.normalize_L2(q)
    D, I = index.search(q, min(k + 1, len(emb)))
    best: dict[int, float] = {}
    for r, s in zip(I.ravel().tolist(), D.ravel().tolist()):
        if r >= 0 and s > best.get(r, -np.inf):
            best[r] = s
    for r in np.asarray(anchor_rows).tolist():
        best[int(r)] = 1.0
    rows = np.fromiter(best.keys(), dtype=np.int64, count=len(best))
    scores = np.fromiter(best.values(), dtype=np.float32, count=len(best))
    order = np.argsort(-scores, kind="stable")
    return rows[order], scores[order]


def _kind(typ) -> str | None:
    import pyarrow as pa

    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "number"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "string"
    return None  # dates and others: left to DuckDB


def _fits(value, kind: str) -> bool:
    if value is None:
        return True
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
            inside = points_in_polygon(t.column("x").to_numpy(), t.column("y").to_numpy(), f.lasso["x"], f.lasso["y"])
            id_sets["lasso"] = ids[inside]
        if f.similar_to is not None:
            import pandas as pd

            anchors = pd.Index(ids).get_indexer(pd.Index(list(f.similar_to["ids"])))
            if (anchors < 0).any():
                missing = np.asarray(list(f.similar_to["ids"]), dtype=object)[anchors < 0][:10].tolist()
                raise SchemaError(f"{fn}: filter `similar_to` ids {missing} are not in this split.")
            k = int(f.similar_to.get("k", 50))
            rows, scores = similar_rows(results_dir, anchors, k)
            id_sets["similar"] = ids[rows]
            sim = pd.DataFrame({S.ID: ids[rows], "similarity": scores})
    compiled: Compiled = compile_filter(f, cols, fn=fn, id_sets=id_sets)
    con = _connect()
    try:
        rel = con.read_parquet(str(results_dir / S.SAMPLES_FILE), file_row_number=True)
        con.register("samples", rel)
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
