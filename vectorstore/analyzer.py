"""Keyword analysis shared by indexing and querying: words for Latin text, bigrams for Korean.

FTS5's own tokenizers fit Korean badly: `unicode61` keeps particles glued to words
("모델은" never matches "모델"), and `trigram` cannot match two-syllable words, which are
most Korean nouns. Character bigrams over Hangul/CJK runs (as Lucene's CJK analyzer does)
match both, and Latin words stay whole so English BM25 behaves as usual.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

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
)


_STEMMER = snowballstemmer.stemmer("english")
_ASCII_WORD = re.compile(r"^[a-z]+$")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # Porter2 only for plain English words; numbers, codes and other scripts stay as they are.
    return str(_STEMMER.stemWord(word)) if _ASCII_WORD.match(word) else word


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order, duplicates kept (BM25 needs term frequency)."""
    out: list[str] = []
    for run in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()):
        if _CJK.match(run):
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        else:
            out.append(_stem(run))
    return out


# Korean question words and endings ("무엇인가요", "어떻게", "있나요"): as bigrams they are
# rare in documents, so BM25 and the relevance check would weigh them above the content.
_KOREAN_QUESTION = (
    "무엇 무엇인가요 무엇인지 무엇이라고 무슨 뭔가요 어떤 어떻게 어느 얼마 얼마나 얼마인가요 언제 "
    "어디 어디인가요 누구 누가 몇 왜 인가요 있나요 했나요 하나요 되나요 나요 까요 습니까 입니까 "
    "가요 는가요 은가요 되었나요 알려주세요 주세요 설명해 설명해주세요 뭐 뭐야 이름은"
)


def query_terms(text: str) -> list[str]:
    """Distinct query terms, stop and question words dropped unless nothing else is left."""
    seen = dict.fromkeys(terms(text))
    kept = [t for t in seen if t not in _QUERY_STOP]
    return kept or list(seen)


_QUERY_STOP = frozenset(_stem(w) for w in STOPWORDS) | frozenset(
    t for w in _KOREAN_QUESTION.split() for t in terms(w)
)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's terms; None when there are none."""
    words = query_terms(text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
