"""Waiting for a server: a start-up the server reports as failed ends the wait at once,
with its reason, instead of after the whole timeout."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app.tooling.bench.server import wait_ready
from tests.conftest import LiveServer


def _app(status: str) -> FastAPI:
    app = FastAPI()

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        return JSONResponse({"status": status, "detail": "no model here"}, status_code=503)

    return app


def test_a_failed_start_up_ends_the_wait_with_its_reason() -> None:
    with LiveServer(_app("failed"), wait=False) as server:
        start = time.perf_counter()
        with pytest.raises(RuntimeError, match="start-up failed: no model here"):
            wait_ready(server.url, 60)
        assert time.perf_counter() - start < 30


def test_a_loading_server_is_waited_for() -> None:
    with LiveServer(_app("loading"), wait=False) as server:
        with pytest.raises(RuntimeError, match="not ready within 1 s"):
            wait_ready(server.url, 1)
