"""SQLite schema and connection set-up for the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vectorstore.keyword import columns

SCHEMA_VERSION = "1"

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    chunk_count INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
-- AUTOINCREMENT: a row id is never reused, so a stale FAISS id can never point at a
-- different chunk than the one it was built from.
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    embedding BLOB NOT NULL,
    UNIQUE (document_id, ord)
);
"""
# A chunk's vocabulary coverage (vectorstore/embedders/vocabulary.py), worked out at ingest so a
# search does not tokenize its hits again. A table of its own, not a column of `chunks`:
# a store made before it gains it when next opened where it is writable (Store makes it
# then; for a store that has it, the statement is a no-op that takes no lock), and its
# chunks written before then, or a read-only store without it, go without.
COVERAGE_TABLE = """CREATE TABLE IF NOT EXISTS chunk_coverage (
    id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    known REAL NOT NULL
)"""
DDL += COVERAGE_TABLE + ";\n"
# The keyword index (FTS5 over vectorstore.keyword.analyzer terms) is derived like FAISS: its layout
# lives with the code that fills it.
DDL += columns.DDL


def meta_value(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of the store's `meta` table, read on `conn` (in its transaction, if any)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def connect(path: Path, *, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """`immutable`: the file cannot change while open (a read-only mount). Only then can
    SQLite read a WAL database whose -shm file it cannot create."""
    uri = f"file:{path}?mode=ro" if readonly or immutable else f"file:{path}"
    if immutable:
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    # WAL: readers keep their snapshot while a writer commits, so they see a document's old
    # or new state, never half of it. NORMAL sync is durable across process crashes.
    conn.execute("PRAGMA busy_timeout = 30000")
    if not (readonly or immutable):
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
