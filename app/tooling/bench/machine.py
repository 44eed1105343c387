"""A line that says what the figures were measured on, and the bench's own peak memory."""

from __future__ import annotations

import os
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path


def own_peak_rss_mib() -> float:
    """This process's peak resident set so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def describe() -> str:
    """CPU, cores usable by this process, torch threads and the versions that matter."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{_cpu_model()}, {cores} cores usable, torch threads {torch.get_num_threads()}; "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"torch {_version('torch')}, sentence-transformers {_version('sentence-transformers')}, "
        f"faiss-cpu {_version('faiss-cpu')}"
    )
