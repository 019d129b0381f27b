"""The compute side of the task: a split's results at ``finish()`` (see ..base.Task)."""

from __future__ import annotations


class ClassificationCompute:
    """Compute-side methods of the task protocol."""
