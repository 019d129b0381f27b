"""The signal registry and the arrays signals read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import layout as S


@dataclass
class SplitArrays:
    """Everything a signal may read about one split, row-aligned with ``samples.parquet``.

    Attributes
    ----------
    split, inference_name : str, str or None
    labels : list of str
        Label names; column ``k`` of every probability matrix is ``labels[k]``.
    ids : numpy.ndarray, shape (n,)
    gold : numpy.ndarray of int64, shape (n,), or None
        Gold label index per sample; None for inference splits.
    probs : numpy.ndarray of float32, shape (n, k)
        Final-epoch probabilities.
    embeddings : numpy.ndarray of float32, shape (n, d), or None
        Final-epoch embeddings (memory-mapped); None when logged with ``exclude_embs``.
    epoch_probs : numpy.ndarray of float32, shape (E, n, k), or None
        Probabilities at each logged epoch, ascending (NaN where a sample was not logged).
    epochs : list of int
    texts : pyarrow.ChunkedArray of str
        Sample texts (``.to_pylist()`` when a signal needs Python strings).
    settings : dict
        The run's ``signal_settings`` (knobs such as ``likely_mislabeled_dep_percentile``).
    results_root : Path or None
        ``results/`` of the run, to read the training split's results from other splits.
    columns : dict
        Columns produced by the signals that ran before (registry order).
    memo, shared : dict
        Intermediate results shared between the signals of one split / of every split.
    """

    split: str
    inference_name: str | None
    labels: list[str]
    ids: np.ndarray
    gold: np.ndarray | None
    probs: np.ndarray
    embeddings: np.ndarray | None
    epoch_probs: np.ndarray | None
    epochs: list[int]
    texts: object
    settings: dict = field(default_factory=dict)
    results_root: Path | None = None
    columns: dict = field(default_factory=dict)  # filled by run_signals, in registry order
    memo: dict = field(default_factory=dict)  # per-split intermediate results shared by signals
    shared: dict = field(default_factory=dict)  # shared by every split of one finish()

    @property
    def pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def has(self, name: str) -> bool:
        return getattr(self, name, None) is not None


@dataclass
class SignalResult:
    """What a signal returns: per-sample columns, the name of its flag column, a summary."""

    columns: dict[str, np.ndarray]
    flag: str | None = None
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Signal:
    """A registered signal: a pure function of :class:`SplitArrays` and the inputs it needs."""

    name: str
    fn: Callable[[SplitArrays], SignalResult]
    inputs: tuple[str, ...]
    splits: tuple[str, ...] = S.SPLITS
    doc: str = ""


SIGNALS: dict[str, Signal] = {}


def register(signal: Signal) -> Signal:
    """Add ``signal`` to the registry (replacing one of the same name)."""
    SIGNALS[signal.name] = signal
    return signal


def run_signals(data: SplitArrays, names: list[str] | None = None) -> tuple[dict, dict]:
    """Run the applicable signals on one split.

    Returns
    -------
    columns : dict of str to numpy.ndarray
        Every per-sample column, each of length n.
    summary : dict
        ``{signal name: summary}`` plus ``"flags": {signal name: flag column}`` and
        ``"timings": {signal name: seconds}``.
    """
    columns: dict[str, np.ndarray] = {}
    summary: dict = {}
    flags: dict[str, str] = {}
    timings: dict[str, float] = {}
    n = len(data.ids)
    for name in names if names is not None else list(SIGNALS):
        sig = SIGNALS[name]
        if data.split not in sig.splits or not all(data.has(i) for i in sig.inputs):
            continue
        t0 = time.perf_counter()
        res = sig.fn(data)
        timings[name] = round(time.perf_counter() - t0, 3)
        for col, values in res.columns.items():
            if len(values) != n:
                raise RuntimeError(f"signal {name!r} returned {len(values)} values for column {col!r}; expected {n}.")
            columns[col] = values
            data.columns[col] = values
        if res.flag:
            flags[name] = res.flag
        if res.summary:
            summary[name] = res.summary
    if flags:
        summary["flags"] = flags
    summary["timings"] = timings
    return columns, summary
