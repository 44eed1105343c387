"""What to search for when a question follows earlier turns of a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.generators.base import ChatMessage

if TYPE_CHECKING:
    from vectorstore import Retriever

# A follow-up ("그럼 단점은?", "When was it released?") names its subject only in an earlier
# question, so the previous one is searched with it; going further back finds nothing more
# and would carry old topics into every later query (docs/EVALUATION.md, "Follow-up
# questions in a conversation").
EARLIER_QUESTIONS = 1
# A pasted page as the earlier question must not drown the follow-up's own words.
EARLIER_CHARS = 500
# When a question stands alone (below): more than this share of its search terms occur
# nowhere in the store, and it has more than SHORT_TERMS of them. An off-topic question
# ("What is the capital city of Australia?") is mostly words the documents never use, and
# the earlier question would lend it passages that pass the relevance bar. A follow-up is
# mostly words the documents do use ("파라미터는 몇 개였어?": 2 of its 3 terms unknown), or
# too short to tell ("What are its drawbacks?": 1 term), and keeps the earlier question.
# Chosen on tests/data/followups.jsonl (DECISIONS.md, "A follow-up is searched with the
# previous user question, unless it stands alone", has the grid).
UNKNOWN_SHARE = 2 / 3
SHORT_TERMS = 2


def retrieval_query(
    question: str, history: Sequence[ChatMessage], turns: int = EARLIER_QUESTIONS
) -> str:
    """The question with the user's last `turns` questions before it, one a line.

    Only the user's words: the model's earlier answers may be wrong, and they would pull
    retrieval towards what was already shown.
    """
    earlier = [m["content"].strip() for m in history if m["role"] == "user"]
    kept = [text[:EARLIER_CHARS] for text in earlier[-turns:] if text] if turns > 0 else []
    return "\n".join([*kept, question])


def stands_alone(unknown: int, total: int) -> bool:
    """Whether a question with `unknown` of its `total` search terms absent from the store
    is about something else than the conversation so far (see UNKNOWN_SHARE)."""
    return total > SHORT_TERMS and unknown > UNKNOWN_SHARE * total


def search_query(question: str, history: Sequence[ChatMessage], retriever: Retriever) -> str:
    """What /api/ask searches for: the question alone when the store's vocabulary says it
    stands alone, else with the previous user question before it."""
    if not history or stands_alone(*retriever.unknown_terms(question)):
        return question
    return retrieval_query(question, history)
