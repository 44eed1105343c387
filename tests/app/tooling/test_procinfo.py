"""Another process's memory and CPU time, as the bench and the load test read them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.tooling.procinfo import cpu_seconds, peak_rss_kib, rss_bytes


def test_a_running_process_has_figures_and_one_that_is_gone_has_none() -> None:
    # Spins a moment (CPU time to see), says so, then waits on its stdin (a steady
    # resident set).
    code = "sum(range(3_000_000)); print('ready', flush=True); import sys; sys.stdin.read()"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        rss = rss_bytes(child.pid)
        assert rss is not None and rss > 1 << 20  # an interpreter holds megabytes
        cpu = cpu_seconds(child.pid)
        assert cpu is not None and cpu > 0
        if Path("/proc").is_dir():  # the peak is read from Linux's /proc only
            peak = peak_rss_kib(child.pid)
            assert peak is not None and peak * 1024 >= rss
    finally:
        child.stdin.close()
        child.wait(30)
    assert rss_bytes(child.pid) is None
    assert cpu_seconds(child.pid) is None
    assert peak_rss_kib(child.pid) is None
