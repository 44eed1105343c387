"""Uploads through the API, a CLI ingest and a stream of searches, all at once on one
store: no errors, no torn reads, the CLI waits its turn for the write lock, and every
document ends up stored. A real `ragqa serve`, the real embedder, SQLite and FAISS on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.serving import ROOT, SERVE_ENV, ServeProcess, integrity, markdown

pytestmark = [pytest.mark.server, pytest.mark.models]

UPLOADERS = 3  # clients uploading at once: while one upload writes, the others queue
# Requests per uploader at most. They stop once the CLI has had to wait for the lock; the
# bound only ends a broken run. (8 was too few: the CLI loads its model before it asks for
# the lock, and uploads that had all finished by then left it nothing to wait for.)
MAX_UPLOADS = 200
# Paragraphs per uploaded document: enough that embedding them keeps the server holding
# the write lock almost all the time (~0.5 s an upload), so the CLI finds it taken. With
# 3 paragraphs the lock was free for a moment between uploads often enough that the CLI
# now and then walked in without waiting.
UPLOAD_PARAGRAPHS = 20
CLI_DOCS = 8
QUERIES = ["upload paragraph topic", "bulk ingest note", "harbour lighthouse", "item facts"]


def words(seed: str, n: int) -> list[str]:
    """`n` paragraphs that only this document holds (its seed word in each)."""
    return [
        f"Paragraph {p} of {seed} tells of topic {p * 7} with facts about item {seed}-{p}. " * 6
        for p in range(n)
    ]


def flock_held(pid: int, lock: Path) -> bool:
    """Whether process `pid` holds the flock on `lock` (Linux's /proc/locks)."""
    if not lock.exists():
        return False
    inode = f":{lock.stat().st_ino} "
    with open("/proc/locks") as locks:
        return any(" FLOCK " in line and f" {pid} " in line and inode in line for line in locks)


class Run:
    """What the concurrent clients saw; every thread appends, the test checks at the end."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.hits: list[dict[str, Any]] = []
        self.uploaded: list[str] = []
        self.searches = 0
        self.cli_waited = threading.Event()
        self.writers_done = threading.Event()

    def guard(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except Exception as exc:  # reported by the test, not lost in a thread
                self.errors.append(f"{type(exc).__name__}: {exc}")

        return run


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads Linux's /proc/locks")
def test_uploads_cli_ingest_and_searches_at_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    corpus = tmp_path / "cli"
    for i in range(CLI_DOCS):
        markdown(corpus, f"note{i:02}.md", f"Bulk note {i}", words(f"bulk{i}", 3))
    run = Run()
    with ServeProcess(store, tmp_path / "serve.log") as server:
        client = httpx.Client(base_url=server.url, timeout=300)
        seed = client.post(
            "/api/documents",
            files=[("files", ("seed.md", "# Seed\n\nThe harbour lighthouse guides ships.\n"))],
        )
        assert seed.status_code == 200, seed.text

        def upload(who: int) -> None:
            for n in range(MAX_UPLOADS):
                if run.cli_waited.is_set() and n >= 1:
                    return
                names = [f"up{who}-{n}-{f}.md" for f in range(2)]
                files = [
                    ("files", (name, f"# {name}\n\n" + "\n\n".join(words(name, UPLOAD_PARAGRAPHS))))
                    for name in names
                ]
                response = client.post("/api/documents", files=files)
                if response.status_code != 200:
                    run.errors.append(f"upload {names}: {response.status_code} {response.text}")
                    return
                statuses = {d["id"]: d["status"] for d in response.json()["documents"]}
                assert statuses == dict.fromkeys(names, "added"), statuses
                run.uploaded += names

        def search(who: int) -> None:
            modes = ["hybrid", "dense", "lexical"]
            while not run.writers_done.is_set():
                body = {"query": QUERIES[run.searches % 4], "top_k": 5, "mode": modes[who % 3]}
                response = client.post("/api/search", json=body)
                run.searches += 1
                if response.status_code != 200:
                    run.errors.append(f"search: {response.status_code} {response.text}")
                    return
                run.hits += response.json()["results"]

        def listing() -> None:
            # A document is never listed before all its chunks are readable: uploads and
            # ingests commit a document and its chunks in one transaction.
            while not run.writers_done.is_set():
                docs = client.get("/api/documents", params={"limit": 1000}).json()["documents"]
                for doc in docs[-3:]:
                    detail = client.get(f"/api/documents/{doc['id']}").json()
                    if len(detail["chunks"]) != doc["chunks"]:
                        run.errors.append(f"torn read: {doc['id']} {detail['chunks']}")

        with ThreadPoolExecutor(UPLOADERS + 3) as pool:
            uploads = [pool.submit(run.guard(partial(upload, w))) for w in range(UPLOADERS)]
            readers = [pool.submit(run.guard(partial(search, w))) for w in range(2)]
            readers.append(pool.submit(run.guard(listing)))
            deadline = time.monotonic() + 120
            while not flock_held(server.proc.pid, store / "write.lock"):
                assert time.monotonic() < deadline and not run.errors, run.errors
                time.sleep(0.01)
            out, err, cli_seconds = ingest_while_locked(corpus, store, run)
            for future in uploads:
                future.result()
            run.writers_done.set()
            for future in readers:
                future.result()
        assert not run.errors, run.errors[:5]
        assert "waiting for another writer" in err, "the CLI never had to wait for the lock"
        assert f"added={CLI_DOCS} " in out and "failed=0" in out, out + err

        # Every document is there, and every hit seen mid-run was a chunk that exists
        # with exactly the text the search returned.
        listed = client.get("/api/documents", params={"limit": 1000}).json()
        ids = {d["id"] for d in listed["documents"]}
        expected = {
            "seed.md",
            *run.uploaded,
            *(str(corpus / f"note{i:02}.md") for i in range(CLI_DOCS)),
        }
        assert ids == expected and listed["total"] == len(expected)
        texts: dict[str, dict[str, str]] = {}
        for hit in run.hits:
            if hit["document_id"] not in texts:
                chunks = client.get(f"/api/documents/{hit['document_id']}").json()["chunks"]
                texts[hit["document_id"]] = {c["chunk_id"]: c["text"] for c in chunks}
            assert texts[hit["document_id"]].get(hit["chunk_id"]) == hit["text"], hit
        # The server's FAISS copy follows the other process's writes: a CLI document is
        # found by meaning alone.
        query = "Paragraph 1 of bulk5 tells of topic 7 with facts about item bulk5-1."
        body = {"query": query, "top_k": 3, "mode": "dense"}
        dense = client.post("/api/search", json=body).json()["results"]
        assert any(h["document_id"].endswith("note05.md") for h in dense), dense
        client.close()
        assert "Traceback" not in server.output()
    assert integrity(store) == []
    print(
        f"\nconcurrency: {len(run.uploaded)} uploads, {CLI_DOCS} CLI docs, {run.searches} "
        f"searches ({len(run.hits)} hits checked); the CLI waited, then ran {cli_seconds:.1f} s"
    )


def ingest_while_locked(corpus: Path, store: Path, run: Run) -> tuple[str, str, float]:
    """`python -m ingest` started while the server holds the write lock; returns its
    stdout, stderr and run time. Uploads go on until it has said that it waits."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(corpus), "--store", str(store)],
        cwd=ROOT,
        env={**os.environ, **SERVE_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None and proc.stdout is not None
    err: list[str] = []
    started = time.monotonic()
    for line in proc.stderr:
        err.append(line)
        if "waiting for another writer" in line:
            run.cli_waited.set()
    run.cli_waited.set()  # stop the uploads whatever happened
    out = proc.stdout.read()
    assert proc.wait(timeout=300) == 0, "".join(err)
    return out, "".join(err), time.monotonic() - started
