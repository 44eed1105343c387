"""A bounded memo for values that never change for their key (row ids, terms)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """`get(keys, compute)` returns a value per key, computing only the missing ones in one
    call. Shared by request threads: each call reads into its own dict, so a concurrent
    clear() cannot lose a value; past `limit` entries it starts over (crude but bounded,
    and refilled within a few queries)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data: dict[K, V] = {}

    def get(self, keys: Sequence[K], compute: Callable[[list[K]], Sequence[V]]) -> list[V]:
        found = {k: self._data[k] for k in keys if k in self._data}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            fresh = dict(zip(missing, compute(missing), strict=True))
            found.update(fresh)
            if len(self._data) > self.limit:
                self._data.clear()
            self._data.update(fresh)
        return [found[k] for k in keys]

    def clear(self) -> None:
        self._data.clear()
