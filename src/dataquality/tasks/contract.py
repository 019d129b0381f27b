"""What a task hands the contract test (``tests/test_task_contract.py``): a small synthetic run
logged through the public ``dq`` API, and the bad inputs the task's checks must refuse.

Every registered task provides one through :meth:`~dataquality.tasks.base.Task.example`, so a new
task is covered by the contract test as soon as it is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BadInput:
    """One wrong call a user's training loop could make, and the typed error it must get.

    Attributes
    ----------
    name : str
        What is wrong, for the test's id (``"logits_wrong_width"``).
    call : callable
        ``call(dq)`` makes the wrong call on the current run (after the example's labels and
        inputs were logged).
    error : type
        The exception class it must raise (a ``dataquality.exceptions`` class).
    match : str
        A regular expression the message must match (it names the argument).
    """

    name: str
    call: Callable[[Any], None]
    error: type
    match: str


@dataclass(frozen=True)
class TaskExample:
    """A small synthetic run of a task.

    Attributes
    ----------
    configure : callable
        ``configure(dq)`` on a fresh run: labels and task options.
    log_inputs : callable
        ``log_inputs(dq)``: every split's inputs (training, validation, one inference set named
        ``inference_name``).
    log_outputs : callable
        ``log_outputs(dq)``: model outputs of two training epochs, validation and inference.
    inference_name : str
    text_filter : str
        A substring of some (not all) training texts.
    relabel_to : str
        A label name a ``"label"`` edit may set (a class, an entity type).
    bad_inputs : tuple of BadInput
    filter_values : dict
        A value to try for each of the task's filter fields (by field name).
    edit_filters : dict
        The filter each edit action is tried with (by action name; default: every sample).
    """

    configure: Callable[[Any], None]
    log_inputs: Callable[[Any], None]
    log_outputs: Callable[[Any], None]
    inference_name: str = "prod"
    text_filter: str = "alpha"
    relabel_to: str = ""
    bad_inputs: tuple[BadInput, ...] = ()
    filter_values: dict = field(default_factory=dict)
    edit_filters: dict = field(default_factory=dict)


def log_example_outputs(dq: Any, outputs: Callable[[range, int], tuple], shift: Callable[[Any], Any], *,
                        n: int, inference_name: str = "prod") -> None:
    """Log an example's model outputs: two training epochs over ids ``0..n-1``, validation (ids
    from 1000) and an inference set (ids from 2000) whose embeddings ``shift`` moves away from
    training. ``outputs(ids, epoch)`` returns ``(ids, embs, logits)`` as the task logs them."""
    for epoch in range(2):
        ids, embs, logits = outputs(range(n), epoch)
        dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="training", epoch=epoch)
    ids, embs, logits = outputs(range(1000, 1000 + n // 2), 1)
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="validation", epoch=1)
    ids, embs, logits = outputs(range(2000, 2000 + n // 2), 1)
    dq.log_model_outputs(ids=ids, embs=shift(embs), logits=logits, split="inference", inference_name=inference_name)
