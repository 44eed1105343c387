"""How many chunks hold each term, for IDF and the off-topic check, in a store in Milvus.

A small store is read whole once per write (the chunks' own terms, counted here): one
scan, then every count is a lookup. A large one asks Milvus per term (`TEXT_MATCH` over
its inverted index), which a Milvus server answers in milliseconds but the scan would
take minutes. Counts are kept DF_TTL_S either way: another replica's write changes them
by little.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

# Up to this many chunks a store is counted by one scan.
SCAN_MAX_CHUNKS = 200_000
DF_TTL_S = 30.0


class TermCounts:
    def __init__(
        self,
        total: Callable[[], int],
        generation: Callable[[], int],
        scan: Callable[[], Iterable[str]],
        count_one: Callable[[str], int],
    ) -> None:
        """`scan` yields each current chunk's terms (space-separated); `count_one` asks
        the engine for one term's count."""
        self._total, self._generation, self._scan, self._count_one = (
            total,
            generation,
            scan,
            count_one,
        )
        self._lock = threading.Lock()
        self._checked = -DF_TTL_S  # when the total and generation were last read
        self._chunks = 0
        self._seen_generation: int | None = None
        self._scanned: Counter[str] | None = None
        self._asked: dict[str, tuple[float, int]] = {}

    def invalidate(self) -> None:
        """This process wrote: count again at the next call."""
        with self._lock:
            self._checked = -DF_TTL_S

    def get(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Each term's count (terms in no chunk left out) and the number of chunks."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked > DF_TTL_S:
                self._checked = now
                self._chunks = self._total()
                generation = self._generation()
                if generation != self._seen_generation:
                    self._seen_generation = generation
                    self._scanned = None
                    self._asked.clear()
            if self._chunks <= SCAN_MAX_CHUNKS:
                if self._scanned is None:
                    self._scanned = Counter(t for text in self._scan() for t in set(text.split()))
                counts = {t: self._scanned[t] for t in terms}
            else:
                counts = {t: self._asked_count(t, now) for t in terms}
        return {t: n for t, n in counts.items() if n}, self._chunks

    def _asked_count(self, term: str, now: float) -> int:
        kept = self._asked.get(term)
        if kept is None or now - kept[0] > DF_TTL_S:
            kept = self._asked[term] = (now, self._count_one(term))
        return kept[1]
