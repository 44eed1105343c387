"""Which language a question is in, for answering in kind (Korean or English here)."""

from __future__ import annotations

import re

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LETTER = re.compile(r"[^\W\d_]")


def is_korean(text: str) -> bool:
    """True when Hangul makes up a fair share of the letters (mixed text counts)."""
    letters = len(_LETTER.findall(text))
    return letters > 0 and len(_HANGUL.findall(text)) / letters >= 0.3


def not_found_message(question: str) -> str:
    if is_korean(question):
        return "문서에서 이 질문에 대한 답을 찾을 수 없습니다."
    return "I could not find the answer to this question in the documents."
