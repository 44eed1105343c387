"""MilvusStore: the Store's interface over three Milvus collections, nothing on local disk.

Milvus has no multi-row transaction, so a document is replaced in an order that a reader
can never catch half-way: the new version's chunks are written first (invisible: no
document row names their version yet), then the document row that names it (the commit
point), then the old version's chunks are deleted. Reads keep only the chunks whose
version their document row names. Chunk ids are a hash of (document, version, position),
so writing the same document twice, from one process or two at once, writes the same
rows again instead of new ones, and running an ingest again after a crash at any point
finishes what was cut short (ingest skips a document only when its row and all its
chunks are there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.keyword import columns
from vectorstore.milvus import collections, keywords, rows, upkeep
from vectorstore.milvus.tables import Tables
from vectorstore.milvus.term_counts import TermCounts
from vectorstore.store.rows import DocumentWrite
from vectorstore.types import DocumentInfo, EmbeddingMismatchError, StoredChunk, StoreError

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger("ragqa")

LITE_FILE = "milvus.db"
_SEARCH_MAX = 16_384  # Milvus refuses a larger limit
# Hits of an old or uncommitted version are dropped after the search: ask for a few more.
_OVERFETCH = 1.2


class MilvusStore:
    """Documents, chunks, vectors and BM25 keyword search in Milvus; any number of
    processes on any machines may read and write one store at once."""

    read_only = False

    def __init__(
        self,
        embedding_model: str | None,
        dimension: int | None = None,
        uri: str = "",
        token: str = "",
        name: str = "ragqa",
        folder: Path | None = None,
    ) -> None:
        """`uri` empty: Milvus Lite in `folder` (one process at a time). `embedding_model`
        None: the one the store records (to export or check it, whatever is configured)."""
        if not uri:
            if folder is None:
                raise StoreError("a Milvus store needs RAGQA_MILVUS_URI or a store folder")
            folder.mkdir(parents=True, exist_ok=True)
            uri = str(folder / LITE_FILE)
        self.uri, self.folder, self.name = uri, folder, name
        self.tables = Tables(collections.open_client(uri, token), name, "://" not in uri)
        self._term_counts = TermCounts(
            lambda: self.tables.count(self.tables.chunks),
            self.generation,
            self._current_terms,
            self._count_term,
        )
        collections.ensure(self.tables.client, name, None)
        for collection in (self.tables.documents, self.tables.meta):
            self.tables.client.load_collection(collection)
        recorded = self.tables.meta_value("embedding_model")
        self._recorded = recorded is not None
        self.embedding_model = embedding_model or recorded or "unrecorded"
        self.dimension = self._check_model(recorded, dimension)
        self._has_chunks = collections.ensure(self.tables.client, name, self.dimension)

    # -- identity ---------------------------------------------------------------------------

    def _check_model(self, stored: str | None, dimension: int | None) -> int | None:
        where = f"the Milvus store {self.name!r} at {self.uri}"
        if stored is not None and stored != self.embedding_model:
            raise EmbeddingMismatchError(
                f"{where} was built with embedding model {stored!r}, not "
                f"{self.embedding_model!r}. Set RAGQA_EMBEDDING_MODEL={stored} to use it, or "
                "re-embed it: `ragqa export store.jsonl`, then `ragqa import store.jsonl "
                f"--embedding-model {self.embedding_model}` into a new store "
                "(RAGQA_MILVUS_COLLECTION)."
            )
        stored_dim = self.tables.meta_value("embedding_dimension")
        if stored_dim is None:
            return dimension
        if dimension is not None and int(stored_dim) != dimension:
            raise EmbeddingMismatchError(
                f"{where} holds {stored_dim}-d vectors but the embedder makes {dimension}-d ones"
            )
        if not self.analyzer_current():
            # Not rebuilt here: every replica opening it would rebuild it at once.
            log.warning(
                "%s was indexed by another version of the keyword analyzer: run "
                "`ragqa check --repair` to index it again",
                where,
            )
        return int(stored_dim)

    def analyzer_current(self) -> bool:
        return self.tables.meta_value("analyzer_version") in (None, columns.VERSION)

    def generation(self) -> int:
        """When the store was last written (ns): caches keyed by it see every write."""
        return int(self.tables.meta_value("generation") or 0)

    def save_note(self, key: str, value: str) -> None:
        self.tables.set_meta({f"note:{key}": value})

    def note(self, key: str) -> str | None:
        return self.tables.meta_value(f"note:{key}")

    # -- writing ------------------------------------------------------------------------------

    def writer(self, on_wait: Callable[[], None] | None = None) -> AbstractContextManager[None]:
        """No lock: writes from many processes are safe by their order (module docstring)."""
        return nullcontext()

    def write_documents(self, docs: Sequence[DocumentWrite]) -> None:
        """Write the documents' chunks, then their rows (each row commits its document),
        then delete the versions they replace."""
        if not docs:
            return
        for dimension in {int(d.embeddings.shape[1]) for d in docs if len(d.embeddings)}:
            self._record_model(dimension)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        documents = {doc.id: rows.document_row(doc, now) for doc in docs}  # a repeat: the last
        chunk_rows = [row for doc in docs for row in rows.chunk_rows(doc)]
        if chunk_rows and not self._has_chunks:
            raise StoreError("no chunk collection: the store has no embedding dimension yet")
        self.tables.upsert_chunks(chunk_rows)
        self.tables.client.upsert(self.tables.documents, list(documents.values()))  # commit
        self._sweep(list(documents))
        self._touch()

    def _record_model(self, dimension: int) -> None:
        if self.dimension is not None and dimension != self.dimension:
            raise EmbeddingMismatchError(
                f"vectors of {dimension} dimensions in a {self.dimension}-d store"
            )
        self.dimension = dimension
        if not self._recorded:
            self._recorded = True
            self.tables.set_meta(
                {
                    "embedding_model": self.embedding_model,
                    "embedding_dimension": str(dimension),
                    "analyzer_version": columns.VERSION,
                }
            )
        if not self._has_chunks:
            self._has_chunks = collections.ensure(self.tables.client, self.name, dimension)

    def _sweep(self, doc_ids: list[str]) -> None:
        """Delete the chunks of these documents that their rows do not name (all of a
        document's when it has no row)."""
        if not self._has_chunks:
            return
        named = {i: info.content_hash for i, info in self.tables.infos(doc_ids).items()}
        listed = ", ".join(rows.literal(i) for i in doc_ids)
        found = self.tables.client.query(
            self.tables.chunks,
            filter=f"document_id in [{listed}]",
            output_fields=["id", "document_id", "version"],
        )
        stale = [int(r["id"]) for r in found if named.get(r["document_id"]) != r["version"]]
        self.tables.delete_chunks(stale)

    def _touch(self) -> None:
        self.tables.set_meta({"generation": str(time.time_ns())})
        self._term_counts.invalidate()

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document: its row first (its chunks vanish from every read at once),
        then its chunks. False when it is unknown."""
        if self.get_info(doc_id) is None:
            return False
        self.tables.client.delete(self.tables.documents, ids=[doc_id])
        self._sweep([doc_id])
        self._touch()
        return True

    def sweep_orphans(self, older_than_s: float = 0.0) -> int:
        """Delete the chunks no document row names (what a write or a delete cut short
        leaves) written more than `older_than_s` ago; how many were deleted."""
        if not self._has_chunks:
            return 0
        stray = upkeep.orphans(self.tables, older_than_s)
        self.tables.delete_chunks(stray)
        if stray:
            self._touch()
        return len(stray)

    def orphans(self) -> int:
        return len(upkeep.orphans(self.tables)) if self._has_chunks else 0

    def rebuild_indexes(self) -> None:
        """Delete chunks no document names, and write every chunk's keyword terms again
        with this version of the analyzer (`ragqa check --repair`)."""
        self.sweep_orphans()
        if self._has_chunks:
            upkeep.rewrite_terms(self.tables)
            self._touch()

    def flush(self) -> None:
        """Seal what was written, so a server need not replay it on restart."""
        for collection in (self.tables.documents, self.tables.chunks, self.tables.meta):
            with suppress(Exception):  # an optimisation only
                self.tables.client.flush(collection)

    def close(self) -> None:
        self.tables.client.close()

    def warm_keywords(self) -> None:
        """Nothing to read ahead: term counts are read on first use (term_counts.py)."""

    # -- reading ----------------------------------------------------------------------------

    def get_info(self, doc_id: str) -> DocumentInfo | None:
        return self.tables.infos([doc_id]).get(doc_id)

    def get_chunks(self, doc_id: str) -> list[StoredChunk]:
        info = self.get_info(doc_id)
        if info is None or not self._has_chunks:
            return []
        return [rows.chunk(r) for r in self.tables.version_rows(info, rows.CHUNK_FIELDS)]

    def document_rows(
        self, doc_id: str
    ) -> tuple[DocumentInfo, list[tuple[StoredChunk, NDArray[np.float32]]]] | None:
        """A document with its chunks and their vectors, as one version (export)."""
        if not self._has_chunks:
            info = self.get_info(doc_id)
            return None if info is None else (info, [])
        return upkeep.document_rows(self.tables, doc_id)

    def all_documents(self) -> dict[str, DocumentInfo]:
        found = self.tables.iterate(self.tables.documents, rows.DOC_FIELDS)
        return {str(r["id"]): rows.info(r) for r in found}

    def list_documents(self, offset: int = 0, limit: int = 100) -> tuple[list[DocumentInfo], int]:
        ids = sorted(str(r["id"]) for r in self.tables.iterate(self.tables.documents, ["id"]))
        page = ids[offset : offset + limit]
        infos = self.tables.infos(page)
        return [infos[i] for i in page if i in infos], len(ids)

    def incomplete(self) -> set[str]:
        """The documents whose current chunks are not all there (upkeep.py)."""
        return upkeep.incomplete(self.tables) if self._has_chunks else set()

    def complete(self, info: DocumentInfo) -> bool:
        """Whether every chunk of the document's current version is there (a write cut
        short between its chunks and its row, or by another writer, leaves some out)."""
        if not info.chunks:
            return True
        if not self._has_chunks:
            return False
        where = rows.of_version(info.id, info.content_hash)
        return self.tables.count(self.tables.chunks, where) == info.chunks

    def stats(self) -> dict[str, Any]:
        return {
            "documents": self.tables.count(self.tables.documents),
            "chunks": self.tables.count(self.tables.chunks) if self._has_chunks else 0,
            "embedding_model": self.embedding_model,
            "embedding_dimension": self.dimension,
            "store_path": f"{self.uri} ({self.name})",
            "store_bytes": None,
            "generation": self.generation(),
        }

    def fetch_chunks(self, row_ids: Sequence[int]) -> dict[int, tuple[StoredChunk, DocumentInfo]]:
        """The chunks of current versions among `row_ids`, with their documents."""
        if not row_ids or not self._has_chunks:
            return {}
        found = self.tables.chunk_rows(row_ids, rows.CHUNK_FIELDS)
        infos = self.tables.infos(sorted({str(r["document_id"]) for r in found}))
        out = {}
        for r in found:
            info = infos.get(str(r["document_id"]))
            if info is not None and info.content_hash == r["version"]:
                out[int(r["id"])] = (rows.chunk(r), info)
        return out

    def stored_coverage(self, row_ids: Sequence[int]) -> dict[int, float]:
        if not self._has_chunks:
            return {}
        found = self.tables.chunk_rows(row_ids, ["id", "coverage"])
        return {int(r["id"]): float(r["coverage"]) for r in found if r["coverage"] >= 0}

    def embeddings(self, row_ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        if not self._has_chunks:
            return {}
        found = self.tables.chunk_rows(row_ids, ["id", "vector"])
        return {int(r["id"]): np.asarray(r["vector"], np.float32) for r in found}

    def sample_embeddings(self, size: int, seed: int = 0) -> NDArray[np.float32]:
        if not self._has_chunks:
            return np.zeros((0, 0), np.float32)
        found = self.tables.iterate(self.tables.chunks, ["id"])
        ids = np.array([int(r["id"]) for r in found], np.int64)
        if len(ids) > size:
            ids = np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
        vectors = self.embeddings(ids.tolist())
        if not vectors:
            return np.zeros((0, 0), np.float32)
        return np.stack([vectors[int(i)] for i in ids if int(i) in vectors])

    # -- searching ----------------------------------------------------------------------------

    def _search(self, data: Any, field: str, limit: int, metric: str) -> list[tuple[int, float]]:
        """(row id, score) of current versions, best first."""
        if limit <= 0 or not self._has_chunks:
            return []
        result = self.tables.client.search(
            self.tables.chunks,
            data=[data],
            anns_field=field,
            limit=min(int(limit * _OVERFETCH) + 5, _SEARCH_MAX),
            output_fields=["document_id", "version"],
            search_params={"metric_type": metric},
        )
        hits = result[0]
        infos = self.tables.infos(sorted({str(h["entity"]["document_id"]) for h in hits}))
        out = []
        for hit in hits:
            entity = hit["entity"]
            info = infos.get(str(entity["document_id"]))
            if info is not None and info.content_hash == entity["version"]:
                # Milvus Lite gives BM25 scores negated (its order is right).
                score = float(hit["distance"])
                out.append((int(hit["id"]), abs(score) if metric == "BM25" else score))
        return out[:limit]

    def lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        """Milvus's BM25 over the analyzer's terms: (row id, score), best first."""
        text = keywords.query(query)
        return self._search(text, "sparse", limit, "BM25") if text else []

    def dense_index(self) -> MilvusStore | None:
        """This store searches its own vectors (`search`)."""
        return self if self._has_chunks else None

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        vector = np.asarray(query, np.float32).reshape(-1).tolist()
        return self._search(vector, "vector", k, "IP")

    def keyword_terms(self, row_ids: Sequence[int]) -> dict[int, frozenset[str]]:
        if not self._has_chunks:
            return {}
        found = self.tables.chunk_rows(row_ids, ["id", "keywords"])
        return {int(r["id"]): frozenset(str(r["keywords"]).split()) for r in found}

    def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many current chunks hold each term (terms in none left out), and how many
        chunks there are (term_counts.py)."""
        if not self._has_chunks:
            return {}, 0
        return self._term_counts.get(terms)

    def _current_terms(self) -> Iterator[str]:
        """Each current chunk's own terms."""
        for row, current in self.tables.chunks_by_version(["keywords"]):
            if current:
                yield str(row["keywords"])

    def _count_term(self, term: str) -> int:
        where = f"TEXT_MATCH(terms, {rows.literal(keywords.term(term))})"
        return self.tables.count(self.tables.chunks, where)
