"""Keyword analysis shared by indexing and querying: words for Latin text, bigrams for Korean.

FTS5's own tokenizers fit Korean badly: `unicode61` keeps particles glued to words
("모델은" never matches "모델"), and `trigram` cannot match two-syllable words, which are
most Korean nouns. Character bigrams over Hangul/CJK runs (as Lucene's CJK analyzer does)
match both, and Latin words stay whole so English BM25 behaves as usual.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import snowballstemmer

from vectorstore.keyword import loanwords

# Bump when terms() changes: stores rebuild their keyword index from the chunk text.
VERSION = "6"  # 6: one stemmer per thread (a shared one mixed up concurrent words)

_HANGUL = "\uac00-\ud7a3\u3130-\u318f"  # syllables and compatibility jamo
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"  # kana, ideographs
_TOKEN = re.compile(
    f"[{_HANGUL}]+|[{_CJK_CHARS}]+"
    f"|[^\\W_{_HANGUL}{_CJK_CHARS}]+",  # any other run of letters/digits
    re.UNICODE,
)
_CJK = re.compile(f"[{_HANGUL}{_CJK_CHARS}]")

# Only dropped from queries: they match nearly every English chunk, cost time and add noise.
STOPWORDS = frozenset(
    "a an and are as at be by can do does did for from how i in into is it its of on or "
    "that the their this to was were what when where which who whom why will with you your "
    "about after also any been but could has have had he her his if me my no not our she "
    "should so some such than then there these they those us we".split()
    # Korean particles left alone when they follow a Latin word ("GPT-1은", "BERT는")
    + "은 는 이 가 을 를 의 에 와 과 도 로 만".split()
)


_ASCII_WORD = re.compile(r"^[a-z]+$")
# One stemmer per thread: a snowballstemmer stemmer keeps the word it is working on in the
# instance, and one shared by the server's worker threads mixed their words up under load
# (an IndexError inside stemWord, a 500 from /api/search; worse, another word's stem,
# which lru_cache then kept for good and the keyword index stored).
_LOCAL = threading.local()


def _stemmer() -> Any:
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # Porter2 only for plain English words; numbers, codes and other scripts stay as they are.
    return str(_stemmer().stemWord(word)) if _ASCII_WORD.match(word) else word


# Model and product names ("GPT-3", "Phi-3", "Llama-2") split into common pieces ("gpt",
# "3"); the joined form is a rare, precise term of its own.
_COMPOUND = re.compile(r"(?<![a-z0-9])([a-z]+)[-_](\d+(?:\.\d+)?[a-z]?)(?![a-z0-9])")


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order, duplicates kept (BM25 needs term frequency)."""
    out: list[str] = []
    normal = unicodedata.normalize("NFKC", text).lower()
    for run in _TOKEN.findall(normal):
        if _CJK.match(run):
            # "트랜스포머의" is "transform" + "의": one term whichever script wrote it, so
            # Korean and English text find each other with the same BM25 weight.
            for piece in loanwords.split(run):
                if isinstance(piece, str):
                    out.extend(_bigrams(piece))
                else:
                    out.extend(_stem(word) for word in piece)
        else:
            out.append(_stem(run))
    out.extend(m.group(1) + m.group(2).replace(".", "") for m in _COMPOUND.finditer(normal))
    return out


# Korean question words and endings ("무엇인가요", "어떻게", "있나요"): as bigrams they are
# rare in documents, so BM25 and the relevance check would weigh them above the content.
# A word that starts with a question word is dropped; a content word loses its ending.
_QUESTION_WORDS = (
    "무엇",
    "무슨",
    "뭔가",
    "뭐",
    "어떤",
    "어떻",
    "어느",
    "얼마",
    "언제",
    "어디",
    "누구",
    "누가",
    "몇",
    "왜",
    "알려",
    "설명해",
)
_QUESTION_ENDINGS = tuple(
    sorted(
        (
            "인가요",
            "인가",
            "인지",
            "인가요?",
            "나요",
            "가요",
            "까요",
            "습니까",
            "입니까",
            "했나요",
            "되었나요",
            "있나요",
            "하나요",
            "되나요",
            "이라고",
            "라고",
            "는가요",
            "은가요",
            "을까요",
            "ㄴ가요",
            "주세요",
            "해주세요",
        ),
        key=len,
        reverse=True,
    )
)
_HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]")


def strip_question(word: str) -> str:
    """A Korean query word without its question ending; "" for a question word."""
    if not _HANGUL_WORD.search(word):
        return word
    core = word.rstrip("?!.,")
    if core.startswith(_QUESTION_WORDS):
        return ""
    for ending in _QUESTION_ENDINGS:
        if core.endswith(ending) and len(core) > len(ending):
            return core[: -len(ending)]
    return core


def query_terms(text: str) -> list[str]:
    """Distinct query terms, stop and question words dropped unless nothing else is left."""
    content = " ".join(strip_question(w) for w in text.split())
    seen = dict.fromkeys(terms(content))
    kept = [t for t in seen if t not in _STOPWORDS_STEMMED]
    return kept or list(dict.fromkeys(terms(text)))


_STOPWORDS_STEMMED = frozenset(_stem(w) for w in STOPWORDS)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's terms; None when there are none."""
    words = query_terms(text)
    return fts_match(words) if words else None


def fts_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression that ORs `words`, each quoted as a literal."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
