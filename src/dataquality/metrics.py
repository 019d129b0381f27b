"""Read a finished run back into pandas: ``dq.metrics.get_dataframe`` and friends.

All functions take ``project_name, run_name, split`` (aliases such as ``"train"`` work) and, for
inference, ``inference_name``; ``root`` overrides ``$DQ_HOME``. They read the open files of the
store (Parquet, ``.npy``, Arrow) and never write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .core import layout as S
from .core import store
from .exceptions import ConfigurationError, RunNotFoundError, SplitError
from .read.filters import Filter
from .read.select import ROW, select
from .core.splits import check_epoch, normalize_split

PathLike = str | os.PathLike | None


def _results_dir(project_name: str, run_name: str, split: str, inference_name: str, *, fn: str, root: PathLike):
    paths, manifest = store.find_run(project_name, run_name, fn=fn, root=root)
    s = normalize_split(split, fn=fn)
    if s == S.INFERENCE:
        if not inference_name:
            raise SplitError(f"{fn}: split 'inference' needs `inference_name`.")
        store.check_name(inference_name, fn=fn, arg="inference_name")
    elif inference_name:
        raise SplitError(f"{fn}: `inference_name` applies only to split 'inference'; got split {split!r}.")
    key = S.split_key(s, inference_name or None)
    d = paths.results(key)
    if not (d / S.SAMPLES_FILE).exists():
        have = sorted(manifest.get("results", {}))
        raise RunNotFoundError(
            f"{fn}: run {project_name}/{run_name} has no results for split {key!r}; splits with "
            f"results: {have}. Results appear after dq.finish()."
        )
    return paths, manifest, key, d


def get_dataframe(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    include_embs: bool = False,
    include_probs: bool = False,
    filter: Filter | dict | None = None,
    *,
    spans: bool = False,
    root: PathLike = None,
):
    """One row per sample of a split, with every signal computed by ``finish()``.

    For ``text_ner`` runs a row carries its ``gold_spans`` and ``pred_spans``; ``spans=True``
    returns one row per span instead (see :func:`get_spans`).

    Parameters
    ----------
    include_embs : bool
        Add an ``emb`` column (one float32 vector per row, final epoch).
    include_probs : bool
        Add a ``prob`` column (one probability vector per row, final epoch, label order).
    filter : dict or Filter, optional
        Keep only the matching samples (see :class:`dataquality.read.filters.Filter`); an alert's
        ``filter`` can be passed as it is. With ``similar_to``, a ``similarity`` column is added
        and rows come by descending similarity.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, text, [text_pair], gold, pred, confidence``, meta columns, signal columns.
    """
    fn = "dq.metrics.get_dataframe"
    if spans:
        if include_probs:
            raise ConfigurationError(f"{fn}: `include_probs` applies to samples, not to spans (spans=True).")
        return get_spans(project_name, run_name, split, inference_name, filter=filter,
                         include_embs=include_embs, root=root)
    _, _, _, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    return _dataframe(d, filter, include_embs, include_probs, fn=fn)


def _dataframe(d: Path, filter, include_embs: bool = False, include_probs: bool = False, *, fn: str):
    """The rows of the split in ``d`` matching ``filter``; errors name ``fn``."""
    import pyarrow.parquet as pq

    if filter is None:
        df = pq.read_table(d / S.SAMPLES_FILE).to_pandas()
        rows = None
    else:
        df = select(d, filter, fn=fn)
        rows = df.pop(ROW).to_numpy()
    if include_embs:
        embs = _load_npy(d / S.EMBEDDINGS_FILE, fn=fn, what="embeddings")
        df[S.EMB] = list(embs if rows is None else embs[rows])
    if include_probs:
        probs = _load_npy(d / S.PROBS_FILE, fn=fn, what="probabilities")
        df[S.PROB] = list(probs if rows is None else probs[rows])
    return df


def _load_npy(path: Path, *, fn: str, what: str) -> np.ndarray:
    if not path.exists():
        raise RunNotFoundError(f"{fn}: no {what} for this split (logged with exclude_embs=True?).")
    return np.load(path, mmap_mode="r")


def get_labels_for_run(project_name: str, run_name: str, *, root: PathLike = None) -> list[str]:
    """The run's labels, in logit-column order."""
    _, manifest = store.find_run(project_name, run_name, fn="dq.metrics.get_labels_for_run", root=root)
    return list(manifest.get("labels") or [])


def get_epochs(project_name: str, run_name: str, split: str, *, root: PathLike = None) -> list[int]:
    """The epochs logged for a labeled split, ascending."""
    fn = "dq.metrics.get_epochs"
    paths, _ = store.find_run(project_name, run_name, fn=fn, root=root)
    s = normalize_split(split, fn=fn)
    if s == S.INFERENCE:
        return []
    base = paths.outputs(s)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.is_dir() and p.name.isdigit() and store.list_parts(p, S.OUTPUT_PART_SUFFIX))


def _raw_epoch(paths, key: str, epoch: int, column: str, fn: str):
    """(ids, matrix) of one logged epoch, read from the output parts."""
    from .pipeline import _ids_of, _matrix, _open_parts

    parts = store.list_parts(paths.outputs(key, epoch), S.OUTPUT_PART_SUFFIX)
    if not parts:
        raise RunNotFoundError(f"{fn}: no outputs for split {key!r} at epoch {epoch}.")
    ids, mats = [], []
    for _, batch in _open_parts(parts):
        if column not in batch.schema.names:
            raise RunNotFoundError(f"{fn}: epoch {epoch} of split {key!r} was logged without {column}.")
        ids.append(_ids_of(batch))
        mats.append(np.array(_matrix(batch, column)))
    return np.concatenate(ids), np.concatenate(mats)


def get_embeddings(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    epoch: int | None = None,
    *,
    root: PathLike = None,
):
    """Embeddings per sample as a DataFrame with columns ``id`` and ``emb`` (final epoch by default)."""
    import pandas as pd

    fn = "dq.metrics.get_embeddings"
    paths, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    if epoch is None:
        ids = _ids(d)
        return pd.DataFrame({S.ID: ids, S.EMB: list(_load_npy(d / S.EMBEDDINGS_FILE, fn=fn, what="embeddings"))})
    ids, embs = _raw_epoch(paths, key, check_epoch(epoch, fn=fn), S.EMB, fn)
    return pd.DataFrame({S.ID: ids, S.EMB: list(embs)})


def get_probabilities(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    epoch: int | None = None,
    *,
    root: PathLike = None,
):
    """Probabilities per sample: columns ``id``, ``gold``, ``pred``, ``prob`` (a vector in label order)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from .pipeline import softmax

    fn = "dq.metrics.get_probabilities"
    paths, manifest, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    base = pq.read_table(d / S.SAMPLES_FILE, columns=[S.ID, S.GOLD, S.PRED]).to_pandas()
    if epoch is None:
        base[S.PROB] = list(np.load(d / S.PROBS_FILE, mmap_mode="r"))
        return base
    ids, logits = _raw_epoch(paths, key, check_epoch(epoch, fn=fn), S.LOGITS, fn)
    probs = softmax(logits.astype(np.float32))
    labels = np.asarray(manifest["labels"], dtype=object)
    df = pd.DataFrame({S.ID: ids, S.PRED: labels[probs.argmax(axis=1)], S.PROB: list(probs)})
    return base.drop(columns=[S.PRED]).merge(df, on=S.ID, how="inner")


def _ids(d: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    return pq.read_table(d / S.SAMPLES_FILE, columns=[S.ID]).column(0).to_numpy(zero_copy_only=False)


def list_runs(*, root: PathLike = None):
    """Every run in the store as a DataFrame (project, run, task type, status, splits, path)."""
    import pandas as pd

    return pd.DataFrame(store.list_runs(root))


def get_dynamics(project_name: str, run_name: str, split: str, *, root: PathLike = None):
    """Per-epoch training dynamics: ``id, epoch, gold_prob, margin, pred, prob``."""
    import pyarrow.parquet as pq

    fn = "dq.metrics.get_dynamics"
    _, _, _, d = _results_dir(project_name, run_name, split, "", fn=fn, root=root)
    path = d / S.DYNAMICS_FILE
    if not path.exists():
        raise RunNotFoundError(f"{fn}: split {split!r} has no training dynamics (inference splits have none).")
    return pq.read_table(path).to_pandas()


def get_summary(project_name: str, run_name: str, *, root: PathLike = None) -> dict[str, Any]:
    """The run's ``summary.json``: per split counts, accuracy, signal summaries."""
    paths, _ = store.find_run(project_name, run_name, fn="dq.metrics.get_summary", root=root)
    if not paths.summary.exists():
        raise RunNotFoundError(f"dq.metrics.get_summary: run {project_name}/{run_name} has no results yet; call dq.finish().")
    return store.read_json(paths.summary)


# -- summaries, metrics and alerts ----------------------------------------------------------------


def _split_summary(paths, key: str, fn: str) -> dict:
    if not paths.summary.exists():
        raise RunNotFoundError(f"{fn}: the run has no results yet; call dq.finish().")
    s = store.read_json(paths.summary)
    if key not in s.get("splits", {}):
        raise RunNotFoundError(f"{fn}: no summary for split {key!r}; splits: {sorted(s.get('splits', {}))}.")
    return s["splits"][key]


def meta_columns(columns: list[str]) -> list[str]:
    """The user's meta columns among a results table's columns."""
    return [c for c in columns if c not in S.RESERVED_COLUMNS]


def get_run_summary(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    *,
    root: PathLike = None,
) -> dict[str, Any]:
    """Metrics of a split: accuracy, per-class and weighted precision/recall/F1, confusion matrix,
    top misclassified pairs, DEP thresholds and histogram, clusters, alerts.

    With a ``filter`` the classification metrics are recomputed on the matching samples.
    """
    from .signals.summary import classification_metrics, top_misclassified_pairs

    fn = "dq.metrics.get_run_summary"
    paths, manifest, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    base = _split_summary(paths, key, fn)
    sig = base.get("signals", {})
    out: dict[str, Any] = {k: base[k] for k in ("split", "inference_name", "n_samples", "epochs") if k in base}
    out.update(sig.get("summary", {}))
    if "data_error_potential" in sig:
        out["data_error_potential"] = sig["data_error_potential"]
    for name in ("likely_mislabeled", "is_on_the_boundary", "is_misclassified"):
        if name in sig:
            out[name] = sig[name]
    if filter is not None:
        labels = manifest["labels"]
        df = select(d, filter, fn=fn, columns=[S.GOLD, S.PRED, S.CONFIDENCE])
        out = {"split": base.get("split"), "inference_name": base.get("inference_name"),
               "n_samples": int(len(df)), "filter": Filter.parse(filter, fn=fn).to_dict(),
               "mean_confidence": float(df[S.CONFIDENCE].mean()) if len(df) else None}
        if df[S.GOLD].notna().any():
            idx = {l: i for i, l in enumerate(labels)}
            g = df[S.GOLD].map(idx).to_numpy(dtype=np.int64)
            p = df[S.PRED].map(idx).to_numpy(dtype=np.int64)
            m = classification_metrics(g, p, labels)
            out.update(m)
            out["top_misclassified_pairs"] = top_misclassified_pairs(m["confusion_matrix"], labels)
    return out


def get_alerts(project_name: str, run_name: str, split: str, inference_name: str = "", *,
               root: PathLike = None) -> list[dict]:
    """The split's alerts; each has ``kind``, ``severity``, ``message``, ``count`` and the
    ``filter`` that selects its samples (pass it to ``get_dataframe(filter=...)``)."""
    fn = "dq.metrics.get_alerts"
    paths, _, key, _ = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    return list(_split_summary(paths, key, fn).get("signals", {}).get("summary", {}).get("alerts", []))


def get_metrics(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    category: str = "gold",
    filter: Filter | dict | None = None,
    *,
    root: PathLike = None,
):
    """Metrics grouped by ``category``: ``"gold"``, ``"pred"`` or a meta column.

    Returns
    -------
    pandas.DataFrame
        One row per value of the category: ``count``, ``accuracy``, ``precision``, ``recall``,
        ``f1`` (per class for ``gold``/``pred``; weighted within the group for a meta column),
        ``mean_dep``, ``mean_confidence``. Numeric meta columns with many values are binned
        into 10 quantile bins.
    """
    import pandas as pd

    from .signals.summary import classification_metrics

    fn = "dq.metrics.get_metrics"
    _, manifest, _, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    labels = manifest["labels"]
    cols = set(_columns(d))
    if category not in (S.GOLD, S.PRED) and (category not in cols or category in S.RESERVED_COLUMNS):
        raise ConfigurationError(f"{fn}: `category` must be 'gold', 'pred' or a meta column {meta_columns(sorted(cols))}; got {category!r}.")
    want = [S.GOLD, S.PRED, S.CONFIDENCE] + (["data_error_potential"] if "data_error_potential" in cols else [])
    if category not in want:
        want.append(category)
    df = select(d, filter, fn=fn, columns=want)
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
                         "mean_dep": _mean(df.loc[sel], "data_error_potential"),
                         "mean_confidence": _mean(df.loc[sel], S.CONFIDENCE)})
        return pd.DataFrame(rows)
    key = df[category]
    binned = key.dtype.kind in "fiu" and key.nunique() > 20
    if binned:
        key = pd.qcut(key, 10, duplicates="drop")  # categorical: groups come in ascending bin order
    for value, grp in df.groupby(key, dropna=False, sort=True, observed=True):
        row = {category: str(value) if binned else value, "count": int(len(grp)),
               "mean_dep": _mean(grp, "data_error_potential"), "mean_confidence": _mean(grp, S.CONFIDENCE)}
        if has_gold:
            g = grp[S.GOLD].map(idx).to_numpy(dtype=np.int64)
            p = grp[S.PRED].map(idx).to_numpy(dtype=np.int64)
            m = classification_metrics(g, p, labels)
            row.update(accuracy=m["accuracy"], precision=m["weighted"]["precision"],
                       recall=m["weighted"]["recall"], f1=m["weighted"]["f1"])
        rows.append(row)
    return pd.DataFrame(rows)


def _mean(df, col: str):
    return float(df[col].mean()) if col in df.columns and len(df) else None


def _columns(d: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(d / S.SAMPLES_FILE).names


def display_distribution(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    column: str = "data_error_potential",
    filter: Filter | dict | None = None,
    bins: int = 30,
    ax=None,
    *,
    root: PathLike = None,
):
    """Plot the distribution of a column (histogram for numbers, bar chart for categories).

    DEP plots carry the split's easy/hard thresholds as vertical lines. Returns the matplotlib
    ``Axes``; in a notebook it displays, elsewhere save it with ``ax.figure.savefig(path)``.
    """
    fn = "dq.metrics.display_distribution"
    paths, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    cols = _columns(d)
    if column not in cols:
        raise ConfigurationError(f"{fn}: `column` must be one of {cols}; got {column!r}.")
    df = select(d, filter, fn=fn, columns=[column])
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"{fn} draws with matplotlib: pip install 'dataquality[plot]'.") from None

    if ax is None:
        import matplotlib.pyplot as plt

        if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
            plt.switch_backend("Agg")
        _, ax = plt.subplots(figsize=(7, 4))
    values = df[column]
    title = f"{project_name}/{run_name} · {key} · {column}"
    if values.dtype.kind in "fiu" and values.nunique() > 12:
        ax.hist(values.dropna().to_numpy(), bins=bins, color="#4c72b0", alpha=0.85)
        if column == "data_error_potential":
            dep = _split_summary(paths, key, fn).get("signals", {}).get("data_error_potential", {})
            for name, colour in (("easy_threshold", "#55a868"), ("hard_threshold", "#c44e52")):
                if name in dep:
                    ax.axvline(dep[name], color=colour, linestyle="--", label=f"{name.split('_')[0]} {dep[name]:.2f}")
            ax.legend()
        ax.set_ylabel("samples")
    else:
        counts = values.astype(str).value_counts().sort_index()
        ax.bar(counts.index.tolist(), counts.to_numpy(), color="#4c72b0")
        ax.set_ylabel("samples")
        ax.tick_params(axis="x", rotation=45)
    ax.set_xlabel(column)
    ax.set_title(title + (f" (filtered: {len(df):,})" if filter else f" ({len(df):,})"))
    ax.figure.tight_layout()
    return ax


def _interactive() -> bool:
    try:
        from IPython import get_ipython  # type: ignore

        return get_ipython() is not None
    except ImportError:
        return False


# -- edits and export -------------------------------------------------------------------------------


def create_edit(
    project_name: str,
    run_name: str,
    split: str,
    edit_action: str,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    new_label: str | None = None,
    search_string: str | None = None,
    text_replacement: str | None = None,
    use_regex: bool = False,
    note: str | None = None,
    shift_start: int = 0,
    shift_end: int = 0,
    *,
    root: PathLike = None,
) -> dict:
    """Record an edit: the samples ``filter`` selects now, and what to do with them.

    ``edit_action`` is ``relabel`` (with ``new_label``), ``relabel_as_pred``, ``delete``,
    ``update_text`` (``search_string`` → ``text_replacement``, ``use_regex``) or
    ``select_for_label``; for ``text_ner`` runs ``relabel_span`` (``new_label`` = an entity type),
    ``shift_span`` (``shift_start`` / ``shift_end`` characters) or ``delete_span`` on the gold
    spans the filter's span fields select. Edits are undoable (:func:`undo_edit`) and applied by
    :func:`get_edited_dataframe` and :func:`export_dataframe`. Returns the edit's record.
    """
    from .read.edits import SPAN_ACTIONS, add_edit, validate_action

    fn = "dq.metrics.create_edit"
    paths, manifest, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    ner = manifest.get("task_type") == "text_ner"
    validate_action(edit_action, labels=manifest["labels"], new_label=new_label, search_string=search_string,
                    text_replacement=text_replacement, use_regex=use_regex, fn=fn, ner=ner,
                    shift_start=shift_start, shift_end=shift_end)
    f = Filter.parse(filter, fn=fn)
    if edit_action in SPAN_ACTIONS:
        spans = get_spans(project_name, run_name, split, inference_name, filter=f, root=root)
        spans = spans[spans["span_kind"] == "gold"]
        if not len(spans):
            raise SplitError(f"{fn}: the filter selects no gold spans of split {key!r}; nothing to edit.")
        keys = [[i.item() if hasattr(i, "item") else i, int(a), int(b)]
                for i, a, b in zip(spans[S.ID], spans["start"], spans["end"])]
        return add_edit(paths.dir, split_key=key, action=edit_action, filter_dict=f.to_dict(), ids=keys,
                        new_label=new_label, note=note, shift_start=shift_start, shift_end=shift_end)
    ids = select(d, f, fn=fn, columns=[S.ID])[S.ID].tolist()
    if not ids:
        raise SplitError(f"{fn}: the filter selects no samples of split {key!r}; nothing to edit.")
    return add_edit(paths.dir, split_key=key, action=edit_action, filter_dict=f.to_dict(), ids=ids,
                    new_label=new_label, search_string=search_string, text_replacement=text_replacement,
                    use_regex=use_regex, note=note)


def get_edits(project_name: str, run_name: str, *, root: PathLike = None):
    """Every edit of the run, oldest first (``undone`` marks the undone ones)."""
    from .read.edits import load_edits

    paths, _ = store.find_run(project_name, run_name, fn="dq.metrics.get_edits", root=root)
    return load_edits(paths.dir)


def undo_edit(project_name: str, run_name: str, edit_id: int | None = None, *, root: PathLike = None) -> dict:
    """Undo an edit (the most recent active one by default); returns it."""
    from .read.edits import undo

    fn = "dq.metrics.undo_edit"
    paths, _ = store.find_run(project_name, run_name, fn=fn, root=root)
    return undo(paths.dir, edit_id, fn=fn)


def redo_edit(project_name: str, run_name: str, edit_id: int, *, root: PathLike = None) -> dict:
    """Re-apply an undone edit."""
    from .read.edits import redo

    fn = "dq.metrics.redo_edit"
    paths, _ = store.find_run(project_name, run_name, fn=fn, root=root)
    return redo(paths.dir, edit_id, fn=fn)


def get_edited_dataframe(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    *,
    root: PathLike = None,
):
    """The split with its active edits applied: deleted samples dropped, labels and texts changed,
    plus ``edited`` and ``selected_for_label`` columns. ``filter`` applies before the edits."""
    fn = "dq.metrics.get_edited_dataframe"
    return _edited(project_name, run_name, split, inference_name, filter, root=root, fn=fn)


def _edited(project_name, run_name, split, inference_name, filter, *, root, fn: str):
    from .read.edits import apply_edits, load_edits

    paths, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    return apply_edits(_dataframe(d, filter, fn=fn), load_edits(paths.dir), key)


def export_dataframe(
    project_name: str,
    run_name: str,
    split: str,
    path: str | os.PathLike,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    edited: bool = True,
    format: str | None = None,
    include_signals: bool = False,
    *,
    root: PathLike = None,
) -> Path:
    """Export a split (filtered and/or edited) to CSV, Parquet or JSON lines.

    By default in the schema the samples were logged with (``id, text, [text_pair], label`` and
    meta columns), ready to train on; ``include_signals=True`` keeps every column.
    Returns the path written.
    """
    from .read.edits import original_schema, write_table

    fn = "dq.metrics.export_dataframe"
    _, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    if edited:
        df = _edited(project_name, run_name, split, inference_name, filter, root=root, fn=fn)
    else:
        df = _dataframe(d, filter, fn=fn)
    if "similarity" in df.columns and not include_signals:
        df = df.drop(columns=["similarity"])
    if not include_signals:
        labeled = normalize_split(split, fn=fn) != S.INFERENCE  # key is "inference/<name>"
        df = original_schema(df, has_labels=labeled, meta=meta_columns(list(df.columns)))
    return write_table(df, Path(path), format, fn=fn)


def get_similar(
    project_name: str,
    run_name: str,
    split: str,
    ids: list | None = None,
    k: int = 10,
    inference_name: str = "",
    *,
    embedding: np.ndarray | list | None = None,
    splits: list[str] | str | None = None,
    root: PathLike = None,
):
    """The ``k`` samples most similar (cosine, final-epoch embeddings) to each of ``ids`` of
    ``split``, or to each row of a raw ``embedding``, across ``splits``.

    Each split is searched through its own index: exact (faiss ``IndexFlatIP`` on normalised
    vectors) up to ``similarity.EXACT_MAX`` samples, beyond that the IVF index stored at
    ``finish()`` under ``results/index/`` (loaded once, then cached), which returns ≈ 95% or more
    of the exact neighbours (``bench/similarity.py``).

    Parameters
    ----------
    split, inference_name : str
        The split the ``ids`` belong to, and the default split searched.
    ids : list of int or str, optional
        Anchor samples of ``split``. Exactly one of ``ids`` and ``embedding`` is required.
    k : int
        Neighbours per anchor (or per embedding row), ≥ 1, counted across every searched split
        and not counting the anchor itself.
    embedding : array-like, shape (d,) or (m, d), optional
        Raw query vector(s), ``d`` = the embedding width logged for the run.
    splits : list of str, optional
        Splits to search: names (``"training"``, ``"validation"``, ``"test"``, aliases such as
        ``"train"``) and ``"inference/<name>"`` keys. Default: ``split`` alone.

    Returns
    -------
    pandas.DataFrame
        One row per distinct sample found (the union over anchors): ``id``, ``split`` (its key, e.g.
        ``"training"`` or ``"inference/prod"``), ``similarity`` (cosine, higher = more similar, its
        best over the anchors), ``text``, [``text_pair``], ``gold``, ``pred``, ``confidence``; most
        similar first. Anchors are included, with similarity 1.0, when their own split is searched.

    Raises
    ------
    ConfigurationError
        Neither or both of ``ids`` and ``embedding``; ``k`` < 1; an empty ``splits``.
    InputTypeError
        ``k`` not an integer; a split name that is not a string.
    SplitError, RunNotFoundError
        An unknown split, or one without results.
    SchemaError, ShapeError, NonFiniteError
        ``ids`` not in ``split``; a split without embeddings; ``embedding`` of the wrong width or
        with NaN / inf.

    Examples
    --------
    >>> dq.metrics.get_similar("proj", "run", "training", ids=[17], k=5,
    ...                        splits=["training", "inference/prod"])  # doctest: +SKIP
    """
    import pandas as pd

    from .exceptions import ConfigurationError, InputTypeError, NonFiniteError, SchemaError, ShapeError
    from .read.select import nearest, read_rows

    fn = "dq.metrics.get_similar"
    paths, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise InputTypeError(f"{fn}: `k` must be an integer ≥ 1; got {k!r}.")
    if k < 1:
        raise ConfigurationError(f"{fn}: `k` must be ≥ 1 (neighbours per anchor); got {k}.")
    if (ids is None) == (embedding is None):
        raise ConfigurationError(f"{fn}: pass exactly one of `ids` (samples of split {key!r}) or `embedding` "
                                 f"(raw query vectors); got {'both' if ids is not None else 'neither'}.")
    keys = _search_keys(paths, key, splits, fn=fn)
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
        anchors = pd.Index(_ids(d)).get_indexer(pd.Index(ids))
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
            rows = read_rows(paths.results(sk), part[ROW].to_numpy(), want)
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


def _search_keys(paths, key: str, splits, *, fn: str) -> list[str]:
    """The split keys named by ``splits`` (default ``[key]``), each with results."""
    from .exceptions import ConfigurationError, InputTypeError

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


def get_spans(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    include_embs: bool = False,
    *,
    root: PathLike = None,
):
    """NER: one row per gold and per predicted span of a split (``results/<split>/spans.parquet``).

    Columns: ``id`` (the sample), ``span_kind`` (``gold``/``pred``), ``span_index``, token and
    character offsets, ``span_text``, ``label``, ``error_type``, ``matched_label``,
    ``data_error_potential`` (span DEP), ``confidence`` and, for inference, ``drift_score`` /
    ``is_drifted``. A ``filter`` selects samples as in :func:`get_dataframe`; its span fields
    (``span_text``, ``span_regex``, ``error_type``, ``span_label``) also select the spans
    themselves. ``include_embs`` adds the span embedding (mean of its token embeddings).
    """
    import re as _re

    import pyarrow.parquet as pq

    fn = "dq.metrics.get_spans"
    _, _, key, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    path = d / "spans.parquet"
    if not path.exists():
        raise RunNotFoundError(f"{fn}: split {key!r} has no spans; spans exist for text_ner runs.")
    spans = pq.read_table(path).to_pandas()
    spans["_span_row"] = np.arange(len(spans))
    f = Filter.parse(filter, fn=fn)
    if not f.is_empty():
        ids = set(select(d, f, fn=fn, columns=[S.ID])[S.ID].tolist())
        keep = spans[S.ID].isin(ids)
        if f.span_text:
            keep &= spans["span_text"].str.lower().str.contains(f.span_text.lower(), regex=False)
        if f.span_regex:
            keep &= spans["span_text"].map(lambda t: _re.search(f.span_regex, t) is not None)
        if f.error_type is not None:
            keep &= spans["error_type"].isin([str(x) for x in f.error_type])
        if f.span_label is not None:
            keep &= spans["label"].isin([str(x) for x in f.span_label])
        spans = spans[keep.to_numpy()].reset_index(drop=True)
    if include_embs:
        embs = _load_npy(d / S.EMBEDDINGS_FILE, fn=fn, what="span embeddings")
        spans[S.EMB] = list(embs[spans["_span_row"].to_numpy()])
    return spans.drop(columns=["_span_row"])
