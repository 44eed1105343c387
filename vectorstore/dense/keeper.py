"""Keeping the dense index in step with the store: a FAISS file.

SQLite is the source of truth; the dense index is derived from its embeddings and stamped
with the store generation it reflects. A keeper applies this process's own writes
cheaply, and rebuilds from SQLite whenever its stamp is behind (another process wrote, a
process died between its commit and its index write, a file was damaged).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vectorstore.dense import index_kinds
from vectorstore.dense.faiss_index import DenseBackend, DenseIndex
from vectorstore.dense.index_kinds import IndexChoice

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger("ragqa")

INDEX_FILE = "dense.faiss"

Added = list[tuple[int, "NDArray[np.float32]"]]


class StoreSide(Protocol):
    """What a keeper reads of the store it keeps an index for."""

    folder: Path
    read_only: bool

    @property
    def dimension(self) -> int | None: ...

    def generation(self) -> int: ...

    def snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        """The thread's connection inside one read transaction: rows and generation agree."""
        ...

    def sample_embeddings(self, size: int, seed: int = 0) -> NDArray[np.float32]: ...

    def writer(self, on_wait: Callable[[], None] | None = None) -> AbstractContextManager[None]: ...


class DenseKeeper(Protocol):
    """The dense index of one store, kept as of the store's generation."""

    def index(self) -> DenseBackend | None: ...

    def apply(self, generation: int, removed: list[int], added: Added) -> None:
        """This process's own write, which made `generation`; the caller holds the write
        lock."""
        ...

    def rebuild(self) -> None:
        """From SQLite's embeddings, now; the caller holds the write lock."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def _apply(index: DenseBackend, removed: list[int], added: Added) -> None:
    index.remove(np.array(removed, dtype=np.int64))
    if added:
        ids = np.array([i for i, _ in added], dtype=np.int64)
        index.add(ids, np.stack([v for _, v in added]).astype(np.float32))


def _rows(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes]]:
    return iter(conn.execute("SELECT id, embedding FROM chunks ORDER BY id"))


class FaissKeeper:
    """A FAISS index in memory, saved beside the database; its kind follows the store's
    size (exact while small, IVF when large: index_kinds.py)."""

    def __init__(self, store: StoreSide, kind: IndexChoice, flat_max: int) -> None:
        self._store = store
        self._kind: IndexChoice = kind
        self._flat_max = flat_max
        self._lock = threading.RLock()
        self._index: DenseIndex | None = None

    def index(self) -> DenseIndex | None:
        """Rebuilt if stale or if the store has grown or shrunk out of its kind (checked
        here, so on every load, before every save, and on the first search after a write
        that crossed a threshold)."""
        if self._store.dimension is None:
            return None
        with self._lock:
            gen = self._store.generation()
            if self._index is not None and self._index.generation == gen:
                if self._suits(self._index):
                    return self._index
            self._index = None  # freed before any rebuild: a large flat index is GBs
            loaded = DenseIndex.load(self._path, self._store.dimension)
            if loaded is not None and (loaded.generation != gen or not self._suits(loaded)):
                loaded = None
            if loaded is None:
                loaded = self._build()
            self._index = loaded
            return loaded

    def apply(self, generation: int, removed: list[int], added: Added) -> None:
        with self._lock:
            index = self._index
            if index is None or index.generation != generation - 1:
                return  # another process wrote too: rebuilt from SQLite on next use
            index.generation = -1  # until the writes below are all done
            _apply(index, removed, added)
            index.generation = generation

    def rebuild(self) -> None:
        with self._lock:
            self._index = None
            # Built from SQLite, never loaded: the saved file is what may be damaged.
            self._index = self._build()
            self._index.save(self._path)

    def flush(self) -> None:
        """Save the index so the next start need not rebuild it."""
        index = self.index()
        if index is not None:
            with self._lock:
                try:
                    index.save(self._path)
                except (OSError, RuntimeError):
                    pass  # derived data: a failed save only costs a rebuild on next open

    def close(self) -> None:
        pass

    @property
    def _path(self) -> Path:
        return self._store.folder / INDEX_FILE

    def _suits(self, index: DenseIndex) -> bool:
        return index_kinds.suits(
            index.kind, index.built_for, len(index), self._kind, self._flat_max
        )

    def _build(self) -> DenseIndex:
        dimension = self._store.dimension
        assert dimension is not None
        with self._store.snapshot() as conn:
            count = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            kind = index_kinds.choose(self._kind, count, self._flat_max)
            size = index_kinds.training_size(kind, count)
            training = self._store.sample_embeddings(size) if size else None
            index = DenseIndex.from_rows(_rows(conn), dimension, kind, count, training)
            index.generation = self._store.generation()
        return index
