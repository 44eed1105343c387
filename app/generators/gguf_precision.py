"""Which GGUF file llama.cpp opens: the given one, or a cached bf16 copy of a small one.

Why: reading the prompt dominates the time to the first token in RAG (a thousand source
tokens against a hundred answer tokens), and a CPU with bf16 matrix instructions reads it
far faster from bf16 weights than from 4-bit ones. The copy holds the file's weights
dequantised (bf16 rounds them by at most 0.4%, well inside the 4-bit grid's steps), so it
answers as the file does. Decoding is memory-bound and gains nothing from the larger copy,
so only small files are copied. Figures: DECISIONS.md, "A bf16 copy of a small GGUF" and
"Only small GGUF files get the bf16 copy".
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
from pathlib import Path
from typing import Literal

log = logging.getLogger("ragqa")

GgufPrecision = Literal["auto", "original", "bf16"]
# Copies are made for files up to this size (a 4-bit model of about 400M parameters):
# the copy is about 3.5x the file, all of it read for every decoded token.
AUTO_MAX_BYTES = 300 * 1024 * 1024


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16: where llama.cpp's bf16 matrix products are fast."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False  # not Linux: keep the file as it is
    return " avx512_bf16" in flags or " amx_bf16" in flags


def wants_bf16(path: Path, precision: GgufPrecision) -> bool:
    if precision != "auto":
        return precision == "bf16"
    return path.stat().st_size <= AUTO_MAX_BYTES and cpu_has_bf16()


def gguf_for(path: str, precision: GgufPrecision, cache_dir: Path) -> str:
    """The file to open for `path` under `precision`, making the bf16 copy on first use."""
    source = Path(path)
    if not wants_bf16(source, precision):
        return path
    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
    target = cache_dir / "gguf" / f"{source.stem}.{key.hexdigest()[:16]}.bf16.gguf"
    if target.exists():
        return str(target)
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    # Service and ingest job may start together: one converts, the other waits for it.
    with FileLock(str(target) + ".lock"):
        if not target.exists():
            work = target.with_name(target.name + f".{os.getpid()}.tmp")
            try:
                _convert(source, work)
                os.replace(work, target)  # never half a file under the real name
            finally:
                work.unlink(missing_ok=True)
            log.info("made a bf16 copy of %s for faster prompts: %s", source.name, target)
    return str(target)


def _convert(source: Path, out: Path) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_BF16
    params.allow_requantize = True  # dequantise the 4-bit weights into bf16
    # llama-cpp-python prints llama.cpp's log (every tensor) unless its logger says no.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    params.nthread = os.cpu_count() or 1
    code = llama_cpp.llama_model_quantize(
        str(source).encode(), str(out).encode(), ctypes.byref(params)
    )
    if code != 0:
        raise RuntimeError(
            f"could not convert {source} to bf16 (llama.cpp error {code}); "
            "set RAGQA_GGUF_PRECISION=original to use the file as it is"
        )
