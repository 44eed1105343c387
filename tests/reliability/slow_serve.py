"""A generator at a model's pace, and `ragqa serve` with it: what keeps a request in flight.

`python -m tests.reliability.slow_serve [serve options]` is `ragqa serve` in every part
(settings, store, embedder, uvicorn, signals, shutdown) except that the generator is
`SlowGenerator(SLOW_TOKENS, SLOW_DELAY)`: the echo generator is too fast to be caught
mid-answer, and a real model's pace depends on the machine.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator


class SlowGenerator(EchoGenerator):
    """`tokens` words, `delay` seconds apart; counts what it produced and honours cancel."""

    def __init__(self, tokens: int = 40, delay: float = 0.05) -> None:
        super().__init__(name="slow-echo")
        self.tokens = tokens
        self.delay = delay
        self.produced = 0
        self.cancelled = False
        self.finished = threading.Event()

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.finished.clear()
        try:
            for i in range(min(self.tokens, max_new_tokens)):
                if cancel is not None and cancel.is_set():
                    self.cancelled = True
                    return
                time.sleep(self.delay)
                self.produced += 1
                yield f"w{i}" if i == 0 else f" w{i}"
        finally:
            self.finished.set()


def main(argv: list[str]) -> int:
    import app.generators.factory as factory
    from app.cli.main import main as ragqa

    tokens = int(os.environ.get("SLOW_TOKENS", "40"))
    delay = float(os.environ.get("SLOW_DELAY", "0.05"))

    def build_generator(*_: Any, **__: Any) -> SlowGenerator:
        return SlowGenerator(tokens, delay)

    # build_services imports build_generator from the factory when it runs, so this is
    # the generator the real `ragqa serve` start-up loads.
    factory.build_generator = build_generator
    return ragqa(["serve", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
