"""Bridge a blocking event iterator (the model runs in a thread) to Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

_END = object()


async def sse_events(
    make_events: Callable[[threading.Event], Iterator[tuple[str, dict[str, Any]]]],
) -> AsyncIterator[dict[str, str]]:
    """Run `make_events` in a worker thread and relay its events as SSE dicts.

    If the client goes away, this generator is closed: the `cancel` event is set so the
    model stops decoding instead of burning CPU for nobody.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancel = threading.Event()

    def work() -> None:
        try:
            for event in make_events(cancel):
                loop.call_soon_threadsafe(queue.put_nowait, event)
                if cancel.is_set():
                    break
        except Exception as exc:  # reported to the client as an error event
            loop.call_soon_threadsafe(queue.put_nowait, ("error", {"detail": str(exc)}))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    thread = threading.Thread(target=work, name="ragqa-generate", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _END:
            name, payload = item
            yield {"event": name, "data": json.dumps(payload, ensure_ascii=False)}
    finally:
        cancel.set()
