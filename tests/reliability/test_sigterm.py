"""SIGTERM drains: an answer in flight completes (or, past RAGQA_SHUTDOWN_SECONDS, ends
with an `error` event), new connections are refused, the FAISS index is saved, and the
process exits 0 within the bound. A real `ragqa serve` whose generator is merely slow."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import DEFAULT_EMBEDDING_MODEL
from tests.reliability.serving import ServeProcess, events, integrity, refused
from vectorstore.store.store import INDEX_FILE, Store

pytestmark = [pytest.mark.server, pytest.mark.models]
MARGIN_S = 3.0  # process exit after the drain: lifespan shutdown, FAISS save, interpreter exit


def serve(tmp_path: Path, tokens: int, shutdown_seconds: float) -> ServeProcess:
    return ServeProcess(
        tmp_path / "store",
        tmp_path / "serve.log",
        module="tests.reliability.slow_serve",
        SLOW_TOKENS=str(tokens),
        SLOW_DELAY="0.05",
        RAGQA_SHUTDOWN_SECONDS=str(shutdown_seconds),
        # Tokens stream as generated: the slow model's made-up words would be held back.
        RAGQA_ANSWER_CHECK="off",
    )


def upload(url: str) -> None:
    """A write the server has in memory only: its saved FAISS file is stale until the
    shutdown saves it."""
    files = [("files", ("lighthouse.md", "# Lighthouse\n\nThe harbour lighthouse guides ships.\n"))]
    response = httpx.post(f"{url}/api/documents", files=files, timeout=120)
    assert response.status_code == 200, response.text


def terminate_mid_answer(server: ServeProcess) -> tuple[list[tuple[str, dict[str, Any]]], float]:
    """Stream an answer, SIGTERM the server after 3 tokens, check that new connections are
    refused while the answer is still streaming, and read the stream to its end.
    Returns the events and the time of the signal."""
    body = {"question": "What guides ships in the harbour?", "stream": True}
    seen: list[tuple[str, dict[str, Any]]] = []
    signalled = 0.0
    refused_mid_stream = False
    with httpx.stream("POST", f"{server.url}/api/ask", json=body, timeout=60) as response:
        assert response.status_code == 200
        for name, data in events(response):
            seen.append((name, data))
            if name == "token" and not signalled and sum(n == "token" for n, _ in seen) == 3:
                server.proc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
            if signalled and not refused_mid_stream and name == "token":
                # uvicorn closes its listening socket within ~0.2 s of the signal.
                refused_mid_stream = time.monotonic() - signalled > 0.3 and refused(server.url)
    assert signalled, f"the answer ended before it could be interrupted: {seen}"
    assert refused_mid_stream, "new connections were still accepted while draining"
    return seen, signalled


def assert_exits_cleanly(server: ServeProcess, signalled: float, bound: float) -> float:
    try:
        code = server.proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {bound} s after SIGTERM:\n{server.output()}")
    took = time.monotonic() - signalled
    assert code == 0, f"exit code {code} after SIGTERM:\n{server.output()}"
    assert "Traceback" not in server.output()
    return took


def assert_store_saved(store: Path) -> None:
    """The shutdown saved the FAISS index for the store's latest generation."""
    saved = json.loads((store / INDEX_FILE).with_suffix(".json").read_text())
    opened = Store(store, DEFAULT_EMBEDDING_MODEL)
    try:
        assert saved["generation"] == opened.generation()
        assert saved["count"] == opened.stats()["chunks"]
    finally:
        opened.close()
    assert integrity(store) == []


def test_sigterm_lets_the_answer_in_flight_finish(tmp_path: Path) -> None:
    drain = 5.0
    with serve(tmp_path, tokens=40, shutdown_seconds=drain) as server:  # a 2 s answer
        upload(server.url)
        seen, signalled = terminate_mid_answer(server)
        names = [n for n, _ in seen]
        assert names[0] == "sources" and names[-1] == "done", names
        done = seen[-1][1]
        assert names.count("token") == 40 and "w39" in done["answer"].split(), done
        took = assert_exits_cleanly(server, signalled, drain + MARGIN_S)
    assert_store_saved(tmp_path / "store")
    print(f"\nSIGTERM mid-answer: answer completed, exit 0 {took:.1f} s after the signal")


def test_sigterm_ends_an_answer_too_long_for_the_drain_with_an_error(tmp_path: Path) -> None:
    drain = 2.0
    with serve(tmp_path, tokens=400, shutdown_seconds=drain) as server:  # a 20 s answer
        upload(server.url)
        seen, signalled = terminate_mid_answer(server)
        ended = time.monotonic() - signalled
        names = [n for n, _ in seen]
        assert names[-1] == "error" and "done" not in names, names
        assert "shutting down" in seen[-1][1]["detail"]
        assert ended < drain, f"the stream ended {ended:.1f} s after SIGTERM"
        took = assert_exits_cleanly(server, signalled, drain + MARGIN_S)
    assert_store_saved(tmp_path / "store")
    print(
        f"\nSIGTERM, answer longer than the {drain:.0f} s drain: `error` event after "
        f"{ended:.1f} s, exit 0 {took:.1f} s after the signal"
    )
