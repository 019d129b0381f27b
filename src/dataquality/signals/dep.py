"""Data Error Potential (DEP): how likely a labeled sample is a problem, in [0, 1], higher = worse.

The reference is Galileo's ``(1 − AUM) / 2`` (kept as the ``aum`` column). DEP adds two pieces of
evidence the training dynamics miss:

1. **Neighbour labels.** The labels of the sample's ``k`` nearest training neighbours in embedding
   space (itself excluded), smoothed toward the class prior, give a label distribution ``q`` that
   does not come from a model that has memorised the sample's own (possibly wrong) label
   (cf. Bahri, Jiang, Gupta. "Deep k-NN for Noisy Labels." ICML 2020).
2. **Per-class calibration.** Classes differ in how confident the model is on their members; as in
   confident learning, each class's probability is divided by that class's threshold (the mean
   probability the class gets on the samples labeled with it), here raised to the power
   ``dep_calibration`` (0 = off, 1 = full), and rows are renormalised.

The blend ``p = w·p̄ + (1 − w)·q`` of the mean probability over epochs ``p̄`` and ``q`` is
calibrated, and DEP = ``(1 − margin) / 2`` with margin = calibrated p(gold) − max over the other
classes. With ``w = 1`` and no calibration DEP equals the reference ``(1 − AUM)/2``.

Defaults (``dep_knn_weight`` 0.85, ``dep_knn_k`` 10, ``dep_calibration`` 0) were chosen on
``bench/label_noise.py`` (Rotten Tomatoes + MiniLM, binary, uniform and confusion-guided noise at
10% and 20%): there, neighbour labels add little over AUM (MiniLM neighbourhoods only loosely
follow sentiment) and more weight on them lowers average precision, so they enter as a light
correction that lifts AP above plain AUM in all four settings; per-class calibration lowered AP
by 0.005–0.02 on this near-balanced binary task, so it is off by default and left as a knob for
imbalanced multi-class data. Thresholds per split: easy = mean(DEP), hard = mean(DEP) + std(DEP) (the reference's
``(1 − mean AUM)/2`` and ``+ std(AUM)/2`` applied to DEP).

References
----------
Northcutt, Jiang, Chuang. "Confident Learning: Estimating Uncertainty in Dataset Labels." JAIR 2021.
"""

from __future__ import annotations

import warnings

import numpy as np

from .reference import reference_neighbors
from .registry import SignalResult, SplitArrays
from .settings import setting_value


def setting(data: SplitArrays, name: str):
    """The split's value of signal setting ``name`` (its declared default if the run sets none)."""
    return setting_value(data.settings, name)


def mean_probs(epoch_probs: np.ndarray) -> np.ndarray:
    """Mean probability over the epochs a sample was logged. (E, n, k) -> (n, k)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(epoch_probs, axis=0)


def knn_label_distribution(nb_idx: np.ndarray, ref_gold: np.ndarray, n_labels: int, *,
                           prior: np.ndarray, strength: float) -> np.ndarray:
    """Label distribution of each sample's neighbours, smoothed toward ``prior``.

    Parameters
    ----------
    nb_idx : numpy.ndarray of int, shape (n, k)
        Reference rows of the neighbours; ``-1`` for none.
    ref_gold : numpy.ndarray of int, shape (n_ref,)
    prior : numpy.ndarray, shape (n_labels,)
    strength : float
        Pseudo-count of the prior.

    Returns
    -------
    numpy.ndarray of float32, shape (n, n_labels); rows sum to 1.
    """
    n, k = nb_idx.shape
    valid = nb_idx >= 0
    labels = np.where(valid, ref_gold[np.clip(nb_idx, 0, None)], 0)
    counts = np.zeros((n, n_labels), dtype=np.float32)
    rows = np.repeat(np.arange(n), k)
    np.add.at(counts, (rows[valid.ravel()], labels.ravel()[valid.ravel()]), 1.0)
    counts += strength * prior[None, :]
    total = counts.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    if empty.any():  # no neighbours and no prior: no evidence either way
        counts[empty] = 1.0
        total[empty] = n_labels
    return counts / total


def class_thresholds(p: np.ndarray, gold: np.ndarray, n_labels: int) -> np.ndarray:
    """Confident-learning thresholds: t_c = mean of p[:, c] over samples labeled c (1/k if none)."""
    t = np.full(n_labels, 1.0 / n_labels, dtype=np.float64)
    for c in range(n_labels):
        m = gold == c
        if m.any():
            t[c] = max(float(p[m, c].mean()), 1e-6)
    return t


def calibrate(p: np.ndarray, thresholds: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Divide each class column by its threshold (to the power ``strength``) and renormalise rows."""
    q = p / (thresholds[None, :] ** strength)
    return q / q.sum(axis=1, keepdims=True)


def margin_of(p: np.ndarray, gold: np.ndarray) -> np.ndarray:
    r = np.arange(len(gold))
    g = p[r, gold]
    other = p.copy()
    other[r, gold] = -np.inf
    return g - (other.max(axis=1) if p.shape[1] > 1 else 0.0)


def neighbor_labels(data: SplitArrays) -> np.ndarray | None:
    """``q``: the smoothed label distribution of the split's nearest training neighbours."""
    cached = data.cache.knn_q
    if cached is not None:
        return cached
    nb = reference_neighbors(data, int(setting(data, "dep_knn_k")))
    if nb is None or data.reference.gold is None:
        return None
    ref = data.reference
    idx = nb[1]
    prior = np.bincount(ref.gold, minlength=len(data.labels)).astype(np.float32)
    prior /= max(prior.sum(), 1.0)
    q = knn_label_distribution(idx, ref.gold, len(data.labels), prior=prior,
                               strength=float(setting(data, "dep_prior_strength")))
    data.cache.knn_q = q
    return q


def blended_probs(data: SplitArrays) -> np.ndarray:
    """Calibrated blend of the mean probability over epochs and the neighbour label distribution."""
    cached = data.cache.blended
    if cached is not None:
        return cached
    p = mean_probs(data.epoch_probs) if data.epoch_probs is not None else data.probs
    p = np.nan_to_num(p, nan=1.0 / len(data.labels)).astype(np.float64)
    q = neighbor_labels(data)
    if q is not None:
        w = float(setting(data, "dep_knn_weight"))
        p = w * p + (1.0 - w) * q
    out = calibrate(p, class_thresholds(p, data.gold, len(data.labels)), float(setting(data, "dep_calibration")))
    data.cache.blended = out
    return out


def data_error_potential(data: SplitArrays) -> SignalResult:
    """DEP per sample and the split's easy/hard thresholds and histogram."""
    p = blended_probs(data)
    dep = np.clip((1.0 - margin_of(p, data.gold)) / 2.0, 0.0, 1.0).astype(np.float32)
    easy = float(dep.mean()) if len(dep) else 0.0
    hard = min(easy + (float(dep.std()) if len(dep) else 0.0), 1.0)
    hist, edges = np.histogram(dep, bins=20, range=(0.0, 1.0))
    return SignalResult(
        columns={"data_error_potential": dep},
        summary={
            "easy_threshold": easy,
            "hard_threshold": hard,
            "mean": easy,
            "histogram": {"counts": hist.tolist(), "edges": edges.round(4).tolist()},
            "n_hard": int((dep >= hard).sum()),
            "uses_neighbors": data.cache.knn_q is not None,
        },
    )
