"""A split's summary, alerts and metrics by category (``dq.metrics.get_run_summary``,
``get_alerts``, ``get_metrics`` and the console's summary), read from ``results/summary.json``
and, under a filter, recomputed by the run's task over the matching samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import layout as S
from ..core import store
from ..exceptions import ConfigurationError, RunNotFoundError
from .filters import Filter
from .views import SplitRef, connect, meta_columns, open_view, schema_of, select


def split_summary(split: SplitRef, *, fn: str) -> dict:
    """The split's entry of ``results/summary.json``.

    Raises
    ------
    RunNotFoundError
        The run has no summary yet, or none for this split.
    """
    paths = split.paths
    if not paths.summary.exists():
        raise RunNotFoundError(f"{fn}: the run has no results yet; call dq.finish().")
    s = store.read_json(paths.summary)
    if split.key not in s.get("splits", {}):
        raise RunNotFoundError(f"{fn}: no summary for split {split.key!r}; splits: {sorted(s.get('splits', {}))}.")
    return s["splits"][split.key]


def alerts(split: SplitRef, *, fn: str) -> list[dict]:
    """The split's alerts, each with the ``filter`` that selects its samples."""
    return list(split_summary(split, fn=fn).get("signals", {}).get("summary", {}).get("alerts", []))


def run_summary(split: SplitRef, filt: Filter | dict | None = None, *, fn: str) -> dict[str, Any]:
    """The split's metrics, DEP thresholds, clusters and alerts.

    With a ``filter``: the metrics the run's task recomputes over the matching samples
    (``Task.filtered_summary``: classification's accuracy, per class, confusion matrix...), with
    ``n_samples`` and the ``filter``; for a task whose summary is of the whole split only (NER's
    span metrics), the whole split's summary with ``n_filtered``, the count the filter selects.
    """
    base = split_summary(split, fn=fn)
    sig = base.get("signals", {})
    out: dict[str, Any] = {k: base[k] for k in ("split", "inference_name", "n_samples", "epochs") if k in base}
    out.update(sig.get("summary", {}))
    if "data_error_potential" in sig:
        out["data_error_potential"] = sig["data_error_potential"]
    for name in ("likely_mislabeled", "is_on_the_boundary", "is_misclassified"):
        if name in sig:
            out[name] = sig[name]
    if filt is None:
        return out
    task, manifest = split.task, split.manifest
    f = Filter.parse(filt, fn=fn)
    df = select(split, f, fn=fn, columns=task.summary_columns(manifest))
    recomputed = task.filtered_summary(df, manifest=manifest)
    if recomputed is None:
        out["n_filtered"] = int(len(df))
        return out
    out = {"split": base.get("split"), "inference_name": base.get("inference_name"),
           "n_samples": int(len(df)), "filter": f.to_dict()}
    out.update(recomputed)
    return out


def confusion(con, split: SplitRef, filt, *, fn: str) -> dict:
    """Confusion matrix of the samples ``filt`` selects, as the run's task crosses them
    (``Task.confusion_pairs``: gold x pred samples; NER: spans over entity types and ``"O"``).

    Returns
    -------
    dict
        ``labels`` (the axis), ``matrix`` (rows gold, columns pred), ``level``, ``n``.
    """
    f = Filter.parse(filt, fn=fn)
    view = open_view(con, split, f, fn=fn)
    values = {k: v for k, v in f.task_fields.items() if v is not None}
    axis, pairs, level = split.task.confusion_pairs(con, view.where, view.params, manifest=split.manifest, fn=fn,
                                                    values=values)
    pos = {l: i for i, l in enumerate(axis)}
    m = np.zeros((len(axis), len(axis)), dtype=np.int64)
    for g, p, c in pairs:
        if g in pos and p in pos:
            m[pos[g], pos[p]] += c
    return {"labels": list(axis), "matrix": m.tolist(), "level": level, "n": int(m.sum())}


def count(split: SplitRef, filt, *, fn: str) -> int:
    """How many samples ``filt`` selects."""
    con = connect()
    try:
        view = open_view(con, split, filt, fn=fn)
        return int(con.execute(f"SELECT count(*) FROM samples WHERE {view.where}", view.params).fetchall()[0][0])
    finally:
        con.close()


def metrics_by(split: SplitRef, category: str, filt, *, fn: str):
    """Metrics grouped by ``category`` (see ``dq.metrics.get_metrics``), over the label columns
    the run's task names for the filter (``Task.label_view``: multi-label, one task's)."""
    import pandas as pd

    from ..signals.summary import classification_metrics

    f = Filter.parse(filt, fn=fn)
    labels, cmap = split.task.label_view(split.manifest, {k: v for k, v in f.task_fields.items() if v is not None},
                                         fn=fn)
    cols = set(schema_of(split).names)
    if category not in (S.GOLD, S.PRED) and (category not in cols or category in S.RESERVED_COLUMNS):
        raise ConfigurationError(f"{fn}: `category` must be 'gold', 'pred' or a meta column {meta_columns(sorted(cols))}; got {category!r}.")
    rename = {}  # the task's columns -> the core names used below
    for core in (S.GOLD, S.PRED, S.CONFIDENCE, "data_error_potential"):
        col = cmap.get(core, core)
        if col in cols or core in (S.GOLD, S.PRED, S.CONFIDENCE):
            rename[col] = core
    if category not in rename.values():
        rename[category] = category
    df = select(split, f, fn=fn, columns=list(rename)).rename(columns=rename)
    has_gold = df[S.GOLD].notna().any()
    idx = {l: i for i, l in enumerate(labels)}
    rows = []
    if category in (S.GOLD, S.PRED) and has_gold:
        g = df[S.GOLD].map(idx).to_numpy(dtype=np.int64)
        p = df[S.PRED].map(idx).to_numpy(dtype=np.int64)
        m = classification_metrics(g, p, labels)
        for l in labels:
            sel = df[category] == l
            pc = m["per_class"][l]
            rows.append({category: l, "count": int(sel.sum()),
                         "accuracy": float((df.loc[sel, S.GOLD] == df.loc[sel, S.PRED]).mean()) if sel.any() else None,
                         "precision": pc["precision"], "recall": pc["recall"], "f1": pc["f1"],
                         "mean_dep": mean_of(df.loc[sel], "data_error_potential"),
                         "mean_confidence": mean_of(df.loc[sel], S.CONFIDENCE)})
        return pd.DataFrame(rows)
    key = df[category]
    binned = key.dtype.kind in "fiu" and key.nunique() > 20
    if binned:
        key = pd.qcut(key, 10, duplicates="drop")  # categorical: groups come in ascending bin order
    for value, grp in df.groupby(key, dropna=False, sort=True, observed=True):
        row = {category: str(value) if binned else value, "count": int(len(grp)),
               "mean_dep": mean_of(grp, "data_error_potential"), "mean_confidence": mean_of(grp, S.CONFIDENCE)}
        if has_gold:
            g = grp[S.GOLD].map(idx).to_numpy(dtype=np.int64)
            p = grp[S.PRED].map(idx).to_numpy(dtype=np.int64)
            m = classification_metrics(g, p, labels)
            row.update(accuracy=m["accuracy"], precision=m["weighted"]["precision"],
                       recall=m["weighted"]["recall"], f1=m["weighted"]["f1"])
        rows.append(row)
    return pd.DataFrame(rows)


def mean_of(df, col: str):
    return float(df[col].mean()) if col in df.columns and len(df) else None
