"""The filter model shared by ``dq.metrics``, exports, edits and the console.

A filter is a :class:`Filter` (or a plain dict of its fields). It compiles to a parameterised
DuckDB ``WHERE`` clause: values always travel as parameters; column names (meta columns) are
checked against the table's schema and quoted, never taken verbatim from the user. Set-valued
conditions that can be large (ids, a lasso on the map, similar samples) are resolved to ids and
joined through a registered Arrow table.

Fields (all optional; conditions combine with AND)
--------------------------------------------------
ids, exclude_ids : list of int or str
text : str — case-insensitive substring of ``text`` (or ``text_pair``)
text_regex : str — regular expression (RE2 syntax) matched against ``text``
dep_min, dep_max : float — ``data_error_potential`` range (inclusive)
confidence_min, confidence_max : float
misclassified_only : bool
gold, pred : list of str — label names
labels : list of str — gold OR pred in the list
cluster_id : list of int
meta : dict — ``{column: value}``, ``{column: [values]}`` or ``{column: {"min": a, "max": b}}``
is_otb, is_drifted, likely_mislabeled : bool
likely_mislabeled_dep_percentile : float in [0, 100] — with ``likely_mislabeled``, keep only
    flagged samples whose DEP is at or above this percentile of the split's DEP
similar_to : dict — ``{"ids": [...], "k": 50}``: the ``k`` nearest samples (cosine) of each id
lasso : dict or list of dict — ``{"x": [...], "y": [...]}`` polygon vertices on the map, or a
    sequence of such polygons each with ``"op": "add" | "subtract"`` (the console's lasso with
    add/subtract): applied in order, starting from the empty selection

Task fields
-----------
Each task type adds its own fields (``Task.filter_fields``) and compiles them to SQL
(``Task.filter_clauses``): e.g. NER's ``span_text``, ``span_regex``, ``span_label``,
``error_type`` and ``has_drifted_span``, which select samples through the split's spans. A
:class:`Filter` holds them in ``task_fields`` and also as attributes and keyword arguments
(``Filter(span_text="paris").span_text``); :meth:`Filter.parse` checks their kind against the
registered tasks' declarations, :func:`compile_filter` checks that the run's task has them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import layout as S
from ..exceptions import ConfigurationError, SchemaError
from .lasso import lasso_polygons
from .splits import column_kind


@dataclass
class Filter:
    ids: list | None = None
    exclude_ids: list | None = None
    text: str | None = None
    text_regex: str | None = None
    dep_min: float | None = None
    dep_max: float | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    misclassified_only: bool = False
    gold: list[str] | None = None
    pred: list[str] | None = None
    labels: list[str] | None = None
    cluster_id: list[int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    is_otb: bool | None = None
    is_drifted: bool | None = None
    likely_mislabeled: bool | None = None
    likely_mislabeled_dep_percentile: float | None = None
    similar_to: dict | None = None
    lasso: dict | None = None
    task_fields: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **fields: Any) -> None:
        """Keyword arguments only: the core fields above, and any task field (``span_text=``...),
        kept in ``task_fields``. Unknown names are refused by :meth:`parse`."""
        for f in dataclasses.fields(Filter):
            setattr(self, f.name, f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
        extra = dict(fields.pop("task_fields", None) or {})
        core = {f.name for f in dataclasses.fields(Filter)}
        for name, value in fields.items():
            if name in core:
                setattr(self, name, value)
            else:
                extra[name] = value
        self.task_fields = extra

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are not attributes: a task field, set or not
        if name.startswith("__") or name not in task_field_specs():
            raise AttributeError(f"'Filter' has no field {name!r}")
        return self.__dict__.get("task_fields", {}).get(name)

    @classmethod
    def parse(cls, value: "Filter | dict | None", *, fn: str) -> "Filter":
        """A Filter from a Filter, a dict (e.g. an alert's ``filter``) or None; validates fields."""
        if value is None:
            return cls()
        if isinstance(value, Filter):
            f = value
        elif isinstance(value, dict):
            names = ({x.name for x in dataclasses.fields(cls)} - {"task_fields"}) | set(task_field_specs())
            unknown = sorted(set(value) - names)
            if unknown:
                raise ConfigurationError(f"{fn}: unknown filter field(s) {unknown}; known: {sorted(names)}.")
            f = cls(**value)
        else:
            raise ConfigurationError(f"{fn}: `filter` must be a dict or dq.metrics.Filter; got {type(value).__name__}.")
        f._validate(fn)
        return f

    def to_dict(self) -> dict:
        """Only the fields that are set (JSON-able), e.g. for URLs and stored edits."""
        out = {}
        items = [(x.name, getattr(self, x.name)) for x in dataclasses.fields(self) if x.name != "task_fields"]
        for name, v in items + list(self.task_fields.items()):
            if v is None or v is False or v == {}:
                continue
            out[name] = v
        return json.loads(json.dumps(out, default=_jsonable))

    def is_empty(self) -> bool:
        return not self.to_dict()

    def _validate(self, fn: str) -> None:
        for name in ("ids", "exclude_ids", "gold", "pred", "labels", "cluster_id"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, (str, bytes)) or not hasattr(v, "__iter__")):
                raise ConfigurationError(f"{fn}: filter `{name}` must be a list; got {v!r}.")
            if v is not None:
                setattr(self, name, list(v.tolist() if hasattr(v, "tolist") else v))
        for name in ("dep_min", "dep_max", "confidence_min", "confidence_max", "likely_mislabeled_dep_percentile"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.number))):
                raise ConfigurationError(f"{fn}: filter `{name}` must be a number; got {v!r}.")
        p = self.likely_mislabeled_dep_percentile
        if p is not None and not 0 <= p <= 100:
            raise ConfigurationError(f"{fn}: filter `likely_mislabeled_dep_percentile` must be in [0, 100]; got {p}.")
        for name in ("misclassified_only", "is_otb", "is_drifted", "likely_mislabeled"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (bool, np.bool_)):
                raise ConfigurationError(f"{fn}: filter `{name}` must be True or False; got {v!r}.")
        for name in ("text", "text_regex"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise ConfigurationError(f"{fn}: filter `{name}` must be a string; got {v!r}.")
        if self.text_regex is not None:
            try:
                re.compile(self.text_regex)
            except re.error as e:
                raise ConfigurationError(f"{fn}: filter `text_regex` is not a valid regular expression: {e}.") from None
            check_re2(self.text_regex, fn)
        specs = task_field_specs()
        unknown = sorted(set(self.task_fields) - set(specs))
        if unknown:
            known = sorted({x.name for x in dataclasses.fields(Filter)} - {"task_fields"} | set(specs))
            raise ConfigurationError(f"{fn}: unknown filter field(s) {unknown}; known: {known}.")
        for name, v in list(self.task_fields.items()):
            if v is not None:
                self.task_fields[name] = check_field_value(specs[name], v, fn=fn)
        if not isinstance(self.meta, dict):
            raise ConfigurationError(f"{fn}: filter `meta` must be a dict of column -> condition; got {self.meta!r}.")
        if self.lasso is not None:
            polys = lasso_polygons(self.lasso)
            if not polys:
                raise ConfigurationError(f"{fn}: filter `lasso` must be {{'x': [...], 'y': [...]}} with ≥ 3 vertices, or a "
                                         f"non-empty list of such polygons each with 'op': 'add' or 'subtract'; got {self.lasso!r}.")
            for p in polys:
                xs, ys, op = p.get("x"), p.get("y"), p.get("op", "add")
                ok = (isinstance(xs, (list, tuple)) and isinstance(ys, (list, tuple)) and len(xs) == len(ys) >= 3
                      and op in ("add", "subtract")
                      and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (*xs, *ys)))
                if not ok:
                    raise ConfigurationError(f"{fn}: filter `lasso` polygons need 'x' and 'y' lists of ≥ 3 finite numbers of equal "
                                             f"length and 'op' 'add' or 'subtract'; got {str(p)[:200]}.")
        if self.similar_to is not None:
            st = self.similar_to
            ids = st.get("ids") if isinstance(st, dict) else None
            k = st.get("k", 50) if isinstance(st, dict) else None
            if (ids is None or isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__") or len(ids) == 0
                    or isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0):
                raise ConfigurationError(f"{fn}: filter `similar_to` must be {{'ids': [...], 'k': int ≥ 0}}; got {st!r}.")


def check_re2(pattern: str, fn: str, field: str = "text_regex") -> None:
    """DuckDB matches with RE2, which lacks some of Python's syntax (look-around, backreferences)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern])
    except duckdb.Error as e:
        raise ConfigurationError(
            f"{fn}: filter `{field}` is not a valid RE2 regular expression (no look-around or "
            f"backreferences): {e}."
        ) from None
    finally:
        con.close()


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(type(v).__name__)


def quote(name: str) -> str:
    """A column name as a quoted SQL identifier (for names checked against a schema)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Compiled:
    """A WHERE clause, its parameters, and Arrow tables of ids to register before running it."""

    where: str
    params: list
    id_tables: dict[str, Any]


def compile_filter(f: Filter, columns: list[str], *, fn: str, id_sets: dict[str, np.ndarray] | None = None,
                   task: Any = None, manifest: dict | None = None) -> Compiled:
    """Compile ``f`` over a table ``samples`` with ``columns`` into parameterised SQL.

    ``id_sets`` holds ids already resolved by the caller for conditions that are not SQL
    (``lasso``, ``similar_to``): name -> ids; each becomes ``id IN (SELECT id FROM <name>)``.
    ``task`` (a :class:`dataquality.tasks.Task`) and the run's ``manifest`` compile the task's
    fields (:func:`task_values`, ``Task.filter_clauses``) and may point the core label fields at
    other columns (``Task.filter_columns``); a filter setting task fields needs them.
    """
    values = task_values(f, task=task, manifest=manifest, fn=fn)
    remap = task.filter_columns(values, manifest=manifest or {}) if values else {}
    GOLD, PRED, DEP, CONF = (remap.get(c, c) for c in (S.GOLD, S.PRED, "data_error_potential", S.CONFIDENCE))
    import pyarrow as pa

    cols = set(columns)
    clauses: list[str] = []
    params: list = []
    tables: dict[str, Any] = {}

    def need(col: str, what: str) -> None:
        if col not in cols:
            raise SchemaError(f"{fn}: filter `{what}` needs column {col!r}, which this split does not have.")

    def ids_table(name: str, values) -> str:
        arr = np.asarray(values)
        tname = f"_dq_ids_{name}"
        typ = pa.int64() if arr.dtype.kind in "iu" else pa.string()
        tables[tname] = pa.table({"id": pa.array(arr.tolist(), type=typ)})
        return f"{quote(S.ID)} IN (SELECT id FROM {tname})"

    if f.ids is not None:
        clauses.append(ids_table("ids", f.ids) if len(f.ids) else "FALSE")
    if f.exclude_ids:
        clauses.append("NOT " + ids_table("exclude", f.exclude_ids))
    if f.text:
        parts = [f"contains(lower({quote(S.TEXT)}), ?)"]
        params.append(f.text.lower())
        if S.TEXT_PAIR in cols:
            parts.append(f"contains(lower(coalesce({quote(S.TEXT_PAIR)}, '')), ?)")
            params.append(f.text.lower())
        clauses.append("(" + " OR ".join(parts) + ")")
    if f.text_regex:
        clauses.append(f"regexp_matches({quote(S.TEXT)}, ?)")
        params.append(f.text_regex)
    for name, col, op in (("dep_min", DEP, ">="), ("dep_max", DEP, "<="),
                          ("confidence_min", CONF, ">="), ("confidence_max", CONF, "<=")):
        v = getattr(f, name)
        if v is not None:
            need(col, name)
            clauses.append(f"{quote(col)} {op} ?")
            params.append(float(v))
    if f.misclassified_only:
        need(GOLD, "misclassified_only")
        clauses.append(f"{quote(GOLD)} IS NOT NULL AND {quote(GOLD)} <> {quote(PRED)}")
    lists = getattr(task, "labels_are_lists", False)  # one label per sub-task: match any of them

    def has(col: str) -> str:
        return f"list_has_any(?, {quote(col)})" if lists and col in (S.GOLD, S.PRED) else f"list_contains(?, {quote(col)})"

    for name, col in (("gold", GOLD), ("pred", PRED)):
        v = getattr(f, name)
        if v is not None:
            clauses.append(has(col))
            params.append([str(x) for x in v])
    if f.labels is not None:
        clauses.append(f"({has(GOLD)} OR {has(PRED)})")
        params += [[str(x) for x in f.labels]] * 2
    if f.cluster_id is not None:
        need("cluster_id", "cluster_id")
        clauses.append(f"list_contains(?, {quote('cluster_id')})")
        params.append([int(x) for x in f.cluster_id])
    for name, col in (("is_otb", remap.get("is_on_the_boundary", "is_on_the_boundary")), ("is_drifted", "is_drifted"),
                      ("likely_mislabeled", remap.get("likely_mislabeled", "likely_mislabeled"))):
        v = getattr(f, name)
        if v is not None:
            need(col, name)
            clauses.append(f"{quote(col)} = ?")
            params.append(bool(v))
    if f.likely_mislabeled_dep_percentile is not None:
        need(DEP, "likely_mislabeled_dep_percentile")
        clauses.append(
            f"{quote(DEP)} >= (SELECT quantile_cont({quote(DEP)}, ?) FROM samples)"
        )
        params.append(float(f.likely_mislabeled_dep_percentile) / 100.0)
    for col, cond in f.meta.items():
        if col not in cols or col in S.RESERVED_COLUMNS and col not in (S.TEXT_PAIR,):
            if col not in cols:
                raise SchemaError(f"{fn}: filter `meta` names column {col!r}, which this split does not have; columns: {sorted(cols)}.")
        q = quote(col)
        if isinstance(cond, dict):
            unknown = set(cond) - {"min", "max", "in"}
            if unknown:
                raise ConfigurationError(f"{fn}: filter `meta[{col!r}]` takes 'min', 'max' or 'in'; got {sorted(unknown)}.")
            if "min" in cond:
                clauses.append(f"{q} >= ?")
                params.append(cond["min"])
            if "max" in cond:
                clauses.append(f"{q} <= ?")
                params.append(cond["max"])
            if "in" in cond:
                if isinstance(cond["in"], (str, bytes)) or not hasattr(cond["in"], "__iter__"):
                    raise ConfigurationError(f"{fn}: filter `meta[{col!r}]['in']` must be a list; got {cond['in']!r}.")
                clauses.append(f"list_contains(?, {q})")
                params.append(list(cond["in"]))
        elif isinstance(cond, (list, tuple)):
            clauses.append(f"list_contains(?, {q})")
            params.append(list(cond))
        else:
            clauses.append(f"{q} = ?")
            params.append(cond)
    if values:
        for clause, values_ in task.filter_clauses(values, manifest=manifest or {}, columns=list(cols), fn=fn):
            clauses.append(clause)
            params += values_
    for name, ids in (id_sets or {}).items():
        clauses.append(ids_table(name, ids))
    return Compiled(where=" AND ".join(clauses) if clauses else "TRUE", params=params, id_tables=tables)


def fits_kind(value, kind: str | None) -> bool:
    if value is None or kind not in ("bool", "number", "string"):
        return True  # dates and the rest: left to DuckDB
    if kind == "bool":
        return isinstance(value, (bool, np.bool_))
    if kind == "number":
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, str)


def check_value_types(f: Filter, schema, fn: str) -> None:
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
        kind = column_kind(schema.field(col).type)
        if kind is None:
            continue
        bad = [v for v in vals if not fits_kind(v, kind)]
        if bad:
            raise SchemaError(
                f"{fn}: filter `{what}` holds values that do not fit column {col!r} ({kind}); got {bad[:5]!r}."
            )


def task_field_specs() -> dict:
    """Every filter field a registered task declares (``Task.filter_fields({})``), by name: what
    :meth:`Filter.parse` accepts beside the core fields when no run is at hand."""
    from ..tasks.registry import TASKS

    out: dict = {}
    for task in TASKS.values():
        for spec in task.filter_fields({}):
            out.setdefault(spec.name, spec)
    return out


def check_field_value(spec: Any, value: Any, *, fn: str) -> Any:
    """``value`` of the task field ``spec`` (a :class:`dataquality.tasks.FilterField`) checked
    against its kind (and its choices, when it has some); returns it normalised (lists as lists).

    Raises
    ------
    ConfigurationError
        The value does not fit the kind; the message names the field.
    """
    name, kind = spec.name, spec.kind
    if kind in ("text", "regex"):
        if not isinstance(value, str):
            raise ConfigurationError(f"{fn}: filter `{name}` must be a string; got {value!r}.")
        if kind == "regex":
            try:
                re.compile(value)
            except re.error as e:
                raise ConfigurationError(f"{fn}: filter `{name}` is not a valid regular expression: {e}.") from None
            check_re2(value, fn, field=name)
        return value
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigurationError(f"{fn}: filter `{name}` must be True or False; got {value!r}.")
        return bool(value)
    if kind == "range":
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value))
        if not ok:
            raise ConfigurationError(f"{fn}: filter `{name}` must be [low, high], two numbers; got {value!r}.")
        return [float(v) for v in value]
    one = kind == "choice" and isinstance(value, str)  # a choice field takes one value or a list
    if not one and (isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")):
        raise ConfigurationError(f"{fn}: filter `{name}` must be a list; got {value!r}.")
    if not one:
        value = list(value.tolist() if hasattr(value, "tolist") else value)
    if kind == "choice" and spec.choices:
        unknown = sorted(set(map(str, [value] if one else value)) - set(spec.choices))
        if unknown:
            raise ConfigurationError(f"{fn}: filter `{name}` must list {name.replace('_', ' ')}s from "
                                     f"{list(spec.choices)}; got {unknown}.")
    return value


def task_values(f: Filter, *, task: Any, manifest: dict | None, fn: str) -> dict:
    """The task fields set in ``f``, checked against the run's ``task``'s declarations (kind and,
    with the run's ``manifest``, choices).

    Raises
    ------
    SchemaError
        ``f`` sets a field the run's task does not have (another task type's field).
    """
    values = {k: v for k, v in f.task_fields.items() if v is not None}
    if not values:
        return {}
    if task is None:
        raise SchemaError(f"{fn}: filter field(s) {sorted(values)} need the run's task type to compile.")
    own = {spec.name: spec for spec in task.filter_fields(manifest or {})}
    foreign = sorted(set(values) - set(own))
    if foreign:
        from ..tasks.registry import TASKS

        owners = [t for t in TASKS.values() if any(s.name in foreign for s in t.filter_fields({}))]
        units = sorted({t.unit for t in owners})
        raise SchemaError(f"{fn}: filters on {' or '.join(u + 's' for u in units)} ({', '.join(foreign)}) apply to "
                          f"{' or '.join(t.name for t in owners)} runs; this split is of a {task.name} run.")
    return {k: check_field_value(own[k], v, fn=fn) for k, v in values.items()}


def with_task(filter: Filter | dict | None, task: str, *, fn: str) -> dict:
    """``filter`` (a Filter, dict or None) as a dict that also selects sub-task ``task``."""
    out = Filter.parse(filter, fn=fn).to_dict()
    if out.get("task") not in (None, task):
        raise ConfigurationError(f"{fn}: `task={task!r}` and the filter's task {out['task']!r} disagree.")
    out["task"] = task
    return out
