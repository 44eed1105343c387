"""A server that stops answering can be asked where it waits: SIGUSR1 writes every
thread's Python stack to its log, and the load test asks for it on unanswered requests."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.tooling.reliability.load import stacks
from tests.reliability.serving import ServeProcess

pytestmark = pytest.mark.server


def test_sigusr1_writes_every_threads_stack_and_the_server_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with ServeProcess(tmp_path / "store", log) as server:
        # A search runs in the worker pool, so the server has a thread besides its loop.
        search = httpx.post(f"{server.url}/api/search", json={"query": "x"}, timeout=30)
        assert search.status_code == 200, search.text
        dump = stacks(server.proc.pid, log)
        # faulthandler heads the thread it runs in "Current thread 0x..", others "Thread 0x..".
        threads = re.findall(r"^(?:Current thread|Thread) 0x[0-9a-f]+", dump, re.MULTILINE)
        assert len(threads) >= 2 and "uvicorn" in dump, dump  # the loop and a worker
        assert sum(t.startswith("Current") for t in threads) == 1, dump
        # Only a report: the server keeps serving.
        assert server.proc.poll() is None
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
