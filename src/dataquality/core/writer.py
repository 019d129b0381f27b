"""Background writer for model outputs: a small ring of write slabs, Arrow IPC parts, atomic renames.

The caller's thread validates each batch and copies it straight into the next free rows of a
*slab*: a preallocated buffer of a few MiB laid out as the columns of one record batch (ids,
then embeddings, then logits, each ``capacity`` rows long). A full slab goes to the writer
thread, which wraps its filled rows in an Arrow record batch without copying and appends it to
the open part of its folder; the only copy after the caller's is the kernel's, into the page
cache, in a few large writes. The slab then goes back to the ring.

There are at most ``slabs`` slabs: a caller that logs faster than the disk takes them waits for
one to come back instead of growing memory, so memory is bounded by ``slabs * slab_bytes`` (plus
half a batch per slab, as a slab holds whole batches; a single batch larger than a slab gets a
slab of its own size for one round).

A part is written under a temporary name and renamed when it is closed (at ``part_bytes``, at
:meth:`OutputWriter.flush`, or at exit), so a reader never sees a half-written part. Space for
each record batch is reserved before it is written (``fallocate``, as ``numpy.save`` does), which
saves the file system allocating it block by block. A failure on the writer thread is kept and
raised as :class:`~dataquality.exceptions.WriterError` on the next call; slabs are still
recycled, and later batches are dropped unwritten.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path

import numpy as np

from . import layout as S
from ..exceptions import WriterError

_FLUSH = object()  # write what was handed over, close and rename the open parts
_SYNC = object()  # write what was handed over; parts stay open
_STOP = object()
_BUFFER_BYTES = 256 << 10
# A slab is written in one go while the caller goes on; the shorter that write, the less of it
# runs during the caller's next call (both copy memory, and share the memory bus). 1.5 MiB still
# writes at page-cache speed (bench/logging.py: 0.88-0.94 of np.save, against 0.95 at 2 MiB) and
# cut the caller's time per 256 x 768 batch from 2.1 to 1.85-1.9 x np.copy at the bench's pace.
_SLAB_BYTES = 3 << 19
_SLABS = 4
_FALLOC_FL_KEEP_SIZE = 1


def _fallocate_fn():
    """Linux ``fallocate(2)``, or None where it is unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = getattr(libc, "fallocate64", None) or libc.fallocate
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        fn.restype = ctypes.c_int
        return fn
    except (OSError, AttributeError):
        return None


class _Part:
    """One open Arrow IPC file being appended to."""

    def __init__(self, directory: Path, name: str, schema, fallocate=None) -> None:
        import pyarrow as pa

        directory.mkdir(parents=True, exist_ok=True)
        self.final = directory / name
        self.tmp = directory / f"{S.TMP_PREFIX}{name}"
        self.raw = pa.OSFile(str(self.tmp), "wb")
        # An IPC batch is several small writes (metadata, validity, ids, padding) and a few large
        # ones; buffering the small ones saves most of the system calls, and a buffer smaller than
        # an embeddings block lets that block go to the file without an extra copy.
        self.sink = pa.BufferedOutputStream(self.raw, _BUFFER_BYTES)
        self.writer = pa.ipc.new_file(self.sink, schema)
        self.schema = schema
        self.bytes = 0
        # fallocate needs a descriptor of the file; pyarrow does not expose its own.
        self._fallocate = fallocate
        self._fd = os.open(self.tmp, os.O_WRONLY) if fallocate is not None else None
        self._reserved = 0

    def reserve(self, nbytes: int) -> None:
        """Reserve disk space for the next ``nbytes`` (the file's size stays as written)."""
        if self._fd is None:
            return
        pos = self.sink.tell()
        end = pos + nbytes
        if end <= self._reserved:
            return
        start = max(pos, self._reserved)
        if self._fallocate(self._fd, _FALLOC_FL_KEEP_SIZE, start, end - start) == 0:
            self._reserved = end
        else:  # not supported by this file system: write without reserving
            self._close_fd()

    def write(self, data, nbytes: int) -> None:
        """Append a record batch."""
        self.reserve(nbytes + 4096)  # the batch's buffers plus its metadata and padding
        self.writer.write(data)
        self.bytes += nbytes

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def close(self) -> None:
        try:
            self.writer.close()
            self.sink.close()  # flushes the buffer and closes the file
        finally:
            if not self.raw.closed:
                self.raw.close()
            self._close_fd()
        os.replace(self.tmp, self.final)


class _Slab:
    """A preallocated buffer that holds the columns of one record batch for one output folder.

    :meth:`bind` lays it out, for about ``nbytes`` and a whole number of batches of the first
    batch's size, for a key ``(directory, id kind, embedding width or None, logits
    width)``: ``ids`` (capacity,) int64, ``embs`` (capacity, d) float32, ``logits`` (capacity, k)
    float32, one after the other. String ids, which have no fixed width, are kept as a list of
    arrays instead. ``rows`` of them are filled.
    """

    __slots__ = ("buf", "key", "capacity", "rows", "ids", "embs", "logits", "str_ids", "arrow")

    def __init__(self) -> None:
        self.buf: np.ndarray | None = None
        self.key: tuple | None = None
        self.capacity = 0
        self.rows = 0
        self.arrow: tuple | None = None  # (layout, record batch over every row): OutputWriter._batch

    def bind(self, key: tuple, min_rows: int, nbytes: int) -> None:
        _, id_kind, d, k = key
        row = (8 if id_kind == "i" else 0) + 4 * (d or 0) + 4 * k
        # A whole number of batches of the first one's size (the usual case: every batch the
        # same size), as close to ``nbytes`` as that allows, so that full slabs have no gaps.
        capacity = max(1, round(nbytes / (row * min_rows))) * min_rows
        if self.buf is None or self.buf.nbytes < capacity * row:
            self.buf = self.arrow = None
            self.buf = np.empty(capacity * row, dtype=np.uint8)
        buf, off = self.buf, 0
        if id_kind == "i":
            self.ids, self.str_ids, off = buf[: 8 * capacity].view(np.int64), None, 8 * capacity
        else:
            self.ids, self.str_ids = None, []
        if d:
            self.embs = buf[off : off + 4 * d * capacity].view(np.float32).reshape(capacity, d)
            off += 4 * d * capacity
        else:
            self.embs = None
        self.logits = buf[off : off + 4 * k * capacity].view(np.float32).reshape(capacity, k)
        self.key, self.capacity, self.rows = key, capacity, 0

    def columns(self) -> tuple:
        """(ids, embs or None, logits) of the filled rows: views, except joined string ids."""
        r = self.rows
        ids = self.ids[:r] if self.str_ids is None else np.concatenate(self.str_ids)
        return ids, None if self.embs is None else self.embs[:r], self.logits[:r]

    def release(self) -> None:
        self.key, self.rows, self.ids, self.embs, self.logits, self.str_ids = None, 0, None, None, None, None


def make_batch(ids: np.ndarray, embs: np.ndarray | None, logits: np.ndarray, schema=None):
    """An Arrow record batch (id, emb?, logits) over the numpy buffers, without copying floats.

    ``schema``, when given, is the batch's schema (that of the part it goes to); it saves the
    type inference.
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

    The caller fills slabs under :attr:`lock`, validating while it copies, through :meth:`slot`
    and :meth:`commit`; the rows of one batch are never split over two record batches (NER logs
    one row per token, and ``finish()`` reads a sample's tokens as one run of equal ids within a
    batch), and a batch larger than a slab gets a slab of its own::

        with writer.lock:
            slab, start = writer.slot(directory, "i", d, k, n)
            ...  # fill slab.embs / slab.logits rows start..start+n; may raise
            writer.commit(slab, ids)  # the batch now counts; a raise before it wrote nothing

    Parameters
    ----------
    session : str
        Token in every part name, so several processes can add parts to one run.
    slabs : int, optional
        Slabs in the ring (default 4). Memory held is at most ``slabs * slab_bytes``, plus half
        a batch per slab (a slab holds whole batches), more only while a single batch larger
        than a slab is being written.
    slab_bytes : int, optional
        Size of a slab (default 1.5 MiB); each full slab is one record batch and one large write.
    part_bytes : int
        A part is closed and a new one started once it holds this many bytes.
    lock : threading.RLock, optional
        The lock callers fill slabs under (:attr:`lock`); a caller that already holds a lock of
        its own around each batch may pass it, so a batch takes one lock instead of two.
    """

    def __init__(
        self,
        session: str,
        *,
        slabs: int | None = None,
        slab_bytes: int | None = None,
        part_bytes: int = 512 << 20,
        lock: threading.RLock | None = None,
    ) -> None:
        self.session = session
        self.slabs = _SLABS if slabs is None else slabs
        self.slab_bytes = _SLAB_BYTES if slab_bytes is None else slab_bytes
        self.part_bytes = part_bytes
        # the caller's side: the slab being filled (a caller may share its own lock)
        self.lock = threading.RLock() if lock is None else lock
        self._made = 0
        self._free: queue.SimpleQueue = queue.SimpleQueue()  # slabs the writer has finished with
        # Full slabs and control items, for the thread. Unbounded, yet it never holds more than
        # ``slabs`` slabs. A SimpleQueue: handing a slab over wakes the thread, and its put is
        # the cheapest way to do that from the caller's thread.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._current: _Slab | None = None
        self._error: BaseException | None = None
        self._parts: dict[tuple, _Part] = {}
        self._counter = 0
        self._fallocate = None
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

    def slot(self, directory: Path, id_kind: str, d: int | None, k: int, n: int) -> tuple[_Slab, int]:
        """A slab bound to this key with ``n`` free rows from the returned start row.

        Call with :attr:`lock` held, fill the rows, then :meth:`commit`. Until then the rows do
        not count: an exception while filling them leaves nothing logged. Blocks while every
        slab is waiting to be written.
        """
        self.raise_if_failed()
        slab = self._current
        key = (directory, id_kind, d, k)
        if slab is not None and (slab.key != key or slab.rows + n > slab.capacity):
            self._submit()
            slab = None
        if slab is None:
            slab = self._take()
            slab.bind(key, n, self.slab_bytes)
            self._current = slab
        return slab, slab.rows

    @staticmethod
    def place_ids(slab: _Slab, ids: np.ndarray) -> None:
        """Copy integer ``ids`` into the next rows of ``slab`` before :meth:`commit` (with
        ``ids_placed=True``); string ids are kept at commit."""
        if slab.str_ids is None:
            r = slab.rows
            slab.ids[r : r + ids.shape[0]] = ids

    def commit(self, slab: _Slab, ids: np.ndarray, *, ids_placed: bool = False) -> None:
        """Count the next ``len(ids)`` rows of ``slab`` (from :meth:`slot`) as logged.

        ``ids`` (validated, small) are copied into the slab here unless :meth:`place_ids` did;
        the embeddings and logits must already be in place.
        """
        r, n = slab.rows, ids.shape[0]
        if slab.str_ids is not None:
            slab.str_ids.append(ids)
        elif not ids_placed:
            slab.ids[r : r + n] = ids
        slab.rows = r + n
        if slab.capacity - slab.rows < n:  # the next batch of this size will not fit: write it now
            self._submit()

    def drain(self) -> None:
        """Hand over the partly filled slab and wait until the thread has written everything
        handed over (parts stay open). Does not raise: see :meth:`raise_if_failed`."""
        self._control(_SYNC)

    def flush(self) -> None:
        """Write everything logged so far, close the open parts and rename them into place."""
        self._control(_FLUSH)
        self.raise_if_failed()

    def close(self) -> None:
        """Flush, then stop the thread and drop the slabs."""
        try:
            self.flush()
        finally:
            if self._thread.is_alive():
                self._queue.put((_STOP, None))
                self._thread.join()
            self._current = None
            while True:
                try:
                    self._free.get_nowait()
                except queue.Empty:
                    break

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _control(self, what) -> None:
        with self.lock:
            self._submit()
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put((what, done))
            while not done.wait(0.5):
                if not self._thread.is_alive():
                    break

    def _submit(self) -> None:
        """Hand the slab being filled to the writer thread (with the lock held)."""
        slab, self._current = self._current, None
        if slab is None:
            return
        if slab.rows:
            self._queue.put(slab)
        else:
            slab.release()
            self._free.put(slab)

    def _take(self) -> _Slab:
        """A free slab: a recycled one, a new one while fewer than ``slabs`` exist, else wait."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._made < self.slabs:
            self._made += 1
            return _Slab()
        while True:
            try:
                return self._free.get(timeout=0.5)
            except queue.Empty:
                self.raise_if_failed()
                if not self._thread.is_alive():
                    raise WriterError(
                        "The background writer stopped; model outputs cannot be logged to this writer."
                    ) from None

    # -- writer thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        self._fallocate = _fallocate_fn()
        while True:
            item = self._queue.get()
            if isinstance(item, _Slab):
                try:
                    self._guard(self._write, item)
                finally:
                    self._recycle(item)
                continue
            what, done = item
            if what is not _SYNC:
                self._guard(self._close_parts)
            if done is not None:
                done.set()
            if what is _STOP:
                return

    def _recycle(self, slab: _Slab) -> None:
        if slab.buf is not None and slab.buf.nbytes > 2 * self.slab_bytes:
            slab.buf = slab.arrow = None  # grown for one large batch: give the memory back
        slab.release()
        self._free.put(slab)

    def _guard(self, fn, *args) -> None:
        """Run ``fn``; keep the first failure for the caller's thread (re-raised on its next call)."""
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - kept and re-raised on the caller's thread
            if self._error is None:
                self._error = e

    def _write(self, slab: _Slab) -> None:
        """Append the filled rows of ``slab`` to the open part of its folder as one record batch.

        After a failure, drop them unwritten.
        """
        if self._error is not None or not slab.rows:
            return
        key = slab.key
        part = self._parts.get(key)
        batch, nbytes = self._batch(slab, None if part is None else part.schema)
        if part is None:
            self._counter += 1
            name = f"part-{self.session}-{self._counter:05d}{S.OUTPUT_PART_SUFFIX}"
            part = self._parts[key] = _Part(key[0], name, batch.schema, self._fallocate)
        part.write(batch, nbytes)
        del batch
        if part.bytes >= self.part_bytes:
            del self._parts[key]
            part.close()

    @staticmethod
    def _batch(slab: _Slab, schema) -> tuple:
        """The filled rows of ``slab`` as a record batch, and their size in bytes.

        With integer ids, the batch over all of a slab's rows is made once per layout and kept on
        the slab (a slice of it goes out for a partly filled slab): making and freeing a batch
        per slab holds the GIL for tens of microseconds on this thread, which the caller's thread,
        in the middle of a call, would wait for.
        """
        ids, embs, logits = slab.columns()
        nbytes = ids.nbytes + logits.nbytes + (0 if embs is None else embs.nbytes)
        if slab.str_ids is not None:
            return make_batch(ids, embs, logits, schema), nbytes
        layout = (slab.key[1:], slab.capacity, slab.buf.ctypes.data)  # not the folder: any will do
        if slab.arrow is None or slab.arrow[0] != layout:
            slab.arrow = (layout, make_batch(slab.ids, slab.embs, slab.logits, schema))
        full = slab.arrow[1]
        return (full if slab.rows == slab.capacity else full.slice(0, slab.rows)), nbytes

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
