"""Shared fixtures: fast fakes, stores on disk, and a real uvicorn server on a free port."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.config import Settings
from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator
from app.main import create_app
from app.tooling.bench.server import free_port, wait_ready
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

if TYPE_CHECKING:
    from fastapi import FastAPI

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The ONNX export of the embedder is made once per test session (the servers tests start
# inherit this), never into the user's own ~/.cache/ragqa.
_CACHE = None
if "RAGQA_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="ragqa-test-cache-")
    os.environ["RAGQA_CACHE_DIR"] = _CACHE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _CACHE is not None:
        shutil.rmtree(_CACHE, ignore_errors=True)


def shared_path(*parts: str) -> Path:
    """A path in ../shared, or a skip with the reason when this clone has none."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared ships beside CI's checkout, not in clones)")
    return path


class Scripted(EchoGenerator):
    """Writes the given text, a word at a time."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.calls = 0
        self.sent: list[Sequence[ChatMessage]] = []

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls += 1
        self.sent.append(messages)
        words = self.text.split(" ")
        for i, word in enumerate(words):
            yield word + (" " if i + 1 < len(words) else "")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder(max_tokens=64)


@pytest.fixture
def store(tmp_path: Path, embedder: HashEmbedder) -> Iterator[Store]:
    s = Store(tmp_path / "store", embedder.model_name, embedder.dimension)
    yield s
    s.close()


@pytest.fixture
def pipeline(store: Store, embedder: HashEmbedder) -> Pipeline:
    return Pipeline(store, embedder, chunk_tokens=64, chunk_overlap=8)


class LiveServer:
    """uvicorn serving an app in a thread of this process, on a free loopback port."""

    def __init__(self, app: object, *, wait: bool = True) -> None:
        import uvicorn

        self.wait = wait  # False: the caller waits (or does not) for readiness itself
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        if self.wait:
            wait_ready(self.url, 300, alive=self.thread.is_alive)
        else:
            while not self.server.started and self.thread.is_alive():
                time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def fixture_store(folder: Path) -> tuple[Store, HashEmbedder]:
    """A store at `folder` with the fixture corpus (English and Korean) ingested with the
    hash embedder."""
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    summary = run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    assert summary.failed == 0, summary.failures
    return store, emb


def fixture_app(folder: Path, **settings: Any) -> FastAPI:
    """The app over `fixture_store(folder)` with the echo generator and these settings."""
    store, emb = fixture_store(folder)
    return create_app(
        Settings(store=folder, min_relevance=0.2, **settings),
        store=store,
        embedder=emb,
        generator=EchoGenerator(),
    )


@contextmanager
def fixture_server(folder: Path, **settings: Any) -> Iterator[str]:
    """Base URL of a real server over `fixture_app(folder, **settings)`."""
    with LiveServer(fixture_app(folder, **settings)) as server:
        yield server.url


@contextmanager
def in_process(app: FastAPI) -> Iterator[httpx.Client]:
    """An httpx client that calls `app` in this process, no socket between them, once
    the app is ready: for HTTP behaviour where the server itself is not tested."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as client:
        # The parts load in a background thread, as under uvicorn: wait for them.
        wait_ready("", 300, get=client.get)
        yield client


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the shared real server over the fixture corpus."""
    # No rate limit: the many tests sharing this server all come from 127.0.0.1.
    with fixture_server(tmp_path_factory.mktemp("live") / "store", rate_limit=0) as url:
        yield url
