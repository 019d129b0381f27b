"""Background writer for model outputs: a bounded queue, Arrow IPC parts, atomic renames.

The caller's thread validates and copies a batch, then :meth:`OutputWriter.put` hands it over;
the queue is bounded, so a caller that logs faster than the disk can take blocks instead of growing
memory. The writer appends batches to one open part per folder and renames the part from its
temporary name when it is closed (at ``part_bytes``, at :meth:`flush`, or at exit), so a reader
never sees a half-written part. A failure on the writer thread is kept and raised as
:class:`~dataquality.exceptions.WriterError` on the next ``put``/``flush``.

Each time the thread wakes up it takes everything queued (up to ``coalesce_bytes``) and writes
the batches bound for one part as a single Arrow record batch: when the caller logs faster than
the disk takes them, batches pile up and are written in few, large writes, each taking the GIL
once instead of once per batch.
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
_BUFFER_BYTES = 256 << 10
_COALESCE_BYTES = 16 << 20  # at most this much is joined into one record batch


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
        Batches waiting to be written before ``put`` blocks. Memory held is at most the
        ``max_queue`` queued batches, the batches being written (``coalesce_bytes`` and one more
        batch) and a buffer of about ``coalesce_bytes`` that they are joined in.
    part_bytes : int
        A part is closed and a new one started once it holds this many bytes.
    coalesce_bytes : int
        Queued batches for one part are joined into record batches of up to this size.
    """

    def __init__(
        self,
        session: str,
        *,
        max_queue: int = 32,
        part_bytes: int = 512 << 20,
        coalesce_bytes: int = _COALESCE_BYTES,
    ) -> None:
        self.session = session
        self.part_bytes = part_bytes
        self.coalesce_bytes = coalesce_bytes
        self._scratch: dict[tuple, np.ndarray] = {}
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
        """Block for one item, then take what else is queued, up to a control item or
        ``coalesce_bytes`` of batches.

        It does not wait for more: a caller that logs between training steps gets its batch
        written while it computes the next one (the thread's work overlaps the step, not the
        next call), and one that logs faster than the disk finds its batches coalesced.
        """
        items = [self._queue.get()]
        if items[0][0] is _FLUSH or items[0][0] is _STOP:
            return items
        nbytes = _nbytes(items[0])
        while nbytes < self.coalesce_bytes:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            if item[0] is _FLUSH or item[0] is _STOP:
                break
            nbytes += _nbytes(item)
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
        """Write batches in arrival order, those bound for one part joined into one record batch.

        After a failure, drop them unwritten.
        """
        if not run or self._error is not None:
            return
        groups: dict[tuple, list] = {}
        for directory, ids, embs, logits in run:
            # The part's schema follows from the id kind and the widths.
            key = (directory, ids.dtype.kind, None if embs is None else embs.shape[1], logits.shape[1])
            groups.setdefault(key, []).append((ids, embs, logits))
        for key, batches in groups.items():
            part = self._parts.get(key)
            if len(batches) == 1:
                ids, embs, logits = batches[0]
            else:
                ids = np.concatenate([b[0] for b in batches])
                embs = None if key[2] is None else self._join([b[1] for b in batches], "embs")
                logits = self._join([b[2] for b in batches], "logits")
            batch = make_batch(ids, embs, logits, None if part is None else part.schema)
            nbytes = ids.nbytes + logits.nbytes + (0 if embs is None else embs.nbytes)
            if part is None:
                self._counter += 1
                name = f"part-{self.session}-{self._counter:05d}{S.OUTPUT_PART_SUFFIX}"
                part = self._parts[key] = _Part(key[0], name, batch.schema)
            part.write(batch, nbytes)
            del batch  # the scratch buffers are reused by the next write
            if part.bytes >= self.part_bytes:
                del self._parts[key]
                part.close()

    def _join(self, arrays: list, name: str) -> np.ndarray:
        """Concatenate float32 matrices of one width into a reused scratch buffer.

        The buffer is only read by the write that follows (the record batch wraps it without
        copying, and the IPC writer has copied it to the file when ``write`` returns), so reusing
        it saves allocating, and faulting in, ``coalesce_bytes`` per write.
        """
        rows = sum(a.shape[0] for a in arrays)
        width = arrays[0].shape[1]
        key = (name, width)
        buf = self._scratch.get(key)
        if buf is None or buf.shape[0] < rows:
            self._scratch.pop(key, None)
            buf = self._scratch[key] = np.empty((rows, width), dtype=np.float32)
        out = buf[:rows]
        np.concatenate(arrays, out=out)
        return out

    def _close_parts(self) -> None:
        self._scratch.clear()  # idle until the next batch: give the memory back
        parts, self._parts = list(self._parts.values()), {}
        errors = []
        for part in parts:
            try:
                part.close()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        if errors and self._error is None:
            self._error = errors[0]


def _nbytes(item: tuple) -> int:
    _, ids, embs, logits = item
    return ids.nbytes + logits.nbytes + (0 if embs is None else embs.nbytes)
