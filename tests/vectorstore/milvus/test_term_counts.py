"""Term counts of a store that other processes write: a scan for a small store, Milvus's
own count per term for a large one, and a new document's terms seen at once."""

from __future__ import annotations

import pytest

from vectorstore.milvus import term_counts
from vectorstore.milvus.term_counts import TermCounts


class Fake:
    """A store's side: its chunks' terms, its generation and a clock."""

    def __init__(self) -> None:
        self.chunks = ["lora rank", "lora adapter", "faiss index"]
        self.generation = 1
        self.scans = 0
        self.asked: list[str] = []

    def scan(self) -> list[str]:
        self.scans += 1
        return list(self.chunks)

    def count_one(self, term: str) -> int:
        self.asked.append(term)
        return sum(term in text.split() for text in self.chunks)

    def counts(self) -> TermCounts:
        return TermCounts(
            lambda: len(self.chunks), lambda: self.generation, self.scan, self.count_one
        )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(term_counts.time, "monotonic", lambda: now[0])
    return now


def test_a_small_store_is_counted_by_one_scan(clock: list[float]) -> None:
    fake = Fake()
    counts = fake.counts()
    assert counts.get(["lora", "faiss", "absent"]) == ({"lora": 2, "faiss": 1}, 3)
    clock[0] += 60
    assert counts.get(["rank"]) == ({"rank": 1}, 3)
    assert fake.scans == 1 and fake.asked == []  # nothing written: no second scan


def test_another_writers_new_terms_count_within_a_second(clock: list[float]) -> None:
    fake = Fake()
    counts = fake.counts()
    counts.get(["lora"])
    fake.chunks.append("rotation tuesday")  # another replica uploads a document
    fake.generation = 2
    clock[0] += 0.5
    assert counts.get(["rotation"]) == ({}, 3)  # the generation is read once a second
    clock[0] += 1
    assert counts.get(["rotation", "lora"]) == ({"rotation": 1, "lora": 2}, 4)
    assert fake.asked == ["rotation"] and fake.scans == 1  # asked, not scanned again
    clock[0] += term_counts.RESCAN_S
    counts.get(["lora"])
    assert fake.scans == 2


def test_a_large_store_asks_milvus_per_term(
    clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(term_counts, "SCAN_MAX_CHUNKS", 2)
    fake = Fake()
    counts = fake.counts()
    assert counts.get(["lora", "index"]) == ({"lora": 2, "index": 1}, 3)
    counts.get(["lora"])
    assert fake.scans == 0 and fake.asked == ["lora", "index"]  # each asked once
