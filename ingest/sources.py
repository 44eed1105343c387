"""Find the files behind ingest's PATH arguments and give each its document id."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.loaders import is_supported


@dataclass(frozen=True)
class FoundFile:
    path: Path
    doc_id: str  # the path as reached from what was given, normalised, "/"-separated


@dataclass
class Discovery:
    files: list[FoundFile]
    roots: list[str]  # normalised PATH arguments, for --delete-missing
    missing: list[str]  # arguments that do not exist
    unsupported: list[str]  # files inside folders with no loader (skipped, not failures)


def normalise(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def discover(paths: Sequence[str]) -> Discovery:
    """Walk folders recursively (hidden entries skipped), in a stable order."""
    found = Discovery([], [], [], [])
    seen: set[str] = set()
    for given in paths:
        root = Path(given)
        found.roots.append(normalise(given))
        if root.is_file():
            candidates = [(root, normalise(given))]
        elif root.is_dir():
            candidates = [
                (p, normalise(posixpath.join(given, p.relative_to(root).as_posix())))
                for p in sorted(root.rglob("*"))
                if p.is_file() and not any(x.startswith(".") for x in p.relative_to(root).parts)
            ]
        else:
            found.missing.append(given)
            continue
        for path, doc_id in candidates:
            if doc_id in seen:
                continue
            seen.add(doc_id)
            if root.is_dir() and not is_supported(path):
                found.unsupported.append(doc_id)
            else:
                found.files.append(FoundFile(path, doc_id))
    return found


def under(source: str, roots: Sequence[str]) -> bool:
    """Whether a stored document's source lies within one of the given roots."""
    return any(source == r or r == "." or source.startswith(r.rstrip("/") + "/") for r in roots)
