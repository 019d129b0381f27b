"""The registry of task types: ``task_type`` names and aliases to :class:`~.base.Task` instances.

Adding a task type is one folder under ``tasks/`` and one line in :data:`TASKS` below.
"""

from __future__ import annotations

from ..exceptions import ConfigurationError
from .base import Task
from .text_classification.task import TextClassification
from .text_multi_label.task import TextMultiLabel
from .text_ner.task import TextNer

TASKS: dict[str, Task] = {t.name: t for t in (TextClassification(), TextNer(), TextMultiLabel())}

# Accepted spellings, lower case: every canonical name and alias.
TASK_ALIASES: dict[str, str] = {
    **{t.name: t.name for t in TASKS.values()},
    **{a: t.name for t in TASKS.values() for a in t.aliases},
}


def get_task(task_type: object, *, fn: str) -> Task:
    """The task registered as ``task_type`` (a name or an alias, any case).

    Raises
    ------
    ConfigurationError
        ``task_type`` names no registered task; the message lists the known names.
    """
    if isinstance(task_type, Task):
        return task_type
    if not isinstance(task_type, str) or task_type.lower() not in TASK_ALIASES:
        raise ConfigurationError(
            f"{fn}: `task_type` must be one of {sorted(TASK_ALIASES)}; got {task_type!r}."
        )
    return TASKS[TASK_ALIASES[task_type.lower()]]
