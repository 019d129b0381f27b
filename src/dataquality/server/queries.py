"""The console's queries over one split: keyset pages, counts, matching rows, histograms and the
binary map payload (the confusion matrix is :func:`dataquality.read.summary.confusion`).

Every function takes a DuckDB cursor that the caller opened for one request (a cursor of the app's
in-memory database: cheap, and its registered views are its own) and closes afterwards, and the
split (:class:`dataquality.read.views.SplitRef`). The split's views and the filter come from
:func:`dataquality.read.views.open_view`, the one way the package opens a split in DuckDB; the only
names put into SQL text are column names checked against the file's schema and quoted.

Keyset paging
-------------
A page is ordered by ``(key, file_row_number)`` where ``key`` is the sort column (NULLs mapped
to the end of the order), and the next page starts strictly after the last row of this one:
``WHERE key < ? OR (key = ? AND file_row_number < ?)`` (``>`` when ascending). The cursor is that
last ``(key, row)`` pair, opaque to the client. There is no ``OFFSET``: page 1000 costs what page 1
costs (one filtered scan and a top-N), and rows inserted or edited between calls never make a
page repeat or skip rows.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..exceptions import ConfigurationError, SchemaError
from ..read.filters import quote as _quote
from ..read.views import SplitRef, column_info, fetch_arrow, n_rows, open_view, parse_filter, schema_of
from ..read.views import column_kind as _kind

__all__ = ["column_info", "n_rows", "parse_filter"]  # re-exported for the app

DEP = "data_error_potential"
MAX_PAGE = 1000
MAP_COLUMNS = ("x", "y", "gold", "pred", "dep", "cluster")
ARROW_STREAM = "application/vnd.apache.arrow.stream"


# -- keyset pages ----------------------------------------------------------------------------------


def _sort_key(col: str, typ, descending: bool) -> str:
    """SQL for the sort key of ``col``: NULLs map past the last value of the order."""
    import pyarrow as pa

    q = _quote(col)
    if pa.types.is_boolean(typ):
        return f"coalesce(CAST({q} AS INTEGER), {-1 if descending else 2})"
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return f"coalesce(CAST({q} AS DOUBLE), '{'-' if descending else ''}infinity'::DOUBLE)"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return f"coalesce({q}, '')" if descending else f"coalesce({q}, chr(1114111))"
    return q  # temporal: NULLs sort last ascending in DuckDB and are rare in meta dates


def encode_cursor(sort: str, descending: bool, key: Any, row: int) -> str:
    if isinstance(key, float) and math.isnan(key):
        key = "NaN"
    payload = json.dumps([sort, bool(descending), key, int(row)], default=str)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, descending: bool, *, fn: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        csort, cdesc, key, row = json.loads(raw)
        row = int(row)
    except (ValueError, TypeError):
        raise ConfigurationError(f"{fn}: `cursor` must be the `next_cursor` of a previous page; got {cursor[:80]!r}.") from None
    if csort != sort or bool(cdesc) != bool(descending):
        raise ConfigurationError(f"{fn}: `cursor` belongs to a page sorted by {csort!r} "
                                 f"({'desc' if cdesc else 'asc'}); this request sorts by {sort!r} "
                                 f"({'desc' if descending else 'asc'}). Start again without a cursor.")
    if key == "NaN":
        key = float("nan")
    return key, row


class TableCache:
    """Splits' ``samples.parquet`` held in memory as Arrow tables, least recently used dropped past
    ``budget_bytes`` (default ``$DQ_CONSOLE_CACHE_MIB`` or 2048 MiB), keyed by path, size and mtime
    so a re-finished split is read again.

    Fetching the 50 rows of a page by row number from a file whose row group holds a million rows
    decodes every column of the group (≈ 150 ms at 1M rows here); from memory it is a ``take``
    (≈ 1 ms). A table larger than the budget is not held; callers then read through DuckDB.
    """

    def __init__(self, budget_bytes: int | None = None) -> None:
        import os
        import threading
        from collections import OrderedDict

        if budget_bytes is None:
            budget_bytes = int(float(os.environ.get("DQ_CONSOLE_CACHE_MIB", "2048")) * 2**20)
        self.budget = budget_bytes
        self._tables: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path):
        """The table at ``path`` (with a ``_row`` column), or None when it does not fit the budget."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            t = self._tables.get(key)
            if t is not None:
                self._tables.move_to_end(key)
                return t
            if st.st_size > self.budget:
                return None
            t = pq.read_table(path)
            t = t.append_column("_row", pa.array(np.arange(t.num_rows, dtype=np.int64)))
            if t.nbytes > self.budget:
                return None
            for k in [k for k in self._tables if k[0] == key[0]]:  # an older version of the file
                del self._tables[k]
            self._tables[key] = t
            while sum(x.nbytes for x in self._tables.values()) > self.budget:
                self._tables.popitem(last=False)
            return t


def fetch_rows(con, split: SplitRef, rows: list[int], columns: list[str], cache: TableCache | None):
    """``columns`` of the given rows of the split, in the order of ``rows``, as a list of dicts
    (from the in-memory table when ``cache`` holds it, else one DuckDB query)."""
    import pyarrow as pa

    if not rows:
        return []
    t = cache.get(split.samples_path) if cache is not None else None
    if t is not None:
        return t.select(columns).take(pa.array(rows, pa.int64())).to_pylist()
    path = split.samples_path
    select = ", ".join(_quote(c) for c in columns)
    got = fetch_arrow(con.sql(f"SELECT {select}, file_row_number AS _dq_r FROM read_parquet(?, file_row_number=true) "
                         f"WHERE file_row_number IN (SELECT unnest(?))", params=[str(path), list(rows)])).to_pylist()
    by_row = {r.pop("_dq_r"): r for r in got}
    return [by_row[r] for r in rows]


def page(con, split: SplitRef, filt, *, fn: str, sort: str = DEP, descending: bool = True,
         limit: int = 50, cursor: str | None = None, columns: list[str] | None = None,
         cache: TableCache | None = None) -> dict:
    """One page of the rows matching ``filt``, ordered by ``sort`` then row number.

    In two steps: the filter and the order run over the sort column alone (a top-N of ``(key,
    row)``), then the page's rows are fetched by row number (:func:`fetch_rows`), so wide columns
    (texts) are never sorted or decoded beyond the page.

    Parameters
    ----------
    sort : str
        A scalar column of the split (number, string, bool or date); default DEP.
    descending : bool
        Default True (highest DEP first).
    limit : int
        Rows per page, 1 to ``MAX_PAGE``.
    cursor : str, optional
        The ``next_cursor`` of the previous page (same filter and sort).
    columns : list of str, optional
        Columns to return (``id`` always); default every column.
    cache : TableCache, optional
        Where the split may be held in memory.

    Returns
    -------
    dict
        ``rows`` (list of dicts, each with ``_row``, its row in the split's arrays and the map),
        ``next_cursor`` (None after the last page), ``sort``, ``descending``, ``limit``.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ConfigurationError(f"{fn}: `limit` must be an integer in [1, {MAX_PAGE}]; got {limit!r}.")
    view = open_view(con, split, parse_filter(filt, fn=fn), fn=fn)
    schema = schema_of(split)
    types = {f.name: f.type for f in schema}
    if view.similarity:
        import pyarrow as pa

        types["similarity"] = pa.float32()
    sortable = [c for c, t in types.items() if _kind(t) in ("number", "string", "bool", "temporal")]
    if sort not in sortable:
        raise ConfigurationError(f"{fn}: `sort` must be a scalar column of this split, one of {sorted(sortable)}; got {sort!r}.")
    if columns is not None:
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise ConfigurationError(f"{fn}: `columns` names {unknown}, not columns of this split; columns: {sorted(types)}.")
        wanted = list(dict.fromkeys([S.ID, *columns]))
    else:
        wanted = [c for c in view.columns if c != "file_row_number"]
    key = _sort_key(sort, types[sort], descending)
    op = "<" if descending else ">"
    direction = "DESC" if descending else "ASC"
    where, params = view.where, list(view.params)
    if cursor:
        k, r = decode_cursor(cursor, sort, descending, fn=fn)
        where = f"({where}) AND ({key} {op} ? OR ({key} = ? AND file_row_number {op} ?))"
        params += [k, k, r]
    sim = ", similarity" if view.similarity else ""
    sql = (f"SELECT file_row_number, {key} AS _dq_key{sim} FROM samples WHERE {where} "
           f"ORDER BY _dq_key {direction}, file_row_number {direction} LIMIT ?")
    head = con.execute(sql, params + [limit + 1]).fetchall()
    more = len(head) > limit
    head = head[:limit]
    rows = fetch_rows(con, split, [int(h[0]) for h in head], [c for c in wanted if c != "similarity"], cache)
    for rec, h in zip(rows, head):
        rec["_row"] = int(h[0])
        if view.similarity and "similarity" in wanted:
            rec["similarity"] = h[2]
    nxt = encode_cursor(sort, descending, head[-1][1], head[-1][0]) if more and head else None
    return {"rows": rows, "next_cursor": nxt, "sort": sort, "descending": descending, "limit": limit}


# -- counts, confusion, matching rows, histograms -----------------------------------------------------


def count(con, split: SplitRef, filt, *, fn: str) -> int:
    view = open_view(con, split, parse_filter(filt, fn=fn), fn=fn)
    return int(con.execute(f"SELECT count(*) FROM samples WHERE {view.where}", view.params).fetchall()[0][0])


def matching(con, split: SplitRef, filt, *, fn: str):
    """Arrow table of the rows matching ``filt``: ``row`` (uint32, row in the map payload) and
    ``id``, in row order."""
    view = open_view(con, split, parse_filter(filt, fn=fn), fn=fn)
    sql = (f"SELECT CAST(file_row_number AS UINTEGER) AS row, {_quote(S.ID)} AS id FROM samples "
           f"WHERE {view.where} ORDER BY file_row_number")
    return fetch_arrow(con.sql(sql, params=view.params))


def histogram(con, split: SplitRef, filt, column: str, *, fn: str, bins: int = 20,
              lo: float | None = None, hi: float | None = None) -> dict:
    """Counts of ``column`` over the rows matching ``filt``: equal-width bins between the column's
    min and max over the whole split for numbers (so filtered and unfiltered histograms share
    edges), or between ``lo`` and ``hi`` when given (so two splits share edges; values outside
    count in the first or last bin); value counts for strings and booleans."""
    schema = schema_of(split)
    if column not in schema.names or _kind(schema.field(column).type) not in ("number", "string", "bool"):
        ok = sorted(f.name for f in schema if _kind(f.type) in ("number", "string", "bool"))
        raise ConfigurationError(f"{fn}: `column` must be a number, string or bool column of this split, one of {ok}; got {column!r}.")
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 200:
        raise ConfigurationError(f"{fn}: `bins` must be an integer in [1, 200]; got {bins!r}.")
    view = open_view(con, split, parse_filter(filt, fn=fn), fn=fn)
    q = _quote(column)
    if _kind(schema.field(column).type) == "number":
        for name, v in (("lo", lo), ("hi", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)):
                raise ConfigurationError(f"{fn}: `{name}` must be a finite number; got {v!r}.")
        if lo is not None and hi is not None and not hi > lo:
            raise ConfigurationError(f"{fn}: `hi` must be greater than `lo`; got lo={lo!r}, hi={hi!r}.")
        if lo is None or hi is None:
            dlo, dhi = con.execute(f"SELECT min({q}), max({q}) FROM samples WHERE isfinite(CAST({q} AS DOUBLE))").fetchall()[0]
            if dlo is None:
                return {"column": column, "kind": "number", "edges": [], "counts": [], "n": 0}
            lo = float(dlo) if lo is None else lo
            hi = float(dhi) if hi is None else hi
            if not hi >= lo:
                raise ConfigurationError(f"{fn}: the histogram range is empty: lo={lo!r} is above hi={hi!r}.")
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / bins if hi > lo else 1.0
        sql = (f"SELECT greatest(least(CAST(floor((CAST({q} AS DOUBLE) - ?) / ?) AS INTEGER), ?), 0) AS b, count(*) "
               f"FROM samples WHERE {view.where} AND isfinite(CAST({q} AS DOUBLE)) GROUP BY b")
        counts = np.zeros(bins, dtype=np.int64)
        for b, c in con.execute(sql, [lo, width, bins - 1] + view.params).fetchall():
            counts[int(b)] += c
        edges = (lo + width * np.arange(bins + 1)).tolist()
        return {"column": column, "kind": "number", "edges": edges, "counts": counts.tolist(), "n": int(counts.sum())}
    sql = f"SELECT {q} AS v, count(*) AS c FROM samples WHERE {view.where} GROUP BY v ORDER BY c DESC, v LIMIT 200"
    pairs = con.execute(sql, view.params).fetchall()
    return {"column": column, "kind": _kind(schema.field(column).type), "values": [v for v, _ in pairs],
            "counts": [int(c) for _, c in pairs], "n": int(sum(c for _, c in pairs))}


# -- the map -------------------------------------------------------------------------------------------


def map_table(split: SplitRef, labels: list[str], *, fn: str, include_ids: bool = False):
    """The map of a split as an Arrow table, one row per sample in row order.

    Columns ``x``, ``y`` (float32, the 2-D layout), ``gold`` and ``pred`` (int16 index into
    ``labels``, -1 where there is none: inference has no gold), ``dep`` (float32, NaN where absent),
    ``cluster`` (int32, -1 = noise or none), and ``id`` with ``include_ids``. The schema metadata
    carries ``labels`` (JSON) and ``n``. Row ``i`` is the sample at ``_row`` ``i`` of every other
    endpoint, so a selection travels as row numbers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = split.samples_path
    names = pq.read_schema(path).names
    if not {"x", "y"} <= set(names):
        raise SchemaError(f"{fn}: this split has no map (columns x, y); it is computed by dq.finish() from "
                          "embeddings (NER maps spans, not samples).")
    want = [c for c in ("x", "y", S.GOLD, S.PRED, DEP, "cluster_id", S.ID) if c in names]
    t = pq.read_table(path, columns=want)
    n = t.num_rows
    lab = pa.array(list(labels), type=pa.string())

    def codes(col: str):
        if col not in names:
            return pa.array(np.full(n, -1, np.int16))
        idx = pc.index_in(t.column(col), value_set=lab)
        return pc.fill_null(idx, -1).cast(pa.int16())

    cols = {
        "x": t.column("x").cast(pa.float32()),
        "y": t.column("y").cast(pa.float32()),
        "gold": codes(S.GOLD),
        "pred": codes(S.PRED),
        "dep": (t.column(DEP).cast(pa.float32()) if DEP in names else pa.array(np.full(n, np.nan, np.float32))),
        "cluster": (pc.fill_null(t.column("cluster_id"), -1).cast(pa.int32()) if "cluster_id" in names
                    else pa.array(np.full(n, -1, np.int32))),
    }
    if include_ids:
        cols["id"] = t.column(S.ID)
    out = pa.table(cols)
    return out.replace_schema_metadata({"labels": json.dumps(list(labels)), "n": str(n)})


def to_ipc_stream(table) -> bytes:
    """An Arrow IPC stream (``application/vnd.apache.arrow.stream``), uncompressed so any Arrow
    reader (apache-arrow in the browser included) decodes it."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=1 << 20)
    return sink.getvalue().to_pybytes()
