"""`ragqa serve` as a subprocess on a free port, an SSE reader, and tmpfs mounts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.tooling.bench.server import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
# What every served process here runs with: the echo generator (no model to load) and no
# rate limit (the tests send bursts on purpose).
SERVE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "RAGQA_GENERATOR_BACKEND": "echo",
    "RAGQA_RATE_LIMIT": "0",
}


class ServeProcess:
    """`python -m <module> --store S --port P` (module `app` is `ragqa serve`) until ready.
    Its log goes to a file, so a chatty server never blocks on a full pipe."""

    def __init__(self, store: Path, log: Path, *, module: str = "app", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("wb")
        command = [sys.executable, "-m", module, "--store", str(store), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **SERVE_ENV, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> ServeProcess:
        try:  # a first start may export the ONNX embedder
            wait_ready(self.url, 300, alive=lambda: self.proc.poll() is None)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}:\n{self.output()}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]


def ragqa(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`ragqa ARGS...` run to completion."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args],
        cwd=ROOT,
        env={**os.environ, **SERVE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, decoded data) for each SSE event of a streaming response."""
    name = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name is not None:
            yield name, json.loads(line.split(":", 1)[1])
            name = None


def refused(url: str) -> bool:
    """True when a new connection to `url` is refused (nothing listens on the port)."""
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False
    return False


def markdown(folder: Path, name: str, title: str, paragraphs: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path`, or a skip that says why it cannot be (the
    injected-fault tests cover the same code paths everywhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); covered by the injected faults")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}); covered by the injected faults"
        )
    try:
        yield path
    finally:
        # Lazy: a process that still has a file open there must not leave the mount behind.
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file into `folder` until the file system is full; returns it."""
    filler = folder / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError:
            pass
    with filler.open("ab", buffering=0) as out:  # the last partial block's worth, too
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def integrity(store: Path) -> list[str]:
    """What is wrong with the store on disk, by `ragqa check`'s checks: [] when sound."""
    from vectorstore.maintenance.check import check_store

    return [f"{f.name}: {f.detail}" for f in check_store(store) if not f.ok]
