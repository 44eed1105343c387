"""Citation markers in answers: which [n] were cited, and removing ones that point nowhere."""

from __future__ import annotations

import re

# [1], [2, 3], [1][2], [1-2] are all forms small models produce.
_MARKER = re.compile(r"\[(\d+(?:\s*[,\-–]\s*\d+)*)\]")


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*,\s*", group):
        bounds = re.split(r"\s*[\-–]\s*", part)
        if len(bounds) == 2:
            lo, hi = int(bounds[0]), int(bounds[1])
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 20 else [lo, hi])
        else:
            out.append(int(bounds[0]))
    return out


def clean_citations(answer: str, valid: int) -> tuple[str, list[int]]:
    """Drop markers outside 1..valid from the text; return it with the cited numbers in order."""
    cited: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = [n for n in _numbers(match.group(1)) if 1 <= n <= valid]
        for n in kept:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    text = _MARKER.sub(replace, answer)
    # Removing a marker can leave "word ." or double spaces behind.
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return text, cited
