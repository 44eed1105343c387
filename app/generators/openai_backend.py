"""OpenAIGenerator: any OpenAI-compatible chat server (vLLM, TGI, llama.cpp, Ollama)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.generators.base import ChatMessage
from vectorstore import RemoteServerError, openai_server

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger("ragqa")

# Used when neither RAGQA_CONTEXT_WINDOW nor the server says: the smallest default among
# common servers (llama-cpp-python's and older Ollama's n_ctx), so an unknown one is never
# overflowed. vLLM, llama-server and TGI report theirs and need no setting.
DEFAULT_CONTEXT_WINDOW = 2048
# Chat-template tokens around each message (ChatML and Llama 3 use 4-5) and a preamble some
# templates add (a default system prompt, Llama 3.1's date lines): usage figures for
# servers whose stream reports no usage err high, as the rest of the budgeting does.
PER_MESSAGE_TOKENS = 8
TEMPLATE_TOKENS = 32


@dataclass(frozen=True)
class _Usage:
    messages: list[ChatMessage]
    text: str
    prompt_tokens: int
    completion_tokens: int


class OpenAIGenerator:
    """A model served over the chat completions API; `model` is the server's model name."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str = "",
        context_window: int | None = None,
        timeout: float = 120.0,
        wait_s: float = 300.0,
    ) -> None:
        self._model = model
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._requested_context = context_window
        self._timeout = timeout
        self._wait_s = wait_s
        self._load_lock = threading.Lock()
        self._client: OpenAI | None = None
        self._window = context_window or DEFAULT_CONTEXT_WINDOW
        self._count: openai_server.CountText | None = None
        self.counter = "not loaded"  # where token counts come from, for logs and tests
        self._usage: _Usage | None = None

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def context_window(self) -> int:
        self.load()
        return self._window

    def load(self) -> None:
        """Wait for the server and check it serves the model; learn its window and tokenizer."""
        with self._load_lock:
            if self._client is not None:
                return
            client = openai_server.make_client(self._base_url, self._api_key, self._timeout)
            entry = openai_server.wait_for_model(
                client, self._base_url, self._model, wait_s=self._wait_s, what="generator"
            )
            if self._requested_context is None:
                self._window = openai_server.server_limit(client, self._base_url, entry) or (
                    DEFAULT_CONTEXT_WINDOW
                )
            self._count, self.counter = openai_server.token_counter(
                client, self._base_url, self._model
            )
            log.info(
                "generator %s at %s: context %d, token counts from %s",
                self._model,
                self._base_url,
                self._window,
                self.counter,
            )
            self._client = client

    def _ready(self) -> tuple[OpenAI, openai_server.CountText]:
        if self._client is None or self._count is None:
            self.load()
        assert self._client is not None and self._count is not None
        return self._client, self._count

    def count_tokens(self, text: str) -> int:
        usage = self._usage
        if usage is not None and text == usage.text and usage.completion_tokens > 0:
            return usage.completion_tokens  # the server's own count for the answer it sent
        return self._ready()[1](text)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        usage = self._usage
        if usage is not None and usage.prompt_tokens > 0 and usage.messages == list(messages):
            return usage.prompt_tokens
        count = self._ready()[1]
        return TEMPLATE_TOKENS + sum(count(m["content"]) + PER_MESSAGE_TOKENS for m in messages)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        # The server's own sampling defaults (and its repetition penalty, which the OpenAI
        # API has no field for) apply; only the length and temperature are ours to set.
        client, _ = self._ready()
        if cancel is not None and cancel.is_set():
            return
        # Our roles are plain strings; the client's types want one TypedDict per role.
        payload: Any = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            chunks: Any = client.chat.completions.create(
                model=self._model,
                messages=payload,
                max_tokens=max_new_tokens,
                temperature=temperature,
                stream=True,
                # Servers that support it send the real token counts in a last chunk.
                stream_options={"include_usage": True},
            )
        except Exception as exc:
            raise RemoteServerError(
                openai_server.describe(exc, self._base_url, "generator")
            ) from exc
        pieces: list[str] = []
        usage: Any = None
        finished = cancelled = False
        try:
            for chunk in chunks:
                usage = getattr(chunk, "usage", None) or usage
                if chunk.choices:
                    choice = chunk.choices[0]
                    finished = finished or bool(choice.finish_reason)
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                        yield choice.delta.content
                # Checked after the yield; breaking closes the HTTP stream (below), which
                # vLLM, llama.cpp and TGI take as the signal to stop decoding.
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
        except Exception as exc:  # a cut connection or a read timeout mid-answer
            raise RemoteServerError(
                f"{openai_server.describe(exc, self._base_url, 'generator')} (mid-answer)"
            ) from exc
        finally:
            chunks.close()
        if not finished and not cancelled:
            # Every answer ends with a finish_reason. llama-cpp-python, for one, ends the
            # stream silently when the prompt is longer than its context window.
            raise RemoteServerError(
                f"the generator server at {self._base_url} ended the answer without finishing "
                "it; its log says why (a prompt longer than its context window? then set "
                "RAGQA_CONTEXT_WINDOW to the server's)"
            )
        if usage is not None:
            self._usage = _Usage(
                list(messages),
                "".join(pieces),
                int(usage.prompt_tokens or 0),
                int(usage.completion_tokens or 0),
            )
