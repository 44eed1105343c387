"""Search over a Store: dense, lexical, and their fusion, with a relevance score per hit."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.cache import Memo
from vectorstore.embedders.dual import HasMultilingualSide
from vectorstore.embedders.vocabulary import passage_coverage, vocab_coverage
from vectorstore.keyword import analyzer
from vectorstore.search.fusion import zscore_fusion
from vectorstore.types import SearchHit, SearchMode

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from vectorstore.embedders.base import Embedder
    from vectorstore.search.rerank import Reranker
    from vectorstore.store.protocol import DocumentStore

# Candidates each side contributes to fusion: deep enough that a chunk ranked well by one
# retriever and poorly by the other still meets in the fused list, and that the z-scores
# see a stable spread; fewer rank worse on SciFact train (DECISIONS.md, "Retrieval
# quality").
CANDIDATES = 200
# Cosines of all-MiniLM-style models: unrelated text sits below ~0.25, a passage that
# answers a question usually above ~0.55.
COSINE_FLOOR, COSINE_SURE = 0.25, 0.6
MIN_DENSE_WEIGHT = 0.5
# The multilingual side's weight once the best keyword hit holds KEYWORD_SURE of the
# query's IDF mass, and beside a primary dense side that counts (DECISIONS.md, "The
# multilingual side"; tuned on SciFact, KorQuAD and the seeds notes).
KEYWORD_SURE, MULTILINGUAL_WHEN_SURE = 0.3, 0.3
MULTILINGUAL_BESIDE_PRIMARY = 0.5
# How deep in the multilingual ranking passages in the other language are looked for.
OTHER_LANGUAGE_DEPTH = 50
# A chunk's vocabulary coverage never changes (row ids are never reused: an edit makes new
# rows), so it is stored at ingest and remembered once read, not tokenized again at every
# query (docs/retrieval.md, "Why the dense weight depends on vocabulary coverage").
KNOWN_CACHE_ROWS = 200_000
TERMS_CACHE_ROWS = 20_000  # a term set is ~10 kB: bounded to ~200 MB at worst


class Retriever:
    """Runs queries against a store with the store's own embedder."""

    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder,
        reranker: Reranker | None = None,
        rerank_depth: int = 30,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self._coverage_memo: Memo[int, float] = Memo(KNOWN_CACHE_ROWS)
        self._terms: Memo[int, frozenset[str]] = Memo(TERMS_CACHE_ROWS)

    def search(
        self, query: str, top_k: int = 5, mode: SearchMode = "hybrid", *, relevance: bool = True
    ) -> list[SearchHit]:
        """The top_k chunks, best first. `relevance=False` skips the per-hit relevance
        score (left at 0), which evaluation over hundreds of hits per query does not need."""
        depth = max(CANDIDATES, top_k)
        idf: dict[str, float] | None = None  # the query terms' IDF, once asked for
        query_coverage = self.vocabulary_coverage([query])[0]
        # Below MIN_DENSE_WEIGHT the fusion below weighs the dense side 0 whatever the
        # chunks are, so the query is neither embedded nor searched for it: a Korean
        # question under MiniLM is its longest query to embed, and its cosines count for
        # nothing. Rankings and scores are the same as with it (docs/retrieval.md).
        dense_counts = mode == "dense" or (mode == "hybrid" and query_coverage >= MIN_DENSE_WEIGHT)
        qvec = self.embedder.embed_query(query) if dense_counts else None
        dense = self._dense(qvec, depth) if qvec is not None else []
        multilingual = (
            self._dense(self.embedder.embed_query_multilingual(query), depth)
            if mode != "lexical" and isinstance(self.embedder, HasMultilingualSide)
            else []
        )
        lexical = self.store.lexical(query, depth) if mode != "dense" else []
        if mode == "lexical":
            ranked = lexical
        elif mode == "dense" and not multilingual:
            ranked = dense
        else:
            # A mostly-Korean query with one English word must not let MiniLM's noise
            # reorder good keyword hits (KorQuAD): below half coverage the dense side is
            # dropped; English keeps weight 1. (Below half, `dense` is empty: not searched.)
            weight = (
                query_coverage * self._mean_chunk_coverage([i for i, _ in dense[:5]])
                if dense
                else 0.0
            )
            weight = weight**2 if weight >= MIN_DENSE_WEIGHT else 0.0
            cover, other = 0.0, []
            if multilingual:
                idf = self._idf(analyzer.query_terms(query))
                cover = self._keyword_cover(idf, lexical)
                if cover < KEYWORD_SURE:
                    other = self._other_language(query_coverage, multilingual, lexical)
            ranked = fuse(dense, weight, multilingual, lexical, cover, other)
        if self.reranker is not None:
            ranked = self._rerank(query, ranked, max(self.rerank_depth, top_k))
        return self._hits(
            query, qvec if relevance else None, query_coverage, ranked[:top_k], relevance, idf
        )

    def _rerank(
        self, query: str, ranked: list[tuple[int, float]], depth: int
    ) -> list[tuple[int, float]]:
        """The cross-encoder orders the first `depth` hits; its scores replace theirs, and
        the rest keep their order behind them."""
        assert self.reranker is not None
        head = ranked[:depth]
        rows = self.store.fetch_chunks([i for i, _ in head])
        head = [(i, s) for i, s in head if i in rows]
        texts = [rows[i][0].passage for i, _ in head]
        scores = self.reranker.score(query, texts)
        order = sorted(zip(head, scores, strict=True), key=lambda p: p[1], reverse=True)
        return [(i, score) for (i, _), score in order] + ranked[depth:]

    def _keyword_cover(self, idf: dict[str, float], lexical: Sequence[tuple[int, float]]) -> float:
        """How much of the query's IDF mass the best keyword hit holds: near 1 when the
        question repeats the passage's words, near 0 for a paraphrase or another language."""
        if not lexical:
            return 0.0
        best = lexical[0][0]
        return coverage(idf, self.store.keyword_terms([best]).get(best, frozenset()))

    def vocabulary_coverage(self, texts: Sequence[str]) -> list[float]:
        """How well the embedder's vocabulary covers each text (embedders/vocabulary.py)."""
        return vocab_coverage(self.embedder, texts)

    def unknown_terms(self, text: str) -> tuple[int, int]:
        """How many of the text's search terms occur in no chunk of the store, of how many.

        A question about something the documents never mention is mostly such terms; a
        follow-up ("그럼 단점은?") is mostly words the documents use.
        """
        terms = analyzer.query_terms(text)
        if not terms:
            return 0, 0
        df, _ = self.store.document_frequencies(terms)
        return sum(1 for t in terms if t not in df), len(terms)

    def _other_language(
        self,
        query_coverage: float,
        multilingual: Sequence[tuple[int, float]],
        lexical: Sequence[tuple[int, float]],
    ) -> list[int]:
        """The multilingual side's best hits that keyword search did not rank and that are
        in the other language than the question: the primary model's coverage (English
        near 1, Korean near 0) tells the two apart."""
        ranked = {i for i, _ in lexical}
        ids = [i for i, _ in multilingual[:OTHER_LANGUAGE_DEPTH] if i not in ranked]
        found = self._coverages(ids)
        return [
            i
            for i, c in zip(ids, found, strict=True)
            if not math.isnan(c) and abs(c - query_coverage) > 0.5
        ]

    def _coverages(self, row_ids: list[int]) -> list[float]:
        """Stored chunks' vocabulary coverage, remembered per row; NaN for a row deleted."""

        def passages(ids: list[int]) -> dict[int, str]:
            return {i: chunk.passage for i, (chunk, _) in self.store.fetch_chunks(ids).items()}

        def compute(ids: list[int]) -> list[float]:
            found = self._compute_coverage(ids, passages)
            return [found.get(i, math.nan) for i in ids]  # deleted since ranking: no vote

        return self._coverage_memo.get(row_ids, compute)

    def _mean_chunk_coverage(self, row_ids: list[int]) -> float:
        """Mean vocabulary coverage of stored chunks; text is read only for rows not remembered."""
        values = [v for v in self._coverages(row_ids) if not math.isnan(v)]
        return float(np.mean(values)) if values else 0.0

    def _chunk_coverage(self, row_ids: Sequence[int], texts: Sequence[str]) -> list[float]:
        """vocabulary_coverage() of stored chunks, remembered per row."""
        text_of = dict(zip(row_ids, texts, strict=True))

        def compute(ids: list[int]) -> list[float]:
            found = self._compute_coverage(ids, lambda missing: {i: text_of[i] for i in missing})
            return [found[i] for i in ids]

        return self._coverage_memo.get(row_ids, compute)

    def _compute_coverage(
        self, row_ids: list[int], passages: Callable[[list[int]], dict[int, str]]
    ) -> dict[int, float]:
        """Chunks' coverage as stored at ingest; for chunks stored without it, worked out
        from `passages` of those rows (a row it leaves out gets none)."""
        found = self.store.stored_coverage(row_ids)
        missing = [i for i in row_ids if i not in found]
        if missing:
            texts = passages(missing)
            present = [i for i in missing if i in texts]
            values = passage_coverage(self.embedder, [texts[i] for i in present])
            found.update(zip(present, values, strict=True))
        return found

    def _terms_of(self, row_ids: Sequence[int], texts: Sequence[str]) -> list[frozenset[str]]:
        """Stored chunks' analyzer terms, remembered per row. The keyword index holds them
        already; analysing every hit again (stemming) would add to every search's time."""
        text_of = dict(zip(row_ids, texts, strict=True))

        def compute(ids: list[int]) -> list[frozenset[str]]:
            stored = self.store.keyword_terms(ids)
            return [stored.get(i) or frozenset(analyzer.terms(text_of[i])) for i in ids]

        return self._terms.get(row_ids, compute)

    def _dense(self, qvec: NDArray[np.float32], depth: int) -> list[tuple[int, float]]:
        index = self.store.dense_index()
        return [] if index is None else index.search(qvec, depth)

    def _hits(
        self,
        query: str,
        qvec: NDArray[np.float32] | None,
        query_coverage: float,
        ranked: Sequence[tuple[int, float]],
        relevance: bool = True,
        idf: dict[str, float] | None = None,
    ) -> list[SearchHit]:
        rows = self.store.fetch_chunks([i for i, _ in ranked])
        ranked = [(i, score) for i, score in ranked if i in rows]  # deleted since ranking
        texts = [rows[i][0].passage for i, _ in ranked]
        scores = (
            self._relevance(query, qvec, query_coverage, ranked, texts, idf) if relevance else {}
        )
        hits = []
        for row_id, score in ranked:
            chunk, doc = rows[row_id]
            hits.append(
                SearchHit(
                    chunk_id=chunk.chunk_id,
                    document_id=doc.id,
                    source=doc.source,
                    title=doc.title,
                    text=chunk.text,
                    context=chunk.context,
                    metadata=chunk.metadata,
                    score=score,
                    relevance=scores.get(row_id, 0.0),
                )
            )
        return hits

    def _relevance(
        self,
        query: str,
        qvec: NDArray[np.float32] | None,
        query_coverage: float,
        ranked: Sequence[tuple[int, float]],
        texts: Sequence[str],
        idf: dict[str, float] | None = None,
    ) -> dict[int, float]:
        """Keyword coverage, or the calibrated cosine where the embedder knows both texts."""
        ids = [i for i, _ in ranked]
        # Cosine counts only where the embedder knows the query and the chunk alike.
        knows = query_coverage > 0
        vectors = self.store.embeddings(ids) if knows else {}
        if qvec is None and vectors:  # not embedded for ranking: relevance still weighs meaning
            qvec = self.embedder.embed_query(query)
        coverages = self._chunk_coverage(ids, texts) if knows else [0.0] * len(texts)
        idf = self._idf(analyzer.query_terms(query)) if idf is None else idf
        out = {}
        for row_id, terms, known in zip(ids, self._terms_of(ids, texts), coverages, strict=True):
            out[row_id] = coverage(idf, terms)
            if qvec is not None and row_id in vectors:
                cosine = float(vectors[row_id] @ qvec)
                out[row_id] = max(out[row_id], query_coverage * known * cosine_relevance(cosine))
        return out

    def term_weights(self, query: str) -> dict[str, float]:
        """The query's search terms with their BM25 IDF in this store."""
        return self._idf(analyzer.query_terms(query))

    def _idf(self, terms: Sequence[str]) -> dict[str, float]:
        df, total = self.store.document_frequencies(terms)
        return {t: math.log(1 + (total - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}


def fuse(
    dense: list[tuple[int, float]],
    dense_weight: float,
    multilingual: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    keyword_cover: float,
    other_language: Collection[int] = (),
) -> list[tuple[int, float]]:
    """The primary dense, multilingual dense and keyword rankings in one (either dense list
    may be empty). The multilingual side finds a paraphrase or the other language's
    passage, but ranks worse than the keywords where the best keyword hit already holds
    the question's words (KorQuAD), and worse than MiniLM on English (SciFact): it steps
    back in both cases. Where the keywords are unsure, a passage in `other_language` than
    the question's, which keyword search cannot match, is not held down for missing from
    its list (DECISIONS.md, "The multilingual side")."""
    if not multilingual:
        return zscore_fusion([dense, lexical], [dense_weight, 1.0])
    sure = keyword_cover >= KEYWORD_SURE
    weight = MULTILINGUAL_WHEN_SURE if sure else 1.0
    if dense_weight > 0:
        weight = min(weight, MULTILINGUAL_BESIDE_PRIMARY)
    unseen = [(), (), () if sure else other_language]
    return zscore_fusion([dense, multilingual, lexical], [dense_weight, weight, 1.0], unseen)


def coverage(idf: dict[str, float], present: Collection[str]) -> float:
    """Share of the query's IDF mass whose terms are `present` (a text's analyzer terms):
    1.0 when every rare query word is there, near 0 when only common words are."""
    total = sum(idf.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in idf.items() if t in present) / total


def cosine_relevance(cosine: float) -> float:
    return min(1.0, max(0.0, (cosine - COSINE_FLOOR) / (COSINE_SURE - COSINE_FLOOR)))
