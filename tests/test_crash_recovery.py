"""A bulk ingest killed with SIGKILL mid-way leaves a store that opens, searches, and
finishes on a re-run with the same content as an uninterrupted ingest."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vectorstore.embedder import SentenceTransformerEmbedder
from vectorstore.retrieval import Retriever
from vectorstore.store import Store

pytestmark = pytest.mark.models
ROOT = Path(__file__).resolve().parents[1]
DOCS = 120


def make_corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(DOCS):
        paragraphs = [
            f"Document {i} paragraph {p} explains topic {i * 7 + p} in plain words, "
            f"with facts about item {i}-{p} and its neighbour {i + 1}-{p}." * 3
            for p in range(8)
        ]
        (folder / f"doc{i:03}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs))
    return folder


def ingest(corpus: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", str(corpus), "--store", str(store)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "RAGQA_EMBEDDING_BATCH_SIZE": "8"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def documents(store: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{store}/store.sqlite3?mode=ro", uri=True, timeout=1)
        return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def snapshot(store: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{store}/store.sqlite3?mode=ro", uri=True)
    return conn.execute("SELECT document_id, text FROM chunks ORDER BY document_id, ord").fetchall()


def test_sigkill_mid_ingest_then_rerun(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    clean = tmp_path / "clean"
    assert ingest(corpus, clean).wait(timeout=600) == 0
    store = tmp_path / "killed"
    stored = 0
    for _attempt in range(2):
        proc = ingest(corpus, store)
        deadline = time.monotonic() + 300
        while documents(store) <= stored and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = documents(store)
        assert stored < DOCS, "ingest finished before it could be killed"
        # The killed store opens and answers searches, with whatever was committed.
        opened = Store(store, "bundled:all-MiniLM-L6-v2")
        assert opened.stats()["documents"] == stored
        assert opened.lexical("document paragraph", 3)
        assert len(opened.dense_index() or []) == opened.stats()["chunks"]
        opened.close()
    rerun = ingest(corpus, store)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    match = re.search(r"added=(\d+) updated=0 unchanged=(\d+) deleted=0 failed=0", out)
    assert match and int(match.group(1)) + int(match.group(2)) == DOCS, out
    assert snapshot(store) == snapshot(clean)
    done = Store(store, "bundled:all-MiniLM-L6-v2")
    hits = Retriever(done, SentenceTransformerEmbedder("bundled:all-MiniLM-L6-v2")).search(
        "item 42-3", 3, "lexical"
    )
    assert hits and hits[0].document_id.endswith("doc042.md")
