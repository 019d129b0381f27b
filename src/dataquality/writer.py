"""Background writer for model outputs: a bounded queue, Arrow IPC parts, atomic renames.

The caller's thread validates and copies a batch, then :meth:`OutputWriter.put` hands it over;
the queue is bounded, so a caller that logs faster than the disk can take blocks instead of growing
memory. The writer appends batches to one open part per folder and renames the part from its
temporary name when it is closed (at ``part_bytes``, at :meth:`flush`, or at exit), so a reader
never sees a half-written part. A failure on the writer thread is kept and raised as
:class:`~dataquality.exceptions.WriterError` on the next ``put``/``flush``.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import numpy as np

from . import schema as S
from .exceptions import WriterError

_FLUSH = object()
_BUFFER_BYTES = 256 << 10
_DRAIN = 16  # batches the writer takes off the queue per wake-up
_STOP = object()


class _Part:
    """One open Arrow IPC file being appended to."""

    def __init__(self, directory: Path, name: str, schema) -> None:
        import pyarrow as pa

        directory.mkdir(parents=True, exist_ok=True)
        self.final = directory / name
        self.tmp = directory / f"{S.TMP_PREFIX}{name}"
        self.raw = pa.OSFile(str(self.tmp), "wb")
        # An IPC batch is several small writes (metadata, validity, ids, padding) and a few large
        # ones; buffering the small ones saves most of the system calls, and a buffer smaller than
        # an embeddings block lets that block go to the file without an extra copy.
        self.sink = pa.BufferedOutputStream(self.raw, _BUFFER_BYTES) if _BUFFER_BYTES else self.raw
        self.writer = pa.ipc.new_file(self.sink, schema)
        self.schema = schema
        self.bytes = 0

    def write(self, data, nbytes: int) -> None:
        """Append a record batch, or a table (each of its chunks stays one record batch)."""
        self.writer.write(data)
        self.bytes += nbytes

    def close(self) -> None:
        try:
            self.writer.close()
            self.sink.close()  # flushes the buffer and closes the file
        finally:
            if not self.raw.closed:
                self.raw.close()
        os.replace(self.tmp, self.final)


def make_batch(ids: np.ndarray, embs: np.ndarray | None, logits: np.ndarray, schema=None):
    """An Arrow record batch (id, emb?, logits) over the numpy buffers, without copying floats.

    ``schema``, when given, is the batch's schema (that of the part it goes to); it saves the
    type inference on the writer thread, which holds the GIL while it builds a batch.
    """
    import pyarrow as pa

    if schema is None:
        types = [pa.int64() if ids.dtype.kind == "i" else pa.string()]
        names = [S.ID]
        if embs is not None:
            types.append(pa.list_(pa.float32(), embs.shape[1]))
            names.append(S.EMB)
        types.append(pa.list_(pa.float32(), logits.shape[1]))
        names.append(S.LOGITS)
        schema = pa.schema(list(zip(names, types)))
    arrays = [pa.array(ids, type=schema.field(0).type)]
    for i, m in enumerate((embs, logits) if embs is not None else (logits,), start=1):
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(m.reshape(-1)), type=schema.field(i).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class OutputWriter:
    """Writes batches of model outputs to ``part-<session>-<n>.arrow`` files on a daemon thread.

    Parameters
    ----------
    session : str
        Token in every part name, so several processes can add parts to one run.
    max_queue : int
        Batches waiting to be written before ``put`` blocks. With the up to 16 batches the
        thread is writing, at most ``max_queue + 16`` batches are held in memory.
    part_bytes : int
        A part is closed and a new one started once it holds this many bytes.
    """

    def __init__(self, session: str, *, max_queue: int = 32, part_bytes: int = 512 << 20) -> None:
        self.session = session
        self.part_bytes = part_bytes
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._error: BaseException | None = None
        self._parts: dict[tuple[Path, tuple], _Part] = {}
        self._counter = 0
        self._thread = threading.Thread(target=self._loop, name="dq-output-writer", daemon=True)
        self._thread.start()

    # -- caller side ---------------------------------------------------------------------------

    def raise_if_failed(self) -> None:
        if self._error is not None:
            err = self._error
            raise WriterError(
                f"The background writer failed while writing model outputs: "
                f"{type(err).__name__}: {err}. Batches logged after the failure were not written."
            ) from err

    def put(self, directory: Path, ids: np.ndarray, embs: np.ndarray | None, logits: np.ndarray) -> None:
        """Queue one validated, caller-owned batch for ``directory``. Blocks when the queue is full."""
        self.raise_if_failed()
        self._queue.put((directory, ids, embs, logits))

    def flush(self) -> None:
        """Wait until every queued batch is on disk and every open part is closed and renamed."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put((_FLUSH, done))
            while not done.wait(0.5):
                if not self._thread.is_alive():
                    break
        self.raise_if_failed()

    def close(self) -> None:
        """Flush, then stop the thread."""
        try:
            self.flush()
        finally:
            if self._thread.is_alive():
                self._queue.put((_STOP, None))
                self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- writer thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            items = self._take()
            try:
                self._handle(items)
                if items[-1][0] is _STOP:
                    return
            finally:
                for _ in items:
                    self._queue.task_done()

    def _take(self) -> list:
        """Block for one item, then take what else is queued (up to ``_DRAIN``, up to a control).

        Writing several batches per wake-up costs the writer fewer trips through the GIL and the
        queue's lock, which on a busy caller thread are what limits throughput.
        """
        items = [self._queue.get()]
        while len(items) < _DRAIN and items[-1][0] is not _FLUSH and items[-1][0] is not _STOP:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _handle(self, items: list) -> None:
        run: list = []
        for item in items:
            head = item[0]
            if head is _FLUSH or head is _STOP:
                self._guard(self._write, run)
                run = []
                self._guard(self._close_parts)
                if head is _FLUSH:
                    item[1].set()
            else:
                run.append(item)
        self._guard(self._write, run)

    def _guard(self, fn, *args) -> None:
        """Run ``fn``; keep the first failure for the caller's thread (re-raised on its next call)."""
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - kept and re-raised on the caller's thread
            if self._error is None:
                self._error = e

    def _write(self, run: list) -> None:
        """Write consecutive batches bound for one folder; after a failure, drop them unwritten."""
        if not run or self._error is not None:
            return
        import pyarrow as pa

        groups: dict[tuple, list] = {}
        for directory, ids, embs, logits in run:
            # The part's schema follows from the id kind and the widths.
            key = (directory, ids.dtype.kind, None if embs is None else embs.shape[1], logits.shape[1])
            groups.setdefault(key, []).append((ids, embs, logits))
        for key, batches in groups.items():
            part = self._parts.get(key)
            schema = None if part is None else part.schema
            records = []
            nbytes = 0
            for ids, embs, logits in batches:
                records.append(make_batch(ids, embs, logits, schema))
                schema = records[-1].schema
                nbytes += ids.nbytes + logits.nbytes + (0 if embs is None else embs.nbytes)
            if part is None:
                self._counter += 1
                name = f"part-{self.session}-{self._counter:05d}{S.OUTPUT_PART_SUFFIX}"
                part = self._parts[key] = _Part(key[0], name, schema)
            if len(records) == 1:
                part.write(records[0], nbytes)
            else:  # one call (one GIL release) writes them all, each its own IPC record batch
                part.write(pa.Table.from_batches(records, schema=schema), nbytes)
            if part.bytes >= self.part_bytes:
                del self._parts[key]
                part.close()

    def _close_parts(self) -> None:
        parts, self._parts = list(self._parts.values()), {}
        errors = []
        for part in parts:
            try:
                part.close()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        if errors and self._error is None:
            self._error = errors[0]
