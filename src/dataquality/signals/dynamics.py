"""Training dynamics per sample: AUM and dataset cartography.

References
----------
Pleiss, Zhang, Elenberg, Weinberger. "Identifying Mislabeled Data using the Area Under the Margin
Ranking." NeurIPS 2020. (Here on probabilities, as Galileo does.)
Swayamdipta, Schwartz, Lourie, Wang, Hajishirzi, Smith, Choi. "Dataset Cartography: Mapping and
Diagnosing Datasets with Training Dynamics." EMNLP 2020.
"""

from __future__ import annotations

import warnings

import numpy as np

from .registry import SignalResult, SplitArrays


def gold_margins(epoch_probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch the gold probability and the margin p(gold) − max_{j≠gold} p(j).

    Parameters
    ----------
    epoch_probs : numpy.ndarray, shape (E, n, k)
        NaN rows where a sample was not logged at an epoch.
    gold : numpy.ndarray of int, shape (n,)

    Returns
    -------
    gold_prob, margin : numpy.ndarray, shape (E, n)
        Margin in [-1, 1]; higher = the model agrees more with the label.
    """
    E, n, k = epoch_probs.shape
    r = np.arange(n)
    gp = epoch_probs[:, r, gold]
    other = epoch_probs.copy()
    other[:, r, gold] = -np.inf
    om = other.max(axis=2) if k > 1 else np.zeros((E, n), np.float32)
    return gp, gp - om


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def training_dynamics(data: SplitArrays) -> SignalResult:
    """AUM and cartography (confidence μ, variability σ, correctness) across the logged epochs.

    Columns
    -------
    aum : mean margin over epochs, in [-1, 1]; low = likely a problem.
    confidence_mean : mean p(gold) over epochs (cartography μ).
    variability : standard deviation of p(gold) over epochs (cartography σ); 0 with one epoch.
    correctness : number of epochs at which the argmax equalled the gold label.
    """
    gp, margin = gold_margins(data.epoch_probs, data.gold)
    aum = _nanmean(margin, axis=0)
    mu = _nanmean(gp, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sigma = np.nan_to_num(np.nanstd(gp, axis=0))
    logged = ~np.isnan(data.epoch_probs[:, :, 0])
    correct = logged & (np.nan_to_num(data.epoch_probs, nan=-1.0).argmax(axis=2) == data.gold[None, :])
    n_correct = correct.sum(axis=0).astype(np.int16)
    return SignalResult(
        columns={
            "aum": aum.astype(np.float32),
            "confidence_mean": mu.astype(np.float32),
            "variability": sigma.astype(np.float32),
            "correctness": n_correct,
        },
        summary={"aum_mean": float(np.mean(aum)) if len(aum) else None,
                 "aum_std": float(np.std(aum)) if len(aum) else None,
                 "epochs": len(data.epochs)},
    )
