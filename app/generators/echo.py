"""EchoGenerator: no model; quotes the first numbered source, for fast tests and demos."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from app.generators.base import ChatMessage

# app.rag.prompts fences each source: `[1] from "where":` then the text between """ lines.
_FENCED = re.compile(r'^\[(\d+)\][^\n]*\n"""\n(.*?)(?:"""|\Z)', re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"^\[(\d+)\][ \t]*(\S[^\n]*)$", re.MULTILINE)
_SENTENCE = re.compile(r"^(.+?[.!?。])(?=\s|$)")


class EchoGenerator:
    """Deterministic and instant: answers `<first sentence of source [n]> [n]`.

    Without a numbered source it echoes the last user message. Tokens are words.
    """

    def __init__(self, *, context_window: int = 4096, name: str = "echo") -> None:
        self._context_window = context_window
        self._name = name

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return self._context_window

    def load(self) -> None:
        return None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        # Four per message stand in for a chat template's role markers.
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def answer(self, messages: Sequence[ChatMessage]) -> str:
        """The whole answer `stream` yields, before any max_new_tokens cut."""
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        match = _FENCED.search(question) or _INLINE.search(question)
        if match is None:
            return " ".join(question.split())
        text = " ".join(match.group(2).split())
        sentence = _SENTENCE.match(text)
        return f"{sentence.group(1) if sentence else text} [{match.group(1)}]"

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        words = self.answer(messages).split()[:max_new_tokens]
        for i, word in enumerate(words):
            if cancel is not None and cancel.is_set():
                return
            yield word if i == 0 else f" {word}"
