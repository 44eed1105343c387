"""How many cores this process may use."""

from __future__ import annotations

import os


def usable_cores() -> int:
    # The cores this process may run on (onnxruntime defaults to the host's physical
    # cores): a CPU-limited container's set, not the host's.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
