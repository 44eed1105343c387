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
from app.generators.plain_prompt import PLAIN_STOP, plain_chat_prompt

log = logging.getLogger("ragqa")

# Flash attention reads a long prompt faster: the bundled model's 1,150-token RAG prompt
# in 830 ms against 920 (bf16 copy, 2 cores), decoding at the same speed (110 against 106
# tokens/s at that length). llama.cpp turns it off itself where a model cannot use it.
FLASH_ATTENTION = True
# llama.cpp's "extra buffer types" repack quantised weights at load for its own matrix
# kernels. Off: on CPUs with AMX, llama.cpp built natively puts Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/
# Q6_K/IQ4_XS weights in its AMX buffer, whose matrix product was seen to segfault on the
# first prompt (ragqa issue 16, llama.cpp issue 20824); bf16 weights stay out of that
# buffer, which is why only the bf16 copy ran there.
# Elsewhere the repacking bought nothing here: Qwen2.5-Coder-0.5B Q4_K_M read a prompt in
# 2.14 CPU s without it against 2.42 with it, and decoded in 40 against 42 CPU ms a token
# (docs/BENCHMARKS.md, "GGUF on this CPU"). The probe (gguf_probe.py) guards the rest.
EXTRA_BUFFERS = False
# Decoding runs one small step per token, each a few dozen matrix-vector products whose
# threads meet at a spin barrier: when another process takes one of the cores, the threads
# wait for each other every step. On 2 cores with other work running, 2 decode threads
# made 2.3 tokens/s and 1 thread 29 (Qwen 0.5B); reading the prompt, with large products
# between barriers, keeps all cores (docs/BENCHMARKS.md, "GGUF on this CPU").
DECODE_SPARE_CORES = 1
# Serialises the swap of llama_model_default_params in open_llama.
_PARAMS_LOCK = threading.Lock()


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
            self._formatter = _chat_formatter(llm)
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


def decode_threads() -> int:
    """Threads for decoding: all cores but DECODE_SPARE_CORES, at least one."""
    return max(1, (os.cpu_count() or 1) - DECODE_SPARE_CORES)


def open_llama(
    path: str, *, n_ctx: int, threads: int, threads_batch: int, extra_buffers: bool
) -> Any:
    """`llama_cpp.Llama` on `path`, with llama.cpp's extra (repacking) buffer types on or off.

    Llama() takes no such argument: it fills its model parameters from
    llama_model_default_params(), which is swapped for the duration of the call.
    """
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    with _PARAMS_LOCK:
        defaults = lib.llama_model_default_params

        def params() -> Any:
            value = defaults()
            value.use_extra_bufts = extra_buffers
            return value

        lib.llama_model_default_params = params
        try:
            return llama_cpp.Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads_batch,
                flash_attn=FLASH_ATTENTION,
                verbose=False,
            )
        finally:
            lib.llama_model_default_params = defaults


def _chat_formatter(llm: Any) -> Any:
    """What Llama itself builds from `tokenizer.chat_template`, or the plain transcript."""
    from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:

        def plain(*, messages: list[ChatMessage], **_: Any) -> ChatFormatterResponse:
            return ChatFormatterResponse(prompt=plain_chat_prompt(messages), stop=[PLAIN_STOP])

        return plain
    eos, bos = llm.token_eos(), llm.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llm, eos),
        bos_token=_token_text(llm, bos),
        stop_token_ids=[eos],
    )


def _token_text(llm: Any, token: int) -> str:
    if token < 0:  # the model has no such token
        return ""
    return bytes(llm.detokenize([token], special=True)).decode("utf-8", errors="replace")
