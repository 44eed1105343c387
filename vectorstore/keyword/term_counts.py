"""Document counts of the store's frequent terms, read in one pass per store generation.

Every keyword query needs its terms' document counts (to leave out the common ones and
for IDF). FTS5 keeps no such count: its vocabulary table walks a term's whole posting
list to count it, which costs most for the frequent terms. One pass over the whole
vocabulary costs what a few hundred new questions' terms do, so it is read once per store
generation, in the background; until it is in, and for rare terms always (their lists are
short), the count is asked of FTS5 per term. The counts are the same either way. Figures:
DECISIONS.md, "Frequent terms' document counts read once per store generation".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("ragqa")

# Terms held by at least this many chunks are kept, a few MB at 100k chunks: a rarer
# term's posting list is short enough to count when it is asked.
FREQUENT_ROWS = 32
# Background reads take at most this share of the time: after a read that took t seconds
# the next starts no sooner than t / DUTY after it began (writes in bursts would start one
# after every commit).
DUTY = 0.1

# (generation, {term: chunks holding it}) from one read snapshot.
CountsRead = Callable[[int], tuple[int, dict[str, int]]]


class FrequentTerms:
    """The counts of one generation's frequent terms, once a background read has them."""

    def __init__(self, read: CountsRead, min_rows: int = FREQUENT_ROWS) -> None:
        self._read = read
        self.min_rows = min_rows
        self._lock = threading.Lock()
        self._counts: tuple[int, dict[str, int]] | None = None
        self._idle = threading.Event()  # clear while a read is under way
        self._idle.set()
        self._next_start = 0.0

    def get(self, generation: int) -> dict[str, int] | None:
        """Every term held by at least `min_rows` chunks in `generation`, with its count;
        None until they are read (a read is started then, in the background)."""
        counts = self._counts
        if counts is not None and counts[0] == generation:
            return counts[1]
        self.refresh()
        return None

    @property
    def reading(self) -> bool:
        return not self._idle.is_set()

    def refresh(self) -> None:
        """Start a background read unless one runs or the duty limit holds it back."""
        with self._lock:
            if self.reading or time.monotonic() < self._next_start:
                return
            self._idle.clear()
        threading.Thread(target=self._run, name="ragqa-term-counts", daemon=True).start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until no read is under way (tests, and a start-up that wants them in)."""
        self._idle.wait(timeout)

    def _run(self) -> None:
        began = time.monotonic()
        try:
            self._counts = self._read(self.min_rows)
        except Exception as exc:  # a closed or removed store: per-term counts still work
            log.debug("term counts not read: %s", exc)
        finally:
            took = time.monotonic() - began
            with self._lock:
                self._next_start = began + took / DUTY
                self._idle.set()
