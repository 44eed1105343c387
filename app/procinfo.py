"""Another process's figures from Linux's /proc: memory and CPU time, None elsewhere."""

from __future__ import annotations

import os
from pathlib import Path


def status_kib(pid: int, field: str) -> int | None:
    """A kB field of /proc/PID/status (`VmRSS`, `VmHWM`); None when the process or the
    field is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])  # the kernel writes kB
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far, all its threads; None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
