"""A document to write, and the SQL that writes its rows: the document, its chunks, their
coverage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.types import NewChunk

if TYPE_CHECKING:
    from numpy.typing import NDArray


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
    # Each chunk's vocabulary coverage (embedders/vocabulary.py); None: worked out when a
    # search first needs it.
    coverage: Sequence[float] | None = None


def insert_document(
    conn: sqlite3.Connection, doc: DocumentWrite, now: str
) -> list[tuple[int, str, str, NDArray[np.float32]]]:
    """Insert `doc` (whose old rows are gone) and return each chunk's (row id, heading
    path, text, vector), for the keyword and dense indexes."""
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
    written = []
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
        written.append((int(cur.lastrowid or 0), chunk.context, chunk.text, vec))
    if doc.coverage is not None:
        conn.executemany(
            "INSERT INTO chunk_coverage (id, known) VALUES (?, ?)",
            zip([row[0] for row in written], doc.coverage, strict=True),
        )
    return written


def chunk_ids(conn: sqlite3.Connection, doc_id: str) -> list[int]:
    rows = conn.execute("SELECT id FROM chunks WHERE document_id = ?", (doc_id,))
    return [int(r[0]) for r in rows]


def delete_document(conn: sqlite3.Connection, doc_id: str) -> None:
    conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
    conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
