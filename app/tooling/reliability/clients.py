"""The load test's clients: each a loop of searches, asks and uploads, every result recorded."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from app.tooling.bench.sse import parse_sse

# Two kinds of user, as a RAG service sees them: a quarter chat (asks, half of them
# streamed), the rest search and now and then upload a file, which they delete again next,
# so the store stays the size it started and a growing index is not mistaken for a leak.
# Roles, not one mix for everyone: with the real model an ask takes seconds and asks queue
# for the one generator, so in a shared mix every client soon waits in that queue and the
# run measures nothing but generation.
CHAT_MIX: tuple[tuple[str, float], ...] = (("ask", 0.5), ("ask_stream", 0.5))
SEARCH_MIX: tuple[tuple[str, float], ...] = (("search", 0.85), ("upload", 0.15))
CHAT_EVERY = 4  # clients 0, 4, 8, ... chat


def mix_of(client: int) -> tuple[tuple[str, float], ...]:
    return CHAT_MIX if client % CHAT_EVERY == 0 else SEARCH_MIX


KINDS = ("search", "ask", "ask_stream", "upload", "delete")
_MODES = ("hybrid", "hybrid", "dense", "lexical")
_WORDS = (
    "index chunk citation embedding query answer store folder upload stream token "
    "search retrieval passage model latency memory request client server document"
).split()


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    kind: str
    started: float  # seconds since the load started
    seconds: float  # until the whole response (a stream: its last event) arrived
    status: int | None  # None: no HTTP response at all (refused, reset, timed out)
    problem: str | None = None  # why a 2xx was wrong, what a 5xx said, or the transport error


Record = Callable[[Outcome], None]
Sent = tuple[int, str | None]  # the HTTP status, and why its body is wrong (None: fine)


@dataclass
class Client:
    """One simulated user with its own connection, running until `stop_at`."""

    number: int
    http: httpx.AsyncClient
    queries: Sequence[str]
    run_id: str
    record: Record
    origin: float  # perf_counter() when the load started
    rng: random.Random
    uploaded: list[str]  # document ids this client added and has not deleted yet
    leftover: list[str]  # ids whose delete failed: removed after the run, not retried now
    uploads: int = 0

    async def run(self, stop_at: float) -> None:
        senders: dict[str, Callable[[], Awaitable[Sent]]] = {
            "search": self._search,
            "ask": self._ask,
            "ask_stream": self._ask_stream,
            "upload": self._upload,
            "delete": self._delete,
        }
        mix = mix_of(self.number)
        kinds, weights = [k for k, _ in mix], [w for _, w in mix]
        while time.perf_counter() < stop_at:
            kind = "delete" if self.uploaded else self.rng.choices(kinds, weights)[0]
            start = time.perf_counter()
            try:
                status, problem = await senders[kind]()
            except httpx.TransportError as exc:  # refused, reset, or timed out
                status, problem = None, f"{type(exc).__name__}: {exc}"
            end = time.perf_counter()
            self.record(Outcome(kind, start - self.origin, end - start, status, problem))

    async def _search(self) -> Sent:
        body = {"query": self.rng.choice(self.queries), "top_k": 5, "mode": self._mode()}
        response = await self.http.post("/api/search", json=body)
        return response.status_code, _check(response, lambda b: isinstance(b["results"], list))

    async def _ask(self) -> Sent:
        body = {"question": self.rng.choice(self.queries), "top_k": 3, "mode": self._mode()}
        response = await self.http.post("/api/ask", json=body)
        return response.status_code, _check(response, lambda b: isinstance(b["answer"], str))

    async def _ask_stream(self) -> Sent:
        body = {"question": self.rng.choice(self.queries), "top_k": 3, "stream": True}
        async with self.http.stream("POST", "/api/ask", json=body) as response:
            lines = [line async for line in response.aiter_lines()]
        if response.status_code != 200:
            return response.status_code, _server_error(response.status_code, " ".join(lines))
        events = list(parse_sse(lines))
        names = [name for name, _ in events]
        # A stream that ends without `done` (or with `error`) failed, whatever its status.
        if not names or names[0] != "sources" or names[-1] != "done":
            last = events[-1][1][:200] if events else ""
            return response.status_code, f"stream events {names[:2]}...{names[-2:]}: {last}"
        return response.status_code, None

    async def _upload(self) -> Sent:
        self.uploads += 1
        note = f"{self.run_id}-{self.number}-{self.uploads}"
        words = " ".join(self.rng.choice(_WORDS) for _ in range(60))
        name, text = (
            f"load-{note}.md",
            f"# Load note {note}\n\nUploaded by the load test. {words}.\n",
        )
        files = {"files": (name, text.encode(), "text/markdown")}
        response = await self.http.post("/api/documents", files=files)
        problem = _check(response, lambda b: b["documents"][0]["status"] == "added")
        if response.status_code == 200 and problem is None:
            self.uploaded.append(response.json()["documents"][0]["id"])
        return response.status_code, problem

    async def _delete(self) -> Sent:
        doc_id = self.uploaded.pop()
        response = await self.http.delete(f"/api/documents/{quote(doc_id, safe='')}")
        # 204 is the answer; anything else leaves the id to the clean-up after the run.
        if response.status_code != 204:
            self.leftover.append(doc_id)
        return response.status_code, _server_error(response.status_code, response.text)

    def _mode(self) -> str:
        return self.rng.choice(_MODES)


def _server_error(status: int, body: str) -> str | None:
    return f"body {body[:200]!r}" if status >= 500 else None


def _check(response: httpx.Response, valid: Callable[[Any], bool]) -> str | None:
    """Why a 200 response's body is not what the API promises, or what a 5xx said; None
    when it is fine (or the status already tells)."""
    if response.status_code != 200:
        return _server_error(response.status_code, response.text)
    try:
        return None if valid(response.json()) else f"unexpected body {response.text[:200]}"
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return f"unexpected body ({type(exc).__name__}) {response.text[:200]}"
