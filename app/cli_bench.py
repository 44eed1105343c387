"""`ragqa bench`: speed of ingest, re-ingest, search and start-up, as a Markdown report."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.bench.corpus import DEFAULT_CORPUS, DOCS_FOLDER, BenchCorpus, CorpusError, load_corpus
from app.bench.runner import SECTIONS

SMOKE_DOCS = 30
SMOKE_REQUESTS = 20
DEFAULT_REQUESTS = 200


def add_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure ingest, re-ingest, search and start-up speed on this machine",
        description="Measure speed on this machine and write a Markdown report with a PNG "
        "chart. --store names the folder the temporary bench store is made in.",
    )
    p.add_argument(
        "--corpus",
        type=Path,
        help=f"a BEIR folder (corpus.jsonl[.gz], queries.jsonl, qrels/) or a folder of "
        f"documents (default {DEFAULT_CORPUS})",
    )
    p.add_argument("--docs", type=int, metavar="N", help="ingest the first N documents (all)")
    p.add_argument(
        "--requests",
        type=int,
        metavar="N",
        help=f"searches per client-count run (default {DEFAULT_REQUESTS}, smoke {SMOKE_REQUESTS})",
    )
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from {','.join(SECTIONS)} (default all)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("docs/BENCHMARKS.md"), help="the Markdown report"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run proving every section works: {SMOKE_DOCS} documents, "
        f"{SMOKE_REQUESTS} requests; falls back to docs/ when the default corpus is absent",
    )
    p.add_argument(
        "--with-generator",
        action="store_true",
        help="load the language model in the start-up measurement (default: echo backend)",
    )
    common(p)
    p.set_defaults(func=cmd_bench)


def _corpus(args: argparse.Namespace) -> BenchCorpus:
    """--corpus if given (it must exist); else the default, or docs/ for a smoke run."""
    limit = args.docs if args.docs is not None else (SMOKE_DOCS if args.smoke else None)
    if args.corpus is not None:
        return load_corpus(args.corpus, limit)
    if DEFAULT_CORPUS.is_dir():
        return load_corpus(DEFAULT_CORPUS, limit)
    if args.smoke:
        # A clone without ../shared still proves every section, on its own documentation.
        return load_corpus(DOCS_FOLDER if DOCS_FOLDER.is_dir() else Path("docs"), limit)
    raise CorpusError(
        f"the default corpus {DEFAULT_CORPUS} is absent; give a BEIR folder with --corpus DIR"
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from app.bench.report import write
    from app.bench.runner import BenchOptions, run
    from app.cli import _settings

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        print(f"ragqa: unknown bench section(s) {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    for name in ("docs", "requests"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"ragqa: --{name} must be at least 1", file=sys.stderr)
            return 2
    try:
        corpus = _corpus(args)
    except CorpusError as exc:
        print(f"ragqa: {exc}", file=sys.stderr)
        return 2
    requests = args.requests or (SMOKE_REQUESTS if args.smoke else DEFAULT_REQUESTS)
    options = BenchOptions(
        command="ragqa " + shlex.join(sys.argv[1:]),
        requests=requests,
        sections=sections,
        with_generator=args.with_generator,
    )
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
    # A fresh store every run, removed afterwards: figures never depend on earlier runs.
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-", dir=args.store) as folder:
        settings = _settings(args, store=Path(folder) / "store")
        report = run(settings, corpus, options)
    markdown, png = write(report, args.out)
    print(f"report: {markdown}" + (f" (chart {png})" if png else ""))
    return 0
