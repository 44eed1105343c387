"""Request and response models of the OpenAI-compatible API under /v1."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schemas import MAX_TOP_K, AnswerMode, Mode, Source, Support

# OpenAI's own cap on inputs in one embeddings request.
MAX_EMBEDDING_INPUTS = 2048


class ContentPart(BaseModel):
    """One part of a message's content; only `text` parts can be answered from documents."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, refusal...: not used
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request. Fields ragqa cannot honour are refused with a reason
    rather than ignored when ignoring them would hand the client something else than it
    asked for (several choices, tool calls, JSON output); the rest are accepted and unused.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "ragqa",
                    "messages": [{"role": "user", "content": "How does ragqa cite passages?"}],
                }
            ]
        },
    )
    model: str = Field("", description="Any value; responses name the generator's model.")
    messages: list[ChatMessageIn] = Field(
        min_length=1, description="The last user message is the question; earlier turns history."
    )
    stream: bool = Field(False, description="Stream `chat.completion.chunk` events.")
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, description="Capped at RAGQA_MAX_NEW_TOKENS.")
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Same as max_tokens (OpenAI's newer name); wins over it."
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    n: int | None = Field(None, description="Only 1 (or null).")
    tools: list[Any] | None = Field(None, description="Not supported.")
    functions: list[Any] | None = Field(None, description="Not supported.")
    response_format: dict[str, Any] | None = Field(None, description="Only `{'type': 'text'}`.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="ragqa: sources to retrieve.")
    mode: Mode = Field("hybrid", description="ragqa: retrieval mode.")
    answer_mode: AnswerMode | None = Field(
        None, description="ragqa: generate or extract (default: RAGQA_ANSWER_MODE)."
    )

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("n must be 1: ragqa returns one grounded answer per request")
        return value

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tool calling is not supported: ragqa answers from its documents")
        return value

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type", "text") != "text":
            raise ValueError("only the text response format is supported")
        return value


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    sources: list[Source] = Field(description="ragqa: the retrieved passages, cited as [n].")
    citations: list[int] = Field(description="ragqa: the [n] the answer cites.")
    grounded: bool = Field(description="ragqa: false when the documents hold no answer.")
    answer_mode: str = Field(
        "generated", description="ragqa: generated, extracted or not_found (see /api/ask)."
    )
    support: Support | None = Field(
        None, description="ragqa: the answer checked against its sources, per sentence."
    )


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "ragqa", "input": ["first text", "second"]}]},
    )
    input: str | list[Any] = Field(description="A string or a list of strings.")
    model: str = Field("", description="Any value; responses name the store's embedder.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 bytes, as OpenAI sends them."
    )
    dimensions: int | None = Field(None, ge=1, description="Only the embedder's own dimension.")
    input_type: Literal["document", "query"] = Field(
        "document", description="ragqa: embed as stored passages (default) or as a search query."
    )

    @field_validator("input")
    @classmethod
    def _texts(cls, value: str | list[Any]) -> str | list[Any]:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("input holds no text")
        if len(texts) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
        for text in texts:
            if isinstance(text, int | list):
                raise ValueError("token-id input is not supported: send text")
            if not isinstance(text, str):
                raise ValueError("each input must be a string")
            if not text.strip():
                raise ValueError("an input is empty")
        return value


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="ragqa-chat (the generator) or ragqa-embeddings.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape (the openai client reads `error.message`), plus `detail` with
    the same message, as every other ragqa error has."""

    error: ErrorInfo
    detail: str
