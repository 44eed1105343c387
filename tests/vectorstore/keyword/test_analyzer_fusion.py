"""Keyword analysis (English words, Korean bigrams) and reciprocal rank fusion."""

from __future__ import annotations

import pytest

from vectorstore.keyword.analyzer import fts_query, query_terms, terms
from vectorstore.search.fusion import reciprocal_rank_fusion


def test_english_words_are_stemmed() -> None:
    assert terms("Models running") == ["model", "run"]


def test_korean_becomes_bigrams_and_particles_split_from_latin() -> None:
    assert terms("GPT-3의 매출") == ["gpt", "3", "의", "매출", "gpt3"]
    # a two-syllable noun with a particle still shares the noun's bigram
    assert "매출" in terms("매출은") and "매출" in terms("매출")


def test_korean_transliterations_index_as_the_english_word() -> None:
    # seeds-qa: "파라미터" must find a table headed "Parameter Count", "트랜스포머" a
    # "Transformer" heading, and English questions Korean text
    assert terms("GPT-3의 파라미터") == ["gpt", "3", "의", "paramet", "gpt3"]
    assert terms("트랜스포머의 인코더") == ["transform", "의", "encod"]
    assert terms("Transformer encoder") == ["transform", "encod"]
    assert terms("파인튜닝은") == ["fine", "tune", "은"]  # compound, particle kept
    # compounds split; the longest form wins; one-syllable prefixes of other words don't
    assert terms("언어모델의") == ["언어", "model", "의"]
    assert terms("하이퍼파라미터") == ["hyperparamet"]
    assert terms("드라마") == ["드라", "라마"]  # not 드 + "라마" (llama)
    assert terms("로스앤젤레스") == ["로스", "스앤", "앤젤", "젤레", "레스"]


def test_query_drops_stopwords_and_korean_question_words() -> None:
    assert query_terms("What is the MMLU benchmark?") == ["mmlu", "benchmark"]
    assert "나요" not in query_terms("무엇을 바꾸나요?")
    assert query_terms("the") == ["the"]  # nothing else left: keep it


def test_korean_question_endings_and_words_are_stripped() -> None:
    # particles after a Latin word go like English stopwords; "공개" is "release"
    assert query_terms("PETM은 무엇의 약자인가요?") == ["petm", "약자"]
    assert query_terms("GPT-1은 언제 공개되었나요?") == ["gpt", "1", "releas", "gpt1"]


def test_fts_query_quotes_terms() -> None:
    assert fts_query('say "hi"') == '"say" OR "hi"'
    assert fts_query("?!") is None


def test_rrf_orders_by_fused_rank() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert [key for key, _ in fused] == ["a", "c", "b"]


def test_rrf_zero_weight_reduces_to_the_other_ranking() -> None:
    fused = reciprocal_rank_fusion([["x", "y"], ["b", "a"]], [0.0, 1.0])
    assert [key for key, _ in fused] == ["b", "a"]


def test_zscore_fusion_keeps_margins_and_handles_missing_keys() -> None:
    from vectorstore.search.fusion import zscore_fusion

    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    lexical = [("b", 10.0), ("a", 9.5), ("d", 1.0)]
    ranked = zscore_fusion([dense, lexical], [1.0, 1.0])
    # a leads dense by far and trails b barely in lexical: RRF would tie them, z-scores don't
    assert [k for k, _ in ranked[:2]] == ["a", "b"]
    fused = dict(ranked)
    assert fused["a"] == pytest.approx(0.5 * (1.2247 + 0.6460), abs=1e-3)
    assert fused["c"] == pytest.approx(fused["d"])  # each missing from one list: its floor
    only_lexical = [k for k, _ in zscore_fusion([dense, lexical], [0.0, 1.0])]
    assert only_lexical == ["b", "a", "d"]  # a zero weight drops the list entirely
