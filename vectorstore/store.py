"""The Store: SQLite (documents, chunks, embeddings, FTS5) as the source of truth + a dense
index derived from it (FAISS, or a Milvus collection)."""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vectorstore import bm25, index_kinds, keywords
from vectorstore.dense import DenseBackend, DenseIndex
from vectorstore.faults import explain, is_read_only, on_read_only_mount, read_only_error
from vectorstore.index_kinds import IndexChoice
from vectorstore.locking import WriteLock
from vectorstore.queries import StoreQueries
from vectorstore.schema import COVERAGE_TABLE, DDL, SCHEMA_VERSION, connect, meta_value
from vectorstore.term_counts import FrequentTerms
from vectorstore.term_scores import TermScores
from vectorstore.types import (
    EmbeddingMismatchError,
    NewChunk,
    StoreError,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from vectorstore.milvus_dense import MilvusDense

DenseBackendName = Literal["faiss", "milvus"]

log = logging.getLogger("ragqa")

DB_FILE = "store.sqlite3"
INDEX_FILE = "dense.faiss"
# How long close() waits for a background read of the term counts (0.6 s at 100k chunks).
CLOSE_WAIT_S = 10.0


@dataclass(frozen=True)
class DocumentWrite:
    """A whole document to write: it replaces any stored document with the same id."""

    id: str
    source: str
    title: str | None
    content_hash: str
    metadata: dict[str, Any]
    chunks: Sequence[NewChunk]
    embeddings: NDArray[np.float32]
    # Kept as given by `ragqa import`, so a restored store says when each was ingested.
    ingested_at: str | None = None
    # Each chunk's vocabulary coverage (vectorstore/vocab_coverage.py); None: worked out when
    # a search first needs it.
    coverage: Sequence[float] | None = None


class Store(StoreQueries):
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
        dense_backend: DenseBackendName = "faiss",
        milvus_uri: str = "",
        milvus_token: str = "",
        milvus_collection: str = "ragqa_chunks",
    ) -> None:
        """`index_kind` picks the FAISS index (`auto`: exact below `flat_max` vectors).
        `dense_backend="milvus"` searches a Milvus collection instead: Milvus Lite in the
        store folder when `milvus_uri` is empty, else the server at that URI. Nothing
        connects to Milvus until the first search or write needs it."""
        self.folder = Path(folder)
        self.dense_backend: DenseBackendName = dense_backend
        self._milvus_options = {
            "uri": milvus_uri,
            "token": milvus_token,
            "collection": milvus_collection,
        }
        self._milvus: MilvusDense | None = None
        self._milvus_builds = 0  # rebuilds so far: a thread that waited on another's skips its own
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
        self._index_lock = threading.RLock()
        self._index: DenseIndex | None = None
        self._term_scores = TermScores()
        self._row_lengths = bm25.RowLengths()
        self._frequent_terms = FrequentTerms(self._read_frequent_terms)
        self._init_schema()
        self.dimension = self._check_model(dimension)
        self._check_analyzer()

    # -- connections and metadata -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.instances = bm25.open_instances(conn)
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

    def _check_model(self, dimension: int | None) -> int | None:
        stored = self._meta("embedding_model")
        if stored is not None and stored != self.embedding_model:
            raise EmbeddingMismatchError(
                f"the store at {self.folder} was built with embedding model {stored!r}, "
                f"not {self.embedding_model!r}. Set RAGQA_EMBEDDING_MODEL={stored} to use it, "
                f"or rebuild it for the new model: delete {self.folder} (or pick another "
                "--store folder) and run `ragqa ingest` again."
            )
        stored_dim = self._meta("embedding_dimension")
        if stored_dim is not None:
            if dimension is not None and int(stored_dim) != dimension:
                raise EmbeddingMismatchError(
                    f"the store at {self.folder} holds {stored_dim}-d vectors but the embedder "
                    f"makes {dimension}-d ones; delete the folder and re-ingest"
                )
            return int(stored_dim)
        return dimension

    def _check_analyzer(self) -> None:
        """Rebuild the keyword index if it was made by another version of the analyzer:
        it is derived from the chunk text, like the FAISS index."""
        if self._meta("analyzer_version") == keywords.VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"the store at {self.folder} needs its keyword index rebuilt for this version "
                "of ragqa, and it is read-only: open it once where it is writable"
            )
        self._tx(self._rebuild_keywords)

    def _rebuild_keywords(self, conn: sqlite3.Connection) -> None:
        # Dropped, not emptied: the columns may have changed with the version.
        conn.execute("DROP TABLE IF EXISTS chunks_vocab")
        conn.execute("DROP TABLE IF EXISTS chunks_fts")
        for statement in keywords.CREATE:  # not executescript: it would commit
            conn.execute(statement)
        rows = conn.execute(
            "SELECT document_id, id, context, text FROM chunks ORDER BY document_id, ord"
        ).fetchall()
        for _, group in itertools.groupby(rows, key=lambda r: r[0]):
            chunks = [(r[1], r[2], r[3]) for r in group]
            conn.executemany(keywords.INSERT, keywords.rows(chunks))
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('analyzer_version', ?)", (keywords.VERSION,)
        )
        # Rows keep their ids but not their lengths: readers' kept lengths are stale.
        conn.execute(
            "INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE"
            " SET value = CAST(value AS INTEGER) + 1",
            (bm25.EPOCH_KEY,),
        )

    def rebuild_indexes(self) -> None:
        """Rebuild the keyword index and the saved FAISS file from the chunk rows
        (`ragqa check --repair`). The generation bump makes every reader drop its cached
        FAISS copy and term counts, which were derived from the old indexes."""
        with self.writer():
            self._tx(self._rebuild_keywords)
            if self.dimension is None:
                return  # nothing embedded yet: no dense index to build
            if self.dense_backend == "milvus":
                with self._index_lock:
                    self._fill_milvus(self._open_milvus())
                return
            with self._index_lock:
                self._index = None
                # Built from SQLite, never loaded: the saved file is what may be damaged.
                self._index = self._rebuild_index()
                self._index.save(self.folder / INDEX_FILE)

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
                conn.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.id,
                        doc.source,
                        doc.title,
                        doc.content_hash,
                        json.dumps(doc.metadata, ensure_ascii=False),
                        len(doc.chunks),
                        doc.ingested_at or now,
                    ),
                )
                indexed: list[tuple[int, str, str]] = []
                for ord_, (chunk, vec) in enumerate(zip(doc.chunks, doc.embeddings, strict=True)):
                    cur = conn.execute(
                        "INSERT INTO chunks (document_id, ord, text, context, metadata, embedding)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            doc.id,
                            ord_,
                            chunk.text,
                            chunk.context,
                            json.dumps(chunk.metadata, ensure_ascii=False),
                            np.asarray(vec, np.float32).tobytes(),
                        ),
                    )
                    row_id = int(cur.lastrowid or 0)
                    indexed.append((row_id, chunk.context, chunk.text))
                    added.append((row_id, vec))
                conn.executemany(keywords.INSERT, keywords.rows(indexed))
                if doc.coverage is not None:
                    ids = [row_id for row_id, _, _ in indexed]
                    conn.executemany(
                        "INSERT INTO chunk_coverage (id, known) VALUES (?, ?)",
                        zip(ids, doc.coverage, strict=True),
                    )

        # One lock across both: no rebuild of a Milvus collection (which other processes
        # share) may run between this commit and this write to it.
        with self._writing():
            gen = self._tx(body)
            self._apply_to_index(gen, removed, added)

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document and its chunks; False (and no write at all) if it is unknown."""
        if self.get_info(doc_id) is None:
            return False
        removed: list[int] = []
        with self._writing():
            gen = self._tx(lambda conn: removed.extend(self._delete_rows(conn, doc_id)))
            self._apply_to_index(gen, removed, [])
        return True

    def _delete_rows(self, conn: sqlite3.Connection, doc_id: str) -> list[int]:
        ids = [
            int(r[0])
            for r in conn.execute("SELECT id FROM chunks WHERE document_id = ?", (doc_id,))
        ]
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
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
        conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('embedding_model', ?)", (self.embedding_model,)
        )
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('embedding_dimension', ?)", (str(dim),))

    # -- the dense index ------------------------------------------------------------------

    def _apply_to_index(
        self, gen: int, removed: list[int], added: list[tuple[int, NDArray[np.float32]]]
    ) -> None:
        """Keep the dense index in step with this process's own writes, cheaply. A Milvus
        write that fails, or a process that dies before it, leaves the collection's record
        behind SQLite: the next use rebuilds it from SQLite, where the write is safe."""
        with self._index_lock:
            index: DenseBackend | None = self._index
            if self._milvus is not None:
                index = self._milvus
            if index is None or index.generation != gen - 1:
                return  # another process wrote too: rebuilt from SQLite on next use
            index.generation = -1  # until the writes below are all done
            try:
                index.remove(np.array(removed, dtype=np.int64))
                if added:
                    ids = np.array([i for i, _ in added], dtype=np.int64)
                    index.add(ids, np.stack([v for _, v in added]).astype(np.float32))
            except Exception as exc:
                if self._milvus is None:
                    raise
                # The documents are committed to SQLite, so the write succeeded; the
                # collection, left unrecorded, is rebuilt from SQLite on next use.
                log.warning("Milvus write failed (%s); the collection will be rebuilt", exc)
                return
            if self._milvus is not None:
                self._milvus.record(gen)
            else:
                index.generation = gen

    def dense_index(self) -> DenseBackend | None:
        """The dense index as of the database's current generation. FAISS: rebuilt if
        stale or if the store has grown or shrunk out of its kind (checked here, so on every
        load and before every save, and the first search after a write that crossed a
        threshold). Milvus: see _milvus_index."""
        if self.dimension is None:
            return None
        if self.dense_backend == "milvus":
            return self._milvus_index()
        return self._faiss_index()

    def _faiss_index(self) -> DenseIndex | None:
        if self.dimension is None:
            return None
        with self._index_lock:
            gen = self.generation()
            if self._index is not None and self._index.generation == gen:
                if self._suits(self._index):
                    return self._index
            self._index = None  # freed before any rebuild: a flat one of 1M vectors is 1.5 GB
            loaded = DenseIndex.load(self.folder / INDEX_FILE, self.dimension)
            if loaded is not None and (loaded.generation != gen or not self._suits(loaded)):
                loaded = None
            if loaded is None:
                loaded = self._rebuild_index()
            self._index = loaded
            return loaded

    def _suits(self, index: DenseIndex) -> bool:
        return index_kinds.suits(
            index.kind, index.built_for, len(index), self.index_kind, self.flat_max
        )

    def _rebuild_index(self) -> DenseIndex:
        assert self.dimension is not None
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot: the rows and the generation agree
        try:
            count = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
            kind = index_kinds.choose(self.index_kind, count, self.flat_max)
            size = index_kinds.training_size(kind, count)
            training = self.sample_embeddings(size) if size else None
            index = DenseIndex.from_rows(
                conn.execute("SELECT id, embedding FROM chunks ORDER BY id"),
                self.dimension,
                kind,
                count,
                training,
            )
            index.generation = self.generation()
        finally:
            conn.execute("COMMIT")
        return index

    # -- the Milvus collection ----------------------------------------------------------

    def _open_milvus(self) -> MilvusDense:
        from vectorstore.milvus_dense import MilvusDense

        assert self.dimension is not None
        if self._milvus is None:
            self._milvus = MilvusDense(self.folder, self.dimension, **self._milvus_options)
        return self._milvus

    def _milvus_index(self) -> MilvusDense:
        """The Milvus collection, rebuilt from SQLite when its record is behind the store's
        generation (a process died between a commit and its Milvus write) or, on first
        use, when it holds another number of vectors than SQLite has chunks (it was
        changed or emptied behind the store's back)."""
        with self._index_lock:
            opened = self._milvus is None
            index = self._open_milvus()
            gen = self.generation()
            if index.generation != gen:
                index.generation = index.recorded()  # another process may have caught up
            current = index.generation == gen
            if current and not (opened and len(index) != self._chunk_count()):
                return index
            builds = self._milvus_builds
        if self.read_only:
            return index  # nothing here may change: searched as it is
        # Another process writing brings the collection up to date as it goes: search it
        # as it is rather than wait, unless there is none yet to search.
        on_wait = _writer_busy if index.exists() else None
        try:
            # The write lock before the index lock, as writers take them.
            with self._writing(on_wait=on_wait), self._index_lock:
                if self._milvus_builds == builds:
                    self._fill_milvus(index)
        except _WriterBusy:
            pass
        return index

    def _chunk_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _fill_milvus(self, index: MilvusDense) -> None:
        """Rebuild the collection from SQLite's embeddings; the caller holds the write lock."""
        self._milvus_builds += 1
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot: the rows and the generation agree
        try:
            gen = self.generation()
            index.rebuild(conn.execute("SELECT id, embedding FROM chunks ORDER BY id"))
        finally:
            conn.execute("COMMIT")
        index.record(gen)

    def flush(self) -> None:
        """Save the dense index so the next start need not rebuild it."""
        if self.dense_backend == "milvus":
            if self.dimension is None:
                return
            try:
                self._milvus_index().flush()
            except StoreError as exc:
                # Milvus Lite admits one process: an ingest beside a running server leaves
                # the collection to the server, which rebuilds it on its next search.
                log.warning("the Milvus collection was not updated: %s", exc)
            return
        index = self._faiss_index()
        if index is not None:
            with self._index_lock:
                try:
                    index.save(self.folder / INDEX_FILE)
                except (OSError, RuntimeError):
                    pass  # derived data: a failed save only costs a rebuild on next open

    def close(self) -> None:
        # A background read of the term counts has a connection of its own: closed before
        # this returns, so a closed store's files stay as they are (its last connection to
        # close checkpoints the WAL and removes it).
        self._frequent_terms.wait(CLOSE_WAIT_S)
        if self._milvus is not None:
            with self._index_lock:
                self._milvus.close()  # Milvus Lite's file lock goes with the last client
                self._milvus = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _WriterBusy(Exception):
    """Another process holds the write lock (raised from WriteLock's on_wait)."""


def _writer_busy() -> None:
    raise _WriterBusy
