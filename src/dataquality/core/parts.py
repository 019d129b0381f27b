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

from ..exceptions import DuplicateIdError, UnknownIdError
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
