"""A GGUF is first run in a child process: if llama.cpp crashes on it, the child dies, not
the server. The verdict is kept per file, llama.cpp build, CPU and buffer setting.

Why: llama.cpp runs in the server's own process, and a fault in its native code (a
segfault in a matrix kernel, an illegal instruction) ends that process with no Python
exception to catch. One question to a file that crashes it would take every user's
requests down with it; a child that loads the file and reads a prompt finds out first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("ragqa")

# Long enough, with a wide margin, for the 1.5B model to load and read the probe prompt
# on a busy 2-core CPU; a probe that takes longer counts as a failure, not a verdict.
PROBE_TIMEOUT_S = 300.0
# Tokens read as one batch (the matrix-matrix kernels a prompt runs), then single tokens
# (the matrix-vector kernels of decoding): the two paths a real question takes.
PROBE_PROMPT_TOKENS = 96
PROBE_DECODE_TOKENS = 4
# Signals that mean the child's own fault. SIGKILL is left out: the kernel's OOM killer
# sends it too, and a machine short of memory now may not be later.
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


@dataclass(frozen=True)
class ProbeResult:
    """`ok`: the child read a prompt and decoded; `crashed`: a signal killed it (`detail`
    names it); neither: it failed some other way (`detail`: its last words)."""

    ok: bool
    crashed: bool = False
    detail: str = ""


def probe(
    path: str, *, extra_buffers: bool, threads: int, cache_dir: Path, timeout_s: float = 0.0
) -> ProbeResult:
    """Whether llama.cpp survives `path` with these settings; cached once it is known."""
    record = cache_dir / "gguf-probe" / f"{_key(path, extra_buffers)}.json"
    try:
        return ProbeResult(**json.loads(record.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    result = run_child(child_argv(path, extra_buffers, threads), timeout_s or PROBE_TIMEOUT_S)
    if result.ok or result.crashed:  # a verdict; a time-out or an error may not recur
        record.parent.mkdir(parents=True, exist_ok=True)
        work = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        work.write_text(json.dumps(asdict(result)))
        os.replace(work, record)
    return result


def child_argv(path: str, extra_buffers: bool, threads: int) -> list[str]:
    flag = "--extra-buffers" if extra_buffers else "--no-extra-buffers"
    return [sys.executable, "-m", __name__, flag, f"--threads={threads}", path]


def run_child(argv: list[str], timeout_s: float) -> ProbeResult:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return ProbeResult(ok=False, detail=f"the probe did not finish within {timeout_s:.0f} s")
    if done.returncode == 0:
        return ProbeResult(ok=True)
    if done.returncode < 0 and -done.returncode in CRASH_SIGNALS:
        name = signal.Signals(-done.returncode).name
        return ProbeResult(ok=False, crashed=True, detail=f"llama.cpp was killed by {name}")
    last = (done.stderr or "").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
    return ProbeResult(ok=False, detail=last[0][:500])


def _key(path: str, extra_buffers: bool) -> str:
    """The file (path, size, mtime), the llama.cpp build and the CPU: what a verdict holds for."""
    import llama_cpp

    st = Path(path).stat()
    lib = Path(llama_cpp.__file__).parent
    builds = sorted(f"{p.name}:{p.stat().st_size}" for p in lib.rglob("*.so*"))
    parts = [
        str(Path(path).resolve()),
        str(st.st_size),
        str(st.st_mtime_ns),
        llama_cpp.__version__,
        *builds,
        platform.machine(),
        _cpu_flags(),
        f"extra_buffers={extra_buffers}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _cpu_flags() -> str:
    """The kernels llama.cpp picks follow the CPU's features (a cache folder may be shared)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((line for line in info.splitlines() if line.startswith("flags")), "")


def _child(argv: list[str]) -> int:
    """Load the file as the server would, read a prompt, decode a few tokens."""
    import argparse

    parser = argparse.ArgumentParser(prog="gguf_probe")
    parser.add_argument("path")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--extra-buffers", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    from app.generators.llama_open import open_llama

    llm = open_llama(
        args.path,
        n_ctx=PROBE_PROMPT_TOKENS + PROBE_DECODE_TOKENS + 8,
        threads=args.threads,
        threads_batch=args.threads,
        extra_buffers=args.extra_buffers,
    )
    vocab = max(int(llm.n_vocab()), 1)
    # Any ids do: the kernels, not the text, are under test. Spread over the vocabulary
    # so that many rows of the embedding table are read too.
    prompt = [(i * 7919 + 13) % vocab for i in range(PROBE_PROMPT_TOKENS)]
    llm.eval(prompt)
    for i in range(PROBE_DECODE_TOKENS):
        llm.eval([(i * 104729 + 7) % vocab])
    llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
