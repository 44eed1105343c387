"""Korean <-> English question translation by the service's own generator: the second
search when a question's first one finds nothing to quote (docs/retrieval.md, "Questions
in the other language")."""

from __future__ import annotations

import threading
from typing import Protocol

from app.generators.base import ChatMessage, Generator, complete
from app.rag.language import is_korean

PROMPT = "Translate the user's message into {language}. Reply with the translation only."
# A question's translation is about as long as the question; more is the model answering.
MAX_NEW_TOKENS = 64
REMEMBERED = 1024


_ASKING = ("?", "？")


def asks(question: str, translation: str) -> bool:
    """Whether `translation` still asks what `question` asks rather than answering it: a
    small model sometimes replies "The exit code is 1." That reply finds the right
    passages (it names what they name), but quotes picked by it would answer for the
    model."""
    return not question.rstrip().endswith(_ASKING) or translation.rstrip().endswith(_ASKING)


class Translator(Protocol):
    def translate(self, text: str, cancel: threading.Event | None = None) -> str:
        """`text` in the other language (Korean <-> English), or "" when there is none."""
        ...


class GeneratorTranslator:
    """Asks the generator, one call at a time under `lock` (the service's generation lock),
    and remembers the answer: the same question asked again costs nothing."""

    def __init__(self, generator: Generator, lock: threading.Lock) -> None:
        self._generator = generator
        self._lock = lock
        self._known: dict[str, str] = {}

    def translate(self, text: str, cancel: threading.Event | None = None) -> str:
        key = text.strip()
        if key in self._known:
            return self._known[key]
        out = self._ask(key, cancel)
        if cancel is None or not cancel.is_set():  # a cut-off reply is not remembered
            if len(self._known) >= REMEMBERED:
                self._known.clear()
            self._known[key] = out
        return out

    def _ask(self, text: str, cancel: threading.Event | None) -> str:
        korean = is_korean(text)
        language = "English" if korean else "Korean"
        messages: list[ChatMessage] = [
            {"role": "system", "content": PROMPT.format(language=language)},
            {"role": "user", "content": text},
        ]
        with self._lock:
            reply = complete(
                self._generator, messages, max_new_tokens=MAX_NEW_TOKENS, cancel=cancel
            )
        # As many lines as were asked (a follow-up is searched with the question before
        # it, a line each); what comes after them is the model going on.
        wanted = sum(1 for line in text.splitlines() if line.strip())
        lines = [line.strip() for line in reply.splitlines() if line.strip()][:wanted]
        out = "\n".join(lines)
        # A reply still in the question's language is no translation (small models
        # sometimes answer or repeat instead).
        return "" if not out or is_korean(out) == korean else out
