"""The signal settings a user may set per run (stored in ``run.json`` as ``signal_settings``).

Changing a setting makes the next ``finish()`` recompute every split.
"""

from __future__ import annotations

import math
from typing import Any

from ..exceptions import ConfigurationError

# name: (type, low, high, default, meaning)
SETTINGS: dict[str, tuple[type, float, float, Any, str]] = {
    "dep_knn_k": (int, 1, 500, 10, "neighbours whose labels DEP consults"),
    "dep_knn_weight": (float, 0.0, 1.0, 0.85, "weight of the model's probabilities against the neighbour labels in DEP"),
    "dep_prior_strength": (float, 0.0, 1e6, 1.0, "pseudo-count of the class prior in the neighbour vote"),
    "dep_calibration": (float, 0.0, 1.0, 0.0, "strength of the per-class calibration of DEP (0 = off)"),
    "likely_mislabeled_dep_percentile": (float, 0.0, 100.0, 0.0,
                                         "flagged samples must have a DEP at or above this percentile (precision knob)"),
    "boundary_quantile": (float, 0.0, 1.0, 0.9, "quantile of the training certainty ratio above which a sample is on the boundary"),
    "boundary_floor": (float, 0.0, 1.0, 0.25, "lowest certainty ratio that can count as on the boundary"),
    "map_fit_max": (int, 10, 10_000_000, 20_000, "training samples UMAP is fitted on; the rest are placed by neighbours"),
    "cluster_min_size": (int, 2, 10_000_000, None, "HDBSCAN min_cluster_size (default: 1% of the fitted samples, at least 10)"),
    "drift_k": (int, 1, 500, 10, "training neighbours whose mean distance measures drift"),
    "drift_local_scale": (float, 0.0, 4.0, 0.25,
                          "exponent of the local scaling of the drift distance by the spread of the training "
                          "neighbours (0 = plain mean k-NN distance)"),
    "drift_whitening": (float, 0.0, 0.5, 0.25,
                        "exponent of the partial whitening of the embeddings drift is measured in "
                        "(0 = plain cosine, 0.5 = full whitening)"),
    "drift_quantile": (float, 0.5, 0.9999, 0.95, "quantile of the training drift distance above which a sample is drifted"),
    "seed": (int, 0, 2**32 - 1, 0, "random seed of the map and the index"),
}


def check_settings(settings: dict, *, fn: str) -> dict:
    """Validate and normalise ``settings``; raises ConfigurationError naming the setting."""
    out = {}
    for name, value in settings.items():
        if name not in SETTINGS:
            raise ConfigurationError(f"{fn}: unknown signal setting {name!r}; known: {sorted(SETTINGS)}.")
        typ, low, high, _, meaning = SETTINGS[name]
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if typ is int:
            ok_type = ok_type and float(value).is_integer()
        if not ok_type or not math.isfinite(float(value)) or not low <= value <= high:
            raise ConfigurationError(
                f"{fn}: `{name}` ({meaning}) must be {'an integer' if typ is int else 'a number'} in "
                f"[{low}, {high}]; got {value!r}."
            )
        out[name] = typ(value)
    return out
