"""Streaming `POST /api/ask` as a client sees it: each Server-Sent Event with its arrival time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class TimedEvent:
    seconds: float  # from sending the request to this event's last line arriving
    name: str  # "sources", "token", "done" or "error"
    data: dict[str, Any]


# Not httpx-sse: it parses only a live response, and the load test
# (app/tooling/reliability/clients.py) parses the lines of one it has read whole.
def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) per event: an event ends at a blank line; `:` lines (pings) and
    other fields are skipped, several `data:` lines join with newlines, as the spec says."""
    name = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a stream that ends without its final blank line
        yield name, "\n".join(data)


def stream_ask(
    client: httpx.Client, url: str, question: str, top_k: int, mode: str
) -> list[TimedEvent]:
    """The events of one streamed answer, timed from the request; an `error` event raises."""
    body = {"question": question, "top_k": top_k, "mode": mode, "stream": True}
    events: list[TimedEvent] = []
    start = time.perf_counter()
    with client.stream("POST", f"{url}/api/ask", json=body) as response:
        response.raise_for_status()
        for name, data in parse_sse(response.iter_lines()):
            # Timed as each event is parsed: httpx hands lines over as the bytes arrive.
            events.append(TimedEvent(time.perf_counter() - start, name, json.loads(data)))
            if name == "error":
                raise RuntimeError(f"/api/ask streamed an error: {events[-1].data}")
    return events
