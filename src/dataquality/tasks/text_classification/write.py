"""The logging side of the task: labels, options, inputs and output batches (see ..base.Task)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.convert import as_matrix, check_label_list, check_matrix, check_probs, copy_finite, to_numpy
from ...exceptions import ShapeError
from ..base import Columns, OutputBatch
from .ingest import normalize_frame


class ClassificationWrite:
    """Logging-side methods of the task protocol: one label per sample, ``embs (n, d)`` and
    ``logits (n, k)``; logits of shape ``(n,)``/``(n, 1)`` are one binary sigmoid output, and
    ``probs`` may stand for logits."""

    def normalize_labels(self, labels: Any, *, fn: str, manifest: dict) -> list[str]:
        """The label list; one label ``x`` means a binary task ``["NOT_x", "x"]``."""
        out = check_label_list(labels, fn=fn)
        return [f"NOT_{out[0]}", out[0]] if len(out) == 1 else out

    def normalize_inputs(self, df: Any, *, fn: str, cols: Columns, split: str, manifest: dict):
        return normalize_frame(df, fn=fn, cols=cols, split=split, labels=manifest.get("labels"))

    def output_batch(self, ids: np.ndarray, embs: Any, logits: Any, probs: Any, *,
                     exclude_embs: bool, fn: str, manifest: dict) -> OutputBatch:
        n = ids.shape[0]
        embs_src = None
        if not exclude_embs:
            if embs is None:
                raise ShapeError(f"{fn}: `embs` is required (one embedding per sample) unless exclude_embs=True.")
            d = manifest.get("embedding_dim")
            embs_src = as_matrix(
                embs, fn=fn, arg="embs", n_rows=n, width=d,
                width_hint=lambda: f" and the embedding width {d} of earlier batches" if d else "",
            )
        return OutputBatch(ids, embs_src, logits_source(logits, probs, n, fn=fn, manifest=manifest))


def logits_source(logits: Any, probs: Any, n: int, *, fn: str, manifest: dict) -> np.ndarray:
    """The (n, k) logits of a batch, shape-checked: the caller's array where it can be copied as
    it is (see ``copy_finite``), else logits computed from a sigmoid output or from ``probs``."""
    labels = manifest.get("labels")
    width = len(labels) if labels is not None else manifest.get("logits_dim")
    if (probs is None and type(logits) is np.ndarray and logits.ndim == 2 and logits.shape[0] == n
            and logits.dtype.kind == "f" and logits.shape[1] >= 2
            and (width is None or logits.shape[1] == width)):
        return logits  # the usual batch: (n, k) floats, copied and checked by copy_finite

    def hint() -> str:  # for the message only
        return f" and the {width} labels set by dq.set_labels_for_run" if labels is not None else (
            f" and the {width} logit columns of earlier batches" if width else "")

    if (logits is None) == (probs is None):
        raise ShapeError(f"{fn}: pass exactly one of `logits` and `probs`; got {'both' if logits is not None else 'neither'}.")
    arg = "logits" if logits is not None else "probs"
    arr = to_numpy(logits if logits is not None else probs, fn=fn, arg=arg)
    binary = arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)
    if binary and arr.shape[0] == n:
        if width is not None and width != 2:
            raise ShapeError(
                f"{fn}: `{arg}` of shape {arr.shape} means a binary (sigmoid) model, but the run has "
                f"{width} labels; pass shape ({n}, {width})."
            )
        col = check_matrix(arr.reshape(n, 1), fn=fn, arg=arg, n_rows=n, width=1)[:, 0]
        if probs is not None:
            check_probs(col, fn=fn)
            p = np.clip(col, 1e-12, 1 - 1e-7)
            return np.ascontiguousarray(np.stack([np.log1p(-p), np.log(p)], axis=1), dtype=np.float32)
        half = col / 2
        return np.ascontiguousarray(np.stack([-half, half], axis=1), dtype=np.float32)
    out = as_matrix(arr, fn=fn, arg=arg, n_rows=n, width=width, width_hint=hint)
    if out.shape[1] < 2:
        raise ShapeError(f"{fn}: `{arg}` needs at least 2 columns; got {out.shape}.")
    if probs is not None:
        out = copy_finite(out, np.empty(out.shape, np.float32), fn=fn, arg=arg)
        check_probs(out, fn=fn)
        sums = out.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            bad = np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-3))
            raise ShapeError(f"{fn}: each row of `probs` must sum to 1; rows {bad[:10].tolist()} sum to {sums[bad[:3]].tolist()}.")
        out = np.log(np.clip(out, 1e-12, None)).astype(np.float32)
    return out
