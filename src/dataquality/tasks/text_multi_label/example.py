"""A small synthetic multi-label run for the contract test (see ..contract)."""

from __future__ import annotations

import numpy as np

from ...exceptions import LabelError, NonFiniteError, ShapeError
from ..contract import BadInput, TaskExample, log_example_outputs

TASKS = ["toxic", "insult", "threat"]
WORDS = ("alpha", "beta", "gamma", "delta")
N, D = 60, 8


def _active(i: int) -> list[str]:
    return [t for j, t in enumerate(TASKS) if (i >> j) & 1]


def _samples(dq, ids, split: str, *, labeled: bool = True, inference_name: str | None = None) -> None:
    ids = list(ids)
    texts = [f"{WORDS[i % 4]} message {i}" for i in ids]
    extra = {"task_labels": [_active(i) for i in ids]} if labeled else {}
    dq.log_data_samples(texts=texts, ids=ids, split=split, inference_name=inference_name, **extra)


def example_outputs(ids, epoch: int):
    ids = np.asarray(list(ids))
    rng = np.random.default_rng(epoch + int(ids[0]))
    truth = np.array([[(i >> j) & 1 for j in range(len(TASKS))] for i in ids], dtype=np.float32)
    logits = ((truth * 2 - 1) * (1 + epoch) + rng.normal(size=truth.shape)).astype(np.float32)
    embs = (np.repeat(truth, 3, axis=1)[:, :D] * 2 + rng.normal(size=(len(ids), D))).astype(np.float32)
    return ids, embs, logits


def _configure(dq) -> None:
    dq.set_tasks_for_run(TASKS)


def _log_inputs(dq) -> None:
    _samples(dq, range(N), "training")
    _samples(dq, range(1000, 1000 + N // 2), "validation")
    _samples(dq, range(2000, 2000 + N // 2), "inference", labeled=False, inference_name="prod")


def _log_outputs(dq) -> None:
    log_example_outputs(dq, example_outputs, lambda e: e + 3, n=N)


def _nan(dq) -> None:
    ids, embs, logits = example_outputs(range(4), 0)
    logits[2, 1] = np.inf
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="training", epoch=0)


def example() -> TaskExample:
    ids, embs, logits = example_outputs(range(4), 0)
    return TaskExample(
        configure=_configure,
        log_inputs=_log_inputs,
        log_outputs=_log_outputs,
        relabel_to="toxic",
        filter_values={"task": "insult"},
        edit_filters={"relabel": {"task": "toxic", "text": "alpha"}, "relabel_as_pred": {"task": "insult", "text": "beta"}},
        bad_inputs=(
            BadInput("logits_wrong_number_of_tasks",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs, logits=logits[:, :2], split="training", epoch=0),
                     ShapeError, r"`logits`"),
            BadInput("logits_list_of_wrong_length",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs, logits=[logits[:, :1], logits[:, 1:2]],
                                                     split="training", epoch=0),
                     ShapeError, r"`logits`"),
            BadInput("non_finite_logits", _nan, NonFiniteError, r"`logits`"),
            BadInput("label_outside_the_tasks",
                     lambda dq: dq.log_data_samples(texts=["x"], ids=[9999], task_labels=[["spam"]], split="training"),
                     LabelError, r"spam"),
        ),
    )
