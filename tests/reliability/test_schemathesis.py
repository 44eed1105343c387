"""Schema-driven fuzzing of every route in /openapi.json against a real server on a
throwaway store: valid and invalid requests alike must never get a 5xx, and every answer
must match the schema and status codes the API documents.

RAGQA_FUZZ_EXAMPLES=N raises the examples per route (default: CI size, about 15 s).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.generators.echo import EchoGenerator
from app.main import create_app
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from tests.conftest import FIXTURES, LiveServer
from tests.reliability.reproducers import FOUND
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

pytestmark = pytest.mark.server

EXAMPLES = int(os.environ.get("RAGQA_FUZZ_EXAMPLES", "0")) or 100
# No rate limit: schemathesis sends hundreds of requests a second from one address. No
# keys, whatever the environment says: the routes, not the key check, are under test.
SETTINGS: dict[str, Any] = {"rate_limit": 0, "api_keys": ""}
# The schema is taken from an app built as the server's is (same factory, same settings)
# at import time, because schemathesis turns each operation into a test while pytest
# collects; `test_the_server_serves_this_schema` checks the server really serves it.
# (schemathesis.pytest.from_fixture would load it from the live server, but 4.32 breaks
# on pytest 9: it reads the removed `Item._nodeid`.)
RAW_SCHEMA = create_app(Settings(**SETTINGS)).openapi()
schema = schemathesis.openapi.from_dict(RAW_SCHEMA)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server over a throwaway store with the fixture corpus: the fuzzed uploads
    and deletes land there."""
    folder = tmp_path_factory.mktemp("fuzzed") / "store"
    emb = HashEmbedder(max_tokens=64)
    store = Store(folder, emb.model_name, emb.dimension)
    run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    app = create_app(
        Settings(store=folder, **SETTINGS), store=store, embedder=emb, generator=EchoGenerator()
    )
    with LiveServer(app) as live:
        yield live.url


def test_the_server_serves_this_schema(server: str) -> None:
    assert httpx.get(f"{server}/openapi.json").json() == RAW_SCHEMA


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_against_its_schema(case: schemathesis.Case, server: str) -> None:
    case.call_and_validate(
        base_url=server,
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
    )


# Names as browsers send them: any printable text, path separators and dots included.
file_names = st.text(
    st.characters(exclude_categories=["Cc", "Cs"], exclude_characters='"\\'),
    min_size=1,
    max_size=40,
)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(name=file_names)
def test_any_file_name_uploads_reads_back_and_deletes(name: str, server: str) -> None:
    """Schemathesis cannot guess an id that exists, so GET and DELETE of a real document
    get their turn here: the id the upload returns must work in the `{id}` routes."""
    body = b"# Lighthouse log\n\nThe lamp was lit at dusk and the fog horn sounded twice.\n"
    files = {"files": (f"{name}.md", body, "text/markdown")}
    with httpx.Client(base_url=server, timeout=30) as client:
        uploaded = client.post("/api/documents", files=files)
        assert uploaded.status_code == 200, uploaded.text
        doc_id = uploaded.json()["documents"][0]["id"]
        url = f"/api/documents/{quote(doc_id, safe='')}"
        got = client.get(url)
        assert got.status_code == 200 and got.json()["id"] == doc_id
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404


record_ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30).filter(
    str.strip
)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(doc_id=record_ids)
def test_any_record_id_reads_back_and_deletes(doc_id: str, server: str) -> None:
    """JSONL record ids are kept as they are (API.md), any character included, and the
    `{id}` routes take "the whole rest of the path": a newline too."""
    line = json.dumps({"id": doc_id, "text": "The fog horn sounded twice at dusk."})
    with httpx.Client(base_url=server, timeout=30) as client:
        uploaded = client.post("/api/documents", files={"files": ("ids.jsonl", line.encode())})
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["documents"][0]["id"] == doc_id
        url = f"/api/documents/{quote(doc_id, safe='')}"
        got = client.get(url)
        assert got.status_code == 200 and got.json()["id"] == doc_id, got.text
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404


@pytest.mark.parametrize("case", sorted(FOUND))
def test_what_fuzzing_found_is_a_4xx_or_reads_back(case: str, server: str) -> None:
    """Each of these uploads was a 500 before the loaders were fixed."""
    name, data = FOUND[case]
    with httpx.Client(base_url=server, timeout=30) as client:
        uploaded = client.post("/api/documents", files={"files": (name, data)})
        assert uploaded.status_code in (200, 422), uploaded.text
        for doc in uploaded.json().get("documents", []):
            url = f"/api/documents/{quote(doc['id'], safe='')}"
            assert client.get(url).status_code == 200
            assert client.delete(url).status_code == 204
