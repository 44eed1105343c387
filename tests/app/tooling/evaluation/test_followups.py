"""`ragqa eval qa` on conversations: each way of searching for a follow-up, scored."""

from __future__ import annotations

from pathlib import Path

from app.generators.echo import EchoGenerator
from app.rag.service import RagService
from app.tooling.evaluation.followups import followup_scores
from ingest.document import Document, Part
from ingest.pipeline import Pipeline
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store

NOTES = {
    "starter": "A sourdough starter is a culture of wild yeast kept in flour and water.",
    "lamp": "An old lighthouse lamp was fed with oil by its keeper.",
}
ROWS: list[dict[str, object]] = [
    {
        "history": [{"role": "user", "content": "What is a sourdough starter?"}],
        "question": "How often should it be fed?",
        "evidence": ["wild yeast"],
    },
    {
        "kind": "topic switch",
        "history": [{"role": "user", "content": "What is a sourdough starter?"}],
        "question": "What was the old lighthouse lamp fed with?",
        "evidence": ["with oil"],
    },
    {
        "history": [{"role": "user", "content": "What is a sourdough starter?"}],
        "question": "Who won the 1966 chess olympiad?",
        "off_topic": True,
    },
]


def test_each_strategy_is_scored_by_kind_of_row(tmp_path: Path) -> None:
    emb = HashEmbedder()
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    Pipeline(store, emb).ingest(
        [Document(id=k, source=f"{k}.md", parts=(Part(v),)) for k, v in NOTES.items()]
    )
    rag = RagService(Retriever(store, emb), EchoGenerator(), min_relevance=0.2)

    alone, previous = followup_scores(
        rag, ROWS, k=1, strategies=["question alone", "+ previous question (served)"]
    )

    assert alone.values["follow-up hit@1"] == 0.0  # "fed" finds the lamp
    assert previous.values["follow-up hit@1"] == 1.0
    assert previous.values["follow-up answered"] == 1.0
    assert alone.values["topic switch hit@1"] == previous.values["topic switch hit@1"] == 1.0
    assert alone.values["off-topic refused"] == 1.0
    assert set(previous.values) == set(alone.values)
