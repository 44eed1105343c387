"""A token count without a tokenizer, biased high so a prompt built on it never overflows."""

from __future__ import annotations

import re

_WORDS = re.compile(r"\S+|\s+")
# Inside a word: runs of ASCII letters, then any other single character.
_PIECES = re.compile(r"[A-Za-z]+|.", re.DOTALL)
# A word as prose writes it: lower case, Capitalised or ALL CAPS.
_PLAIN_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+")
_LETTER_AND_DIGIT = re.compile(r"(?=.*[A-Za-z])(?=.*\d)")


def estimate_tokens(text: str) -> int:
    """At least as many tokens as common subword tokenizers produce, for ordinary text.

    BPE and SentencePiece vocabularies give an English word 1-2 tokens; one per three
    letters over-counts prose about 1.5x, which also covers rare words and names. Words
    in mixed case (camelCase) count one per two letters. Letters mixed with digits (base64,
    hashes, version strings) tokenize in bits of a character or two, so such a word counts
    one per byte. Digits and punctuation can each be a token (Llama splits numbers into
    digits): one each. Any other character counts its UTF-8 bytes: byte-level vocabularies
    fall back to single bytes for scripts they saw little of, and no token is shorter than
    a byte. A single space joins the word after it unless that starts with a sign or digit.
    """
    total = 0
    parts = _WORDS.findall(text)
    for i, part in enumerate(parts):
        if part.isspace():
            if part == " ":
                following = parts[i + 1][0] if i + 1 < len(parts) else ""
                total += 0 if following.isascii() and following.isalpha() else 1
            else:  # indentation, line breaks
                total += -(-len(part) // 2)
        elif _LETTER_AND_DIGIT.match(part):
            total += len(part.encode("utf-8"))
        else:
            total += sum(_piece_tokens(p) for p in _PIECES.findall(part))
    return total


def _piece_tokens(piece: str) -> int:
    if piece[0].isascii() and piece[0].isalpha():
        return -(-len(piece) // (3 if _PLAIN_WORD.fullmatch(piece) else 2))
    return len(piece.encode("utf-8"))
