"""The app factory: `create_app(settings, store=None, embedder=None, generator=None)`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.config import Settings
from app.generators.base import Generator
from app.metrics import Metrics
from app.observer import NullObserver, RagObserver
from app.rag import RagService
from app.routes import ask, documents, health, openai_compat, search, stats
from app.state import Services
from ingest.pipeline import Pipeline
from vectorstore.embedder import Embedder
from vectorstore.openai_server import RemoteServerError
from vectorstore.retrieval import Retriever
from vectorstore.store import Store
from vectorstore.types import StoreError

log = logging.getLogger("ragqa")
STATIC = Path(__file__).parent / "static"


def dense_options(settings: Settings) -> dict[str, Any]:
    """The Store's dense-index arguments: FAISS, or Milvus and where to find it."""
    return {
        "dense_backend": settings.store_backend,
        "milvus_uri": settings.milvus_uri,
        "milvus_token": settings.milvus_token.get_secret_value(),
        "milvus_collection": settings.milvus_collection,
    }


def open_store(settings: Settings, model: str, dimension: int | None = None) -> Store:
    """The configured store; refuses one built with another embedding model."""
    return Store(settings.store, model, dimension, settings.index_kind, **dense_options(settings))


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder, constructed but not loaded."""
    from vectorstore.embedder_factory import make_embedder

    return make_embedder(
        settings.embedding_model,
        settings.embedding_backend,
        device=settings.device,
        batch_size=settings.embedding_batch_size,
        cache_dir=settings.cache_dir,
        base_url=settings.embedding_base_url,
        api_key=settings.embedding_api_key.get_secret_value(),
        max_tokens=settings.embedding_max_tokens,
        wait_s=settings.openai_wait_seconds,
    )


def _one_search_thread() -> None:
    """One OpenMP thread per FAISS search in the service: requests already run in
    parallel, and with two threads per query on a busy 2-core machine the threads wait on
    each other (an exact query over 100k vectors: 48-64 ms with 2 threads, 12-14 with 1).
    Applied in each request thread as it first searches (OpenMP's setting is per thread)."""
    from vectorstore.dense import use_search_threads

    use_search_threads(1)


def build_services(
    settings: Settings,
    store: Store | None = None,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    observer: RagObserver | None = None,
) -> Services:
    """Build whatever was not passed in, loading the models (slow: call off the event loop)."""
    if embedder is None:
        embedder = build_embedder(settings)
        embedder.dimension  # noqa: B018 - loads the model now, not on the first query
        embedder.embed_query("warm-up")  # and the query path (the ONNX embedder's own)
    if store is None:
        store = open_store(settings, embedder.model_name, embedder.dimension)
    if generator is None:
        from app.generators.factory import build_generator

        generator = build_generator(
            settings.generator_model,
            settings.generator_backend,
            settings.device,
            settings.context_window,
            settings.repetition_penalty,
            gguf_precision=settings.gguf_precision,
            cache_dir=settings.cache_dir,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            wait_s=settings.openai_wait_seconds,
        )
    generator.load()
    store.dense_index()  # rebuild a missing or stale dense index now, not on the first query
    store.warm_keywords()
    _one_search_thread()
    reranker = None
    if settings.reranker:
        from vectorstore.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(
            settings.reranker, device=settings.device, batch_size=settings.embedding_batch_size
        )
        reranker.load()
    rag = RagService(
        Retriever(store, embedder, reranker, settings.rerank_depth),
        generator,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        min_relevance=settings.min_relevance,
        context_window=settings.context_window,
        source_tokens=settings.source_tokens,
        observer=observer or NullObserver(),
        search_slots=settings.search_concurrency,
        answer_mode=settings.answer_mode,
        answer_check=settings.answer_check,
    )
    return Services(
        settings, store, embedder, generator, rag, build_pipeline(settings, store, embedder)
    )


def build_pipeline(settings: Settings, store: Store, embedder: Embedder) -> Pipeline:
    return Pipeline(
        store,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        batch_chunks=settings.embedding_batch_size * 8,
    )


def _guard(app: FastAPI, settings: Settings) -> None:
    """Keys, rate limit and body size inside; CORS outermost, so a browser's preflight is
    answered without a key (it cannot carry one) and refusals still carry CORS headers."""
    from app.access import AccessGuard, KeyRing, RateLimiter, parse_keys

    keys = KeyRing(parse_keys(settings.api_keys))
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
    app.add_middleware(AccessGuard, keys=keys, limiter=limiter, max_body=settings.max_request_bytes)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )


def _observe(app: FastAPI, metrics: Metrics | None) -> None:
    """Added last, so outermost: requests the access guard refuses get a request id, an
    access log line and a count too."""
    from app.logging_setup import RequestContext
    from app.metrics import MetricsMiddleware

    if metrics is not None:
        app.add_route("/metrics", metrics.exposition, include_in_schema=False)
        app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(RequestContext)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> FastAPI:
    """The ASGI app. Parts passed in are used as they are; the lifespan builds the rest in a
    background thread so `/healthz` answers at once and `/readyz` turns 200 when done."""
    settings = settings or Settings()
    metrics = Metrics() if settings.metrics else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def load() -> None:
            try:
                services = build_services(settings, store, embedder, generator, metrics)
                if metrics is not None:
                    from app.metrics import StoreCounts

                    metrics.watch_store(StoreCounts(services.store))
                services.ready.set()
                app.state.services = services
                log.info("ready: %s", services.store.stats())
            except Exception as exc:  # shown by /readyz and the log, never a crash loop
                app.state.startup_error = str(exc)
                log.exception("start-up failed")

        thread = threading.Thread(target=load, name="ragqa-load", daemon=True)
        thread.start()
        yield
        services = getattr(app.state, "services", None)
        if services is not None:
            services.store.flush()

    app = FastAPI(
        title="ragqa",
        version="0.1.0",
        summary="Answers questions from your documents, with citations.",
        lifespan=lifespan,
    )
    app.state.services = None
    app.state.startup_error = None
    app.state.metrics = metrics
    for module in (health, search, ask, documents, stats, openai_compat):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _guard(app, settings)
    _observe(app, metrics)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI raises some errors (a body that is not UTF-8, an unknown /v1 path) before
        # or outside the /v1 route class: OpenAI clients still get OpenAI's shape.
        if request.url.path.startswith("/v1/"):
            return openai_compat.error_response(exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/v1/"):
            return openai_compat.validation_error(exc)
        # 422 with pydantic's reasons, minus the echoed input (it may be 100 KB of question).
        detail = [
            {k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RemoteServerError)
    async def remote_error(_: Request, exc: RemoteServerError) -> JSONResponse:
        # The generator or embedder server is down or slow: ours is fine, retry later.
        return JSONResponse({"detail": str(exc)}, status_code=503)

    return app
