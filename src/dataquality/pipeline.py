"""``finish()``: check what was logged, join outputs to inputs and write ``results/`` per split.

Per split (``training``, ``validation``, ``test``, ``inference/<name>``) it writes, through a
temporary folder renamed into place:

- ``samples.parquet``: one row per sample that has final-epoch outputs, in the order the inputs
  were logged: id, text, [text_pair], gold, pred, confidence, meta columns, then signal columns;
- ``embeddings.npy`` and ``probs.npy``: final-epoch arrays, row-aligned with ``samples.parquet``;
- ``dynamics.parquet`` (labeled splits): per sample and epoch the gold probability, the margin
  (gold probability minus the largest other), the prediction and the probability vector.

A split whose input and output parts are unchanged since the last ``finish()`` is kept as it is,
so a later process that only adds an inference set leaves the training results untouched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .core import layout as S
from .core import store
from .exceptions import (
    DuplicateIdError,
    LabelError,
    RunStateError,
    SchemaError,
    ShapeError,
    UnknownIdError,
)
from .signals import SplitArrays, run_signals

if TYPE_CHECKING:
    from .logging.run import Run


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, numerically stable. Shape (n, k) -> (n, k)."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def output_split_keys(paths: store.RunPaths) -> list[str]:
    """Split keys that have model-output parts, in a stable order."""
    keys = []
    for split in S.LABELED_SPLITS:
        if store.list_parts(paths.outputs(split), S.OUTPUT_PART_SUFFIX):
            keys.append(split)
    inf = paths.outputs(S.INFERENCE)
    if inf.is_dir():
        for d in sorted(p for p in inf.iterdir() if p.is_dir()):
            if store.list_parts(d, S.OUTPUT_PART_SUFFIX):
                keys.append(S.split_key(S.INFERENCE, d.name))
    return keys


def input_split_keys(paths: store.RunPaths) -> list[str]:
    base = paths.dir / S.INPUTS_DIR
    keys = [s for s in S.LABELED_SPLITS if store.list_parts(base / s, S.INPUT_PART_SUFFIX)]
    if (base / S.INFERENCE).is_dir():
        keys += [S.split_key(S.INFERENCE, d.name) for d in sorted((base / S.INFERENCE).iterdir())
                 if store.list_parts(d, S.INPUT_PART_SUFFIX)]
    return keys


def fingerprint(paths: store.RunPaths, key: str) -> list:
    parts = store.list_parts(paths.inputs(key), S.INPUT_PART_SUFFIX) + store.list_parts(
        paths.outputs(key), S.OUTPUT_PART_SUFFIX
    )
    return [[str(p.relative_to(paths.dir)), p.stat().st_size] for p in parts]


@dataclass
class _Epoch:
    epoch: int | None
    parts: list[Path]


def _epochs(paths: store.RunPaths, key: str) -> list[_Epoch]:
    base = paths.outputs(key)
    if key.startswith(S.INFERENCE):
        return [_Epoch(None, store.list_parts(base, S.OUTPUT_PART_SUFFIX))]
    out = []
    for d in base.iterdir():
        if d.is_dir() and d.name.isdigit():
            parts = store.list_parts(d, S.OUTPUT_PART_SUFFIX)
            if parts:
                out.append(_Epoch(int(d.name), parts))
    return sorted(out, key=lambda e: e.epoch)


def _open_parts(parts: list[Path]):
    """Yield record batches of every part, memory-mapped (nothing is read until touched)."""
    import pyarrow as pa

    for p in parts:
        reader = pa.ipc.open_file(pa.memory_map(str(p), "r"))
        for i in range(reader.num_record_batches):
            yield p, reader.get_batch(i)


def _matrix(batch, name: str) -> np.ndarray:
    col = batch.column(batch.schema.get_field_index(name))
    width = col.type.list_size
    values = col.values.to_numpy(zero_copy_only=False)
    if col.offset:
        values = values[col.offset * width :]
    return values[: len(col) * width].reshape(len(col), width)


def _ids_of(batch) -> np.ndarray:
    return batch.column(0).to_numpy(zero_copy_only=False)


def check_part_widths(paths: store.RunPaths, keys: list[str], labels: list[str], fn: str) -> None:
    """Every part's logits must have len(labels) columns and all embeddings one width."""
    import pyarrow as pa

    emb_widths: dict[int, str] = {}
    for key in keys:
        for p in store.list_parts(paths.outputs(key), S.OUTPUT_PART_SUFFIX):
            sch = pa.ipc.open_file(pa.memory_map(str(p), "r")).schema
            k = sch.field(S.LOGITS).type.list_size
            if k != len(labels):
                raise LabelError(
                    f"{fn}: model outputs in {p.relative_to(paths.dir)} have {k} logit columns, but "
                    f"the run has {len(labels)} labels {labels}. dq.set_labels_for_run must list one "
                    "label per logit column, in order."
                )
            if S.EMB in sch.names:
                emb_widths.setdefault(sch.field(S.EMB).type.list_size, str(p.relative_to(paths.dir)))
    if len(emb_widths) > 1:
        raise ShapeError(f"{fn}: embeddings of different widths were logged: {emb_widths}.")


def _read_inputs(paths: store.RunPaths, key: str, labels: list[str], fn: str):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parts = store.list_parts(paths.inputs(key), S.INPUT_PART_SUFFIX)
    if not parts:
        raise SchemaError(
            f"{fn}: model outputs were logged for split {key!r} but no inputs; log them with "
            "dq.log_dataset(..., split=...) before finishing."
        )
    table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="permissive")
    if not key.startswith(S.INFERENCE):
        gold = table.column(S.GOLD) if S.GOLD in table.column_names else pa.nulls(len(table), pa.string())
        if S.GOLD_INDEX in table.column_names:
            idx = table.column(S.GOLD_INDEX).to_numpy(zero_copy_only=False)
            has = ~np.isnan(idx.astype(np.float64)) if idx.dtype.kind == "f" else np.ones(len(idx), bool)
            bad = has & ((np.nan_to_num(idx.astype(np.float64), nan=0) >= len(labels)))
            if bad.any():
                raise LabelError(
                    f"{fn}: integer labels {sorted(set(idx[bad].astype(int).tolist()))[:10]} in split "
                    f"{key!r} are out of range for the {len(labels)} labels {labels}."
                )
            names = np.asarray(labels, dtype=object)[np.nan_to_num(idx.astype(np.float64), nan=0).astype(np.int64)]
            names = np.where(has, names, None)
            gold = pc.coalesce(gold, pa.array(names, pa.string()))
            table = table.drop_columns([S.GOLD_INDEX])
        if S.GOLD in table.column_names:
            table = table.drop_columns([S.GOLD])
        table = table.append_column(S.GOLD, gold)
        unknown = set(pc.unique(gold).to_pylist()) - set(labels)
        if unknown:
            raise LabelError(
                f"{fn}: labels {sorted(map(str, unknown))[:10]} in split {key!r} are not among the "
                f"run's labels {labels} (set by dq.set_labels_for_run)."
            )
    ids = table.column(S.ID).to_numpy(zero_copy_only=False)
    return table, ids


def _index(ids: np.ndarray, *, fn: str, what: str):
    import pandas as pd

    index = pd.Index(ids)
    if index.has_duplicates:
        dups = index[index.duplicated()].unique()[:10].tolist()
        raise DuplicateIdError(f"{fn}: ids {dups} appear more than once in {what}.")
    return index


def compute_split(run: "Run", key: str, *, signals: bool, fn: str, shared: dict | None = None) -> tuple[dict, Path]:
    """Join and write a split's results into a temporary folder under ``results/``.

    Returns
    -------
    summary : dict
    tmp : Path
        The folder to move to ``results/<key>`` once every split has succeeded.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths, labels = run.paths, run.labels
    split = S.INFERENCE if key.startswith(S.INFERENCE) else key
    name = key.split("/", 1)[1] if split == S.INFERENCE else None
    table, in_ids = _read_inputs(paths, key, labels, fn)
    in_index = _index(in_ids, fn=fn, what=f"the inputs of split {key!r}")
    n_in = len(in_ids)
    epochs = _epochs(paths, key)
    final = epochs[-1]

    # Map every output record of the final epoch to its input row.
    final_pos = []
    for p, batch in _open_parts(final.parts):
        final_pos.append(_lookup(in_index, _ids_of(batch), key, final.epoch, fn))
    pos_all = np.concatenate(final_pos)
    _check_unique_pos(pos_all, in_ids, key, final.epoch, fn)
    rows = np.sort(pos_all)  # input rows with outputs, in input order
    row_of_input = np.full(n_in, -1, dtype=np.int64)
    row_of_input[rows] = np.arange(len(rows))
    n = len(rows)

    tmp = paths.results() / f"{S.TMP_PREFIX}{store.new_token()}-{key.replace('/', '-')}"
    tmp.mkdir(parents=True)
    try:
        k = len(labels)
        logits = np.empty((n, k), dtype=np.float32)
        emb_out = None
        has_emb = None
        for (p, batch), pos in zip(_open_parts(final.parts), final_pos):
            dest = row_of_input[pos]
            logits[dest] = _matrix(batch, S.LOGITS)
            batch_has = S.EMB in batch.schema.names
            if has_emb is None:
                has_emb = batch_has
            elif has_emb != batch_has:
                raise ShapeError(
                    f"{fn}: in split {key!r} some batches of the final epoch were logged with "
                    "exclude_embs=True and some with embeddings; log all or none."
                )
            if batch_has:
                if emb_out is None:
                    d = batch.schema.field(S.EMB).type.list_size
                    emb_out = np.lib.format.open_memmap(tmp / S.EMBEDDINGS_FILE, mode="w+", dtype=np.float32, shape=(n, d))
                emb_out[dest] = _matrix(batch, S.EMB)
        if emb_out is not None:
            emb_out.flush()
        probs = softmax(logits)
        del logits
        np.save(tmp / S.PROBS_FILE, probs)

        gold = None
        if split != S.INFERENCE:
            lab_index = {l: i for i, l in enumerate(labels)}
            gold_names = table.column(S.GOLD).to_numpy(zero_copy_only=False)[rows]
            gold = np.fromiter((lab_index[g] for g in gold_names), dtype=np.int64, count=n)

        # Training dynamics: per epoch, probabilities aligned to the result rows.
        epoch_probs = None
        if split != S.INFERENCE:
            epoch_probs = np.full((len(epochs), n, k), np.nan, dtype=np.float32)
            for e_i, ep in enumerate(epochs):
                if ep is final:
                    epoch_probs[e_i] = probs
                    continue
                ep_pos = []
                for p, batch in _open_parts(ep.parts):
                    pos = _lookup(in_index, _ids_of(batch), key, ep.epoch, fn)
                    ep_pos.append(pos)
                    dest = row_of_input[pos]
                    keep = dest >= 0  # samples missing at the final epoch are not in the results
                    epoch_probs[e_i, dest[keep]] = softmax(_matrix(batch, S.LOGITS)[keep].astype(np.float32))
                _check_unique_pos(np.concatenate(ep_pos), in_ids, key, ep.epoch, fn)
            _write_dynamics(tmp / S.DYNAMICS_FILE, in_ids[rows], epochs, epoch_probs, gold)

        pred = probs.argmax(axis=1)
        samples = table.take(pa.array(rows))
        lab = np.asarray(labels, dtype=object)
        cols = {
            S.PRED: pa.array(lab[pred], pa.string()),
            S.CONFIDENCE: pa.array(probs.max(axis=1)),
        }
        if split == S.INFERENCE:
            cols[S.GOLD] = pa.nulls(n, pa.string())
        data = SplitArrays(
            split=split,
            inference_name=name,
            labels=labels,
            ids=in_ids[rows],
            gold=gold,
            probs=probs,
            embeddings=np.load(tmp / S.EMBEDDINGS_FILE, mmap_mode="r") if emb_out is not None else None,
            epoch_probs=epoch_probs,
            epochs=[e.epoch for e in epochs] if split != S.INFERENCE else [],
            texts=samples.column(S.TEXT),
            settings=run.manifest.get("signal_settings", {}),
            results_root=paths.results(),
            shared=shared if shared is not None else {},
        )
        signal_summary: dict = {}
        signal_cols: dict = {}
        if signals:
            signal_cols, signal_summary = run_signals(data)
        samples = _assemble(samples, cols, signal_cols)
        pq.write_table(samples, tmp / S.SAMPLES_FILE)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise

    summary = {
        "split": split,
        "inference_name": name,
        "n_samples": int(n),
        "n_inputs": int(n_in),
        "n_inputs_without_outputs": int(n_in - n),
        "epochs": [e.epoch for e in epochs] if split != S.INFERENCE else [],
        "has_embeddings": emb_out is not None,
        "pred_counts": _counts(pred, labels),
    }
    if gold is not None:
        summary["gold_counts"] = _counts(gold, labels)
        summary["accuracy"] = float((pred == gold).mean()) if n else None
    summary["signals"] = signal_summary
    return summary, tmp


def _assemble(samples, base_cols: dict, signal_cols: dict):
    """Order columns: id, text, [text_pair], gold, pred, confidence, meta..., signals..."""
    import pyarrow as pa

    lead = [S.ID, S.TEXT] + ([S.TEXT_PAIR] if S.TEXT_PAIR in samples.column_names else [])
    meta = [c for c in samples.column_names if c not in lead and c != S.GOLD]
    out = {c: samples.column(c) for c in lead}
    out[S.GOLD] = base_cols.get(S.GOLD, samples.column(S.GOLD) if S.GOLD in samples.column_names else None)
    out[S.PRED] = base_cols[S.PRED]
    out[S.CONFIDENCE] = base_cols[S.CONFIDENCE]
    for c in meta:
        out[c] = samples.column(c)
    for c, v in signal_cols.items():
        out[c] = pa.array(v)
    return pa.table(out)


def _lookup(index, out_ids: np.ndarray, key: str, epoch, fn: str) -> np.ndarray:
    pos = index.get_indexer(out_ids)
    if (pos < 0).any():
        missing = out_ids[pos < 0]
        where = f"split {key!r}" + ("" if epoch is None else f", epoch {epoch}")
        raise UnknownIdError(
            f"{fn}: model outputs for {len(missing)} id(s) in {where} were never logged as inputs, "
            f"e.g. {missing[:10].tolist()}. Log every sample with dq.log_dataset before its outputs, "
            "with the same ids."
        )
    return pos


def _check_unique_pos(pos: np.ndarray, in_ids: np.ndarray, key: str, epoch, fn: str) -> None:
    counts = np.bincount(pos, minlength=len(in_ids))
    if (counts > 1).any():
        dups = in_ids[np.flatnonzero(counts > 1)][:10].tolist()
        where = f"split {key!r}" + ("" if epoch is None else f", epoch {epoch}")
        raise DuplicateIdError(f"{fn}: model outputs for ids {dups} were logged more than once in {where}.")


def _write_dynamics(path: Path, ids: np.ndarray, epochs: list[_Epoch], epoch_probs: np.ndarray, gold: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    E, n, k = epoch_probs.shape
    r = np.arange(n)
    with pq.ParquetWriter(str(path), _dynamics_schema(ids, k)) as w:
        for e_i, ep in enumerate(epochs):
            p = epoch_probs[e_i]
            logged = ~np.isnan(p[:, 0])
            gp = p[r, gold]
            other = p.copy()
            other[r, gold] = -np.inf
            margin = gp - other.max(axis=1)
            pred = np.where(logged, p.argmax(axis=1) if n else np.zeros(0, np.int64), -1)
            sel = np.flatnonzero(logged)
            w.write_table(
                pa.table(
                    {
                        S.ID: pa.array(ids[sel]),
                        S.EPOCH: pa.array(np.full(len(sel), ep.epoch, dtype=np.int32)),
                        S.GOLD_PROB: pa.array(gp[sel]),
                        S.MARGIN: pa.array(margin[sel].astype(np.float32)),
                        S.PRED: pa.array(pred[sel].astype(np.int32)),
                        S.PROB: pa.FixedSizeListArray.from_arrays(pa.array(p[sel].reshape(-1)), k),
                    },
                    schema=_dynamics_schema(ids, k),
                )
            )


def _dynamics_schema(ids: np.ndarray, k: int):
    import pyarrow as pa

    return pa.schema(
        [
            (S.ID, pa.int64() if ids.dtype.kind == "i" else pa.string()),
            (S.EPOCH, pa.int32()),
            (S.GOLD_PROB, pa.float32()),
            (S.MARGIN, pa.float32()),
            (S.PRED, pa.int32()),
            (S.PROB, pa.list_(pa.float32(), k)),
        ]
    )


def _counts(idx: np.ndarray, labels: list[str]) -> dict:
    c = np.bincount(idx, minlength=len(labels))
    return {labels[i]: int(c[i]) for i in range(len(labels))}


def finish_run(run: "Run", *, signals: bool, fn: str) -> dict:
    """Compute results for every split with new or changed data. Returns a report."""
    paths = run.paths
    keys = output_split_keys(paths)
    if not keys:
        raise RunStateError(
            f"{fn}: no model outputs were logged in run {run.project_name}/{run.run_name}. Log them "
            "with dq.log_model_outputs(ids=..., embs=..., logits=...) before finishing."
        )
    labels = run.labels
    if labels is None:
        raise LabelError(
            f"{fn}: the run has no labels. Call dq.set_labels_for_run([...]) with one label per "
            "logit column, in order."
        )
    check_part_widths(paths, keys, labels, fn)
    results = run.manifest.setdefault("results", {})
    summary_path = paths.summary
    summary = store.read_json(summary_path) if summary_path.exists() else {"splits": {}}
    report: dict = {"splits": {}, "unchanged": [], "inputs_without_outputs": []}
    done = set(input_split_keys(paths)) - set(keys)
    report["inputs_without_outputs"] = sorted(done)
    shared: dict = {}  # what one split's signals leave for the next (the training reference)
    # A split is recomputed when its parts, the signal switch or the signal settings changed.
    settings = run.manifest.get("signal_settings", {})
    fingerprints = {key: {"parts": fingerprint(paths, key), "signals": bool(signals), "settings": settings}
                    for key in keys}

    def unchanged(key: str) -> bool:
        """Same parts and settings, and computed with signals if signals are asked for now
        (results with signals also serve a finish(signals=False))."""
        prev = (results.get(key) or {}).get("fingerprint")
        now = fingerprints[key]
        if not isinstance(prev, dict) or not (paths.results(key) / S.SAMPLES_FILE).exists():
            return False
        return (prev.get("parts") == now["parts"] and prev.get("settings") == now["settings"]
                and bool(prev.get("signals")) >= now["signals"])

    # Other splits are scored against training (neighbours, map, thresholds): new training
    # results make every split's results stale.
    retrain = S.TRAIN in keys and not unchanged(S.TRAIN)
    staged: list[tuple[str, Path]] = []
    try:
        for key in keys:
            if not retrain and unchanged(key):
                report["unchanged"].append(key)
                continue
            t0 = time.perf_counter()
            if run.task.unit == "span":
                from .tasks.text_ner.compute import compute_ner_split

                split_summary, tmp = compute_ner_split(run, key, signals=signals, fn=fn, shared=shared)
            else:
                split_summary, tmp = compute_split(run, key, signals=signals, fn=fn, shared=shared)
            staged.append((key, tmp))
            split_summary["seconds"] = round(time.perf_counter() - t0, 3)
            report["splits"][key] = split_summary
    except BaseException:
        import shutil

        for _, tmp in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Similarity indexes: large splits get an IVF index, stored so later searches load it.
    from .core import vectors as similarity

    indexes = shared.get("indexes", {})
    for key, tmp in staged:
        emb = tmp / S.EMBEDDINGS_FILE
        if key not in indexes and emb.exists() and report["splits"][key]["n_samples"] > similarity.EXACT_MAX:
            indexes[key] = similarity.build_index(np.load(emb, mmap_mode="r"))
    # Every split succeeded: move the results into place together.
    for key, _ in staged:
        old = similarity.index_path(paths.results(), key)
        if old.exists() and key not in indexes:
            old.unlink()
    for key, index in indexes.items():
        similarity.save_index(index, similarity.index_path(paths.results(), key))
    for key, tmp in staged:
        store.replace_dir(tmp, paths.results(key))
        summary["splits"][key] = report["splits"][key]
        results[key] = {"fingerprint": fingerprints[key], "finished_at": store.now_iso(),
                        "n_samples": report["splits"][key]["n_samples"]}
    summary["labels"] = labels
    summary["project_name"], summary["run_name"] = run.project_name, run.run_name
    store.write_json(summary_path, summary)
    return report
