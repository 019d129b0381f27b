"""Bad input: the right exception type, a message naming the function and the argument, nothing
written by the rejected call, and a run that still works afterwards."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
from dataquality.exceptions import (
    ConfigurationError,
    DataQualityError,
    DuplicateIdError,
    InputTypeError,
    LabelError,
    NonFiniteError,
    RunStateError,
    SchemaError,
    ShapeError,
    SplitError,
    UnknownIdError,
)
from tests.conftest import LABELS, make_df, outputs, run_dir, snapshot

N, D, K = 8, 16, 3  # the `started` run: 8 training samples, 16-d embeddings, 3 labels


def _manifest_state(home: Path) -> dict:
    p = run_dir(home) / "run.json"
    if not p.exists():
        return {}
    m = json.loads(p.read_text())
    return {k: m.get(k) for k in ("labels", "id_type", "embedding_dim", "logits_dim", "status", "results", "task_type")}


def _state(home: Path, run) -> tuple:
    if run is not None and not run.finished:
        run.flush()  # every queued batch on disk, so a later difference is the call's doing
    return snapshot(home), _manifest_state(home)


def _continue_and_finish(home: Path) -> None:
    """A valid batch (at a new, last epoch) and finish() work after the rejected call."""
    embs, logits = outputs(N, d=D, k=K, seed=123)
    dq.log_model_outputs(ids=np.arange(N), embs=embs, logits=logits, split="train", epoch=99)
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True)
    assert out["id"].tolist() == list(range(N))
    assert out["gold"].tolist() == make_df(N)["label"].tolist()
    np.testing.assert_allclose(np.stack(out["emb"]), embs, rtol=1e-6)


def E(n=N, d=D, seed=0):
    return outputs(n, d=d, seed=seed)[0]


def L(n=N, k=K, seed=0):
    return outputs(n, k=k, seed=seed)[1]


def _nan_logits():
    x = L()
    x[3, 1] = np.nan
    return x


def _inf_embs():
    x = E()
    x[5, 0] = np.inf
    x[6, 2] = -np.inf
    return x


def lmo(**kw) -> Callable[[], Any]:
    """A log_model_outputs call for the `started` run (train, epoch 0) with some arguments replaced."""
    args = {"ids": np.arange(N), "embs": E(), "logits": L()}
    args.update(kw)
    args = {k: v for k, v in args.items() if v is not _DROP}
    return lambda: dq.log_model_outputs(**args)


_DROP = object()


def lds(data, **kw) -> Callable[[], Any]:
    return lambda: dq.log_dataset(data, **kw)


def _df(**cols) -> pd.DataFrame:
    base = {"id": [100, 101, 102], "text": ["a", "b", "c"], "label": ["negative", "neutral", "positive"]}
    base.update(cols)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    exc: type
    builtin: type
    match: str
    setup: Callable[[], Any] | None = None


def _first_batch():
    dq.log_model_outputs(ids=[0, 1, 2, 3], embs=E(4), logits=L(4))


def _clear_split_and_epoch():
    run = dq.get_run()
    run.routing.split = run.routing.epoch = None


CASES = [
    # --- log_model_outputs: shapes and values -----------------------------------------------------
    Case("embs-1d", lmo(embs=np.zeros(N)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `embs` must have shape \(n_samples, d\) = \(8, d\) to match `ids`.*got \(8,\)"),
    Case("embs-too-few-rows", lmo(embs=E(5)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `embs` must have shape .*got \(5, 16\)"),
    Case("logits-3d", lmo(logits=np.zeros((N, K, 2))), ShapeError, ValueError,
         r"dq\.log_model_outputs: `logits` must have shape \(n_samples, 3\) = \(8, 3\).*got \(8, 3, 2\)"),
    Case("logits-width-vs-labels", lmo(logits=L(k=4)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `logits` must have shape .*\(8, 3\) to match `ids` and the 3 labels set by dq\.set_labels_for_run; got \(8, 4\)"),
    Case("logits-single-column-vs-3-labels", lmo(logits=np.zeros(N)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `logits` of shape \(8,\) means a binary \(sigmoid\) model, but the run has 3 labels"),
    Case("embs-ragged-list", lmo(embs=[[0.1] * D] * (N - 1) + [[0.1] * (D - 1)]), ShapeError, ValueError,
         r"dq\.log_model_outputs: `embs` must be a rectangular array; got a ragged sequence"),
    Case("logits-ragged-list", lmo(logits=[[0.0, 1.0, 2.0]] * (N - 1) + [[1.0]]), ShapeError, ValueError,
         r"dq\.log_model_outputs: `logits` must be a rectangular array"),
    Case("logits-nan", lmo(logits=_nan_logits()), NonFiniteError, ValueError,
         r"dq\.log_model_outputs: `logits` must be finite; got NaN in 1 row\(s\) \(batch positions \[3\]\)"),
    Case("embs-inf", lmo(embs=_inf_embs()), NonFiniteError, ValueError,
         r"dq\.log_model_outputs: `embs` must be finite; got inf in 2 row\(s\) \(batch positions \[5, 6\]\)"),
    Case("embs-width-changes", lmo(ids=[4, 5, 6, 7], embs=E(4, d=D + 1), logits=L(4)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `embs` must have shape \(n_samples, 16\) = \(4, 16\) to match `ids` and the embedding width 16 of earlier batches; got \(4, 17\)",
         setup=_first_batch),
    Case("logits-strings", lmo(logits=np.full((N, K), "x")), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `logits` must be numeric; got dtype <U1"),
    Case("embs-missing", lmo(embs=_DROP), ShapeError, ValueError,
         r"dq\.log_model_outputs: `embs` is required .* unless exclude_embs=True"),
    Case("logits-and-probs", lmo(probs=np.full((N, K), 1 / 3)), ShapeError, ValueError,
         r"dq\.log_model_outputs: pass exactly one of `logits` and `probs`; got both"),
    Case("neither-logits-nor-probs", lmo(logits=_DROP), ShapeError, ValueError,
         r"dq\.log_model_outputs: pass exactly one of `logits` and `probs`; got neither"),
    Case("probs-rows-not-summing-to-1", lmo(logits=_DROP, probs=np.full((N, K), 0.2)), ShapeError, ValueError,
         r"dq\.log_model_outputs: each row of `probs` must sum to 1; rows \[0, 1, 2"),
    Case("probs-negative", lmo(logits=_DROP, probs=np.tile([1.5, -0.5, 0.0], (N, 1))), SchemaError, ValueError,
         r"dq\.log_model_outputs: `probs` must lie in \[0, 1\]; got values from -0\.5 to 1\.5"),
    # --- log_model_outputs: ids --------------------------------------------------------------------
    Case("ids-mixed-str-int-in-batch", lmo(ids=[0, 1, 2, 3, "4", 5, 6, 7]), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be all integers or all strings; got a mix of \['int', 'str'\]"),
    Case("ids-mixed-object-array", lmo(ids=np.array([0, "1", 2, 3, 4, 5, 6, 7], dtype=object)), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be all integers or all strings; got values of types \['int', 'str'\]"),
    Case("ids-strings-after-ints", lmo(ids=[f"s{i}" for i in range(N)]), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be integers like the ids logged before in run proj/run; got strings"),
    Case("ids-strings-after-int-batch", lmo(ids=["a", "b", "c", "d"], embs=E(4), logits=L(4)), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be integers like the ids logged before", setup=_first_batch),
    Case("ids-duplicate-in-batch", lmo(ids=[0, 1, 2, 3, 3, 5, 6, 0]), DuplicateIdError, ValueError,
         r"dq\.log_model_outputs: `ids` must be unique within a batch; \[3, 0\] repeat"),
    Case("ids-duplicate-across-batches", lmo(ids=[3, 4, 5, 6], embs=E(4), logits=L(4)), DuplicateIdError, ValueError,
         r"dq\.log_model_outputs: `ids` \[3\] were already logged for split 'training', epoch 0",
         setup=_first_batch),
    Case("ids-empty-batch", lmo(ids=[], embs=np.zeros((0, D)), logits=np.zeros((0, K))), SchemaError, ValueError,
         r"dq\.log_model_outputs: `ids` is empty; log at least one sample per call"),
    Case("ids-single-int", lmo(ids=7), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be a sequence of ids .*got a single int 7"),
    Case("ids-fractional-floats", lmo(ids=np.arange(N) + 0.5), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be integers or strings; got floats that are not whole numbers"),
    Case("ids-2d", lmo(ids=np.arange(N).reshape(2, 4)), ShapeError, ValueError,
         r"dq\.log_model_outputs: `ids` must be 1-D with one id per sample; got shape \(2, 4\)"),
    Case("ids-booleans", lmo(ids=np.ones(N, dtype=bool)), InputTypeError, TypeError,
         r"dq\.log_model_outputs: `ids` must be integers or strings; got booleans"),
    # --- split and epoch -----------------------------------------------------------------------------
    Case("missing-split", lmo(), SplitError, ValueError,
         r"dq\.log_model_outputs: no split is set\. Pass `split=` or call dq\.set_split", setup=_clear_split_and_epoch),
    Case("missing-epoch", lmo(split="train"), SplitError, ValueError,
         r"dq\.log_model_outputs: no epoch is set for split 'training'\. Pass `epoch=`", setup=_clear_split_and_epoch),
    Case("set_split-inference-without-name", lambda: dq.set_split("inference"), SplitError, ValueError,
         r"dq\.set_split: split 'inference' needs an `inference_name`"),
    Case("log-inference-without-name", lmo(split="inference"), SplitError, ValueError,
         r"dq\.log_model_outputs: split 'inference' needs an `inference_name`"),
    Case("set_split-inference-name-on-train", lambda: dq.set_split("train", inference_name="nov"), SplitError, ValueError,
         r"dq\.set_split: `inference_name` applies only to split 'inference'; got split 'train'"),
    Case("log-inference-name-on-test", lmo(split="test", inference_name="nov"), SplitError, ValueError,
         r"dq\.log_model_outputs: `inference_name` applies only to split 'inference'; got split 'test'"),
    Case("log-inference-name-on-current-train", lmo(inference_name="nov"), SplitError, ValueError,
         r"dq\.log_model_outputs: `inference_name` applies only to split 'inference'; got split 'training' \(set by dq\.set_split\)"),
    Case("set_split-unknown", lambda: dq.set_split("trian"), SplitError, ValueError,
         r"dq\.set_split: `split` must be one of \[.*'train'.*\]; got 'trian'"),
    Case("log-split-unknown", lmo(split="holdout"), SplitError, ValueError,
         r"dq\.log_model_outputs: `split` must be one of .*; got 'holdout'"),
    Case("set_split-not-a-string", lambda: dq.set_split(0), SplitError, ValueError,
         r"dq\.set_split: `split` must be one of .*; got 0"),
    Case("set_epoch-negative", lambda: dq.set_epoch(-1), SplitError, ValueError,
         r"dq\.set_epoch: `epoch` must be a non-negative integer; got -1"),
    Case("set_epoch-float", lambda: dq.set_epoch(1.5), SplitError, ValueError,
         r"dq\.set_epoch: `epoch` must be a non-negative integer; got 1\.5"),
    Case("set_epoch-string", lambda: dq.set_epoch("1"), SplitError, ValueError,
         r"dq\.set_epoch: `epoch` must be a non-negative integer; got '1'"),
    Case("set_epoch-bool", lambda: dq.set_epoch(True), SplitError, ValueError,
         r"dq\.set_epoch: `epoch` must be a non-negative integer; got True"),
    Case("log-epoch-negative", lmo(epoch=-2), SplitError, ValueError,
         r"dq\.log_model_outputs: `epoch` must be a non-negative integer; got -2"),
    Case("set_epoch_and_split-bad-epoch", lambda: dq.set_epoch_and_split(-1, "train"), SplitError, ValueError,
         r"dq\.set_epoch_and_split: `epoch` must be a non-negative integer"),
    Case("inference_name-path-traversal", lambda: dq.set_split("inference", inference_name="../x"), ConfigurationError, ValueError,
         r"dq\.set_split: `inference_name` must be 1-128 characters .*got '\.\./x'"),
    # --- log_dataset ----------------------------------------------------------------------------------
    Case("dataset-unknown-label-name", lds(_df(label=["negative", "great", "awful"]), split="train"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) must hold labels set by dq\.set_labels_for_run .*; got unknown labels \['awful', 'great'\]"),
    Case("dataset-int-label-out-of-range", lds(_df(label=[0, 3, 1]), split="train"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) integer labels .* must be in 0\.\.2; got \[3\]"),
    Case("dataset-int-label-negative", lds(_df(label=[0, -1, 1]), split="validation"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) integer labels .*got \[-1\]"),
    Case("dataset-label-nan", lds(_df(label=["negative", np.nan, "positive"]), split="train"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) must hold a label for every sample of a labeled split; 1 are missing, e\.g\. ids \[101\]"),
    Case("dataset-label-none", lds(_df(label=[None, "neutral", None]), split="test"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) must hold a label .*2 are missing, e\.g\. ids \[100, 102\]"),
    Case("dataset-label-mixed-types", lds(_df(label=["negative", 1, "positive"]), split="train"), LabelError, ValueError,
         r"dq\.log_dataset: `label` \(column 'label'\) must hold all label names \(str\) or all integers; got a mix of \['int', 'str'\]"),
    Case("dataset-no-label-column-train", lds(_df(label=None), split="train"), LabelError, ValueError,
         r"dq\.log_dataset: split 'training' needs labels, but the dataset has no 'label' column.*Pass `label=<column name>`"),
    Case("dataset-labels-for-inference", lds(_df(), split="inference", inference_name="nov", label="label"), LabelError, ValueError,
         r"dq\.log_dataset: split 'inference' takes no labels .*got `label='label'`"),
    Case("dataset-no-id-column", lds(_df().drop(columns="id"), split="train"), SchemaError, ValueError,
         r"dq\.log_dataset: the dataset has no 'id' column for `id`; columns are \['label', 'text'\]"),
    Case("dataset-no-text-column", lds(_df(), split="train", text="sentence"), SchemaError, ValueError,
         r"dq\.log_dataset: the dataset has no 'sentence' column for `text`"),
    Case("dataset-text-pair-missing", lds(_df(), split="train", text_pair="hypothesis"), SchemaError, ValueError,
         r"dq\.log_dataset: the dataset has no 'hypothesis' column for `text_pair`"),
    Case("dataset-empty-frame", lds(pd.DataFrame({"id": [], "text": [], "label": []}), split="train"), SchemaError, ValueError,
         r"dq\.log_dataset: `dataset` is empty; log at least one sample"),
    Case("dataset-empty-list", lds([], split="train"), SchemaError, ValueError,
         r"dq\.log_dataset: `dataset` is empty"),
    Case("dataset-text-not-string", lds(_df(text=["a", 5, None]), split="train"), SchemaError, ValueError,
         r"dq\.log_dataset: column 'text' \(`text`\) must hold a string for every sample; 2 row\(s\) do not, e\.g\. \(id, value\) \[\(101, 5\), \(102, None\)\]"),
    Case("dataset-duplicate-ids-within", lds(_df(id=[100, 101, 100]), split="train"), DuplicateIdError, ValueError,
         r"dq\.log_dataset: `id` \(column 'id'\) must be unique within split 'training'; got \[100\] more than once"),
    Case("dataset-duplicate-ids-across-calls", lds(_df(id=[7, 8, 100]), split="train"), DuplicateIdError, ValueError,
         r"dq\.log_dataset: `id` \(column 'id'\) must be unique within split 'training'; ids \[7\] were already logged"),
    Case("dataset-duplicate-ids-across-own-batches", lds(_df(id=[100, 101, 100]), split="validation", batch_size=2), DuplicateIdError, ValueError,
         r"dq\.log_dataset: `id` \(column 'id'\) must be unique within split 'validation'; ids \[100\] were already logged"),
    Case("dataset-mixed-id-types", lds(_df(id=[100, "x", 102]), split="train"), InputTypeError, TypeError,
         r"dq\.log_dataset: `id \(column 'id'\)` must be all integers or all strings"),
    Case("dataset-string-ids-in-int-run", lds(_df(id=["a", "b", "c"]), split="validation"), InputTypeError, TypeError,
         r"dq\.log_dataset: `id` must be integers like the ids logged before in run proj/run; got strings"),
    Case("dataset-meta-missing", lds(_df(), split="validation", meta=["lang"]), SchemaError, ValueError,
         r"dq\.log_dataset: `meta` column 'lang' is not in the dataset"),
    Case("dataset-meta-reserved", lds(_df(pred=["x", "y", "z"]), split="validation", meta=["pred"]), SchemaError, ValueError,
         r"dq\.log_dataset: `meta` column 'pred' clashes with a column dataquality uses"),
    Case("dataset-meta-is-text", lds(_df(), split="validation", meta=["text"]), SchemaError, ValueError,
         r"dq\.log_dataset: `meta` column 'text' clashes"),
    Case("dataset-meta-not-a-list", lds(_df(lang=["en"] * 3), split="validation", meta="lang"), ConfigurationError, ValueError,
         r"dq\.log_dataset: `meta` must be a list of column names; got 'lang'"),
    Case("dataset-meta-unsupported-type", lds(_df(extra=[[1], [2], [3]]), split="validation", meta=["extra"]), SchemaError, ValueError,
         r"dq\.log_dataset: `meta` column 'extra' must hold numbers, strings, booleans or dates; got list"),
    Case("dataset-wrong-type", lds(42, split="validation"), InputTypeError, TypeError,
         r"dq\.log_dataset: `dataset` must be a pandas DataFrame.*got int"),
    Case("dataset-iterable-of-non-dicts", lds(iter([(1, "a", "negative")]), split="validation"), InputTypeError, TypeError,
         r"dq\.log_dataset: `dataset` given as an iterable must yield dicts .*got an item of type tuple"),
    Case("dataset-missing-file", lds("/nonexistent/dir/train.csv", split="validation"), SchemaError, ValueError,
         r"dq\.log_dataset: `dataset` file '/nonexistent/dir/train\.csv' does not exist"),
    Case("dataset-batch-size-zero", lds(_df(), split="validation", batch_size=0), ConfigurationError, ValueError,
         r"dq\.log_dataset: `batch_size` must be a positive integer; got 0"),
    Case("dataset-id-arg-not-str", lds(_df(), split="validation", id=0), ConfigurationError, ValueError,
         r"dq\.log_dataset: `id` is a column name and must be a string; got 0"),
    Case("dataset-no-split", lds(_df()), SplitError, ValueError,
         r"dq\.log_dataset: no split is set\. Pass `split=`", setup=_clear_split_and_epoch),
    # --- log_data_samples / log_data_sample ----------------------------------------------------------
    Case("samples-length-mismatch", lambda: dq.log_data_samples(texts=["a", "b"], ids=[100, 101, 102], labels=["negative"] * 3, split="validation"),
         ShapeError, ValueError, r"dq\.log_data_samples: all arguments must have one value per sample; got lengths \{'texts': 2, 'ids': 3, 'labels': 3\}"),
    Case("samples-texts-a-string", lambda: dq.log_data_samples(texts="abc", ids=[100], split="validation"),
         InputTypeError, TypeError, r"dq\.log_data_samples: `texts` must be a list \(one value per sample\); got str"),
    Case("samples-unknown-label", lambda: dq.log_data_samples(texts=["a"], ids=[100], labels=["meh"], split="validation"),
         LabelError, ValueError, r"dq\.log_data_samples: `label` \(column 'label'\) must hold labels set by dq\.set_labels_for_run"),
    Case("sample-duplicate-id", lambda: dq.log_data_sample(text="again", id=3, label="neutral", split="train"),
         DuplicateIdError, ValueError, r"dq\.log_data_sample: `id` 3 was already logged for split 'training'"),
    Case("sample-text-not-string", lambda: dq.log_data_sample(text=None, id=100, label="neutral", split="validation"),
         SchemaError, ValueError, r"dq\.log_data_sample: column 'text' \(`text`\) must hold a string"),
    Case("sample-string-id-in-int-run", lambda: dq.log_data_sample(text="x", id="abc", label="neutral", split="validation"),
         InputTypeError, TypeError, r"dq\.log_data_sample: `id` must be integers like the ids logged before"),
    # --- set_labels_for_run ---------------------------------------------------------------------------
    Case("labels-changed", lambda: dq.set_labels_for_run(["negative", "positive", "neutral"]), ConfigurationError, ValueError,
         r"dq\.set_labels_for_run: `labels` must match the labels \['negative', 'neutral', 'positive'\] that run proj/run already has"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejected_call_writes_nothing_and_run_stays_usable(started, dq_home, case):
    assert issubclass(case.exc, DataQualityError) and issubclass(case.exc, case.builtin)
    if case.setup is not None:
        case.setup()
    before = _state(dq_home, started)
    with pytest.raises(case.exc, match=case.match) as ei:
        case.call()
    assert isinstance(ei.value, case.builtin)
    assert _state(dq_home, started) == before
    _continue_and_finish(dq_home)


def test_at_least_thirty_distinct_bad_inputs():
    assert len({c.id for c in CASES}) == len(CASES) >= 30


# --- set_labels_for_run ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels,match",
    [
        (["a", "b", "a", "c", "b"], r"dq\.set_labels_for_run: `labels` must be unique; \['a', 'b'\] appear more than once"),
        ([], r"dq\.set_labels_for_run: `labels` must not be empty"),
        (np.array([]), r"dq\.set_labels_for_run: `labels` must not be empty"),
        ("negative,positive", r"dq\.set_labels_for_run: `labels` must be a list of label names in logit-column order; got 'negative,positive'"),
        (None, r"dq\.set_labels_for_run: `labels` must be a list .*got None"),
        (3, r"dq\.set_labels_for_run: `labels` must be a list .*got 3"),
        (["a", None], r"dq\.set_labels_for_run: `labels` must hold strings \(or integers\); got NoneType None"),
        (["a", 1.5], r"dq\.set_labels_for_run: `labels` must hold strings .*got float 1\.5"),
        (["a", " "], r"dq\.set_labels_for_run: `labels` must not contain empty names"),
    ],
)
def test_set_labels_for_run_rejects(dq_home, labels, match):
    run = dq.init("text_classification", project_name="proj", run_name="run")
    with pytest.raises(ConfigurationError, match=match) as ei:
        dq.set_labels_for_run(labels)
    assert isinstance(ei.value, ValueError)
    assert run.labels is None and _manifest_state(dq_home)["labels"] is None
    dq.set_labels_for_run(["a", "b"])
    assert _manifest_state(dq_home)["labels"] == ["a", "b"]


def test_integer_labels_are_names(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run([0, 1, 2])
    assert dq.get_run().labels == ["0", "1", "2"]


def test_labels_must_match_an_existing_runs_labels(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(4), split="train")
    dq.log_model_outputs(ids=np.arange(4), embs=E(4), logits=L(4), split="train", epoch=0)
    dq.finish(verbose=False)

    dq.init("text_classification", project_name="proj", run_name="run")  # a later process
    before = _state(dq_home, None)
    with pytest.raises(ConfigurationError, match=r"dq\.set_labels_for_run: `labels` must match the labels \['negative', 'neutral', 'positive'\] that run proj/run already has .*got \['neg', 'neu', 'pos'\]"):
        dq.set_labels_for_run(["neg", "neu", "pos"])
    assert _state(dq_home, None) == before
    dq.set_labels_for_run(LABELS)  # the same labels are fine


def test_labels_must_fit_logits_logged_before(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(make_df(4, labels=["a", "b", "c"]), split="train")
    dq.log_model_outputs(ids=np.arange(4), embs=E(4), logits=L(4, k=3), split="train", epoch=0)
    with pytest.raises(ConfigurationError, match=r"dq\.set_labels_for_run: `labels` must name one label per logit column, and model outputs were logged with 3 logit columns; got 2 labels"):
        dq.set_labels_for_run(["a", "b"])
    assert dq.get_run().labels is None
    dq.set_labels_for_run(["a", "b", "c"])
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 4


def test_logits_width_checked_against_earlier_batches_without_labels(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(make_df(4), split="train")
    dq.log_model_outputs(ids=[0, 1], embs=E(2), logits=L(2, k=3), split="train", epoch=0)
    with pytest.raises(ShapeError, match=r"dq\.log_model_outputs: `logits` must have shape .*\(2, 3\) to match `ids` and the 3 logit columns of earlier batches; got \(2, 4\)"):
        dq.log_model_outputs(ids=[2, 3], embs=E(2), logits=L(2, k=4), split="train", epoch=0)
    dq.log_model_outputs(ids=[2, 3], embs=E(2), logits=L(2, k=3), split="train", epoch=0)
    dq.set_labels_for_run(LABELS)
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 4


# --- dq.init ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"task_type": "image_classification"}, ConfigurationError, r"dq\.init: `task_type` must be one of \['ner', 'nli', 'text_classification', 'text_multi_label', 'text_ner'\]; got 'image_classification'"),
        ({"task_type": None}, ConfigurationError, r"dq\.init: `task_type` must be one of .*; got None"),
        ({"project_name": "../x"}, ConfigurationError, r"dq\.init: `project_name` must be 1-128 characters .*got '\.\./x'"),
        ({"project_name": "a/b"}, ConfigurationError, r"dq\.init: `project_name` must be .*got 'a/b'"),
        ({"project_name": ""}, ConfigurationError, r"dq\.init: `project_name` must be .*got ''"),
        ({"project_name": ".hidden"}, ConfigurationError, r"dq\.init: `project_name` must be .*not starting with '\.'.*got '\.hidden'"),
        ({"project_name": ".."}, ConfigurationError, r"dq\.init: `project_name` must be .*got '\.\.'"),
        ({"project_name": "x" * 129}, ConfigurationError, r"dq\.init: `project_name` must be 1-128 characters"),
        ({"project_name": 5}, ConfigurationError, r"dq\.init: `project_name` must be a string; got int"),
        ({"run_name": "../../etc"}, ConfigurationError, r"dq\.init: `run_name` must be .*got '\.\./\.\./etc'"),
        ({"run_name": "a\\b"}, ConfigurationError, r"dq\.init: `run_name` must be .*"),
        ({"run_name": "-rf"}, ConfigurationError, r"dq\.init: `run_name` must be .*got '-rf'"),
        ({"run_name": "/abs"}, ConfigurationError, r"dq\.init: `run_name` must be .*got '/abs'"),
        ({"run_name": "tab\tname"}, ConfigurationError, r"dq\.init: `run_name` must be .*"),
    ],
)
def test_init_rejects(dq_home, kwargs, exc, match):
    args = {"task_type": "text_classification", "project_name": "proj", "run_name": "run", **kwargs}
    with pytest.raises(exc, match=match) as ei:
        dq.init(**args)
    assert isinstance(ei.value, ValueError)
    assert not dq_home.exists() or not any(dq_home.rglob("*")), "a rejected dq.init must create nothing"
    assert dq.get_run() is None
    run = dq.init("text_classification", project_name="proj", run_name="run")
    assert dq.get_run() is run and (run_dir(dq_home) / "run.json").exists()


# --- calls before dq.init and after finish ------------------------------------------------------------


CALLS = {
    "dq.set_labels_for_run": lambda: dq.set_labels_for_run(LABELS),
    "dq.set_split": lambda: dq.set_split("train"),
    "dq.set_epoch": lambda: dq.set_epoch(0),
    "dq.set_epoch_and_split": lambda: dq.set_epoch_and_split(0, "train"),
    "dq.log_dataset": lambda: dq.log_dataset(make_df(2, start=50), split="train"),
    "dq.log_data_samples": lambda: dq.log_data_samples(texts=["a"], ids=[50], labels=["negative"], split="train"),
    "dq.log_data_sample": lambda: dq.log_data_sample(text="a", id=50, label="negative", split="train"),
    "dq.log_model_outputs": lambda: dq.log_model_outputs(ids=[0], embs=E(1), logits=L(1), split="train", epoch=0),
    "dq.finish": lambda: dq.finish(),
}


@pytest.mark.parametrize("fn", list(CALLS))
def test_calls_before_init(dq_home, fn):
    with pytest.raises(RunStateError, match=re.escape(fn) + r": there is no active run\. Call dq\.init\(") as ei:
        CALLS[fn]()
    assert isinstance(ei.value, RuntimeError)
    assert not dq_home.exists()
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)


@pytest.mark.parametrize("fn", list(CALLS))
def test_calls_after_finish(started, dq_home, fn):
    dq.log_model_outputs(ids=np.arange(N), embs=E(), logits=L())
    dq.finish(verbose=False)
    before = _state(dq_home, None)
    with pytest.raises(RunStateError, match=re.escape(fn) + r": run proj/run is finished\. Call dq\.init again") as ei:
        CALLS[fn]()
    assert isinstance(ei.value, RuntimeError)
    assert _state(dq_home, None) == before
    # a new session on the same run can go on: add a validation split
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(make_df(3, start=100), split="validation")
    dq.log_model_outputs(ids=[100, 101, 102], embs=E(3), logits=L(3), split="validation", epoch=0)
    report = dq.finish(verbose=False)
    assert list(report["splits"]) == ["validation"] and report["unchanged"] == ["training"]


# --- errors raised by finish() ------------------------------------------------------------------------


def _results(home: Path) -> Path:
    return run_dir(home) / "results"


def test_finish_with_no_outputs(started, dq_home):
    with pytest.raises(RunStateError, match=r"dq\.finish: no model outputs were logged in run proj/run\. Log them with dq\.log_model_outputs") as ei:
        dq.finish()
    assert isinstance(ei.value, RuntimeError)
    assert not _results(dq_home).exists()
    _continue_and_finish(dq_home)


def test_finish_without_labels(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(make_df(N), split="train")
    dq.log_model_outputs(ids=np.arange(N), embs=E(), logits=L(), split="train", epoch=0)
    with pytest.raises(LabelError, match=r"dq\.finish: the run has no labels\. Call dq\.set_labels_for_run") as ei:
        dq.finish()
    assert isinstance(ei.value, ValueError)
    assert not _results(dq_home).exists()
    dq.set_labels_for_run(LABELS)
    _continue_and_finish(dq_home)


def test_finish_with_outputs_for_a_split_without_inputs(started, dq_home):
    dq.log_model_outputs(ids=np.arange(N), embs=E(), logits=L())
    dq.log_model_outputs(ids=[500, 501], embs=E(2), logits=L(2), split="validation", epoch=0)
    with pytest.raises(SchemaError, match=r"dq\.finish: model outputs were logged for split 'validation' but no inputs; log them with dq\.log_dataset") as ei:
        dq.finish()
    assert isinstance(ei.value, ValueError)
    assert not (_results(dq_home) / "validation").exists()
    dq.log_dataset(make_df(2, start=500), split="validation")
    _continue_and_finish(dq_home)
    assert dq.metrics.get_dataframe("proj", "run", "validation")["id"].tolist() == [500, 501]


def test_finish_with_outputs_for_ids_never_logged(started, dq_home):
    dq.log_model_outputs(ids=[0, 1, 2, 3, 900, 901, 902], embs=E(7), logits=L(7))
    with pytest.raises(UnknownIdError, match=r"dq\.finish: model outputs for 3 id\(s\) in split 'training', epoch 0 were never logged as inputs, e\.g\. \[900, 901, 902\]") as ei:
        dq.finish()
    assert isinstance(ei.value, ValueError)
    assert not (_results(dq_home) / "training").exists()
    # log the missing inputs; then finish works
    dq.log_dataset(make_df(3, start=900), split="train")
    _continue_and_finish_all = _continue_and_finish  # epoch 99 is the last epoch: ids 0..7
    _continue_and_finish_all(dq_home)


def test_finish_with_gold_labels_not_in_the_label_list(dq_home):
    """Label names logged before dq.set_labels_for_run are checked at finish()."""
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.log_dataset(make_df(4, labels=["a", "zzz"]), split="train")
    dq.set_labels_for_run(["a", "b"])
    dq.log_model_outputs(ids=np.arange(4), embs=E(4), logits=L(4, k=2), split="train", epoch=0)
    with pytest.raises(LabelError, match=r"dq\.finish: labels \['zzz'\] in split 'training' are not among the run's labels \['a', 'b'\]") as ei:
        dq.finish(verbose=False)
    assert isinstance(ei.value, ValueError)
    assert not (run_dir(dq_home) / "results" / "training").exists()


def test_hf_class_label_minus_one_is_a_missing_label(dq_home):
    datasets = pytest.importorskip("datasets")
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    features = datasets.Features(
        {"id": datasets.Value("int64"), "text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)}
    )
    ds = datasets.Dataset.from_dict({"id": [0, 1, 2], "text": list("abc"), "label": [0, -1, 2]}, features=features)
    with pytest.raises(LabelError, match=r"dq\.log_dataset: `label` \(column 'label'\) must hold a label for every sample .*e\.g\. ids \[1\]"):
        dq.log_dataset(ds, split="train")
    assert not list(run_dir(dq_home).rglob("*.parquet"))


def test_finish_twice(started, dq_home):
    dq.log_model_outputs(ids=np.arange(N), embs=E(), logits=L())
    dq.finish(verbose=False)
    with pytest.raises(RunStateError, match=r"dq\.finish: run proj/run is finished"):
        dq.finish()


def test_mixing_exclude_embs_within_final_epoch(started, dq_home):
    dq.log_model_outputs(ids=[0, 1, 2, 3], embs=E(4), logits=L(4))
    dq.log_model_outputs(ids=[4, 5, 6, 7], logits=L(4), exclude_embs=True)
    with pytest.raises(ShapeError, match=r"dq\.finish: in split 'training' some batches of the final epoch were logged with exclude_embs=True and some with embeddings"):
        dq.finish()
    assert not (_results(dq_home) / "training").exists()
    _continue_and_finish(dq_home)


def test_exceptions_are_documented_builtins():
    from dataquality import exceptions as X

    for name in X.__all__:
        cls = getattr(X, name)
        assert issubclass(cls, X.DataQualityError)
    assert issubclass(X.ConfigurationError, ValueError)
    assert issubclass(X.SplitError, ValueError)
    for sub in (X.ShapeError, X.NonFiniteError, X.DuplicateIdError, X.UnknownIdError, X.LabelError):
        assert issubclass(sub, X.SchemaError) and issubclass(sub, ValueError)
    assert issubclass(X.InputTypeError, TypeError)
    assert issubclass(X.RunStateError, RuntimeError)
    assert issubclass(X.WriterError, RuntimeError)
    assert issubclass(X.RunNotFoundError, LookupError)


def test_values_beyond_float32_and_ids_beyond_int64_are_named():
    import dataquality as dq
    from dataquality.exceptions import InputTypeError, NonFiniteError

    dq.init("text_classification", project_name="p", run_name="big")
    dq.set_labels_for_run(["a", "b"])
    dq.log_dataset(pd.DataFrame({"id": [0, 1], "text": ["x", "y"], "label": ["a", "b"]}), split="train")
    dq.set_epoch(0)
    dq.set_split("train")
    with pytest.raises(NonFiniteError, match=r"log_model_outputs: `embs` must fit float32 \(\|x\| <= 3.4e38\).*1e\+300"):
        dq.log_model_outputs(ids=[0, 1], embs=np.array([[1e300, 0.0], [0.0, 1.0]]), logits=np.zeros((2, 2)))
    with pytest.raises(InputTypeError, match=r"log_model_outputs: `ids` holds numbers beyond the int64 range"):
        dq.log_model_outputs(ids=np.array([1e20, 1.0]), embs=np.zeros((2, 2)), logits=np.zeros((2, 2)))
    dq.log_model_outputs(ids=[0, 1], embs=np.zeros((2, 2)), logits=np.zeros((2, 2)))  # still usable
    dq.finish(verbose=False)
