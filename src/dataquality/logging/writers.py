"""The lifecycle of a run's background output writer: started on the first batch, restarted
after it was closed, flushed, closed at ``finish()``, ``fail()`` or interpreter exit."""

from __future__ import annotations

import atexit
import sys
import threading

from ..core.writer import OutputWriter


class WriterHandle:
    """The current :class:`~dataquality.core.writer.OutputWriter` of a session, if any.

    Parameters
    ----------
    session : str
        The session token; each writer gets ``<session>-w<n>``, so a new writer's parts never
        take the names of an earlier writer's.
    lock : threading.RLock
        The run's lock, shared with the writer: a batch takes one lock, not two.
    name : str
        The run's name, for the message of a failure at exit.
    """

    __slots__ = ("session", "lock", "name", "writer", "_generation", "_at_exit_registered")

    def __init__(self, session: str, lock: threading.RLock, name: str) -> None:
        self.session, self.lock, self.name = session, lock, name
        self.writer: OutputWriter | None = None
        self._generation = 0
        self._at_exit_registered = False

    def get(self) -> OutputWriter:
        """The live writer, started (or restarted, after it was closed) as needed."""
        w = self.writer
        if w is None or not w.alive:
            self._generation += 1
            w = self.writer = OutputWriter(f"{self.session}-w{self._generation}", lock=self.lock)
            if not self._at_exit_registered:
                atexit.register(self.close_at_exit)
                self._at_exit_registered = True
        return w

    def raise_if_failed(self) -> None:
        if self.writer is not None:
            self.writer.raise_if_failed()

    def flush(self) -> None:
        """Write everything handed over so far; parts are closed and renamed into place."""
        if self.writer is not None:
            self.writer.flush()

    def close(self, *, quiet: bool = False) -> None:
        """Flush and stop the writer (``quiet``: swallow a failure, for a run marked failed)."""
        if self.writer is not None and self.writer.alive:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - raised unless the caller has a better error to show
                if not quiet:
                    raise

    def forget_exit(self) -> None:
        """Nothing is left to write at exit: drop the exit hook."""
        if self._at_exit_registered:
            atexit.unregister(self.close_at_exit)
            self._at_exit_registered = False

    def close_at_exit(self) -> None:
        """Close open parts at interpreter exit so logged outputs are not left half-written."""
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as e:  # noqa: BLE001 - exiting; say it, do not hide it
                print(f"dataquality: writing model outputs of {self.name} at exit failed: {e}", file=sys.stderr)
