"""Behaviour of the fast paths of dq.log_model_outputs and dq.log_dataset (no timings here).

The duplicate-id bookkeeping keeps a bitmap for small non-negative integer ids and a set for
everything else, and only the current epoch's ids per split; the caller copies each batch into
a slab that the writer writes as one large record batch. These tests pin what a user sees through
all of those paths.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import dataquality as dq
from dataquality.logging.ids import IdSet
from dataquality.exceptions import DuplicateIdError
from tests.conftest import LABELS, make_df, outputs, run_dir, snapshot


def _log(ids, *, epoch=0, split="train", d=16):
    ids = np.asarray(ids)
    embs, logits = outputs(len(ids), d=d, seed=int(abs(ids).sum()) % 1000)
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split=split, epoch=epoch)


# --- IdSet ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batches",
    [
        [np.arange(0, 5), np.arange(5, 9)],  # bitmap
        [np.array([3, 1, 2]), np.array([7, 0])],  # bitmap, unsorted
        [np.array([-5, 1]), np.array([2, 3])],  # negative: set
        [np.array([2**40, 1]), np.array([2, 3])],  # huge: set
        [np.arange(0, 5), np.array([2**40])],  # bitmap, then set
        [np.array(["a", "b"], dtype=object), np.array(["c"], dtype=object)],  # strings: set
    ],
)
def test_idset_finds_repeats_and_clashes_in_every_representation(batches):
    s = IdSet()
    for b in batches:
        assert s.check(b) == ([], [])
        s.add(b)
    everything = np.concatenate(batches)
    assert len(s) == len(everything)
    for v in everything.tolist():
        assert v in s
    again = batches[0][:1]
    assert s.check(again) == ([], again.tolist())
    twice = np.concatenate([batches[-1][:1], batches[-1][:1]])
    assert s.check(twice)[0] == batches[-1][:1].tolist()
    # a failed check changes nothing
    assert len(s) == len(everything)
    fresh = np.array([10**6 + 1]) if everything.dtype.kind == "i" else np.array(["zz"], dtype=object)
    assert s.check(fresh) == ([], [])


def test_idset_not_in_for_other_types():
    s = IdSet()
    ids = np.arange(4)
    s.check(ids)
    s.add(ids)
    assert "1" not in s and 7 not in s and -1 not in s and 3 in s


# --- log_model_outputs ----------------------------------------------------------------------------


def test_duplicates_across_batches_caught_for_strings_and_large_ids(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    big = [2**40 + i for i in range(6)]
    dq.log_dataset({"id": big, "text": ["t"] * 6, "label": LABELS * 2}, split="train")
    _log(big[:3])
    with pytest.raises(DuplicateIdError, match=rf"dq\.log_model_outputs: `ids` \[{big[2]}\] were already logged for split 'training', epoch 0"):
        _log(big[2:5])
    with pytest.raises(DuplicateIdError, match=r"`ids` must be unique within a batch; \[-3\] repeat"):
        _log([-3, 4, -3])
    _log(big[3:])  # the rejected calls left the bookkeeping unchanged
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 6


def test_rejected_batch_writes_nothing_and_keeps_bookkeeping(dq_home, started):
    _log([0, 1, 2])
    started.flush()
    before = snapshot(run_dir(dq_home))
    embs, logits = outputs(3)
    embs[1, 2] = np.nan
    with pytest.raises(dq.exceptions.NonFiniteError):
        dq.log_model_outputs(ids=[3, 4, 5], embs=embs, logits=logits)
    started.flush()
    assert snapshot(run_dir(dq_home)) == before
    _log([3, 4, 5])  # not marked as logged by the rejected call
    with pytest.raises(DuplicateIdError, match=r"`ids` \[2\] were already logged"):
        _log([2, 6])
    _log([6, 7])
    dq.finish(verbose=False)
    assert dq.metrics.get_dataframe("proj", "run", "train")["id"].tolist() == list(range(8))


def test_new_epoch_may_log_the_same_ids_and_its_own_duplicates_are_caught(dq_home, started):
    for epoch in range(3):
        _log(range(0, 4), epoch=epoch)
        with pytest.raises(DuplicateIdError, match=rf"split 'training', epoch {epoch}"):
            _log([3, 4], epoch=epoch)
        _log(range(4, 8), epoch=epoch)
    # only the current epoch's ids are kept per split
    assert set(started.outputs.ids) == {"training"}
    assert started.outputs.ids["training"][0] == 2
    dq.finish(verbose=False)
    assert dq.metrics.get_dataframe("proj", "run", "train")["id"].tolist() == list(range(8))


def test_duplicate_in_an_older_epoch_is_caught_at_finish(dq_home, started):
    _log([0, 1, 2, 3], epoch=0)
    _log([0, 1, 2, 3, 4, 5, 6, 7], epoch=1)
    # back to epoch 0: its ids were dropped from memory when epoch 1 started
    _log([3], epoch=0)
    with pytest.raises(DuplicateIdError, match=r"dq\.finish: model outputs for ids \[3\] were logged more than once in split 'training', epoch 0"):
        dq.finish(verbose=False)
    assert not (run_dir(dq_home) / "results" / "training").exists()


def test_inference_duplicates_caught_across_batches(dq_home, started):
    dq.log_dataset(make_df(4, start=100).drop(columns="label"), split="inference", inference_name="nov")
    embs, logits = outputs(2)
    dq.log_model_outputs(ids=[100, 101], embs=embs, logits=logits, split="inference", inference_name="nov")
    with pytest.raises(DuplicateIdError, match=r"`ids` \[101\] were already logged for split 'inference/nov';"):
        dq.log_model_outputs(ids=[101, 102], embs=embs, logits=logits, split="inference", inference_name="nov")


def test_interleaved_splits_keep_their_own_epochs(dq_home, started):
    dq.log_dataset(make_df(4, start=100), split="validation")
    for epoch in range(2):
        _log([0, 1, 2, 3], epoch=epoch)
        _log([100, 101], epoch=epoch, split="validation")
        _log([4, 5, 6, 7], epoch=epoch)
        with pytest.raises(DuplicateIdError, match=rf"split 'validation', epoch {epoch}"):
            _log([101, 102], epoch=epoch, split="validation")
        _log([102, 103], epoch=epoch, split="validation")
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "validation")) == 4


# --- log_dataset ----------------------------------------------------------------------------------


def test_log_dataset_rejected_batch_leaves_input_ids_unchanged(dq_home, started):
    # ids 8, 9 are new, 10 repeats inside the call: nothing of the call is kept
    with pytest.raises(DuplicateIdError):
        dq.log_dataset(make_df(3, start=8).assign(id=[8, 9, 8]), split="train")
    dq.log_dataset(make_df(2, start=8), split="train")  # 8 and 9 were not marked as logged
    with pytest.raises(DuplicateIdError, match=r"ids \[9\] were already logged for it"):
        dq.log_dataset(make_df(2, start=9), split="train", batch_size=1)
    with pytest.raises(DuplicateIdError, match=r"`id` 8 was already logged for split 'training'"):
        dq.log_data_sample(text="x", id=8, label="negative", split="train")
    dq.log_data_sample(text="x", id=10, label="negative", split="train")


def test_log_dataset_string_ids(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    df = make_df(4).assign(id=["a", "b", "c", "d"])
    dq.log_dataset(df, split="train", batch_size=2)
    with pytest.raises(DuplicateIdError, match=r"ids \['c'\] were already logged for it"):
        dq.log_dataset(make_df(2).assign(id=["c", "e"]), split="train")


# --- writer ---------------------------------------------------------------------------------------


def test_batches_are_joined_into_slabs_and_written_in_order(dq_home, started, monkeypatch):
    """Each call's rows are copied into the next free rows of a slab; a slab is written as one
    record batch when the next batch would not fit (or at flush), so ten calls of 4 rows make
    few record batches, in the order logged."""
    from dataquality.core import writer

    monkeypatch.setattr(writer, "_SLAB_BYTES", 18 * 84)  # 18 rows of 16-d embeddings, 3 logits
    dq.log_dataset(make_df(40, start=100), split="validation")
    rng = np.random.default_rng(0)
    embs = rng.normal(size=(40, 16)).astype(np.float32)
    logits = rng.normal(size=(40, 3)).astype(np.float32)
    for s in range(0, 40, 4):
        dq.log_model_outputs(ids=np.arange(100 + s, 104 + s), embs=embs[s:s + 4], logits=logits[s:s + 4],
                             split="validation", epoch=0)
    started._writer.flush()
    (part,) = (run_dir(dq_home) / "outputs" / "validation" / "0").glob("part-*.arrow")
    reader = pa.ipc.open_file(pa.memory_map(str(part), "r"))
    # 16 rows to a slab (a fifth batch of 4 would not fit in the last 2 rows): 16 + 16 + 8
    assert [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)] == [16, 16, 8]
    table = reader.read_all()
    assert table.column("id").to_pylist() == list(range(100, 140))
    got = np.asarray(table.column("emb").combine_chunks().values).reshape(40, 16)
    np.testing.assert_array_equal(got, embs)
    np.testing.assert_array_equal(np.asarray(table.column("logits").combine_chunks().values).reshape(40, 3), logits)


def test_kill_switch_read_at_each_call(dq_home, started, monkeypatch):
    monkeypatch.setenv("DQ_DISABLED", "  Yes ")
    _log([0, 0])  # ignored, invalid as it is
    monkeypatch.setenv("DQ_DISABLED", "0")
    with pytest.raises(DuplicateIdError):
        _log([0, 0])


def test_routes_kept_between_calls_follow_set_split_and_set_epoch(dq_home, started):
    """log_model_outputs keeps where a call's arguments route it; a new split or epoch set on the
    run, or other arguments, route anew, and values that only hash like a valid epoch are refused."""
    dq.log_dataset(make_df(8, seed=1, start=100), split="validation")
    embs, logits = outputs(2)
    dq.set_split("train")
    dq.set_epoch(0)
    dq.log_model_outputs(ids=[0, 1], embs=embs, logits=logits)
    dq.set_epoch(1)
    dq.log_model_outputs(ids=[0, 1], embs=embs, logits=logits)  # epoch 1: the same ids again
    dq.set_split("validation")
    dq.log_model_outputs(ids=[100, 101], embs=embs, logits=logits)
    dq.log_model_outputs(ids=[2, 3], embs=embs, logits=logits, split="Train", epoch=1)
    dq.log_model_outputs(ids=[4, 5], embs=embs, logits=logits, split="train", epoch=1)
    for bad in (True, 1.0, np.float64(1)):  # equal to 1 and hash alike, but no epoch
        with pytest.raises(dq.exceptions.SplitError, match=r"`epoch` must be a non-negative integer"):
            dq.log_model_outputs(ids=[6, 7], embs=embs, logits=logits, split="train", epoch=bad)
    dq.log_model_outputs(ids=[6, 7], embs=embs, logits=logits, split="train", epoch=np.int64(1))
    with pytest.raises(DuplicateIdError, match=r"split 'training', epoch 1"):
        dq.log_model_outputs(ids=[5], embs=embs[:1], logits=logits[:1], split="training", epoch=1)
    started.flush()
    out = run_dir(dq_home) / "outputs"
    assert sorted(p.name for p in (out / "training").iterdir()) == ["0", "1"]
    assert sorted(p.name for p in (out / "validation").iterdir()) == ["1"]


def _read_outputs(dq_home, split: str, epoch: int) -> pa.Table:
    parts = sorted((run_dir(dq_home) / "outputs" / split / str(epoch)).glob("part-*.arrow"))
    return pa.concat_tables(pa.ipc.open_file(pa.memory_map(str(p), "r")).read_all() for p in parts)


def test_usual_batches_after_the_first_take_the_short_path_with_the_same_checks(dq_home, started):
    """After one batch of int64 ids and float32 arrays, the next such batches take a short path
    (Run.outputs.short); every check still applies there, a rejected batch counts for nothing, and any
    other kind of batch goes the full path with its messages."""
    embs, logits = outputs(8, seed=3)
    dq.log_model_outputs(ids=np.arange(0, 2), embs=embs[0:2], logits=logits[0:2])
    assert started.outputs.short is not None
    bad = embs[2:4].copy()
    bad[1, 0] = np.inf
    with pytest.raises(dq.exceptions.NonFiniteError, match=r"`embs` must be finite; got inf in 1 row\(s\) \(batch positions \[1\]\)"):
        dq.log_model_outputs(ids=np.arange(2, 4), embs=bad, logits=logits[2:4])
    bad = logits[2:4].copy()
    bad[0, 2] = np.nan
    with pytest.raises(dq.exceptions.NonFiniteError, match=r"`logits` must be finite; got NaN"):
        dq.log_model_outputs(ids=np.arange(2, 4), embs=embs[2:4], logits=bad)
    with pytest.raises(DuplicateIdError, match=r"`ids` \[1\] were already logged for split 'training', epoch 0"):
        dq.log_model_outputs(ids=np.arange(1, 3), embs=embs[1:3], logits=logits[1:3])
    with pytest.raises(DuplicateIdError, match=r"must be unique within a batch; \[2\] repeat"):
        dq.log_model_outputs(ids=np.array([2, 2]), embs=embs[2:4], logits=logits[2:4])
    with pytest.raises(dq.exceptions.ShapeError, match=r"`embs` must have shape \(n_samples, 16\)"):
        dq.log_model_outputs(ids=np.arange(2, 4), embs=np.zeros((2, 8), np.float32), logits=logits[2:4])
    with pytest.raises(dq.exceptions.ShapeError, match=r"`logits` must have shape \(n_samples, 3\)"):
        dq.log_model_outputs(ids=np.arange(2, 4), embs=embs[2:4], logits=np.zeros((2, 4), np.float32))
    with pytest.raises(dq.exceptions.InputTypeError, match=r"`ids` must be integers like the ids logged before"):
        dq.log_model_outputs(ids=np.array(["a", "b"], dtype=object), embs=embs[2:4], logits=logits[2:4])
    # none of the rejected batches counted: ids 2..3 are free, and other input kinds still work
    dq.log_model_outputs(ids=np.arange(2, 4), embs=embs[2:4], logits=logits[2:4])
    dq.log_model_outputs(ids=np.arange(4, 6, dtype=np.int32), embs=embs[4:6].astype(np.float64), logits=logits[4:6])
    dq.log_model_outputs(ids=[6, 7], embs=embs[6:8].tolist(), logits=logits[6:8])
    started.flush()
    table = _read_outputs(dq_home, "training", 0)
    assert table.column("id").to_pylist() == list(range(8))
    np.testing.assert_array_equal(np.asarray(table.column("emb").combine_chunks().values).reshape(8, 16), embs)
    np.testing.assert_array_equal(np.asarray(table.column("logits").combine_chunks().values).reshape(8, 3), logits)


def test_short_path_follows_new_epochs_splits_and_a_new_writer(dq_home, started, monkeypatch):
    """Slabs are reused across epochs and splits (their Arrow batch is kept per layout); each
    epoch's parts hold exactly its own rows. After a finish() that fails (and closes the
    writer) logging goes on with a new writer."""
    from dataquality.core import writer

    monkeypatch.setattr(writer, "_SLAB_BYTES", 4 * 84)  # 4 rows of 16-d embeddings, 3 logits
    dq.log_dataset(make_df(8, start=100), split="validation")
    per_epoch = {}
    for epoch in range(3):
        embs, logits = outputs(8, seed=10 + epoch)
        per_epoch[epoch] = (embs, logits)
        for s in range(0, 8, 2):
            dq.log_model_outputs(ids=np.arange(s, s + 2), embs=embs[s:s + 2], logits=logits[s:s + 2], epoch=epoch)
        v_embs, v_logits = outputs(3, seed=20 + epoch)  # 3 rows: slabs laid out for 3, not 4
        per_epoch[epoch] += (v_embs, v_logits)
        dq.log_model_outputs(ids=np.arange(100, 103), embs=v_embs, logits=v_logits, split="validation", epoch=epoch)
    dq.log_model_outputs(ids=np.array([999]), embs=np.zeros((1, 16), np.float32),
                         logits=np.zeros((1, 3), np.float32), split="validation", epoch=3)  # never logged as input
    with pytest.raises(dq.exceptions.UnknownIdError):
        dq.finish(verbose=False)
    for epoch, (embs, logits, v_embs, v_logits) in per_epoch.items():
        for split, ids, e, lg in (("training", range(8), embs, logits), ("validation", range(100, 103), v_embs, v_logits)):
            table = _read_outputs(dq_home, split, epoch)
            assert table.column("id").to_pylist() == list(ids)
            np.testing.assert_array_equal(np.asarray(table.column("emb").combine_chunks().values).reshape(-1, 16), e)
            np.testing.assert_array_equal(np.asarray(table.column("logits").combine_chunks().values).reshape(-1, 3), lg)
    assert started.outputs.short is None and not started._writer.alive
    # the failed finish closed the writer: the next batches take a new one
    embs, logits = outputs(8, seed=30)
    dq.log_model_outputs(ids=np.arange(0, 4), embs=embs[:4], logits=logits[:4], epoch=3)
    dq.log_model_outputs(ids=np.arange(4, 8), embs=embs[4:], logits=logits[4:], epoch=3)
    started.flush()
    assert _read_outputs(dq_home, "training", 3).column("id").to_pylist() == list(range(8))


def test_short_path_is_kept_whenever_the_task_took_the_callers_arrays(dq_home, started):
    """The short path caches the full path's decision for batches the task returns unchanged:
    float64 arrays qualify as float32 ones do; converted input (lists, per-token NER rows)
    never does; a change of the manifest (here: signal settings) makes the next batch ask anew."""
    embs, logits = outputs(8, seed=4)
    dq.log_model_outputs(ids=np.arange(0, 2), embs=embs[0:2].astype(np.float64), logits=logits[0:2].astype(np.float64))
    short = started.outputs.short
    assert short is not None and short.embs_dtype == np.float64
    dq.log_model_outputs(ids=np.arange(2, 4), embs=embs[2:4].astype(np.float64), logits=logits[2:4].astype(np.float64))
    assert started.outputs.short is short  # taken, not remade
    dq.log_model_outputs(ids=np.arange(4, 6), embs=embs[4:6].tolist(), logits=logits[4:6])
    assert started.outputs.short is None  # a list was converted: nothing to keep
    dq.log_model_outputs(ids=np.arange(6, 7), embs=embs[6:7], logits=logits[6:7])
    short = started.outputs.short
    dq.set_signal_settings(drift_k=8)
    dq.log_model_outputs(ids=np.arange(7, 8), embs=embs[7:8], logits=logits[7:8])
    assert started.outputs.short is not short and started.outputs.short.version == started.record.version
    started.flush()
    table = _read_outputs(dq_home, "training", 0)
    assert table.column("id").to_pylist() == list(range(8))
    np.testing.assert_allclose(np.asarray(table.column("emb").combine_chunks().values).reshape(8, 16), embs, rtol=1e-6)


def test_ner_batches_take_the_full_path(dq_home):
    run = dq.init("text_ner", project_name="proj", run_name="run")
    dq.set_labels_for_run(["O", "B-PER", "I-PER"])
    rng = np.random.default_rng(0)
    for i in range(2):
        dq.log_model_outputs(ids=np.array([i]), embs=rng.normal(size=(1, 3, 4)).astype(np.float32),
                             logits=rng.normal(size=(1, 3, 3)).astype(np.float32), split="training", epoch=0)
        assert run.outputs.short is None
    run.flush()
    assert _read_outputs(dq_home, "training", 0).column("id").to_pylist() == [0, 0, 0, 1, 1, 1]


def test_a_scalar_id_after_the_short_path_is_refused_with_the_usual_message(dq_home, started):
    embs, logits = outputs(2)
    dq.log_model_outputs(ids=np.arange(0, 2), embs=embs, logits=logits)
    assert started.outputs.short is not None
    with pytest.raises(dq.exceptions.ShapeError, match=r"`ids` must be 1-D with one id per sample; got shape \(\)"):
        dq.log_model_outputs(ids=np.array(5), embs=embs[:1], logits=logits[:1])
    with pytest.raises(dq.exceptions.ShapeError, match=r"`ids` must be 1-D"):
        dq.log_model_outputs(ids=np.zeros((2, 2), np.int64), embs=embs, logits=logits)
