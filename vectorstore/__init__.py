"""The store's public API: what app and ingest import, and nothing deeper.

Layout (docs/architecture.md): `store/` the SQLite store (write path, reads, schema,
locking), `keyword/` keyword search (analyzer, FTS5 columns, BM25, term statistics),
`dense/` dense search (FAISS, Milvus), `embedders/` the embedders and their factory,
`search/` the retriever that fuses both, `maintenance/` check, repair, export, import.

Names load on first use (PEP 562), so importing one thing does not load the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vectorstore.bundled import (
        BUNDLED_EMBEDDER,
        BUNDLED_GENERATOR,
        JOINED,
        PACKAGED,
        ModelNotFoundError,
        ensure_joined,
        gpu_wanted,
        installed_pieces,
        is_verified,
        joined_file,
        resolve_model,
    )
    from vectorstore.cores import usable_cores
    from vectorstore.dense import index_kinds
    from vectorstore.dense.faiss_index import use_search_threads
    from vectorstore.embedders import openai_server
    from vectorstore.embedders.base import Embedder
    from vectorstore.embedders.dual import DualEmbedder, primary_name, split_name
    from vectorstore.embedders.factory import make_embedder
    from vectorstore.embedders.hashing import HashEmbedder
    from vectorstore.embedders.openai_server import RemoteServerError
    from vectorstore.embedders.sentence_transformers import SentenceTransformerEmbedder
    from vectorstore.embedders.vocabulary import passage_coverage
    from vectorstore.keyword import analyzer
    from vectorstore.maintenance.check import check_store, repair_store
    from vectorstore.maintenance.check_milvus import check_milvus, repair_milvus
    from vectorstore.maintenance.exporting import export_milvus, export_store, verify_export
    from vectorstore.maintenance.importing import import_store, needs_reembedding
    from vectorstore.milvus.store import MilvusStore
    from vectorstore.search.fusion import reciprocal_rank_fusion
    from vectorstore.search.rerank import CrossEncoderReranker, Reranker
    from vectorstore.search.retriever import Retriever
    from vectorstore.store.protocol import DocumentStore
    from vectorstore.store.readonly import recorded_model
    from vectorstore.store.rows import DocumentWrite
    from vectorstore.store.store import DB_FILE, Store
    from vectorstore.types import (
        DocumentInfo,
        Finding,
        NewChunk,
        SearchHit,
        SearchMode,
        StoredChunk,
        StoreError,
    )

_WHERE = {
    "vectorstore.bundled": (
        "BUNDLED_EMBEDDER BUNDLED_GENERATOR JOINED PACKAGED ModelNotFoundError ensure_joined "
        "gpu_wanted installed_pieces is_verified joined_file resolve_model"
    ),
    "vectorstore.cores": "usable_cores",
    "vectorstore.dense.faiss_index": "use_search_threads",
    "vectorstore.embedders.base": "Embedder",
    "vectorstore.embedders.dual": "DualEmbedder primary_name split_name",
    "vectorstore.embedders.factory": "make_embedder",
    "vectorstore.embedders.hashing": "HashEmbedder",
    "vectorstore.embedders.openai_server": "RemoteServerError",
    "vectorstore.embedders.sentence_transformers": "SentenceTransformerEmbedder",
    "vectorstore.embedders.vocabulary": "passage_coverage",
    "vectorstore.maintenance.check": "check_store repair_store",
    "vectorstore.maintenance.exporting": "export_milvus export_store verify_export",
    "vectorstore.maintenance.importing": "import_store needs_reembedding",
    "vectorstore.search.fusion": "reciprocal_rank_fusion",
    "vectorstore.search.rerank": "CrossEncoderReranker Reranker",
    "vectorstore.search.retriever": "Retriever",
    "vectorstore.store.readonly": "recorded_model",
    "vectorstore.store.rows": "DocumentWrite",
    "vectorstore.store.store": "DB_FILE Store",
    "vectorstore.store.protocol": "DocumentStore",
    "vectorstore.milvus.store": "MilvusStore",
    "vectorstore.maintenance.check_milvus": "check_milvus repair_milvus",
    "vectorstore.types": (
        "DocumentInfo Finding NewChunk SearchHit SearchMode StoredChunk StoreError"
    ),
}
# Modules that are themselves part of the API: the analyzer (the one tokenizer of keyword
# search, which answer checking shares), the dense index kinds, the OpenAI-compatible
# client helpers that the remote generator shares.
_MODULES = {
    "analyzer": "vectorstore.keyword.analyzer",
    "index_kinds": "vectorstore.dense.index_kinds",
    "openai_server": "vectorstore.embedders.openai_server",
}
_SOURCE = {name: module for module, names in _WHERE.items() for name in names.split()}

__all__ = [
    "BUNDLED_EMBEDDER",
    "BUNDLED_GENERATOR",
    "CrossEncoderReranker",
    "DB_FILE",
    "DocumentInfo",
    "DocumentWrite",
    "DualEmbedder",
    "Embedder",
    "Finding",
    "HashEmbedder",
    "JOINED",
    "ModelNotFoundError",
    "NewChunk",
    "PACKAGED",
    "RemoteServerError",
    "Reranker",
    "Retriever",
    "SearchHit",
    "SearchMode",
    "SentenceTransformerEmbedder",
    "Store",
    "DocumentStore",
    "MilvusStore",
    "StoreError",
    "StoredChunk",
    "analyzer",
    "check_store",
    "ensure_joined",
    "export_milvus",
    "export_store",
    "check_milvus",
    "repair_milvus",
    "gpu_wanted",
    "import_store",
    "index_kinds",
    "installed_pieces",
    "is_verified",
    "joined_file",
    "make_embedder",
    "needs_reembedding",
    "openai_server",
    "passage_coverage",
    "primary_name",
    "split_name",
    "reciprocal_rank_fusion",
    "recorded_model",
    "repair_store",
    "resolve_model",
    "usable_cores",
    "use_search_threads",
    "verify_export",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = import_module(_MODULES[name])
    elif name in _SOURCE:
        value = getattr(import_module(_SOURCE[name]), name)
    else:
        raise AttributeError(f"module 'vectorstore' has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value
