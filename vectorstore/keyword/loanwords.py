"""Korean transliterations of English technical words, for keyword search across scripts.

Korean technical writing mixes scripts freely: one note says "트랜스포머", the next
"Transformer"; a question says "파라미터" about a table headed "Parameter Count". Neither
keyword matching nor the English-only bundled embedder links the two, so the analyzer
indexes a known transliteration as the English word, inside compounds too ("언어모델" is
언어 + model); the rest of the word (a particle, an ending) stays bigrams. Documents and
queries go through the same analyzer, so it works both ways, and either spelling weighs
the same in BM25.

Listed: unambiguous transliterations and a few fixed technical translations ("재현율"
recall), each at least two syllables. Left out: words whose prefix match would fire on
unrelated words ("로스" in "로스앤젤레스") or that have a common non-technical sense
("배치" batch / placement, "정렬" alignment / sorting, "파인" fine / pine).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# The table is data, kept beside this module: one "korean english..." a line.
TABLE_FILE = Path(__file__).with_name("loanwords.txt")


@lru_cache(maxsize=1)
def table() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for line in TABLE_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        korean, *english = line.split()
        out[korean] = tuple(english)
    return out


@lru_cache(maxsize=1)
def _lengths() -> tuple[int, ...]:
    return tuple(sorted({len(k) for k in table()}, reverse=True))


def split(run: str) -> list[str | tuple[str, ...]]:
    """A Hangul run as plain Korean pieces (str) and the English words of the known
    transliterations in it (tuples): "언어모델의" -> ["언어", ("model",), "의"].

    A transliteration counts at the start of the run, right after another one, or after
    at least two plain syllables: compounds ("언어모델") split, while the one-syllable
    prefixes of unrelated words do not ("드라마" is not 드 + "라마", "콘테스트" not "테스트").
    """
    entries, lengths = table(), _lengths()
    out: list[str | tuple[str, ...]] = []
    plain = i = 0
    while i < len(run):
        found = 0
        if i == plain or i - plain >= 2:
            found = next((n for n in lengths if run[i : i + n] in entries), 0)
        if not found:
            i += 1
            continue
        if i > plain:
            out.append(run[plain:i])
        out.append(entries[run[i : i + found]])
        i = plain = i + found
    if plain < len(run):
        out.append(run[plain:])
    return out
