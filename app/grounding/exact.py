"""Exact tokens of a claim: numbers (in any notation), dates, URLs, e-mail addresses and
runs of Chinese characters or kana.

A small model's inventions are mostly of this kind (a year, a count, a link), and each
must occur in a source as written there, up to notation: "1,750억", "175B" and "175
billion" are one number; "2020.06.11", "2020년 6월 11일" and "June 11, 2020" one date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]\"'`]+", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Hanja and kana: the analyzer has no terms for them, so a model that slips into them
# ("日本이", "사체나路桥가") would pass unread; each run must occur in a source as written.
SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_SCALE = {
    "만": 1e4,
    "억": 1e8,
    "조": 1e12,
    "천": 1e3,
    "백": 1e2,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "k": 1e3,
    "m": 1e6,
    "b": 1e9,
    "t": 1e12,
}
# A number, then perhaps a scale word or letter glued or spaced ("175B", "1,750억",
# "3.8 billion"); "천억" and "만 개" are scales too. Digits inside words ("GPT-3",
# "Phi-3", "v2", "fp16") are names, not quantities, and are checked as words.
_NUMBER = re.compile(
    r"(?<![\w.\-@])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:\s?(천억|천만|백만|만|억|조|천|백|thousand|million|billion|trillion|[kmbt])(?![a-z]))?"
    # A unit is part of the number as written ("10 TB", "16퍼센트"), not a word to find.
    r"(\s?(?:%|퍼센트|percent|[kmgtp]i?b|bytes?|ms|tokens?)(?![a-z]))?",
    re.IGNORECASE,
)
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATES = [
    # 2020.06.11, 2020-06-11, 2020/6/11
    (re.compile(r"(?<!\d)(\d{4})[./-](\d{1,2})[./-](\d{1,2})(?!\d)"), ("y", "m", "d")),
    # 2020년 6월 11일, 2020년 6월
    (re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월(?:\s*(\d{1,2})\s*일)?"), ("y", "m", "d")),
    # June 11, 2020 / June 2020
    (
        re.compile(
            rf"\b({_MONTH_NAMES})\.?\s+(?:(\d{{1,2}})(?:st|nd|rd|th)?,?\s+)?(\d{{4}})\b", re.I
        ),
        ("m", "d", "y"),
    ),
    # 11 June 2020
    (re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_NAMES})\.?,?\s+(\d{{4}})\b", re.I), ("d", "m", "y")),
    # 2020.06 / 2020-06 (a month)
    (re.compile(r"(?<![\d.])(\d{4})[./-](\d{1,2})(?![\d./-])"), ("y", "m")),
]


_NAME_DIGITS = re.compile(r"(?<=[A-Za-z_-])\d+(?:\.\d+)?|\d+(?:\.\d+)?(?=[A-Za-z])")


@dataclass(frozen=True)
class Exact:
    kind: str  # "number", "date", "url", "email", "script"
    text: str  # as written in the claim
    values: frozenset[str]  # normal forms: any one found in a source supports it


def _scaled(digits: str, decimals: str | None, scale: str | None) -> float:
    value = float(digits.replace(",", "") + (decimals or ""))
    if scale:
        s = scale.lower()
        factor = 1.0
        for ch in (s,) if s in _SCALE else tuple(s):  # "천억" is 천 x 억
            factor *= _SCALE[ch]
        value *= factor
    return value


def _norm(value: float) -> str:
    return f"{value:.6g}"


def _date_key(parts: dict[str, str]) -> str:
    year = parts.get("y")
    month = parts.get("m", "")
    month_n = _MONTHS.get(month.lower().rstrip("."), 0) if not month.isdigit() else int(month)
    day = parts.get("d")
    return "date:" + "-".join(str(int(p)) for p in (year, month_n, day) if p)


def dates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normal form) of each date, the longest reading of each place."""
    found: list[tuple[int, int, str]] = []
    for pattern, fields in _DATES:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in found):
                continue
            parts = {f: g for f, g in zip(fields, m.groups(), strict=True) if g}
            month = parts.get("m", "1")
            if month.isdigit() and not 1 <= int(month) <= 12:
                continue
            found.append((m.start(), m.end(), _date_key(parts)))
    return found


def exact_tokens(text: str) -> list[Exact]:
    """The exact tokens a claim makes, each with the normal forms that support it."""
    out: list[Exact] = []
    taken: list[tuple[int, int]] = []
    for m in URL.finditer(text):
        url = m.group().rstrip(".,;:!?")
        out.append(Exact("url", url, frozenset({_url_key(url)})))
        taken.append((m.start(), m.end()))
    for m in EMAIL.finditer(text):
        if not _inside(m.start(), m.end(), taken):
            out.append(Exact("email", m.group(), frozenset({m.group().lower()})))
            taken.append((m.start(), m.end()))
    for start, end, key in dates(text):
        if not _inside(start, end, taken):
            out.append(Exact("date", text[start:end], frozenset({key})))
            taken.append((start, end))
    for m in SCRIPT.finditer(text):
        if not _inside(m.start(), m.end(), taken):
            out.append(Exact("script", m.group(), frozenset({"script:" + m.group()})))
    for m in _NUMBER.finditer(text):
        if _inside(m.start(), m.end(), taken):
            continue
        digits, decimals, scale, unit = m.group(1), m.group(2), m.group(3), m.group(4)
        value = _scaled(digits, decimals, scale)
        forms = {_norm(value)}
        if unit and unit.strip().lower() in ("%", "퍼센트", "percent"):
            forms.add(_norm(value / 100))  # "98.2%" is the source's "0.982"
        out.append(Exact("number", m.group().strip(), frozenset(forms)))
    return out


def source_values(text: str) -> frozenset[str]:
    """Every normal form a source supports: its numbers (as written and each part of a
    date on its own too), dates (and their year-month), URLs, addresses and Hanja/kana
    runs."""
    values: set[str] = set()
    taken: list[tuple[int, int]] = []
    for m in URL.finditer(text):
        values.add(_url_key(m.group().rstrip(".,;:!?")))
        taken.append((m.start(), m.end()))
    for m in EMAIL.finditer(text):
        values.add(m.group().lower())
    values.update("script:" + m.group() for m in SCRIPT.finditer(text))
    for start, end, key in dates(text):
        values.add(key)
        parts = key.split(":")[1].split("-")
        values.add("date:" + parts[0])
        if len(parts) >= 2:
            values.add("date:" + "-".join(parts[:2]))
        values.update(_norm(float(p)) for p in parts)
        taken.append((start, end))
    for m in _NUMBER.finditer(text):
        digits, decimals, scale = m.group(1), m.group(2), m.group(3)
        values.add(_norm(_scaled(digits, decimals, scale)))
        if m.group(4) and m.group(4).strip() == "%":
            values.add(_norm(_scaled(digits, decimals, scale) / 100))
        if scale:  # "1,750억 개" also states 1,750 of something
            values.add(_norm(_scaled(digits, decimals, None)))
    for m in _NAME_DIGITS.finditer(text):  # "GPT-3" states 3 as much as "3배" does
        values.add(_norm(float(m.group())))
    # A lone year in the claim ("in 2020") is a date too.
    values.update("date:" + v for v in list(values) if re.fullmatch(r"(19|20)\d\d", v))
    return frozenset(values)


def supported(token: Exact, values: Iterable[str]) -> bool:
    have = set(values)
    if token.kind == "date":
        return bool(token.values & have)
    if token.kind == "script":  # "世親" is held by a source's "世親은" and "世親論"
        return any(v.startswith("script:") and token.text in v for v in have)
    return bool(token.values & have) or (
        token.kind == "number" and any("date:" + v in have for v in token.values)
    )


def _url_key(url: str) -> str:
    key = re.sub(r"^https?://", "", url.lower())
    return "url:" + re.sub(r"^www\.", "", key).rstrip("/")


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


_KOREAN_SCALED = re.compile(
    r"(?<![\w.\-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?(천억|천만|백만|만|억|조)(?:\s?개)?"
)
_ENGLISH_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand"))


def in_english(text: str) -> str:
    """Korean-scaled numbers also said in English: "1,750억" -> "175 billion (1,750억)"."""

    def say(m: re.Match[str]) -> str:
        value = _scaled(m.group(1), m.group(2), m.group(3))
        for scale, word in _ENGLISH_SCALES:
            if value >= scale:
                return f"{value / scale:g} {word} ({m.group()})"
        return m.group()

    return _KOREAN_SCALED.sub(say, text)
