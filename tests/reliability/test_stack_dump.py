"""A server that stops answering can be asked where it waits: SIGUSR1 writes every
thread's Python stack to its log, and the load test asks for it on unanswered requests."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.reliability.load import stacks
from tests.reliability.serving import ServeProcess

pytestmark = pytest.mark.server


def test_sigusr1_writes_every_threads_stack_and_the_server_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with ServeProcess(tmp_path / "store", log) as server:
        dump = stacks(server.proc.pid, log)
        assert "most recent call first" in dump, dump
        assert "uvicorn" in dump and dump.count("Thread 0x") >= 2, dump  # the loop and more
        # Only a report: the server keeps serving.
        assert server.proc.poll() is None
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
