"""Metric definitions against hand-computed values."""

from __future__ import annotations

import math

import pytest

from app.tooling.evaluation.metrics import (
    documents_in_order,
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    token_f1,
)


def test_ndcg_graded() -> None:
    rel = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b", "x"], rel) == pytest.approx(1.0)
    expected = (1 / math.log2(2) + 2 / math.log2(3)) / (2 / math.log2(2) + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], rel) == pytest.approx(expected)
    assert ndcg_at_k(["x"], rel) == 0.0


def test_recall_and_mrr() -> None:
    rel = {"a": 1, "b": 1}
    assert recall_at_k(["x", "a", "y"], rel, 1) == 0.0
    assert recall_at_k(["x", "a", "y"], rel, 10) == 0.5
    assert mrr_at_k(["x", "a"], rel) == 0.5
    assert mrr_at_k(["x"], rel) == 0.0


def test_chunks_collapse_to_documents_by_best_rank() -> None:
    assert documents_in_order(["d1", "d2", "d1", "d3"]) == ["d1", "d2", "d3"]


def test_squad_exact_match_and_f1() -> None:
    assert exact_match("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert token_f1("the big red dog", ["red dog"]) == pytest.approx(2 * 0.667 * 1 / 1.667, 1e-2)
    assert token_f1("nothing", ["red dog"]) == 0.0


def test_korquad_counts_characters() -> None:
    # "1,750억개" vs "1,750억": words differ, characters mostly agree.
    assert token_f1("1750억개", ["1750억"]) == 0.0
    assert token_f1("1750억개", ["1750억"], characters=True) == pytest.approx(
        2 * (5 / 6) / (1 + 5 / 6)
    )
