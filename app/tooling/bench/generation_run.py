"""Runs the generation section: per backend, the real server's streamed answers and the raw
engine's, in turns, on the very prompts the service builds for the same questions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import httpx

from app.config import Settings
from app.tooling.bench.engines import open_engine
from app.tooling.bench.generation import BackendResult, GenerationResult, Run, service_run, time_raw
from app.tooling.bench.prompt_probe import Asked, grounded_prompts
from app.tooling.bench.search import MODE, TOP_K
from app.tooling.bench.sse import stream_ask
from app.tooling.bench.startup import launched, peak_rss_mib

if TYPE_CHECKING:
    from app.generators.base import Generator


def measure(
    settings: Settings,
    queries: Sequence[str],
    backends: Sequence[str],
    questions: int,
    max_new_tokens: int,
    say: Callable[[str], None],
) -> GenerationResult:
    """`settings.store` holds the ingested corpus."""
    from app.services import build_services

    results = []
    for backend in backends:
        chosen = settings.model_copy(
            update={"generator_backend": backend, "max_new_tokens": max_new_tokens}
        )
        say(f"generation: loading {backend} here to build the service's prompts")
        # Everything built from the settings, as the server builds it: the bench's own
        # embedder may be another backend of the same model, and then retrieves otherwise.
        services = build_services(chosen)
        try:
            asked = list(grounded_prompts(services.rag, queries, questions + 1))
            if len(asked) < 2:
                raise RuntimeError(
                    f"generation: only {len(asked)} of the corpus' queries retrieve anything "
                    "relevant enough for the model to be called; at least 2 are needed"
                )
            results.append(_backend(chosen, services.generator, asked, say))
        finally:
            services.store.close()
    return GenerationResult(
        settings.generator_model, max_new_tokens, settings.repetition_penalty, results
    )


def _backend(
    settings: Settings, generator: Generator, asked: list[Asked], say: Callable[[str], None]
) -> BackendResult:
    backend, tokens = settings.generator_backend, settings.max_new_tokens
    say(f"generation: loading the raw {backend} engine")
    engine = open_engine(
        backend,
        settings.generator_model,
        settings.device,
        generator.context_window,
        settings.repetition_penalty,
        gguf_precision=settings.gguf_precision,
        cache_dir=settings.cache_dir,
    )
    # The check off: the service streams each token as the engine does, so the two compare
    # token for token (with it on, tokens come a checked sentence at a time).
    env = {
        "RAGQA_GENERATOR_BACKEND": backend,
        "RAGQA_MAX_NEW_TOKENS": str(tokens),
        "RAGQA_ANSWER_CHECK": "off",
    }
    say(f"generation: `python -m app` with {backend}, then {len(asked) - 1} answer(s) each side")
    with (
        launched(
            settings.store,
            settings.embedding_model,
            settings.device,
            settings.generator_model,
            extra_env=env,
        ) as app,
        httpx.Client(timeout=600) as client,
    ):

        def ask(a: Asked) -> Run:
            return service_run(stream_ask(client, app.url, a.question, TOP_K, MODE))

        def raw(a: Asked) -> Run:
            return time_raw(engine, a.messages, tokens, generator.count_tokens, a.source_ids)

        # Taken in turns, one side idle while the other runs, so a busy machine slows both
        # alike. The first question warms both up and is not reported. Both see the questions
        # in the same order: llama.cpp reuses the KV cache of the prompt prefix it shares
        # with the one before.
        pairs = [(ask(a), raw(a)) for a in asked]
        peak = peak_rss_mib(app.pid)
    service, raw_runs = [s for s, _ in pairs[1:]], [r for _, r in pairs[1:]]
    return BackendResult(backend, service, raw_runs, app.seconds, peak, app.command)
