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
_STOP = object()


class _Part:
    """One open Arrow IPC file being appended to."""

    def __init__(self, directory: Path, name: str, schema) -> None:
        import pyarrow as pa

        directory.mkdir(parents=True, exist_ok=True)
        self.final = directory / name
        self.tmp = directory / f"{S.TMP_PREFIX}{name}"
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pa.ipc.new_file(self.sink, schema)
        self.schema = schema
        self.bytes = 0

    def write(self, batch) -> None:
        self.writer.write_batch(batch)
        self.bytes += batch.nbytes

    def close(self) -> None:
        self.writer.close()
        self.sink.close()
        os.replace(self.tmp, self.final)


def make_batch(ids: np.ndarray, embs: np.ndarray | None, logits: np.ndarray):
    """An Arrow record batch (id, emb?, logits) over the numpy buffers, without copying floats."""
    import pyarrow as pa

    arrays = [pa.array(ids, type=pa.int64() if ids.dtype.kind == "i" else pa.string())]
    names = [S.ID]
    if embs is not None:
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(embs.reshape(-1)), embs.shape[1]))
        names.append(S.EMB)
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), logits.shape[1]))
    names.append(S.LOGITS)
    return pa.RecordBatch.from_arrays(arrays, names=names)


class OutputWriter:
    """Writes batches of model outputs to ``part-<session>-<n>.arrow`` files on a daemon thread.

    Parameters
    ----------
    session : str
        Token in every part name, so several processes can add parts to one run.
    max_queue : int
        Batches waiting to be written before ``put`` blocks (bounds memory).
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
            item = self._queue.get()
            head = item[0]
            try:
                if head is _STOP:
                    self._close_parts()
                    return
                if head is _FLUSH:
                    self._close_parts()
                    item[1].set()
                    continue
                if self._error is None:  # after a failure, drain without writing
                    self._write(*item)
            except BaseException as e:  # noqa: BLE001 - kept and re-raised on the caller's thread
                if self._error is None:
                    self._error = e
                if head is _FLUSH:
                    item[1].set()
            finally:
                self._queue.task_done()

    def _write(self, directory: Path, ids, embs, logits) -> None:
        batch = make_batch(ids, embs, logits)
        key = (directory, tuple(batch.schema.names), tuple(str(t) for t in batch.schema.types))
        part = self._parts.get(key)
        if part is None:
            self._counter += 1
            name = f"part-{self.session}-{self._counter:05d}{S.OUTPUT_PART_SUFFIX}"
            part = self._parts[key] = _Part(directory, name, batch.schema)
        part.write(batch)
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
