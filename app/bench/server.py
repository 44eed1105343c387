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


def wait_ready(url: str, timeout_s: float, alive: Callable[[], bool] | None = None) -> float:
    """Poll `GET /readyz` until 200; seconds waited. `alive()` False stops the wait early."""
    start = time.perf_counter()
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        if alive is not None and not alive():
            raise RuntimeError("the server exited before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.02)  # fine enough for start-up times of seconds
    raise RuntimeError(f"{url} was not ready within {timeout_s:.0f} s")
