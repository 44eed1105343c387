"""The app factory: `create_app(settings, store=None, embedder=None, generator=None)`."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.config import Settings
from app.generators.base import Generator
from app.http.metrics import Metrics
from app.http.routes import ask, documents, health, search, stats
from app.openai_api import route as openai_compat
from app.services import build_services
from vectorstore import DocumentStore, Embedder, RemoteServerError, StoreError

log = logging.getLogger("ragqa")
STATIC = Path(__file__).parent / "static"


def _guard(app: FastAPI, settings: Settings) -> None:
    """Keys, rate limit and body size inside; CORS outermost, so a browser's preflight is
    answered without a key (it cannot carry one) and refusals still carry CORS headers."""
    from app.config import parse_keys
    from app.http.access import AccessGuard, KeyRing, RateLimiter

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
    from app.http.log_lines import RequestContext
    from app.http.metrics import MetricsMiddleware

    if metrics is not None:
        app.add_route("/metrics", metrics.exposition, include_in_schema=False)
        app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(RequestContext)


def create_app(
    settings: Settings | None = None,
    store: DocumentStore | None = None,
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
                    from app.http.metrics import StoreCounts

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
