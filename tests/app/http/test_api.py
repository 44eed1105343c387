"""The HTTP API in process: happy paths, streaming, and a table of bad input. (A real
uvicorn server over sockets is what test_openai_api.py, the page's tests and
tests/test_end_to_end.py talk to.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import fixture_app, in_process


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with in_process(fixture_app(tmp_path_factory.mktemp("api") / "store")) as client:
        yield client


def snapshot(client: httpx.Client) -> tuple[int, int, int]:
    stats = client.get("/api/stats").json()
    return stats["documents"], stats["chunks"], stats["generation"]


def test_health_ready_page_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/search", "/api/ask", "/api/documents", "/api/stats"):
        assert path in paths


def test_search_returns_numbered_sources(client: httpx.Client) -> None:
    for mode in ("hybrid", "dense", "lexical"):
        body = {"query": "How does ragqa cite passages?", "top_k": 3, "mode": mode}
        results = client.post("/api/search", json=body).json()["results"]
        assert [r["n"] for r in results] == list(range(1, len(results) + 1))
        assert results, mode
        if mode != "dense":  # the hash embedder's dense ranking is only roughly topical
            assert results[0]["document_id"].endswith("ragqa-overview.md"), mode
        assert set(results[0]) >= {"document_id", "source", "title", "chunk_id", "text", "score"}


def test_search_reply_is_the_documented_model(client: httpx.Client) -> None:
    from app.schemas import SearchResponse

    reply = client.post("/api/search", json={"query": "ragqa 한국어 검색", "top_k": 2})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    parsed = SearchResponse.model_validate_json(reply.content)
    assert parsed.model_dump(mode="json") == reply.json() and parsed.results
    schema = client.get("/openapi.json").json()["paths"]["/api/search"]["post"]["responses"]
    assert schema["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SearchResponse"
    )


def test_ask_answers_with_valid_citations(client: httpx.Client) -> None:
    answer = client.post("/api/ask", json={"question": "How does ragqa cite passages?"}).json()
    assert answer["grounded"] is True and answer["answer"]
    assert answer["citations"] and all(
        1 <= n <= len(answer["sources"]) for n in answer["citations"]
    )
    assert answer["usage"]["prompt_tokens"] > 0 and answer["timings"]["retrieve_ms"] >= 0


def test_ask_off_topic_is_not_grounded(client: httpx.Client) -> None:
    answer = client.post("/api/ask", json={"question": "Who won the 1966 chess olympiad?"}).json()
    assert answer["grounded"] is False and answer["citations"] == []
    assert "could not find" in answer["answer"]
    korean = client.post("/api/ask", json={"question": "비트코인 가격은 얼마인가요?"}).json()
    assert korean["grounded"] is False and "문서" in korean["answer"]


def test_ask_streams_sources_tokens_done(client: httpx.Client) -> None:
    body = {"question": "How does ragqa cite passages?", "stream": True}
    events: list[tuple[str, dict]] = []
    with client.stream("POST", "/api/ask", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
    names = [n for n, _ in events]
    # Quotes before the model writes; tokens a checked sentence at a time; then the check.
    assert names[:2] == ["sources", "quotes"] and names[-2:] == ["support", "done"]
    assert names.count("token") >= 1 and set(names[2:-2]) == {"token"}
    done = events[-1][1]
    streamed = "".join(p["text"] for n, p in events if n == "token")
    assert done["answer"] and done["citations"] and streamed.strip() == done["answer"]
    assert done["support"] == events[-2][1] and done["support"]["supported_share"] == 1.0


def test_documents_upload_list_get_delete(client: httpx.Client) -> None:
    files = [("files", ("notes/../../etc/guide.md", b"# Guide\n\nZebras are striped.\n"))]
    uploaded = client.post("/api/documents", files=files).json()["documents"]
    assert uploaded == [{"id": "guide.md", "source": "guide.md", "status": "added", "chunks": 1}]
    again = client.post("/api/documents", files=files).json()["documents"]
    assert again[0]["status"] == "unchanged"
    listing = client.get("/api/documents", params={"limit": 1000}).json()
    assert "guide.md" in [d["id"] for d in listing["documents"]] and listing["total"] >= 1
    detail = client.get("/api/documents/guide.md").json()
    assert detail["chunks"][0]["text"] == "Zebras are striped."
    hits = client.post("/api/search", json={"query": "zebras striped", "mode": "lexical"}).json()
    assert hits["results"][0]["document_id"] == "guide.md"
    assert client.delete("/api/documents/guide.md").status_code == 204
    assert client.get("/api/documents/guide.md").status_code == 404
    hits = client.post("/api/search", json={"query": "zebras striped", "mode": "lexical"}).json()
    assert all(r["document_id"] != "guide.md" for r in hits["results"])


def test_ids_with_slashes_route_url_encoded(client: httpx.Client) -> None:
    doc_id = client.get("/api/documents", params={"limit": 1000}).json()["documents"][0]["id"]
    assert "/" in doc_id
    assert client.get(f"/api/documents/{quote(doc_id, safe='')}").json()["id"] == doc_id


def _pdf_garbage() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF"


BAD = [
    ("empty question", "post", "/api/ask", {"json": {"question": ""}}, 422, "question"),
    ("blank question", "post", "/api/ask", {"json": {"question": "   "}}, 422, "whitespace"),
    ("100 KB question", "post", "/api/ask", {"json": {"question": "x" * 100_000}}, 413, "limit"),
    ("top_k 0", "post", "/api/search", {"json": {"query": "q", "top_k": 0}}, 422, "top_k"),
    ("top_k huge", "post", "/api/ask", {"json": {"question": "q", "top_k": 100000}}, 422, "top_k"),
    ("bad mode", "post", "/api/search", {"json": {"query": "q", "mode": "x"}}, 422, "mode"),
    ("unknown id", "get", "/api/documents/no%2Fsuch.md", {}, 404, "no/such.md"),
    ("delete unknown", "delete", "/api/documents/nope", {}, 404, "nope"),
    ("no files", "post", "/api/documents", {"data": {"x": "1"}}, 422, "files"),
    ("empty upload", "post", "/api/documents", {"files": [("files", ("e.md", b""))]}, 400, "empty"),
    (
        "binary named .txt",
        "post",
        "/api/documents",
        {"files": [("files", ("bin.txt", bytes(range(256)) * 40))]},
        415,
        "binary",
    ),
    (
        "unsupported type",
        "post",
        "/api/documents",
        {"files": [("files", ("x.exe", b"MZ\x90\x00"))]},
        415,
        "unsupported",
    ),
    (
        "malformed PDF",
        "post",
        "/api/documents",
        {"files": [("files", ("bad.pdf", _pdf_garbage()))]},
        422,
        "PDF",
    ),
    (
        "50 MB upload",
        "post",
        "/api/documents",
        {"files": [("files", ("big.txt", b"a" * (50 * 1024 * 1024)))]},
        413,
        "limit",
    ),
    (
        "not json",
        "post",
        "/api/search",
        {"content": b"{", "headers": {"content-type": "application/json"}},
        422,
        "json",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status", "reason"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_input_gets_4xx_with_reason_and_store_unchanged(
    client: httpx.Client, name: str, method: str, path: str, kwargs: dict, status: int, reason: str
) -> None:
    before = snapshot(client)
    response = client.request(method.upper(), path, **kwargs)
    assert response.status_code == status, response.text
    assert reason.lower() in json.dumps(response.json()["detail"]).lower()
    assert snapshot(client) == before
