"""``finish()``: one task-independent pipeline that writes ``results/`` for every split.

For every split with model outputs (``training``, ``validation``, ``test``,
``inference/<name>``) whose parts or signal settings changed since the last ``finish()``, the
pipeline makes a staging folder under ``results/`` and asks the run's task to fill it
(:meth:`dataquality.tasks.base.Task.compute_split`, with a
:class:`~dataquality.tasks.base.SplitContext`). Once every split succeeded it builds the
similarity indexes of the large splits, moves the staging folders into place
(``results/<split>``) and writes ``summary.json``; on any failure the staging folders go and the
results already there stay as they were.

The splits are scored against one training reference
(:class:`~dataquality.signals.reference.TrainingReference`), made by the task once per
``finish()``: filled by the training split when it is recomputed (it is computed first), else read
from the stored training results. A split whose input and output parts are unchanged is kept as
it is, so a later process that only adds an inference set leaves the training results untouched;
new training results make every split stale.

The pipeline knows nothing of task types: it asks the task whether the run is ready
(:meth:`~dataquality.tasks.base.Task.check_ready`) and how wide its logits are
(:meth:`~dataquality.tasks.base.Task.logits_width`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .core import layout as S
from .core import parts as P
from .core import store
from .exceptions import LabelError, RunStateError, ShapeError
from .tasks.base import SplitContext, Task

__all__ = ["finish", "finish_run", "output_split_keys", "input_split_keys", "fingerprint", "check_part_widths"]


def output_split_keys(paths: store.RunPaths) -> list[str]:
    """Split keys that have model-output parts, in a stable order (training first)."""
    keys = []
    for split in S.LABELED_SPLITS:
        if store.list_parts(paths.outputs(split), S.OUTPUT_PART_SUFFIX):
            keys.append(split)
    inf = paths.outputs(S.INFERENCE)
    if inf.is_dir():
        for d in sorted(p for p in inf.iterdir() if p.is_dir()):
            if store.list_parts(d, S.OUTPUT_PART_SUFFIX):
                keys.append(S.split_key(S.INFERENCE, d.name))
    return keys


def input_split_keys(paths: store.RunPaths) -> list[str]:
    """Split keys that have input parts."""
    base = paths.dir / S.INPUTS_DIR
    keys = [s for s in S.LABELED_SPLITS if store.list_parts(base / s, S.INPUT_PART_SUFFIX)]
    if (base / S.INFERENCE).is_dir():
        keys += [S.split_key(S.INFERENCE, d.name) for d in sorted((base / S.INFERENCE).iterdir())
                 if store.list_parts(d, S.INPUT_PART_SUFFIX)]
    return keys


def fingerprint(paths: store.RunPaths, key: str) -> list:
    """``[[relative path, size], ...]`` of a split's input and output parts."""
    parts = store.list_parts(paths.inputs(key), S.INPUT_PART_SUFFIX) + store.list_parts(
        paths.outputs(key), S.OUTPUT_PART_SUFFIX
    )
    return [[str(p.relative_to(paths.dir)), p.stat().st_size] for p in parts]


def check_part_widths(paths: store.RunPaths, keys: list[str], labels: list, width: int | None, fn: str) -> None:
    """Every part's logits must have ``width`` columns (the task's
    :meth:`~dataquality.tasks.base.Task.logits_width` for ``labels``) and all embeddings one width.

    Raises
    ------
    LabelError
        A part's logits are not ``width`` wide.
    ShapeError
        Embeddings of different widths were logged.
    """
    emb_widths: dict[int, str] = {}
    for key in keys:
        for p in store.list_parts(paths.outputs(key), S.OUTPUT_PART_SUFFIX):
            sch = P.part_schema(p)
            k = sch.field(S.LOGITS).type.list_size
            if width is not None and k != width:
                need = (f"the run has {len(labels)} labels {labels}" if width == len(labels)
                        else f"the run's labels {labels} need {width}")
                raise LabelError(
                    f"{fn}: model outputs in {p.relative_to(paths.dir)} have {k} logit columns, but "
                    f"{need}. dq.set_labels_for_run must list one label per logit column, in order."
                )
            if S.EMB in sch.names:
                emb_widths.setdefault(sch.field(S.EMB).type.list_size, str(p.relative_to(paths.dir)))
    if len(emb_widths) > 1:
        raise ShapeError(f"{fn}: embeddings of different widths were logged: {emb_widths}.")


def finish(paths: store.RunPaths, manifest: dict, task: Task, *, signals: bool, fn: str,
           project_name: str, run_name: str) -> dict:
    """Compute results for every split with new or changed data.

    Parameters
    ----------
    paths : RunPaths
        The run's folders.
    manifest : dict
        The run's manifest; its ``results`` entry (fingerprints per split) is updated in place,
        for the caller to save.
    task : Task
        The run's task.
    signals : bool
        Run the signals (``False``: joins, probabilities and dynamics only).
    fn : str
        The public function named in errors.
    project_name, run_name : str
        Recorded in ``summary.json``.

    Returns
    -------
    dict
        ``{"splits": {key: summary}, "unchanged": [keys], "inputs_without_outputs": [keys]}``.

    Raises
    ------
    RunStateError
        No model outputs were logged.
    LabelError, ConfigurationError
        The task finds the run not ready (:meth:`Task.check_ready`), or logits of the wrong width.
    """
    keys = output_split_keys(paths)
    if not keys:
        raise RunStateError(
            f"{fn}: no model outputs were logged in run {project_name}/{run_name}. Log them "
            "with dq.log_model_outputs(ids=..., embs=..., logits=...) before finishing."
        )
    task.check_ready(manifest, fn=fn)
    labels = manifest.get("labels")
    check_part_widths(paths, keys, labels, task.logits_width(manifest), fn)
    results = manifest.setdefault("results", {})
    summary_path = paths.summary
    summary = store.read_json(summary_path) if summary_path.exists() else {"splits": {}}
    report: dict = {"splits": {}, "unchanged": [], "inputs_without_outputs": []}
    report["inputs_without_outputs"] = sorted(set(input_split_keys(paths)) - set(keys))
    # A split is recomputed when its parts, the signal switch or the signal settings changed.
    settings = manifest.get("signal_settings", {})
    fingerprints = {key: {"parts": fingerprint(paths, key), "signals": bool(signals), "settings": settings}
                    for key in keys}

    def unchanged(key: str) -> bool:
        """Same parts and settings, and computed with signals if signals are asked for now
        (results with signals also serve a finish(signals=False))."""
        prev = (results.get(key) or {}).get("fingerprint")
        now = fingerprints[key]
        if not isinstance(prev, dict) or not (paths.results(key) / S.SAMPLES_FILE).exists():
            return False
        return (prev.get("parts") == now["parts"] and prev.get("settings") == now["settings"]
                and bool(prev.get("signals")) >= now["signals"])

    # Other splits are scored against training (neighbours, map, thresholds): new training
    # results make every split's results stale.
    retrain = S.TRAIN in keys and not unchanged(S.TRAIN)
    todo = [key for key in keys if retrain or not unchanged(key)]
    report["unchanged"] = [key for key in keys if key not in todo]
    reference = task.training_reference(paths.results(), manifest, stored_training=not retrain) if todo else None
    staged: list[tuple[str, Path]] = []
    try:
        for key in todo:
            t0 = time.perf_counter()
            tmp = paths.results() / f"{S.TMP_PREFIX}{store.new_token()}-{key.replace('/', '-')}"
            tmp.mkdir(parents=True)
            staged.append((key, tmp))
            split = S.INFERENCE if key.startswith(S.INFERENCE) else key
            ctx = SplitContext(paths=paths, key=key, split=split,
                               inference_name=key.split("/", 1)[1] if split == S.INFERENCE else None,
                               manifest=manifest, labels=labels, settings=settings, signals=bool(signals), fn=fn,
                               tmp=tmp, reference=reference)
            split_summary = task.compute_split(ctx)
            split_summary["seconds"] = round(time.perf_counter() - t0, 3)
            report["splits"][key] = split_summary
    except BaseException:
        import shutil

        for _, tmp in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Similarity indexes: large splits get an IVF index, stored so later searches load it.
    from .core import vectors

    indexes: dict[str, Any] = {}
    if signals and reference is not None and any(key == S.TRAIN for key, _ in staged):
        index = reference.stored_index()  # the one training's signals searched in
        if index is not None:
            indexes[S.TRAIN] = index
    for key, tmp in staged:
        emb = tmp / S.EMBEDDINGS_FILE
        if key not in indexes and emb.exists() and report["splits"][key]["n_samples"] > vectors.EXACT_MAX:
            indexes[key] = vectors.build_index(np.load(emb, mmap_mode="r"))
    # Every split succeeded: move the results into place together.
    for key, _ in staged:
        old = vectors.index_path(paths.results(), key)
        if old.exists() and key not in indexes:
            old.unlink()
    for key, index in indexes.items():
        vectors.save_index(index, vectors.index_path(paths.results(), key))
    for key, tmp in staged:
        store.replace_dir(tmp, paths.results(key))
        summary["splits"][key] = report["splits"][key]
        results[key] = {"fingerprint": fingerprints[key], "finished_at": store.now_iso(),
                        "n_samples": report["splits"][key]["n_samples"]}
    summary["labels"] = labels
    summary["project_name"], summary["run_name"] = project_name, run_name
    store.write_json(summary_path, summary)
    return report


def finish_run(run, *, signals: bool, fn: str) -> dict:
    """:func:`finish` for a run object (what ``Run.finish`` calls): it reads the run's ``paths``,
    ``manifest``, ``task``, ``project_name`` and ``run_name``."""
    return finish(run.paths, run.manifest, run.task, signals=signals, fn=fn,
                  project_name=run.project_name, run_name=run.run_name)

