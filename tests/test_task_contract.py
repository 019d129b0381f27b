"""The contract every registered task meets, end to end through the public API:
log → finish → read → filter → edit → export → console API, and the bad inputs the task refuses.

Parametrised over ``dataquality.tasks.TASKS``: a new task is covered as soon as it is registered
(its :meth:`~dataquality.tasks.base.Task.example` provides the run and the bad inputs).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import dataquality as dq
from dataquality.exceptions import DataQualityError
from dataquality.tasks import TASKS

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from dataquality.server.app import create_app  # noqa: E402

TASK_NAMES = sorted(TASKS)


def _value_for(field, example, caps) -> object:
    if field.name in example.filter_values:
        return example.filter_values[field.name]
    if field.kind == "text":
        return example.text_filter
    if field.kind == "labels":
        return caps.label_choices[:1]
    if field.kind == "choice":
        return list(field.choices[:1])
    if field.kind == "bool":
        return True
    if field.kind == "range":
        return [0.0, 1.0]
    raise AssertionError(f"unknown filter field kind {field.kind!r}")


def _edit_args(action, example) -> dict:
    if action.needs == "label":
        return {"new_label": example.relabel_to}
    if action.needs == "text":
        return {"search_string": example.text_filter, "text_replacement": "omega"}
    if action.needs == "shift":
        return {"shift_start": 0, "shift_end": -1}
    return {}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run per task, in a store of its own (shared by the module's read checks)."""
    import dataquality.logging.run as dq_run

    out = {}
    for name in TASK_NAMES:
        root = tmp_path_factory.mktemp(f"contract-{name}")
        task = TASKS[name]
        ex = task.example()
        run = dq.init(name, project_name="contract", run_name=name, root=root)
        ex.configure(dq)
        ex.log_inputs(dq)
        ex.log_outputs(dq)
        report = dq.finish(verbose=False)
        out[name] = (root, run, ex, report)
        dq_run._current.set(None)
    return out


@pytest.mark.parametrize("name", TASK_NAMES)
def test_finish_writes_every_split(finished, name):
    root, run, ex, report = finished[name]
    keys = set(report["splits"])
    assert {"training", "validation", f"inference/{ex.inference_name}"} <= keys
    for key in keys:
        assert report["splits"][key]["n_samples"] > 0


@pytest.mark.parametrize("name", TASK_NAMES)
def test_read_back_every_split(finished, name):
    root, run, ex, _ = finished[name]
    for split, inf in (("training", ""), ("validation", ""), ("inference", ex.inference_name)):
        df = dq.metrics.get_dataframe("contract", name, split, inf, root=root)
        assert len(df) > 0 and df["id"].is_unique
        if split != "inference":
            dep = df["data_error_potential"]
            assert dep.between(0, 1).all()
    summary = dq.metrics.get_run_summary("contract", name, "training", root=root)
    assert isinstance(summary, dict) and summary
    assert dq.metrics.get_labels_for_run("contract", name, root=root)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_core_and_task_filters(finished, name):
    root, run, ex, _ = finished[name]
    task = TASKS[name]
    manifest = run.manifest
    caps = task.capabilities(manifest)
    total = len(dq.metrics.get_dataframe("contract", name, "training", root=root))
    sub = dq.metrics.get_dataframe("contract", name, "training", filter={"text": ex.text_filter}, root=root)
    assert 0 < len(sub) < total
    assert sub["text"].str.contains(ex.text_filter, case=False).all()
    high = dq.metrics.get_dataframe("contract", name, "training", filter={"dep_min": 0.5}, root=root)
    assert (high["data_error_potential"] >= 0.5).all()
    from dataquality.exceptions import SchemaError

    splits = (("training", ""), ("validation", ""), ("inference", ex.inference_name))
    for field in task.filter_fields(manifest):
        value = _value_for(field, ex, caps)
        worked = 0
        for split, inf in splits:  # a field may apply to some splits only (drift: not training)
            n = len(dq.metrics.get_dataframe("contract", name, split, inf, root=root))
            try:
                got = dq.metrics.get_dataframe("contract", name, split, inf, filter={field.name: value}, root=root)
            except SchemaError as e:
                assert field.name in str(e)
                continue
            assert len(got) <= n, field.name
            worked += 1
        assert worked, f"filter field {field.name!r} applies to no split"


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_edit_action_applies_and_undoes(finished, name):
    root, run, ex, _ = finished[name]
    task = TASKS[name]
    before = dq.metrics.get_edited_dataframe("contract", name, "training", root=root)
    for action in task.edit_actions(run.manifest):
        filt = ex.edit_filters.get(action.name, {"text": ex.text_filter})
        e = dq.metrics.create_edit("contract", name, "training", action.name, filter=filt,
                                   **_edit_args(action, ex), root=root)
        assert e["n_samples"] > 0, action.name
        edited = dq.metrics.get_edited_dataframe("contract", name, "training", root=root)
        assert isinstance(edited, pd.DataFrame)
        dq.metrics.undo_edit("contract", name, root=root)
        after = dq.metrics.get_edited_dataframe("contract", name, "training", root=root)
        assert len(after) == len(before), action.name


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_export_in_the_logged_schema(finished, name, fmt, tmp_path):
    root, run, ex, _ = finished[name]
    path = dq.metrics.export_dataframe("contract", name, "training", tmp_path / f"out.{fmt}", root=root)
    assert path.exists() and path.stat().st_size > 0
    if fmt == "parquet":
        back = pd.read_parquet(path)
        assert {"id", "text"} <= set(back.columns)
        assert "data_error_potential" not in back.columns  # the logged schema, not the signals


@pytest.mark.parametrize("name", TASK_NAMES)
def test_console_api_serves_the_task(finished, name):
    root, run, ex, _ = finished[name]
    task = TASKS[name]
    client = TestClient(create_app(root), base_url="http://127.0.0.1:8765")
    detail = client.get(f"/api/runs/contract/{name}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["capabilities"] == task.capabilities(run.manifest).to_json()
    assert body["capabilities"]["views"]
    for s in body["splits"]:
        params = {"inference_name": s["inference_name"]} if s["inference_name"] else {}
        base = f"/api/runs/contract/{name}/splits/{s['split']}"
        for ep in ("samples", "count", "summary"):
            r = client.get(f"{base}/{ep}", params=params)
            assert r.status_code == 200, (ep, r.text)
        if s["split"] != "inference":
            r = client.get(f"{base}/confusion", params=params)
            assert r.status_code == 200, r.text
        for field in task.filter_fields(run.manifest):
            value = _value_for(field, ex, task.capabilities(run.manifest))
            r = client.get(f"{base}/count", params={**params, "filter": json.dumps({field.name: value})})
            # a field may not apply to this split (drift on training): a 400 that names it
            assert r.status_code == 200 or (r.status_code == 400 and field.name in r.text), (field.name, r.text)


def _bad_cases():
    for name in TASK_NAMES:
        for bad in TASKS[name].example().bad_inputs:
            yield pytest.param(name, bad, id=f"{name}-{bad.name}")


@pytest.mark.parametrize("name,bad", list(_bad_cases()))
def test_bad_input_gets_a_typed_error_and_loses_nothing(name, bad):
    ex = TASKS[name].example()
    run = dq.init(name, project_name="bad", run_name=re.sub(r"\W", "-", bad.name))
    ex.configure(dq)
    ex.log_inputs(dq)
    ex.log_outputs(dq)
    with pytest.raises(bad.error, match=bad.match) as info:
        bad.call(dq)
    assert isinstance(info.value, DataQualityError)
    # Nothing logged before is lost or corrupted: the run still finishes with every split.
    report = run.finish(verbose=False)
    assert {"training", "validation", f"inference/{ex.inference_name}"} <= set(report["splits"])


def test_every_task_is_registered_with_its_aliases():
    from dataquality.tasks import TASK_ALIASES, get_task

    for alias, name in TASK_ALIASES.items():
        assert get_task(alias, fn="t") is TASKS[name]
        assert get_task(alias.upper(), fn="t") is TASKS[name]
    with pytest.raises(DataQualityError, match="task_type"):
        get_task("image_classification", fn="t")
    assert np.all([TASKS[n].name == n for n in TASKS])
