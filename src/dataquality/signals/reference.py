"""The training reference: what every other split is scored against, built once per ``finish()``.

Validation and test samples get their label-agreement evidence from their nearest training
neighbours, every split is placed on the training map, boundary thresholds come from the training
distribution, drift is measured against the training embeddings, and the class and confidence
shift of an inference set is tested against held-out (else training) outputs.

The pipeline makes one :class:`TrainingReference` per ``finish()`` and hands it to every split:
the task fills it from the training split it computes (and from held-out splits), or loads it
from stored results when training is unchanged. Signals only read it (and fill the caches of what
they derive from it, such as the neighbour index or the drift metric, so it is derived once);
they never read the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import layout as S
from .neighbors import NeighborIndex, build_index
from .settings import setting_value

HELDOUT_SPLITS = (S.VALIDATION, S.TEST)  # held-out labeled splits, in order of preference


@dataclass
class SplitOutputs:
    """Final-epoch outputs of a labeled split that an inference set's shift is tested against.

    Attributes
    ----------
    confidence : numpy.ndarray of float64, shape (n,)
        Per-sample confidence.
    counts : numpy.ndarray of int64, shape (n_classes,)
        Predictions per class (NER: predicted spans per entity type).
    """

    confidence: np.ndarray
    counts: np.ndarray


@dataclass
class SpanReference:
    """The training spans (span-scoring tasks such as NER).

    Attributes
    ----------
    embeddings : numpy.ndarray of float32, shape (m, d), or None
        Span embeddings, rows as in the training split's ``embeddings.npy``; None when unknown.
    twins : numpy.ndarray of int64, shape (m, j), or None
        Other rows that are the same span (a gold span and the predicted span with its
        boundaries), -1 padded.
    heldout : dict of str to numpy.ndarray
        Predicted-span embeddings of the held-out splits (``validation``, ``test``) known so far.
    index : faiss.Index or None
        Cosine index over ``embeddings`` (:func:`dataquality.core.vectors.build_index`).
    drift : dict or None
        The drift metric of the spans, derived once (:mod:`dataquality.signals.drift`).
    """

    embeddings: np.ndarray | None = None
    twins: np.ndarray | None = None
    heldout: dict[str, np.ndarray] = field(default_factory=dict)
    index: Any = None
    drift: dict | None = None


@dataclass
class TrainingReference:
    """Training-split arrays that cross-split signals need (rows as in its ``samples.parquet``).

    Attributes
    ----------
    labels : list of str
        The run's labels (class names; NER: entity types for ``outputs.counts``).
    settings : dict
        The run's signal settings.
    embeddings : numpy.ndarray of float32, shape (n, d), or None
        Final-epoch training embeddings per sample (memory-mapped); None without embeddings.
    gold : numpy.ndarray of int64, shape (n,), or None
        Gold class index per training sample.
    xy, cluster_id : numpy.ndarray or None
        The training map (n, 2) and clusters (n,), once computed.
    cluster_words : dict of int to list of str, or None
        Top words of each training cluster.
    boundary_ratio : float or None
        The training certainty-ratio threshold of ``is_on_the_boundary``.
    outputs : dict of str to SplitOutputs
        Outputs of ``training``, ``validation`` and ``test`` known so far (computed in this
        ``finish()`` or stored), for the set-level tests of inference sets.
    spans : SpanReference or None
        The training spans of a span-scoring task.
    index : faiss.Index or None
        Cosine index over ``embeddings`` (:func:`dataquality.core.vectors.build_index`, seeded
        with the ``seed`` setting); built on first use by :meth:`sample_index`.
    neighbors : NeighborIndex or None
        The reduced neighbour index of DEP and the map; built on first use by
        :meth:`neighbor_index`.
    drift : dict or None
        The drift metric of the samples, derived once by :mod:`dataquality.signals.drift`.
    task_thresholds : dict of str to float, or None
        Thresholds a task derives per sub-task from training (multi-label: each task's
        certainty-ratio threshold of ``is_on_the_boundary``).
    """

    labels: list[str]
    settings: dict = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    gold: np.ndarray | None = None
    xy: np.ndarray | None = None
    cluster_id: np.ndarray | None = None
    cluster_words: dict[int, list[str]] | None = None
    boundary_ratio: float | None = None
    outputs: dict[str, SplitOutputs] = field(default_factory=dict)
    spans: SpanReference | None = None
    index: Any = None
    neighbors: NeighborIndex | None = None
    drift: dict | None = None
    task_thresholds: dict[str, float] | None = None

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def neighbor_index(self) -> NeighborIndex | None:
        """The neighbour index over the training embeddings (None without them)."""
        if self.neighbors is None and self.embeddings is not None:
            self.neighbors = build_index(self.embeddings)
        return self.neighbors

    def sample_index(self):
        """The cosine index over the training embeddings (None without them)."""
        if self.index is None and self.embeddings is not None:
            from ..core import vectors

            self.index = vectors.build_index(self.embeddings, seed=int(setting_value(self.settings, "seed")))
        return self.index

    def stored_index(self):
        """The index over the rows the training split stores in ``embeddings.npy`` (spans for a
        span-scoring task), as the pipeline saves it for similarity search."""
        if self.spans is not None:
            return self.spans.index
        return self.sample_index()

    def heldout_outputs(self) -> tuple[str, SplitOutputs] | None:
        """The outputs set-level tests compare with: held-out (validation, else test) when
        known and not empty, else training; None if none."""
        for split in (*HELDOUT_SPLITS, S.TRAIN):
            out = self.outputs.get(split)
            if out is not None and len(out.confidence):
                return split, out
        return None

    def set_outputs(self, split: str, outputs: SplitOutputs) -> None:
        """Record the outputs of a labeled split computed in this ``finish()``."""
        self.outputs[split] = outputs

    def adopt_training(self, data) -> None:
        """Make the training split's arrays (a :class:`~.registry.SplitArrays`) the reference:
        its embeddings, gold labels and outputs. Called before its signals run."""
        self.embeddings, self.gold = data.embeddings, data.gold
        self.neighbors = self.index = self.drift = None
        self.set_outputs(S.TRAIN, SplitOutputs(np.asarray(data.confidences(), np.float64), data.predicted_counts()))

    def remember_training(self, columns: dict, summary: dict) -> None:
        """Keep what the training split's signals found that the other splits are scored with:
        the boundary threshold, the map and its clusters' words (``columns`` and ``summary`` as
        :func:`~.registry.run_signals` returns them)."""
        thr = summary.get("is_on_the_boundary", {}).get("threshold")
        if thr is not None:
            self.boundary_ratio = thr
        if "x" in columns and "y" in columns:
            self.xy = np.stack([columns["x"], columns["y"]], axis=1).astype(np.float32)
            self.cluster_id = columns.get("cluster_id")
            self.cluster_words = {int(c): w for c, w in summary.get("map", {}).get("words", {}).items()}


def reference_neighbors(data, k: int):
    """(sims, idx) of each sample's ``k`` nearest training samples (itself excluded in training).

    Cached per split; None without a reference or embeddings.
    """
    if k in data.cache.neighbors:
        return data.cache.neighbors[k]
    ref = data.reference
    index = ref.neighbor_index() if ref is not None else None
    if index is None or data.embeddings is None:
        return None
    if data.split == S.TRAIN:
        out = index.search(index.points, k, self_rows=np.arange(index.n), reduced=True)
    else:
        out = index.search(data.embeddings, k)
    data.cache.neighbors[k] = out
    return out
