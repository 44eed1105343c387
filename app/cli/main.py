"""The `ragqa` command: ingest, serve, search, ask."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from app.cli.common import embedder_for, services_from, settings_from
from app.config import Settings

# How long a thread may hold the interpreter lock while another waits for it (Python's
# default is 5 ms): under concurrent searches the event loop, which reads every request
# and writes every reply, would wait up to that long each time it wants the lock back
# (DECISIONS.md, "A 0.5 ms interpreter switch interval in ragqa serve").
SWITCH_INTERVAL_S = 0.0005


def cmd_ingest(args: argparse.Namespace) -> int:
    from app.services import build_pipeline, open_store
    from ingest.runner import run_ingest

    settings = settings_from(args)
    embedder = embedder_for(settings)
    # Refuses a mismatched model first.
    store = open_store(settings, embedder.model_name)
    if args.if_empty and (count := store.stats()["documents"]):
        print(f"{settings.store} already holds {count} documents; nothing ingested")
        return 0
    pipeline = build_pipeline(settings, store, embedder)

    def waiting() -> None:
        print(f"waiting for another writer to release {settings.store} ...", file=sys.stderr)

    with store.writer(on_wait=waiting):
        summary = run_ingest(pipeline, args.paths, delete_missing=args.delete_missing)
    print(summary.line())
    return 1 if summary.failed else 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` writes every thread's Python stack to the server's stderr: how
    a server that stopped answering shows where it waits (the load test asks for it when
    requests go unanswered). faulthandler writes from C, so it works while a thread holds
    the interpreter lock."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR1"):  # not on Windows
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from app.http.log_lines import configure_logging
    from app.main import create_app
    from app.services import open_store

    settings = settings_from(args)
    configure_logging(settings.log_format)
    # Requests already run side by side: the tokenizers' own thread pool only spins on the
    # other core, and with it off their batch calls let go of the interpreter lock.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.setswitchinterval(SWITCH_INTERVAL_S)

    # Fail fast, before binding: a store built with another embedding model cannot be served.
    open_store(settings, settings.embedding_model).close()
    if not _access_allowed(settings):
        return 2
    app = create_app(settings)
    _stacks_on_sigusr1()
    # uvicorn drains on SIGTERM, then raises the signal again under the handler it found;
    # the default one would end a cleanly drained server as "killed by SIGTERM" (143).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        # Logging is configured above: uvicorn's loggers go through the same handler, and
        # the access line comes from app.http.log_lines.RequestContext, which knows the
        # request id and the time to the last byte of a stream.
        log_config=None,
        access_log=False,
        # SIGTERM: stop accepting, let in-flight requests finish within this bound, exit.
        timeout_graceful_shutdown=settings.shutdown_seconds,
    )
    return 0


def _access_allowed(settings: Settings) -> bool:
    """Without API keys, serve on loopback only, unless told explicitly; log which it is."""
    import logging

    from app.http.access import is_loopback

    log = logging.getLogger("ragqa")
    if settings.api_keys:
        log.info("API keys required on /api/* and /v1/*")
        return True
    if is_loopback(settings.host):
        log.warning("no API keys set (RAGQA_API_KEYS): anyone on this machine can use the API")
        return True
    if settings.allow_no_auth:
        log.warning(
            "no API keys set and serving on %s (RAGQA_ALLOW_NO_AUTH): anyone who can reach "
            "this address can read and change the documents",
            settings.host,
        )
        return True
    print(
        f"ragqa: refusing to serve on {settings.host} without API keys: anyone who can reach "
        "it could read and change the documents. Set RAGQA_API_KEYS (comma-separated or "
        "@file), serve on 127.0.0.1, or set RAGQA_ALLOW_NO_AUTH=true (--allow-no-auth) to "
        "serve openly on purpose.",
        file=sys.stderr,
    )
    return False


def cmd_search(args: argparse.Namespace) -> int:
    services = services_from(args, with_generator=False)
    results = services.rag.search(args.query, args.top_k, args.mode)
    if args.json:
        print(json.dumps({"results": [r.model_dump() for r in results]}, ensure_ascii=False))
        return 0
    for r in results:
        print(f"[{r.n}] {r.score:.4f}  {r.source}  {r.context}")
        print("    " + r.text[:300].replace("\n", " "))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    services = services_from(args, with_generator=args.answer_mode != "extract")
    answer = None
    events = services.rag.events(args.question, args.top_k, answer_mode=args.answer_mode)
    for event, payload in events:
        if args.json:
            if event == "done":
                answer = payload
            continue
        if event == "quotes" and payload["quotes"] and args.answer_mode != "extract":
            print("Quoted from the sources:")
            for line in payload["answer"].splitlines():
                print(f"  > {line}")
            print("\nAnswer:")
        elif event == "token":
            print(payload["text"], end="", flush=True)
        elif event == "done":
            answer = payload
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    assert answer is not None
    print()
    support = answer.get("support")
    if support and support["left_out"]:
        print(f"\n({support['left_out']} sentence(s) of the model's left out:")
        for s in support["sentences"]:
            if not s["shown"] and s["claim"]:
                print(f"  - {s['text']}  [{s['reason']}]")
        print(")")
    if answer.get("answer_mode") == "extracted" and args.answer_mode != "extract":
        print("(the model's answer was not supported by the sources: quoted them instead)")
    for source in answer["sources"]:
        mark = "*" if source["n"] in answer["citations"] else " "
        print(f"{mark}[{source['n']}] {source['source']}  {source['context']}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragqa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", type=Path, help="store folder (RAGQA_STORE)")
        p.add_argument("--embedding-model", dest="embedding_model")
        p.add_argument(
            "--embedding-backend",
            dest="embedding_backend",
            choices=("auto", "torch", "onnx", "onnx-int8", "openai"),
            help="auto: ONNX Runtime int8 on a CPU, PyTorch on a GPU",
        )
        p.add_argument("--device", help="auto, cpu, cuda, cuda:N (RAGQA_DEVICE)")

    p = sub.add_parser("ingest", help="ingest files, folders and .jsonl record files")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--delete-missing",
        action="store_true",
        help="remove documents under PATH whose files are gone",
    )
    p.add_argument("--if-empty", action="store_true", help="do nothing if the store has documents")
    common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("serve", help="run the web service")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--generator-model", dest="generator_model")
    p.add_argument(
        "--allow-no-auth",
        dest="allow_no_auth",
        action="store_true",
        default=None,
        help="serve without API keys on a non-loopback address (RAGQA_ALLOW_NO_AUTH)",
    )
    common(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("search", help="search the store")
    p.add_argument("query")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question from the store")
    p.add_argument("question")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--generator-model", dest="generator_model")
    p.add_argument(
        "--answer-mode",
        dest="answer_mode",
        choices=("generate", "extract"),
        help="generate (checked against the sources) or extract: quote the sources, no "
        "model (RAGQA_ANSWER_MODE)",
    )
    common(p)
    p.set_defaults(func=cmd_ask)
    from app.cli.eval import add_parser

    add_parser(sub, common)
    from app.cli.store import add_parser as add_store

    add_store(sub, common)
    from app.cli.bench import add_parser as add_bench

    add_bench(sub, common)
    from app.cli.models import add_parser as add_models

    add_models(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationError as exc:
        print(f"ragqa: invalid setting: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("ragqa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear message, not a traceback, for expected failures
        from vectorstore import ModelNotFoundError, StoreError

        if not isinstance(exc, StoreError | ModelNotFoundError):
            raise
        print(f"ragqa: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
