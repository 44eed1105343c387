"""OpenAI-compatible API: chat completions (RAG over the store), embeddings and models."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from functools import partial
from typing import Any

import anyio
import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sse_starlette.sse import EventSourceResponse

from app.http.deps import ServicesDep
from app.http.routes import paths  # noqa: F401 - registers the `anytext` convertor
from app.http.streaming import sse_events
from app.openai_api.chat import ChunkWriter, completion, split_conversation
from app.openai_api.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    ModelCard,
    ModelList,
    OpenAIErrorBody,
)
from vectorstore import Embedder, StoreError

_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 503: "service_unavailable"}
# `created` of the two models: they are loaded once per process.
_STARTED = int(time.time())


def error_response(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        },
        "detail": message,
    }
    return JSONResponse(body, status_code=status)


def validation_error(exc: RequestValidationError) -> JSONResponse:
    # OpenAI answers invalid bodies with 400 (the openai client's BadRequestError), not 422.
    reasons, params = [], []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        where = ".".join(loc)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":  # its loc is a character offset, not a field
            where, message = "", f"the body is not valid JSON: {error.get('ctx', {}).get('error')}"
        reasons.append(f"{where}: {message}" if where else message)
        params.append(where)
    return error_response(400, "; ".join(reasons), param=params[0] or None, code="invalid_value")


class OpenAIRoute(APIRoute):
    """A route whose errors come in OpenAI's shape, so the openai client raises an
    exception that carries the reason; the app's own handlers keep `/api` as it is."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return validation_error(exc)
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail))
            except StoreError as exc:
                return error_response(503, str(exc))

        return route


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OpenAIErrorBody, "description": "Invalid request; `error.message` says why."},
    503: {"model": OpenAIErrorBody, "description": "Models still loading, or the store failed."},
}
router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def chat_completions(body: ChatCompletionRequest, services: ServicesDep) -> Any:
    """Answer the last user message from the documents, as an OpenAI chat completion.

    Earlier user and assistant turns are history; system messages are ignored, since
    ragqa's own instruction (answer from the sources, cite them as [n]) governs. The
    content ends with a `Sources:` footer naming the cited documents, and the response
    carries the extra fields `sources`, `citations` and `grounded`. With `stream: true`,
    `chat.completion.chunk` events follow: the first holds the role and the `sources`,
    the last the finish_reason, `citations` and `grounded`; then `data: [DONE]`.
    `max_tokens` is capped at the server's RAGQA_MAX_NEW_TOKENS. Extra fields: `top_k`, `mode`,
    `answer_mode`; responses also carry `answer_mode` and `support` (as /api/ask).
    """
    question, history = split_conversation(body.messages)
    if not question.strip():
        raise HTTPException(400, "the question (the last user message) is empty")
    limit = services.settings.max_question_chars
    if len(question) > limit:
        raise HTTPException(400, f"the question is {len(question)} characters; limit {limit}")
    rag = services.rag
    requested = body.max_completion_tokens or body.max_tokens
    max_new = min(requested, rag.max_new_tokens) if requested else rag.max_new_tokens
    temperature = rag.temperature if body.temperature is None else body.temperature
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        answer = await run_in_threadpool(
            partial(
                rag.answer,
                max_new_tokens=max_new,
                temperature=temperature,
                answer_mode=body.answer_mode,
            ),
            question,
            body.top_k,
            history,
            body.mode,
        )
        return completion(answer, completion_id, created, max_new)

    def events(cancel: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
        return rag.events(
            question,
            body.top_k,
            history,
            body.mode,
            cancel,
            max_new_tokens=max_new,
            temperature=temperature,
            answer_mode=body.answer_mode,
        )

    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    writer = ChunkWriter(completion_id, created, rag.generator.model_name, max_new, include_usage)
    # As /api/ask: on SIGTERM the answer may go on while uvicorn drains, and ends with an
    # error a second before that bound rather than with a cut connection.
    shutdown = anyio.Event()
    drain = services.settings.shutdown_seconds
    return EventSourceResponse(
        _relay(writer, sse_events(events, shutdown, stop_after=max(0.0, drain - 1.0))),
        ping=15,
        shutdown_event=shutdown,
        shutdown_grace_period=drain,
    )


async def _relay(
    writer: ChunkWriter, events: AsyncIterator[dict[str, str]]
) -> AsyncIterator[dict[str, str]]:
    async for item in events:
        for data in writer.convert(item["event"], json.loads(item["data"])):
            yield data


def _encode(vector: np.ndarray[Any, Any], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what the openai client decodes with np.frombuffer(float32)
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector.tolist()]


def _embed(embedder: Embedder, texts: list[str], as_query: bool) -> np.ndarray[Any, Any]:
    if as_query:
        return np.stack([embedder.embed_query(t) for t in texts])
    return embedder.embed(texts)


@router.post("/embeddings", response_model=EmbeddingResponse, responses=ERRORS)
async def embeddings(body: EmbeddingRequest, services: ServicesDep) -> EmbeddingResponse:
    """Vectors from the store's own embedder, L2-normalised, so they compare with the
    stored chunks by inner product.

    Inputs are embedded as passages, the way ingestion embeds chunks; `input_type: "query"`
    embeds them the way searches do. An input longer than the embedder's limit is refused
    (400), not silently cut: ingestion never lets the model truncate either, it chunks.
    """
    embedder = services.embedder
    texts: list[str] = [body.input] if isinstance(body.input, str) else body.input
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise HTTPException(400, f"dimensions must be {embedder.dimension} for this embedder")
    counts = await run_in_threadpool(embedder.count_tokens, texts)
    for i, count in enumerate(counts):
        if count > embedder.max_tokens:
            where = "input" if isinstance(body.input, str) else f"input[{i}]"
            raise HTTPException(
                400,
                f"{where} is {count} tokens; {embedder.model_name} embeds at most "
                f"{embedder.max_tokens}: split longer text",
            )
    vectors = await run_in_threadpool(_embed, embedder, texts, body.input_type == "query")
    return EmbeddingResponse(
        data=[
            Embedding(index=i, embedding=_encode(v, body.encoding_format))
            for i, v in enumerate(vectors)
        ],
        model=embedder.model_name,
        usage=EmbeddingUsage(prompt_tokens=sum(counts), total_tokens=sum(counts)),
    )


def _cards(services: ServicesDep) -> list[ModelCard]:
    return [
        ModelCard(id=services.generator.model_name, created=_STARTED, owned_by="ragqa-chat"),
        ModelCard(id=services.embedder.model_name, created=_STARTED, owned_by="ragqa-embeddings"),
    ]


@router.get("/models", response_model=ModelList, responses=ERRORS)
async def models(services: ServicesDep) -> ModelList:
    """The generator (`owned_by: ragqa-chat`) and the embedder (`ragqa-embeddings`).

    Any model name is accepted in requests; these are what responses report."""
    return ModelList(data=_cards(services))


@router.get(
    "/models/{model_id:anytext}",
    response_model=ModelCard,
    responses={404: {"model": OpenAIErrorBody, "description": "No such model."}, **ERRORS},
)
async def model(model_id: str, services: ServicesDep) -> ModelCard:
    """One of the two models; ids may hold `/` (a Hugging Face id)."""
    for card in _cards(services):
        if card.id == model_id:
            return card
    raise HTTPException(404, f"no model {model_id!r}; see GET /v1/models")
