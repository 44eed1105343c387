"""BM25 by term: each query term's scores over the chunks that hold it, kept for reuse.

FTS5's bm25() is a sum over the query's terms of a score that depends on the term and the
row only (its IDF, its count in each column, the row's length), so a query's BM25 is the
sum of its terms' own scores. Ranking through FTS5 costs time for every matching row on
every query; the same ranking from kept term scores is one numpy sum. Query terms repeat
across queries as words repeat in text, so most of a query's terms are kept from earlier
ones; a term seen for the first time is read once (vectorstore.keyword.bm25 works its
scores out faster than FTS5 would). The scores are exactly FTS5's, so rankings are the
same up to ties, which fall to the lower row id. Figures: DECISIONS.md, "Keyword scores
kept per term".
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

# (row ids, their scores): one term's postings, in any order (best() sorts the union).
Postings = tuple["NDArray[np.int64]", "NDArray[np.float64]"]
# Kept postings in all: 16 bytes each, so at most ~32 MB, about what a few hundred
# questions' terms hold at 100k chunks (DECISIONS.md, "Keyword scores kept per term");
# the rarely asked go first.
MAX_POSTINGS = 2_000_000


class TermScores:
    """A least-recently-used store of term postings, for one store generation: every
    write changes IDFs and row lengths, so a new generation starts empty."""

    def __init__(self, max_postings: int = MAX_POSTINGS) -> None:
        self.max_postings = max_postings
        self._lock = threading.Lock()
        self._generation = -1
        self._terms: OrderedDict[str, Postings] = OrderedDict()
        self._size = 0

    def get(
        self, generation: int, terms: Sequence[str], load: Callable[[str], Postings]
    ) -> list[Postings]:
        """Each term's postings; `load` reads the ones not kept (outside the lock, so
        searches do not wait on each other's reads)."""
        with self._lock:
            if generation != self._generation:
                self._terms.clear()
                self._size = 0
                self._generation = generation
            found = {t: self._terms[t] for t in terms if t in self._terms}
            for term in found:
                self._terms.move_to_end(term)
        fresh = {t: load(t) for t in terms if t not in found}
        if fresh:
            with self._lock:
                if generation == self._generation:
                    for term, postings in fresh.items():
                        self._keep(term, postings)
        found.update(fresh)
        return [found[t] for t in terms]

    def _keep(self, term: str, postings: Postings) -> None:
        size = len(postings[0])
        if size > self.max_postings or term in self._terms:
            return
        self._terms[term] = postings
        self._size += size
        while self._size > self.max_postings:
            _, (rows, _) = self._terms.popitem(last=False)
            self._size -= len(rows)


def best(postings: Sequence[Postings], limit: int) -> list[tuple[int, float]]:
    """The `limit` rows with the highest summed score, best first, ties to the lower row
    id; rows score > 0 only where one of the terms holds them."""
    parts = [p for p in postings if len(p[0])]
    if not parts or limit <= 0:
        return []
    rows, where = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    totals = np.bincount(where, weights=np.concatenate([p[1] for p in parts]))
    picked = np.arange(len(rows))
    if len(rows) > limit:
        # The limit-th best score: every row above it, then as many at it as fit (lowest
        # row ids first), so ties do not depend on how argpartition happened to split.
        cut = np.partition(totals, len(totals) - limit)[len(totals) - limit]
        above = np.flatnonzero(totals > cut)
        at = np.flatnonzero(totals == cut)[: limit - len(above)]
        picked = np.concatenate([above, at])
    order = picked[np.lexsort((rows[picked], -totals[picked]))]
    return [(int(r), float(s)) for r, s in zip(rows[order], totals[order], strict=True)]
