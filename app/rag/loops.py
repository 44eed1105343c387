"""Degeneration guard: small models under greedy decoding can repeat a line forever."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

MIN_LINE = 8  # shorter lines ("- ", "1.") repeat legitimately
SIMILAR = 0.85  # near-copies count: loops drift ("A is B." -> "A is is B.")
_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")


def _units(text: str) -> list[str]:
    parts = (_MARKER.sub("", u).strip() for u in re.split(r"\n+|(?<=[.!?。])\s+", text))
    return [u for u in parts if u]


def _similar(a: str, b: str) -> bool:
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= SIMILAR


def is_looping(text: str, repeats: int = 2) -> bool:
    """True once the newest complete line or sentence has `repeats` near-copies before it."""
    units = _units(text)
    if not text.rstrip(" ").endswith(("\n", ".", "!", "?", "。")):
        units = units[:-1]  # the last unit is still being written
    if len(units) <= repeats:
        return False
    *earlier, last = units
    return len(last) >= MIN_LINE and sum(_similar(last, u) for u in earlier) >= repeats


def trim_repeats(text: str) -> str:
    """Keep the first of each group of near-identical lines or sentences, in order."""
    kept: list[str] = []
    for unit in _units(text):
        if len(unit) >= MIN_LINE and any(_similar(unit, k) for k in kept):
            continue
        kept.append(unit)
    return "\n".join(kept) if "\n" in text else " ".join(kept)
