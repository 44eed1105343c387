"""LlamaCppGenerator: a .gguf model run on the CPU by llama-cpp-python."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app.generators.base import MAX_CONTEXT_WINDOW, ChatMessage
from app.generators.gguf_precision import GgufPrecision, gguf_for
from app.generators.gguf_probe import probe
from app.generators.llama_open import (
    EXTRA_BUFFERS,
    chat_formatter,
    decode_threads,
    open_llama,
)

log = logging.getLogger("ragqa")


class LlamaCppGenerator:
    """A GGUF chat model; the chat template comes from the file's own metadata."""

    def __init__(
        self,
        model_path: str,
        *,
        context_window: int | None = None,
        threads: int | None = None,
        threads_batch: int | None = None,
        name: str | None = None,
        repetition_penalty: float = 1.0,
        precision: GgufPrecision = "original",
        cache_dir: Path | None = None,
        extra_buffers: bool = EXTRA_BUFFERS,
        probe_first: bool = True,
    ) -> None:
        self._repetition_penalty = repetition_penalty
        self._path = model_path
        self._precision: GgufPrecision = precision
        self._cache_dir = cache_dir or Path("~/.cache/ragqa").expanduser()
        self._requested_context = context_window
        self._threads = threads or decode_threads()
        self._threads_batch = threads_batch or os.cpu_count() or 1
        self._extra_buffers = extra_buffers
        self._probe_first = probe_first
        self._name = name or Path(model_path).stem
        self._llm: Any = None
        self._formatter: Any = None
        self._load_lock = threading.Lock()
        # One llama.cpp context holds one KV cache: concurrent generations would corrupt it.
        self._generate_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return int(self._model().n_ctx())

    def load(self) -> None:
        with self._load_lock:
            if self._llm is not None:
                return
            try:
                from llama_cpp import llama_model_n_ctx_train
                from llama_cpp.llama_chat_format import chat_formatter_to_chat_completion_handler
            except ImportError as exc:
                raise RuntimeError(
                    "the llama_cpp generator backend needs the `llama-cpp-python` package; "
                    "run `make install` (or `pip install llama-cpp-python`)"
                ) from exc
            self._path = gguf_for(self._path, self._precision, self._cache_dir)
            if self._probe_first:
                self._extra_buffers = self._survivable_setting()
            n_ctx = self._requested_context or MAX_CONTEXT_WINDOW
            llm = self._open(n_ctx)
            trained = int(llama_model_n_ctx_train(llm.model))
            if self._requested_context is None and 0 < trained < n_ctx:
                # Past its trained length a model degrades. The trained length is only known
                # once the file is open; reopening is cheap as the weights are memory-mapped.
                llm.close()
                llm = self._open(trained)
            self._formatter = chat_formatter(llm)
            # Generation and prompt_tokens() then share one formatter, so counts are exact.
            llm.chat_handler = chat_formatter_to_chat_completion_handler(self._formatter)
            self._llm = llm

    def _survivable_setting(self) -> bool:
        """The extra-buffers setting a child process survived the file with: the one asked
        for, else plain buffers; a RuntimeError if llama.cpp crashes on the file either way."""
        tried: list[str] = []
        for extra in dict.fromkeys((self._extra_buffers, False)):
            result = probe(
                self._path, extra_buffers=extra, threads=self._threads, cache_dir=self._cache_dir
            )
            if result.ok:
                if tried:
                    log.warning(
                        "llama.cpp crashed on %s with repacked weights (%s); running it with "
                        "plain CPU buffers",
                        self._path,
                        tried[-1],
                    )
                return extra
            if not result.crashed:
                raise RuntimeError(f"llama.cpp cannot run {self._path}: {result.detail}")
            tried.append(result.detail)
        raise RuntimeError(
            f"llama.cpp crashes on {self._path} on this CPU ({'; '.join(tried)}), so it is not "
            "loaded into the server. Choose another model (RAGQA_GENERATOR_MODEL), or run a "
            "bf16 copy of this one (RAGQA_GGUF_PRECISION=bf16)"
        )

    def _open(self, n_ctx: int) -> Any:
        return open_llama(
            self._path,
            n_ctx=n_ctx,
            threads=self._threads,
            threads_batch=self._threads_batch,
            extra_buffers=self._extra_buffers,
        )

    def _model(self) -> Any:
        if self._llm is None:
            self.load()
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        llm = self._model()
        # The same steps as llama_cpp's chat_formatter_to_chat_completion_handler.
        result = self._formatter(messages=list(messages))
        ids = llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return len(ids)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        llm = self._model()
        with self._generate_lock:
            if cancel is not None and cancel.is_set():  # perhaps while waiting for the lock
                return
            chunks = llm.create_chat_completion(
                messages=list(messages),
                stream=True,
                max_tokens=max_new_tokens,
                temperature=temperature,  # 0 selects llama.cpp's greedy sampler
                repeat_penalty=self._repetition_penalty,
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
                    # Checked after the yield: the next step would compute one more token.
                    if cancel is not None and cancel.is_set():
                        break
            finally:
                chunks.close()
