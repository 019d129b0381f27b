"""Read a finished run back into pandas: ``dq.metrics.get_dataframe`` and friends.

All functions take ``project_name, run_name, split`` (aliases such as ``"train"`` work) and, for
inference, ``inference_name``; ``root`` overrides ``$DQ_HOME``. They read the open files of the
store (Parquet, ``.npy``, Arrow) and never write, except the run's edit list.

A thin facade with Galileo's names over :mod:`dataquality.read`: views (open a split, filter it
in DuckDB), summary, similar, edits and export; what differs by task type is asked of the run's
task there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .core import layout as S
from .core import store
from .core.splits import check_epoch, normalize_split
from .exceptions import ConfigurationError, RunNotFoundError
from .core.parts import read_epoch
from .read.filters import Filter, with_task
from .read.views import ids_of, load_npy, meta_columns, open_split

__all__ = [
    "Filter", "create_edit", "display_distribution", "export_dataframe", "get_alerts", "get_dataframe",
    "get_dynamics", "get_edited_dataframe", "get_edits", "get_embeddings", "get_epochs", "get_labels_for_run",
    "get_metrics", "get_probabilities", "get_run_summary", "get_similar", "get_spans", "get_summary",
    "list_runs", "meta_columns", "redo_edit", "undo_edit",
]

PathLike = str | os.PathLike | None


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
    from .read.export import dataframe

    return dataframe(open_split(project_name, run_name, split, inference_name, fn=fn, root=root), filter,
                     include_embs, include_probs, fn=fn)


def get_labels_for_run(project_name: str, run_name: str, *, task: str | None = None,
                       root: PathLike = None) -> list:
    """The run's labels, in logit-column order (multi-label: one list per task, or the labels of
    ``task``)."""
    from .tasks import get_task

    fn = "dq.metrics.get_labels_for_run"
    _, manifest = store.find_run(project_name, run_name, fn=fn, root=root)
    if task is None:
        return list(manifest.get("labels") or [])
    t = get_task(manifest.get("task_type"), fn=fn)
    return t.label_view(manifest, {"task": t.check_subtask(task, manifest, fn=fn)}, fn=fn)[0]


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
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    if epoch is None:
        return pd.DataFrame({S.ID: ids_of(sp), S.EMB: list(load_npy(sp.dir / S.EMBEDDINGS_FILE, fn=fn, what="embeddings"))})
    ids, embs = read_epoch(sp.paths, sp.key, check_epoch(epoch, fn=fn), S.EMB, fn)
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

    from .tasks import get_task

    fn = "dq.metrics.get_probabilities"
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    base = pq.read_table(sp.samples_path, columns=[S.ID, S.GOLD, S.PRED]).to_pandas()
    if epoch is None:
        base[S.PROB] = list(np.load(sp.dir / S.PROBS_FILE, mmap_mode="r"))
        return base
    ids, logits = read_epoch(sp.paths, sp.key, check_epoch(epoch, fn=fn), S.LOGITS, fn)
    probs = get_task(sp.manifest.get("task_type"), fn=fn).probabilities(logits, sp.manifest)
    labels = np.asarray(sp.manifest["labels"], dtype=object)
    df = pd.DataFrame({S.ID: ids, S.PRED: labels[probs.argmax(axis=1)], S.PROB: list(probs)})
    return base.drop(columns=[S.PRED]).merge(df, on=S.ID, how="inner")


def list_runs(*, root: PathLike = None):
    """Every run in the store as a DataFrame (project, run, task type, status, splits, path)."""
    import pandas as pd

    return pd.DataFrame(store.list_runs(root))


def get_dynamics(project_name: str, run_name: str, split: str, *, root: PathLike = None):
    """Per-epoch training dynamics: ``id, epoch, gold_prob, margin, pred, prob``."""
    import pyarrow.parquet as pq

    fn = "dq.metrics.get_dynamics"
    path = open_split(project_name, run_name, split, "", fn=fn, root=root).dir / S.DYNAMICS_FILE
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


def get_run_summary(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    filter: Filter | dict | None = None,
    *,
    task: str | None = None,
    root: PathLike = None,
) -> dict[str, Any]:
    """Metrics of a split: accuracy, per-class and weighted precision/recall/F1, confusion matrix,
    top misclassified pairs, DEP thresholds and histogram, clusters, alerts.

    With a ``filter`` the metrics are recomputed on the matching samples (classification); for
    task types whose summary is of the whole split (NER's span metrics) the summary comes with
    ``n_filtered``, the number of samples the filter selects.
    """
    from .read.summary import run_summary

    fn = "dq.metrics.get_run_summary"
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    if task is None:
        return run_summary(sp, filter, fn=fn)
    task = sp.task.check_subtask(task, sp.manifest, fn=fn)
    out = run_summary(sp, with_task(filter, task, fn=fn) if filter is not None else None, fn=fn)
    return sp.task.subtask_summary(out, task, manifest=sp.manifest, fn=fn)


def get_alerts(project_name: str, run_name: str, split: str, inference_name: str = "", *,
               root: PathLike = None) -> list[dict]:
    """The split's alerts; each has ``kind``, ``severity``, ``message``, ``count`` and the
    ``filter`` that selects its samples (pass it to ``get_dataframe(filter=...)``)."""
    fn = "dq.metrics.get_alerts"
    from .read.summary import alerts

    return alerts(open_split(project_name, run_name, split, inference_name, fn=fn, root=root), fn=fn)


def get_metrics(
    project_name: str,
    run_name: str,
    split: str,
    inference_name: str = "",
    category: str = "gold",
    filter: Filter | dict | None = None,
    *,
    task: str | None = None,
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
    from .read.summary import metrics_by

    fn = "dq.metrics.get_metrics"
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    if task is not None:
        filter = with_task(filter, sp.task.check_subtask(task, sp.manifest, fn=fn), fn=fn)
    return metrics_by(sp, category, filter, fn=fn)


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
    from .read.plot import distribution

    fn = "dq.metrics.display_distribution"
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    return distribution(sp, column, filter, bins, ax, title=f"{project_name}/{run_name} · {sp.key} · {column}", fn=fn)


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
    task: str | None = None,
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
    from .read.edits import create
    from .tasks.base import EditRequest

    fn = "dq.metrics.create_edit"
    edit = EditRequest(edit_action, new_label=new_label, search_string=search_string,
                       text_replacement=text_replacement, use_regex=use_regex, shift_start=shift_start,
                       shift_end=shift_end)
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    if task is not None:  # multi-label: the edit relabels this task of the selected samples
        filter = with_task(filter, sp.task.check_subtask(task, sp.manifest, fn=fn), fn=fn)
    return create(sp, edit, filter, note=note, fn=fn)


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
    from .read.export import edited_dataframe

    fn = "dq.metrics.get_edited_dataframe"
    return edited_dataframe(open_split(project_name, run_name, split, inference_name, fn=fn, root=root), filter,
                            fn=fn)


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
    from .read.export import export

    fn = "dq.metrics.export_dataframe"
    return export(open_split(project_name, run_name, split, inference_name, fn=fn, root=root), path, filter,
                  edited=edited, format=format, include_signals=include_signals, fn=fn)


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
    from .read.similar import similar

    fn = "dq.metrics.get_similar"
    return similar(open_split(project_name, run_name, split, inference_name, fn=fn, root=root), ids, k,
                   embedding=embedding, splits=splits, fn=fn)


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
    from .read.views import select_table

    fn = "dq.metrics.get_spans"
    sp = open_split(project_name, run_name, split, inference_name, fn=fn, root=root)
    spans = select_table(sp, "spans", filter, fn=fn)
    rows = spans.pop("_row").to_numpy()
    if include_embs:
        embs = load_npy(sp.dir / S.EMBEDDINGS_FILE, fn=fn, what="span embeddings")
        spans[S.EMB] = list(embs[rows])
    return spans

