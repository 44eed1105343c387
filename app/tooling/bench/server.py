"""Finding a free loopback port and waiting for a server to be ready."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str,
    timeout_s: float,
    alive: Callable[[], bool] | None = None,
    get: Callable[[str], httpx.Response] | None = None,
) -> float:
    """Poll `GET /readyz` until 200; seconds waited. `alive()` False, or a start-up the
    server reports as failed (it keeps serving `/readyz` with the reason), stops the wait.
    `get` is another client's (an in-process one's, with `url` "")."""
    start = time.perf_counter()
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        if alive is not None and not alive():
            raise RuntimeError("the server exited before it was ready")
        try:
            reply = (get or _get)(f"{url}/readyz")
        except httpx.TransportError:
            reply = None  # not listening yet
        if reply is not None and reply.status_code == 200:
            return time.perf_counter() - start
        failure = None if reply is None else _failure(reply)
        if failure is not None:
            raise RuntimeError(f"the server's start-up failed: {failure}")
        time.sleep(0.02)  # fine enough for start-up times of seconds
    raise RuntimeError(f"{url} was not ready within {timeout_s:.0f} s")


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=2)


def _failure(reply: httpx.Response) -> str | None:
    """The reason `/readyz` gives for a failed start-up; None while loading (or not JSON)."""
    try:
        body = reply.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("status") == "failed":
        return str(body.get("detail"))
    return None
