"""Wall time of every call to chosen methods of one object, without touching its class."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.tooling.bench.stats import percentile


class CallTimer:
    """`wrap` replaces bound methods on the instance (its class, and every other instance,
    keep theirs); `seconds[label]` then holds each call's duration, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def _timed(self, label: str, method: Callable[..., Any]) -> Callable[..., Any]:
        durations = self.seconds.setdefault(label, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                durations.append(time.perf_counter() - start)

        return timed

    def wrap(self, owner: object, name: str, label: str | None = None) -> None:
        setattr(owner, name, self._timed(label or name, getattr(owner, name)))

    def wrap_result(self, owner: object, name: str, method: str, label: str) -> None:
        """Time `method` of whatever `owner.name()` returns (the store's dense index, which
        the store may hand out anew after each write)."""
        get = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = get(*args, **kwargs)
            if result is None:
                return None
            return _Timed(result, method, self._timed(label, getattr(result, method)))

        setattr(owner, name, wrapped)

    def total(self, *labels: str) -> float:
        return sum(sum(self.seconds.get(label, ())) for label in labels)

    def p50_ms(self, label: str) -> float | None:
        durations = self.seconds.get(label)
        return percentile(durations, 50) * 1000 if durations else None

    def clear(self) -> None:
        for durations in self.seconds.values():
            durations.clear()


class _Timed:
    """`inner` with one method timed; every other attribute is the inner object's."""

    def __init__(self, inner: object, name: str, timed: Callable[..., Any]) -> None:
        self._inner, self._name, self._call = inner, name, timed

    def __getattr__(self, name: str) -> Any:
        return self._call if name == self._name else getattr(self._inner, name)
