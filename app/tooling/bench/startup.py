"""The service in its own process: seconds from launch to /readyz 200, and its peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.tooling.bench.server import free_port, wait_ready
from app.tooling.procinfo import peak_rss_kib


@dataclass(frozen=True)
class StartupResult:
    seconds: float  # launch to the first 200 from /readyz
    peak_rss_mib: float | None  # VmHWM of the server process; None off Linux
    generator: str  # "echo" or the generator model that was loaded
    command: str


def peak_rss_mib(pid: int) -> float | None:
    """A process's peak resident set (VmHWM) in MiB; None where there is none."""
    kib = peak_rss_kib(pid)
    return None if kib is None else kib / 1024


@dataclass
class Launched:
    url: str
    pid: int
    seconds: float  # launch to the first 200 from /readyz
    command: str  # as a user would type it, temporary paths and ports left out


@contextmanager
def launched(
    store: Path,
    embedding_model: str,
    device: str,
    generator_model: str | None,
    timeout_s: float = 600,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[Launched]:
    """`python -m app` on `store`, started as a user would and timed until ready, serving
    until the block ends. With no `generator_model` the echo backend stands in for the
    language model; `extra_env` sets more RAGQA_* settings; `log_path` keeps the server's
    output there (the load test reads the tracebacks behind a 5xx). Its own process: bench
    clients must not share its interpreter lock."""
    port = free_port()
    argv = [sys.executable, "-m", "app", "--store", str(store), "--port", str(port)]
    argv += ["--embedding-model", embedding_model, "--device", device]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(extra_env or {})}
    if generator_model is None:
        env["RAGQA_GENERATOR_BACKEND"] = "echo"  # start-up of the service, not of an LLM
    else:
        argv += ["--generator-model", generator_model]
    assigned = [f"{name}={value}" for name, value in (extra_env or {}).items()]
    shown = " ".join([*assigned, "python", *argv[1:]])
    shown = shown.replace(str(store), "STORE").replace(str(port), "PORT")
    # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe
    # would block it.
    with open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(url, timeout_s, lambda: process.poll() is None)
            except RuntimeError as exc:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; its output ended with:\n{tail}") from exc
            yield Launched(url, process.pid, time.perf_counter() - start, shown)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL after 30 s: a process the bench started never outlives it."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
