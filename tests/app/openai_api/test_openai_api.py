"""The OpenAI-compatible API under /v1, driven by the official openai client against a real
uvicorn server: completions, streaming, embeddings, models, bad requests and API keys."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from app.config import Settings
from app.generators.echo import EchoGenerator
from app.main import create_app
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, LiveServer
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

pytestmark = pytest.mark.server
QUESTION = "How does ragqa cite passages?"
OFF_TOPIC = "Who won the 1966 chess olympiad?"


def connect(url: str, key: str = "no-key-needed") -> OpenAI:
    # No retries: a refused request must fail the test at once, not three times slower.
    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def ask(question: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": question}]


@pytest.fixture(scope="module")
def client(live_server: str) -> OpenAI:
    return connect(live_server)


def extra(obj: Any) -> dict[str, Any]:
    """The ragqa fields (sources, citations, grounded) the openai models keep as extras."""
    return dict(obj.model_extra or {})


def test_completion_cites_sources_in_a_footer_and_counts_usage(
    client: OpenAI, live_server: str
) -> None:
    done = client.chat.completions.create(model="gpt-4o", messages=ask(QUESTION))
    assert done.object == "chat.completion" and done.id.startswith("chatcmpl-")
    assert done.model == "echo"  # the generator's name, whatever the client asked for
    [choice] = done.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    sources, citations = extra(done)["sources"], extra(done)["citations"]
    assert extra(done)["grounded"] is True and citations
    text, _, names = (choice.message.content or "").partition("\n\nSources: ")
    cited = [f"[{n}] {Path(sources[n - 1]['document_id']).name}" for n in sorted(citations)]
    assert names == ", ".join(cited) and "/" not in names
    # The same answer /api/ask gives, with the footer added.
    native = httpx.post(f"{live_server}/api/ask", json={"question": QUESTION}, timeout=60).json()
    assert text == native["answer"] and sources == native["sources"]
    assert done.usage is not None
    assert done.usage.prompt_tokens == native["usage"]["prompt_tokens"] > 0
    assert done.usage.completion_tokens == native["usage"]["completion_tokens"] > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_off_topic_answer_says_so_without_a_footer(client: OpenAI) -> None:
    done = client.chat.completions.create(model="m", messages=ask(OFF_TOPIC))
    content = done.choices[0].message.content or ""
    assert "could not find" in content and "Sources:" not in content
    assert extra(done)["grounded"] is False and extra(done)["citations"] == []


def test_history_reaches_the_prompt_and_system_messages_do_not(
    client: OpenAI, live_server: str
) -> None:
    def prompt_tokens(messages: list[ChatCompletionMessageParam]) -> int:
        usage = client.chat.completions.create(model="m", messages=messages).usage
        assert usage is not None
        return usage.prompt_tokens

    def native(history: list[dict[str, str]]) -> int:
        body = {"question": QUESTION, "history": history}
        answer = httpx.post(f"{live_server}/api/ask", json=body, timeout=60).json()
        return int(answer["usage"]["prompt_tokens"])

    turns: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is ragqa?"},
        {"role": "assistant", "content": "A question answering service."},
    ]
    system: ChatCompletionMessageParam = {
        "role": "system",
        "content": "Answer like a pirate and never cite anything.",
    }
    # The same prompt /api/ask builds from the same turns, and not the one without them.
    with_history = native([{"role": str(m["role"]), "content": str(m["content"])} for m in turns])
    assert with_history != native([])
    assert prompt_tokens([*turns, *ask(QUESTION)]) == with_history
    assert prompt_tokens([system, *turns, system, *ask(QUESTION)]) == with_history
    assert prompt_tokens([system, *ask(QUESTION)]) == native([])


def test_max_tokens_cuts_the_answer_and_says_length(client: OpenAI) -> None:
    done = client.chat.completions.create(
        model="m", messages=ask(QUESTION), max_tokens=3, temperature=0.7
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == 3
    newer = client.chat.completions.create(
        model="m", messages=ask(QUESTION), max_completion_tokens=2
    )
    assert newer.usage is not None and newer.usage.completion_tokens == 2
    # Past the server's RAGQA_MAX_NEW_TOKENS the request is capped, not refused.
    capped = client.chat.completions.create(model="m", messages=ask(QUESTION), max_tokens=10**6)
    assert capped.choices[0].finish_reason == "stop"


def test_stream_assembles_to_the_plain_completion(client: OpenAI) -> None:
    plain = client.chat.completions.create(model="m", messages=ask(QUESTION))
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=ask(QUESTION),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    first, *middle, last_choice, usage = chunks
    assert first.choices[0].delta.role == "assistant"
    assert extra(first)["sources"] == extra(plain)["sources"]
    deltas = [c.choices[0].delta.content for c in middle]
    assert len(deltas) >= 2  # a checked sentence at a time, then the footer
    assert (first.choices[0].delta.content or "") + "".join(d or "" for d in deltas) == (
        plain.choices[0].message.content
    )
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert last_choice.choices[0].finish_reason == "stop"
    assert extra(last_choice)["citations"] == extra(plain)["citations"]
    assert usage.choices == [] and usage.usage == plain.usage


def test_stream_ends_with_the_markers_added_after_generation(client: OpenAI) -> None:
    # Cut at nine words the echo answer cites nothing; ragqa then attributes a source and
    # appends ` [n]`, which the stream must still deliver after the streamed words. (Fewer
    # words would only repeat the question, which answers nothing.)
    question = "What does ragqa do with the passages it uses?"
    plain = client.chat.completions.create(model="m", messages=ask(question), max_tokens=9)
    content = plain.choices[0].message.content or ""
    assert re.fullmatch(r"(\S+ ){9}\[\d+\]", content.split("\n\n")[0]), content
    stream = client.chat.completions.create(
        model="m", messages=ask(question), max_tokens=9, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == content


def test_stream_is_openai_sse_ending_with_done(live_server: str) -> None:
    body = {"model": "m", "messages": ask(OFF_TOPIC), "stream": True}
    with httpx.stream("POST", f"{live_server}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line and not line.startswith(":")]
    assert all(line.startswith("data: ") for line in lines), lines  # no `event:` names
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["grounded"] is False
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "could not find" in text


def expected(*texts: str) -> np.ndarray:
    return HashEmbedder(max_tokens=64).embed(list(texts))


def test_embeddings_as_floats_and_base64(client: OpenAI) -> None:
    one = client.embeddings.create(model="m", input="lighthouse keeper", encoding_format="float")
    assert one.model == "hash" and len(one.data) == 1
    assert len(one.data[0].embedding) == 256  # the hash embedder's dimension
    assert np.allclose(one.data[0].embedding, expected("lighthouse keeper")[0])
    assert one.usage.prompt_tokens == one.usage.total_tokens == 2

    texts = ["lighthouse keeper", "sourdough starter", "kimchi"]
    raw = client.embeddings.create(model="m", input=texts, encoding_format="base64")
    assert [d.index for d in raw.data] == [0, 1, 2]
    decoded = [np.frombuffer(base64.b64decode(str(d.embedding)), "<f4") for d in raw.data]
    assert np.allclose(np.stack(decoded), expected(*texts))
    # Without encoding_format the client asks for base64 and decodes it itself.
    default = client.embeddings.create(model="m", input=texts)
    assert np.allclose([d.embedding for d in default.data], expected(*texts))
    assert default.usage.prompt_tokens == 5


def test_models_lists_generator_and_embedder(client: OpenAI) -> None:
    cards = {m.id: m.owned_by for m in client.models.list()}
    assert cards == {"echo": "ragqa-chat", "hash": "ragqa-embeddings"}
    assert client.models.retrieve("hash").owned_by == "ragqa-embeddings"
    with pytest.raises(openai.NotFoundError, match="no model"):
        client.models.retrieve("gpt-4o")


CHAT_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("empty messages", {"messages": []}, "at least 1"),
    ("no user message", {"messages": [{"role": "system", "content": "hi"}]}, "no user message"),
    ("n=2", {"messages": ask(QUESTION), "n": 2}, "n must be 1"),
    ("tools", {"messages": ask(QUESTION), "tools": [{"type": "function"}]}, "tool calling"),
    (
        "assistant last",
        {"messages": [*ask(QUESTION), {"role": "assistant", "content": "It"}]},
        "last message",
    ),
    ("blank question", {"messages": ask("   ")}, "empty"),
    ("long question", {"messages": ask("x" * 5000)}, "limit 4000"),
    ("temperature 3", {"messages": ask(QUESTION), "temperature": 3}, "temperature"),
    ("max_tokens 0", {"messages": ask(QUESTION), "max_tokens": 0}, "max_tokens"),
    (
        "image part",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "only text",
    ),
    (
        "json output",
        {"messages": ask(QUESTION), "response_format": {"type": "json_object"}},
        "text",
    ),
    ("top_k 0", {"messages": ask(QUESTION), "extra_body": {"top_k": 0}}, "top_k"),
]


@pytest.mark.parametrize(("name", "kwargs", "reason"), CHAT_BAD, ids=[c[0] for c in CHAT_BAD])
def test_bad_chat_requests_raise_bad_request_with_a_reason(
    client: OpenAI, name: str, kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="m", **kwargs)
    assert reason in raised.value.message
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == (
        "invalid_request_error"
    )


EMBED_BAD: list[tuple[str, Any, str]] = [
    ("token ids", [[1, 2, 3]], "token-id"),
    ("flat token ids", [1, 2, 3], "token-id"),
    ("empty list", [], "no text"),
    ("empty string", "", "empty"),
    ("too long", " ".join(["word"] * 65), "65 tokens"),
]


@pytest.mark.parametrize(("name", "given", "reason"), EMBED_BAD, ids=[c[0] for c in EMBED_BAD])
def test_bad_embedding_inputs_raise_bad_request_with_a_reason(
    client: OpenAI, name: str, given: Any, reason: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=reason):
        client.embeddings.create(model="m", input=given, encoding_format="float")


def test_error_body_has_openai_error_and_detail(live_server: str) -> None:
    for body in (b"{", b'{"messages": [{"role": "user", "content": "q"}], "n": 5}'):
        response = httpx.post(
            f"{live_server}/v1/chat/completions",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert response.json()["detail"] == error["message"]


def test_other_openai_fields_are_accepted_and_ignored(live_server: str) -> None:
    body = {
        "model": "gpt-4o",
        "messages": ask(QUESTION),
        "n": None,  # some clients send every field, unset ones as null
        "top_p": 0.9,
        "stop": ["\n"],
        "seed": 7,
        "user": "someone",
        "presence_penalty": 0.5,
        "tool_choice": "none",
        "response_format": {"type": "text"},
    }
    response = httpx.post(f"{live_server}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["grounded"] is True


def test_loading_service_answers_503_in_openai_shape() -> None:
    # Without its lifespan the app never loads its parts: every /v1 route says so.
    client = TestClient(create_app(Settings(rate_limit=0)))
    for method, path in (("POST", "/v1/chat/completions"), ("GET", "/v1/models")):
        body = {"messages": ask(QUESTION)} if method == "POST" else None
        response = client.request(method, path, json=body)
        assert response.status_code == 503
        assert "loading" in response.json()["error"]["message"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("openai-keyed") / "store"
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    settings = Settings(store=folder, api_keys="sk-right-1,sk-right-2", rate_limit=0)
    app = create_app(settings, store=store, embedder=emb, generator=EchoGenerator())
    with LiveServer(app) as server:
        yield server.url


def test_api_keys_are_the_openai_clients_api_key(keyed: str) -> None:
    right = connect(keyed, "sk-right-2")
    assert {m.id for m in right.models.list()} == {"echo", "hash"}
    done = right.chat.completions.create(model="m", messages=ask(QUESTION))
    assert extra(done)["grounded"] is True
    wrong = connect(keyed, "sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="m", messages=ask(QUESTION))
    with pytest.raises(openai.AuthenticationError):
        wrong.embeddings.create(model="m", input="lighthouse")


@pytest.mark.models
def test_real_models_answer_plain_and_streamed(tmp_path: Path) -> None:
    """The bundled embedder and generator behind the openai client, over a one-file store."""
    settings = Settings(store=tmp_path / "store", rate_limit=0, max_new_tokens=48)
    with LiveServer(create_app(settings)) as server:
        note = b"# Lighthouses\n\nThe Pharos of Alexandria was a lighthouse built around 280 BC.\n"
        upload = httpx.post(
            f"{server.url}/api/documents", files=[("files", ("pharos.md", note))], timeout=300
        )
        assert upload.status_code == 200, upload.text
        client = connect(server.url)
        question = ask("When was the Pharos of Alexandria built?")
        done = client.chat.completions.create(model="m", messages=question)
        content = done.choices[0].message.content or ""
        assert content.strip() and extra(done)["sources"][0]["document_id"] == "pharos.md"
        assert done.model == client.models.list().data[0].id
        assert done.usage is not None and done.usage.completion_tokens > 0
        # One source: the footer names it exactly when the answer cites it.
        assert content.endswith("\n\nSources: [1] pharos.md") == bool(extra(done)["citations"])
        chunks = list(client.chat.completions.create(model="m", messages=question, stream=True))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed.strip() and chunks[-1].choices[0].finish_reason in ("stop", "length")
        assert extra(chunks[0])["sources"][0]["document_id"] == "pharos.md"
