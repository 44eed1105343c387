"""Frequent terms' document counts read in one pass per store generation: the same
counts FTS5 gives term by term, never those of an older generation, and reads that
neither pile up nor run more than their share of the time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.vectorstore.keyword.test_term_scores import _write
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.keyword.term_counts import FrequentTerms
from vectorstore.store.store import Store

TERMS = ["alpha", "beta", "gamma", "delta", "omega", "absent"]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    emb = HashEmbedder()
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    store.keywords.frequent_terms.min_rows = 2  # small enough that this store has frequent terms
    texts = ["alpha beta", "alpha beta gamma", "alpha delta", "alpha", "omega beta"]
    for n, text in enumerate(texts):  # a document each: the index holds no neighbours' words
        _write(store, emb, f"d{n}", [text])
    return store


def _per_term(store: Store, terms: list[str] = TERMS) -> dict[str, int]:
    """FTS5's own count of each term, asked one term at a time (terms in none left out)."""
    return {t: n for t, n in zip(terms, store.keywords.count_terms(terms), strict=True) if n}


def _vocabulary(store: Store) -> list[str]:
    return [str(r[0]) for r in store._conn().execute("SELECT term FROM chunks_vocab")]


def _read_in(store: Store) -> dict[str, int]:
    frequent = store.keywords.frequent_terms
    frequent._next_start = 0.0  # no duty wait between a test's reads
    frequent.get(store.generation())  # starts the read unless it is in
    frequent.wait(10)
    counts = frequent.get(store.generation())
    assert counts is not None, "the background read did not finish"
    return counts


def test_counts_are_fts5s_before_and_after_the_frequent_terms_are_read(store: Store) -> None:
    before = store.document_frequencies(TERMS)
    counts = _read_in(store)
    every = _per_term(store, _vocabulary(store))
    assert counts == {t: n for t, n in every.items() if n >= 2}  # only the frequent kept
    assert counts["alpha"] == 4 and counts["beta"] == 3 and "gamma" not in counts
    after = store.document_frequencies(TERMS)
    assert before == after == (_per_term(store), 5)
    assert set(after[0]) == {"alpha", "beta", "gamma", "delta", "omega"}


def test_a_write_makes_the_kept_counts_stale_until_they_are_read_again(store: Store) -> None:
    old = _read_in(store)
    _write(store, HashEmbedder(), "e", ["omega gamma alpha"])  # alpha: kept as 4 before
    _write(store, HashEmbedder(), "f", ["omega delta gamma"])
    # The new generation's counts come from FTS5 term by term until its read is in.
    assert store.keywords.frequent_terms._counts is not None
    assert store.keywords.frequent_terms.get(store.generation()) is None
    expected = _per_term(store)
    assert expected["gamma"] == 3 and "gamma" not in old and expected["alpha"] == old["alpha"] + 1
    assert store.document_frequencies(TERMS) == (expected, 7)
    counts = _read_in(store)
    assert counts["gamma"] == 3 and counts["omega"] == expected["omega"]
    assert store.document_frequencies(TERMS) == (expected, 7)


def test_a_read_is_of_one_snapshot_the_generation_with_its_counts(store: Store) -> None:
    generation, counts = store.keywords.read_frequent_terms(1)
    assert generation == store.generation()
    assert counts == _per_term(store, _vocabulary(store))


def test_one_read_at_a_time_and_at_most_its_duty_share() -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def read(min_rows: int) -> tuple[int, dict[str, int]]:
        calls.append(min_rows)
        started.set()
        release.wait(5)
        return 7, {"term": 40}

    frequent = FrequentTerms(read, min_rows=32)
    assert frequent.get(7) is None
    assert started.wait(5)
    for _ in range(5):  # asked again while the read runs: no second read
        assert frequent.get(7) is None
    release.set()
    frequent.wait(5)
    assert calls == [32]
    assert frequent.get(7) == {"term": 40}
    # Another generation: a new read, but not before the duty limit allows one.
    frequent._next_start = time.monotonic() + 60
    assert frequent.get(8) is None
    frequent.wait(5)
    assert calls == [32]
    frequent._next_start = 0.0
    assert frequent.get(8) is None
    frequent.wait(5)
    assert calls == [32, 32]


def test_a_failed_read_leaves_counts_to_fts5(tmp_path: Path) -> None:
    def read(min_rows: int) -> tuple[int, dict[str, int]]:
        raise OSError("the store went away")

    frequent = FrequentTerms(read)
    assert frequent.get(1) is None
    frequent.wait(5)
    assert frequent.get(1) is None and not frequent.reading
