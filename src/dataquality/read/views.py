"""One way to open a split for reading: its folder and task (:func:`open_split`), and its results
as DuckDB views with a filter compiled over them (:func:`open_view`).

``dq.metrics``, edits, exports and the console all read through here:

- :func:`open_split` finds a run's split (aliases such as ``"train"`` work) and its task;
- :func:`open_view` registers, on a DuckDB cursor the caller owns, the view ``samples`` (the
  split's ``samples.parquet`` with ``file_row_number``), one view per table the task declares
  (``Task.result_tables``: NER's ``spans``), the id tables of the filter, and compiles the
  filter (core fields and the task's) to a parameterised ``WHERE`` clause. The parts of a filter
  that are not SQL (a lasso on the map, similar samples) are resolved to ids first;
  ``similar_to`` adds a ``similarity`` column to ``samples``;
- :func:`select` runs one query on its own connection and returns pandas (``dq.metrics``,
  exports, edits); :func:`select_table` does the same for a task table (NER spans).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core import layout as S
from ..exceptions import RunNotFoundError, SchemaError
from .filters import Filter, check_value_types, compile_filter, quote
from .lasso import lasso_mask
from .similar import similar_rows
from .splits import (  # noqa: F401 (re-exported: the split handle and its plain reads)
    ROW,
    SplitRef,
    column_info,
    column_kind,
    ids_of,
    load_npy,
    meta_columns,
    n_rows,
    open_run,
    open_split,
    read_rows,
    schema_of,
    split_at,
)


# -- views -------------------------------------------------------------------------------------------


@dataclass
class View:
    """A filter compiled against a split, its views registered on one cursor."""

    where: str
    params: list
    columns: list[str]  # columns of the ``samples`` view (``file_row_number`` and ``similarity`` included)
    similarity: bool  # ``similar_to`` added a ``similarity`` column
    filter: Filter


def parse_filter(value: Filter | dict | str | None, *, fn: str) -> Filter:
    """A :class:`Filter` from a JSON string (the console's ``filter`` query parameter), a dict or None."""
    import json

    from ..exceptions import ConfigurationError

    if isinstance(value, str):
        if not value.strip():
            return Filter()
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ConfigurationError(f"{fn}: `filter` must be a JSON object of filter fields, e.g. "
                                     f'{{"gold": ["positive"]}}; got {value[:200]!r} ({e}).') from None
        if value is not None and not isinstance(value, dict):
            raise ConfigurationError(f"{fn}: `filter` must be a JSON object of filter fields; got {type(value).__name__}.")
    return Filter.parse(value, fn=fn)


def resolve_ids(split: SplitRef, f: Filter, schema, *, fn: str):
    """The ids a filter's ``lasso`` and ``similar_to`` select (each a condition of its own), and
    the similarity table of ``similar_to`` (Arrow: ``id``, ``similarity``) or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    id_sets: dict[str, np.ndarray] = {}
    sim = None
    cols = schema.names
    need = [S.ID] + (["x", "y"] if f.lasso is not None else [])
    if f.lasso is not None and not {"x", "y"} <= set(cols):
        raise SchemaError(f"{fn}: filter `lasso` needs the map (columns x, y), which this split does not have.")
    t = pq.read_table(split.samples_path, columns=need)
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
        rows, scores = similar_rows(split, anchors, int(f.similar_to.get("k", 50)), fn=fn)
        id_sets["similar"] = ids[rows]
        sim = pa.table({S.ID: t.column(S.ID).take(pa.array(rows)), "similarity": pa.array(scores, pa.float32())})
    return id_sets, sim


def open_view(con, split: SplitRef, filt: Filter | dict | None, *, fn: str) -> View:
    """Register ``samples`` (with ``file_row_number``), the task's tables and the filter's id
    tables on ``con``, and compile ``filt`` over them.

    Raises
    ------
    ConfigurationError, SchemaError
        A bad filter, one naming a column the split lacks, values that do not fit their column,
        or a task field of another task type.
    """
    f = Filter.parse(filt, fn=fn)
    schema = schema_of(split)
    check_value_types(f, schema, fn)
    id_sets: dict[str, Any] = {}
    sim = None
    if f.lasso is not None or f.similar_to is not None:
        id_sets, sim = resolve_ids(split, f, schema, fn=fn)
    compiled = compile_filter(replace(f, lasso=None, similar_to=None), schema.names, fn=fn, id_sets=id_sets,
                              task=split.task, manifest=split.manifest)
    src = con.read_parquet(str(split.samples_path), file_row_number=True)
    cols = schema.names + ["file_row_number"]
    if sim is not None:
        con.register("_dq_src", src)
        con.register("_dq_sim", sim)
        con.register("samples", con.sql("SELECT _dq_src.*, _dq_sim.similarity FROM _dq_src LEFT JOIN _dq_sim USING (id)"))
        cols.append("similarity")
    else:
        con.register("samples", src)
    for table in split.task.result_tables(split.manifest):
        path = split.table_path(table)
        if path is not None:
            con.register(table, con.read_parquet(str(path)))
    for name, table in compiled.id_tables.items():
        con.register(name, table)
    return View(compiled.where, list(compiled.params), cols, sim is not None, f)


def fetch_arrow(rel):
    """A DuckDB relation's rows as an Arrow table (DuckDB 2 and 1.x)."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def connect():
    import duckdb

    return duckdb.connect()


def select(split: SplitRef, filt: Filter | dict | None, *, fn: str, columns: list[str] | None = None):
    """Rows of a split matching ``filt`` as a pandas DataFrame, in row order, with ``_row`` (the
    row in the split's arrays); with ``similar_to`` also ``similarity``, most similar first.
    ``columns`` (``id`` always kept) defaults to every column; names the split lacks are skipped."""
    con = connect()
    try:
        view = open_view(con, split, filt, fn=fn)
        names = [c for c in view.columns if c not in ("file_row_number", "similarity")]
        keep = names if columns is None else [c for c in dict.fromkeys([S.ID, *columns]) if c in names]
        sim = ", similarity" if view.similarity else ""
        order = "similarity DESC, file_row_number" if view.similarity else "file_row_number"
        sql = (f"SELECT {', '.join(quote(c) for c in keep)}, file_row_number AS {ROW}{sim} FROM samples "
               f"WHERE {view.where} ORDER BY {order}")
        # through Arrow, so the dtypes are those of an unfiltered read (pyarrow -> pandas)
        return fetch_arrow(con.sql(sql, params=view.params)).to_pandas()
    finally:
        con.close()


def select_table(split: SplitRef, table: str, filt: Filter | dict | None, *, fn: str):
    """Rows of the task table ``table`` (e.g. NER's ``spans``) of the samples ``filt`` selects and
    that the filter's task fields select themselves (``Task.table_clause``), in file order, as
    pandas with the column ``_row`` (the row in the table's file and its row-aligned arrays).

    Raises
    ------
    RunNotFoundError
        The split has no such table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = split.table_path(table)
    if path is None:
        owners = _table_owners(table)
        raise RunNotFoundError(f"{fn}: split {split.key!r} has no {table}; {table} exist for "
                               f"{' and '.join(owners) or 'no'} runs.")
    full = pq.read_table(path)
    f = Filter.parse(filt, fn=fn)
    if f.is_empty():
        rows = np.arange(full.num_rows, dtype=np.int64)
    else:
        con = connect()
        try:
            view = open_view(con, split, f, fn=fn)
            cond, cparams = split.task.table_clause(table, {k: v for k, v in f.task_fields.items() if v is not None}, fn=fn)
            con.register("_dq_table", con.read_parquet(str(path), file_row_number=True))
            sql = (f"SELECT file_row_number FROM _dq_table WHERE ({cond}) AND {quote(S.ID)} IN "
                   f"(SELECT {quote(S.ID)} FROM samples WHERE {view.where}) ORDER BY file_row_number")
            rows = np.array([r[0] for r in con.execute(sql, cparams + view.params).fetchall()], dtype=np.int64)
        finally:
            con.close()
    df = full.take(pa.array(rows)).to_pandas()
    df[ROW] = rows
    return df


def _table_owners(table: str) -> list[str]:
    from ..tasks.registry import TASKS

    return [t.name for t in TASKS.values() if table in t.result_tables({})]
