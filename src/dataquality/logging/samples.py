"""Inputs: ``dq.log_dataset``, ``dq.log_data_samples`` and ``dq.log_data_sample``.

Each chunk of a dataset becomes the stored input table through the run's task
(``Task.normalize_inputs``); its ids are checked against the split's, and the parts of one call
are renamed into place together, only when every chunk passed. Single samples are checked at
their own call and buffered, then written as one part.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core import layout as S
from ..core.convert import as_list
from ..exceptions import ConfigurationError, DuplicateIdError, InputTypeError, SchemaError, ShapeError
from ..tasks.base import Columns, Task
from .ids import IdSet
from .inputs import DEFAULT, iter_frames
from .manifest import RunRecord
from .routing import Routing

_SAMPLE_BUFFER_ROWS = 10_000


class _Buffer:
    """Checked single samples of one split waiting to be written: tables of one schema."""

    __slots__ = ("schema", "tables", "ids")

    def __init__(self, schema) -> None:
        self.schema, self.tables, self.ids = schema, [], set()


class InputLog:
    """The inputs of a session: per split the ids logged so far, and buffered single samples.

    Parameters
    ----------
    record : RunRecord
    task : Task
    routing : Routing
    lock : threading.RLock
        The run's lock.
    """

    def __init__(self, record: RunRecord, task: Task, routing: Routing, lock: threading.RLock) -> None:
        self.record, self.task, self.routing, self.lock = record, task, routing, lock
        self.ids: dict[str, IdSet] = {}
        self._buffers: dict[str, _Buffer] = {}

    def log_dataset(self, dataset: Any, *, batch_size: Any, text: Any, id: Any, label: Any, split: Any,
                    inference_name: Any, meta: Any, text_pair: Any, fn: str) -> int:
        """Check and store a dataset's inputs for one split; returns the number of samples."""
        s, name = self.routing.resolve(split, inference_name, fn=fn)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ConfigurationError(f"{fn}: `batch_size` must be a positive integer; got {batch_size!r}.")
        if meta is not None and (isinstance(meta, str) or not all(isinstance(m, str) for m in meta)):
            raise ConfigurationError(f"{fn}: `meta` must be a list of column names; got {meta!r}.")
        for arg, v in (("text", text), ("id", id)):
            if not isinstance(v, str):
                raise ConfigurationError(f"{fn}: `{arg}` is a column name and must be a string; got {v!r}.")
        cols = Columns(
            id=id, text=text,
            label="label" if label is DEFAULT else label,
            text_pair="text_pair" if text_pair is DEFAULT else text_pair,
            meta=tuple(meta or ()),
            label_explicit=label is not DEFAULT,
            text_pair_explicit=text_pair is not DEFAULT,
        )
        manifest = self.record.manifest
        tables = (self.task.normalize_inputs(df, fn=fn, cols=cols, split=s, manifest=manifest)
                  for df in iter_frames(dataset, fn=fn, batch_size=batch_size, cols=cols))
        return self.store(S.split_key(s, name), tables, id_column=cols.id, fn=fn)

    def store(self, key: str, tables, *, id_column: str, fn: str) -> int:
        """Check the ids of each input table and write it as a part of split ``key``; the parts
        count (are renamed into place) only once every table passed. Returns the rows stored."""
        record = self.record
        with self.lock:
            record.claim(key, fn)
            seen = self.ids.get(key) or IdSet()
            new_ids = IdSet()  # this call's ids, added to ``seen`` only once every part is written
            accepted: list[np.ndarray] = []
            written: list[tuple[Path, Path]] = []
            id_kind = None
            try:
                for table in tables:
                    ids = table.column(S.ID).to_numpy(zero_copy_only=False)
                    kind = record.check_id_type(ids, fn, arg="id")
                    if id_kind is not None and kind != id_kind:
                        raise InputTypeError(
                            f"{fn}: `id` (column {id_column!r}) must be all integers or all strings; the "
                            f"dataset mixes them across batches (e.g. {ids[:3].tolist()})."
                        )
                    id_kind = kind
                    repeated, clash = new_ids.check(ids)
                    if repeated:
                        raise DuplicateIdError(
                            f"{fn}: `id` (column {id_column!r}) must be unique within split {key!r}; "
                            f"got {repeated} more than once."
                        )
                    if not clash:
                        clash = seen.check(ids)[1]
                    if clash:
                        raise DuplicateIdError(
                            f"{fn}: `id` (column {id_column!r}) must be unique within split {key!r}; "
                            f"ids {sorted(set(clash), key=str)[:10]} were already logged for it. Every "
                            "sample of a split needs its own id."
                        )
                    new_ids.add(ids)
                    accepted.append(ids)
                    written.append(record.write_input_part(key, table))
                if not written:
                    raise SchemaError(f"{fn}: `dataset` is empty; log at least one sample.")
            except BaseException:
                for tmp, _ in written:
                    tmp.unlink(missing_ok=True)
                raise
            for tmp, final in written:
                os.replace(tmp, final)
            for ids in accepted:
                seen.check(ids)  # lets ``add`` take the checked fast path
                seen.add(ids)
            self.ids[key] = seen
            if record.manifest.get("id_type") is None:
                record.manifest["id_type"] = id_kind
                record.save()
        return len(new_ids)

    def log_data_samples(self, *, texts: Any, ids: Any, labels: Any, split: Any, inference_name: Any,
                         meta: Any, text_pairs: Any, extra: dict[str, Any], fn: str) -> int:
        """Samples given as parallel lists; ``meta`` maps column name to values, ``extra`` holds
        the task's :attr:`~dataquality.tasks.base.Task.sample_arguments`."""
        import pandas as pd

        self._check_extra(extra, fn)
        columns: dict[str, list] = {"id": as_list(ids, fn=fn, arg="ids"), "text": as_list(texts, fn=fn, arg="texts")}
        lengths = {"texts": len(columns["text"]), "ids": len(columns["id"])}
        named = [("label", "labels", labels), ("text_pair", "text_pairs", text_pairs)]
        named += [(k, k, v) for k, v in extra.items()]
        for col, arg, value in named:
            if value is not None:
                columns[col] = as_list(value, fn=fn, arg=arg)
                lengths[arg] = len(columns[col])
        meta = meta or {}
        if not isinstance(meta, dict):
            raise ConfigurationError(f"{fn}: `meta` must be a dict of column name -> values; got {type(meta).__name__}.")
        for k, v in meta.items():
            columns[k] = as_list(v, fn=fn, arg=f"meta[{k!r}]")
            lengths[f"meta[{k!r}]"] = len(columns[k])
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"{fn}: all arguments must have one value per sample; got lengths {lengths}.")
        return self.log_dataset(
            pd.DataFrame(columns), batch_size=100_000, text="text", id="id",
            label="label" if labels is not None else DEFAULT, split=split, inference_name=inference_name,
            meta=list(meta), text_pair=DEFAULT, fn=fn,
        )

    def log_data_sample(self, *, text: Any, id: Any, label: Any, split: Any, inference_name: Any,
                        meta: Any, text_pair: Any, extra: dict[str, Any], fn: str) -> None:
        """One sample, checked now, buffered and written with the split's other single samples."""
        import pandas as pd

        self._check_extra(extra, fn)
        s, name = self.routing.resolve(split, inference_name, fn=fn)
        key = S.split_key(s, name)
        row: dict[str, Any] = {"id": id, "text": text}
        for col, value in (("label", label), ("text_pair", text_pair), *extra.items()):
            if value is not None:
                row[col] = value
        meta = meta or {}
        if not isinstance(meta, dict):
            raise ConfigurationError(f"{fn}: `meta` must be a dict of column name -> value; got {type(meta).__name__}.")
        row.update(meta)
        cols = Columns(meta=tuple(meta), label_explicit=label is not None)
        df = pd.DataFrame([{k: v for k, v in row.items() if k not in extra}])
        for col, value in extra.items():  # list-valued arguments: one cell holding the value
            if value is not None:
                df[col] = pd.Series([value], dtype=object)
        table = self.task.normalize_inputs(df, fn=fn, cols=cols, split=s, manifest=self.record.manifest)
        ids = table.column(S.ID).to_numpy(zero_copy_only=False)
        kind = self.record.check_id_type(ids, fn, arg="id")
        rid = ids[0].item() if isinstance(ids[0], np.generic) else ids[0]
        with self.lock:
            buf = self._buffers.get(key)
            inputs = self.ids.get(key)
            if (inputs is not None and rid in inputs) or (buf is not None and rid in buf.ids):
                raise DuplicateIdError(f"{fn}: `id` {rid!r} was already logged for split {key!r}.")
            if buf is not None and not buf.schema.equals(table.schema):
                schema = _unified(buf.schema, table.schema)  # e.g. a meta value None among strings
                if schema is None:  # other columns or types: a new part
                    self.flush(key)
                    buf = None
                else:
                    buf.schema = schema
            if buf is None:
                buf = self._buffers[key] = _Buffer(table.schema)
            if self.record.manifest.get("id_type") is None:  # buffered, not written: later calls compare
                self.record.manifest["id_type"] = kind
            buf.tables.append(table)
            buf.ids.add(rid)
            if len(buf.tables) >= _SAMPLE_BUFFER_ROWS:
                self.flush(key)

    def flush(self, key: str | None = None) -> None:
        """Write the buffered single samples (of split ``key``, or of every split)."""
        import pyarrow as pa

        with self.lock:
            for k in [key] if key is not None else list(self._buffers):
                buf = self._buffers.pop(k, None)
                if buf is not None and buf.tables:
                    table = pa.concat_tables(buf.tables, promote_options="permissive")
                    self.store(k, [table], id_column="id", fn="dq.log_data_sample")

    def _check_extra(self, extra: dict, fn: str) -> None:
        unknown = sorted(set(extra) - set(self.task.sample_arguments))
        if unknown:
            takes = ", ".join(f"`{a}`" for a in self.task.sample_arguments) or "none"
            raise InputTypeError(
                f"{fn}: got unexpected argument(s) {', '.join(f'`{a}`' for a in unknown)} for task_type "
                f"{self.task.name!r} (its extra arguments: {takes})."
            )


def _unified(a, b):
    """The schema both ``a`` and ``b`` fit (same columns; null or narrower types widened), or
    None when there is none."""
    import pyarrow as pa

    if a.names != b.names:
        return None
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
