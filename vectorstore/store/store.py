"""The Store: SQLite (documents, chunks, embeddings, FTS5) as the source of truth + a FAISS
index derived from it."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.dense import index_kinds
from vectorstore.dense.faiss_index import DenseBackend
from vectorstore.dense.index_kinds import IndexChoice
from vectorstore.dense.keeper import INDEX_FILE, DenseKeeper, FaissKeeper
from vectorstore.keyword import columns
from vectorstore.keyword.index import KeywordIndex
from vectorstore.store import identity, reads, rows
from vectorstore.store.faults import explain, is_read_only, on_read_only_mount, read_only_error
from vectorstore.store.locking import WriteLock
from vectorstore.store.rows import DocumentWrite
from vectorstore.store.schema import COVERAGE_TABLE, DDL, SCHEMA_VERSION, connect, meta_value
from vectorstore.types import (
    DocumentInfo,
    EmbeddingMismatchError,
    StoredChunk,
    StoreError,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger("ragqa")

DB_FILE = "store.sqlite3"
__all__ = ["DB_FILE", "INDEX_FILE", "DocumentWrite", "Store"]


class Store:
    """Documents and chunks on disk, searchable by vector and by keyword.

    One writer at a time across processes (a file lock); readers never block and see
    each document either before or after a write, never half-way.
    """

    def __init__(
        self,
        folder: Path,
        embedding_model: str,
        dimension: int | None = None,
        index_kind: IndexChoice = "auto",
        flat_max: int = index_kinds.FLAT_MAX,
    ) -> None:
        """`index_kind` picks the FAISS index (`auto`: exact below `flat_max` vectors)."""
        self.folder = Path(folder)
        self.embedding_model = embedding_model
        self.index_kind: IndexChoice = index_kind
        self.flat_max = flat_max
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {self.folder}: {exc}") from exc
        # A read-only folder (a read-only volume, a store baked into an image) is served for
        # search; every write fails with a StoreError that says so. On a read-only mount the
        # database cannot change under us, which lets SQLite read it without a -shm file.
        self.read_only = is_read_only(self.folder)
        self._immutable = self.read_only and on_read_only_mount(self.folder)
        self._local = threading.local()
        self._lock = WriteLock(self.folder / "write.lock")
        self.keywords = KeywordIndex(self._conn, self._connect, self.generation)
        self.dense: DenseKeeper = FaissKeeper(self, index_kind, flat_max)
        self._init_schema()
        self.dimension = identity.check_model(self._conn(), self.folder, embedding_model, dimension)
        self._check_analyzer()

    # -- connections and metadata -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self.keywords.attach(conn)
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        return connect(self.folder / DB_FILE, readonly=self.read_only, immutable=self._immutable)

    def _init_schema(self) -> None:
        """Create the tables once. An existing store is opened without the write lock, so a
        reader (the server, `ragqa search`) starts even while a bulk ingest is writing."""
        if self.read_only and not (self.folder / DB_FILE).exists():
            raise StoreError(f"{self.folder} holds no store, and a store cannot be made there")
        try:
            if self._has_schema():
                if not self.read_only:
                    self._conn().execute(COVERAGE_TABLE)  # added since the store was made
                return
            with self._writing():
                conn = self._conn()
                conn.executescript(DDL)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
        except sqlite3.DatabaseError as exc:
            # A full disk fails the open too (SQLite needs room for its -shm file): say so,
            # rather than call a sound database unusable.
            raise explain(self.folder, exc) or StoreError(
                f"{self.folder / DB_FILE} is not a usable database: {exc}"
            ) from exc

    def _has_schema(self) -> bool:
        try:
            return self._meta("schema_version") == SCHEMA_VERSION
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a new store
                return False
            raise

    def _meta(self, key: str) -> str | None:
        return meta_value(self._conn(), key)

    def _check_analyzer(self) -> None:
        """Rebuild the keyword index if it was made by another version of the analyzer:
        it is derived from the chunk text, like the FAISS index."""
        if self._meta("analyzer_version") == columns.VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"the store at {self.folder} needs its keyword index rebuilt for this version "
                "of ragqa, and it is read-only: open it once where it is writable"
            )
        self._tx(self.keywords.rebuild)

    def rebuild_indexes(self) -> None:
        """Rebuild the keyword index and the saved FAISS file from the chunk rows
        (`ragqa check --repair`). The generation bump makes every reader drop its cached
        FAISS copy and term counts, which were derived from the old indexes."""
        with self.writer():
            self._tx(self.keywords.rebuild)
            if self.dimension is None:
                return  # nothing embedded yet: no dense index to build
            self.dense.rebuild()

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    def save_note(self, key: str, value: str) -> None:
        """Keep a small annotation (the latest eval summary) without touching the content
        generation, so no index is rebuilt because of it."""
        with self._writing():
            try:
                self._conn().execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"note:{key}", value)
                )
            except sqlite3.OperationalError as exc:
                raise self._write_failed(exc) from exc

    def note(self, key: str) -> str | None:
        return self._meta(f"note:{key}")

    # -- writing --------------------------------------------------------------------------

    def writer(self, on_wait: Callable[[], None] | None = None) -> AbstractContextManager[None]:
        """Hold the write lock across many writes (a bulk ingest); `on_wait` is called once
        if another writer holds it."""
        return self._writing(on_wait)

    @contextmanager
    def _writing(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the write lock, or fail with a StoreError that says why the store cannot
        be written (read-only, disk full) before anything is embedded or written."""
        if self.read_only:
            raise read_only_error(self.folder)
        with ExitStack() as stack:
            try:
                stack.enter_context(self._lock.hold(on_wait))
            except OSError as exc:  # the lock file cannot be created
                raise self._write_failed(exc) from exc
            yield

    def _write_failed(self, exc: BaseException) -> StoreError:
        return explain(self.folder, exc) or StoreError(
            f"cannot write to the store at {self.folder}: {exc}"
        )

    def _tx(self, body: Callable[[sqlite3.Connection], None]) -> int:
        """Run `body` in one write transaction that also bumps the generation."""

        def run() -> int:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                body(conn)
                gen = self.generation() + 1
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(gen),))
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (it does on SQLITE_FULL): a second
                # ROLLBACK would fail, and its error would hide why the write failed.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return gen

        with self._writing():
            try:
                return run()
            except sqlite3.OperationalError as exc:
                raise self._write_failed(exc) from exc

    def write_documents(self, docs: Sequence[DocumentWrite]) -> None:
        """Insert or replace documents, all in one transaction."""
        removed: list[int] = []
        added: list[tuple[int, NDArray[np.float32]]] = []

        def body(conn: sqlite3.Connection) -> None:
            self._record_model(conn, docs)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            for doc in docs:
                removed.extend(self._delete_rows(conn, doc.id))
                written = rows.insert_document(conn, doc, now)
                self.keywords.add(conn, [(row, context, text) for row, context, text, _ in written])
                added.extend((row, vec) for row, _, _, vec in written)

        # One lock across both: no rebuild may run between this commit and this write.
        with self._writing():
            gen = self._tx(body)
            self.dense.apply(gen, removed, added)

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document and its chunks; False (and no write at all) if it is unknown."""
        if self.get_info(doc_id) is None:
            return False
        removed: list[int] = []
        with self._writing():
            gen = self._tx(lambda conn: removed.extend(self._delete_rows(conn, doc_id)))
            self.dense.apply(gen, removed, [])
        return True

    def _delete_rows(self, conn: sqlite3.Connection, doc_id: str) -> list[int]:
        ids = rows.chunk_ids(conn, doc_id)
        self.keywords.remove(conn, ids)
        rows.delete_document(conn, doc_id)
        return ids

    def _record_model(self, conn: sqlite3.Connection, docs: Sequence[DocumentWrite]) -> None:
        dims = {d.embeddings.shape[1] for d in docs if len(d.embeddings)}
        if not dims:
            return
        dim = dims.pop()
        if self.dimension is not None and dim != self.dimension:
            raise EmbeddingMismatchError(
                f"vectors of {dim} dimensions in a {self.dimension}-d store"
            )
        self.dimension = dim
        identity.record_model(conn, self.embedding_model, dim)

    # -- the dense index ------------------------------------------------------------------

    def dense_index(self) -> DenseBackend | None:
        """The dense index as of the database's current generation (dense/keeper.py)."""
        return self.dense.index()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """The thread's connection inside one read transaction: rows and generation agree."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def flush(self) -> None:
        """Save the dense index so the next start need not rebuild it."""
        self.dense.flush()

    def close(self) -> None:
        # A background read of the term counts has a connection of its own: closed before
        # this returns, so a closed store's files stay as they are (its last connection to
        # close checkpoints the WAL and removes it).
        self.keywords.close()
        self.dense.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reading --------------------------------------------------------------------------

    def get_info(self, doc_id: str) -> DocumentInfo | None:
        return reads.get_info(self._conn(), doc_id)

    def get_chunks(self, doc_id: str) -> list[StoredChunk]:
        return reads.get_chunks(self._conn(), doc_id)

    def sweep_orphans(self, older_than_s: float = 0.0) -> int:
        """None to sweep: a write is one transaction."""
        return 0

    def incomplete(self) -> set[str]:
        """None: a document and its chunks are written in one transaction."""
        return set()

    def list_documents(self, offset: int = 0, limit: int = 100) -> tuple[list[DocumentInfo], int]:
        return reads.list_documents(self._conn(), offset, limit)

    def all_documents(self) -> dict[str, DocumentInfo]:
        """Every stored document by id, in one query (ingest compares hashes against it)."""
        return reads.all_documents(self._conn())

    def stats(self) -> dict[str, Any]:
        documents, chunks = reads.counts(self._conn())
        return {
            "documents": documents,
            "chunks": chunks,
            "embedding_model": self.embedding_model,
            "embedding_dimension": self.dimension,
            "store_path": str(self.folder),
            "store_bytes": sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file()),
            "generation": self.generation(),
        }

    def fetch_chunks(self, row_ids: Sequence[int]) -> dict[int, tuple[StoredChunk, DocumentInfo]]:
        return reads.fetch_chunks(self._conn(), row_ids)

    def stored_coverage(self, row_ids: Sequence[int]) -> dict[int, float]:
        return reads.stored_coverage(self._conn(), row_ids)

    def embeddings(self, row_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        return reads.embeddings(self._conn(), row_ids)

    def sample_embeddings(self, size: int, seed: int = 0) -> NDArray[np.float32]:
        return reads.sample_embeddings(self._conn(), size, seed)

    # -- keyword search (keyword/index.py) -------------------------------------------------

    def lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        return self.keywords.lexical(query, limit)

    def keyword_terms(self, row_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        return self.keywords.chunk_terms(row_ids)

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return self.keywords.document_frequencies(terms)

    def warm_keywords(self) -> None:
        self.keywords.warm()
