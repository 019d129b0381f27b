"""Reading the parts ``dq.log_model_outputs`` wrote: epochs, record batches, matrix columns, and
the mapping of output ids to input rows, with the typed errors ``finish()`` raises.

Output parts are Arrow IPC files (``outputs/<split>/<epoch>/part-*.arrow``; inference sets have
no epoch folder) whose first column is the id of each row, with fixed-size-list columns ``emb``
and ``logits``. Everything here is memory-mapped: nothing is read until touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import DuplicateIdError, RunNotFoundError, UnknownIdError
from . import layout as S
from . import store


@dataclass
class Epoch:
    """The output parts of one epoch of a split (``epoch`` None for an inference set)."""

    epoch: int | None
    parts: list[Path]


def epochs(paths: store.RunPaths, key: str) -> list[Epoch]:
    """The epochs of split ``key`` that have output parts, ascending."""
    base = paths.outputs(key)
    if key.startswith(S.INFERENCE):
        return [Epoch(None, store.list_parts(base, S.OUTPUT_PART_SUFFIX))]
    out = []
    for d in base.iterdir():
        if d.is_dir() and d.name.isdigit():
            parts = store.list_parts(d, S.OUTPUT_PART_SUFFIX)
            if parts:
                out.append(Epoch(int(d.name), parts))
    return sorted(out, key=lambda e: e.epoch)


def open_parts(parts: list[Path]):
    """Yield ``(path, record batch)`` of every part, memory-mapped."""
    import pyarrow as pa

    for p in parts:
        reader = pa.ipc.open_file(pa.memory_map(str(p), "r"))
        for i in range(reader.num_record_batches):
            yield p, reader.get_batch(i)


def part_schema(path: Path):
    """The Arrow schema of one output part (reads the footer only)."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path), "r")).schema


def matrix(batch, name: str) -> np.ndarray:
    """The fixed-size-list column ``name`` of ``batch`` as a (rows, width) array (zero copy)."""
    col = batch.column(batch.schema.get_field_index(name))
    width = col.type.list_size
    values = col.values.to_numpy(zero_copy_only=False)
    if col.offset:
        values = values[col.offset * width :]
    return values[: len(col) * width].reshape(len(col), width)


def ids_of(batch) -> np.ndarray:
    """The id column (the first) of an output batch."""
    return batch.column(0).to_numpy(zero_copy_only=False)


def unique_index(ids: np.ndarray, *, fn: str, what: str):
    """A pandas Index over ``ids``; DuplicateIdError naming ``fn`` and ``what`` if one repeats."""
    import pandas as pd

    index = pd.Index(ids)
    if index.has_duplicates:
        dups = index[index.duplicated()].unique()[:10].tolist()
        raise DuplicateIdError(f"{fn}: ids {dups} appear more than once in {what}.")
    return index


def lookup(index, out_ids: np.ndarray, key: str, epoch, fn: str) -> np.ndarray:
    """Input row of each output id; UnknownIdError if an id was never logged as an input."""
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


def check_unique_pos(pos: np.ndarray, in_ids: np.ndarray, key: str, epoch, fn: str) -> None:
    """DuplicateIdError if an input row got outputs more than once in one epoch."""
    counts = np.bincount(pos, minlength=len(in_ids))
    if (counts > 1).any():
        dups = in_ids[np.flatnonzero(counts > 1)][:10].tolist()
        where = f"split {key!r}" + ("" if epoch is None else f", epoch {epoch}")
        raise DuplicateIdError(f"{fn}: model outputs for ids {dups} were logged more than once in {where}.")


def read_inputs(paths: store.RunPaths, key: str, *, fn: str):
    """Every input part of split ``key`` as one Arrow table (SchemaError naming ``fn`` if none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..exceptions import SchemaError

    parts = store.list_parts(paths.inputs(key), S.INPUT_PART_SUFFIX)
    if not parts:
        raise SchemaError(
            f"{fn}: model outputs were logged for split {key!r} but no inputs; log them with "
            "dq.log_dataset(..., split=...) before finishing."
        )
    return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="permissive")


@dataclass
class JoinedOutputs:
    """A split's model outputs joined to its inputs, one row per sample with final-epoch outputs.

    Attributes
    ----------
    rows : numpy.ndarray of int64, shape (n,)
        The input rows that have final-epoch outputs, in the order the inputs were logged.
    n_inputs : int
        Rows of the input table (samples without final-epoch outputs are not in the results).
    epochs : list of int or None
        The logged epochs, ascending, the final one last (``[None]`` for an inference set).
    logits : numpy.ndarray of float32, shape (E, n, width)
        Stored logit rows per epoch (``E = 1`` unless every epoch was asked for); NaN where a
        sample was not logged at that epoch.
    embeddings : numpy.ndarray of float32, shape (n, d), or None
        Final-epoch embeddings, memory-mapped from the ``.npy`` file they were written to; None
        when the split was logged with ``exclude_embs``.
    """

    rows: np.ndarray
    n_inputs: int
    epochs: list
    logits: np.ndarray
    embeddings: np.ndarray | None


def join_outputs(paths: store.RunPaths, key: str, in_ids: np.ndarray, *, width: int, emb_path: Path,
                 all_epochs: bool, fn: str) -> JoinedOutputs:
    """Join the output parts of split ``key`` to its input ids (one output row per sample).

    Parameters
    ----------
    in_ids : numpy.ndarray, shape (n_inputs,)
        The ids of the split's input table, unique.
    width : int
        Columns of every stored logit row.
    emb_path : pathlib.Path
        Where to write the final-epoch embeddings (a ``.npy`` file), when there are any.
    all_epochs : bool
        Read every epoch's logits (training dynamics), else the final epoch's only.

    Raises
    ------
    UnknownIdError, DuplicateIdError, ShapeError
        Outputs of ids never logged as inputs, logged twice in one epoch, or a final epoch that
        mixes batches with and without embeddings.
    """
    from ..exceptions import ShapeError

    index = unique_index(in_ids, fn=fn, what=f"the inputs of split {key!r}")
    eps = epochs(paths, key)
    final = eps[-1]
    final_pos = [lookup(index, ids_of(batch), key, final.epoch, fn) for _, batch in open_parts(final.parts)]
    pos_all = np.concatenate(final_pos)
    check_unique_pos(pos_all, in_ids, key, final.epoch, fn)
    rows = np.sort(pos_all)
    row_of_input = np.full(len(in_ids), -1, dtype=np.int64)
    row_of_input[rows] = np.arange(len(rows))
    n = len(rows)
    used = eps if all_epochs else [final]
    logits = np.full((len(used), n, width), np.nan, dtype=np.float32)
    emb_out, has_emb = None, None
    for (_, batch), pos in zip(open_parts(final.parts), final_pos):
        dest = row_of_input[pos]
        logits[-1, dest] = matrix(batch, S.LOGITS)
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
                emb_out = np.lib.format.open_memmap(emb_path, mode="w+", dtype=np.float32, shape=(n, d))
            emb_out[dest] = matrix(batch, S.EMB)
    for e_i, ep in enumerate(used[:-1]):
        ep_pos = []
        for _, batch in open_parts(ep.parts):
            pos = lookup(index, ids_of(batch), key, ep.epoch, fn)
            ep_pos.append(pos)
            dest = row_of_input[pos]
            keep = dest >= 0  # samples missing at the final epoch are not in the results
            logits[e_i, dest[keep]] = matrix(batch, S.LOGITS)[keep]
        check_unique_pos(np.concatenate(ep_pos), in_ids, key, ep.epoch, fn)
    embeddings = None
    if emb_out is not None:
        emb_out.flush()
        del emb_out
        embeddings = np.load(emb_path, mmap_mode="r")
    return JoinedOutputs(rows=rows, n_inputs=len(in_ids), epochs=[e.epoch for e in used], logits=logits,
                         embeddings=embeddings)


def read_epoch(paths: store.RunPaths, key: str, epoch: int, column: str, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, matrix)`` of column ``column`` (``emb`` or ``logits``) at one logged epoch of split
    ``key``, read from its output parts; RunNotFoundError naming ``fn`` when there are none."""
    parts = store.list_parts(paths.outputs(key, epoch), S.OUTPUT_PART_SUFFIX)
    if not parts:
        raise RunNotFoundError(f"{fn}: no outputs for split {key!r} at epoch {epoch}.")
    ids, mats = [], []
    for _, batch in open_parts(parts):
        if column not in batch.schema.names:
            raise RunNotFoundError(f"{fn}: epoch {epoch} of split {key!r} was logged without {column}.")
        ids.append(ids_of(batch))
        mats.append(np.array(matrix(batch, column)))
    return np.concatenate(ids), np.concatenate(mats)
