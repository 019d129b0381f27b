"""A small synthetic NER run for the contract test (see ..contract)."""

from __future__ import annotations

import re

import numpy as np

from ...exceptions import SchemaError, ShapeError
from ..contract import BadInput, TaskExample, log_example_outputs

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NAMES = ("alpha smith", "beta jones", "gamma lee")
PLACES = ("paris", "new york", "rome")
N, D = 40, 8


def _sample(i: int, *, labeled: bool = True) -> dict:
    who, where = NAMES[i % 3], PLACES[i % 3]
    text = f"{who} flew to {where} on day {i}"
    offs = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    row = {"id": i, "text": text, "text_token_indices": offs}
    if labeled:
        s = text.index(where)
        row["gold_spans"] = [{"start": 0, "end": len(who), "label": "PER"},
                             {"start": s, "end": s + len(where), "label": "LOC"}]
    return row


def _tags(i: int) -> list[str]:
    n_where = len(PLACES[i % 3].split())
    return ["B-PER", "I-PER", "O", "O", "B-LOC"] + ["I-LOC"] * (n_where - 1) + ["O", "O", "O"]


def _frame(ids, *, labeled: bool = True):
    import pandas as pd

    return pd.DataFrame([_sample(int(i), labeled=labeled) for i in ids])


def _outputs(ids, epoch: int):
    rng = np.random.default_rng(epoch + int(ids[0]))
    embs, logits = [], []
    for i in ids:
        tags = _tags(int(i))
        lg = rng.normal(size=(len(tags), len(LABELS))).astype(np.float32)
        lg[np.arange(len(tags)), [LABELS.index(t) for t in tags]] += 2 + 2 * epoch
        if i % 7 == 0:  # a few confusions: PER read as LOC
            lg[0, LABELS.index("B-LOC")] += 6
        logits.append(lg)
        embs.append(rng.normal(size=(len(tags), D)).astype(np.float32))
    return list(ids), embs, logits


def _configure(dq) -> None:
    dq.set_labels_for_run(LABELS)
    dq.set_tagging_schema("BIO")


def _log_inputs(dq) -> None:
    dq.log_dataset(_frame(range(N)), split="training")
    dq.log_dataset(_frame(range(1000, 1000 + N // 2)), split="validation")
    dq.log_dataset(_frame(range(2000, 2000 + N // 2), labeled=False), split="inference", inference_name="prod")


def _log_outputs(dq) -> None:
    log_example_outputs(dq, _outputs, lambda embs: [e + 2 for e in embs], n=N)


def example() -> TaskExample:
    ids, embs, logits = _outputs(range(2), 0)
    return TaskExample(
        configure=_configure,
        log_inputs=_log_inputs,
        log_outputs=_log_outputs,
        text_filter="paris",
        relabel_to="LOC",
        filter_values={"span_text": "paris", "span_regex": "^new", "span_label": ["LOC"],
                       "error_type": ["wrong_tag"], "has_drifted_span": True},
        edit_filters={"relabel_span": {"span_text": "paris"}, "shift_span": {"span_text": "rome"},
                      "delete_span": {"span_label": ["PER"]}},
        bad_inputs=(
            BadInput("logits_wrong_width",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs, logits=[lg[:, :3] for lg in logits],
                                                     split="training", epoch=0),
                     ShapeError, r"`logits\[0\]`"),
            BadInput("embs_token_mismatch",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=[e[:-1] for e in embs], logits=logits,
                                                     split="training", epoch=0),
                     ShapeError, r"`embs\[0\]`"),
            BadInput("logits_not_per_sample",
                     lambda dq: dq.log_model_outputs(ids=ids, embs=embs, logits=logits[:1], split="training", epoch=0),
                     ShapeError, r"`logits`"),
            BadInput("gold_span_off_tokens",
                     lambda dq: dq.log_dataset(
                         __import__("pandas").DataFrame([{**_sample(5000), "gold_spans": [{"start": 1, "end": 4, "label": "PER"}]}]),
                         split="training"),
                     SchemaError, r"gold_spans|token"),
        ),
    )
