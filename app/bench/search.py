"""Search load: `POST /api/search` from 1 or more concurrent clients, latencies recorded."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

import httpx

from app.bench.stats import Latency, summarize

TOP_K = 5
MODE = "hybrid"


def _send(client: httpx.Client, url: str, query: str) -> float | None:
    """Seconds one search took, or None when it failed (counted as an error, not timed)."""
    start = time.perf_counter()
    try:
        response = client.post(
            f"{url}/api/search", json={"query": query, "top_k": TOP_K, "mode": MODE}
        )
    except httpx.HTTPError:
        return None
    elapsed = time.perf_counter() - start
    return elapsed if response.status_code == 200 else None


def warm_up(url: str, queries: Sequence[str], count: int = 5) -> None:
    """A few searches first, so one-off costs (first FAISS search, caches) stay out."""
    with httpx.Client(timeout=60) as client:
        for query in itertools.islice(itertools.cycle(queries), count):
            _send(client, url, query)


def run_load(url: str, queries: Sequence[str], clients: int, requests: int) -> Latency:
    """`requests` searches shared among `clients` threads, each with its own connection;
    queries are taken in turn from `queries`, cycling."""
    lock = threading.Lock()
    order = itertools.cycle(queries)
    remaining = [requests]
    latencies: list[float] = []
    errors = [0]

    def next_query() -> str | None:
        with lock:
            if remaining[0] <= 0:
                return None
            remaining[0] -= 1
            return next(order)

    def client_loop() -> None:
        with httpx.Client(timeout=60) as client:
            while (query := next_query()) is not None:
                took = _send(client, url, query)
                with lock:
                    if took is None:
                        errors[0] += 1
                    else:
                        latencies.append(took)

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(clients, latencies, time.perf_counter() - start, errors[0])
