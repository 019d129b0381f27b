"""A small synthetic text-classification run for the contract test (see ..contract)."""

from __future__ import annotations

import numpy as np

from ...exceptions import DuplicateIdError, LabelError, NonFiniteError, ShapeError
from ..contract import BadInput, TaskExample, log_example_outputs

LABELS = ["negative", "neutral", "positive"]
WORDS = ("alpha", "beta", "gamma", "delta")
N, D = 60, 8


def _frame(start: int, n: int, *, labeled: bool = True):
    import pandas as pd

    ids = np.arange(start, start + n)
    df = pd.DataFrame({"id": ids, "text": [f"{WORDS[i % 4]} sample {i}" for i in ids]})
    if labeled:
        df["label"] = [LABELS[i % 3] for i in ids]
    return df


def _outputs(ids: range, epoch: int):
    start, n = ids[0], len(ids)
    rng = np.random.default_rng(epoch + start)
    gold = np.arange(start, start + n) % 3
    centers = np.eye(3, D, dtype=np.float32) * 3
    embs = (centers[gold] + rng.normal(size=(n, D))).astype(np.float32)
    logits = (np.eye(3, dtype=np.float32)[gold] * (1 + epoch) + rng.normal(size=(n, 3))).astype(np.float32)
    return np.arange(start, start + n), embs, logits


def _configure(dq) -> None:
    dq.set_labels_for_run(LABELS)


def _log_inputs(dq) -> None:
    dq.log_dataset(_frame(0, N), split="training")
    dq.log_dataset(_frame(1000, N // 2), split="validation")
    dq.log_dataset(_frame(2000, N // 2, labeled=False), split="inference", inference_name="prod")


def _log_outputs(dq) -> None:
    log_example_outputs(dq, _outputs, lambda e: e + 2, n=N)


def _nan_logits(dq) -> None:
    ids, embs, logits = _outputs(range(4), 0)
    logits[1, 2] = np.nan
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="training", epoch=0)


def example() -> TaskExample:
    ids, embs, logits = _outputs(range(4), 0)
    return TaskExample(
        configure=_configure,
        log_inputs=_log_inputs,
        log_outputs=_log_outputs,
        relabel_to="positive",
        bad_inputs=(
            BadInput("logits_wrong_width",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs, logits=np.zeros((4, 4), np.float32),
                                                     split="training", epoch=0),
                     ShapeError, r"`logits`.*\(4, 3\)"),
            BadInput("embs_wrong_rows",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs[:3], logits=logits, split="training", epoch=0),
                     ShapeError, r"`embs`"),
            BadInput("nan_logits", _nan_logits, NonFiniteError, r"`logits`"),
            BadInput("repeated_ids",
                     lambda dq: dq.log_model_outputs(ids=[0, 0, 1, 2], embs=embs, logits=logits, split="training", epoch=0),
                     DuplicateIdError, r"`ids`"),
            BadInput("unknown_label",
                     lambda dq: dq.log_data_samples(texts=["x"], ids=[9999], labels=["spam"], split="training"),
                     LabelError, r"spam"),
        ),
    )
