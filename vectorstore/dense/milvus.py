"""The Milvus dense index: a derived copy of SQLite's embeddings in a Milvus collection."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import suppress
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.types import StoreError

if TYPE_CHECKING:
    from numpy.typing import NDArray

MILVUS_FILE = "milvus.db"  # Milvus Lite's file, when no server URI is given
# The generation the collection reflects, written only after Milvus accepted the writes:
# a process that dies in between leaves it behind SQLite, and the next open rebuilds.
RECORD_FILE = "milvus.json"
DEFAULT_COLLECTION = "ragqa_chunks"
_BATCH = 1000  # rows per insert: well under Milvus's 64 MB gRPC message limit at 1,536-d
_SEARCH_MAX = 16_384  # Milvus refuses a larger topk
# Milvus Lite starts one server per file per process, and two threads starting it at once
# race for the file's lock (the loser fails as if another process held it).
_OPENING = threading.Lock()


def _client(uri: str, token: str) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "the milvus store backend needs pymilvus (and milvus-lite for a local file): "
            "pip install 'ragqa[milvus]'"
        ) from exc
    try:
        with _OPENING:
            return MilvusClient(uri=uri, token=token)
    except Exception as exc:
        # Milvus Lite locks its file to one process; a server may be down or refuse us.
        raise StoreError(
            f"cannot open Milvus at {uri}: {exc}. Milvus Lite serves one process at a time: "
            "ingest through the running server's API, or use a Milvus server "
            "(RAGQA_MILVUS_URI=http://host:19530)"
        ) from exc


class MilvusDense:
    """Inner-product search over the chunk vectors in one Milvus collection, keyed by
    chunk row id: the same interface as the FAISS DenseIndex.

    Milvus picks the index: Milvus Lite searches exactly (FLAT), a server builds an
    AUTOINDEX; the store's `index_kind` setting applies to FAISS only.

    `collection` is an alias: a rebuild fills a new collection and then points the alias
    at it, so searches meanwhile see the old vectors, never a missing or half-filled set.
    """

    kind = "milvus"

    def __init__(
        self,
        folder: Path,
        dimension: int,
        uri: str = "",
        token: str = "",
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        self.dimension = dimension
        self.uri = uri or str(folder / MILVUS_FILE)
        # What the record names: a Lite file by its name alone, so a store folder that is
        # moved, or opened by another relative path, keeps its collection.
        self._where = uri or MILVUS_FILE
        self.collection = collection
        self._record = folder / RECORD_FILE
        self._client = _client(self.uri, token)
        self.generation = self.recorded()

    def recorded(self) -> int:
        """The generation the collection was last recorded at; -1 when the record is
        missing or names another collection, or the collection itself is gone."""
        try:
            info = json.loads(self._record.read_text())
        except (OSError, ValueError):
            return -1
        same = (info.get("uri"), info.get("collection"), info.get("dimension")) == (
            self._where,
            self.collection,
            self.dimension,
        )
        target = self._aliased() if same else None
        if target is None or not self._client.has_collection(target):
            return -1
        self._client.load_collection(target)  # a reopened collection is released
        return int(info.get("generation", -1))

    def record(self, generation: int) -> None:
        """Say the collection now reflects `generation` (after its writes succeeded)."""
        self.generation = generation
        info = {
            "generation": generation,
            "uri": self._where,
            "collection": self.collection,
            "dimension": self.dimension,
        }
        tmp = self._record.with_suffix(".jtmp")
        try:
            tmp.write_text(json.dumps(info))
            os.replace(tmp, self._record)
        except OSError:
            # Derived data: an unrecorded generation only costs a rebuild on next open.
            with suppress(OSError):
                tmp.unlink()

    def rebuild(self, rows: Iterator[Any]) -> None:
        """Replace the vectors with (id, float32 blob) rows, read a batch at a time."""
        self.generation = -1
        with suppress(OSError):
            self._record.unlink()  # first: a crash mid-rebuild must not look current
        new = f"{self.collection}_{uuid.uuid4().hex[:12]}"
        self._client.create_collection(
            new, dimension=self.dimension, metric_type="IP", auto_id=False
        )
        batch = list(islice(rows, _BATCH))
        while batch:
            ids = np.array([r[0] for r in batch], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32)
            self._insert(new, ids, vecs.reshape(len(batch), self.dimension))
            batch = list(islice(rows, _BATCH))
        self._client.flush(new)
        if self._aliased() is not None:
            self._client.alter_alias(new, self.collection)
        else:
            if self._client.has_collection(self.collection):
                self._client.drop_collection(self.collection)  # a plain one of that name
            self._client.create_alias(new, self.collection)
        # The one replaced, and any that a rebuild cut short by a crash left behind.
        built = re.compile(re.escape(self.collection) + r"_[0-9a-f]{12}")
        for name in self._client.list_collections():
            if name != new and built.fullmatch(name):
                self._client.drop_collection(name)

    def exists(self) -> bool:
        return self._aliased() is not None

    def _aliased(self) -> str | None:
        """The collection the alias points at; None when there is no such alias."""
        if self.collection not in self._client.list_aliases().get("aliases", []):
            return None
        return str(self._client.describe_alias(self.collection)["collection_name"])

    def __len__(self) -> int:
        # count(*) sees deletes at once, where the collection statistics may lag them.
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        self._insert(self.collection, ids, vectors)

    def _insert(self, name: str, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        vectors = np.asarray(vectors, np.float32)
        for start in range(0, len(ids), _BATCH):
            part = zip(ids[start : start + _BATCH], vectors[start : start + _BATCH], strict=True)
            self._client.insert(name, [{"id": int(i), "vector": v.tolist()} for i, v in part])

    def remove(self, ids: NDArray[np.int64]) -> None:
        if len(ids):
            self._client.delete(self.collection, ids=[int(i) for i in ids])

    def ids(self) -> NDArray[np.int64]:
        found: list[int] = []
        it = self._client.query_iterator(
            self.collection, batch_size=_BATCH, filter="id >= 0", output_fields=["id"]
        )
        try:
            while batch := it.next():
                found.extend(int(r["id"]) for r in batch)
        finally:
            it.close()
        return np.array(found, dtype=np.int64)

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        args: dict[str, Any] = {
            "data": [np.asarray(query, np.float32).reshape(-1).tolist()],
            "limit": min(k, _SEARCH_MAX),
            "output_fields": ["id"],  # not the vectors, which Milvus Lite returns by default
        }
        try:
            result = self._client.search(self.collection, **args)
        except Exception:
            # Once more: a rebuild may have dropped the collection the alias pointed at
            # while this search was on its way; the alias now names the new one.
            result = self._client.search(self.collection, **args)
        return [(int(hit["id"]), float(hit["distance"])) for hit in result[0]]

    def flush(self) -> None:
        """Seal what was inserted, so a server need not replay it on restart."""
        # An optimisation only: an unsealed write is kept all the same.
        with suppress(Exception):
            self._client.flush(self.collection)

    def close(self) -> None:
        self._client.close()
