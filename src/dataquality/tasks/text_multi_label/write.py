"""The logging side of the task: tasks, labels, inputs and output batches (see ..base.Task)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ...core import layout as S
from ...core.convert import as_matrix, check_matrix, to_numpy
from ...exceptions import ConfigurationError, LabelError, SchemaError, ShapeError
from ..base import OutputBatch
from ..columns import id_and_text
from .labels import (
    MAX_LABELS_PER_TASK, MAX_TASKS, TASK_LABELS, binary_labels, labels_of, name_list, require_labels,
    sample_labels, widths_of,
)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


class MultiLabelWrite:
    """Logging-side methods of the task protocol."""

    options: ClassVar[tuple[str, ...]] = ("tasks",)
    sample_arguments: ClassVar[tuple[str, ...]] = (TASK_LABELS,)

    # -- run configuration ------------------------------------------------------------------------

    def normalize_labels(self, labels: Any, *, fn: str, manifest: dict) -> list:
        """One label list per task (``[["a", "b"], ["x", "y"]]``), in task order.

        Binary runs set their labels with their tasks (``NOT_x`` / ``x``); they accept only those.
        """
        if labels is None or isinstance(labels, (str, bytes, dict)) or not hasattr(labels, "__iter__"):
            raise ConfigurationError(f"{fn}: `labels` must be a list of label lists, one per task; got {labels!r}.")
        outer = labels.tolist() if hasattr(labels, "tolist") else list(labels)
        if not outer or not all(not isinstance(l, (str, bytes)) and hasattr(l, "__iter__") for l in outer):
            raise ConfigurationError(
                f"{fn}: a text_multi_label run takes one label list per task (e.g. [['a', 'b'], ['x', 'y']]); "
                f"got {labels!r}."
            )
        if len(outer) > MAX_TASKS:
            raise ConfigurationError(f"{fn}: at most {MAX_TASKS} tasks are supported; got {len(outer)} label lists.")
        out = [name_list(l, fn=fn, arg=f"labels[{i}]", binary_shorthand=True, limit=MAX_LABELS_PER_TASK)
               for i, l in enumerate(outer)]
        tasks = manifest.get("tasks")
        if tasks is not None and len(out) != len(tasks):
            raise ConfigurationError(
                f"{fn}: `labels` must hold one list per task, {len(tasks)} for tasks {tasks}; got {len(out)} lists."
            )
        if manifest.get("binary") and tasks is not None and out != [binary_labels(t) for t in tasks]:
            raise ConfigurationError(
                f"{fn}: this run's tasks are binary (dq.set_tasks_for_run(tasks, binary=True)), so their labels "
                f"are {[binary_labels(t) for t in tasks]}; got {out}. Call dq.set_tasks_for_run(tasks, "
                "binary=False) to give each task its own labels."
            )
        self.check_width(manifest, [len(l) for l in out], binary=bool(manifest.get("binary")), fn=fn, what="`labels`")
        return out

    def set_option(self, option: str, value: Any, *, fn: str, manifest: dict) -> dict:
        """``tasks``: ``{"tasks": [...], "binary": bool}`` (a bare list means binary), as
        ``dq.set_tasks_for_run(tasks, binary=True)`` passes it. Returns the manifest entries
        ``tasks``, ``binary`` and, for binary runs, ``labels``."""
        if option != "tasks":
            return super().set_option(option, value, fn=fn, manifest=manifest)  # type: ignore[misc]
        if isinstance(value, dict):
            tasks, binary = value.get("tasks"), value.get("binary", True)
        else:
            tasks, binary = value, True
        if not isinstance(binary, (bool, np.bool_)):
            raise ConfigurationError(f"{fn}: `binary` must be True or False; got {binary!r}.")
        binary = bool(binary)
        tasks = name_list(tasks, fn=fn, arg="tasks", binary_shorthand=False, limit=MAX_TASKS)
        old = manifest.get("tasks")
        if old is not None and (old != tasks or bool(manifest.get("binary")) != binary):
            raise ConfigurationError(
                f"{fn}: `tasks` must match the tasks {old} (binary={bool(manifest.get('binary'))}) that the run "
                f"already has (names and order, as used in training); got {tasks} (binary={binary})."
            )
        labels = manifest.get("labels")
        entries: dict = {"tasks": tasks, "binary": binary}
        if binary:
            want = [binary_labels(t) for t in tasks]
            if labels is not None and labels != want:
                raise ConfigurationError(
                    f"{fn}: binary tasks have the labels {want}, but the run's labels are {labels}; pass binary=False."
                )
            entries["labels"] = want
        elif labels is not None and len(labels) != len(tasks):
            raise ConfigurationError(
                f"{fn}: `tasks` must name one task per label list set by dq.set_labels_for_run ({len(labels)}); "
                f"got {len(tasks)} tasks {tasks}."
            )
        widths = [1] * len(tasks) if binary else (None if labels is None else [len(l) for l in labels])
        if widths is not None:
            self.check_width(manifest, widths, binary=binary, fn=fn, what="`tasks`")
        return entries

    @staticmethod
    def check_width(manifest: dict, label_counts: list[int], *, binary: bool, fn: str, what: str) -> None:
        """Outputs already logged fix the stored logit width; a configuration must agree with it."""
        logged = manifest.get("logits_dim")
        width = len(label_counts) if binary else sum(label_counts)
        if logged is not None and logged != width:
            raise ConfigurationError(
                f"{fn}: {what} gives logit rows of width {width}, but model outputs were logged with "
                f"{logged} columns per sample."
            )

    def logits_width(self, manifest: dict) -> int | None:
        widths = widths_of(manifest)
        return None if widths is None else int(sum(widths))

    # -- inputs -----------------------------------------------------------------------------------

    def normalize_inputs(self, df: Any, *, fn: str, cols: Any, split: str, manifest: dict) -> "Any":
        """Columns ``id``, ``text``, [``task_labels``: one label name per task], then meta.

        The labels come from ``cols.label`` when given explicitly, else from a ``task_labels``
        column (``dq.log_data_samples(task_labels=...)``), else from ``cols.label`` (``label``).
        """
        import pyarrow as pa

        present = set(map(str, df.columns))
        ids, out = id_and_text(df, cols, fn=fn)
        label_col = cols.label if getattr(cols, "label_explicit", False) else (
            TASK_LABELS if TASK_LABELS in present else cols.label)
        if split == S.INFERENCE:
            if getattr(cols, "label_explicit", False):
                raise LabelError(
                    f"{fn}: split 'inference' takes no labels (production data is unlabeled); got "
                    f"`label={cols.label!r}`. Drop the argument, or log labeled data as 'test'."
                )
        else:
            if label_col not in present:
                raise LabelError(
                    f"{fn}: split {split!r} needs labels, but the dataset has no {label_col!r} column; columns "
                    f"are {sorted(present)}. Pass `label=<column name>` (a list of labels per sample)."
                )
            tasks, labels = require_labels(manifest, fn=fn)
            binary = bool(manifest.get("binary"))
            arg = f"`label` (column {label_col!r})"
            rows = []
            for i, v in enumerate(df[label_col].tolist()):
                if _missing(v):
                    raise LabelError(
                        f"{fn}: {arg} must hold labels for every sample of a labeled split; id "
                        f"{_py(ids[i])!r} has none. Log unlabeled data as split 'inference'."
                    )
                rows.append(sample_labels(v, tasks, labels, binary, fn=fn, arg=arg, sample_id=_py(ids[i])))
            out[TASK_LABELS] = pa.array(rows, pa.list_(pa.string()))
        reserved = set(S.RESERVED_COLUMNS) | {TASK_LABELS}
        for m in getattr(cols, "meta", ()):
            if m not in present:
                raise SchemaError(f"{fn}: `meta` column {m!r} is not in the dataset; columns are {sorted(present)}.")
            if m in reserved or m in (cols.id, cols.text, label_col) or m.startswith(
                    ("gold_", "pred_", "data_error_potential_", "confidence_")):
                raise SchemaError(
                    f"{fn}: `meta` column {m!r} clashes with a column dataquality uses; rename it "
                    f"(reserved: {sorted(reserved)} and the per-task gold_/pred_/confidence_/"
                    "data_error_potential_ columns)."
                )
            try:
                arr = pa.array(df[m].tolist(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise SchemaError(f"{fn}: `meta` column {m!r} must hold numbers, strings or booleans: {e}") from None
            if pa.types.is_nested(arr.type):
                raise SchemaError(f"{fn}: `meta` column {m!r} must hold numbers, strings or booleans; got {arr.type}.")
            out[m] = arr
        return pa.table(out)

    # -- model outputs ----------------------------------------------------------------------------

    def output_batch(self, ids: np.ndarray, embs: Any, logits: Any, probs: Any, *, exclude_embs: bool,
                     fn: str, manifest: dict) -> OutputBatch:
        """``embs (n, d)``; binary runs ``logits (n, n_tasks)`` (one sigmoid logit per task) or
        ``probs`` of that shape in [0, 1]; other runs one ``(n, k_t)`` array per task (a list,
        or an ``(n, n_tasks, k)`` array when every task has k labels), ``probs`` likewise.
        Stored as one row of :meth:`logits_width` columns per sample."""
        n = len(ids)
        tasks = manifest.get("tasks")
        if not tasks:
            raise ConfigurationError(
                f"{fn}: a text_multi_label run needs its tasks before model outputs: call dq.set_tasks_for_run([...])."
            )
        binary = bool(manifest.get("binary"))
        e = None
        if not exclude_embs:
            if embs is None:
                raise ShapeError(f"{fn}: `embs` is required (one embedding per sample) unless exclude_embs=True.")
            d = manifest.get("embedding_dim")
            e = as_matrix(embs, fn=fn, arg="embs", n_rows=n, width=d,
                          width_hint=f" and the embedding width {d} of earlier batches" if d else "")
        if (logits is None) == (probs is None):
            raise ShapeError(f"{fn}: pass exactly one of `logits` and `probs`; got {'both' if logits is not None else 'neither'}.")
        arg = "logits" if logits is not None else "probs"
        src = logits if logits is not None else probs
        if binary:
            out = self.binary_logits(src, n, len(tasks), fn=fn, arg=arg, is_probs=probs is not None)
        else:
            labels = labels_of(manifest)
            if labels is None:
                raise ConfigurationError(
                    f"{fn}: a non-binary text_multi_label run needs one label list per task before model outputs: "
                    f"call dq.set_labels_for_run([[...], ...]) with {len(tasks)} lists."
                )
            out = self.task_logits(src, n, tasks, [len(l) for l in labels], fn=fn, arg=arg, is_probs=probs is not None)
        return OutputBatch(row_ids=ids, embs=e, logits=out)

    @staticmethod
    def binary_logits(src: Any, n: int, n_tasks: int, *, fn: str, arg: str, is_probs: bool) -> np.ndarray:
        caller_rows = type(src) is np.ndarray and not is_probs
        if isinstance(src, (list, tuple)):  # one (n,) / (n, 1) array per task
            if len(src) != n_tasks:
                raise ShapeError(f"{fn}: `{arg}` must hold one array per task ({n_tasks}); got {len(src)} arrays.")
            cols = []
            for t, a in enumerate(src):
                arr = to_numpy(a, fn=fn, arg=f"{arg}[{t}]")
                if arr.ndim == 2 and arr.shape[1] == 1:
                    arr = arr[:, 0]
                if arr.ndim != 1 or arr.shape[0] != n:
                    raise ShapeError(f"{fn}: `{arg}[{t}]` must have shape ({n},) (one sigmoid output per sample); got {arr.shape}.")
                cols.append(arr)
            src = np.stack(cols, axis=1)
        arr = to_numpy(src, fn=fn, arg=arg)
        if arr.ndim == 1 and n_tasks == 1 and arr.shape[0] == n:
            arr = arr.reshape(n, 1)
        if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] != n_tasks:
            raise ShapeError(
                f"{fn}: `{arg}` must have one column per task, shape ({n}, {n_tasks}) for the run's {n_tasks} "
                f"binary tasks; got {arr.shape}."
            )
        hint = f" and the run's {n_tasks} binary tasks"
        if caller_rows and src is arr:
            # the rows as they are: the run copies them and checks them for NaN/inf (its short path)
            return as_matrix(arr, fn=fn, arg=arg, n_rows=n, width=n_tasks, width_hint=hint)
        out = check_matrix(arr, fn=fn, arg=arg, n_rows=n, width=n_tasks, width_hint=hint)
        if is_probs:
            if (out < 0).any() or (out > 1).any():
                raise ShapeError(f"{fn}: `probs` of a binary multi-label run must be sigmoid outputs in [0, 1].")
            p = np.clip(out.astype(np.float64), 1e-7, 1 - 1e-7)
            out = np.log(p / (1 - p)).astype(np.float32)
        return out

    @staticmethod
    def task_logits(src: Any, n: int, tasks: list[str], ks: list[int], *, fn: str, arg: str,
                    is_probs: bool) -> np.ndarray:
        T = len(tasks)
        if not isinstance(src, (list, tuple)):
            arr = to_numpy(src, fn=fn, arg=arg)
            if arr.ndim != 3:
                raise ShapeError(
                    f"{fn}: `{arg}` must be a list of {T} arrays, one (n, k_t) per task (k_t = {ks}), or one "
                    f"(n, {T}, k) array when every task has k labels; got shape {arr.shape}."
                )
            if arr.shape[1] != T:
                raise ShapeError(f"{fn}: `{arg}` must hold one block per task ({T}); got shape {arr.shape}.")
            src = [arr[:, t, :] for t in range(T)]
        if len(src) != T:
            raise ShapeError(f"{fn}: `{arg}` must hold one array per task ({T}: {tasks}); got {len(src)} arrays.")
        blocks = []
        for t, a in enumerate(src):
            m = check_matrix(a, fn=fn, arg=f"{arg}[{t}]", n_rows=n, width=ks[t],
                             width_hint=f" and the {ks[t]} labels of task {tasks[t]!r}")
            if is_probs:
                if (m < 0).any() or not np.allclose(m.sum(axis=1), 1.0, atol=1e-3):
                    raise ShapeError(f"{fn}: each row of `probs[{t}]` (task {tasks[t]!r}) must be probabilities summing to 1.")
                m = np.log(np.clip(m, 1e-12, None)).astype(np.float32)
            blocks.append(m)
        return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
