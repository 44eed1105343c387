"""The parts a running service holds, and how they are built from the settings (once,
at start-up; the CLI builds the same parts for its commands)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.config import Settings
from app.generators.base import Generator
from app.generators.echo import EchoGenerator
from app.rag.observer import NullObserver, RagObserver
from app.rag.service import RagService
from app.rag.translation import GeneratorTranslator
from ingest.pipeline import Pipeline
from vectorstore import DocumentStore, Embedder, Retriever, Store

if TYPE_CHECKING:
    from vectorstore import MilvusStore


@dataclass
class Services:
    settings: Settings
    store: DocumentStore
    embedder: Embedder
    generator: Generator
    rag: RagService
    pipeline: Pipeline
    ready: threading.Event = field(default_factory=threading.Event)


def open_store(settings: Settings, model: str, dimension: int | None = None) -> DocumentStore:
    """The configured store; refuses one built with another embedding model."""
    if settings.store_backend == "milvus":
        return open_milvus(settings, model, dimension)
    return Store(settings.store, model, dimension, settings.index_kind)


def open_milvus(settings: Settings, model: str | None, dimension: int | None = None) -> MilvusStore:
    """The store in Milvus the settings name; `model` None: the one it records."""
    from vectorstore import MilvusStore

    return MilvusStore(
        model,
        dimension,
        settings.milvus_uri,
        settings.milvus_token.get_secret_value(),
        settings.milvus_collection,
        settings.store,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder, constructed but not loaded."""
    from vectorstore import make_embedder

    return make_embedder(
        settings.embedding_model,
        settings.embedding_backend,
        device=settings.device,
        batch_size=settings.embedding_batch_size,
        cache_dir=settings.cache_dir,
        base_url=settings.embedding_base_url,
        api_key=settings.embedding_api_key.get_secret_value(),
        max_tokens=settings.embedding_max_tokens,
        wait_s=settings.openai_wait_seconds,
    )


def _one_search_thread() -> None:
    """One OpenMP thread per FAISS search in the service: requests already run in
    parallel, and two threads per query on a busy 2-core machine wait on each other
    (docs/BENCHMARKS.md). Applied in each request thread as it first searches (OpenMP's
    setting is per thread)."""
    from vectorstore import use_search_threads

    use_search_threads(1)


def build_services(
    settings: Settings,
    store: DocumentStore | None = None,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    observer: RagObserver | None = None,
) -> Services:
    """Build whatever was not passed in, loading the models (slow: call off the event loop)."""
    if embedder is None:
        embedder = build_embedder(settings)
        embedder.dimension  # noqa: B018 - loads the model now, not on the first query
        embedder.embed_query("warm-up")  # and the query path (the ONNX embedder's own)
        embedder.embed(["warm-up"])  # and every model a joined embedder holds
    if store is None:
        store = open_store(settings, embedder.model_name, embedder.dimension)
    if generator is None:
        from app.generators.factory import build_generator

        generator = build_generator(
            settings.generator_model,
            settings.generator_backend,
            settings.device,
            settings.context_window,
            settings.repetition_penalty,
            gguf_precision=settings.gguf_precision,
            cache_dir=settings.cache_dir,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            wait_s=settings.openai_wait_seconds,
        )
    generator.load()
    store.dense_index()  # rebuild a missing or stale dense index now, not on the first query
    store.warm_keywords()
    _one_search_thread()
    reranker = None
    if settings.reranker:
        from vectorstore import CrossEncoderReranker

        reranker = CrossEncoderReranker(
            settings.reranker, device=settings.device, batch_size=settings.embedding_batch_size
        )
        reranker.load()
    lock = threading.Lock()
    translator = None
    if settings.translate_questions == "auto" and not isinstance(generator, EchoGenerator):
        translator = GeneratorTranslator(generator, lock)
    rag = RagService(
        Retriever(store, embedder, reranker, settings.rerank_depth),
        generator,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        min_relevance=settings.min_relevance,
        context_window=settings.context_window,
        source_tokens=settings.source_tokens,
        observer=observer or NullObserver(),
        search_slots=settings.search_concurrency,
        answer_mode=settings.answer_mode,
        answer_check=settings.answer_check,
        translator=translator,
        generation_lock=lock,
    )
    return Services(
        settings, store, embedder, generator, rag, build_pipeline(settings, store, embedder)
    )


def build_pipeline(settings: Settings, store: DocumentStore, embedder: Embedder) -> Pipeline:
    return Pipeline(
        store,
        embedder,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        batch_chunks=settings.embedding_batch_size * 8,
    )
