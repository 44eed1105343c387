"""The raw engines the service is measured against: llama-cpp-python and transformers
`generate()` called directly, with the service's model, chat template and sampling."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from app.generators.base import ChatMessage
from app.generators.gguf_precision import GgufPrecision, gguf_for
from vectorstore import resolve_model


class RawEngine(Protocol):
    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The messages through the model's chat template, tokenized as the engine needs."""
        ...

    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        """Greedy answer pieces, as the engine's own streaming hands them out."""
        ...


class LlamaCppEngine:
    """`Llama.create_completion(stream=True)` on the chat-templated prompt: the call that
    llama-cpp-python's chat handler makes, without the service around it."""

    def __init__(self, path: str, context_window: int, repetition_penalty: float) -> None:
        # The template the service renders, and the generator's own threads, context,
        # attention and buffer types; llama.cpp's defaults for the rest.
        from app.generators.llama_open import (
            EXTRA_BUFFERS,
            chat_formatter,
            decode_threads,
            open_llama,
        )

        self._llm: Any = open_llama(
            path,
            n_ctx=context_window,
            threads=decode_threads(),
            threads_batch=os.cpu_count() or 1,
            extra_buffers=EXTRA_BUFFERS,
        )
        self._formatter = chat_formatter(self._llm)
        self._penalty = repetition_penalty
        self._stop: Any = None
        self._criteria: Any = None

    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        result = self._formatter(messages=list(messages))
        self._stop, self._criteria = result.stop, result.stopping_criteria
        ids = self._llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return list(ids)

    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        chunks = self._llm.create_completion(
            prompt_ids,
            max_tokens=max_new_tokens,
            temperature=0.0,  # llama.cpp's greedy sampler, as the service's temperature 0
            repeat_penalty=self._penalty,
            stop=self._stop or [],
            stopping_criteria=self._criteria,
            stream=True,
        )
        for chunk in chunks:
            if text := chunk["choices"][0]["text"]:
                yield text


class TransformersEngine:
    """`model.generate()` with a TextIteratorStreamer, as transformers' docs stream."""

    def __init__(self, model: str, device: str, repetition_penalty: float) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # The service's device and dtype choice, so both run the same arithmetic.
        from app.generators.transformers_backend import placement

        path = resolve_model(model)
        source, extra = path, {}
        if path.lower().endswith(".gguf"):  # as the generator factory opens a .gguf
            source, extra = str(Path(path).parent), {"gguf_file": Path(path).name}
        where, dtype = placement(torch, device)
        self._tokenizer: Any = AutoTokenizer.from_pretrained(source, **extra)
        self._model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype, device_map=where, **extra
        ).eval()
        self._penalty = repetition_penalty

    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        encoded = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        tokenizer = self._tokenizer
        input_ids = torch.tensor([prompt_ids], device=self._model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        options: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "streamer": streamer,
            "pad_token_id": tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        }
        if self._penalty != 1.0:
            options["repetition_penalty"] = self._penalty
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                self._model.generate(**options)
            except BaseException as exc:  # re-raised below, in the caller's thread
                failure.append(exc)
                streamer.end()  # else the loop below waits for ever

        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        try:
            yield from (piece for piece in streamer if piece)
        finally:
            thread.join()
        if failure:
            raise failure[0]


def open_engine(
    backend: str,
    model: str,
    device: str,
    context_window: int,
    repetition_penalty: float,
    *,
    gguf_precision: GgufPrecision = "original",
    cache_dir: Path | None = None,
) -> RawEngine:
    """The raw engine of `backend` on `model` (a setting, `bundled:` names included), on
    the very file the service's generator opens under the same `gguf_precision`."""
    if backend == "llama_cpp":
        cache = cache_dir or Path("~/.cache/ragqa").expanduser()
        path = gguf_for(resolve_model(model), gguf_precision, cache)
        return LlamaCppEngine(path, context_window, repetition_penalty)
    if backend == "transformers":
        return TransformersEngine(model, device, repetition_penalty)
    raise ValueError(f"no raw engine for the {backend!r} backend")
