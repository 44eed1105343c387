"""TransformersGenerator: any causal LM transformers can load: hub id, folder or .gguf file."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app.generators.base import MAX_CONTEXT_WINDOW, ChatMessage
from app.generators.plain_prompt import PLAIN_STOP, plain_chat_prompt

# For configs that state no trained length (rare): a size every causal LM handles.
_FALLBACK_CONTEXT = 2048


class TransformersGenerator:
    """AutoTokenizer + AutoModelForCausalLM, streamed from a generate() thread."""

    def __init__(
        self,
        model_id_or_path: str,
        *,
        device: str = "auto",
        gguf_file: str | None = None,
        context_window: int | None = None,
        name: str | None = None,
        repetition_penalty: float = 1.0,
    ) -> None:
        self._repetition_penalty = repetition_penalty
        self._source = model_id_or_path
        self._device = device
        self._gguf_file = gguf_file
        self._requested_context = context_window
        self._name = name or gguf_file or Path(model_id_or_path).name
        self._tokenizer: Any = None
        self._model: Any = None
        self._context = 0
        self._load_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        self.load()
        return self._context

    @property
    def device(self) -> str:
        """Where the weights live once loaded, e.g. `cpu` or `cuda:0`."""
        self.load()
        return str(self._model.device)

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise RuntimeError(
                    "the transformers generator backend needs the `torch` and `transformers` "
                    "packages (and `gguf` for .gguf files); run `make install`"
                ) from exc
            device, dtype = placement(torch, self._device)
            extra = {"gguf_file": self._gguf_file} if self._gguf_file else {}
            tokenizer = AutoTokenizer.from_pretrained(self._source, **extra)
            model = AutoModelForCausalLM.from_pretrained(
                self._source, dtype=dtype, device_map=device, **extra
            )
            model.eval()
            self._context = self._requested_context or _trained_context(model.config)
            self._tokenizer = tokenizer
            self._model = model

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt_ids(messages))

    def _prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        self.load()
        tokenizer = self._tokenizer
        if not tokenizer.chat_template:
            return list(tokenizer.encode(plain_chat_prompt(messages)))
        encoded = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        ids = self._prompt_ids(messages)
        if cancel is not None and cancel.is_set():
            return
        tokenizer, model = self._tokenizer, self._model
        input_ids = torch.tensor([ids], device=model.device)
        # `stop` ends generate() when the caller stops iterating, cancel or not.
        stop = threading.Event()
        events = [stop] if cancel is None else [stop, cancel]
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        options: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max_new_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_stop_when_set(events)]),
            "pad_token_id": tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature)
        else:
            options.update(do_sample=False)
        if self._repetition_penalty != 1.0:
            options.update(repetition_penalty=self._repetition_penalty)
        if not tokenizer.chat_template:
            options.update(stop_strings=[PLAIN_STOP], tokenizer=tokenizer)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                model.generate(**options)
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()  # else the caller waits forever for the end signal

        thread = threading.Thread(target=generate, name="transformers-generate", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
                if cancel is not None and cancel.is_set():
                    break
        finally:
            stop.set()
            thread.join()
        if failure:
            raise failure[0]


def placement(torch: Any, device: str) -> tuple[str, Any]:
    """Device and dtype: bfloat16 on CUDA where supported, float32 elsewhere."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if device == "cuda":
            device = f"cuda:{torch.cuda.current_device()}"  # device_map wants an index
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # float16 on a CPU is slow and loses accuracy; MPS gets float32 too, to be safe.
    return device, torch.float32


def _trained_context(config: Any) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    trained = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None)
    return min(int(trained), MAX_CONTEXT_WINDOW) if trained else _FALLBACK_CONTEXT


def _stop_when_set(events: Sequence[threading.Event]) -> Any:
    """A StoppingCriteria that ends generation once any of `events` is set."""
    import torch
    from transformers import StoppingCriteria

    class EventSet(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = any(event.is_set() for event in events)
            batch = input_ids.shape[0]
            return torch.full((batch,), done, dtype=torch.bool, device=input_ids.device)

    return EventSet()
