"""The Store: SQLite (documents, chunks, embeddings, FTS5) as the source of truth + FAISS."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from vectorstore import analyzer
from vectorstore.dense import DenseIndex
from vectorstore.schema import DDL, SCHEMA_VERSION, connect
from vectorstore.types import (
    DocumentInfo,
    EmbeddingMismatchError,
    NewChunk,
    StoredChunk,
    StoreError,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

DB_FILE = "store.sqlite3"
INDEX_FILE = "dense.faiss"


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


class Store:
    """Documents and chunks on disk, searchable by vector and by keyword.

    One writer at a time across processes (a file lock); readers never block and see
    each document either before or after a write, never half-way.
    """

    def __init__(self, folder: Path, embedding_model: str, dimension: int | None = None) -> None:
        self.folder = Path(folder)
        self.embedding_model = embedding_model
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {self.folder}: {exc}") from exc
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._file_lock = FileLock(str(self.folder / "write.lock"))
        self._index_lock = threading.RLock()
        self._index: DenseIndex | None = None
        self._init_schema()
        self.dimension = self._check_model(dimension)
        self._check_analyzer()

    # -- connections and metadata -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.folder / DB_FILE)
            self._local.conn = conn
        return conn

    def _init_schema(self) -> None:
        """Create the tables once. An existing store is opened without the write lock, so a
        reader (the server, `ragqa search`) starts even while a bulk ingest is writing."""
        try:
            if self._has_schema():
                return
            with self._writing(wait=None):
                conn = self._conn()
                conn.executescript(DDL)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.folder / DB_FILE} is not a usable database: {exc}") from exc

    def _has_schema(self) -> bool:
        try:
            return self._meta("schema_version") == SCHEMA_VERSION
        except sqlite3.OperationalError:  # no such table: a new store
            return False

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

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
        if self._meta("analyzer_version") == analyzer.VERSION:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM chunks_fts")
            rows = conn.execute("SELECT id, context, text FROM chunks").fetchall()
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, terms) VALUES (?, ?)",
                [
                    (r[0], " ".join(analyzer.terms(f"{r[1]}\n{r[2]}" if r[1] else r[2])))
                    for r in rows
                ],
            )
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('analyzer_version', ?)", (analyzer.VERSION,)
            )

        self._tx(body)

    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    # -- writing --------------------------------------------------------------------------

    @contextmanager
    def _writing(self, wait: Callable[[], None] | None) -> Iterator[None]:
        """Hold the store's write lock; `wait` is called once if another writer has it."""
        with self._write_lock:
            try:
                self._file_lock.acquire(timeout=0)
            except Timeout:
                if wait is not None:
                    wait()
                self._file_lock.acquire()
            try:
                yield
            finally:
                self._file_lock.release()

    @contextmanager
    def writer(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the write lock across many writes (a bulk ingest), re-entrantly."""
        with self._writing(on_wait):
            self._local.holding = True
            try:
                yield
            finally:
                self._local.holding = False

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
                conn.execute("ROLLBACK")
                raise
            return gen

        try:
            if getattr(self._local, "holding", False):
                return run()
            with self._writing(wait=None):
                return run()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to the store at {self.folder}: {exc}") from exc

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
                        now,
                    ),
                )
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
                    terms = " ".join(analyzer.terms(chunk.indexed_text))
                    conn.execute(
                        "INSERT INTO chunks_fts (rowid, terms) VALUES (?, ?)", (row_id, terms)
                    )
                    added.append((row_id, vec))

        gen = self._tx(body)
        self._apply_to_index(gen, removed, added)

    def delete_document(self, doc_id: str) -> bool:
        removed: list[int] = []
        found = [False]

        def body(conn: sqlite3.Connection) -> None:
            found[0] = (
                conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone()
                is not None
            )
            removed.extend(self._delete_rows(conn, doc_id))

        if self.get_info(doc_id) is None:
            return False
        gen = self._tx(body)
        self._apply_to_index(gen, removed, [])
        return found[0]

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
        """Keep an in-memory index in step with this process's own writes, cheaply."""
        with self._index_lock:
            index = self._index
            if index is None or index.generation != gen - 1:
                return  # another process wrote too: rebuilt from SQLite on next use
            index.remove(np.array(removed, dtype=np.int64))
            if added:
                ids = np.array([i for i, _ in added], dtype=np.int64)
                index.add(ids, np.stack([v for _, v in added]).astype(np.float32))
            index.generation = gen

    def dense_index(self) -> DenseIndex | None:
        """The FAISS index as of the database's current generation, rebuilt if stale."""
        if self.dimension is None:
            return None
        with self._index_lock:
            gen = self.generation()
            if self._index is not None and self._index.generation == gen:
                return self._index
            loaded = DenseIndex.load(self.folder / INDEX_FILE, self.dimension)
            if loaded is None or loaded.generation != gen:
                loaded = self._rebuild_index(gen)
            self._index = loaded
            return loaded

    def _rebuild_index(self, gen: int) -> DenseIndex:
        assert self.dimension is not None
        index = DenseIndex(self.dimension)
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot: ids and generation agree
        try:
            gen = self.generation()
            cur = conn.execute("SELECT id, embedding FROM chunks ORDER BY id")
            while rows := cur.fetchmany(8192):
                ids = np.array([r[0] for r in rows], dtype=np.int64)
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                index.add(ids, vecs.reshape(len(rows), self.dimension))
        finally:
            conn.execute("COMMIT")
        index.generation = gen
        return index

    def flush(self) -> None:
        """Save the dense index so the next start need not rebuild it."""
        index = self.dense_index()
        if index is not None:
            with self._index_lock:
                try:
                    index.save(self.folder / INDEX_FILE)
                except (OSError, RuntimeError):
                    pass  # derived data: a failed save only costs a rebuild on next open

    # -- reading --------------------------------------------------------------------------

    def get_info(self, doc_id: str) -> DocumentInfo | None:
        row = self._conn().execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _info(row)

    def get_chunks(self, doc_id: str) -> list[StoredChunk]:
        rows = self._conn().execute(
            "SELECT * FROM chunks WHERE document_id = ? ORDER BY ord", (doc_id,)
        )
        return [_chunk(r) for r in rows]

    def list_documents(self, offset: int = 0, limit: int = 100) -> tuple[list[DocumentInfo], int]:
        conn = self._conn()
        total = int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        rows = conn.execute(
            "SELECT * FROM documents ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [_info(r) for r in rows], total

    def hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        rows = self._conn().execute("SELECT id, content_hash FROM documents")
        wanted = None if doc_ids is None else set(doc_ids)
        return {r[0]: r[1] for r in rows if wanted is None or r[0] in wanted}

    def chunk_counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT id, chunk_count FROM documents")
        return {r[0]: int(r[1]) for r in rows}

    def ids_by_source(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self._conn().execute("SELECT id, source FROM documents"):
            out.setdefault(row[1], []).append(row[0])
        return out

    def stats(self) -> dict[str, Any]:
        conn = self._conn()
        size = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        return {
            "documents": int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]),
            "chunks": int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]),
            "embedding_model": self.embedding_model,
            "embedding_dimension": self.dimension,
            "store_path": str(self.folder),
            "store_bytes": size,
            "generation": self.generation(),
        }

    def fetch_chunks(self, row_ids: Sequence[int]) -> dict[int, tuple[StoredChunk, DocumentInfo]]:
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT c.id AS row_id, c.document_id, c.ord, c.text, c.context, c.metadata,"
            f" d.id, d.source, d.title, d.content_hash, d.chunk_count, d.ingested_at,"
            f" d.metadata AS doc_metadata FROM chunks c JOIN documents d ON d.id = c.document_id"
            f" WHERE c.id IN ({marks})",
            list(row_ids),
        )
        out = {}
        for r in rows:
            out[int(r["row_id"])] = (_chunk(r), _info(r, "doc_metadata"))
        return out

    def embeddings(self, row_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        if not row_ids:
            return {}
        marks = ",".join("?" * len(row_ids))
        rows = self._conn().execute(
            f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", list(row_ids)
        )
        return {int(r[0]): np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the keyword index: (row id, score), best first; score > 0."""
        match = analyzer.fts_query(query)
        if match is None:
            return []
        rows = self._conn().execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY bm25(chunks_fts) LIMIT ?",
            (match, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each term, and how many chunks there are."""
        conn = self._conn()
        total = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        if not terms:
            return {}, total
        marks = ",".join("?" * len(terms))
        rows = conn.execute(
            f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", list(terms)
        )
        return {r[0]: int(r[1]) for r in rows}, total

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _info(row: sqlite3.Row, metadata: str = "metadata") -> DocumentInfo:
    return DocumentInfo(
        id=row["id"],
        source=row["source"],
        title=row["title"],
        content_hash=row["content_hash"],
        chunks=row["chunk_count"],
        ingested_at=row["ingested_at"],
        metadata=json.loads(row[metadata]),
    )


def _chunk(row: sqlite3.Row) -> StoredChunk:
    return StoredChunk(
        f"{row['document_id']}#{row['ord']}",
        row["document_id"],
        row["ord"],
        row["text"],
        row["context"],
        json.loads(row["metadata"]),
    )
