"""The run's tasks and their labels, and how a sample's labels and logits are laid out.

A multi-label run has ``tasks`` (names, in logit order) and, per task, a label list:

- **binary** runs (``dq.set_tasks_for_run(tasks)``, the default): task ``x`` has the labels
  ``["NOT_x", "x"]``; a sample's labels are given as the list of its active tasks
  (``["toxic"]``), or as one 0/1 (or bool, or label name) per task. Model outputs are one sigmoid
  logit per task, ``(n, n_tasks)``, stored as they are (``logits_width`` = n_tasks).
- **non-binary** runs (``binary=False`` and ``dq.set_labels_for_run([[...], [...]])``): task ``t``
  has ``k_t`` labels; a sample gives one label (a name or an index) per task. Model outputs are one
  ``(n, k_t)`` array per task, stored side by side (``logits_width`` = sum of k_t).

The manifest holds ``tasks`` (list of str), ``binary`` (bool) and ``labels`` (one list per task).
The stored input column :data:`TASK_LABELS` holds one label name per task for every labeled sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...exceptions import ConfigurationError, LabelError

TASK_LABELS = "task_labels"  # input column: list<str>, one label name per task
MAX_TASKS = 1_000
MAX_LABELS_PER_TASK = 1_000


def binary_labels(task: str) -> list[str]:
    """The two labels of a binary task: ``["NOT_<task>", "<task>"]``."""
    return [f"NOT_{task}", task]


def name_list(values: Any, *, fn: str, arg: str, binary_shorthand: bool, limit: int) -> list[str]:
    """Check a list of names (str, or int turned into str): non-empty, unique, no blank name.

    One name ``x`` becomes ``["NOT_x", "x"]`` when ``binary_shorthand``.
    """
    if values is None or isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ConfigurationError(f"{fn}: `{arg}` must be a list of names; got {values!r}.")
    vals = values.tolist() if hasattr(values, "tolist") else list(values)
    if not vals:
        raise ConfigurationError(f"{fn}: `{arg}` must not be empty.")
    out = []
    for v in vals:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out.append(str(v))
        else:
            raise ConfigurationError(f"{fn}: `{arg}` must hold strings (or integers); got {type(v).__name__} {v!r}.")
    if any(not v.strip() for v in out):
        raise ConfigurationError(f"{fn}: `{arg}` must not contain empty names; got {out}.")
    if len(set(out)) != len(out):
        dups = sorted({v for v in out if out.count(v) > 1})
        raise ConfigurationError(f"{fn}: `{arg}` must be unique; {dups[:10]} appear more than once.")
    if len(out) > limit:
        raise ConfigurationError(f"{fn}: `{arg}` may hold at most {limit} names; got {len(out)}.")
    if len(out) == 1 and binary_shorthand:
        out = binary_labels(out[0])
    return out


def tasks_of(manifest: dict) -> list[str] | None:
    return manifest.get("tasks")


def labels_of(manifest: dict) -> list[list[str]] | None:
    """One label list per task, or None while the run does not know them yet."""
    tasks, labels = manifest.get("tasks"), manifest.get("labels")
    if manifest.get("binary") and tasks:
        return [binary_labels(t) for t in tasks]
    if tasks is None or labels is None or len(labels) != len(tasks):
        return None
    return labels


def widths_of(manifest: dict) -> list[int] | None:
    """Logit columns per task as stored: 1 per binary task (a sigmoid logit), else k_t."""
    tasks = manifest.get("tasks")
    if tasks and manifest.get("binary"):
        return [1] * len(tasks)
    labels = labels_of(manifest)
    return None if labels is None else [len(l) for l in labels]


def require_labels(manifest: dict, *, fn: str) -> tuple[list[str], list[list[str]]]:
    """The tasks and their label lists; ConfigurationError naming what to call first."""
    tasks = manifest.get("tasks")
    if not tasks:
        raise ConfigurationError(
            f"{fn}: a text_multi_label run needs its tasks first: call dq.set_tasks_for_run([...])."
        )
    labels = labels_of(manifest)
    if labels is None:
        raise ConfigurationError(
            f"{fn}: a non-binary text_multi_label run needs one label list per task: call "
            f"dq.set_labels_for_run([[...], ...]) with {len(tasks)} lists (tasks {tasks})."
        )
    return tasks, labels


def _is_int(v: Any) -> bool:
    return (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))) or (
        isinstance(v, float) and v.is_integer())


def sample_labels(value: Any, tasks: list[str], labels: list[list[str]], binary: bool, *,
                  fn: str, arg: str, sample_id: Any) -> list[str]:
    """One sample's labels as one label name per task.

    Accepted: binary runs, the list of active tasks (``["toxic"]``, ``[]``) or one value per task
    (0/1, bool or the task's label name); non-binary runs, one value per task (a label name of
    the task or its index).
    """
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise LabelError(
            f"{fn}: {arg} must hold a list per sample ("
            + ("the active tasks, e.g. [] or [" + repr(tasks[0]) + "]" if binary else f"one label per task, {len(tasks)} in all")
            + f"); got {value!r} for id {sample_id!r}."
        )
    vals = list(value)
    if binary and all(isinstance(v, str) for v in vals) and (len(vals) != len(tasks) or set(vals) <= set(tasks)):
        unknown = sorted(set(vals) - set(tasks))
        if unknown:
            raise LabelError(f"{fn}: {arg} of id {sample_id!r} names tasks {unknown} that are not the run's tasks {tasks}.")
        if len(set(vals)) != len(vals):
            raise LabelError(f"{fn}: {arg} of id {sample_id!r} lists a task more than once: {vals}.")
        active = set(vals)
        return [labels[t][1] if name in active else labels[t][0] for t, name in enumerate(tasks)]
    if len(vals) != len(tasks):
        raise LabelError(
            f"{fn}: {arg} of id {sample_id!r} must give one label per task ({len(tasks)}: {tasks}); got {len(vals)}: {vals!r}."
        )
    out = []
    for t, v in enumerate(vals):
        choices = labels[t]
        if isinstance(v, (bool, np.bool_)) and binary:
            out.append(choices[int(v)])
        elif _is_int(v):
            i = int(v)
            if not 0 <= i < len(choices):
                raise LabelError(
                    f"{fn}: {arg} of id {sample_id!r}: task {tasks[t]!r} takes label indices 0..{len(choices) - 1}; got {i}."
                )
            out.append(choices[i])
        elif isinstance(v, str) and v in choices:
            out.append(v)
        else:
            raise LabelError(
                f"{fn}: {arg} of id {sample_id!r}: task {tasks[t]!r} takes labels {choices}; got {v!r}."
            )
    return out


def gold_indices(task_labels: list[list[str]], labels: list[list[str]]) -> np.ndarray:
    """Stored per-task label names -> label indices, shape (n, n_tasks), int64."""
    n, T = len(task_labels), len(labels)
    maps = [{l: i for i, l in enumerate(ls)} for ls in labels]
    out = np.empty((n, T), dtype=np.int64)
    for i, row in enumerate(task_labels):
        for t in range(T):
            out[i, t] = maps[t][row[t]]
    return out


def active_tasks(row: list[str], tasks: list[str]) -> list[str]:
    """A binary sample's stored labels as the list of its active tasks (the logged schema)."""
    return [t for t, l in zip(tasks, row) if l == t]
