"""Stemming from many threads at once, as the server's worker threads do under load."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator

import pytest
import snowballstemmer

from vectorstore.keyword import analyzer


@pytest.fixture
def rapid_switching() -> Iterator[None]:
    # Threads switch every microsecond instead of every 5 ms, so a race shows in a second.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_threads_stem_their_own_words(rapid_switching: None) -> None:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    endings = ["ing", "ed", "s", "ies", "ational", "ness"]
    words = [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) + rng.choice(endings)
        for _ in range(16_000)
    ]
    reference = snowballstemmer.stemmer("english")
    expected = {w: reference.stemWord(w) for w in words}
    wrong: list[str] = []

    def stem_all(chunk: list[str]) -> None:
        for word in chunk:
            try:
                # Uncached: a shared stemmer mixed up words (or raised IndexError) here.
                if analyzer._stem.__wrapped__(word) != expected[word]:
                    wrong.append(word)
            except IndexError:
                wrong.append(word)

    threads = [threading.Thread(target=stem_all, args=(words[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
