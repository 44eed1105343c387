"""The `generation` section: streamed `/api/ask` against the raw engine on the same prompts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.generators.base import ChatMessage
from app.tooling.bench.engines import RawEngine
from app.tooling.bench.sse import TimedEvent
from app.tooling.bench.stats import percentile, rate


@dataclass(frozen=True)
class Run:
    """One answer, times in seconds from sending the request (service) or the call (raw)."""

    ready_s: float  # service: the `sources` event, sent once retrieval and the prompt are done
    first_s: float  # the first answer piece
    last_s: float  # the last answer piece
    tokens: int  # answer tokens: the model's tokenizer on the streamed text
    prompt_tokens: int  # after the chat template
    text: str  # the answer as streamed, before citations are cleaned
    source_ids: tuple[str, ...]  # the chunks in the prompt, in order
    server_first_ms: float | None = None  # the service's own timings.first_token_ms
    server_retrieve_ms: float | None = None

    @property
    def ttft_ms(self) -> float:
        return (self.first_s - self.ready_s) * 1000

    @property
    def decode_s(self) -> float:
        return self.last_s - self.first_s


def service_run(events: Sequence[TimedEvent]) -> Run:
    """A streamed answer's timings: `sources` marks retrieval done, `token`s the answer."""
    by_name = {e.name: e for e in reversed(events)}  # the first of each name
    if "sources" not in by_name or events[-1].name != "done":
        raise ValueError("a streamed answer must have a `sources` event and end with `done`")
    done = events[-1].data
    if not done["grounded"]:
        raise ValueError("the service did not call the model (nothing relevant retrieved)")
    tokens = [e for e in events if e.name == "token"]
    first, last = (tokens[0].seconds, tokens[-1].seconds) if tokens else (events[-1].seconds,) * 2
    return Run(
        ready_s=by_name["sources"].seconds,
        first_s=first,
        last_s=last,
        tokens=int(done["usage"]["completion_tokens"]),
        prompt_tokens=int(done["usage"]["prompt_tokens"]),
        text="".join(e.data["text"] for e in tokens),
        source_ids=tuple(s["chunk_id"] for s in by_name["sources"].data["sources"]),
        server_first_ms=done["timings"].get("first_token_ms"),
        server_retrieve_ms=done["timings"].get("retrieve_ms"),
    )


def time_raw(
    engine: RawEngine,
    messages: Sequence[ChatMessage],
    max_new_tokens: int,
    count_tokens: Callable[[str], int],
    source_ids: tuple[str, ...] = (),
    clock: Callable[[], float] = time.perf_counter,
) -> Run:
    """One raw answer, timed from the call with the messages (template and tokenizing
    included, as the service pays for them too) to each piece."""
    start = clock()
    ids = engine.prompt_ids(messages)
    times: list[float] = []
    text: list[str] = []
    for piece in engine.stream(ids, max_new_tokens):
        times.append(clock() - start)
        text.append(piece)
    if not times:
        times = [clock() - start]
    answer = "".join(text)
    return Run(
        0.0,
        times[0],
        times[-1],
        count_tokens(answer) if answer else 0,
        len(ids),
        answer,
        source_ids,
    )


@dataclass(frozen=True)
class Summary:
    """Runs of one side pooled: TTFT by percentile, speeds as total tokens over total time."""

    runs: int
    prompt_tokens: float  # mean
    answer_tokens: float  # mean
    ttft_p50_ms: float
    ttft_max_ms: float
    decode_tps: float  # tokens after the first / (last piece - first piece)
    overall_tps: float  # tokens / (last piece - ready): prompt processing included


def summarize_runs(runs: Sequence[Run]) -> Summary:
    if not runs:
        raise ValueError("no runs to summarize")
    ttft = [r.ttft_ms for r in runs]
    return Summary(
        runs=len(runs),
        prompt_tokens=sum(r.prompt_tokens for r in runs) / len(runs),
        answer_tokens=sum(r.tokens for r in runs) / len(runs),
        ttft_p50_ms=percentile(ttft, 50),
        ttft_max_ms=max(ttft),
        # The first token is the end of prefill, so only the ones after it time the decode.
        decode_tps=rate(sum(max(r.tokens - 1, 0) for r in runs), sum(r.decode_s for r in runs)),
        overall_tps=rate(sum(r.tokens for r in runs), sum(r.last_s - r.ready_s for r in runs)),
    )


@dataclass(frozen=True)
class BackendResult:
    backend: str
    service_runs: list[Run]
    raw_runs: list[Run]
    startup_s: float  # launch of `python -m app` with this generator to /readyz 200
    peak_rss_mib: float | None  # of that server, after answering
    command: str

    @property
    def service(self) -> Summary:
        return summarize_runs(self.service_runs)

    @property
    def raw(self) -> Summary:
        return summarize_runs(self.raw_runs)

    @property
    def decode_ratio(self) -> float:
        return rate(self.service.decode_tps, self.raw.decode_tps)

    @property
    def overall_ratio(self) -> float:
        return rate(self.service.overall_tps, self.raw.overall_tps)

    @property
    def same_prompts(self) -> int:
        """Questions whose service prompt had the raw one's sources and token count."""
        pairs = zip(self.service_runs, self.raw_runs, strict=True)
        return sum(
            s.source_ids == r.source_ids and s.prompt_tokens == r.prompt_tokens for s, r in pairs
        )

    @property
    def same_answers(self) -> int:
        pairs = zip(self.service_runs, self.raw_runs, strict=True)
        return sum(s.text.strip() == r.text.strip() for s, r in pairs)


@dataclass(frozen=True)
class GenerationResult:
    model: str
    max_new_tokens: int
    repetition_penalty: float
    backends: list[BackendResult]
