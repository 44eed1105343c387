"""The default embedder's multilingual half: a question finds a passage in the other
language, or in other words, where neither keywords nor MiniLM can; and it stays out of
the way where the keywords are sure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.document import Document, Part
from ingest.pipeline import Pipeline
from vectorstore import make_embedder
from vectorstore.embedders.dual import DualEmbedder
from vectorstore.search import retriever as retriever_module
from vectorstore.search.fusion import zscore_fusion
from vectorstore.search.retriever import Retriever, fuse
from vectorstore.store.store import Store

DUAL = "bundled:all-MiniLM-L6-v2+bundled:use-multilingual"
NOTES = {
    "lora": "LoRA는 사전 학습된 가중치를 고정하고, 작은 저랭크 행렬 두 개만 학습한다.",
    "oncall": "The on-call rotation changes every Tuesday at noon; swaps go in the calendar.",
    "bread": "A sourdough starter is fed with flour and water every day.",
    "kimchi": "김치는 배추를 소금에 절인 뒤 양념과 함께 발효시킨 음식이다.",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    embedder = make_embedder(DUAL, "auto")
    assert isinstance(embedder, DualEmbedder)
    store = Store(Path(tmp_path_factory.mktemp("dual")), embedder.model_name, embedder.dimension)
    docs = [Document(id=k, source=f"{k}.md", title=k, parts=(Part(v),)) for k, v in NOTES.items()]
    with store.writer():
        Pipeline(store, embedder).ingest(docs)
    store.flush()
    return Retriever(store, embedder)


@pytest.mark.models
@pytest.mark.parametrize(
    ("question", "document"),
    [
        # English over Korean, Korean over English, Korean in other words
        ("Which method freezes the pretrained weights and trains low-rank matrices?", "lora"),
        ("당직 순번은 언제 바뀌나요?", "oncall"),
        ("양배추를 절여서 삭힌 반찬은?", "kimchi"),
    ],
)
def test_a_question_finds_the_passage_across_languages(
    retriever: Retriever, question: str, document: str
) -> None:
    assert retriever.search(question, 1, "hybrid")[0].document_id == document
    assert retriever.search(question, 1, "dense")[0].document_id == document


@pytest.mark.models
def test_without_the_multilingual_half_the_english_question_misses(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The case the half is for: keywords and MiniLM alone rank the Korean note below.
    monkeypatch.setattr(retriever_module, "HasMultilingualSide", type("Never", (), {}))
    hits = retriever.search(
        "Which method freezes the pretrained weights and trains low-rank matrices?", 1
    )
    assert hits[0].document_id != "lora"


def test_the_multilingual_side_steps_back_when_the_keywords_are_sure() -> None:
    lexical = [(1, 9.0), (2, 3.0), (3, 2.0)]
    multilingual = [(3, 0.9), (2, 0.5), (1, 0.1)]
    unsure = fuse([], 0.0, multilingual, lexical, keyword_cover=0.1)
    sure = fuse([], 0.0, multilingual, lexical, keyword_cover=0.9)
    assert unsure[0][0] == 3 and sure[0][0] == 1
    # Without a multilingual side it is the two-list fusion it always was.
    dense = [(2, 0.7), (3, 0.2)]
    assert fuse(dense, 0.8, [], lexical, 0.0) == zscore_fusion([dense, lexical], [0.8, 1.0])


def test_a_passage_keywords_cannot_see_is_not_held_down_while_they_are_unsure() -> None:
    lexical = [(1, 9.0), (2, 3.0), (3, 2.0)]
    multilingual = [(4, 0.95), (1, 0.3), (2, 0.25), (3, 0.1)]
    # 4 is in the other language: absent from the keyword list for that reason alone.
    held = fuse([], 0.0, multilingual, lexical, keyword_cover=0.1)
    freed = fuse([], 0.0, multilingual, lexical, keyword_cover=0.1, other_language=[4])
    assert [k for k, _ in held].index(4) > [k for k, _ in freed].index(4) == 0
    # Once the keywords are sure, their silence counts again.
    sure = fuse([], 0.0, multilingual, lexical, keyword_cover=0.9, other_language=[4])
    assert sure == fuse([], 0.0, multilingual, lexical, keyword_cover=0.9)


def test_unseen_keys_take_a_neutral_z_score() -> None:
    fused = dict(zscore_fusion([[(1, 1.0), (2, 0.0)], [(3, 5.0), (1, 1.0)]], [1, 1], [(), [2]]))
    # 2 is missing from the second list but unseen there: z 0 rather than that list's -1.
    assert fused[2] == pytest.approx((-1.0 + 0.0) / 2)
    assert fused[1] == pytest.approx((1.0 - 1.0) / 2)
    with pytest.raises(ValueError):
        zscore_fusion([[(1, 1.0)]], [1.0], [(), ()])
