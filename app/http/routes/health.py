"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Always 200 while the process lives."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(request: Request) -> JSONResponse:
    """200 once the models and the store are loaded, 503 before."""
    services = getattr(request.app.state, "services", None)
    if services is not None and services.ready.is_set():
        return JSONResponse({"status": "ready"})
    error = getattr(request.app.state, "startup_error", None)
    body = {"status": "loading"} if error is None else {"status": "failed", "detail": error}
    return JSONResponse(body, status_code=503)
