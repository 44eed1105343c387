"""Request and response models of the HTTP API; their examples become the OpenAPI docs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["hybrid", "dense", "lexical"]
AnswerMode = Literal["generate", "extract"]
MAX_TOP_K = 50


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain some text, not only whitespace")
    return value


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "What is RAG?", "top_k": 5}]}
    )
    query: str = Field(min_length=1, description="What to look for.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many chunks to return.")
    mode: Mode = Field("hybrid", description="hybrid (default), dense or lexical.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _not_blank(value)


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What does ragqa cite?", "stream": False}]},
    )
    question: str = Field(min_length=1, description="The question, in any language.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Sources to retrieve.")
    history: list[Message] = Field(
        default_factory=list, max_length=50, description="Earlier turns, oldest first."
    )
    stream: bool = Field(False, description="Stream Server-Sent Events instead of one JSON.")
    mode: Mode = Field("hybrid", description="Retrieval mode.")
    answer_mode: AnswerMode | None = Field(
        None,
        description="generate: the model writes the answer, checked against its sources. "
        "extract: the sources' own sentences that answer the question, no model call. "
        "Default: the server's RAGQA_ANSWER_MODE.",
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _not_blank(value)


class Source(BaseModel):
    n: int = Field(description="The number the answer cites as [n].")
    document_id: str
    source: str
    title: str | None
    chunk_id: str
    text: str
    score: float
    relevance: float = Field(description="How well the passage matches the question, 0..1.")
    context: str = Field("", description="Heading path of the passage.")
    page: int | None = Field(None, description="PDF page, when known.")


class SearchResponse(BaseModel):
    results: list[Source]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class Timings(BaseModel):
    retrieve_ms: float
    generate_ms: float
    first_token_ms: float | None = None
    extract_ms: float | None = Field(
        None, description="Choosing the quotes (the extractive answer), after retrieval."
    )
    translate_ms: float | None = Field(
        None,
        description="Translating the question for a second search, when its first found "
        "nothing to quote (RAGQA_TRANSLATE_QUESTIONS); null when it was not translated.",
    )


class Quote(BaseModel):
    """A sentence of a source that answers the question, quoted as it stands."""

    n: int = Field(description="The source it is from, as [n].")
    chunk_id: str
    text: str
    start: int = Field(description="Offset of the sentence in the source's `text`.")
    end: int


class SentenceSupport(BaseModel):
    """One sentence of a generated answer, checked against the sources."""

    text: str = Field(description="The sentence as the model wrote it.")
    start: int = Field(description="Offset in the generated text (before any was left out).")
    end: int
    claim: bool = Field(description="Whether it states anything to check ('Sure.' does not).")
    supported: bool
    shown: bool = Field(description="Whether the sentence is part of `answer`.")
    source: int | None = Field(None, description="The [n] of the source that supports it.")
    chunk_id: str | None = None
    source_start: int | None = Field(
        None, description="Offsets of the supporting sentence in that source's `text`."
    )
    source_end: int | None = None
    cited: list[int] = Field(description="The [n] the model wrote.")
    citations: list[int] = Field(description="The [n] it carries after the check.")
    reason: str | None = Field(
        None, description="Why it is not supported, or why its citation was changed."
    )


class Support(BaseModel):
    """How much of the generated answer its sources support, sentence by sentence."""

    checked: bool = Field(description="False when the check is off (RAGQA_ANSWER_CHECK=off).")
    policy: Literal["drop", "mark", "off"] = Field(
        description="drop: unsupported sentences are left out of `answer`; mark: kept, "
        "and marked here; off: not checked."
    )
    supported_share: float = Field(description="Supported claims over claims, 0..1.")
    left_out: int = Field(description="Sentences of the generated text not in `answer`.")
    sentences: list[SentenceSupport]


class Answer(BaseModel):
    answer: str
    sources: list[Source]
    citations: list[int]
    grounded: bool
    model: str
    usage: Usage
    timings: Timings
    answer_mode: Literal["generated", "extracted", "not_found"] = Field(
        "generated",
        description="How `answer` was made: written by the model (and checked), the "
        "sources' own sentences, or the plain 'not found' message.",
    )
    quotes: list[Quote] = Field(
        default_factory=list,
        description="The sources' sentences that answer the question (the extractive answer).",
    )
    support: Support | None = Field(
        None, description="The check of a generated answer against its sources."
    )


class DocumentStatus(BaseModel):
    id: str
    source: str
    status: Literal["added", "updated", "unchanged"]
    chunks: int


class UploadResponse(BaseModel):
    documents: list[DocumentStatus]


class DocumentSummary(BaseModel):
    id: str
    source: str
    title: str | None
    chunks: int
    ingested_at: str


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    total: int


class ChunkOut(BaseModel):
    chunk_id: str
    text: str
    context: str
    metadata: dict[str, Any]


class DocumentDetail(BaseModel):
    id: str
    source: str
    title: str | None
    metadata: dict[str, Any]
    chunks: list[ChunkOut]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    detail: Any


# Why each error status is answered, as the OpenAPI docs say it; routes pick theirs.
_ERROR_REASONS = {
    400: "The body is not parseable (not JSON, not UTF-8, a broken multipart form).",
    404: "No such document.",
    413: "Too large: the question, a file, or the whole request.",
    415: "A file no loader reads (an image, an archive, binary data).",
    422: "Invalid input: the fields' errors (a list), or why a file yielded no text.",
    503: "The service is still loading its models, or the store cannot be used.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route answers, each with its
    `{"detail": ...}` body: documented, clients (and schemathesis's status-code check) know
    them from surprises."""
    return {code: {"model": ErrorBody, "description": _ERROR_REASONS[code]} for code in codes}
