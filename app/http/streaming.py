"""Bridge a blocking event iterator (the model runs in a thread) to Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio

_END = object()
_STOP = object()
SHUTTING_DOWN = "the server is shutting down; ask again in a moment"


async def sse_events(
    make_events: Callable[[threading.Event], Iterator[tuple[str, dict[str, Any]]]],
    shutdown: anyio.Event | None = None,
    stop_after: float = 0.0,
) -> AsyncIterator[dict[str, str]]:
    """Run `make_events` in a worker thread and relay its events as SSE dicts.

    If the client goes away, this generator is closed: the `cancel` event is set so the
    model stops decoding instead of burning CPU for nobody.

    Once `shutdown` is set (the server got SIGTERM), the answer may go on for
    `stop_after` seconds; past that, generation is cancelled and the stream ends with an
    `error` event, so the client learns why instead of seeing a cut connection.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancel = threading.Event()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server is gone, nobody will read
            cancel.set()

    def work() -> None:
        events: Iterator[tuple[str, dict[str, Any]]] | None = None
        try:
            events = make_events(cancel)
            for event in events:
                put(event)
                if cancel.is_set():
                    break
        except Exception as exc:  # reported to the client as an error event
            put(("error", {"detail": str(exc)}))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # releases the model now, not whenever the generator is collected
            put(_END)

    async def stop_on_shutdown(event: anyio.Event) -> None:
        await event.wait()
        await asyncio.sleep(stop_after)
        queue.put_nowait(_STOP)

    watcher = asyncio.create_task(stop_on_shutdown(shutdown)) if shutdown else None
    thread = threading.Thread(target=work, name="ragqa-generate", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _END:
            if item is _STOP:
                yield {"event": "error", "data": json.dumps({"detail": SHUTTING_DOWN})}
                return
            name, payload = item
            yield {"event": name, "data": json.dumps(payload, ensure_ascii=False)}
    finally:
        cancel.set()
        if watcher is not None:
            watcher.cancel()
