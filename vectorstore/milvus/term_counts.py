"""How many chunks hold each term, for IDF and the off-topic check, in a store in Milvus.

A small store is read whole (each chunk's own terms, counted here): one scan, then every
count is a lookup. A large one asks Milvus per term (`TEXT_MATCH` over its inverted
index), which a Milvus server answers in milliseconds but the scan would take minutes.
Any process may write the store, so its generation is read again every second: after a
write, a term the last scan did not see is asked of Milvus at once (a document uploaded
through another replica is not taken for off-topic), while the scan itself is repeated at
most every RESCAN_S (the other counts shift IDFs by little meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

# Up to this many chunks a store is counted by one scan.
SCAN_MAX_CHUNKS = 200_000
RESCAN_S = 30.0
GENERATION_CHECK_S = 1.0


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
        self._total, self._generation = total, generation
        self._scan, self._count_one = scan, count_one
        self._lock = threading.Lock()
        self._checked = -GENERATION_CHECK_S  # when the generation was last read
        self._generation_seen: int | None = None
        self._chunks = 0
        self._scanned: Counter[str] | None = None
        self._scanned_at = 0.0
        self._stale = False  # written since the scan
        self._asked: dict[str, int] = {}  # counts asked since the last write

    def invalidate(self) -> None:
        """This process wrote: read the generation again at the next call."""
        with self._lock:
            self._checked = -GENERATION_CHECK_S

    def get(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Each term's count (terms in no chunk left out) and the number of chunks."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked > GENERATION_CHECK_S:
                self._checked = now
                generation = self._generation()
                if generation != self._generation_seen:
                    self._generation_seen = generation
                    self._chunks = self._total()
                    self._stale = True
                    self._asked.clear()
            if self._chunks > SCAN_MAX_CHUNKS:
                counts = {t: self._ask(t) for t in terms}
            else:
                if self._scanned is None or (self._stale and now - self._scanned_at > RESCAN_S):
                    self._scanned = Counter(t for text in self._scan() for t in set(text.split()))
                    self._scanned_at, self._stale = now, False
                    self._asked.clear()
                scanned = self._scanned
                counts = {
                    t: scanned[t] if scanned[t] or not self._stale else self._ask(t) for t in terms
                }
        return {t: n for t, n in counts.items() if n}, self._chunks

    def _ask(self, term: str) -> int:
        if term not in self._asked:
            self._asked[term] = self._count_one(term)
        return self._asked[term]
