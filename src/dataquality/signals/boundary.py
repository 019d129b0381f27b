"""``is_on_the_boundary``: samples the model cannot separate from a second class.

The certainty ratio is p(second most likely) / p(most likely) at the final epoch, in [0, 1].
A sample is on the boundary when its ratio is at least the training split's
``boundary_quantile`` (default 0.9) quantile of that ratio, and never below ``boundary_floor``
(0.25, i.e. the top class at most 4× the second) so that a confident model does not flag
confident samples. Every split uses the training threshold, so production data that sits on the
boundary more often than training shows up as a larger share.
"""

from __future__ import annotations

import numpy as np

from ..core import layout as S
from .registry import SignalResult, SplitArrays


def certainty_ratio(probs: np.ndarray) -> np.ndarray:
    """p(2nd) / p(1st) per row, shape (n, k) -> (n,); 0 for a single class."""
    if probs.shape[1] < 2:
        return np.zeros(len(probs), dtype=np.float32)
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return (top2[:, 0] / np.maximum(top2[:, 1], 1e-12)).astype(np.float32)


def is_on_the_boundary(data: SplitArrays) -> SignalResult:
    """Columns ``certainty_ratio`` and ``is_on_the_boundary``; the threshold is the training
    split's (``data.reference.boundary_ratio``), computed here for training or without one."""
    ratio = certainty_ratio(data.probs)
    q = float(data.settings.get("boundary_quantile", 0.9))
    floor = float(data.settings.get("boundary_floor", 0.25))
    thr = None
    if data.split != S.TRAIN and data.reference is not None:
        thr = data.reference.boundary_ratio
    if thr is None:
        thr = max(float(np.quantile(ratio, q)) if len(ratio) else 1.0, floor)
    flag = ratio >= thr
    return SignalResult(
        columns={"certainty_ratio": ratio, "is_on_the_boundary": flag},
        flag="is_on_the_boundary",
        summary={"threshold": float(thr), "count": int(flag.sum()),
                 "rate": float(flag.mean()) if len(flag) else 0.0},
    )
