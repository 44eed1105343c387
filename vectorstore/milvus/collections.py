"""The store's three Milvus collections and how each is made.

`<name>_documents` holds a row per document whose `version` (its content hash) says which
chunks are current; `<name>_chunks` holds every chunk of every version written, with its
vector and its keyword terms, BM25-scored by Milvus; `<name>_meta` holds the embedding
model, the analyzer version and the time of the last write.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vectorstore.types import StoreError

MAX_TEXT = 65_535  # bytes: Milvus's longest VARCHAR
MAX_ID = 4_096
# Milvus wants a vector field in every collection; the documents and meta rows have none
# of their own.
_NO_VECTOR = [0.0, 0.0]
# Every read sees every write acknowledged before it, from any process: a replica finds a
# document the moment another has written it, and a write reads back its own commit.
# Milvus Lite starts one server per file per process, and two threads starting it at once
# race for the file's lock.
_OPENING = threading.Lock()


def open_client(uri: str, token: str = "") -> Any:
    """A MilvusClient, or a StoreError that says what to install or what failed."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "the milvus store backend needs pymilvus (and milvus-lite for a local file): "
            "pip install 'ragqa[milvus]'"
        ) from exc
    # A server that cannot hand out a timestamp (milvus-lite server) makes every query
    # iterator warn before it goes on with the client's clock, which serves as well.
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    try:
        with _OPENING:
            return MilvusClient(uri=uri, token=token)
    except Exception as exc:
        raise StoreError(
            f"cannot open Milvus at {uri}: {exc}. Milvus Lite serves one process at a time: "
            "for several, run `milvus-lite server` or a Milvus server and set "
            "RAGQA_MILVUS_URI=http://host:19530"
        ) from exc


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """At most `limit` bytes, what a VARCHAR field of that size holds (a longer text is cut;
    chunking keeps chunks far shorter)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")


def with_no_vector(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "no_vector": _NO_VECTOR}


def ensure(client: Any, name: str, dimension: int | None) -> bool:
    """Make the documents and meta collections, and the chunks collection once the
    dimension is known; True when the chunks collection exists."""
    from pymilvus import DataType

    if not client.has_collection(f"{name}_meta"):
        schema = client.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
        _create(client, f"{name}_meta", schema)
    if not client.has_collection(f"{name}_documents"):
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_ID)
        schema.add_field("title", DataType.VARCHAR, max_length=MAX_ID, nullable=True)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=128)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("chunk_count", DataType.INT64)
        schema.add_field("ingested_at", DataType.VARCHAR, max_length=64)
        _create(client, f"{name}_documents", schema)
    chunks = f"{name}_chunks"
    if client.has_collection(chunks):
        client.load_collection(chunks)
        return True
    if dimension is None:
        return False
    _create_chunks(client, chunks, dimension)
    return True


def _create(client: Any, name: str, schema: Any) -> None:
    from pymilvus import DataType

    schema.add_field("no_vector", DataType.FLOAT_VECTOR, dim=len(_NO_VECTOR))
    index = client.prepare_index_params()
    index.add_index("no_vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def _create_chunks(client: Any, name: str, dimension: int) -> None:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("document_id", DataType.VARCHAR, max_length=MAX_ID)
    schema.add_field("version", DataType.VARCHAR, max_length=128)
    schema.add_field("ord", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("context", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("coverage", DataType.FLOAT)  # -1: not worked out at ingest
    # When written (ns): a chunk no row names yet may be another writer's, not yet committed.
    schema.add_field("written", DataType.INT64)
    # The store's analyzer wrote these terms (English stems, Korean terms, loanwords); the
    # standard tokenizer only splits them again, so Milvus's BM25 counts the same terms.
    schema.add_field(
        "terms",
        DataType.VARCHAR,
        max_length=MAX_TEXT,
        enable_analyzer=True,
        enable_match=True,
        analyzer_params={"tokenizer": "standard"},
    )
    schema.add_field("keywords", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_function(
        Function(
            name="terms_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["terms"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    # FTS5's bm25() constants, so both backends score a term alike.
    index.add_index(
        "sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": 1.2, "bm25_b": 0.75},
    )
    # Milvus Lite searches FLAT whatever it is told; a server builds what fits its size.
    index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
