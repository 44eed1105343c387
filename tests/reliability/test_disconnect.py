"""A client that leaves mid-stream stops its generation: the model is freed, not left
decoding for nobody. A real uvicorn server over HTTP, a real store on disk."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.generators.base import ChatMessage, Generator
from app.main import create_app
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, LiveServer
from tests.reliability.serving import events
from tests.reliability.slow_serve import SlowGenerator
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

pytestmark = pytest.mark.server
# After the client is gone, generation must end within this (one token or one decode
# step in flight, plus the disconnect reaching the server).
STOP_BOUND_S = 1.0


def serve(folder: Path, generator: Generator) -> LiveServer:
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    summary = run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    assert summary.failed == 0, summary.failures
    # min_relevance 0: the generator is always called, whatever the question retrieves.
    # The check off: tokens stream as generated (checked, a made-up count is held back).
    settings = Settings(
        store=folder, min_relevance=0.0, rate_limit=0, max_new_tokens=256, answer_check="off"
    )
    return LiveServer(create_app(settings, store=store, embedder=emb, generator=generator))


def leave_after(url: str, question: str, tokens: int, top_k: int = 5) -> tuple[float, float]:
    """Stream an answer, read `tokens` token events, drop the connection. Returns the time
    then, and the longest gap seen between two tokens (one decode step, at the most)."""
    body = {"question": question, "stream": True, "top_k": top_k}
    arrivals: list[float] = []
    with httpx.stream("POST", f"{url}/api/ask", json=body, timeout=120) as response:
        assert response.status_code == 200
        for name, _ in events(response):
            if name == "token":
                arrivals.append(time.monotonic())
            if len(arrivals) == tokens:
                break
    # Leaving the block with the body unread closes the connection, as a closed tab does.
    assert len(arrivals) == tokens, "the answer ended before the client could leave"
    return time.monotonic(), max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))


def test_disconnect_stops_generation(tmp_path: Path) -> None:
    slow = SlowGenerator(tokens=200, delay=0.05)  # 10 s of answer if nobody stops it
    with serve(tmp_path / "store", slow) as server:
        left, _ = leave_after(server.url, "How does ragqa cite passages?", 3)
        assert slow.finished.wait(STOP_BOUND_S), (
            f"still generating {STOP_BOUND_S} s after the client left ({slow.produced} tokens)"
        )
        stopped = time.monotonic() - left
        produced = slow.produced
        time.sleep(0.5)
        assert slow.produced == produced, "tokens were produced after generation ended"
        assert produced < slow.tokens
        print(f"\ndisconnect -> generation stopped in {stopped * 1000:.0f} ms, {produced} tokens")


class Counting:
    """A real generator, counting the pieces it produced and noting how its stream ended."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.produced = 0
        self.cut = False  # ended by a cancel or a close, not by the model's own end
        self.finished = threading.Event()

    def __getattr__(self, name: str) -> Any:  # model_name, context_window, count_tokens...
        return getattr(self.inner, name)

    def stream(
        self, messages: Sequence[ChatMessage], *, cancel: threading.Event | None = None, **kw: Any
    ) -> Iterator[str]:
        inner = self.inner.stream(messages, cancel=cancel, **kw)
        self.cut = True
        try:
            for piece in inner:
                self.produced += 1
                yield piece
            self.cut = cancel is not None and cancel.is_set()
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
            self.finished.set()


@pytest.mark.models
def test_disconnect_stops_the_llama_cpp_model(tmp_path: Path) -> None:
    from app.generators.factory import build_generator
    from vectorstore.bundled import BUNDLED_GENERATOR

    real = build_generator(BUNDLED_GENERATOR, "llama_cpp", "cpu")
    real.load()
    model = Counting(real)
    with serve(tmp_path / "store", model) as server:
        # Greedy decoding counts at length: far more than 1 s of tokens on a CPU.
        # One source: a short prompt, read in well under a second even on a busy CPU.
        left, step = leave_after(server.url, "Count from 1 to 50, one number a line.", 3, 1)
        # Plus the decode step under way when the cancel came (on a busy 2-core machine a
        # step of llama.cpp's spinning threads can take well over 100 ms).
        bound = STOP_BOUND_S + 2 * step
        assert model.finished.wait(bound), (
            f"the model still decoded {bound:.1f} s after the client left ({model.produced})"
        )
        stopped = time.monotonic() - left
        assert model.cut, "generation ended on its own, not because the client left"
        print(
            f"\nllama.cpp: stopped {stopped * 1000:.0f} ms after the client left, "
            f"{model.produced} tokens"
        )
