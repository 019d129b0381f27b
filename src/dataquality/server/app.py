"""The console's FastAPI app: a JSON (and Arrow) API under ``/api`` over the run store.

Build it with :func:`create_app`; :mod:`dataquality.server.runner` serves it. The OpenAPI schema is
at ``/api/openapi.json`` and interactive docs at ``/api/docs``. Every split-level route lives under
``/api/runs/{project}/{run}/splits/{split}`` (``split`` a name or alias; inference sets add
``?inference_name=``) and takes the global filter as ``?filter=<JSON object>`` (the fields of
:class:`dataquality.read.filters.Filter`), so a view can be kept in a URL.

Errors are JSON ``{"error": <exception class>, "detail": <message>}``: a bad filter, sort, cursor
or argument is 400, an unknown project, run or split 404, a missing token 401.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from ..version import __version__
from .. import metrics as M
from ..core import layout as S
from ..core import store
from ..exceptions import (
    ConfigurationError,
    DataQualityError,
    InputTypeError,
    RunNotFoundError,
    RunStateError,
)
from ..read import summary as RS
from ..read import views as V
from . import queries as Q
from .site import mount_front_end, mount_offline_docs, offline_docs_assets

FILTER_DOC = ('The global filter: a JSON object of `Filter` fields, e.g. `{"gold": ["positive"], "dep_min": 0.5}` '
              "(URL-encoded). Empty or absent: every sample.")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _clean(v):
    """JSON-safe values: NaN/inf -> None, numpy scalars and arrays -> Python."""
    import math

    import numpy as np

    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, np.generic):
        return _clean(v.item())
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


class DQJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(_clean(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _records(df) -> list[dict]:
    return _clean(df.to_dict(orient="records"))


# -- request bodies ----------------------------------------------------------------------------------


class EditIn(BaseModel):
    """An edit: what to do with the samples ``filter`` selects now (see ``dq.metrics.create_edit``)."""

    edit_action: str = Field(description="relabel, relabel_as_pred, delete, update_text, select_for_label; NER: "
                                         "relabel_span, shift_span, delete_span")
    filter: dict | None = Field(default=None, description="Filter fields (as in `?filter=`)")
    new_label: str | None = None
    search_string: str | None = None
    text_replacement: str | None = None
    use_regex: bool = False
    note: str | None = None
    shift_start: int = 0
    shift_end: int = 0


class UndoIn(BaseModel):
    edit_id: int | None = Field(default=None, description="The edit to undo; default the latest active one")


# -- the app -------------------------------------------------------------------------------------------


def create_app(root: str | os.PathLike | None = None, *, token: str | None = None,
               allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS, cache_bytes: int | None = None) -> FastAPI:
    """The console app over the store at ``root`` (default ``$DQ_HOME`` or ``~/.dataquality``).

    Parameters
    ----------
    token : str, optional
        When set, every request must carry it: header ``Authorization: Bearer <token>``, query
        parameter ``?token=`` (which also sets an HttpOnly cookie, so the page's own requests
        carry it) or that cookie; others get 401. Required when serving beyond loopback.
    allowed_hosts : tuple of str, optional
        Without a token, requests whose ``Host`` header names another host get 403 (a page on
        another site cannot reach the console through DNS rebinding). None: any host.
    cache_bytes : int, optional
        Memory for splits held as Arrow tables to fetch pages' rows from (default
        ``$DQ_CONSOLE_CACHE_MIB`` or 2048 MiB; 0 reads every page through DuckDB).

    Returns
    -------
    fastapi.FastAPI
    """
    import duckdb

    root_path = store.root_dir(root)
    app = FastAPI(title="dataquality console API", version=__version__, default_response_class=DQJSONResponse,
                  openapi_url="/api/openapi.json", docs_url=None if offline_docs_assets() else "/api/docs",
                  redoc_url=None, description=__doc__)
    mount_offline_docs(app)
    app.state.root = root_path
    app.state.db = duckdb.connect()  # each request works on its own cursor of this database
    app.state.map_cache = {}
    app.state.tables = Q.TableCache(cache_bytes)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        via_query = False
        if token is not None:
            got = None
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                got = auth[7:].strip()
            elif request.query_params.get("token"):
                got, via_query = request.query_params["token"], True
            elif request.cookies.get("dq_token"):
                got = request.cookies["dq_token"]
            if got is None or not secrets.compare_digest(got.encode(), token.encode()):
                return DQJSONResponse(
                    {"error": "Unauthorized", "detail": "This console needs its access token: send the header "
                     "`Authorization: Bearer <token>` or add `?token=<token>` to the URL (printed by `dq serve`)."},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        elif allowed_hosts is not None:
            raw = request.headers.get("host", "")
            host = raw.split("]")[0] + "]" if raw.startswith("[") else raw.rsplit(":", 1)[0]  # drop the port
            if host not in allowed_hosts:
                return DQJSONResponse({"error": "Forbidden", "detail": f"Host {host!r} is not a loopback name; "
                                       "serve with a token to reach the console from other hosts."}, status_code=403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return DQJSONResponse({"error": "UnsupportedMediaType",
                                       "detail": f"{request.method} {request.url.path} takes a JSON body "
                                                 f"(Content-Type: application/json); got {ctype or 'none'!r}."},
                                      status_code=415)
        response = await call_next(request)
        if via_query:
            response.set_cookie("dq_token", token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(DataQualityError)
    async def dq_error(request: Request, exc: DataQualityError):
        status = 404 if isinstance(exc, RunNotFoundError) else 409 if isinstance(exc, RunStateError) else 400
        return DQJSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    @app.exception_handler(duckdb.Error)
    async def duckdb_error(request: Request, exc: duckdb.Error):
        # What reaches DuckDB is validated first; what it still rejects is a value of the request
        # (a regex it cannot run, a value it cannot cast), not a server fault.
        return DQJSONResponse({"error": "QueryError", "detail": f"The query could not run: {exc}"}, status_code=400)

    app.include_router(_router(app), prefix="/api")
    mount_front_end(app)
    return app


def _router(app: FastAPI) -> APIRouter:
    r = APIRouter()

    def root():
        return app.state.root

    def open_split(project: str, run: str, split: str, inference_name: str, fn: str) -> V.SplitRef:
        return V.open_split(project, run, split, inference_name, fn=fn, root=root())

    def cursor():
        return app.state.db.cursor()

    def run_query(fn_name: str, project, run, split, inference_name, body):
        """Call ``body(con, split, fn)`` on a fresh cursor."""
        fn = f"console {fn_name}"
        sp = open_split(project, run, split, inference_name, fn)
        con = cursor()
        try:
            return body(con, sp, fn)
        finally:
            con.close()

    split_path = "/runs/{project}/{run}/splits/{split}"
    IN = Query("", description="Inference set name (split `inference` only)")
    FILTER = Query(None, description=FILTER_DOC)

    # -- projects and runs -----------------------------------------------------------------------

    @r.get("/health", tags=["meta"], summary="Liveness and version")
    def health():
        return {"status": "ok", "version": __version__, "root": str(root())}

    @r.get("/projects", tags=["runs"], summary="Projects in the store, with their runs")
    def projects():
        by: dict[str, list] = {}
        for run in store.list_runs(root()):
            by.setdefault(run["project_name"], []).append(run["run_name"])
        return [{"project_name": p, "n_runs": len(v), "runs": v} for p, v in sorted(by.items())]

    @r.get("/runs", tags=["runs"], summary="Every run (optionally of one project)")
    def runs(project: str | None = Query(None, description="Only this project's runs")):
        out = store.list_runs(root())
        if project is not None:
            out = [x for x in out if x["project_name"] == project]
        return out

    @r.get("/runs/{project}/{run}", tags=["runs"], summary="A run: task, labels, status and its splits with columns")
    def run_detail(project: str, run: str):
        fn = "console run"
        paths, manifest, task = V.open_run(project, run, fn=fn, root=root())
        summary = store.read_json(paths.summary) if paths.summary.exists() else {"splits": {}}
        tables = task.result_tables(manifest)
        splits = []
        for key in sorted(manifest.get("results", {})):
            sp = V.split_at(paths, manifest, task, key)
            if not sp.samples_path.exists():
                continue
            s = summary.get("splits", {}).get(key, {})
            name, _, inf = key.partition("/")
            cols = V.column_info(sp)
            names = {c["name"] for c in cols}
            splits.append({
                "key": key, "split": name, "inference_name": inf or None, "n_samples": V.n_rows(sp),
                "epochs": s.get("epochs"), "columns": cols,
                "has_map": {"x", "y"} <= names, "has_embeddings": (sp.dir / S.EMBEDDINGS_FILE).exists(),
                "tables": [t for t in tables if sp.table_path(t) is not None],
                "has_spans": sp.table_path("spans") is not None,
            })
        caps = task.capabilities(manifest).to_json()
        return {"project_name": project, "run_name": run, "task_type": manifest.get("task_type"),
                "capabilities": caps, "status": manifest.get("status"), "labels": manifest.get("labels"),
                "tagging_schema": manifest.get("tagging_schema"), "created_at": manifest.get("created_at"),
                "finished_at": manifest.get("finished_at"), "path": str(paths.dir), "splits": splits}

    # -- per split: summary and charts -------------------------------------------------------------

    @r.get(split_path + "/summary", tags=["split"],
           summary="Metrics, confusion matrix, per-class, DEP thresholds, alerts, clusters (and drift for inference)")
    def summary(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER):
        fn = "console summary"
        sp = open_split(project, run, split, inference_name, fn)
        f = V.parse_filter(filter, fn=fn)
        out = RS.run_summary(sp, None if f.is_empty() else f, fn=fn)
        sig = RS.split_summary(sp, fn=fn).get("signals", {})
        out.update({"key": sp.key, "labels": sp.manifest.get("labels"), "task_type": sp.manifest.get("task_type")})
        for extra in ("drift", "flags", "map", "training_dynamics"):
            if extra in sig and extra not in out:
                out[extra] = sig[extra]
        if not f.is_empty() and "n_filtered" not in out:
            # recomputed under the filter: the split's alerts and clusters stay listed (they are of the whole split)
            whole = RS.run_summary(sp, None, fn=fn)
            out["split_wide"] = [k for k in ("alerts", "clusters") if k in whole and k not in out]
            for k in out["split_wide"]:
                out[k] = whole[k]
        return out

    @r.get(split_path + "/confusion", tags=["split"], summary="Confusion matrix of the filtered rows (NER: of spans)")
    def confusion(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER):
        return run_query("confusion", project, run, split, inference_name,
                         lambda con, sp, fn: RS.confusion(con, sp, V.parse_filter(filter, fn=fn), fn=fn))

    @r.get(split_path + "/metrics", tags=["split"], summary="Metrics by category: gold, pred or a meta column")
    def metrics(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
                category: str = Query("gold", description="`gold`, `pred` or a meta column")):
        f = V.parse_filter(filter, fn="console metrics")
        df = M.get_metrics(project, run, split, inference_name, category=category,
                           filter=None if f.is_empty() else f, root=root())
        return {"category": category, "rows": _records(df)}

    @r.get(split_path + "/histogram", tags=["split"],
           summary="Histogram of a column over the filtered rows (numbers: shared edges; categories: counts)")
    def histogram(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
                  column: str = Query(Q.DEP), bins: int = Query(20, ge=1, le=200),
                  lo: float | None = Query(None, description="Lower edge (default the column's minimum over the split)"),
                  hi: float | None = Query(None, description="Upper edge (default the column's maximum over the split)")):
        return run_query("histogram", project, run, split, inference_name,
                         lambda con, sp, fn: Q.histogram(con, sp, filter, column, fn=fn, bins=bins, lo=lo, hi=hi))

    # -- per split: rows ---------------------------------------------------------------------------

    @r.get(split_path + "/samples", tags=["split"],
           summary="A page of samples, sorted (default DEP descending), with a keyset cursor")
    def samples(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
                sort: str = Query(Q.DEP, description="A scalar column (see the run's `columns`, `sortable`)"),
                order: str = Query("desc", pattern="^(asc|desc)$"),
                limit: int = Query(50, ge=1, le=Q.MAX_PAGE),
                cursor_: str | None = Query(None, alias="cursor", description="`next_cursor` of the previous page"),
                columns: str | None = Query(None, description="Comma-separated columns to return (default all)")):
        cols = [c for c in columns.split(",") if c] if columns else None

        def body(con, sp, fn):
            if sort == Q.DEP and Q.DEP not in V.schema_of(sp).names:
                s = S.CONFIDENCE
            else:
                s = sort
            return Q.page(con, sp, filter, fn=fn, sort=s, descending=order == "desc", limit=limit,
                          cursor=cursor_, columns=cols, cache=app.state.tables)

        return run_query("samples", project, run, split, inference_name, body)

    @r.get(split_path + "/count", tags=["split"], summary="How many samples the filter selects (and the total)")
    def count(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER):
        return run_query("count", project, run, split, inference_name,
                         lambda con, sp, fn: {"count": Q.count(con, sp, filter, fn=fn), "total": V.n_rows(sp)})

    @r.get(split_path + "/ids", tags=["split"],
           summary="Rows and ids the filter selects (map highlights); Arrow stream or JSON",
           responses={200: {"content": {Q.ARROW_STREAM: {}, "application/json": {}}}})
    def ids(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
            format: str = Query("arrow", pattern="^(arrow|json)$")):
        table = run_query("ids", project, run, split, inference_name,
                          lambda con, sp, fn: Q.matching(con, sp, filter, fn=fn))
        if format == "json":
            return {"count": table.num_rows, "rows": table.column("row").to_pylist(),
                    "ids": table.column("id").to_pylist()}
        return Response(Q.to_ipc_stream(table), media_type=Q.ARROW_STREAM)

    @r.get(split_path + "/rows", tags=["split"], summary="Samples at given rows of the map (hover, lasso preview)")
    def rows(project: str, run: str, split: str, inference_name: str = IN,
             rows: str = Query(..., description="JSON list of row numbers (≤ 1000)"),
             columns: str | None = Query(None, description="Comma-separated columns (default all)")):
        fn = "console rows"
        sp = open_split(project, run, split, inference_name, fn)
        want = _int_list(rows, fn=fn, arg="rows", limit=1000)
        n = V.n_rows(sp)
        bad = [x for x in want if not 0 <= x < n]
        if bad:
            raise RunNotFoundError(f"{fn}: `rows` {bad[:10]} are outside this split's {n} rows.")
        names = V.schema_of(sp).names
        cols = list(dict.fromkeys([S.ID, *[c for c in columns.split(",") if c]])) if columns else names
        unknown = [c for c in cols if c not in names]
        if unknown:
            raise ConfigurationError(f"{fn}: `columns` names {unknown}, not columns of this split; columns: {sorted(names)}.")
        con = cursor()
        try:
            out = Q.fetch_rows(con, sp, want, cols, app.state.tables)
        finally:
            con.close()
        for rec, r in zip(out, want):
            rec["_row"] = r
        return {"rows": out}

    @r.get(split_path + "/map", tags=["split"],
           summary="The map: x, y, gold, pred, dep, cluster per sample, as an Arrow IPC stream",
           responses={200: {"content": {Q.ARROW_STREAM: {}}}})
    def map_(project: str, run: str, split: str, inference_name: str = IN,
             include_ids: bool = Query(False, description="Add an `id` column")):
        fn = "console map"
        sp = open_split(project, run, split, inference_name, fn)
        st = sp.samples_path.stat()
        ck = (str(sp.dir), st.st_mtime_ns, st.st_size, include_ids)
        cache = app.state.map_cache
        body = cache.get(ck)
        if body is None:
            body = Q.to_ipc_stream(Q.map_table(sp, sp.manifest.get("labels") or [], fn=fn, include_ids=include_ids))
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[ck] = body
        return Response(body, media_type=Q.ARROW_STREAM, headers={"Cache-Control": "no-cache"})

    @r.get(split_path + "/similar", tags=["split"], summary="Samples most similar to ids or to a map row, with scores")
    def similar(project: str, run: str, split: str, inference_name: str = IN,
                ids: str | None = Query(None, description="JSON list of anchor ids"),
                row: int | None = Query(None, ge=0, description="Or: the anchor's row"),
                k: int = Query(10, ge=1, le=1000),
                splits: str | None = Query(None, description="Comma-separated split keys to search (default this one)")):
        fn = "console similar"
        sp = open_split(project, run, split, inference_name, fn)
        if (ids is None) == (row is None):
            raise ConfigurationError(f"{fn}: pass exactly one of `ids` (a JSON list) or `row`.")
        if row is not None:
            import numpy as np

            if row >= V.n_rows(sp):
                raise RunNotFoundError(f"{fn}: `row` {row} is outside this split's {V.n_rows(sp)} rows.")
            anchors = V.read_rows(sp, np.array([row]), [S.ID])[S.ID].tolist()
        else:
            anchors = _json_list(ids, fn=fn, arg="ids")
        keys = [s for s in splits.split(",") if s] if splits else None
        df = M.get_similar(project, run, split, ids=anchors, k=k, inference_name=inference_name,
                           splits=keys, root=root())
        return {"anchors": anchors, "rows": _records(df)}

    @r.get(split_path + "/spans", tags=["split"], summary="NER: gold and predicted spans of the filtered samples")
    def spans(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
              limit: int = Query(5000, ge=1, le=100_000)):
        f = V.parse_filter(filter, fn="console spans")
        df = M.get_spans(project, run, split, inference_name, filter=f, root=root())
        return {"n": int(len(df)), "truncated": len(df) > limit, "rows": _records(df.head(limit))}

    # -- edits and export ----------------------------------------------------------------------------

    @r.get("/runs/{project}/{run}/edits", tags=["edits"], summary="Every edit of the run, oldest first")
    def edits(project: str, run: str, include_ids: bool = Query(False)):
        df = M.get_edits(project, run, root=root())
        if not include_ids and "ids" in df.columns:
            df = df.drop(columns=["ids"])
        return {"edits": [_edit_out(e) for e in _records(df)]}

    @r.post(split_path + "/edits", tags=["edits"], summary="Record an edit on the samples a filter selects")
    def create_edit(project: str, run: str, split: str, edit: EditIn, inference_name: str = IN):
        e = M.create_edit(project, run, split, edit.edit_action, inference_name, filter=edit.filter,
                          new_label=edit.new_label, search_string=edit.search_string,
                          text_replacement=edit.text_replacement, use_regex=edit.use_regex, note=edit.note,
                          shift_start=edit.shift_start, shift_end=edit.shift_end, root=root())
        return _edit_out(_clean(e))

    @r.post("/runs/{project}/{run}/edits/undo", tags=["edits"], summary="Undo an edit (default the latest active one)")
    def undo(project: str, run: str, body: UndoIn = Body(default_factory=UndoIn)):
        return _edit_out(_clean(M.undo_edit(project, run, body.edit_id, root=root())))

    @r.post("/runs/{project}/{run}/edits/{edit_id}/redo", tags=["edits"], summary="Re-apply an undone edit")
    def redo(project: str, run: str, edit_id: int):
        return _edit_out(_clean(M.redo_edit(project, run, edit_id, root=root())))

    @r.get(split_path + "/export", tags=["edits"], summary="Download the filtered (and edited) split as CSV, Parquet or JSONL",
           responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}, "application/x-ndjson": {}}}})
    def export(project: str, run: str, split: str, inference_name: str = IN, filter: str | None = FILTER,
               format: str = Query("csv", pattern="^(csv|parquet|jsonl)$"),
               edited: bool = Query(True, description="Apply the run's active edits"),
               include_signals: bool = Query(False, description="Keep every column, not only the logged schema")):
        fn = "console export"
        key = open_split(project, run, split, inference_name, fn).key
        f = V.parse_filter(filter, fn=fn)
        tmp = Path(tempfile.mkdtemp(prefix="dq-export-"))
        name = f"{project}-{run}-{key.replace('/', '-')}.{format}"
        try:
            path = M.export_dataframe(project, run, split, tmp / name, inference_name,
                                      filter=None if f.is_empty() else f, edited=edited, format=format,
                                      include_signals=include_signals, root=root())
        except BaseException:
            _rmtree(tmp)
            raise
        media = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/x-ndjson"}[format]
        return FileResponse(path, media_type=media, filename=name, background=BackgroundTask(_rmtree, tmp))

    return r


def _edit_out(e: dict) -> dict:
    """An edit record with its ``filter`` and ``ids`` (stored as JSON text) decoded."""
    out = dict(e)
    for k in ("filter", "ids"):
        if isinstance(out.get(k), str):
            try:
                out[k] = json.loads(out[k])
            except ValueError:
                pass
    return out


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def _json_list(value: str, *, fn: str, arg: str) -> list:
    try:
        v = json.loads(value)
    except ValueError:
        v = None
    if not isinstance(v, list) or not v:
        raise InputTypeError(f"{fn}: `{arg}` must be a non-empty JSON list, e.g. [1, 2]; got {value[:100]!r}.")
    return v


def _int_list(value: str, *, fn: str, arg: str, limit: int) -> list[int]:
    v = _json_list(value, fn=fn, arg=arg)
    if any(isinstance(x, bool) or not isinstance(x, int) for x in v):
        raise InputTypeError(f"{fn}: `{arg}` must list integers; got {v[:10]!r}.")
    if len(v) > limit:
        raise ConfigurationError(f"{fn}: `{arg}` lists {len(v)} values; at most {limit} per request.")
    return v
