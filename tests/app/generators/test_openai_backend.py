"""The openai generator backend against a real OpenAI-compatible server (llama_cpp.server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.generators.base import ChatMessage
from app.generators.factory import build_generator
from app.generators.llama_cpp import LlamaCppGenerator
from app.generators.openai_backend import (
    DEFAULT_CONTEXT_WINDOW,
    PER_MESSAGE_TOKENS,
    TEMPLATE_TOKENS,
    OpenAIGenerator,
)
from app.main import create_app
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import LiveServer, free_port
from tests.llama_server import MODEL, LlamaServer, shared_server
from vectorstore.bundled import BUNDLED_GENERATOR, resolve_model
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.embedders.openai_server import RemoteServerError, make_client
from vectorstore.store.store import Store

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]


@pytest.fixture(scope="module")
def server() -> LlamaServer:
    return shared_server()


@pytest.fixture(scope="module")
def generator(server: LlamaServer) -> OpenAIGenerator:
    gen = build_generator(MODEL, "openai", base_url=server.url, wait_s=5)
    assert isinstance(gen, OpenAIGenerator)
    gen.load()
    return gen


@pytest.fixture(scope="module")
def local() -> LlamaCppGenerator:
    # The same GGUF in this process: the exact counts the server's must match.
    gen = LlamaCppGenerator(resolve_model(BUNDLED_GENERATOR), context_window=2048)
    gen.load()
    return gen


def test_factory_passes_the_model_name_through_unresolved() -> None:
    # A `bundled:` or Hub name means nothing to a remote server; no local lookup happens.
    gen = build_generator("org/not-on-this-disk", "openai", base_url="http://h:1/v1")
    assert isinstance(gen, OpenAIGenerator)
    assert gen.model_name == "org/not-on-this-disk"
    with pytest.raises(ValueError, match="RAGQA_OPENAI_BASE_URL"):
        build_generator("m", "openai")


def test_settings_refuse_the_backend_without_a_url() -> None:
    with pytest.raises(ValueError, match="RAGQA_OPENAI_BASE_URL"):
        Settings(generator_backend="openai")
    settings = Settings(generator_backend="openai", openai_base_url="http://vllm:8000/v1")
    assert settings.openai_api_key.get_secret_value() == ""


def test_unreachable_server_is_named_in_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    gen = OpenAIGenerator("m", base_url=url, wait_s=0.2)
    with pytest.raises(RemoteServerError, match=f"cannot reach the generator server at {url}"):
        gen.load()


def test_readyz_names_the_server_it_gave_up_on(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    url = f"http://127.0.0.1:{free_port()}/v1"
    emb = HashEmbedder()
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    settings = Settings(
        store=tmp_path / "store",
        generator_backend="openai",
        openai_base_url=url,
        openai_wait_seconds=0.5,
    )
    with TestClient(create_app(settings, store=store, embedder=emb)) as client:
        deadline = time.monotonic() + 30
        body = client.get("/readyz").json()
        while body["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.1)
            body = client.get("/readyz").json()
        # Not ready, not crashed: the process lives on and says why.
        assert body["status"] == "failed" and url in body["detail"], body
        assert client.get("/healthz").status_code == 200
    store.close()


def test_a_silent_server_times_out_with_a_clear_message() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        gen = OpenAIGenerator("m", base_url=url, timeout=0.3, wait_s=0)
        with pytest.raises(RemoteServerError, match=f"server at {url} did not answer in time"):
            gen.load()
        # The same mid-request: the client load() would have made, and no tokenizer.
        gen._client, gen._count = make_client(url, "", 0.3), len
        with pytest.raises(RemoteServerError, match="did not answer in time"):
            list(gen.stream(MESSAGES, max_new_tokens=4))


class _ReportsUsage(BaseHTTPRequestHandler):
    """Streams as vLLM does with include_usage: a last chunk with no choices, only usage."""

    def do_GET(self) -> None:
        self._reply("application/json", json.dumps({"data": [{"id": "m"}]}).encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/chat/completions":
            self._reply("application/json", b"{}", 404)
            return
        chunks: list[dict[str, Any]] = [
            {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 123, "completion_tokens": 7}},
        ]
        common = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        lines = [f"data: {json.dumps({**common, **c})}\n\n" for c in chunks]
        self._reply("text/event-stream", "".join([*lines, "data: [DONE]\n\n"]).encode())

    def _reply(self, kind: str, raw: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


def test_usage_comes_from_the_server_when_it_reports_it() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ReportsUsage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        gen = OpenAIGenerator("m", base_url=f"http://127.0.0.1:{httpd.server_port}/v1")
        assert "".join(gen.stream(MESSAGES, max_new_tokens=8)) == "Hi there"
        assert gen.counter == "estimate"  # no tokenize route: estimates elsewhere
        assert gen.prompt_tokens(MESSAGES) == 123
        assert gen.count_tokens("Hi there") == 7
        assert gen.prompt_tokens(MESSAGES[:1]) != 123  # other messages: counted here
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.models
def test_wrong_model_name_lists_what_the_server_has(server: LlamaServer) -> None:
    gen = OpenAIGenerator("no-such-model", base_url=server.url, wait_s=5)
    with pytest.raises(RemoteServerError, match="no model 'no-such-model'") as info:
        gen.load()
    assert server.url in str(info.value) and MODEL in str(info.value)


@pytest.mark.models
def test_stream_answers_with_text(generator: OpenAIGenerator) -> None:
    pieces = list(generator.stream(MESSAGES, max_new_tokens=6))
    assert pieces and "".join(pieces).strip()
    assert generator.model_name == MODEL


@pytest.mark.models
def test_cancel_stops_the_stream(generator: OpenAIGenerator) -> None:
    cancel = threading.Event()
    pieces = []
    for piece in generator.stream(MESSAGES, max_new_tokens=64, cancel=cancel):
        pieces.append(piece)
        cancel.set()
    assert len(pieces) == 1
    # The closed stream left the server able to answer the next request.
    assert list(generator.stream(MESSAGES, max_new_tokens=3))


@pytest.mark.models
def test_a_stream_the_server_cuts_short_is_an_error(
    generator: OpenAIGenerator, server: LlamaServer
) -> None:
    # Past the server's window llama-cpp-python ends the stream with no chunk at all.
    too_long: list[ChatMessage] = [{"role": "user", "content": "word " * (server.n_ctx + 100)}]
    with pytest.raises(RemoteServerError, match=f"server at {server.url} ended the answer"):
        list(generator.stream(too_long, max_new_tokens=4))


@pytest.mark.models
def test_token_counts_come_from_the_servers_tokenizer(
    generator: OpenAIGenerator, local: LlamaCppGenerator
) -> None:
    assert generator.counter.endswith("/extras/tokenize/count")
    for text in ("Hello world.", "Sourdough needs a starter.", "김치는 발효 음식이다. 1234"):
        # llama-cpp-python's server counts a BOS where the model adds one: at most one more.
        assert 0 <= generator.count_tokens(text) - local.count_tokens(text) <= 1, text


@pytest.mark.models
def test_prompt_tokens_never_undercount_the_chat_template(
    generator: OpenAIGenerator, local: LlamaCppGenerator
) -> None:
    real = local.prompt_tokens(MESSAGES)
    counted = generator.prompt_tokens(MESSAGES)
    assert real <= counted <= real + TEMPLATE_TOKENS + PER_MESSAGE_TOKENS * len(MESSAGES)


@pytest.mark.models
def test_context_window_defaults_low_when_the_server_does_not_say(server: LlamaServer) -> None:
    # llama-cpp-python's /v1/models names no context length.
    assert OpenAIGenerator(MODEL, base_url=server.url).context_window == DEFAULT_CONTEXT_WINDOW
    given = OpenAIGenerator(MODEL, base_url=server.url, context_window=1024)
    assert given.context_window == 1024


@pytest.mark.models
@pytest.mark.server
def test_ask_through_ragqa_with_the_openai_backend(server: LlamaServer, tmp_path: Path) -> None:
    emb = HashEmbedder(max_tokens=64)
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    doc = tmp_path / "lighthouse.md"
    doc.write_text("# Lighthouse\n\nThe Skerry lighthouse was built in 1862 of granite.\n")
    assert run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(doc)]).added
    settings = Settings(
        store=tmp_path / "store",
        generator_backend="openai",
        openai_base_url=server.url,
        generator_model=MODEL,
        openai_wait_seconds=5,
        max_new_tokens=8,
        rate_limit=0,
    )
    # No generator passed: the service builds it from the settings through the factory.
    app = create_app(settings, store=store, embedder=emb)
    with LiveServer(app) as live:
        question = {"question": "When was the Skerry lighthouse built?", "stream": True}
        with httpx.stream("POST", f"{live.url}/api/ask", json=question, timeout=120) as reply:
            assert reply.status_code == 200
            events = _sse(reply.iter_lines())
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and "token" in names, names
    done = events[-1][1]
    assert done["model"] == MODEL and done["grounded"] is True
    assert done["answer"].strip()
    assert done["usage"]["prompt_tokens"] > 0 and done["usage"]["completion_tokens"] > 0
    assert done["sources"][0]["source"].endswith("lighthouse.md")
    store.close()


def _sse(lines: Iterator[str]) -> list[tuple[str, dict]]:
    events, name = [], ""
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
    return events
