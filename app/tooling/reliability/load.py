"""Bounded load test: a real `ragqa serve` on loopback, N clients for S seconds, a verdict.

    python -m app.tooling.reliability.load --clients 32 --seconds 60 [--store DIR]
        [--generator echo|default]

Exits 1 when any response was a 5xx, a request got no response, a 2xx broke the API's
promise, or the server's RSS grew by 10% or more after the warm-up; 2 when it could not
start.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import httpx

from app.config import Settings
from app.tooling.bench.corpus import DOCS_FOLDER, FALLBACK_QUERIES
from app.tooling.bench.startup import launched
from app.tooling.reliability.clients import Client, Outcome
from app.tooling.reliability.load_report import LoadReport, summarise
from app.tooling.reliability.rss import RssSampler, growth

# "ValueError: ...", "sqlite3.OperationalError: ...": the last line of a traceback.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


@dataclass(frozen=True)
class LoadOptions:
    clients: int = 32
    seconds: float = 60.0
    store: Path | None = None  # None: a temporary store with the project's docs/ ingested
    generator: Literal["echo", "default"] = "echo"
    # The RSS baseline is taken at the end of this share of the run (see rss.growth).
    warmup_share: float = 1 / 3
    # Per answer, for the real generator: a load test measures the service, not how long
    # a 135M model takes to write 256 tokens on a CPU.
    max_new_tokens: int = 32
    rate_limit: float = 0.0  # 0: off, so any 429 is a bug; >0 to load the limiter too
    # Per request; past it a request counts as no response. Generous: with the real model
    # on a small CPU, asks queue for the one generator behind minutes of other asks.
    timeout_s: float = 300.0
    max_growth: float = 0.10
    seed: int = 0


def run_load(options: LoadOptions, say: Callable[[str], None] = print) -> LoadReport:
    """Seed a store if none was given, start the server, drive it, and summarise."""
    settings = Settings()
    with (
        _seeded_store(options.store, settings, say) as store,
        tempfile.TemporaryDirectory(prefix="ragqa-load-log-") as logs,
    ):
        log_path = Path(logs) / "server.log"
        say(f"starting the server on {store} ({options.generator} generator)")
        env = {
            "RAGQA_RATE_LIMIT": str(options.rate_limit),
            "RAGQA_API_KEYS": "",  # loopback, no keys: the load, not the key check
            "RAGQA_MAX_NEW_TOKENS": str(options.max_new_tokens),
        }
        generator = settings.generator_model if options.generator == "default" else None
        with launched(
            store,
            settings.embedding_model,
            settings.device,
            generator,
            extra_env=env,
            log_path=log_path,
        ) as server:
            say(
                f"ready in {server.seconds:.1f} s; {options.clients} clients for "
                f"{options.seconds:.0f} s"
            )
            with RssSampler(server.pid) as sampler:
                outcomes, seconds = asyncio.run(_drive(server.url, options))
            if any(o.status is None for o in outcomes):
                dump = stacks(server.pid, log_path)
                say(f"requests went unanswered; the server's threads:\n{dump}")
        errors = logged_errors(log_path.read_text(errors="replace"))
    warmup_s = options.seconds * options.warmup_share
    return summarise(
        outcomes,
        clients=options.clients,
        load_s=options.seconds,
        seconds=seconds,
        warmup_s=warmup_s,
        memory=growth(sampler.samples, warmup_s),
        max_growth=options.max_growth,
        limiter_on=options.rate_limit > 0,
        server_log=errors,
    )


def stacks(pid: int, log_path: Path, wait_s: float = 1.0) -> str:
    """Every thread's Python stack in the server, which `ragqa serve` writes to its log on
    SIGUSR1: where it waits when requests go unanswered."""
    if not hasattr(signal, "SIGUSR1"):
        return "(no SIGUSR1 here)"
    before = log_path.stat().st_size
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return "(the server has exited)"
    # The handler writes at once, but a loaded machine may schedule it late: read until
    # the dump has stopped growing (or the wait is up).
    deadline = time.monotonic() + wait_s * 10
    seen = b""
    while time.monotonic() < deadline:
        time.sleep(wait_s / 4)
        with log_path.open("rb") as log:
            log.seek(before)
            now = log.read()
        if now and now == seen:
            break
        seen = now
    return seen.decode(errors="replace")


def logged_errors(log: str) -> list[str]:
    """The distinct errors in a server log, JSON lines or plain text: each ERROR record's
    message and the exception line that ends its traceback."""
    found: list[str] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            found += _json_errors(line)
        elif line.startswith("ERROR") or (
            i > 0 and lines[i - 1].startswith(" ") and _EXCEPTION.match(line)
        ):
            found.append(line)
    return list(dict.fromkeys(e for e in found if e))


def _json_errors(line: str) -> list[str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return []
    if not isinstance(record, dict) or record.get("level") not in ("ERROR", "CRITICAL"):
        return []
    traceback = str(record.get("exception") or "").strip().splitlines()
    return [str(record.get("message", "")).strip(), *traceback[-1:]]


@contextmanager
def _seeded_store(
    given: Path | None, settings: Settings, say: Callable[[str], None]
) -> Iterator[Path]:
    if given is not None:
        yield given  # the load test's uploads are deleted again after the run
        return
    if not DOCS_FOLDER.is_dir():
        raise RuntimeError(f"{DOCS_FOLDER} is missing (an installed copy?): pass --store DIR")
    with tempfile.TemporaryDirectory(prefix="ragqa-load-") as tmp:
        store = Path(tmp) / "store"
        say(f"ingesting {DOCS_FOLDER} into a temporary store")
        # `ragqa ingest` as a user runs it, in its own process: this one stays model-free.
        argv = [sys.executable, "-m", "ingest", str(DOCS_FOLDER), "--store", str(store)]
        argv += ["--embedding-model", settings.embedding_model, "--device", settings.device]
        done = subprocess.run(
            argv,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"seeding the store failed:\n{done.stdout}{done.stderr}")
        yield store


async def _drive(url: str, options: LoadOptions) -> tuple[list[Outcome], float]:
    """Every client's outcomes, and the seconds from the first request to the last
    response. Clients stop sending at the deadline and finish what they sent."""
    outcomes: list[Outcome] = []
    leftover: list[str] = []
    run_id = uuid.uuid4().hex[:8]
    queries = list(FALLBACK_QUERIES)
    async with AsyncExitStack() as stack:
        # One connection per client, as separate users would hold.
        https = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url,
                    timeout=options.timeout_s,
                    limits=httpx.Limits(max_connections=1),
                )
            )
            for _ in range(options.clients)
        ]
        origin = time.perf_counter()
        clients = [
            Client(
                number=i,
                http=http,
                queries=queries,
                run_id=run_id,
                record=outcomes.append,
                origin=origin,
                rng=random.Random(options.seed * 10_000 + i),
                uploaded=[],
                leftover=leftover,
            )
            for i, http in enumerate(https)
        ]
        await asyncio.gather(*(c.run(origin + options.seconds) for c in clients))
        seconds = time.perf_counter() - origin
        # Not measured: leave a given store as it was found.
        for doc_id in leftover + [d for c in clients for d in c.uploaded]:
            await https[0].delete(f"/api/documents/{quote(doc_id, safe='')}")
    return outcomes, seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.tooling.reliability.load", description=__doc__
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they send")
    parser.add_argument("--store", type=Path, help="serve this store (default: docs/ ingested)")
    parser.add_argument("--generator", choices=("echo", "default"), default="echo")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="per answer")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="0: limiter off")
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        print("--clients must be >= 1 and --seconds > 0", file=sys.stderr)
        return 2
    options = LoadOptions(
        clients=args.clients,
        seconds=args.seconds,
        store=args.store,
        generator=args.generator,
        max_new_tokens=args.max_new_tokens,
        rate_limit=args.rate_limit,
        timeout_s=args.timeout,
        seed=args.seed,
    )
    try:
        report = run_load(options)
    except RuntimeError as exc:  # the server or the seeding did not start
        print(f"load test could not run: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    if args.json is not None:
        data = {**dataclasses.asdict(report), "failures": report.failures()}
        args.json.write_text(json.dumps(data, indent=2))
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
