"""Task types as data: one frozen :class:`TaskSpec` per supported ``task_type``."""

from __future__ import annotations

from dataclasses import dataclass

from . import schema as S
from .exceptions import ConfigurationError


@dataclass(frozen=True)
class TaskSpec:
    """What a task logs and what its signals score.

    Attributes
    ----------
    name : str
        The ``task_type`` passed to ``dq.init``.
    input_columns : tuple of str
        Columns every logged input has (``id``, ``text``; labels on labeled splits).
    optional_columns : tuple of str
        Columns kept when present (``text_pair`` makes a text-classification run an NLI run).
    unit : str
        What a signal scores: ``"sample"`` (classification, NLI) or ``"span"`` (NER).
    """

    name: str
    input_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]
    unit: str


TEXT_CLASSIFICATION = TaskSpec(
    name="text_classification",
    input_columns=(S.ID, S.TEXT),
    optional_columns=(S.TEXT_PAIR,),
    unit="sample",
)

TEXT_NER = TaskSpec(
    name="text_ner",
    input_columns=(S.ID, S.TEXT, "text_token_indices", "gold_spans"),
    optional_columns=(),
    unit="span",
)

TASKS: dict[str, TaskSpec] = {TEXT_CLASSIFICATION.name: TEXT_CLASSIFICATION, TEXT_NER.name: TEXT_NER}
# Accepted spellings of the same task.
TASK_ALIASES = {"text_classification": "text_classification", "nli": "text_classification",
                "text_ner": "text_ner", "ner": "text_ner"}


def get_task(task_type: object, *, fn: str) -> TaskSpec:
    if not isinstance(task_type, str) or task_type.lower() not in TASK_ALIASES:
        raise ConfigurationError(
            f"{fn}: `task_type` must be one of {sorted(TASK_ALIASES)}; got {task_type!r}."
        )
    return TASKS[TASK_ALIASES[task_type.lower()]]
