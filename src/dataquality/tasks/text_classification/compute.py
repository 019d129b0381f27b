"""The compute side of text classification: a split's results at ``finish()`` (see ..base.Task).

Per split (``training``, ``validation``, ``test``, ``inference/<name>``) it writes into the
pipeline's staging folder:

- ``samples.parquet``: one row per sample that has final-epoch outputs, in the order the inputs
  were logged: id, text, [text_pair], gold, pred, confidence, meta columns, then signal columns;
- ``embeddings.npy`` and ``probs.npy``: final-epoch arrays, row-aligned with ``samples.parquet``;
- ``dynamics.parquet`` (labeled splits): per sample and epoch the gold probability, the margin
  (gold probability minus the largest other), the prediction and the probability vector.

Probabilities are the softmax of the logits (:func:`dataquality.core.numerics.softmax`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import layout as S
from ...core import parts as P
from ...core.numerics import softmax
from ...exceptions import LabelError
from ...signals import SplitArrays, run_signals
from ...signals.reference import SplitOutputs, TrainingReference
from ..base import SplitContext
from .reference import load_reference


def gold_labels(table, key: str, labels: list[str], fn: str):
    """The input ``table`` with its ``gold`` column as label names (integer labels mapped through
    ``labels``); LabelError naming ``fn`` for an integer out of range or an unknown name."""
    import pyarrow as pa
    import pyarrow.compute as pc

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
    return table


class ClassificationCompute:
    """Compute-side methods of the task protocol."""

    def training_reference(self, results_root: Path, manifest: dict, *, stored_training: bool) -> TrainingReference:
        return load_reference(results_root, manifest, stored_training=stored_training)

    def compute_split(self, ctx: SplitContext) -> dict:
        """Join the split's inputs and final-epoch outputs, run the signals and write the results
        into ``ctx.tmp`` (see the module docstring). Returns the split's summary."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths, labels, key, fn, tmp = ctx.paths, ctx.labels, ctx.key, ctx.fn, ctx.tmp
        split, name = ctx.split, ctx.inference_name
        table = P.read_inputs(paths, key, fn=fn)
        if split != S.INFERENCE:
            table = gold_labels(table, key, labels, fn)
        in_ids = table.column(S.ID).to_numpy(zero_copy_only=False)
        labeled = split != S.INFERENCE
        k = len(labels)
        joined = P.join_outputs(paths, key, in_ids, width=k, emb_path=tmp / S.EMBEDDINGS_FILE,
                                all_epochs=labeled, fn=fn)
        rows, n, n_in = joined.rows, len(joined.rows), joined.n_inputs
        # Probabilities per epoch, in place of the logits (NaN rows stay NaN: not logged then).
        epoch_probs = joined.logits
        for e_i in range(len(epoch_probs)):
            epoch_probs[e_i] = softmax(epoch_probs[e_i])
        probs = np.array(epoch_probs[-1])
        np.save(tmp / S.PROBS_FILE, probs)
        if not labeled:
            epoch_probs = None

        gold = None
        if labeled:
            lab_index = {l: i for i, l in enumerate(labels)}
            gold_names = table.column(S.GOLD).to_numpy(zero_copy_only=False)[rows]
            gold = np.fromiter((lab_index[g] for g in gold_names), dtype=np.int64, count=n)
            write_dynamics(tmp / S.DYNAMICS_FILE, in_ids[rows], joined.epochs, epoch_probs, gold)

        pred = probs.argmax(axis=1)
        samples = table.take(pa.array(rows))
        lab = np.asarray(labels, dtype=object)
        cols = {
            S.PRED: pa.array(lab[pred], pa.string()),
            S.CONFIDENCE: pa.array(probs.max(axis=1)),
        }
        if split == S.INFERENCE:
            cols[S.GOLD] = pa.nulls(n, pa.string())
        embeddings = joined.embeddings
        reference = ctx.reference
        data = SplitArrays(
            split=split,
            inference_name=name,
            labels=labels,
            ids=in_ids[rows],
            gold=gold,
            probs=probs,
            embeddings=embeddings,
            epoch_probs=epoch_probs,
            epochs=joined.epochs if labeled else [],
            texts=samples.column(S.TEXT),
            settings=ctx.settings,
            reference=reference,
        )
        if split == S.TRAIN:  # this split is the reference of every other one
            reference.adopt_training(data)
        elif split != S.INFERENCE:
            reference.set_outputs(split, SplitOutputs(probs.max(axis=1).astype(np.float64), np.bincount(pred, minlength=k)))
        signal_summary: dict = {}
        signal_cols: dict = {}
        if ctx.signals:
            signal_cols, signal_summary = run_signals(data)
        samples = assemble(samples, cols, signal_cols)
        pq.write_table(samples, tmp / S.SAMPLES_FILE)

        summary = {
            "split": split,
            "inference_name": name,
            "n_samples": int(n),
            "n_inputs": int(n_in),
            "n_inputs_without_outputs": int(n_in - n),
            "epochs": joined.epochs if labeled else [],
            "has_embeddings": embeddings is not None,
            "pred_counts": counts(pred, labels),
        }
        if gold is not None:
            summary["gold_counts"] = counts(gold, labels)
            summary["accuracy"] = float((pred == gold).mean()) if n else None
        summary["signals"] = signal_summary
        return summary


def assemble(samples, base_cols: dict, signal_cols: dict):
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


def write_dynamics(path: Path, ids: np.ndarray, epochs: list[int], epoch_probs: np.ndarray, gold: np.ndarray) -> None:
    """``dynamics.parquet``: per sample and logged epoch its gold probability, margin, prediction
    and probability vector (``epoch_probs`` (E, n, k), NaN rows where a sample was not logged)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    E, n, k = epoch_probs.shape
    r = np.arange(n)
    schema = dynamics_schema(ids, k)
    with pq.ParquetWriter(str(path), schema) as w:
        for e_i, epoch in enumerate(epochs):
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
                        S.EPOCH: pa.array(np.full(len(sel), epoch, dtype=np.int32)),
                        S.GOLD_PROB: pa.array(gp[sel]),
                        S.MARGIN: pa.array(margin[sel].astype(np.float32)),
                        S.PRED: pa.array(pred[sel].astype(np.int32)),
                        S.PROB: pa.FixedSizeListArray.from_arrays(pa.array(p[sel].reshape(-1)), k),
                    },
                    schema=schema,
                )
            )


def dynamics_schema(ids: np.ndarray, k: int):
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


def counts(idx: np.ndarray, labels: list[str]) -> dict:
    """``{label: count}`` of the label indexes ``idx``."""
    c = np.bincount(idx, minlength=len(labels))
    return {labels[i]: int(c[i]) for i in range(len(labels))}
