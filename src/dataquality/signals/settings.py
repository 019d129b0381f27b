"""The signal settings a user may set per run (stored in ``run.json`` as ``signal_settings``).

Each setting is a typed declaration (:class:`Setting`): its name, type, range, default and what
it means. Changing a setting makes the next ``finish()`` recompute every split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError


@dataclass(frozen=True)
class Setting:
    """One signal setting.

    Attributes
    ----------
    name : str
        The keyword of ``dq.set_signal_settings``.
    type : type
        ``int`` or ``float``.
    low, high : float
        The closed range of accepted values.
    default : int, float or None
        The value used when the run does not set it (None: computed by the signal, see ``doc``).
    doc : str
        What it means, one line (quoted in error messages).
    """

    name: str
    type: type
    low: float
    high: float
    default: Any
    doc: str

    def check(self, value: Any, *, fn: str) -> int | float:
        """``value`` as this setting's type; ConfigurationError naming ``fn`` and the setting if it
        is not a finite number of the right type in ``[low, high]``."""
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type is int:
            ok_type = ok_type and float(value).is_integer()
        if not ok_type or not math.isfinite(float(value)) or not self.low <= value <= self.high:
            raise ConfigurationError(
                f"{fn}: `{self.name}` ({self.doc}) must be {'an integer' if self.type is int else 'a number'} in "
                f"[{self.low}, {self.high}]; got {value!r}."
            )
        return self.type(value)


_DECLARED = (
    Setting("dep_knn_k", int, 1, 500, 10, "neighbours whose labels DEP consults"),
    Setting("dep_knn_weight", float, 0.0, 1.0, 0.85,
            "weight of the model's probabilities against the neighbour labels in DEP"),
    Setting("dep_prior_strength", float, 0.0, 1e6, 1.0, "pseudo-count of the class prior in the neighbour vote"),
    Setting("dep_calibration", float, 0.0, 1.0, 0.0, "strength of the per-class calibration of DEP (0 = off)"),
    Setting("likely_mislabeled_dep_percentile", float, 0.0, 100.0, 0.0,
            "flagged samples must have a DEP at or above this percentile (precision knob)"),
    Setting("boundary_quantile", float, 0.0, 1.0, 0.9,
            "quantile of the training certainty ratio above which a sample is on the boundary"),
    Setting("boundary_floor", float, 0.0, 1.0, 0.25, "lowest certainty ratio that can count as on the boundary"),
    Setting("map_fit_max", int, 10, 10_000_000, 20_000,
            "training samples UMAP is fitted on; the rest are placed by neighbours"),
    Setting("cluster_min_size", int, 2, 10_000_000, None,
            "HDBSCAN min_cluster_size (default: 1% of the fitted samples, at least 10)"),
    Setting("drift_k", int, 1, 500, 10, "training neighbours whose mean distance measures drift"),
    Setting("drift_local_scale", float, 0.0, 4.0, 0.25,
            "exponent of the local scaling of the drift distance by the spread of the training "
            "neighbours (0 = plain mean k-NN distance)"),
    Setting("drift_whitening", float, 0.0, 0.5, 0.25,
            "exponent of the partial whitening of the embeddings drift is measured in "
            "(0 = plain cosine, 0.5 = full whitening)"),
    Setting("drift_quantile", float, 0.5, 0.9999, 0.95,
            "quantile of the training drift distance above which a sample is drifted"),
    Setting("seed", int, 0, 2**32 - 1, 0, "random seed of the map and the index"),
)

SETTINGS: dict[str, Setting] = {s.name: s for s in _DECLARED}
"""Every signal setting by name."""


def setting_value(settings: Mapping[str, Any], name: str) -> Any:
    """The run's value of setting ``name`` (``settings`` as stored in ``run.json``), else its
    declared default."""
    return settings.get(name, SETTINGS[name].default)


def check_settings(settings: dict, *, fn: str) -> dict:
    """Validate and normalise ``settings``; raises ConfigurationError naming the setting."""
    out = {}
    for name, value in settings.items():
        if name not in SETTINGS:
            raise ConfigurationError(f"{fn}: unknown signal setting {name!r}; known: {sorted(SETTINGS)}.")
        out[name] = SETTINGS[name].check(value, fn=fn)
    return out
