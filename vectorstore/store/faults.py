"""Why the store cannot be written (read-only, full disk), in words the user can act on."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from vectorstore.types import StoreError

# Below this much free space an SQLite I/O error is taken for a full disk: SQLite reports
# ENOSPC on its shared-memory file as a plain "disk I/O error", not as SQLITE_FULL.
NEARLY_FULL = 1 << 20


def is_read_only(folder: Path) -> bool:
    """The folder cannot be written by this process: a read-only mount or permissions.
    (os.access also answers False for root on a read-only mount.)"""
    return not os.access(folder, os.W_OK)


def on_read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def free_bytes(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def read_only_error(folder: Path, reason: str = "read-only file system") -> StoreError:
    return StoreError(
        f"the store at {folder} is read-only ({reason}): searches work, but documents "
        "cannot be added or removed. Serve a writable copy to change it."
    )


def full_error(folder: Path, reason: str) -> StoreError:
    return StoreError(
        f"no space left on the device holding the store at {folder} ({reason}); the "
        "failed write changed nothing. Free some space and try again."
    )


def explain(folder: Path, exc: BaseException) -> StoreError | None:
    """A StoreError saying that the disk is full or the store read-only, when that is why
    `exc` (an OSError or SQLite error met writing or opening the store) happened."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    code = exc.errno if isinstance(exc, OSError) else None
    name = str(getattr(exc, "sqlite_errorname", ""))
    if code in (errno.ENOSPC, errno.EDQUOT) or name == "SQLITE_FULL" or "disk is full" in reason:
        return full_error(folder, reason)
    if (
        code in (errno.EROFS, errno.EACCES, errno.EPERM)
        or name.startswith("SQLITE_READONLY")
        or "readonly database" in reason
        or on_read_only_mount(folder)
    ):
        return read_only_error(folder, reason)
    free = free_bytes(folder)
    if isinstance(exc, sqlite3.OperationalError) and free is not None and free < NEARLY_FULL:
        return full_error(folder, reason)
    return None
