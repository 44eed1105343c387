"""One writer at a time: a CLI ingest waits, with a message, while another holds the lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vectorstore.store.store import Store

pytestmark = pytest.mark.models
ROOT = Path(__file__).resolve().parents[3]


def test_cli_waits_for_the_write_lock(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nAlpha text.\n")
    store = Store(tmp_path / "store", "bundled:all-MiniLM-L6-v2")
    with store.writer():
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingest",
                str(tmp_path / "docs"),
                "--store",
                str(tmp_path / "store"),
            ],
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen = []
        while not any("waiting for another writer" in line for line in seen):
            line = proc.stderr.readline()
            assert line, f"ingest exited without waiting: {''.join(seen)}"
            seen.append(line)
        assert proc.poll() is None and store.stats()["documents"] == 0
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "added=1" in out
