"""The logging side of the task: labels, options, inputs and output batches (see ..base.Task)."""

from __future__ import annotations


class ClassificationWrite:
    """Logging-side methods of the task protocol."""
