"""Opening a GGUF with llama-cpp-python as ragqa runs it: threads, attention, buffer
types, and the chat template it renders. Shared by the generator, its crash probe and
the generation benchmark."""

from __future__ import annotations

import os
import threading
from typing import Any

from app.generators.base import ChatMessage
from app.generators.plain_prompt import PLAIN_STOP, plain_chat_prompt

# Flash attention reads a long prompt faster and decodes as fast (docs/BENCHMARKS.md,
# "Generation"); llama.cpp turns it off itself where a model cannot use it.
FLASH_ATTENTION = True
# llama.cpp's "extra buffer types" repack quantised weights at load for its own matrix
# kernels. Off: on CPUs with AMX, llama.cpp built natively puts Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/
# Q6_K/IQ4_XS weights in its AMX buffer, whose matrix product can segfault on the first
# prompt (ragqa issue 16, llama.cpp issue 20824); elsewhere the repacking buys nothing
# (docs/BENCHMARKS.md, "GGUF on this CPU"). The probe (gguf_probe.py) guards the rest.
EXTRA_BUFFERS = False
# Decoding runs one small step per token, each a few dozen matrix-vector products whose
# threads meet at a spin barrier: when another process takes one of the cores, the threads
# wait for each other every step, and decoding collapses; reading the prompt, with large
# products between barriers, keeps all cores (docs/BENCHMARKS.md, "GGUF on this CPU").
DECODE_SPARE_CORES = 1
# Serialises the swap of llama_model_default_params in open_llama.
_PARAMS_LOCK = threading.Lock()


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


def chat_formatter(llm: Any) -> Any:
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
