"""The read side of the task: filter fields, edit actions, console capabilities (see ..base.Task)."""

from __future__ import annotations


class ClassificationRead:
    """Read-side methods of the task protocol."""
