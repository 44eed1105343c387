"""Read-only queries over the store's SQLite tables (documents, chunks, keyword index)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore import analyzer, keywords
from vectorstore.types import DocumentInfo, StoredChunk

if TYPE_CHECKING:
    from numpy.typing import NDArray


class StoreQueries:
    """The reading half of the Store; every method runs on the calling thread's connection."""

    folder: Path
    embedding_model: str
    dimension: int | None

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def generation(self) -> int:
        raise NotImplementedError

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

    def all_documents(self) -> dict[str, DocumentInfo]:
        """Every stored document by id, in one query (ingest compares hashes against it)."""
        return {r["id"]: _info(r) for r in self._conn().execute("SELECT * FROM documents")}

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
            f"SELECT rowid, -{keywords.BM25} FROM chunks_fts WHERE chunks_fts MATCH ?"
            f" ORDER BY {keywords.BM25} LIMIT ?",
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
