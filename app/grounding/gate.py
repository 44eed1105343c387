"""Checking a generated answer while it streams: a sentence is let through once checked.

A token stream cannot take back what it sent, so each sentence waits until it is
complete (and its trailing [n] are in), is checked against the sources, and is then
released with its citations corrected, or held back when its sources do not support it.
Sentences that claim nothing ("Sure.") wait for the next supported one, so an answer
with no supported claim streams nothing and its replacement is the whole answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.grounding import sentences
from app.grounding.checker import SentenceCheck, SupportReport, check_sentence
from app.grounding.exact import in_english
from app.grounding.windows import prepare
from app.rag.language import is_korean

Policy = Literal["drop", "mark", "off"]
_END = (".", "!", "?", "。")


def recite(text: str, citations: Sequence[int]) -> str:
    """`text` with its markers replaced by `citations`, before its closing punctuation."""
    text = sentences.FRAME.sub("", text)
    body = " ".join(sentences.MARKER.sub(" ", text).split(" ")).rstrip()
    body = " ".join(body.split()) if "\n" not in body else body
    if not citations:
        return body
    marks = "".join(f"[{n}]" for n in citations)
    if body.endswith(_END):
        return f"{body[:-1].rstrip()} {marks}{body[-1]}"
    return f"{body} {marks}"


@dataclass
class StreamCheck:
    """Feed it the generator's pieces; it yields the text to stream, checked."""

    sources: Sequence[str]
    contexts: Sequence[str]
    policy: Policy = "drop"
    question: str = ""  # what was asked: the words a sentence adds to it are its answer
    # Whether a supported sentence (its text read with the source sentence that supports
    # it, and its check) is about what was asked: until one is, supported sentences wait
    # with the non-claims.
    on_topic: Callable[[str, SentenceCheck], bool] | None = None
    report: SupportReport = field(default_factory=SupportReport)
    raw: str = ""
    _done: int = 0  # offset in `raw` up to which sentences were judged
    shown: list[bool] = field(default_factory=list)  # per sentence of `report`: streamed
    _waiting: list[tuple[int, int, str]] = field(default_factory=list)  # non-claims held
    _sent: list[str] = field(default_factory=list)
    _last_end: int = -1  # where the last sentence streamed ends in `raw`
    answered: bool = False  # a sentence about what was asked has been streamed

    def __post_init__(self) -> None:
        self._prepared = prepare(self.sources, self.contexts, self.question)

    def feed(self, piece: str) -> Iterator[str]:
        self.raw += piece
        if self.policy == "off":
            self._sent.append(piece)
            yield piece
            return
        spans = sentences.split(self.raw[self._done :])
        if len(spans) < 2 or spans[-1].text.startswith("["):
            return  # the last sentence may be unfinished, or still getting its markers
        for span in spans[:-1]:
            yield from self._judge(span, self._done)
        self._done += spans[-1].start

    def finish(self) -> Iterator[str]:
        if self.policy == "off":
            return
        for span in sentences.split(self.raw[self._done :]):
            yield from self._judge(span, self._done)
        self._done = len(self.raw)

    @property
    def text(self) -> str:
        """What was streamed: the answer as checked."""
        return "".join(self._sent).strip()

    @property
    def supported_claims(self) -> int:
        return sum(1 for s in self.report.sentences if s.claim and s.supported)

    def _judge(self, span: sentences.Span, base: int) -> Iterator[str]:
        shifted = sentences.Span(span.text, span.start + base, span.end + base)
        check = check_sentence(shifted, self._prepared)
        index = len(self.report.sentences)
        self.report.sentences.append(check)
        self.shown.append(False)
        out = self._render(check)
        if out is None:
            return
        if not check.claim or not self._about_it(check, out):
            self._waiting.append((index, shifted.start, out))
            return
        self.answered = True
        for i, start, text in [*self._waiting, (index, shifted.start, out)]:
            gap = self.raw[max(self._last_end, 0) : start]
            joint = ("\n" if "\n" in gap else " ") if self._sent else ""
            self._sent.append(joint + text)
            self.shown[i] = True
            self._last_end = start + len(text)
            yield joint + text
        self._waiting.clear()
        self._last_end = shifted.end

    def _about_it(self, check: SentenceCheck, out: str) -> bool:
        if self.answered or self.on_topic is None or not check.supported:
            return True
        backing = ""
        if check.source and check.source_start is not None and check.source_end is not None:
            backing = self.sources[check.source - 1][check.source_start : check.source_end]
        return self.on_topic(f"{out}\n{backing}", check)

    def _render(self, check: SentenceCheck) -> str | None:
        if check.claim and not check.supported:
            return None if self.policy == "drop" else sentences.MARKER.sub("", check.text).strip()
        if not check.claim:
            # One the check gives a reason to leave out (it only says the question again)
            # is never shown; the others ("Sure.") wait for the next supported sentence.
            return None if check.reason else check.text
        text = recite(check.text, check.citations)
        # An English sentence copying a Korean note's "1,750억" says it in English too.
        return text if is_korean(text) else in_english(text)
