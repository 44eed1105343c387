"""The bench's milvus section: its parts fast, then a real smoke run on `milvus-lite server`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.tooling.bench.calls import CallTimer
from app.tooling.bench.ingest import Throughput
from app.tooling.bench.milvus import (
    CALLS,
    MILVUS,
    SQLITE,
    IngestSplit,
    LoadRun,
    MilvusResult,
    StoreCalls,
)
from app.tooling.bench.report import BenchReport, render
from app.tooling.bench.search import run_load
from app.tooling.bench.stats import summarize

ROOT = Path(__file__).resolve().parents[4]


class Adder:
    def __init__(self, inner: Adder | None = None) -> None:
        self.inner = inner

    def add(self, a: int, b: int) -> int:
        return a + b

    def index(self) -> Adder | None:
        return self.inner


def test_call_timer_times_one_instance_and_what_it_hands_out() -> None:
    timed, plain = Adder(Adder()), Adder()
    timer = CallTimer()
    timer.wrap(timed, "add")
    timer.wrap_result(timed, "index", "add", "inner add")
    assert timed.add(1, 2) == 3 and plain.add(1, 2) == 3
    index = timed.index()
    assert index is not None and index.add(2, 2) == 4 and index.inner is None
    empty = Adder()
    timer.wrap_result(empty, "index", "add", "inner add")
    assert empty.index() is None  # no dense index yet: none to time
    assert len(timer.seconds["add"]) == 1  # `plain` and the class keep their own method
    assert len(timer.seconds["inner add"]) == 1
    assert timer.total("add", "inner add") > 0 and timer.p50_ms("add") is not None
    timer.clear()
    assert timer.p50_ms("add") is None and timer.total("add") == 0


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service
    seen: Counter[int]  # requests per client connection (its port)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen[self.client_address[1]] += 1
        body = json.dumps({"results": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def two_servers() -> Iterator[list[tuple[str, Counter[int]]]]:
    out, servers = [], []
    for _ in range(2):
        seen: Counter[int] = Counter()
        handler = type("Handler", (_Counting,), {"seen": seen})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        out.append((f"http://127.0.0.1:{server.server_address[1]}", seen))
    yield out
    for server in servers:
        server.shutdown()
        server.server_close()


def test_load_splits_clients_over_urls_by_client_number(
    two_servers: list[tuple[str, Counter[int]]],
) -> None:
    (a, seen_a), (b, seen_b) = two_servers
    run = run_load([a, b], ["q1", "q2"], clients=3, requests=30)
    assert (run.requests, run.errors) == (30, 0)
    # Clients 0 and 2 on the first server, client 1 on the second: one connection each.
    assert (len(seen_a), len(seen_b)) == (2, 1)
    assert sum(seen_a.values()) + sum(seen_b.values()) == 30
    seen_a.clear()
    seen_b.clear()
    one = run_load(a, ["q1"], clients=2, requests=10)  # one URL, as before
    assert (one.requests, len(seen_a), sum(seen_a.values()), len(seen_b)) == (10, 2, 10, 0)


def _result() -> MilvusResult:
    ingest = [
        IngestSplit(SQLITE, Throughput("ragqa ingest", 10.0, 100, 200, 40_000), 9.0, 0.5),
        IngestSplit(MILVUS, Throughput("ragqa ingest", 20.0, 100, 200, 40_000), 9.0, 10.5),
    ]
    load = [
        LoadRun(SQLITE, 1, summarize(1, [0.010] * 10, 0.1, 0), 9.5, None),
        LoadRun(MILVUS, 2, summarize(8, [0.5] * 10, 1.0, 0), 20.0, 400.0),
    ]
    calls = [
        StoreCalls(
            store,
            {key: None if key == "keyword_terms" else ms for key in CALLS},
            {key: 0.0 if key == "keyword_terms" else 1.0 for key in CALLS},
            ms * 6,
            ms * 10,
            dict.fromkeys(CALLS, ms),
            ms * 20,
        )
        for store, ms in ((SQLITE, 0.5), (MILVUS, 50.0))
    ]
    return MilvusResult("3.2.2", ingest, load, calls, 20)


def test_render_milvus_puts_both_stores_side_by_side() -> None:
    report = BenchReport("ragqa bench --sections milvus", "now", "a test CPU", "Corpus: tiny.")
    report.milvus = _result()
    text = render(report)
    assert "## Milvus" in text and "## Ingest" not in text
    assert "Milvus Lite 3.2.2's pure-Python engine" in text
    assert "| SQLite + FAISS | 10.0 | 10.0 | 20.0 | 9.00 (90.0%) | 0.500 (5.00%) | 0.500 |" in text
    assert "| Milvus | 20.0 | 5.00 | 10.0 | 9.00 (45.0%) | 10.5 (52.5%) | 0.500 |" in text
    assert "| SQLite + FAISS | 1 | 1 | 10 | 0 | 10.0 | 10.0 | 100 | 9.50 |  |" in text
    assert "| Milvus | 2 | 8 | 10 | 0 | 500 | 500 | 10.0 | 20.0 | 400 |" in text
    assert "| `store.lexical` | 0.500 (1) | 50.0 (1) |" in text
    assert "| `store.keyword_terms` | not called | not called |" in text
    assert "| whole `Retriever.search` (p50 ms) | 5.00 | 500 |" in text


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no match for {pattern!r} in:\n{text}"
    return float(match.group(1).replace(",", ""))


@pytest.mark.milvus
@pytest.mark.models
@pytest.mark.server
def test_smoke_run_measures_milvus_beside_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "BENCH.md"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "bench", "--smoke", "--sections", "milvus"]
        + ["--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "## Milvus" in text and "## Search" not in text  # only the section asked for
    assert re.search(r"Milvus Lite [\d.]+'s pure-Python engine", text)
    for store in ("SQLite \\+ FAISS", "Milvus"):
        # Documents/s, and the embedding and store shares of the time.
        row = rf"^\| {store} \| [\d.]+ \| ([\d.]+) \| [\d.]+ \| [\d.]+ \([\d.]+%\) \| [\d.]+ \("
        assert _number(row, text) > 0
    # Every load row answered all 20 smoke requests without an error.
    for store, replicas, clients in (("SQLite \\+ FAISS", 1, 1), ("SQLite \\+ FAISS", 1, 8)) + (
        ("Milvus", 1, 1),
        ("Milvus", 1, 8),
        ("Milvus", 2, 8),
    ):
        row = rf"^\| {store} \| {replicas} \| {clients} \| 20 \| 0 \| ([\d.,]+) \|"
        assert _number(row, text) > 0  # p50 ms
    assert _number(r"^\| Milvus \| 2 \| 8 \| 20 \| 0 \|(?: [\d.,]+ \|){4} ([\d.,]+) \|$", text) > 0
    for call in CALLS.values():
        assert f"| `{call}` |" in text
    # The default embedder's two halves are searched one after the other: two dense calls.
    for call, n in (
        ("store.lexical", 1),
        ("store.dense_index().search", 2),
        ("store.fetch_chunks", 1),
    ):
        cells = re.search(
            rf"^\| `{re.escape(call)}` \| ([\d.]+) \({n}\) \| ([\d.]+) \({n}\) \|$", text, re.M
        )
        assert cells and all(float(c) > 0 for c in cells.groups()), call
    assert _number(r"^\| whole `Retriever.search` \(p50 ms\) \| [\d.]+ \| ([\d.]+) \|$", text) > 0
