"""The openai embedding backend against a real server (llama_cpp.server), and its errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.config import Settings
from app.tooling.bench.server import free_port
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.llama_server import MODEL, LlamaServer, shared_server
from vectorstore.bundled import BUNDLED_GENERATOR, resolve_model
from vectorstore.embedders.factory import make_embedder
from vectorstore.embedders.openai_api import DEFAULT_MAX_INPUT, SPECIAL_TOKENS, OpenAIEmbedder
from vectorstore.embedders.openai_server import RemoteServerError
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store
from vectorstore.types import EmbeddingMismatchError

SMOLLM2_HIDDEN = 576
PARAGRAPHS = [
    "A sourdough starter is flour and water that wild yeast has colonised.",
    "Kimchi is napa cabbage fermented with chili, garlic and salted fish.",
    "The Skerry lighthouse was built of granite in 1862 on a bare rock.",
    "Bees dance to tell their sisters where the flowers are and how far.",
]


@pytest.fixture(scope="module")
def server() -> LlamaServer:
    return shared_server()


@pytest.fixture(scope="module")
def embedder(server: LlamaServer) -> OpenAIEmbedder:
    emb = make_embedder(MODEL, "openai", base_url=server.url, batch_size=2, wait_s=5)
    assert isinstance(emb, OpenAIEmbedder)
    return emb.load()


def test_settings_need_a_url_and_keep_refusing_onnx_on_cuda() -> None:
    with pytest.raises(ValueError, match="RAGQA_EMBEDDING_BASE_URL"):
        Settings(embedding_backend="openai")
    Settings(embedding_backend="openai", embedding_base_url="http://tei/v1", device="cuda")
    with pytest.raises(ValueError, match="runs on the CPU"):
        Settings(embedding_backend="onnx", device="cuda")
    with pytest.raises(ValueError, match="RAGQA_EMBEDDING_BASE_URL"):
        make_embedder("m", "openai")
    # Constructing does not touch the network, nor look the model up on this disk.
    emb = make_embedder("org/not-on-this-disk", "openai", base_url="http://tei:80/v1")
    assert isinstance(emb, OpenAIEmbedder) and emb.model_name == "org/not-on-this-disk"


@pytest.mark.models
def test_vectors_are_normalised_and_batching_keeps_the_order(embedder: OpenAIEmbedder) -> None:
    texts = ["Sourdough needs a starter.", "Kimchi is fermented.", "Lighthouses", "x", "김치"]
    vectors = embedder.embed(texts)  # three requests of at most two texts
    assert embedder.dimension == SMOLLM2_HIDDEN
    assert vectors.shape == (5, SMOLLM2_HIDDEN) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = np.stack([embedder.embed_query(t) for t in texts])
    assert np.all(np.sum(vectors * alone, axis=1) > 0.999)
    assert embedder.embed([]).shape == (0, SMOLLM2_HIDDEN)


@pytest.mark.models
def test_counts_and_limit_for_chunking(embedder: OpenAIEmbedder, server: LlamaServer) -> None:
    from llama_cpp import Llama

    assert embedder.counter.endswith("/extras/tokenize/count")
    vocab = Llama(resolve_model(BUNDLED_GENERATOR), vocab_only=True, verbose=False)
    texts = ["Sourdough needs a starter.", "김치는 발효 음식이다."]
    real = [len(vocab.tokenize(t.encode(), add_bos=False, special=False)) for t in texts]
    assert embedder.count_tokens(texts) == real
    # llama-cpp-python reports no limit: the default, less the special tokens.
    assert embedder.max_tokens == DEFAULT_MAX_INPUT - SPECIAL_TOKENS
    capped = OpenAIEmbedder(MODEL, base_url=server.url, max_tokens=128)
    assert capped.max_tokens == 128 - SPECIAL_TOKENS


@pytest.mark.models
def test_ingest_and_search(embedder: OpenAIEmbedder, tmp_path: Path) -> None:
    # Short, so that few tokens go through the model: a busy CI machine embeds slowly.
    store = Store(tmp_path / "store", embedder.model_name, embedder.dimension)
    try:
        doc = tmp_path / "notes.md"
        doc.write_text("\n\n".join(PARAGRAPHS))
        pipeline = Pipeline(store, embedder, chunk_tokens=24, chunk_overlap=0)
        summary = run_ingest(pipeline, [str(doc)])
        assert summary.failed == 0 and summary.chunks >= 3
        documents, _ = store.list_documents()
        chunks = store.get_chunks(documents[0].id)
        target = chunks[len(chunks) // 2]
        # A causal LM's embeddings are no retriever, but a chunk's own text finds it.
        hits = Retriever(store, embedder).search(target.text, top_k=3, mode="dense")
        assert hits[0].chunk_id == target.chunk_id
    finally:
        store.close()
    # The store recorded the served model's name: another model is refused.
    with pytest.raises(EmbeddingMismatchError, match=MODEL):
        Store(tmp_path / "store", "other-model", embedder.dimension)


@pytest.mark.models
def test_wrong_model_name_is_refused(server: LlamaServer) -> None:
    with pytest.raises(RemoteServerError, match=f"embedding server at {server.url}.*no model"):
        OpenAIEmbedder("no-such-model", base_url=server.url, wait_s=5).load()


def test_unreachable_server_is_named_in_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(RemoteServerError, match=f"cannot reach the embedding server at {url}"):
        OpenAIEmbedder("m", base_url=url, wait_s=0.2).load()


class _PerToken(BaseHTTPRequestHandler):
    """A minimal OpenAI-style server: one model, and per-token embeddings (no pooling)."""

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def do_POST(self) -> None:
        body = self._body()
        if self.path != "/v1/embeddings":
            self._send({"error": "not found"}, 404)
            return
        data = [
            {"object": "embedding", "index": i, "embedding": [[0.1, 0.2], [0.3, 0.4]]}
            for i in range(len(body["input"]))
        ]
        self._send({"object": "list", "data": data, "model": "fake"})

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def _send(self, payload: Any, status: int = 200) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


class _TeiLike(_PerToken):
    """As text-embeddings-inference answers: no /v1/models, the model in /info, a /tokenize
    that takes `inputs` and answers a list of tokens per input, and vectors in reverse order
    (the API's `index` says which is which)."""

    def do_GET(self) -> None:
        if self.path == "/info":
            self._send({"model_id": "BAAI/bge-small-en-v1.5", "max_input_length": 512})
        else:
            self._send({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/tokenize" and "inputs" in body:
            self._send([[{"id": i} for i, _ in enumerate(body["inputs"].split())]])
        elif self.path == "/v1/embeddings":
            data = [
                {"object": "embedding", "index": i, "embedding": [3.0 * (i + 1), 4.0, 0.0]}
                for i in range(len(body["input"]))
            ]
            self._send({"object": "list", "data": data[::-1], "model": "bge"})
        else:
            self._send({"error": "unprocessable"}, 422)


@contextmanager
def _serve_later(port: int, delay: float, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    httpd: ThreadingHTTPServer | None = None

    def start() -> None:
        nonlocal httpd
        time.sleep(delay)
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        httpd.serve_forever()

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    try:
        yield
    finally:
        deadline = time.monotonic() + delay + 5
        while httpd is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        thread.join(timeout=5)


def test_start_up_waits_for_a_late_server_and_explains_per_token_vectors() -> None:
    # docker-compose may start ragqa before the embedding server listens.
    port = free_port()
    with _serve_later(port, 1.5, _PerToken):
        emb = OpenAIEmbedder("fake", base_url=f"http://127.0.0.1:{port}/v1", wait_s=30)
        started = time.monotonic()
        with pytest.raises(RemoteServerError, match="one vector per text"):
            emb.load()  # reaches the server, then its first embedding is per token
        assert time.monotonic() - started >= 1.0
        assert emb.counter == "estimate"  # the fake has no tokenize route


def test_a_server_without_a_model_list_is_checked_by_its_info() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with _serve_later(port, 0.0, _TeiLike):
        emb = OpenAIEmbedder("BAAI/bge-small-en-v1.5", base_url=url, batch_size=2, wait_s=5)
        vectors = emb.embed(["one", "two words", "three more words"])
        assert emb.counter.endswith("/tokenize")
        assert emb.count_tokens(["two words", "three more words"]) == [2, 3]
        assert emb.max_tokens == 512 - SPECIAL_TOKENS  # from /info
        # Sorted back by index within each batch, then normalised: [3k, 4, 0] / |.|
        expected = np.array([[3, 4, 0], [6, 4, 0], [3, 4, 0]], dtype=np.float32)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert np.allclose(vectors, expected)
        with pytest.raises(RemoteServerError, match=r"serves \['BAAI/bge-small-en-v1.5'\]"):
            OpenAIEmbedder("other/model", base_url=url, wait_s=5).load()
