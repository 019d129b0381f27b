"""The run store on disk and the background writer: layout, names, atomic parts, writer failures,
bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import dataquality as dq
from dataquality.core import store
from dataquality.core import writer
from dataquality.exceptions import ConfigurationError, RunNotFoundError, WriterError
from tests.conftest import LABELS, make_df, outputs, run_dir, softmax

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


# --- layout -----------------------------------------------------------------------------------------


def test_layout_of_a_run(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(4), split="train")
    dq.log_dataset({"id": [10, 11], "text": ["a", "b"]}, split="inference", inference_name="nov")
    for epoch in (0, 1):
        embs, logits = outputs(4, seed=epoch)
        dq.log_model_outputs(ids=np.arange(4), embs=embs, logits=logits, split="train", epoch=epoch)
    embs, logits = outputs(2)
    dq.log_model_outputs(ids=[10, 11], embs=embs, logits=logits, split="inference", inference_name="nov")
    dq.finish(verbose=False)

    d = run_dir(dq_home)
    assert len(list((d / "inputs" / "training").glob("part-*.parquet"))) == 1
    assert len(list((d / "inputs" / "inference" / "nov").glob("part-*.parquet"))) == 1
    for epoch in (0, 1):
        assert len(list((d / "outputs" / "training" / str(epoch)).glob("part-*.arrow"))) == 1
    assert len(list((d / "outputs" / "inference" / "nov").glob("part-*.arrow"))) == 1
    for key in ("training", "inference/nov"):
        for f in ("samples.parquet", "embeddings.npy", "probs.npy"):
            assert (d / "results" / key / f).is_file()
    assert (d / "results" / "training" / "dynamics.parquet").is_file()
    summary = json.loads((d / "results" / "summary.json").read_text())
    assert set(summary["splits"]) == {"training", "inference/nov"}
    assert summary["splits"]["training"]["n_samples"] == 4
    # no temporary file is left anywhere
    assert not [p for p in d.rglob("*") if p.name.startswith(".tmp-")]

    m = json.loads((d / "run.json").read_text())
    assert m["task_type"] == "text_classification"
    assert m["labels"] == LABELS
    assert m["status"] == "finished"
    assert m["id_type"] == "int" and m["embedding_dim"] == 16 and m["logits_dim"] == 3
    assert m["versions"]["dataquality"] == dq.__version__
    assert m["project_name"] == "proj" and m["run_name"] == "run"

    runs = dq.metrics.list_runs()
    assert runs[["project_name", "run_name", "status"]].values.tolist() == [["proj", "run", "finished"]]


def test_output_parts_are_arrow_with_ids_embs_logits(dq_home, started):
    embs, logits = outputs(8)
    ids = np.array([5, 3, 1, 7, 0, 2, 4, 6])
    dq.log_model_outputs(ids=ids, embs=embs, logits=logits)
    started.flush()
    (part,) = (run_dir(dq_home) / "outputs" / "training" / "0").glob("part-*.arrow")
    table = pa.ipc.open_file(pa.memory_map(str(part))).read_all()
    assert table.column_names == ["id", "emb", "logits"]
    assert table.column("id").to_pylist() == ids.tolist()
    np.testing.assert_array_equal(np.stack(table.column("emb").to_numpy(zero_copy_only=False)), embs)
    np.testing.assert_array_equal(np.stack(table.column("logits").to_numpy(zero_copy_only=False)), logits)


def test_a_leftover_temporary_part_is_ignored(dq_home, started):
    """A crash mid-write leaves only a .tmp- file, which nothing reads."""
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=np.arange(8), embs=embs, logits=logits)
    started.flush()
    garbage = run_dir(dq_home) / "outputs" / "training" / "0" / ".tmp-part-deadbeef-00001.arrow"
    garbage.write_bytes(b"half a part")
    (run_dir(dq_home) / "inputs" / "training" / ".tmp-part-deadbeef-00000.parquet").write_bytes(b"junk")
    dq.finish(verbose=False)
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 8
    assert store.list_parts(garbage.parent, ".arrow") == [p for p in garbage.parent.glob("part-*.arrow")]


def test_root_argument_and_default_home(dq_home, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    dq.init("text_classification", project_name="proj", run_name="run", root=other)
    assert (other / "proj" / "run" / "run.json").is_file()
    assert not dq_home.exists()
    monkeypatch.delenv("DQ_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store.root_dir() == tmp_path / "home" / ".dataquality"
    monkeypatch.setenv("DQ_HOME", "~/custom")
    assert store.root_dir() == tmp_path / "home" / "custom"


@pytest.mark.parametrize("name", ["run-1", "a", "A_b.c-d", "0", "x" * 128, "_private", "v1.2"])
def test_valid_names(name):
    assert store.check_name(name, fn="dq.init", arg="run_name") == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "-x", "x" * 129, "a b", "ü", "a\x00b"])
def test_invalid_names(name):
    with pytest.raises(ConfigurationError, match=r"dq\.init: `run_name` must be 1-128 characters"):
        store.check_name(name, fn="dq.init", arg="run_name")


def test_names_never_escape_the_root(dq_home, tmp_path):
    for bad in ("../escape", "..", "a/../../b"):
        with pytest.raises(ConfigurationError):
            dq.init("text_classification", project_name=bad, run_name="run")
        with pytest.raises(ConfigurationError):
            dq.init("text_classification", project_name="proj", run_name=bad)
    assert not (tmp_path / "escape").exists()
    assert [p.name for p in tmp_path.iterdir()] == [] or not dq_home.exists()


def test_find_run_errors_name_what_exists(dq_home):
    dq.init("text_classification", project_name="proj", run_name="alpha")
    with pytest.raises(RunNotFoundError, match=r"dq\.metrics\.x: no run 'beta' in project 'proj'; runs there: \['alpha'\]"):
        store.find_run("proj", "beta", fn="dq.metrics.x")
    with pytest.raises(RunNotFoundError, match=r"dq\.metrics\.x: no project 'other' under .*; projects there: \['proj'\]"):
        store.find_run("other", "alpha", fn="dq.metrics.x")


def test_write_json_is_atomic(tmp_path):
    p = tmp_path / "a" / "m.json"
    store.write_json(p, {"x": 1})
    store.write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [q.name for q in p.parent.iterdir()] == ["m.json"]


def test_extend_keeps_sessions_and_distinct_part_names(dq_home):
    dq.init("text_classification", project_name="proj", run_name="run")
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(make_df(2), split="train")
    embs, logits = outputs(2)
    dq.log_model_outputs(ids=[0, 1], embs=embs, logits=logits, split="train", epoch=0)
    dq.finish(verbose=False)
    for name in ("a", "b"):
        dq.init("text_classification", project_name="proj", run_name="run")
        dq.log_dataset({"id": [10], "text": ["t"]}, split="inference", inference_name=name)
        dq.log_model_outputs(ids=[10], embs=embs[:1], logits=logits[:1], split="inference", inference_name=name)
        dq.finish(verbose=False)
    m = json.loads((run_dir(dq_home) / "run.json").read_text())
    assert len(m["sessions"]) == 3 and len({s["session"] for s in m["sessions"]}) == 3
    assert set(m["results"]) == {"training", "inference/a", "inference/b"}
    assert len(dq.metrics.get_dataframe("proj", "run", "inference", inference_name="a")) == 1


def test_outputs_logged_after_a_failed_finish_do_not_overwrite_earlier_parts(dq_home, started):
    """finish() closes the writer; a later batch gets a new writer whose parts must not reuse names."""
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=[0, 1, 2, 3], embs=embs[:4], logits=logits[:4])
    dq.log_model_outputs(ids=[50], embs=embs[:1], logits=logits[:1], split="test", epoch=0)
    with pytest.raises(dq.exceptions.SchemaError, match=r"dq\.finish: model outputs were logged for split 'test' but no inputs"):
        dq.finish(verbose=False)
    dq.log_model_outputs(ids=[4, 5, 6, 7], embs=embs[4:], logits=logits[4:])
    dq.log_dataset({"id": [50], "text": ["t"], "label": ["neutral"]}, split="test")
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True)
    assert out["id"].tolist() == list(range(8))
    np.testing.assert_allclose(np.stack(out["emb"]), embs, rtol=1e-6)


# --- the background writer -----------------------------------------------------------------------------


def _break_writer(monkeypatch):
    def boom(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer._Part, "write", boom)


def _wait_for_writer(run) -> None:
    run._writer.drain()  # the writer thread has handled every batch logged so far


def test_writer_error_surfaces_on_next_call(dq_home, started, monkeypatch):
    _break_writer(monkeypatch)
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=[0, 1, 2, 3], embs=embs[:4], logits=logits[:4])  # queued; fails on the thread
    _wait_for_writer(started)
    with pytest.raises(WriterError, match=r"background writer failed while writing model outputs: OSError: .*No space left on device") as ei:
        dq.log_model_outputs(ids=[4, 5, 6, 7], embs=embs[4:], logits=logits[4:])
    assert isinstance(ei.value, RuntimeError)
    assert isinstance(ei.value.__cause__, OSError)
    with pytest.raises(WriterError, match=r"No space left on device"):
        dq.set_epoch(1)
    with pytest.raises(WriterError, match=r"No space left on device"):
        dq.finish()
    assert not (run_dir(dq_home) / "results" / "training").exists()
    assert json.loads((run_dir(dq_home) / "run.json").read_text())["status"] != "finished"


def test_writer_error_surfaces_at_finish(dq_home, started, monkeypatch):
    _break_writer(monkeypatch)
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=np.arange(8), embs=embs, logits=logits)
    with pytest.raises(WriterError, match=r"The background writer failed .*No space left on device"):
        dq.finish()
    assert not (run_dir(dq_home) / "results" / "training").exists()


def test_writer_error_from_an_unwritable_output_dir(dq_home, started):
    # a file where the writer needs a folder: mkdir fails on the writer thread
    out = run_dir(dq_home) / "outputs" / "training"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"not a folder")
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=np.arange(8), embs=embs, logits=logits)
    with pytest.raises(WriterError, match=r"The background writer failed while writing model outputs: (FileExistsError|NotADirectoryError)"):
        dq.finish()


def test_context_manager_marks_failed_when_writer_fails(dq_home, monkeypatch):
    _break_writer(monkeypatch)
    with pytest.raises(WriterError):
        with dq.init("text_classification", project_name="proj", run_name="run"):
            dq.set_labels_for_run(LABELS)
            dq.log_dataset(make_df(4), split="train")
            embs, logits = outputs(4)
            dq.log_model_outputs(ids=np.arange(4), embs=embs, logits=logits, split="train", epoch=0)
    assert json.loads((run_dir(dq_home) / "run.json").read_text())["status"] == "failed"


def test_writer_memory_is_bounded_and_logging_blocks(dq_home, started, monkeypatch):
    """A caller that logs faster than the disk blocks instead of growing memory: batches are
    copied into a fixed ring of slabs, and a call waits while every slab waits to be written."""
    entered, release = threading.Event(), threading.Event()
    real_write = writer.OutputWriter._write

    def slow_write(self, *args):
        entered.set()
        release.wait(30)
        return real_write(self, *args)

    monkeypatch.setattr(writer.OutputWriter, "_write", slow_write)
    # slabs of 12 rows for 16-d embeddings and 3 logits (8 + 64 + 12 bytes a row)
    monkeypatch.setattr(writer, "_SLAB_BYTES", 12 * 84)
    rows = 12
    embs, logits = outputs(rows)
    dq.log_dataset(make_df(rows * 20, start=100), split="validation")
    dq.log_model_outputs(ids=np.arange(100, 100 + rows), embs=embs, logits=logits, split="validation", epoch=0)
    assert entered.wait(30)  # the writer thread holds the first (full) slab
    w = started._writer
    assert w.slab_bytes == 12 * 84 and 0 < w.slabs < 100
    for i in range(1, w.slabs):  # fills every other slab of the ring
        ids = np.arange(100 + i * rows, 100 + (i + 1) * rows)
        dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="validation", epoch=0)
    assert w._made == w.slabs

    nxt = np.arange(100 + w.slabs * rows, 100 + (w.slabs + 1) * rows)
    blocked = threading.Thread(
        target=dq.log_model_outputs,
        kwargs=dict(ids=nxt, embs=embs, logits=logits, split="validation", epoch=0),
    )
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "logging must block while every slab waits to be written"
    assert w._made == w.slabs  # no slab was added
    release.set()
    blocked.join(30)
    assert not blocked.is_alive()
    for i in range(w.slabs + 1, 20):  # many more batches than slabs
        ids = np.arange(100 + i * rows, 100 + (i + 1) * rows)
        dq.log_model_outputs(ids=ids, embs=embs, logits=logits, split="validation", epoch=0)
    assert w._made == w.slabs
    dq.log_model_outputs(ids=np.arange(8), embs=np.repeat(embs[:1], 8, 0), logits=np.repeat(logits[:1], 8, 0))
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "validation", include_embs=True)
    assert out["id"].tolist() == list(range(100, 100 + 20 * rows))
    np.testing.assert_array_equal(np.stack(out["emb"]), np.tile(embs, (20, 1)))
    assert len(dq.metrics.get_dataframe("proj", "run", "train")) == 8


def test_batches_larger_than_a_slab_and_mixed_folders(dq_home, started, monkeypatch):
    """A batch larger than a slab, and batches that alternate between splits, arrive intact and
    in order (slabs hold one folder's rows; a large batch gets a slab of its own size)."""
    monkeypatch.setattr(writer, "_SLAB_BYTES", 5 * 84)
    dq.log_dataset(make_df(30, start=100), split="validation")
    embs, logits = outputs(38, seed=3)
    dq.log_model_outputs(ids=np.arange(0, 3), embs=embs[:3], logits=logits[:3])
    dq.log_model_outputs(ids=np.arange(100, 123), embs=embs[8:31], logits=logits[8:31], split="validation", epoch=0)
    dq.log_model_outputs(ids=np.arange(3, 8), embs=embs[3:8], logits=logits[3:8])
    dq.log_model_outputs(ids=np.arange(123, 130), embs=embs[31:], logits=logits[31:], split="validation", epoch=0)
    # without embeddings a row is 20 bytes: 21 to a slab; 30 rows get a slab of their own
    dq.log_dataset(make_df(30, start=200), split="test")
    dq.log_model_outputs(ids=np.arange(200, 230), logits=logits[8:], exclude_embs=True, split="test", epoch=0)
    assert started._writer._made <= started._writer.slabs
    dq.finish(verbose=False)
    for split, rows in (("train", slice(0, 8)), ("validation", slice(8, 38))):
        out = dq.metrics.get_dataframe("proj", "run", split, include_embs=True)
        np.testing.assert_array_equal(np.stack(out["emb"]), embs[rows])
    out = dq.metrics.get_dataframe("proj", "run", "test", include_probs=True)
    assert out["id"].tolist() == list(range(200, 230))
    np.testing.assert_allclose(np.stack(out["prob"]), softmax(logits[8:]), rtol=1e-5)


def test_caller_buffers_are_copied(dq_home, started):
    """The caller may reuse its arrays right after the call returns."""
    embs, logits = outputs(8)
    e, l = embs.copy(), logits.copy()
    dq.log_model_outputs(ids=np.arange(8), embs=e, logits=l)
    e[:] = 0
    l[:] = 0
    dq.finish(verbose=False)
    out = dq.metrics.get_dataframe("proj", "run", "train", include_embs=True)
    np.testing.assert_array_equal(np.stack(out["emb"]), embs)


# --- the package -----------------------------------------------------------------------------------------


def test_import_is_light():
    r = _python(
        "import sys, dataquality as dq\n"
        "heavy = [m for m in ('torch', 'duckdb', 'pyarrow', 'pandas', 'fastapi', 'umap', 'faiss', 'datasets') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_dq_finish_stays_a_function_after_finish(tmp_path):
    """Importing the ``dataquality.pipeline`` module must not replace the function ``dq.finish``."""
    code = (
        "import numpy as np, dataquality as dq\n"
        "for name in ('a', 'b'):\n"
        "    dq.init('text_classification', project_name='p', run_name=name)\n"
        "    dq.set_labels_for_run(['x', 'y'])\n"
        "    dq.log_dataset({'id': [0, 1], 'text': ['s', 't'], 'label': ['x', 'y']}, split='train')\n"
        "    dq.log_model_outputs(ids=[0, 1], embs=np.ones((2, 3)), logits=np.zeros((2, 2)), split='train', epoch=0)\n"
        "    dq.finish(verbose=False)\n"
        "    dq.metrics.get_probabilities('p', name, 'train', epoch=0)\n"
        "print(callable(dq.finish), dq.finish.__module__)\n"
    )
    r = _python(code, env={"DQ_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "dataquality.api"]


def test_finish_prints_where_to_look(dq_home, started, capsys):
    embs, logits = outputs(8)
    dq.log_model_outputs(ids=np.arange(8), embs=embs, logits=logits)
    dq.finish()
    out = capsys.readouterr().out
    assert "proj/run" in out and str(run_dir(dq_home) / "results") in out
    assert "dq.metrics.get_dataframe('proj', 'run', 'training')" in out
