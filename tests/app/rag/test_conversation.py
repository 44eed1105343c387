"""The retrieval query of a follow-up question, and when a question stands alone."""

from __future__ import annotations

from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator
from app.rag.conversation import EARLIER_CHARS, retrieval_query, search_query, stands_alone
from app.rag.service import RagService
from ingest.document import Document, Part
from ingest.pipeline import Pipeline
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store

TALK: list[ChatMessage] = [
    {"role": "user", "content": "What is GPT-1?"},
    {"role": "assistant", "content": "A language model [1]."},
    {"role": "user", "content": " LoRA가 뭐예요? "},
    {"role": "assistant", "content": "저차원 업데이트로 튜닝하는 기법 [1]."},
]


def test_a_first_question_is_searched_as_it_is() -> None:
    assert retrieval_query("What is LoRA?", []) == "What is LoRA?"


def test_the_previous_user_question_comes_first_answers_stay_out() -> None:
    assert retrieval_query("그럼 단점은?", TALK) == "LoRA가 뭐예요?\n그럼 단점은?"
    assert retrieval_query("그럼 단점은?", TALK, turns=2) == (
        "What is GPT-1?\nLoRA가 뭐예요?\n그럼 단점은?"
    )
    assert retrieval_query("그럼 단점은?", TALK, turns=0) == "그럼 단점은?"


def test_a_long_earlier_question_is_cut() -> None:
    pasted: list[ChatMessage] = [{"role": "user", "content": "x" * 5000}]
    query = retrieval_query("Why?", pasted)
    assert query == "x" * EARLIER_CHARS + "\nWhy?"


NOTES = {
    "starter": "A sourdough starter is a culture of wild yeast kept in flour and water.",
    "lamp": "An old lighthouse lamp was fed with oil by its keeper.",
}
STARTER: list[ChatMessage] = [{"role": "user", "content": "What is a sourdough starter?"}]


def _rag(pipeline: Pipeline, store: Store, embedder: HashEmbedder) -> RagService:
    with store.writer():
        pipeline.ingest(
            [Document(id=k, source=f"{k}.md", parts=(Part(v),)) for k, v in NOTES.items()]
        )
    store.flush()
    return RagService(Retriever(store, embedder), EchoGenerator())


def test_a_question_stands_alone_when_most_of_its_many_terms_are_unknown() -> None:
    assert stands_alone(unknown=3, total=3)
    assert stands_alone(unknown=5, total=6)
    assert not stands_alone(unknown=2, total=3)  # mostly the documents' words
    assert not stands_alone(unknown=2, total=2)  # too short to tell: "What are its drawbacks?"
    assert not stands_alone(unknown=0, total=0)


def test_rag_retrieves_a_follow_up_with_the_earlier_question(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    rag = _rag(pipeline, store, embedder)
    history = STARTER

    alone = rag.answer("How often should it be fed?", top_k=1)
    follow_up = rag.answer("How often should it be fed?", top_k=1, history=history)

    assert [s.document_id for s in alone.sources] != ["starter"]  # the test needs history
    assert [s.document_id for s in follow_up.sources] == ["starter"]
    assert follow_up.grounded


def test_an_off_topic_question_after_an_on_topic_one_is_refused(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    rag = _rag(pipeline, store, embedder)
    question = "Who painted the Mona Lisa?"
    borrowed = rag.search(retrieval_query(question, STARTER), 1, "hybrid")
    assert borrowed[0].relevance >= rag.min_relevance  # the earlier question's passage

    assert search_query(question, STARTER, rag.retriever) == question
    answer = rag.answer(question, top_k=1, history=STARTER)

    assert not answer.grounded
    assert answer.answer == "I could not find the answer to this question in the documents."


def test_a_follow_up_in_the_documents_words_keeps_the_earlier_question(
    pipeline: Pipeline, store: Store, embedder: HashEmbedder
) -> None:
    rag = _rag(pipeline, store, embedder)
    question = "What was it kept in?"  # "kept": in the starter note, and in no other

    assert search_query(question, STARTER, rag.retriever) == retrieval_query(question, STARTER)
    answer = rag.answer(question, top_k=1, history=STARTER)

    assert [s.document_id for s in answer.sources] == ["starter"]
    assert answer.grounded
