"""Signals: small pure functions over a split's arrays, registered by name in :data:`SIGNALS`.

``finish()`` builds one :class:`SplitArrays` per split and runs every registered signal whose
``splits`` include it and whose ``inputs`` are available, in registration order. A signal returns
per-sample columns (merged into ``samples.parquet``), optionally names one boolean column as its
flag, and a small JSON-able summary (merged into ``summary.json`` under the split).
"""

from __future__ import annotations

from . import builtin  # noqa: F401  (registers the built-in signals)
from .registry import SIGNALS, Signal, SignalResult, SplitArrays, register, run_signals

__all__ = ["SIGNALS", "Signal", "SignalResult", "SplitArrays", "register", "run_signals"]
