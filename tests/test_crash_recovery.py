"""A bulk ingest SIGKILLed at random moments, again and again, leaves a store that the real
`ragqa check` passes every time; a final run then ends with the same store, and the same
search results, as an ingest that was never interrupted.

Each round rewrites the corpus to whichever of two editions fewer stored documents hold,
so every run has work (adds first, then updates that delete and re-insert rows) and the
kill can land mid-ingest. RAGQA_CRASH_KILLS raises the number of kills (default 20) and
RAGQA_CRASH_SEED replays a run; the seed is in every assertion message.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.services import build_embedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store
from vectorstore.types import SearchHit, SearchMode

pytestmark = pytest.mark.models
ROOT = Path(__file__).resolve().parents[1]
MODEL = "bundled:all-MiniLM-L6-v2"
DOCS = 24
MODES: tuple[SearchMode, ...] = ("lexical", "dense")
KILLS = int(os.environ.get("RAGQA_CRASH_KILLS", "20"))
SEED = int(os.environ.get("RAGQA_CRASH_SEED") or random.SystemRandom().randrange(10**6))
# Made-up words from a pool large enough that each is in a few chunks only: with a small
# pool every term is in every chunk, BM25 scores collapse onto IDF's floor and tie.
_SYLLABLES = "ka lo mi ter van su ri po den ga fel no xi bra quo zu mar tel oon ish".split()
WORDS = sorted({"".join(random.Random(n).choices(_SYLLABLES, k=3)) for n in range(3000)})
# One chunk per embed call: a vector then depends on its own text only, not on which
# other chunks shared its batch (int8 ONNX scales activations per batch), so a resumed
# ingest must store bit-identical vectors. It also makes commits small and frequent.
ENV = {"HF_HUB_OFFLINE": "1", "RAGQA_EMBEDDING_BATCH_SIZE": "1", "RAGQA_EMBEDDING_MODEL": MODEL}


def paragraph(doc: int, edition: int, p: int) -> str:
    rng = random.Random(f"{doc}/{edition}/{p}")  # the text is a function of these alone
    words = " ".join(rng.choice(WORDS) for _ in range(30))
    return f"Item {doc}-{p} of document {doc}: {words}. Edition {edition} ends paragraph {p}."


def write_corpus(folder: Path, edition: int) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(DOCS):
        paragraphs = [paragraph(i, edition, p) for p in range(4)]
        text = f"# Document {i} edition {edition}\n\n" + "\n\n".join(paragraphs)
        (folder / f"doc{i:03}.md").write_text(text)


def queries() -> list[str]:
    """A few words from paragraphs of the edition the final run leaves, and an item."""
    picks = [(7, 2), (15, 3), (22, 0)]
    return [" ".join(paragraph(d, 0, p).split()[6:9]) for d, p in picks] + ["item 12-4"]


def ingest(corpus: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", str(corpus), "--store", str(store)],
        cwd=ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check(store: Path) -> tuple[int, str]:
    """The real CLI, as a user (or a start-up script) runs it after a crash."""
    ragqa = Path(sys.executable).with_name("ragqa")
    command = [str(ragqa)] if ragqa.exists() else [sys.executable, "-m", "app.cli.main"]
    done = subprocess.run(
        [*command, "check", "--store", str(store)],
        cwd=ROOT,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def editions(store: Path) -> dict[str, int]:
    """Which edition of each document the store holds, read as a bystander would."""
    try:
        conn = sqlite3.connect(f"file:{store}/store.sqlite3?mode=ro", uri=True, timeout=5)
        rows = conn.execute("SELECT document_id, context FROM chunks WHERE ord = 0").fetchall()
    except sqlite3.Error:  # not created yet
        return {}
    return {doc: int(m.group(1)) for doc, ctx in rows if (m := re.search(r"edition (\d)", ctx))}


def snapshot(store: Path) -> list[Any]:
    conn = sqlite3.connect(f"file:{store}/store.sqlite3?mode=ro", uri=True)
    return conn.execute(
        "SELECT d.id, d.title, d.content_hash, d.chunk_count, c.ord, c.text, c.context,"
        " c.embedding FROM documents d JOIN chunks c ON c.document_id = d.id"
        " ORDER BY d.id, c.ord"
    ).fetchall()


def at_edition(store: Path, edition: int) -> int:
    return sum(e == edition for e in editions(store).values())


@dataclass(frozen=True)
class Run:
    killed: bool
    done: int  # documents of the run's edition it committed
    first: float | None  # seconds from its start to its first commit, if one was seen
    seconds: float  # from its start to its exit or its kill


def run(corpus: Path, store: Path, edition: int, kill_after: float | None) -> Run:
    """One `python -m ingest`, SIGKILLed after `kill_after` seconds unless it ends first,
    its commits watched from outside meanwhile."""
    before = at_edition(store, edition)
    start = time.monotonic()
    proc = ingest(corpus, store)
    first = None
    while proc.poll() is None:
        elapsed = time.monotonic() - start
        if kill_after is not None and elapsed >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
        if first is None and at_edition(store, edition) > before:
            first = elapsed
        time.sleep(0.02)
    _, err = proc.communicate()
    seconds = time.monotonic() - start
    assert proc.returncode in (0, -signal.SIGKILL), err
    return Run(proc.returncode != 0, at_edition(store, edition) - before, first, seconds)


class Pace:
    """Running estimates of an ingest's start-up and seconds a document, from every run
    seen: the kill window then follows the machine as other work slows it down or stops
    doing so, instead of the first run's guess (kills all after the end, or all early)."""

    def __init__(self, clean: Run) -> None:
        self.startup = clean.first or clean.seconds
        self.per_doc = (clean.seconds - self.startup) / DOCS

    def window(self, pending: int) -> tuple[float, float]:
        """From the expected first commit to the expected end of a run with `pending` to
        do. Start-up varies from run to run, so some kills still land before any commit."""
        return self.startup, self.startup + self.per_doc * pending

    def learn(self, seen: Run) -> None:
        if seen.first is None:
            if seen.killed:  # no commit yet when killed: the start-up took at least this
                self.startup = max(self.startup, seen.seconds)
            return
        self.startup = (self.startup + seen.first) / 2
        if seen.done:
            self.per_doc = (self.per_doc + (seen.seconds - seen.first) / seen.done) / 2


def ranked(hits: list[SearchHit]) -> list[tuple[float, str]]:
    # Equal scores may come in either order: a resumed ingest numbers rows differently.
    return sorted((-h.score, h.chunk_id) for h in hits)


def test_sigkill_at_random_moments_then_rerun(tmp_path: Path) -> None:
    tag = f"[seed {SEED}: RAGQA_CRASH_SEED={SEED} replays this run]"
    rng = random.Random(SEED)
    # Loaded here first: the first load of a session exports the model to ONNX (tens of
    # seconds), which must not be mistaken for an ingest's start-up when timing one.
    embedder = build_embedder(Settings(embedding_model=MODEL))
    embedder.dimension  # noqa: B018 - loads (and exports) the model now
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 0)
    clean = run(corpus, tmp_path / "clean", 0, None)
    assert clean.done == DOCS, f"{tag} the uninterrupted ingest: {clean}"
    pace = Pace(clean)
    store = tmp_path / "killed"
    # Made first, as `ragqa ingest` would: so that every check below has a store to read
    # even after a kill during the first run's start-up.
    Store(store, MODEL).close()
    kills = mid_ingest = rounds = 0
    log: list[str] = []
    while kills < KILLS:
        rounds += 1
        assert rounds <= 3 * KILLS, f"{tag} too few runs could be killed: {log}"
        held = editions(store)
        edition = 0 if sum(e == 0 for e in held.values()) <= len(held) / 2 else 1
        write_corpus(corpus, edition)
        pending = DOCS - sum(e == edition for e in held.values())
        # Most kills land between commits or inside one; some before the first commit,
        # a few after the last (in the FAISS save, or on the way out).
        delay = rng.uniform(*pace.window(pending))
        seen = run(corpus, store, edition, delay)
        pace.learn(seen)
        kills += seen.killed
        mid_ingest += seen.killed and 0 < seen.done < pending
        log.append(f"{delay:.2f}s:{seen.done}/{pending}" + ("" if seen.killed else " (finished)"))
        code, report = check(store)
        assert code == 0, f"{tag} `ragqa check` after kill {kills} at {log[-1]}:\n{report}"
    # Kills that all fell before the first commit or after the last would prove little.
    assert mid_ingest >= KILLS // 3, f"{tag} only {mid_ingest} kills landed mid-ingest: {log}"
    write_corpus(corpus, 0)
    rerun = ingest(corpus, store)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, f"{tag} {err}"
    assert re.search(r" deleted=0 failed=0 ", out), f"{tag} {out}"
    code, report = check(store)
    assert code == 0, f"{tag} `ragqa check` after the final run:\n{report}"
    assert snapshot(store) == snapshot(tmp_path / "clean"), f"{tag} stores differ after {log}"
    found = {}
    for name in ("clean", "killed"):
        retriever = Retriever(Store(tmp_path / name, MODEL), embedder)
        found[name] = [ranked(retriever.search(q, 10, mode)) for q in queries() for mode in MODES]
    assert found["killed"] == found["clean"], f"{tag} search differs after {log}"
    assert all(found["clean"]), f"{tag} a query found nothing: {found['clean']}"
    print(f"{tag} {kills} kills in {rounds} runs, {mid_ingest} mid-ingest; clean {clean}: {log}")
