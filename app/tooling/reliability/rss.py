"""A process's resident memory, sampled once a second while a load test runs."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.tooling.procinfo import rss_bytes


@dataclass(frozen=True)
class Sample:
    seconds: float  # since the sampler started
    rss: int  # bytes


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            rss = rss_bytes(self.pid)
            if rss is not None:
                self.samples.append(Sample(time.perf_counter() - self._start, rss))
            if self._stop.wait(self.interval):
                return


@dataclass(frozen=True)
class Growth:
    baseline: int  # bytes, at the end of the warm-up
    end: int  # bytes, at the end of the run
    samples: int

    @property
    def fraction(self) -> float:
        return (self.end - self.baseline) / self.baseline if self.baseline else 0.0


def growth(samples: Sequence[Sample], warmup_s: float, window: int = 3) -> Growth:
    """RSS at the end of the warm-up against RSS at the end, each the median of `window`
    samples so one transient spike (a big response being serialised) decides nothing.

    The baseline comes after the warm-up, not before the first request: the thread pool,
    its per-thread SQLite connections and malloc arenas, and the ONNX Runtime buffers all
    grow to their working size in the first seconds under load, and that is not a leak.
    """
    if not samples:
        raise ValueError("no RSS samples: the server process could not be read")
    warm = [s.rss for s in samples if s.seconds <= warmup_s][-window:] or [samples[0].rss]
    last = [s.rss for s in samples[-window:]]
    return Growth(int(statistics.median(warm)), int(statistics.median(last)), len(samples))
