"""OpenAI chat messages in, ragqa answers out: completions, chunks and the sources footer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, Literal

from fastapi import HTTPException

from app.generators.base import ChatMessage
from app.openai_api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatMessageIn,
    Choice,
    CompletionUsage,
)
from app.schemas import Answer

# The cap /api/ask puts on a history turn (schemas.Message.content).
HISTORY_CHARS = 20_000
Finish = Literal["stop", "length"]


def _text(message: ChatMessageIn) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise HTTPException(400, f"only text content is supported, not {part.type!r}")
        texts.append(part.text)
    return "\n".join(texts)


def split_conversation(messages: Sequence[ChatMessageIn]) -> tuple[str, list[ChatMessage]]:
    """The question (the last message, a user's) and the turns before it.

    System (and developer) messages are dropped: ragqa's own instruction, to answer from
    the numbered sources and cite them, must not be overridden by a client's persona.
    """
    turns = [m for m in messages if m.role not in ("system", "developer")]
    if any(m.role in ("tool", "function") for m in turns):
        raise HTTPException(400, "tool messages are not supported")
    if not any(m.role == "user" for m in turns):
        raise HTTPException(400, "messages hold no user message: the last one is the question")
    if turns[-1].role != "user":
        raise HTTPException(400, f"the last message must be the user's, not {turns[-1].role!r}")
    history: list[ChatMessage] = []
    for m in turns[:-1]:
        text = _text(m)
        if len(text) > HISTORY_CHARS:
            raise HTTPException(400, f"a history message is over {HISTORY_CHARS} characters")
        history.append({"role": m.role, "content": text})
    return _text(turns[-1]), history


def _short(document_id: str) -> str:
    # A file's id is its path as given to ingest, often absolute: the file name reads
    # better in a chat, and the full id is in `sources`.
    return PurePosixPath(document_id).name or document_id


def footer(answer: Answer) -> str:
    """`Sources: [1] a.md, [3] b.md` for the sources the answer cites; none when ungrounded."""
    by_n = {s.n: s for s in answer.sources}
    cited = [by_n[n] for n in sorted(set(answer.citations)) if n in by_n]
    if not answer.grounded or not cited:
        return ""
    names = [
        f"[{s.n}] {_short(s.document_id)}" + (f" p. {s.page}" if s.page else "") for s in cited
    ]
    return "\n\nSources: " + ", ".join(names)


def streamed_tail(answer: str, streamed: str) -> str:
    """What to send after the streamed tokens so the stream ends as the final answer does.

    The final text is the streamed text cleaned (stripped, out-of-range markers dropped, a
    loop cut, markers added to an answer that cited nothing). A stream cannot take back
    what it sent, so only an addition at the end is sent; other edits stay unstreamed.
    """
    sent = streamed.strip()
    return answer[len(sent) :] if answer.startswith(sent) else ""


def usage(answer: Answer) -> CompletionUsage:
    u = answer.usage
    return CompletionUsage(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens,
    )


def finish_reason(answer: Answer, limit: int) -> Finish:
    # The generator does not say why it stopped; reaching the limit is the best sign of a cut.
    return "length" if answer.grounded and answer.usage.completion_tokens >= limit else "stop"


def completion(answer: Answer, completion_id: str, created: int, limit: int) -> ChatCompletion:
    message = AssistantMessage(content=answer.answer + footer(answer))
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=answer.model,
        choices=[Choice(message=message, finish_reason=finish_reason(answer, limit))],
        usage=usage(answer),
        sources=answer.sources,
        citations=answer.citations,
        grounded=answer.grounded,
        answer_mode=answer.answer_mode,
        support=answer.support,
    )


class ChunkWriter:
    """Turns ragqa's stream events (sources, token..., done | error) into OpenAI SSE data."""

    def __init__(
        self, completion_id: str, created: int, model: str, limit: int, include_usage: bool
    ) -> None:
        self.meta: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self.limit = limit
        self.include_usage = include_usage
        self.streamed: list[str] = []

    def _chunk(
        self, delta: dict[str, str], finish: Finish | None = None, **extra: Any
    ) -> dict[str, str]:
        # Built by hand, not dumped from a model: `exclude_none` would also strip the
        # sources' `title: null`, and OpenAI sends finish_reason null until the last chunk.
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {**self.meta, "choices": [choice], **extra}
        return {"data": json.dumps(data, ensure_ascii=False)}

    def convert(self, name: str, payload: dict[str, Any]) -> list[dict[str, str]]:
        if name == "sources":
            return [self._chunk({"role": "assistant", "content": ""}, sources=payload["sources"])]
        if name == "token":
            self.streamed.append(payload["text"])
            return [self._chunk({"content": payload["text"]})]
        if name == "done":
            return self._done(Answer.model_validate(payload))
        if name in ("quotes", "support"):
            return []  # the final chunk carries the support; quotes are /api/ask's
        # An error mid-stream: the openai client raises APIError on a chunk with `error`.
        message = str(payload.get("detail", "generation failed"))
        error = {"message": message, "type": "api_error", "param": None, "code": None}
        return [{"data": json.dumps({"error": error}, ensure_ascii=False)}]

    def _done(self, answer: Answer) -> list[dict[str, str]]:
        out = []
        tail = streamed_tail(answer.answer, "".join(self.streamed)) + footer(answer)
        if tail:
            out.append(self._chunk({"content": tail}))
        out.append(
            self._chunk(
                {},
                finish_reason(answer, self.limit),
                citations=answer.citations,
                grounded=answer.grounded,
                answer_mode=answer.answer_mode,
                support=None if answer.support is None else answer.support.model_dump(),
            )
        )
        if self.include_usage:  # OpenAI's usage chunk has no choices
            last = {**self.meta, "choices": [], "usage": usage(answer).model_dump()}
            out.append({"data": json.dumps(last)})
        out.append({"data": "[DONE]"})
        return out
