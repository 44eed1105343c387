"""Answer a question from the documents, with citations; optionally streamed."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from app.generators.base import ChatMessage
from app.http.deps import ServicesDep
from app.http.streaming import sse_events
from app.schemas import Answer, AskRequest, error_responses

router = APIRouter(prefix="/api", tags=["ask"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An `Answer`, or with `stream: true` a `text/event-stream` of "
        "`sources`, `quotes`, `token`..., `support` and `done` events (`error` if "
        "generation fails).",
        "content": {"text/event-stream": {}},
    }
}


@router.post(
    "/ask", response_model=Answer, responses={**STREAM_DOC, **error_responses(400, 413, 503)}
)
async def ask(body: AskRequest, services: ServicesDep) -> Any:
    """Retrieve sources, generate an answer that cites them as [n], say so when not found.

    `grounded` is false when nothing relevant enough was retrieved, or no sentence of the
    sources answers; the answer then says plainly that the documents do not contain it.
    `quotes` are the sources' sentences that answer (sent as the `quotes` event right after
    `sources`, before the model writes). Each sentence the model writes is checked against
    the sources (`support`): by default one they do not support is left out, and an
    answer with nothing supported is replaced by the quotes (`answer_mode: extracted`).
    """
    limit = services.settings.max_question_chars
    if len(body.question) > limit:
        raise HTTPException(413, f"question is {len(body.question)} characters; limit {limit}")
    if not body.question.strip():
        raise HTTPException(422, "question is empty")
    history: list[ChatMessage] = [{"role": m.role, "content": m.content} for m in body.history]
    rag = services.rag
    if not body.stream:
        return await run_in_threadpool(
            partial(rag.answer, answer_mode=body.answer_mode),
            body.question,
            body.top_k,
            history,
            body.mode,
        )

    def events(cancel: threading.Event) -> Any:
        return rag.events(
            body.question, body.top_k, history, body.mode, cancel, answer_mode=body.answer_mode
        )

    # On SIGTERM sse-starlette sets `shutdown` (it polls every 0.5 s) and by default cuts
    # the stream at once. Instead the answer may go on while uvicorn drains for
    # RAGQA_SHUTDOWN_SECONDS, and ends with an `error` event a second before that bound,
    # so a client never sees a stream cut without a `done` or an `error`.
    shutdown = anyio.Event()
    drain = services.settings.shutdown_seconds
    return EventSourceResponse(
        sse_events(events, shutdown, stop_after=max(0.0, drain - 1.0)),
        ping=15,
        shutdown_event=shutdown,
        shutdown_grace_period=drain,
    )
