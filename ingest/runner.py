"""Bulk ingestion of paths into a store: discovery, loading, pipeline, deletions, summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.document import Document, LoaderError
from ingest.loaders import load_file
from ingest.pipeline import DocResult, Pipeline
from ingest.sources import discover, under


@dataclass
class Summary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def line(self) -> str:
        return (
            f"added={self.added} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} failed={self.failed} chunks={self.chunks} "
            f"seconds={self.seconds:.2f}"
        )

    def count(self, result: DocResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status != "unchanged":  # chunks= counts what this run embedded
            self.chunks += result.chunks


# A write commits its chunks within seconds; chunks this old that no document names are
# left by a crash.
ORPHAN_AGE_S = 600.0


def run_ingest(
    pipeline: Pipeline,
    paths: Sequence[str],
    *,
    delete_missing: bool = False,
    progress: bool | None = None,
    warn: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> Summary:
    """Ingest files and folders; a file that fails is reported and the rest go on."""
    start = time.perf_counter()
    summary = Summary()
    found = discover(paths)
    for given in found.missing:
        summary.failed += 1
        summary.failures.append((given, "no such file or folder"))
    if found.unsupported:
        warn(
            f"skipped {len(found.unsupported)} file(s) with no loader, e.g. {found.unsupported[0]}"
        )
    loaded_sources: set[str] = set()
    produced: set[str] = set()

    def documents() -> Iterator[Document]:
        for item in found.files:
            try:
                result = load_file(item.path, item.doc_id)
            except LoaderError as exc:
                summary.failed += 1
                summary.failures.append((item.doc_id, str(exc)))
                continue
            if result.skipped:
                summary.failures.append(
                    (
                        item.doc_id,
                        f"{result.skipped} bad record(s): " + "; ".join(result.errors[:3]),
                    )
                )
                summary.failed += 1
            loaded_sources.add(item.doc_id)
            for doc in result.documents:
                produced.add(doc.id)
                yield doc

    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(found.files), unit="file", disable=not show, file=sys.stderr) as bar:
        last_source = [""]

        def done(result: DocResult) -> None:
            summary.count(result)
            if result.source != last_source[0]:
                bar.update(1)
                last_source[0] = result.source
            bar.set_postfix(chunks=summary.chunks, refresh=False)

        pipeline.ingest(documents(), on_done=done)
        bar.n = len(found.files)
        bar.refresh()
    if delete_missing:
        summary.deleted = _delete_missing(pipeline, found.roots, loaded_sources, produced)
    for path, reason in summary.failures:
        warn(f"failed: {path}: {reason}")
    # What a write cut short by a crash left unseen (a store without transactions); not
    # what another ingest running now has written but not yet committed.
    pipeline.store.sweep_orphans(older_than_s=ORPHAN_AGE_S)
    pipeline.store.flush()
    summary.seconds = time.perf_counter() - start
    return summary


def _delete_missing(
    pipeline: Pipeline, roots: list[str], loaded: set[str], produced: set[str]
) -> int:
    """Remove documents under the given roots whose file is gone, or whose record is no
    longer in a file that loaded. A file that failed to load keeps its documents."""
    deleted = 0
    for doc_id, info in pipeline.store.all_documents().items():
        if info.metadata.get("origin") == "upload" or not under(info.source, roots):
            continue
        gone = not Path(info.source).exists()
        if gone or (info.source in loaded and doc_id not in produced):
            deleted += pipeline.store.delete_document(doc_id)
    return deleted
