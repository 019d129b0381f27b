"""The signal registry and the arrays signals read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..core import layout as S

if TYPE_CHECKING:  # pragma: no cover - types only
    from .reference import TrainingReference


@dataclass
class SplitCache:
    """What one signal derives and a later signal of the same split reuses.

    Attributes
    ----------
    neighbors : dict of int to (sims, idx)
        Each sample's ``k`` nearest training samples, by ``k`` (:func:`.reference.reference_neighbors`).
    knn_q : numpy.ndarray, shape (n, k), or None
        The neighbours' label distribution (DEP).
    blended : numpy.ndarray, shape (n, k), or None
        DEP's calibrated blend of probabilities and neighbour labels (also read by
        ``likely_mislabeled``).
    cluster_words : dict of str to list of str, or None
        Top words per cluster of the map (read by the summary).
    drift_summary : dict or None
        The drift signal's summary (read by the summary's alerts).
    """

    neighbors: dict = field(default_factory=dict)
    knn_q: np.ndarray | None = None
    blended: np.ndarray | None = None
    cluster_words: dict | None = None
    drift_summary: dict | None = None


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
    probs : numpy.ndarray of float32, shape (n, k), or None
        Final-epoch probabilities; None for rows that have none of their own (an NER sample's
        or span's; signals that need them do not run there).
    embeddings : numpy.ndarray of float32, shape (n, d), or None
        Final-epoch embeddings (memory-mapped); None when logged with ``exclude_embs``.
    epoch_probs : numpy.ndarray of float32, shape (E, n, k), or None
        Probabilities at each logged epoch, ascending (NaN where a sample was not logged).
    epochs : list of int
    texts : pyarrow.ChunkedArray of str, or None
        Sample texts (``.to_pylist()`` when a signal needs Python strings).
    settings : dict
        The run's ``signal_settings`` (knobs such as ``likely_mislabeled_dep_percentile``; see
        :mod:`.settings`).
    unit : str
        What a row is: ``"sample"`` or ``"span"`` (see :attr:`Signal.unit`).
    scored : numpy.ndarray of bool, shape (n,), or None
        Span arrays: the rows span signals score (predicted spans); None = every row.
    confidence : numpy.ndarray of float, shape (n,), or None
        Per-row confidence when it is not the largest of ``probs`` (NER: a sample's mean token
        confidence); see :meth:`confidences`.
    pred_counts : numpy.ndarray of int, shape (len(labels),), or None
        Predictions per label when they are not counted from ``probs`` (NER: predicted spans
        per entity type); see :meth:`predicted_counts`.
    count_unit : str or None
        What ``pred_counts`` counts, when it is not one prediction per sample.
    reference : TrainingReference or None
        The training reference every split is scored against (for the training split, built from
        its own arrays); None when the run has no training results.
    columns : dict
        Columns produced by the signals that ran before (registry order).
    cache : SplitCache
        What one signal derives and a later one reuses, within this split.
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
    unit: str = "sample"
    scored: np.ndarray | None = None
    confidence: np.ndarray | None = None
    pred_counts: np.ndarray | None = None
    count_unit: str | None = None
    reference: "TrainingReference | None" = None
    columns: dict = field(default_factory=dict)  # filled by run_signals, in registry order
    cache: SplitCache = field(default_factory=SplitCache)

    @property
    def pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def confidences(self) -> np.ndarray:
        """Per-row confidence: ``confidence`` if given, else the largest probability."""
        return self.confidence if self.confidence is not None else self.probs.max(axis=1)

    def predicted_counts(self) -> np.ndarray:
        """Predictions per label: ``pred_counts`` if given, else counted from ``probs``."""
        if self.pred_counts is not None:
            return self.pred_counts
        return np.bincount(self.pred, minlength=len(self.labels))

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
    """A registered signal: a pure function of :class:`SplitArrays` and the inputs it needs.

    Attributes
    ----------
    name : str
    fn : callable
        ``fn(data) -> SignalResult``.
    inputs : tuple of str
        Attributes of :class:`SplitArrays` that must not be None for it to run.
    splits : tuple of str
        The splits it runs on.
    unit : str
        What its per-unit columns score: ``"sample"`` or ``"span"``. :func:`run_signals` runs
        a signal only over arrays of its unit (``SplitArrays.unit``).
    doc : str
    """

    name: str
    fn: Callable[[SplitArrays], SignalResult]
    inputs: tuple[str, ...]
    splits: tuple[str, ...] = S.SPLITS
    unit: str = "sample"
    doc: str = ""


SIGNALS: dict[str, Signal] = {}


def register(signal: Signal) -> Signal:
    """Add ``signal`` to the registry (replacing one of the same name)."""
    SIGNALS[signal.name] = signal
    return signal


def run_signals(data: SplitArrays, names: list[str] | None = None) -> tuple[dict, dict]:
    """Run the applicable signals on one split: those of ``names`` (default: every registered
    one, in registration order) whose unit is ``data.unit``, whose splits include
    ``data.split`` and whose inputs ``data`` has. On the training split, what the other splits
    are scored with (boundary threshold, map) is kept in ``data.reference``.

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
        if sig.unit != data.unit or data.split not in sig.splits or not all(data.has(i) for i in sig.inputs):
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
    if data.split == S.TRAIN and data.reference is not None:
        data.reference.remember_training(columns, summary)  # what the other splits are scored with
    return columns, summary
