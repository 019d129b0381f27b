"""Signals: small pure functions over a split's arrays, registered by name in :data:`SIGNALS`.

``finish()`` builds one :class:`SplitArrays` per split (and a span-unit one for tasks that score
spans) and runs every registered signal of its unit whose ``splits`` include it and whose
``inputs`` are available, in registration order. Every split reads the one
:class:`TrainingReference` of the ``finish()``; no signal reads the disk. A signal returns
per-sample columns (merged into ``samples.parquet``), optionally names one boolean column as its
flag, and a small JSON-able summary (merged into ``summary.json`` under the split).
"""

from __future__ import annotations

from . import builtin  # noqa: F401  (registers the built-in signals)
from .reference import SpanReference, SplitOutputs, TrainingReference
from .registry import SIGNALS, Signal, SignalResult, SplitArrays, SplitCache, register, run_signals

__all__ = ["SIGNALS", "Signal", "SignalResult", "SplitArrays", "SplitCache", "register", "run_signals",
           "TrainingReference", "SplitOutputs", "SpanReference"]
