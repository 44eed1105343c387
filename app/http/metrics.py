"""Prometheus metrics: one registry per app, the HTTP middleware and the `/metrics` route."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from vectorstore import DocumentStore

# Labels take these values only, so a client sending made-up methods or paths cannot grow
# the series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# A streamed answer on a CPU takes tens of seconds: the default buckets stop at 10.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30)


class Metrics:
    """The instruments of one app, in a registry of its own: several apps in one process
    (the tests) would otherwise collide on the same names in prometheus-client's global one.
    Implements app.rag.observer.RagObserver."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "ragqa_http_requests",
            "HTTP requests answered, by route template.",
            ["method", "route", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "ragqa_http_request_duration_seconds",
            "Time from a request's arrival to its last response byte (a whole stream).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=reg,
        )
        self.retrieval = Histogram(
            "ragqa_retrieval_duration_seconds",
            "Time to retrieve the sources of a search or a question.",
            ["mode"],
            buckets=RETRIEVAL_BUCKETS,
            registry=reg,
        )
        self.generation = Histogram(
            "ragqa_generation_duration_seconds",
            "Time the generator took for an answer, once it had the model.",
            buckets=GENERATION_BUCKETS,
            registry=reg,
        )
        self.first_token = Histogram(
            "ragqa_time_to_first_token_seconds",
            "Time from the generator starting on a prompt to its first token.",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter("ragqa_generated_tokens", "Answer tokens generated.", registry=reg)
        self.queue = Gauge(
            "ragqa_generator_queue_depth",
            "Requests waiting for the generator or generating (one generates at a time).",
            registry=reg,
        )
        self.search_queue = Gauge(
            "ragqa_search_queue_depth",
            "Searches waiting for their turn or searching (RAGQA_SEARCH_CONCURRENCY at once).",
            registry=reg,
        )

    def watch_store(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        """Documents and chunks gauges, read from `counts` at each scrape (None: not
        loaded yet, so no sample rather than a misleading zero)."""
        self.registry.register(_StoreCollector(counts))

    # app.rag.observer.RagObserver
    def retrieved(self, mode: str, seconds: float) -> None:
        self.retrieval.labels(mode=mode).observe(seconds)

    def generated(self, seconds: float, tokens: int, first_token: float | None) -> None:
        self.generation.observe(seconds)
        self.tokens.inc(tokens)
        if first_token is not None:
            self.first_token.observe(first_token)

    def generator_turn(self) -> AbstractContextManager[None]:
        return self.queue.track_inprogress()

    def search_turn(self) -> AbstractContextManager[None]:
        return self.search_queue.track_inprogress()

    def exposition(self, _: Request) -> Response:
        """`GET /metrics`: the text format Prometheus scrapes."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _StoreCollector:
    def __init__(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self._counts()
        if counts is None:
            return
        yield GaugeMetricFamily("ragqa_documents", "Documents in the store.", value=counts[0])
        yield GaugeMetricFamily("ragqa_chunks", "Chunks in the store.", value=counts[1])

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Names given up front: the registry checks them for clashes without a collect().
        return [
            GaugeMetricFamily("ragqa_documents", "Documents in the store."),
            GaugeMetricFamily("ragqa_chunks", "Chunks in the store."),
        ]


class StoreCounts:
    """Documents and chunks of a store, counted again only when its content generation
    moved: COUNT(*) over a million chunks costs tens of ms at every scrape otherwise."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._seen: tuple[int, tuple[int, int]] | None = None

    def __call__(self) -> tuple[int, int]:
        generation = self._store.generation()
        if self._seen is None or self._seen[0] != generation:
            stats = self._store.stats()
            self._seen = (generation, (int(stats["documents"]), int(stats["chunks"])))
        return self._seen[1]


def route_template(routes: Sequence[BaseRoute], scope: Scope, picked: object = None) -> str:
    """The path template a request matched (`/api/documents/{doc_id:anytext}`), not its path.

    `picked` is the route Starlette's router left in the scope. A request the access guard
    refused never reached the router, and plain routes (/metrics, the /static mount) are
    not recorded there by FastAPI: those are matched here against `scope` as it came in
    (routing rewrites it), the same way the router would.
    """
    path = getattr(picked, "path", None)
    if isinstance(path, str):
        return path
    partial = None
    for candidate in _flat(routes):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", UNMATCHED))
        if match is Match.PARTIAL and partial is None:
            partial = candidate  # the path matched, the method did not: a 405
    return str(getattr(partial, "path", UNMATCHED)) if partial is not None else UNMATCHED


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes with a path of their own. FastAPI 0.16x wraps each included router in one
    route with no path; its routes, whose paths carry the router's prefix, are inside."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        elif hasattr(route, "path"):
            yield route


# Not prometheus-fastapi-instrumentator: these names, labels and buckets would still be
# ours (its own are http_requests_total{handler,method,status} with statuses as 2xx), and
# its route lookup runs before every request where this reads the one the router recorded.
class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's live list: routes added later are seen too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 500  # what the client gets if the app raises before it responds
        arrived = dict(scope)

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(self.routes, arrived, scope.get("route"))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
