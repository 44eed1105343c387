"""Another process's figures: resident memory and CPU time (psutil), peak memory (/proc)."""

from __future__ import annotations

from pathlib import Path

import psutil


def rss_bytes(pid: int) -> int | None:
    """Resident set size of `pid` in bytes; None once the process is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far, all its threads; None once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def peak_rss_kib(pid: int) -> int | None:
    """A process's peak resident set (VmHWM, kB); None off Linux or once it is gone.

    Read from /proc: psutil 7 has no peak RSS on Linux (its `memory_info_ex().peak_rss`,
    giampaolo/psutil#2737, is not in a release yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # the kernel writes kB
    return None
