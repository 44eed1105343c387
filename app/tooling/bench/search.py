"""Search load: `POST /api/search` from 1 or more concurrent clients, latencies recorded.

The clients share the machine's cores with the server, so they must cost it as little as
possible: like wrk, they are connections on one event loop writing prepared HTTP/1.1
requests and reading the replies by Content-Length, not threads driving a full HTTP
client, which cost many times the CPU and queue on their own interpreter lock
(DECISIONS.md, "The bench's own clients made light, and the rate limit off"). Given
several servers (replicas of one store), client i sends to server i mod n.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from app.tooling.bench.stats import Latency, summarize

# The bench's servers run without a rate limit: its clients all come from 127.0.0.1.
NO_LIMIT = {"RAGQA_RATE_LIMIT": "0"}
TOP_K = 5
MODE = "hybrid"
PATH = "/api/search"


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared POSTs one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> int:
        """The reply's status; the body is read and dropped. Reconnects when closed."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        fields = {k.strip().lower(): v.strip() for k, v in headers.items()}
        if "content-length" not in fields:  # the service always sends one; be safe
            raise ConnectionError("reply without Content-Length")
        await self._reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None


def _requests(url: str, queries: Sequence[str]) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out = []
    for query in queries:
        body = json.dumps({"query": query, "top_k": TOP_K, "mode": MODE}).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return host, port, out


def _urls(url: str | Sequence[str]) -> list[str]:
    return [url] if isinstance(url, str) else list(url)


async def _drive(
    url: str | Sequence[str], queries: Sequence[str], clients: int, requests: int
) -> tuple[list[float], int, float]:
    # One prepared request list per server (each names its own Host); the queries are
    # taken from one shared cycle, in turn, whichever server a client sends to.
    servers = [_requests(u, queries) for u in _urls(url)]
    order: Iterator[int] = itertools.cycle(range(len(queries)))
    remaining = [requests]
    latencies: list[float] = []
    errors = [0]

    async def client(n: int) -> None:
        host, port, prepared = servers[n % len(servers)]
        connection = _Connection(host, port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1  # one event loop: no lock needed
                request = prepared[next(order)]
                start = time.perf_counter()
                try:
                    status = await connection.post(request)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    errors[0] += 1
                    await connection.close()
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[0] += 1  # counted as an error, not timed
        finally:
            await connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors[0], time.perf_counter() - start


def warm_up(url: str | Sequence[str], queries: Sequence[str], count: int = 5) -> None:
    """A few searches first, to every server given, so one-off costs (first FAISS search,
    caches) stay out."""
    for one in _urls(url):
        asyncio.run(_drive(one, list(queries)[-count:], 1, count))


def run_load(
    url: str | Sequence[str], queries: Sequence[str], clients: int, requests: int
) -> Latency:
    """`requests` searches shared among `clients` connections, each waiting for its reply
    before sending the next; queries are taken in turn from `queries`, cycling. With
    several URLs, client i sends to URL i mod n."""
    latencies, errors, seconds = asyncio.run(_drive(url, queries, clients, requests))
    return summarize(clients, latencies, seconds, errors)


def query_stream(queries: Sequence[str]) -> list[str]:
    """The queries in a fixed shuffled order (SciFact's and KorQuAD's mixed in every run).
    Each run of new questions goes on where the last one stopped: the service keeps
    per-term scores (vectorstore/keyword/term_scores.py) and per-chunk values, which replayed
    questions find all ready, and new ones only where their words and hits meet earlier
    ones'. Both are reported: a cache measured only on replays flatters."""
    shuffled = list(queries)
    random.Random(0).shuffle(shuffled)
    return shuffled
