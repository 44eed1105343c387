"""/metrics, request ids and JSON log lines: the app in process, and the real command."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator
from app.http.log_lines import JsonFormatter
from app.http.metrics import Metrics
from app.main import create_app
from app.rag.service import RagService
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, free_port, in_process
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store

ROOT = Path(__file__).resolve().parents[3]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and sorted labels."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scrape: Samples, name: str, **labels: str) -> float | None:
    return scrape.get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """An app of its own: the session's shared one gets traffic from other tests, so
    its counters could not be checked exactly."""
    folder = tmp_path_factory.mktemp("metrics") / "store"
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    settings = Settings(store=folder, rate_limit=0, min_relevance=0.0)
    app = create_app(settings, store=store, embedder=emb, generator=EchoGenerator())
    with in_process(app) as client:
        yield client


def test_metrics_count_routes_timings_tokens_and_store(server: httpx.Client) -> None:
    before = samples(server.get("/metrics").text)
    search = {"query": "sourdough starter feeding", "top_k": 3, "mode": "lexical"}
    assert server.post("/api/search", json=search).status_code == 200
    answer = server.post("/api/ask", json={"question": "How often to feed a starter?"})
    assert answer.status_code == 200 and answer.json()["grounded"]
    tokens = answer.json()["usage"]["completion_tokens"]
    assert tokens > 0
    doc_id = server.get("/api/documents").json()["documents"][0]["id"]
    assert server.get(f"/api/documents/{quote(doc_id, safe='')}").status_code == 200
    assert server.get("/no/such/path").status_code == 404

    text = server.get("/metrics").text
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    requests = "ragqa_http_requests_total"
    assert grew(requests, method="POST", route="/api/search", status="200") == 1
    assert grew(requests, method="POST", route="/api/ask", status="200") == 1
    # The route template, never the raw id: one series however many documents.
    assert grew(requests, method="GET", route="/api/documents/{doc_id:anytext}", status="200") == 1
    assert doc_id not in text
    assert grew(requests, method="GET", route="unmatched", status="404") == 1
    latency = "ragqa_http_request_duration_seconds"
    assert grew(f"{latency}_count", method="POST", route="/api/ask") == 1
    assert grew(f"{latency}_sum", method="POST", route="/api/ask") > 0

    # The search retrieved lexically, the question in the default hybrid mode.
    assert grew("ragqa_retrieval_duration_seconds_count", mode="lexical") == 1
    assert grew("ragqa_retrieval_duration_seconds_count", mode="hybrid") == 1
    assert grew("ragqa_generation_duration_seconds_count") == 1
    assert grew("ragqa_time_to_first_token_seconds_count") == 1
    assert grew("ragqa_generated_tokens_total") == tokens
    assert value(after, "ragqa_generator_queue_depth") == 0
    assert value(after, "ragqa_search_queue_depth") == 0

    stats = server.get("/api/stats").json()
    assert value(after, "ragqa_documents") == stats["documents"] > 0
    assert value(after, "ragqa_chunks") == stats["chunks"] > 0


def test_store_gauges_follow_an_upload(server: httpx.Client) -> None:
    """The counts are cached by store generation: a write must show at the next scrape."""
    first = samples(server.get("/metrics").text)
    files = {"files": ("metrics-note.md", b"# Note\n\nA lighthouse keeper counts the ships.")}
    assert server.post("/api/documents", files=files).status_code == 200
    second = samples(server.get("/metrics").text)
    assert value(second, "ragqa_documents") == (value(first, "ragqa_documents") or 0) + 1
    assert (value(second, "ragqa_chunks") or 0) > (value(first, "ragqa_chunks") or 0)


def test_request_id_is_echoed_or_generated(server: httpx.Client) -> None:
    sent = server.get("/api/stats", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert sent.headers["x-request-id"] == "trace-42.a:b_c"
    one = server.get("/api/stats").headers["x-request-id"]
    two = server.get("/no/such/path").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", one) and re.fullmatch(r"[0-9a-f]{32}", two)
    assert one != two
    # Not an id: replaced, never echoed into headers and logs.
    for odd in ("has space", "x" * 129, "semi;colon"):
        got = server.get("/healthz", headers={"X-Request-ID": odd})
        assert re.fullmatch(r"[0-9a-f]{32}", got.headers["x-request-id"]), odd


def test_access_log_lines_are_json_with_the_request_id(
    server: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ragqa.access")
    body = {"query": "lighthouse", "top_k": 2}
    got = server.post("/api/search", json=body, headers={"X-Request-ID": "log-check-1"})
    assert got.status_code == 200
    # The line is written once the response has gone out: give it a moment.
    deadline = time.monotonic() + 5
    mine: list[logging.LogRecord] = []
    while not mine and time.monotonic() < deadline:
        mine = [r for r in caplog.records if getattr(r, "request_id", None) == "log-check-1"]
        time.sleep(0.05)
    assert len(mine) == 1
    line = json.loads(JsonFormatter().format(mine[0]))
    assert line["level"] == "INFO" and line["logger"] == "ragqa.access"
    assert line["request_id"] == "log-check-1"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/search", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["message"].startswith("POST /api/search 200 ")
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_apps_have_registries_of_their_own_and_metrics_can_be_off(tmp_path: Path) -> None:
    """Two apps in one process both serve /metrics (a shared registry would refuse the
    second's instruments); RAGQA_METRICS=false removes the route."""
    apps = [create_app(Settings(store=tmp_path / f"s{i}")) for i in range(2)]
    for app in apps:
        scrape = TestClient(app).get("/metrics")
        assert scrape.status_code == 200
        assert "ragqa_http_requests" in scrape.text
    off = create_app(Settings(store=tmp_path / "off", metrics=False))
    assert TestClient(off).get("/metrics").status_code == 404


def test_requests_refused_before_routing_are_counted_by_route_template(tmp_path: Path) -> None:
    """The access guard answers 401 before the router runs; the label is still the route
    template, and the refusal carries a request id."""
    client = TestClient(create_app(Settings(store=tmp_path / "s", api_keys="secret")))
    refused = client.get("/api/documents/some%2Fid")
    assert refused.status_code == 401 and refused.headers["x-request-id"]
    scrape = samples(client.get("/metrics").text)
    route = "/api/documents/{doc_id:anytext}"
    assert value(scrape, "ragqa_http_requests_total", method="GET", route=route, status="401") == 1


class GatedGenerator(EchoGenerator):
    """Holds each answer until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.started = threading.Event()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.started.set()
        self.gate.wait(10)
        yield from super().stream(messages, max_new_tokens=max_new_tokens)


def test_queue_depth_counts_requests_waiting_for_and_holding_the_generator(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    run_ingest(pipeline, [str(FIXTURES)])
    metrics = Metrics()
    generator = GatedGenerator()
    rag = RagService(Retriever(store, embedder), generator, min_relevance=0.0, observer=metrics)

    def depth() -> float | None:
        return metrics.registry.get_sample_value("ragqa_generator_queue_depth")

    askers = [threading.Thread(target=rag.answer, args=("sourdough starter",)) for _ in range(2)]
    for t in askers:
        t.start()
    assert generator.started.wait(10)
    deadline = time.monotonic() + 10
    while depth() != 2 and time.monotonic() < deadline:  # the second reaches the lock
        time.sleep(0.01)
    assert depth() == 2  # one generating, one waiting for the lock
    generator.gate.set()
    for t in askers:
        t.join(10)
    assert depth() == 0
    assert metrics.registry.get_sample_value("ragqa_generation_duration_seconds_count") == 2


@pytest.mark.models
@pytest.mark.server
def test_ragqa_serve_logs_one_json_object_a_line(tmp_path: Path) -> None:
    """The real command: uvicorn's own lines and the access lines are all JSON."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAGQA_LOG_FORMAT": "json",
        "RAGQA_GENERATOR_BACKEND": "echo",
        # PyTorch loads the bundled embedder directly; no ONNX export to wait for.
        "RAGQA_EMBEDDING_BACKEND": "torch",
    }
    cmd = [sys.executable, "-m", "app", "--store", str(tmp_path / "store"), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        body = {"query": "anything", "top_k": 1}
        got = httpx.post(f"{url}/api/search", json=body, headers={"X-Request-ID": "cli-1"})
        assert got.status_code == 200 and got.headers["x-request-id"] == "cli-1"
        assert value(samples(httpx.get(f"{url}/metrics").text), "ragqa_documents") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    access = [line for line in lines if line.get("request_id") == "cli-1"]
    assert len(access) == 1 and access[0]["logger"] == "ragqa.access"
    assert (access[0]["path"], access[0]["status"]) == ("/api/search", 200)
