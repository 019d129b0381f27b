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

from . import schema as S
from . import store
from .exceptions import RunNotFoundError, SplitError
from .run import check_epoch, normalize_split

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
    *,
    root: PathLike = None,
):
    """One row per sample of a split, with every signal computed by ``finish()``.

    Parameters
    ----------
    include_embs : bool
        Add an ``emb`` column (one float32 vector per row, final epoch).
    include_probs : bool
        Add a ``prob`` column (one probability vector per row, final epoch, label order).

    Returns
    -------
    pandas.DataFrame
        Columns ``id, text, [text_pair], gold, pred, confidence``, meta columns, signal columns.
    """
    import pyarrow.parquet as pq

    fn = "dq.metrics.get_dataframe"
    _, _, _, d = _results_dir(project_name, run_name, split, inference_name, fn=fn, root=root)
    df = pq.read_table(d / S.SAMPLES_FILE).to_pandas()
    if include_embs:
        df[S.EMB] = list(_load_npy(d / S.EMBEDDINGS_FILE, fn=fn, what="embeddings"))
    if include_probs:
        df[S.PROB] = list(_load_npy(d / S.PROBS_FILE, fn=fn, what="probabilities"))
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
    from .finish import _ids_of, _matrix, _open_parts

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

    from .finish import softmax

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
