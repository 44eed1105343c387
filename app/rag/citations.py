"""Citation markers in answers: which [n] were cited, and removing ones that point nowhere."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.grounding.sentences import MARKER, numbers_in
from vectorstore import analyzer


def clean_citations(answer: str, valid: int) -> tuple[str, list[int]]:
    """Drop markers outside 1..valid from the text; return it with the cited numbers in order."""
    cited: list[int] = []

    def replace(match: re.Match[str]) -> str:
        kept = [n for n in numbers_in(match.group(1)) if 1 <= n <= valid]
        for n in kept:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    text = MARKER.sub(replace, answer)
    # Removing a marker can leave "word ." or double spaces behind.
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return text, cited


def attribute(answer: str, sources: Sequence[str], min_share: float = 0.6) -> tuple[str, list[int]]:
    """Cite sentences for a model that cited nothing: each sentence gets the source that
    holds the largest share (at least `min_share`) of its content words; others stay uncited.

    Small models often ignore the citation instruction; this keeps every [n] honest,
    since the cited passage really contains what the sentence says.
    """
    source_terms = [set(analyzer.terms(s)) for s in sources]
    out: list[str] = []
    cited: list[int] = []
    for sentence in re.split(r"(?<=[.!?。])\s+|\n", answer):
        words = (
            set(analyzer.terms(sentence)) - analyzer.STOPWORDS
        )  # "what is the" matches any source
        best, best_share = 0, 0.0
        for n, have in enumerate(source_terms, start=1):
            share = len(words & have) / len(words) if words else 0.0
            if share > best_share:
                best, best_share = n, share
        if best and best_share >= min_share and len(words) >= 2:
            body = sentence.rstrip()
            end = body[-1] if body[-1] in ".!?。" else ""
            sentence = f"{body[: len(body) - len(end)]} [{best}]{end}"
            if best not in cited:
                cited.append(best)
        out.append(sentence)
    return "\n".join(out) if "\n" in answer else " ".join(out), cited
