"""`ragqa bench`: speed of ingest, re-ingest, search and start-up, as a Markdown report."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.tooling.bench.corpus import (
    DEFAULT_CORPUS,
    DOCS_FOLDER,
    BenchCorpus,
    CorpusError,
    load_corpus,
)
from app.tooling.bench.runner import DEFAULT_SECTIONS, SECTIONS

SMOKE_DOCS = 30
SMOKE_REQUESTS = 20
DEFAULT_REQUESTS = 200
# The generation section: answers per backend, their length, and which backends. The smoke
# run keeps to llama.cpp: loading and running transformers would add a minute.
GEN_QUESTIONS, SMOKE_GEN_QUESTIONS = 5, 1
GEN_TOKENS, SMOKE_GEN_TOKENS = 64, 16
GEN_BACKENDS, SMOKE_GEN_BACKENDS = "llama_cpp,transformers", "llama_cpp"
# The scale section: vectors in each FAISS index; fewer than the minimum cannot train PQ.
SCALE_VECTORS, SMOKE_SCALE_VECTORS, MIN_SCALE_VECTORS = 1_000_000, 20_000, 10_000


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
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated, from {','.join(SECTIONS)} (default all but milvus, which "
        "needs milvus-lite and runs minutes on its pure-Python engine)",
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
    p.add_argument(
        "--peers-python",
        default=sys.executable,
        metavar="PATH",
        help="the Python that runs LangChain and LlamaIndex in the peers section (default: "
        "this one); `make bench-peers` makes .venv-peers/bin/python, which has them",
    )
    p.add_argument(
        "--gen-questions",
        type=int,
        metavar="N",
        help=f"generation: answers timed per backend (default {GEN_QUESTIONS}, smoke "
        f"{SMOKE_GEN_QUESTIONS})",
    )
    p.add_argument(
        "--gen-tokens",
        type=int,
        metavar="N",
        help=f"generation: max new tokens per answer (default {GEN_TOKENS}, smoke "
        f"{SMOKE_GEN_TOKENS})",
    )
    p.add_argument(
        "--gen-backends",
        help=f"generation: comma-separated (default {GEN_BACKENDS}, smoke {SMOKE_GEN_BACKENDS})",
    )
    p.add_argument(
        "--scale-vectors",
        type=int,
        metavar="N",
        help=f"scale: vectors in each FAISS index (default {SCALE_VECTORS:,}, smoke "
        f"{SMOKE_SCALE_VECTORS:,}, at least {MIN_SCALE_VECTORS:,})",
    )
    p.add_argument(
        "--search-chunks",
        metavar="N,N",
        help="search: store sizes in chunks (default 5000,100000; smoke 40,500); sizes "
        "above the ingested corpus are synthesised from its text",
    )
    common(p)
    p.set_defaults(func=cmd_bench)


SEARCH_CHUNKS = (5_000, 100_000)
SMOKE_SEARCH_CHUNKS = (40, 500)  # a copy of the smoke corpus's first chunks; a synthetic store


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
    from app.cli.common import settings_from
    from app.tooling.bench.report import write
    from app.tooling.bench.runner import BenchOptions, run

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        print(f"ragqa: unknown bench section(s) {unknown}; choose from {SECTIONS}", file=sys.stderr)
        return 2
    for name in ("docs", "requests", "gen_questions", "gen_tokens"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"ragqa: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    try:
        sizes = tuple(int(n) for n in (args.search_chunks or "").split(",") if n.strip())
    except ValueError:
        sizes = (0,)
    if any(n < 1 for n in sizes):
        print("ragqa: --search-chunks takes sizes like 5000,100000", file=sys.stderr)
        return 2
    if args.scale_vectors is not None and args.scale_vectors < MIN_SCALE_VECTORS:
        print(f"ragqa: --scale-vectors must be at least {MIN_SCALE_VECTORS}", file=sys.stderr)
        return 2
    backends = args.gen_backends or (SMOKE_GEN_BACKENDS if args.smoke else GEN_BACKENDS)
    gen_backends = tuple(b.strip() for b in backends.split(",") if b.strip())
    if not gen_backends or not set(gen_backends) <= set(GEN_BACKENDS.split(",")):
        print(f"ragqa: --gen-backends takes {GEN_BACKENDS}, not {backends}", file=sys.stderr)
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
        peers_python=args.peers_python,
        gen_backends=gen_backends,
        gen_questions=args.gen_questions or (SMOKE_GEN_QUESTIONS if args.smoke else GEN_QUESTIONS),
        gen_tokens=args.gen_tokens or (SMOKE_GEN_TOKENS if args.smoke else GEN_TOKENS),
        scale_vectors=args.scale_vectors or (SMOKE_SCALE_VECTORS if args.smoke else SCALE_VECTORS),
        search_chunks=sizes or (SMOKE_SEARCH_CHUNKS if args.smoke else SEARCH_CHUNKS),
        korean=not args.smoke,  # embedding 964 KorQuAD paragraphs is not a smoke test
    )
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
    # A fresh store every run, removed afterwards: figures never depend on earlier runs.
    with tempfile.TemporaryDirectory(prefix="ragqa-bench-", dir=args.store) as folder:
        settings = settings_from(args, store=Path(folder) / "store")
        report = run(settings, corpus, options)
    markdown, png = write(report, args.out)
    print(f"report: {markdown}" + (f" (chart {png})" if png else ""))
    return 0
