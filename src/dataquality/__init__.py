"""dataquality: self-hosted data quality for NLP models.

>>> import dataquality as dq
>>> dq.init("text_classification", project_name="reviews", run_name="minilm")  # doctest: +SKIP

Importing does no I/O and loads no heavy dependency; ``dq.metrics`` is loaded on first use.
"""

from __future__ import annotations

from .version import __version__  # noqa: F401 - dataquality.__version__

from . import exceptions
from .api import (
    finish,
    get_run,
    init,
    log_data_sample,
    log_data_samples,
    log_dataset,
    log_model_outputs,
    set_epoch,
    set_epoch_and_split,
    set_labels_for_run,
    set_signal_settings,
    set_split,
    set_tagging_schema,
    set_tasks_for_run,
    show,
)
from .logging.run import Run

__all__ = [
    "Run",
    "exceptions",
    "finish",
    "get_run",
    "init",
    "log_data_sample",
    "log_data_samples",
    "log_dataset",
    "log_model_outputs",
    "metrics",
    "set_epoch",
    "set_epoch_and_split",
    "set_labels_for_run",
    "set_signal_settings",
    "set_split",
    "set_tagging_schema",
    "set_tasks_for_run",
    "show",
]


def __getattr__(name: str):
    if name == "metrics":
        import importlib

        return importlib.import_module(".metrics", __name__)
    raise AttributeError(f"module 'dataquality' has no attribute {name!r}")
