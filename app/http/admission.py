"""How many searches run at once: the rest wait their turn, strictly in arrival order.

Under load every search request gets a worker thread at once. With more of them running
than there are cores, each one's Python parts take turns on the interpreter lock with all
the others and its native parts (the query embedding, FAISS, SQLite) compete for the
cores, so a search takes as long as the slowest of the crowd. Letting in one search per
core and queueing the rest in order gives each search the machine while it runs: a lower
p95 at the same requests/s (DECISIONS.md, "Searches let in one per core").
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FifoGate:
    """A semaphore whose waiters get in in the order they came.

    `threading.Semaphore` wakes its longest waiter on release, but a thread arriving just
    then may take the slot first, and the woken one goes back to the end of the line; here a
    leaving holder hands its slot to the first waiter directly.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a gate needs at least one slot, not {slots}")
        self.slots = slots
        self._lock = threading.Lock()
        self._free = slots
        self._waiting: deque[threading.Lock] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def __enter__(self) -> FifoGate:
        with self._lock:
            if self._free:
                self._free -= 1
                return self
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the holder that hands over its slot
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # the slot passes on, still taken
            else:
                self._free += 1
