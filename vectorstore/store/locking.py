"""The store's write lock: one writer at a time, across threads and processes alike."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class WriteLock:
    """A file lock (other processes) behind a thread lock (this one), re-entrant per thread,
    so a bulk ingest can hold it across many transactions."""

    def __init__(self, path: Path) -> None:
        self._thread_lock = threading.Lock()
        self._file_lock = FileLock(str(path))
        self._local = threading.local()

    @property
    def held(self) -> bool:
        return bool(getattr(self._local, "held", False))

    @contextmanager
    def hold(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock; `on_wait` is called once if another writer has it first."""
        if self.held:
            yield
            return
        with self._thread_lock:
            try:
                self._file_lock.acquire(timeout=0)
            except Timeout:
                if on_wait is not None:
                    on_wait()
                self._file_lock.acquire()
            self._local.held = True
            try:
                yield
            finally:
                self._local.held = False
                self._file_lock.release()
