"""``dq.log_model_outputs``: check a batch through the run's task, copy it into the writer's slab.

The caller's thread does all the checking and the one copy; a background writer writes the slab
(:mod:`dataquality.core.writer`). A rejected batch writes nothing and counts for nothing.

A training loop logs the same kind of batch thousands of times. When the task's
``output_batch`` returned the caller's own ``embs`` and ``logits`` arrays as the rows (nothing to
convert), the run keeps that decision (:class:`ShortPath`) and logs the next batch of the same
dtypes, widths and route without asking the route or the task again, until the split, epoch,
manifest or writer change. Everything from the copy on is the same code for both paths.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core.convert import I64, check_ids, copy_finite
from ..exceptions import DuplicateIdError
from ..tasks.base import Task
from .ids import IdSet
from .manifest import RunRecord
from .routing import Routing, plain
from .writers import WriterHandle

_FN = "dq.log_model_outputs"


class ShortPath:
    """What the full path decided for one kind of batch, to log the next like it.

    A batch matches when its ids are a 1-D ``int64`` numpy array, ``embs`` and ``logits`` numpy
    arrays of the dtypes and widths of the batch that made it, ``probs`` None, embeddings not
    excluded, the same split/epoch arguments (plain ``str``/``int``/None, see
    :func:`~.routing.plain`) and the same split and epoch set on the run (together: ``route``);
    and, under the run's lock, the manifest, the writer and the split's id set are those it was
    made with.
    """

    __slots__ = ("route", "key", "epoch", "entry", "writer", "version", "embs_dtype", "logits_dtype", "d", "k")


class OutputLog:
    """The model outputs of a session: per split, the ids of its current epoch, and the batches.

    Parameters
    ----------
    record : RunRecord
    task : Task
    routing : Routing
    writers : WriterHandle
    lock : threading.RLock
        The run's lock (also the writer's).
    """

    def __init__(self, record: RunRecord, task: Task, routing: Routing, writers: WriterHandle,
                 lock: threading.RLock) -> None:
        self.record, self.task, self.routing, self.writers, self.lock = record, task, routing, writers, lock
        # Per split key: the epoch, the ids logged in it and its folder. Only the current epoch's
        # ids are kept, so memory does not grow with the number of epochs (finish() checks all).
        self.ids: dict[str, tuple[int | None, IdSet, Path]] = {}
        self.short: ShortPath | None = None

    def log(self, ids: Any, embs: Any, logits: Any, probs: Any, split: Any, epoch: Any,
            inference_name: Any, exclude_embs: bool) -> bool:
        """Log the batch by the short path if it applies (True), else do nothing (False)."""
        short = self.short
        if (short is None or type(ids) is not np.ndarray or type(embs) is not np.ndarray
                or type(logits) is not np.ndarray or probs is not None or exclude_embs
                or not plain(split, inference_name, epoch)):
            return False
        r = self.routing
        n = ids.shape[0] if ids.ndim == 1 else 0
        if ((split, inference_name, epoch, r.split, r.inference_name, r.epoch) != short.route
                or ids.dtype != I64 or not n
                or embs.dtype != short.embs_dtype or embs.shape != (n, short.d)
                or logits.dtype != short.logits_dtype or logits.shape != (n, short.k)):
            return False
        with self.lock:  # what the full path changes under the lock is read under it
            if (short is not self.short or self.record.version != short.version
                    or short.writer is not self.writers.writer or self.ids.get(short.key) is not short.entry):
                return False
            self._store(short.writer, short.key, short.epoch, short.entry, ids, ids, embs, logits)
        return True

    def log_full(self, ids: Any, embs: Any, logits: Any, probs: Any, split: Any, epoch: Any,
                 inference_name: Any, exclude_embs: bool) -> None:
        """Check the batch through the run's task and log it; keep the short path if it applies."""
        fn = _FN
        key, ep = self.routing.output_route(split, inference_name, epoch, fn=fn)
        # Ids are not copied here: they are read during this call and copied into the slab.
        ids_arr = check_ids(ids, fn=fn, copy=False)
        self.record.check_id_type(ids_arr, fn)
        # Checked, not yet copied: the one copy goes straight into the writer's slab.
        batch = self.task.output_batch(ids_arr, embs, logits, probs, exclude_embs=exclude_embs, fn=fn,
                                       manifest=self.record.manifest)
        with self.lock:
            current = self.ids.get(key)
            if current is None or current[0] != ep:  # a new epoch for this split: its ids start afresh
                current = (ep, IdSet(), self.record.paths.outputs(key, ep))
            writer = self.writers.get()
            self._store(writer, key, ep, current, ids_arr, batch.row_ids, batch.embs, batch.logits)
            self.short = None
            if (batch.embs is embs and batch.logits is logits and batch.row_ids is ids and embs is not None
                    and type(ids) is np.ndarray and ids.dtype == I64 and plain(split, inference_name, epoch)):
                s = self.short = ShortPath()
                s.route = (split, inference_name, epoch, *self.routing.state())
                s.key, s.epoch, s.entry, s.writer, s.version = key, ep, current, writer, self.record.version
                s.embs_dtype, s.logits_dtype, s.d, s.k = embs.dtype, logits.dtype, embs.shape[1], logits.shape[1]

    def _store(self, writer, key: str, ep: int | None, entry: tuple, ids: np.ndarray, rows: np.ndarray,
               embs: np.ndarray | None, logits: np.ndarray) -> None:
        """Copy a checked batch into the writer's slab and count it, with the run's lock held.

        ``ids`` are the batch's sample ids, ``rows`` the id of each output row (the same array
        for one row per sample). Until the commit at the end nothing counts: a raise leaves
        nothing logged.
        """
        fn = _FN
        _, seen, directory = entry
        n = rows.shape[0]
        slab, start = writer.slot(directory, rows.dtype.kind, None if embs is None else embs.shape[1], logits.shape[1], n)
        end = start + n
        # The caller's arrays, validated while copied into the rows the writer will write.
        copy_finite(logits, slab.logits[start:end], fn=fn, arg="logits")
        writer.place_ids(slab, rows)
        repeated, clash = seen.check(ids)
        if repeated:
            raise DuplicateIdError(f"{fn}: `ids` must be unique within a batch; {repeated} repeat.")
        if clash:
            where = f"split {key!r}" + ("" if ep is None else f", epoch {ep}")
            raise DuplicateIdError(
                f"{fn}: `ids` {sorted(set(clash), key=str)[:10]} were already logged for {where}; "
                "each sample is logged once per epoch (a new epoch may log the same ids again)."
            )
        record = self.record
        if key not in record.claimed:
            record.claim(key, fn)
        seen.add(ids)  # taken back below if anything after this fails
        try:
            if embs is not None:
                # The large copy last, so the checks above run before it evicts them from the
                # cache; little runs after it.
                copy_finite(embs, slab.embs[start:end], fn=fn, arg="embs")
            m = record.manifest
            if m["id_type"] is None or m["logits_dim"] is None or (embs is not None and m["embedding_dim"] is None):
                self._first_batch(ids, embs, logits)
            # Nothing above changed what is logged; from here the batch counts.
            writer.commit(slab, rows, ids_placed=True)
        except BaseException:
            seen.discard(ids)
            raise
        if self.ids.get(key) is not entry:
            self.ids[key] = entry

    def _first_batch(self, ids: np.ndarray, embs: np.ndarray | None, logits: np.ndarray) -> None:
        """Record the id type and widths of the run's outputs in the manifest."""
        m = self.record.manifest
        if m["id_type"] is None:
            m["id_type"] = "int" if ids.dtype.kind == "i" else "str"
        if embs is not None and m["embedding_dim"] is None:
            m["embedding_dim"] = int(embs.shape[1])
        if m["logits_dim"] is None:
            m["logits_dim"] = int(logits.shape[1])
        self.record.save()
