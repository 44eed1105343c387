"""The Generation section of the bench report: streamed answers beside the raw engine."""

from __future__ import annotations

from collections.abc import Callable

from app.tooling.bench.generation import BackendResult, GenerationResult, Summary
from app.tooling.bench.stats import percentile, rate

TTFT_TARGET_MS = 300.0  # the target: first token this soon after retrieval
SPEED_TARGET = 0.9  # and the service's decode speed at least this share of the engine's
HEADER = (
    "backend",
    "",
    "prompt tokens",
    "answer tokens",
    "TTFT p50 ms",
    "TTFT max ms",
    "decode tokens/s",
    "tokens/s incl. prompt",
)


def render(result: GenerationResult) -> list[str]:
    """The section's Markdown lines."""
    # Imported here: report.py imports this module for its BenchReport field.
    from app.tooling.bench.tables import fmt, table

    def row(backend: str, label: str, s: Summary) -> list[str]:
        figures = (s.prompt_tokens, s.answer_tokens, s.ttft_p50_ms, s.ttft_max_ms)
        return [backend, label, *map(fmt, figures), fmt(s.decode_tps), fmt(s.overall_tps)]

    rows: list[list[str]] = []
    for b in result.backends:
        rows += [row(b.backend, "`/api/ask` streamed", b.service), row(b.backend, "raw", b.raw)]
        extra = f"{b.service.ttft_p50_ms - b.raw.ttft_p50_ms:+.0f} ms"
        ratios = [f"{b.decode_ratio:.2f}", f"{b.overall_ratio:.2f}"]
        rows.append([b.backend, "service / raw", "", "", extra, "", *ratios])
    servers = [
        [b.backend, f"{fmt(b.startup_s)} s", _mib(b.peak_rss_mib, fmt)] for b in result.backends
    ]
    runs = result.backends[0].service.runs if result.backends else 0
    return [
        "## Generation",
        "",
        *table(HEADER, rows),
        "",
        f"{runs} corpus question(s) per backend after one warm-up question, model "
        f"{result.model}, greedy, at most {result.max_new_tokens} new tokens, repetition "
        f"penalty {result.repetition_penalty}. The raw engine gets the prompt the service "
        "builds (the same retrieved sources through `build_prompt`, the same chat template): "
        "llama-cpp-python's `create_completion(stream=True)`, or transformers' `generate()` "
        "with a `TextIteratorStreamer`; same context size, threads and sampling, in the "
        "bench's own process, taking turns with the server question by question.",
        "",
        "- TTFT: from the `sources` event (sent once retrieval and the prompt are done) to the "
        "first `token` event, as the client receives them; raw: from the call with the "
        "messages (chat template and tokenizing included) to its first piece.",
        "- Decode tokens/s: answer tokens after the first over the time from the first piece "
        "to the last. Tokens/s incl. prompt: all answer tokens over the time from `sources` "
        "(raw: the call) to the last piece, prompt processing included. Tokens are counted by "
        "the model's tokenizer on the streamed text, the same way on both sides.",
        *[_notes(b, fmt) for b in result.backends],
        "",
        *table(["backend", "launch to `GET /readyz` 200", "server peak RSS"], servers),
        "",
        "The server with the generator, peak RSS (VmHWM) read after it answered: "
        + "; ".join(f"`{b.command}`" for b in result.backends),
        "",
    ]


def _notes(b: BackendResult, fmt: Callable[[float], str]) -> str:
    runs = b.service_runs
    ready = percentile([r.ready_s * 1000 for r in runs], 50)
    first = percentile([r.first_s * 1000 for r in runs], 50)
    whole = rate(sum(r.tokens for r in runs), sum(r.last_s for r in runs))
    server = [r.server_first_ms for r in runs if r.server_first_ms is not None]
    retrieve = [r.server_retrieve_ms for r in runs if r.server_retrieve_ms is not None]
    first_met = "met" if b.service.ttft_p50_ms <= TTFT_TARGET_MS else "not met"
    speed_met = "met" if b.decode_ratio >= SPEED_TARGET else "not met"
    return "".join(
        [
            f"- {b.backend}: request to `sources` p50 {fmt(ready)} ms",
            f" (the server's retrieve_ms p50 {fmt(percentile(retrieve, 50))} ms)"
            if retrieve
            else "",
            f", request to first token p50 {fmt(first)} ms",
            f" (the server's own first_token_ms p50 {fmt(percentile(server, 50))} ms)"
            if server
            else "",
            f", {fmt(whole)} tokens/s from request to last token. Same prompt as the raw "
            f"engine for {b.same_prompts} of {len(runs)} question(s), same answer text for "
            f"{b.same_answers}. Targets: TTFT p50 <= {TTFT_TARGET_MS:.0f} ms {first_met}, "
            f"decode >= {SPEED_TARGET}x raw {speed_met}.",
        ]
    )


def _mib(value: float | None, fmt: Callable[[float], str]) -> str:
    return f"{fmt(value)} MiB" if value is not None else "n/a (no /proc)"
