"""Reads of documents and chunks: functions over a connection the Store gives them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.types import DocumentInfo, StoredChunk

if TYPE_CHECKING:
    from numpy.typing import NDArray

# SQLite integers are signed 64-bit; a larger Python int raises OverflowError on binding.
_SQLITE_MAX_INT = 2**63 - 1


def get_info(conn: sqlite3.Connection, doc_id: str) -> DocumentInfo | None:
    row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
    return None if row is None else _info(row)


def get_chunks(conn: sqlite3.Connection, doc_id: str) -> list[StoredChunk]:
    rows = conn.execute("SELECT * FROM chunks WHERE document_id = ? ORDER BY ord", (doc_id,))
    return [_chunk(r) for r in rows]


def list_documents(
    conn: sqlite3.Connection, offset: int = 0, limit: int = 100
) -> tuple[list[DocumentInfo], int]:
    total = int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    # An offset past SQLite's range is past every row: clamped, it returns none, where
    # bound as it is it raised OverflowError (a 500 from `GET /api/documents`).
    bounds = (min(limit, _SQLITE_MAX_INT), min(offset, _SQLITE_MAX_INT))
    sql = "SELECT * FROM documents ORDER BY id LIMIT ? OFFSET ?"
    rows = conn.execute(sql, bounds).fetchall()
    return [_info(r) for r in rows], total


def all_documents(conn: sqlite3.Connection) -> dict[str, DocumentInfo]:
    """Every stored document by id, in one query (ingest compares hashes against it)."""
    return {r["id"]: _info(r) for r in conn.execute("SELECT * FROM documents")}


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """How many documents and chunks are stored."""
    documents = int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    return documents, int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def fetch_chunks(
    conn: sqlite3.Connection, row_ids: Sequence[int]
) -> dict[int, tuple[StoredChunk, DocumentInfo]]:
    if not row_ids:
        return {}
    marks = ",".join("?" * len(row_ids))
    rows = conn.execute(
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


def stored_coverage(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, float]:
    """The vocabulary coverage stored at ingest (embedders/vocabulary.py) of those rows
    that have one: a store written before it was stored has none, nor its chunks."""
    if not row_ids:
        return {}
    marks = ",".join("?" * len(row_ids))
    try:
        rows = conn.execute(
            f"SELECT id, known FROM chunk_coverage WHERE id IN ({marks})", list(row_ids)
        )
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # an older store opened read-only
            return {}
        raise
    return {int(r[0]): float(r[1]) for r in rows}


def embeddings(conn: sqlite3.Connection, row_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
    if not row_ids:
        return {}
    marks = ",".join("?" * len(row_ids))
    rows = conn.execute(f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", list(row_ids))
    return {int(r[0]): np.frombuffer(r[1], dtype=np.float32) for r in rows}


def sample_embeddings(conn: sqlite3.Connection, size: int, seed: int = 0) -> NDArray[np.float32]:
    """Up to `size` chunk vectors drawn at random (all of them if there are fewer):
    what an IVF index trains on, and the real vectors `ragqa bench` scales up from."""
    ids = np.array([r[0] for r in conn.execute("SELECT id FROM chunks")], dtype=np.int64)
    if len(ids) > size:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
    blobs: list[bytes] = []
    for start in range(0, len(ids), 500):  # under SQLite's limit on bound parameters
        part = ids[start : start + 500].tolist()
        marks = ",".join("?" * len(part))
        sql = f"SELECT embedding FROM chunks WHERE id IN ({marks})"
        blobs.extend(r[0] for r in conn.execute(sql, part))
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32)
    return vectors.reshape(len(blobs), -1) if blobs else vectors.reshape(0, 0)


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
