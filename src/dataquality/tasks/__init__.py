"""Task types: each in its own folder behind one protocol (:mod:`.base`), found through the
registry (:mod:`.registry`)."""

from .base import Capabilities, EditAction, FilterField, OutputBatch, Task
from .registry import TASK_ALIASES, TASKS, get_task

__all__ = ["Capabilities", "EditAction", "FilterField", "OutputBatch", "TASKS", "TASK_ALIASES", "Task", "get_task"]
