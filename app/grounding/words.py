"""The content words of a claim and whether a source passage holds each of them.

English words match by stem, Korean words by their stem with any ending ("학습한다",
"학습합니다" and "학습해요" all hold 학습), and a transliteration matches its English
word both ways (the store's analyzer maps "파라미터" to "parameter").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.rag.language import is_korean
from vectorstore import analyzer

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+")
_LATIN = re.compile(r"[A-Za-z]")
_WORD_EDGE = re.compile(r"^[^\w\uac00-\ud7a3]+|[^\w\uac00-\ud7a3]+$")
_POSSESSIVE = re.compile(r"['’]s?$")
# Particles and the copula that end a Korean word ("수는", "개입니다", "모델이에요"): what
# is left is the word; a one-syllable rest ("수", "개") is a function word.
_ENDINGS = tuple(
    sorted(
        """은 는 이 가 을 를 의 에 와 과 도 로 만 으로 에서 에게 까지 부터 처럼 보다 이란 란
        이에요 예요 입니다 이다 이며 이고 인 이라는 라는 에는 에도 으로는 로는 과는 와는 에서는
        이라고 라고 이나 나 들 들은 들이 들을 들의""".split(),
        key=len,
        reverse=True,
    )
)
# Quantities a claim gets wrong without a digit: "수백 기가바이트" for "페타바이트".
_UNIT_WORDS = ("바이트", "수백", "수천", "수십", "수만", "수억")
# Words that state no fact of their own: connectives, the verbs "to be / to have / to do"
# in their common endings, and what a model says of the documents themselves.
_KOREAN_FUNCTION = frozenset(
    """이 그 저 것 수 등 및 또는 그리고 또한 하지만 그러나 따라서 즉 이는 이것은 이를 이러한 그런
    있습니다 있다 있어요 있는 있으며 있고 없습니다 없다 없는 합니다 한다 해요 하는 하며 하고 하여
    해서 됩니다 된다 돼요 되는 되며 되고 입니다 이다 이며 이고 위해 위한 통해 대한 대해 같은 같이
    매우 더 가장 주로 모두 각각 다른 여러 문서 문서에 문서에서 문서는 따르면 출처 답변 경우
    자료 자료에 자료에서 내용 설명 설명합니다 말합니다 나타냅니다 의미합니다 뜻합니다
    개 개의 개를 개가 개로 가집니다 가지고 가진 가지며 가지는 갖고 갖는 갖습니다 갖는다 가지고있다
    있었습니다 있었다 했습니다 했다 되었습니다 되었다 됐다 됐습니다 하였다 하였습니다 이었다
    였다 였습니다 이었습니다 것입니다 것이다 것은 것을 것이 때문에 때문입니다 경우에 있게
    한 할 될 된 하는데 그리고는 있도록 되어 되어있다 해당 바로 약""".split()
)
_ENGLISH_EXTRA = frozenset(
    """according document documents source sources text passage states state stated says
    said mention mentions mentioned describe describes described explain explains
    also use used using uses one two three more most many much very well just only
    here there way ways called known like sure yes okay ok certainly answer question
    based information provided following note may might must would shall""".split()
)
_STOP_STEMS = frozenset(analyzer.terms(" ".join(sorted(analyzer.STOPWORDS | _ENGLISH_EXTRA))))


@dataclass(frozen=True)
class Word:
    text: str
    terms: frozenset[str]  # the analyzer's terms of the word (stems; loanwords as English)
    hangul: str  # its Hangul run, for matching by stem ("" for a Latin word)
    name: bool  # a name or code ("LoRA", "GPT-3", "OpenAI"): must be found as it is


@dataclass(frozen=True)
class Passage:
    """What a source passage holds, ready for many claims to be matched against."""

    text: str
    terms: frozenset[str]
    hangul: str  # its Hangul with spaces removed: "언어 모델" holds "언어모델"
    korean: bool


def passage(text: str) -> Passage:
    hangul = "".join(_HANGUL_RUN.findall(text))
    return Passage(text, frozenset(analyzer.terms(text)), hangul, is_korean(text))


def content_words(claim: str) -> list[Word]:
    """The words of `claim` that carry its content, in order, each once."""
    out: list[Word] = []
    seen: set[str] = set()
    words = claim.split()
    for i, raw in enumerate(words):
        word = _POSSESSIVE.sub("", _WORD_EDGE.sub("", raw))
        if not word or word in seen or word in _KOREAN_FUNCTION:
            continue
        seen.add(word)
        hangul = "".join(_HANGUL_RUN.findall(word))
        if hangul and not _LATIN.search(word) and word == hangul:
            if hangul in _ENDINGS:
                continue  # "예요" left over after "1.5B"
            for ending in _ENDINGS:
                if hangul.endswith(ending) and len(hangul) > len(ending):
                    if len(hangul) - len(ending) == 1 and not _loan(word):
                        hangul = ""  # "수는", "개입니다": a function word
                    break
            if not hangul:
                continue
        terms = frozenset(t for t in analyzer.terms(word) if t not in _STOP_STEMS)
        latin_terms = frozenset(t for t in terms if not _HANGUL.search(t))
        if hangul and not latin_terms and len(hangul) < 2:
            continue  # a one-syllable word: a particle or a pronoun
        if not hangul and not terms:
            continue
        if not _LATIN.search(word) and not hangul:
            continue  # a bare number: the exact tokens check it
        name = (
            bool(_LATIN.search(word))
            and (
                any(c.isdigit() for c in word)
                or sum(c.isupper() for c in word) >= 2
                or (word[0].isupper() and (i > 0 or is_korean(claim)))
            )
            or any(u in hangul for u in _UNIT_WORDS)
        )
        out.append(Word(word, terms, hangul, name))
    return out


def holds(p: Passage, word: Word) -> bool:
    """Whether the passage holds the word: its stem, its English, or its transliteration."""
    latin = {t for t in word.terms if not _HANGUL.search(t)}
    if latin and latin <= p.terms:
        return True  # "LoRA", "parameters", or "파라미터를" as parameter
    if latin and word.text.lower().endswith("s") and {t.rstrip("s") for t in latin} <= p.terms:
        return True  # "LLMs" where the passage says LLM
    if _LATIN.search(word.text) or not word.hangul:
        return False  # "Anthropic이": the name decides, not its particle
    core = word.hangul
    need = len(core) if len(core) <= 2 else max(2, len(core) - 3)
    for n in range(len(core), need - 1, -1):
        if core[:n] in p.hangul:
            return True
    # A verb's last stem syllable takes the ending's consonant: 줄이 + ㄴ다 is "줄인다",
    # 줄이 + ㅂ니다 "줄입니다"; the stem matches with any final consonant on that syllable.
    n = max(need, 2)
    if len(core) >= n >= 2 and core[: n - 1] in p.hangul:
        return re.search(re.escape(core[: n - 1]) + _same_vowel(core[n - 1]), p.hangul) is not None
    return False


def _same_vowel(syllable: str) -> str:
    """A class of the syllables that differ from `syllable` only in their final consonant."""
    base = 0xAC00 + (ord(syllable) - 0xAC00) // 28 * 28
    return f"[{chr(base)}-{chr(base + 27)}]"


def is_hangul(term: str) -> bool:
    return bool(_HANGUL.search(term))


def _loan(word: str) -> bool:
    return any(not _HANGUL.search(t) for t in analyzer.terms(word))
