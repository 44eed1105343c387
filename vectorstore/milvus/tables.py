"""One store's three collections on one Milvus client: the reads and writes the store and
its upkeep are made of."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from vectorstore.milvus import rows
from vectorstore.milvus.collections import with_no_vector
from vectorstore.types import DocumentInfo

BATCH = 500  # rows a request: well under Milvus's 64 MB message limit at 1,536-d


class Tables:
    def __init__(self, client: Any, name: str, lite: bool) -> None:
        """`lite`: an in-process Milvus Lite file, which has no query iterator."""
        self.client = client
        self.documents, self.chunks, self.meta = (
            f"{name}_documents",
            f"{name}_chunks",
            f"{name}_meta",
        )
        self.lite = lite

    def meta_value(self, key: str) -> str | None:
        found = self.client.get(self.meta, ids=[key], output_fields=["value"])
        return str(found[0]["value"]) if found else None

    def set_meta(self, values: dict[str, str]) -> None:
        self.client.upsert(
            self.meta, [with_no_vector({"key": k, "value": v}) for k, v in values.items()]
        )

    def iterate(self, collection: str, fields: list[str]) -> Iterator[Any]:
        """Every row of a collection, a batch at a time."""
        where = 'id != ""' if collection == self.documents else "id >= 0"
        if self.lite:  # in process, every row at once
            yield from self.client.query(collection, filter=where, output_fields=fields)
            return
        it = self.client.query_iterator(
            collection, batch_size=1000, filter=where, output_fields=fields
        )
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def count(self, collection: str, where: str = "") -> int:
        found = self.client.query(collection, filter=where, output_fields=["count(*)"])
        return int(found[0]["count(*)"])

    def infos(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        if not doc_ids:
            return {}
        found = self.client.get(self.documents, ids=list(doc_ids), output_fields=rows.DOC_FIELDS)
        return {str(r["id"]): rows.info(r) for r in found}

    def versions(self) -> dict[str, str]:
        """Each document's current version."""
        return {
            str(r["id"]): str(r["content_hash"])
            for r in self.iterate(self.documents, ["id", "content_hash"])
        }

    def chunks_by_version(self, fields: list[str]) -> Iterator[tuple[dict[str, Any], bool]]:
        """Every chunk with `fields` (and its document and version), and whether it is of
        its document's current version."""
        versions = self.versions()
        wanted = list(dict.fromkeys([*fields, "document_id", "version"]))
        for row in self.iterate(self.chunks, wanted):
            yield row, versions.get(row["document_id"]) == row["version"]

    def chunk_rows(self, row_ids: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ids = [int(i) for i in row_ids]
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            out.extend(self.client.get(self.chunks, ids=part, output_fields=fields))
        return out

    def version_rows(self, info: DocumentInfo, fields: list[str]) -> list[dict[str, Any]]:
        """The chunks of a document's current version, in order."""
        where = rows.of_version(info.id, info.content_hash)
        found = self.client.query(self.chunks, filter=where, output_fields=fields)
        return sorted(found, key=lambda r: int(r["ord"]))

    def upsert_chunks(self, chunk_rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(chunk_rows), BATCH):
            self.client.upsert(self.chunks, list(chunk_rows[start : start + BATCH]))

    def delete_chunks(self, row_ids: Sequence[int]) -> None:
        for start in range(0, len(row_ids), BATCH):
            self.client.delete(self.chunks, ids=list(row_ids[start : start + BATCH]))
