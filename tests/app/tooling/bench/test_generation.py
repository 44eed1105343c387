"""The generation bench section: SSE timing, rates and ratios, rendering, and the prompts
and raw engines it compares the service with."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli.main import main
from app.generators.base import ChatMessage
from app.generators.echo import EchoGenerator
from app.generators.factory import build_generator
from app.rag.service import RagService
from app.tooling.bench.engines import open_engine
from app.tooling.bench.generation import (
    BackendResult,
    GenerationResult,
    Run,
    service_run,
    summarize_runs,
    time_raw,
)
from app.tooling.bench.generation_report import render
from app.tooling.bench.prompt_probe import grounded_prompts
from app.tooling.bench.report import BenchReport
from app.tooling.bench.report import render as render_report
from app.tooling.bench.sse import TimedEvent, parse_sse, stream_ask
from ingest.pipeline import Pipeline
from ingest.runner import run_ingest
from vectorstore.bundled import BUNDLED_GENERATOR
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.search.retriever import Retriever
from vectorstore.store.store import Store

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def test_parse_sse_splits_events_and_skips_pings() -> None:
    lines = [
        ": ping - 2024-01-01",
        "",
        "event: sources",
        'data: {"sources": []}',
        "",
        "event: token",
        "data:two",
        "data: lines",
        "id: 3",
        "",
        "data: unnamed",
    ]
    assert list(parse_sse(lines)) == [
        ("sources", '{"sources": []}'),
        ("token", "two\nlines"),
        ("message", "unnamed"),
    ]


def _done(tokens: int = 3, grounded: bool = True) -> dict[str, Any]:
    return {
        "grounded": grounded,
        "usage": {"prompt_tokens": 900, "completion_tokens": tokens},
        "timings": {"retrieve_ms": 40.0, "generate_ms": 500.0, "first_token_ms": 180.0},
    }


def _stream(done: dict[str, Any]) -> list[TimedEvent]:
    sources = {"sources": [{"chunk_id": "a#0"}, {"chunk_id": "b#2"}]}
    return [
        TimedEvent(0.050, "sources", sources),
        TimedEvent(0.250, "token", {"text": "The"}),
        TimedEvent(0.300, "token", {"text": " answer"}),
        TimedEvent(0.350, "token", {"text": " [1]."}),
        TimedEvent(0.360, "done", done),
    ]


def test_service_run_times_tokens_from_the_sources_event() -> None:
    run = service_run(_stream(_done()))
    assert (run.ready_s, run.first_s, run.last_s) == (0.050, 0.250, 0.350)
    assert run.ttft_ms == pytest.approx(200.0)
    assert run.decode_s == pytest.approx(0.100)
    assert (run.tokens, run.prompt_tokens) == (3, 900)
    assert run.text == "The answer [1]."
    assert run.source_ids == ("a#0", "b#2")
    assert (run.server_first_ms, run.server_retrieve_ms) == (180.0, 40.0)


def test_service_run_rejects_incomplete_or_ungrounded_streams() -> None:
    with pytest.raises(ValueError, match="sources"):
        service_run(_stream(_done())[1:])
    with pytest.raises(ValueError, match="done"):
        service_run(_stream(_done())[:-1])
    with pytest.raises(ValueError, match="did not call the model"):
        service_run(_stream(_done(grounded=False)))


class FakeEngine:
    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        return list(range(sum(len(m["content"].split()) for m in messages)))

    def stream(self, prompt_ids: list[int], max_new_tokens: int) -> Iterator[str]:
        yield from ["one", " two", " three", " four"][:max_new_tokens]


def test_time_raw_times_from_the_call_and_counts_with_the_tokenizer() -> None:
    ticks = iter([10.0, 10.4, 10.5, 10.6, 10.7])
    messages: list[ChatMessage] = [{"role": "user", "content": "a b c"}]
    run = time_raw(
        FakeEngine(), messages, 4, lambda t: len(t.split()), ("x#1",), lambda: next(ticks)
    )
    assert (run.ready_s, run.first_s, run.last_s) == (0.0, pytest.approx(0.4), pytest.approx(0.7))
    assert (run.tokens, run.prompt_tokens, run.text) == (4, 3, "one two three four")
    assert run.source_ids == ("x#1",)


def _run(ready: float, first: float, last: float, tokens: int, text: str = "t") -> Run:
    return Run(ready, first, last, tokens, 1000, text, ("a#0",))


def test_summaries_pool_tokens_over_time_and_ratios_divide_service_by_raw() -> None:
    service = [_run(0.1, 0.3, 1.3, 11), _run(0.1, 0.5, 2.5, 21)]
    raw = [_run(0.0, 0.1, 1.1, 11, "t"), _run(0.0, 0.2, 1.2, 21, "other")]
    s = summarize_runs(service)
    assert s.ttft_p50_ms == pytest.approx(300.0) and s.ttft_max_ms == pytest.approx(400.0)
    assert s.decode_tps == pytest.approx(30 / 3.0)  # tokens after the first / decode time
    assert s.overall_tps == pytest.approx(32 / 3.6)  # all tokens / time from ready
    assert s.prompt_tokens == 1000 and s.answer_tokens == 16
    result = BackendResult("llama_cpp", service, raw, 6.0, 900.0, "python -m app")
    assert result.raw.decode_tps == pytest.approx(30 / 2.0)
    assert result.decode_ratio == pytest.approx(10 / 15)
    assert result.overall_ratio == pytest.approx((32 / 3.6) / (32 / 2.3))
    assert (result.same_prompts, result.same_answers) == (2, 1)
    with pytest.raises(ValueError):
        summarize_runs([])


def _result(service_ttft: float, peak: float | None) -> GenerationResult:
    service = [_run(0.1, 0.1 + service_ttft, 1.1 + service_ttft, 47)]
    raw = [_run(0.0, 0.1, 1.1, 47)]
    backend = BackendResult("llama_cpp", service, raw, 6.2, peak, "RAGQA_X=1 python -m app")
    return GenerationResult("bundled:SmolLM2-135M-Instruct", 64, 1.1, [backend])


def test_render_shows_both_sides_the_ratios_and_the_server() -> None:
    text = "\n".join(render(_result(0.2, 912.4)))
    assert text.startswith("## Generation\n")
    assert "| llama_cpp | `/api/ask` streamed | 1,000 | 47.0 | 200 | 200 | 46.0 | 39.2 |" in text
    assert "| llama_cpp | raw | 1,000 | 47.0 | 100 | 100 | 46.0 | 42.7 |" in text
    assert "| llama_cpp | service / raw |  |  | +100 ms |  | 1.00 | 0.92 |" in text
    assert "36.2 tokens/s from request to last token" in text
    assert "at most 64 new tokens" in text and "1 corpus question(s)" in text
    assert "Targets: TTFT p50 <= 300 ms met, decode >= 0.9x raw met." in text
    assert "| llama_cpp | 6.20 s | 912 MiB |" in text
    assert "`RAGQA_X=1 python -m app`" in text
    slow = "\n".join(render(_result(0.5, None)))
    assert "TTFT p50 <= 300 ms not met, decode >= 0.9x raw met" in slow
    assert "n/a (no /proc)" in slow


def test_the_bench_report_includes_the_section() -> None:
    report = BenchReport("ragqa bench", "now", "a machine", "setup", generation=_result(0.2, 1.0))
    assert "## Generation" in render_report(report)
    assert "## Generation" not in render_report(BenchReport("ragqa bench", "now", "m", "s"))


@pytest.fixture
def rag(tmp_path: Path) -> Iterator[RagService]:
    emb = HashEmbedder(max_tokens=64)
    store = Store(tmp_path / "store", emb.model_name, emb.dimension)
    run_ingest(Pipeline(store, emb, chunk_tokens=64, chunk_overlap=8), [str(FIXTURES)])
    # A small window, so the prompt budget drops sources: both sides must drop the same.
    yield RagService(Retriever(store, emb), EchoGenerator(context_window=200), max_new_tokens=32)
    store.close()


def test_grounded_prompts_are_the_prompts_the_service_builds(rag: RagService) -> None:
    queries = ["zzqx blorf vlim", "How often do I feed a sourdough starter?", "lighthouse keeper"]
    asked = list(grounded_prompts(rag, queries, 5))
    assert [a.question for a in asked] == queries[1:]  # nothing relevant for the first
    for a in asked:
        events = dict(rag.events(a.question, 5))
        ids = [s["chunk_id"] for s in events["sources"]["sources"]]
        assert ids == list(a.source_ids)
        assert 0 < len(ids) < 5
        usage = events["done"]["usage"]
        assert usage["prompt_tokens"] == rag.generator.prompt_tokens(a.messages)
    assert len(list(grounded_prompts(rag, queries, 1))) == 1


@pytest.mark.server
def test_stream_ask_times_the_real_endpoint(live_server: str) -> None:
    with httpx.Client(timeout=60) as client:
        events = stream_ask(client, live_server, "How does ragqa cite passages?", 3, "hybrid")
    assert [e.name for e in events][0] == "sources" and events[-1].name == "done"
    assert [e.seconds for e in events] == sorted(e.seconds for e in events)
    run = service_run(events)
    assert 0 < run.ready_s <= run.first_s <= run.last_s
    assert run.tokens == len(run.text.split()) and run.prompt_tokens > 0


@pytest.mark.models
@pytest.mark.parametrize("backend", ["llama_cpp", "transformers"])
def test_raw_engines_run_the_service_prompt_to_the_same_answer(backend: str) -> None:
    generator = build_generator(BUNDLED_GENERATOR, backend, "cpu", None, 1.1)
    generator.load()
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    engine = open_engine(backend, BUNDLED_GENERATOR, "cpu", generator.context_window, 1.1)
    run = time_raw(engine, messages, 12, generator.count_tokens)
    assert run.prompt_tokens == generator.prompt_tokens(messages)
    assert run.text == "".join(generator.stream(messages, max_new_tokens=12))
    assert 0 < run.first_s <= run.last_s and 0 < run.tokens <= 13


def test_bad_generation_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "BENCH.md"
    assert main(["bench", "--gen-backends", "llama_cpp,echo", "--out", str(out)]) == 2
    assert "--gen-backends takes llama_cpp,transformers" in capsys.readouterr().err
    assert main(["bench", "--gen-tokens", "0", "--out", str(out)]) == 2
    assert "--gen-tokens must be at least 1" in capsys.readouterr().err
    assert not out.exists()
