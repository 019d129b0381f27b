"""Probabilities from logits: row-wise softmax and the logistic sigmoid (float32, stable)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, numerically stable.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (..., k)
        Overwritten in place when it is already a float32 array that the caller owns (the result
        is computed in the array ``logits - max``, a new array).

    Returns
    -------
    numpy.ndarray of float32, shape (n, k)
        Rows sum to 1.
    """
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), elementwise, without overflow warnings.

    Parameters
    ----------
    x : numpy.ndarray of float, any shape

    Returns
    -------
    numpy.ndarray of float32, the shape of ``x``
    """
    x = np.asarray(x, dtype=np.float32)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out
