"""`ragqa check [--repair]`, `ragqa export FILE`, `ragqa import FILE`: is a store sound, and
moving one whole."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.common import embedder_for, settings_from

if TYPE_CHECKING:
    from app.config import Settings
    from vectorstore import Finding


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("check", help="check that a store's database and indexes agree")
    p.add_argument(
        "--repair",
        action="store_true",
        help="rebuild the keyword and dense indexes from SQLite under the write lock, "
        "then check again",
    )
    common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("export", help="write the whole store to one gzip JSON Lines file")
    p.add_argument("file", type=Path, metavar="FILE")
    common(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="add or update the documents of an export file")
    p.add_argument("file", type=Path, metavar="FILE")
    common(p)
    p.set_defaults(func=cmd_import)


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when sound, 1 when not; a missing or unreadable store raises (exit 2)."""
    from vectorstore import check_store, repair_store

    settings = settings_from(args)
    if settings.store_backend == "milvus":
        return _check_milvus(settings, args.repair)
    folder, kind, model = settings.store, settings.index_kind, settings.embedding_model
    return _check_and_repair(
        folder,
        lambda: check_store(folder, kind, model),
        lambda: repair_store(folder, kind),
        args.repair,
        hint="`ragqa check --repair` rebuilds the keyword and dense indexes from SQLite",
        repaired="repaired: rebuilt the keyword and dense indexes from SQLite; checking again",
        # The indexes are rebuilt from SQLite: from damaged rows they would be damaged too.
        unfixable="concern SQLite itself, which --repair rebuilds from; fix that first "
        "(re-ingest the documents named, or restore a backup)",
    )


def _check_milvus(settings: Settings, repair: bool) -> int:
    from app.services import open_milvus
    from vectorstore import check_milvus, repair_milvus

    store = open_milvus(settings, None)
    try:
        return _check_and_repair(
            f"{store.uri} ({store.name})",
            lambda: check_milvus(store, settings.embedding_model),
            lambda: repair_milvus(store),
            repair,
            hint="`ragqa check --repair` deletes stray chunks and re-indexes the terms",
            repaired="repaired: deleted stray chunks and wrote the keyword terms again; "
            "checking again",
        )
    finally:
        store.close()


def _check_and_repair(
    where: Path | str,
    check: Callable[[], list[Finding]],
    repair: Callable[[], None],
    wanted: bool,
    *,
    hint: str,
    repaired: str,
    unfixable: str | None = None,
) -> int:
    """Check; when asked and every problem is one `repair` mends, repair and check again.
    `unfixable`: what to say of the problems it cannot mend (None: only the hint)."""
    problems = _report(where, check())
    if not problems:
        return 0
    if not wanted:
        if any(f.repairable for f in problems):
            print(hint)
        return 1
    if stuck := [f.name for f in problems if not f.repairable]:
        if unfixable:
            print(f"not repaired: {', '.join(stuck)} {unfixable}")
        elif any(f.repairable for f in problems):
            print(hint)
        return 1
    repair()
    print(repaired)
    return 1 if _report(where, check()) else 0


def _report(folder: Path | str, findings: list[Finding]) -> list[Finding]:
    """Print one line per check and a verdict; the findings that are problems."""
    for finding in findings:
        print(finding.line())
    problems = [f for f in findings if not f.ok]
    print(f"{folder}: {len(problems)} problem(s)" if problems else f"{folder}: sound")
    return problems


def cmd_export(args: argparse.Namespace) -> int:
    from vectorstore import export_milvus, export_store

    settings = settings_from(args)
    if settings.store_backend == "milvus":
        from app.services import open_milvus

        store = open_milvus(settings, None)
        try:
            header = export_milvus(store, args.file)
        finally:
            store.close()
    else:
        header = export_store(settings.store, args.file)
    model = f"{header.embedding_model}, {header.dimension}-d" if header.dimension else "no vectors"
    print(
        f"exported {header.documents} documents, {header.chunks} chunks ({model}) to "
        f"{args.file} ({args.file.stat().st_size} bytes)"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.services import open_store
    from vectorstore import import_store, needs_reembedding, recorded_model, verify_export

    settings = settings_from(args)
    # Every line is read and checked before the store is even opened: a bad file leaves
    # the store (or its absence) exactly as it was.
    header = verify_export(args.file)
    recorded, _ = (
        recorded_milvus(settings)
        if settings.store_backend == "milvus"
        else recorded_model(settings.store)
    )
    # A model asked for (flag or RAGQA_EMBEDDING_MODEL) wins; then the store's own; a
    # store with no vectors yet takes the export's, so nothing needs embedding again.
    if "embedding_model" in settings.model_fields_set:
        model = settings.embedding_model
    else:
        model = recorded or header.embedding_model or settings.embedding_model
    embedder = None
    dimension = header.dimension
    if needs_reembedding(header, model):
        print(
            f"the export was embedded with {header.embedding_model!r}, the store uses "
            f"{model!r}: the chunks of new or changed documents are embedded again",
            file=sys.stderr,
        )
        embedder = embedder_for(settings_from(args, embedding_model=model))
        dimension = embedder.dimension
    store = open_store(settings, model, dimension)

    def waiting() -> None:
        print(f"waiting for another writer to release {settings.store} ...", file=sys.stderr)

    with store.writer(on_wait=waiting):
        summary = import_store(store, args.file, embedder, verified=header)
    if summary.truncated:
        print(
            f"{summary.truncated} chunks are longer than {model!r} embeds and were cut; "
            "`ragqa ingest` of the original files re-chunks them for it",
            file=sys.stderr,
        )
    print(summary.line())
    return 0


def recorded_milvus(settings: Settings) -> tuple[str | None, int | None]:
    """The model and dimension a store in Milvus records; (None, None) before its first
    vector."""
    from app.services import open_milvus

    store = open_milvus(settings, None)
    try:
        if store.dimension is None:
            return None, None
        return store.embedding_model, store.dimension
    finally:
        store.close()
