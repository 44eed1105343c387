"""Real SQLite and OS errors injected into a store's write path, and a seeded store to
inject them into: what the full-disk and read-only tests share."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

import vectorstore.store.store as store_module
from app.config import Settings
from app.generators.echo import EchoGenerator
from app.main import create_app
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, LiveServer
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

# SQLite's own limits turned into its own errors on the next write, from its real code
# path: max_page_count (clamped to the current size) makes any growth SQLITE_FULL
# ("database or disk is full"); query_only makes any write SQLITE_READONLY.
FULL = ("PRAGMA max_page_count = 1", "PRAGMA max_page_count = 1073741823")
READ_ONLY = ("PRAGMA query_only = ON", "PRAGMA query_only = OFF")


class SqliteFault:
    """Every store connection opened from now on runs `pragma`; `lift()` undoes it on
    all of them (the disk was freed, the volume remounted writable)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pragmas: tuple[str, str]) -> None:
        self.apply, self.undo = pragmas
        self.connections: list[sqlite3.Connection] = []
        real = store_module.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            conn.execute(self.apply)
            self.connections.append(conn)
            return conn

        monkeypatch.setattr(store_module, "connect", connect)

    def lift(self) -> None:
        for conn in self.connections:
            try:
                conn.execute(self.undo)
            except sqlite3.ProgrammingError:
                pass  # closed since (a background read's own): nothing left to undo


def seeded(folder: Path) -> tuple[Store, HashEmbedder]:
    """A store on disk with the fixture corpus, its FAISS file saved."""
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    summary = run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    assert summary.failed == 0 and summary.added > 0, summary.failures
    return store, emb


def live(store: Store, emb: HashEmbedder) -> LiveServer:
    settings = Settings(store=store.folder, rate_limit=0, min_relevance=0.2)
    return LiveServer(create_app(settings, store=store, embedder=emb, generator=EchoGenerator()))


def upload(url: str, name: str = "new.md") -> httpx.Response:
    text = "# New note\n\n" + "The harbour lighthouse guides ships at night. " * 200
    return httpx.post(f"{url}/api/documents", files=[("files", (name, text))], timeout=60)


def counts(store: Path) -> tuple[int, int]:
    """(documents, chunks) read straight from SQLite, read-only."""
    conn = sqlite3.connect(f"file:{store / 'store.sqlite3'}?mode=ro", uri=True)
    try:
        docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)
    finally:
        conn.close()
