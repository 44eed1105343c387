"""Searches let in a few at a time, the rest in the order they came."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

import pytest

from app.config import Settings
from app.generators.echo import EchoGenerator
from app.http.admission import FifoGate
from app.http.metrics import Metrics
from app.rag.service import RagService
from vectorstore.cores import usable_cores
from vectorstore.search.retriever import Retriever
from vectorstore.types import SearchHit, SearchMode

WAIT_S = 10.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def test_no_more_than_its_slots_hold_it_at_once() -> None:
    gate = FifoGate(2)
    inside, most = [0], [0]
    count = threading.Lock()
    release = threading.Event()

    def search() -> None:
        with gate:
            with count:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            release.wait(WAIT_S)
            with count:
                inside[0] -= 1

    threads = [threading.Thread(target=search) for _ in range(6)]
    for t in threads:
        t.start()
    _until(lambda: gate.waiting == 4, "four waiters")
    assert inside[0] == 2
    release.set()
    for t in threads:
        t.join(WAIT_S)
    assert most[0] == 2 and inside[0] == 0 and gate.waiting == 0


def test_waiters_get_in_in_the_order_they_came() -> None:
    gate = FifoGate(1)
    entered: list[int] = []

    def search(n: int) -> None:
        with gate:
            entered.append(n)

    gate.__enter__()  # the gate is full
    threads = []
    for n in range(5):
        t = threading.Thread(target=search, args=(n,))
        t.start()
        _until(lambda n=n: gate.waiting == n + 1, f"waiter {n} in line")
        threads.append(t)
    gate.__exit__(None, None, None)
    for t in threads:
        t.join(WAIT_S)
    assert entered == [0, 1, 2, 3, 4]


def test_a_leaving_holder_hands_its_slot_to_the_first_waiter_not_a_newcomer() -> None:
    # threading.Semaphore would let the thread that releases take the slot straight back
    # here, ahead of the one that has been waiting.
    gate = FifoGate(1)
    entered: list[str] = []
    gate.__enter__()
    waiter = threading.Thread(target=lambda: (gate.__enter__(), entered.append("waiter")))
    waiter.start()
    _until(lambda: gate.waiting == 1, "the waiter in line")
    gate.__exit__(None, None, None)
    newcomer = threading.Thread(target=lambda: (gate.__enter__(), entered.append("newcomer")))
    newcomer.start()
    waiter.join(WAIT_S)
    _until(lambda: gate.waiting == 1, "the newcomer in line behind the waiter")
    assert entered == ["waiter"]
    gate.__exit__(None, None, None)  # the waiter's turn ends
    newcomer.join(WAIT_S)
    assert entered == ["waiter", "newcomer"]
    gate.__exit__(None, None, None)
    assert gate.waiting == 0


def test_a_holder_that_raises_still_lets_the_next_in() -> None:
    gate = FifoGate(1)
    with pytest.raises(RuntimeError), gate:
        raise RuntimeError("search failed")
    done = threading.Event()
    threading.Thread(target=lambda: (gate.__enter__(), done.set())).start()
    assert done.wait(WAIT_S)


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FifoGate(0)


class _SlowRetriever:
    """Counts how many searches run at once; each waits until told to finish."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.finish = threading.Event()
        self._lock = threading.Lock()

    def search(self, query: str, top_k: int, mode: SearchMode) -> list[SearchHit]:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.finish.wait(WAIT_S)
        with self._lock:
            self.inside -= 1
        return []


def test_the_service_runs_its_slots_worth_of_searches_at_once() -> None:
    retriever = _SlowRetriever()
    metrics = Metrics()
    rag = RagService(cast(Retriever, retriever), EchoGenerator(), observer=metrics, search_slots=2)

    def depth() -> float | None:
        return metrics.registry.get_sample_value("ragqa_search_queue_depth")

    threads = [threading.Thread(target=rag.search, args=("q", 5, "hybrid")) for _ in range(5)]
    for t in threads:
        t.start()
    _until(lambda: retriever.inside == 2 and rag._search_gate.waiting == 3, "two in, three wait")
    assert depth() == 5  # two searching, three waiting their turn
    retriever.finish.set()
    for t in threads:
        t.join(WAIT_S)
    assert retriever.most == 2
    assert depth() == 0
    timed = metrics.registry.get_sample_value(
        "ragqa_retrieval_duration_seconds_count", {"mode": "hybrid"}
    )
    assert timed == 5


def test_by_default_one_search_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    rag = RagService(cast(Retriever, _SlowRetriever()), EchoGenerator())
    assert rag._search_gate.slots == usable_cores()
    monkeypatch.setenv("RAGQA_SEARCH_CONCURRENCY", "3")
    assert Settings().search_concurrency == 3
    monkeypatch.setenv("RAGQA_SEARCH_CONCURRENCY", "-1")
    with pytest.raises(ValueError, match="search_concurrency"):
        Settings()
