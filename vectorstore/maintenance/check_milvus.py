"""`ragqa check` of a store in Milvus: every document whole, no chunk left behind by a write
cut short, the keyword terms written by this analyzer."""

from __future__ import annotations

from vectorstore.milvus.store import MilvusStore
from vectorstore.types import Finding


def check_milvus(store: MilvusStore, configured_model: str | None = None) -> list[Finding]:
    """Every check, in order; reads only."""
    stats = store.stats()
    model = f"{store.embedding_model}, {store.dimension}-d" if store.dimension else "none yet"
    if configured_model is not None and configured_model != store.embedding_model:
        model += (
            f"; note: the configured model is {configured_model!r}, so search and serve "
            f"refuse this store until RAGQA_EMBEDDING_MODEL={store.embedding_model}"
        )
    findings = [Finding("model", True, model)]
    broken = sorted(store.incomplete())
    if broken:
        findings.append(
            Finding(
                "documents",
                False,
                f"{len(broken)} documents lack chunks (e.g. {broken[0]!r}): a write was cut "
                "short; run the same `ragqa ingest` again",
            )
        )
    else:
        detail = f"{stats['documents']} documents, all whole"
        findings.append(Finding("documents", True, detail))
    orphans = store.orphans()
    findings.append(
        Finding("orphans", False, f"{orphans} chunks of no current document", repairable=True)
        if orphans
        else Finding("orphans", True, f"{stats['chunks']} chunks, each of a current document")
    )
    findings.append(
        Finding("keyword", True, "terms written by this analyzer")
        if store.analyzer_current()
        else Finding("keyword", False, "terms written by another analyzer version", repairable=True)
    )
    return findings


def repair_milvus(store: MilvusStore) -> None:
    """Delete the chunks no document names and write every chunk's terms again."""
    store.rebuild_indexes()
