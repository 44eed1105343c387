"""Log lines as JSON objects (or text), each carrying the id of the request it belongs to."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set for the duration of a request; run_in_threadpool copies the context, so lines logged
# by a route's worker thread carry the id too.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("ragqa.access")

HEADER = "x-request-id"
# An incoming id is kept only if it looks like an id (a UUID, a trace id, a short token):
# anything else is replaced rather than echoed into headers and logs.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes arrive every few seconds; at INFO they would drown the real traffic.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


# Not python-json-logger: it copies every `extra` of a record into the line (uvicorn's
# `color_message` too), writes microsecond times and a null request_id outside requests;
# holding it to these fields takes an override as long as this class.
class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, and for access
    lines method, path, status and duration_ms."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: `time LEVEL logger [request id] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id.get()
        record.rid = f" [{rid}]" if rid else ""
        return super().format(record)


def resolve_format(log_format: str) -> str:
    """`auto`: text on a terminal, JSON where a machine reads the log (a container, a
    service manager, a file)."""
    if log_format == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return log_format


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Every logger, uvicorn's included, through one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    json_lines = resolve_format(log_format) == "json"
    if json_lines:
        # A model loader's progress bar would be a line no log collector can parse. Read
        # when transformers is first imported, which is after this.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python warnings (a library's deprecation notice) would be bare stderr text otherwise.
    logging.captureWarnings(True)


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == HEADER.encode():
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None


# Not asgi-correlation-id: the access line needs this middleware anyway (the status and
# the time to a stream's last byte), and the library logs a warning for each id it rejects.
class RequestContext:
    """Gives each request an id (the caller's `X-Request-ID` if sane, else a new one),
    echoes it in the response's `X-Request-ID` and writes the access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before it responds

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ms = round((time.perf_counter() - start) * 1000, 2)
            path = scope["path"]
            level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
            fields = {"method": scope["method"], "path": path, "status": status}
            access_log.log(
                level,
                "%s %s %d %.1f ms",
                scope["method"],
                path,
                status,
                ms,
                extra={**fields, "duration_ms": ms, "request_id": rid},
            )
            request_id.reset(token)
