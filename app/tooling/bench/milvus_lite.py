"""`milvus-lite server` for the bench: one Milvus that several processes share."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from app.tooling.bench.server import free_port
from app.tooling.bench.startup import stop


@dataclass(frozen=True)
class LiteServer:
    uri: str
    pid: int  # its CPU time is the Milvus side of a search


def lite_version() -> str:
    try:
        return version("milvus-lite")
    except PackageNotFoundError:
        return "unknown"


def _executable() -> str:
    beside = Path(sys.executable).with_name("milvus-lite")  # the venv's, when not activated
    found = str(beside) if beside.exists() else shutil.which("milvus-lite")
    if found is None:
        raise RuntimeError("the milvus section needs milvus-lite: pip install 'ragqa[milvus]'")
    return found


@contextmanager
def lite_server(data_dir: Path, timeout_s: float = 120) -> Iterator[LiteServer]:
    """The server on a free loopback port, yielded once it answers; stopped afterwards."""
    from pymilvus import MilvusClient

    port = free_port()
    argv = [_executable(), "server", "--data-dir", str(data_dir)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    uri = f"http://127.0.0.1:{port}"
    # A file, not a pipe: nobody reads its log while it runs, and a full pipe would block it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    client = MilvusClient(uri=uri, timeout=5)
                    client.list_collections()
                    client.close()
                    break
                except Exception as exc:  # not listening yet: pymilvus raises its own
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        tail = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(f"milvus-lite server did not start: {tail}") from exc
                    time.sleep(0.2)
            yield LiteServer(uri, process.pid)
        finally:
            stop(process)
