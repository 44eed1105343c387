"""llama-cpp-python's own OpenAI-compatible server, run as a subprocess for the openai backends."""

from __future__ import annotations

import atexit
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.tooling.bench.server import free_port
from vectorstore.bundled import BUNDLED_GENERATOR, resolve_model

# The name the server lists the bundled GGUF under in /v1/models.
MODEL = "smollm2"


class LlamaServer:
    """`python -m llama_cpp.server` on a free loopback port, serving chat and embeddings.

    SmolLM2 is a causal LM: its GGUF names no pooling, so llama.cpp would answer one vector
    per token. The metadata override asks for mean pooling, as an embedding model's GGUF
    would; generation is unaffected, so one process serves both APIs.
    """

    def __init__(self, n_ctx: int = 2048) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.n_ctx = n_ctx
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            resolve_model(BUNDLED_GENERATOR),
            "--model_alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            # One thread: a busy CI machine makes llama.cpp's threads wait on each other.
            "--n_threads",
            "1",
            "--embedding",
            "true",
            "--kv_overrides",
            "llama.pooling_type=int:1",
        ]
        self._proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"llama_cpp.server did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-3000:]

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


_shared: LlamaServer | None = None


def shared_server() -> LlamaServer:
    """One server for every test module in this pytest process: each start costs seconds
    (and a first request as long again on a busy machine); stopped when pytest exits."""
    global _shared
    if _shared is None:
        _shared = LlamaServer().__enter__()
        atexit.register(_shared.__exit__)
    return _shared
