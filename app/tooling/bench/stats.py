"""Pure figures from raw timings: percentiles, latency summaries, rates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linearly interpolated between the closest ranks
    (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, not {q}")
    return float(np.percentile(values, q))


def rate(count: float, seconds: float) -> float:
    """Per second; 0 for a zero duration rather than a division error or infinity."""
    return count / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class Latency:
    """Request latencies of one load run, in milliseconds, and its throughput."""

    clients: int
    requests: int
    errors: int
    seconds: float  # wall time of the whole run
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    chunks: int = 0  # the size of the store searched, when the run knows it
    # CPU the server process spent per successful request (all its threads), when known:
    # with clients sharing the cores, latency under load is mostly this times the queue.
    server_cpu_ms: float | None = None
    replayed: bool = False  # the questions of the run before, asked again

    @property
    def requests_per_s(self) -> float:
        return rate(self.requests, self.seconds)


def summarize(clients: int, latencies_s: Sequence[float], seconds: float, errors: int) -> Latency:
    """Latency percentiles of the successful requests of a run that took `seconds`."""
    ms = [s * 1000 for s in latencies_s] or [0.0]
    return Latency(
        clients=clients,
        requests=len(latencies_s),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        mean_ms=sum(ms) / len(ms),
    )
