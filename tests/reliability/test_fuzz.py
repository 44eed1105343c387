"""Property-based fuzzing of every loader (through load_file, as uploads and the CLI reach
them) and of the chunker: random bytes, text in any encoding, and near-valid Markdown,
HTML, JSONL and PDF. RAGQA_FUZZ_EXAMPLES=N runs N examples per test (default: CI size)."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.pdfgen import canvas

from app.tooling.reliability.loader_contract import (
    CountTokens,
    bundled_token_counter,
    check_chunks,
    exercise,
    load_bytes,
)
from ingest.document import Document, Part
from ingest.loaders import SUPPORTED_SUFFIXES
from tests.reliability.reproducers import FOUND
from vectorstore.embedders.hashing import HashEmbedder

FULL = int(os.environ.get("RAGQA_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> settings:
    """CI-sized unless RAGQA_FUZZ_EXAMPLES says otherwise. The deadline is a hang detector
    (catastrophic regex backtracking, a parser loop), generous for a shared 2-core box."""
    return settings(
        max_examples=FULL or examples,
        deadline=timedelta(seconds=5),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Names as uploads give them: each loader's suffixes, and names that make load_file sniff.
NAMES = [f"fuzz{s}" for s in SUPPORTED_SUFFIXES]
NAMES += ["fuzz", "fuzz.bin", "FUZZ.PDF", "fuzz.png", "fuzz.docx", "fuzz.tar.gz", "notes.MD"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "shift_jis", "utf-7"]
COUNTERS: dict[str, CountTokens] = {
    "minilm": bundled_token_counter(),
    "words": HashEmbedder().count_tokens,
}

# Any code point, lone surrogates well represented: JSON and YAML escapes produce them.
# (A list, not st.text(alphabet): text() merges the alphabets and the weighting is lost.)
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]))


def any_text(min_size: int = 0, max_size: int = 60) -> st.SearchStrategy[str]:
    return st.lists(any_char, min_size=min_size, max_size=max_size).map("".join)


plain_text = st.text(max_size=60)


def encode(text: str, encoding: str) -> bytes:
    """As a file on disk would hold it; lone surrogates pass through as the bad bytes
    some producers really write."""
    try:
        return text.encode(encoding, errors="surrogatepass")
    except UnicodeEncodeError:
        return text.encode(encoding, errors="replace")


def nested(opening: str, closing: str) -> st.SearchStrategy[str]:
    """Brackets a few to thousands deep: recursive parsers (json, PyYAML) hit the
    interpreter's recursion limit on these."""
    return st.integers(1, 5000).map(lambda n: opening * n + closing * n)


md_line = st.one_of(
    plain_text,
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 7), plain_text),
    st.builds(
        lambda k, v: f"{k}: {v}",
        st.from_regex(r"[A-Za-z_][\w-]{0,8}", fullmatch=True),
        st.one_of(plain_text, nested("[", "]"), nested("{a: ", "}")),
    ),
    # YAML escapes in quoted front matter values: "\ud800" is a lone surrogate once parsed.
    st.builds(
        lambda k, code: f'{k}: "a\\u{code}"',
        st.sampled_from(["title", "tags", "x"]),
        st.from_regex(r"[0-9a-fA-F]{4}", fullmatch=True),
    ),
    st.sampled_from(["---", "...", "```", "~~~", "````md", "", "   ", "- item", "  - a", "title:"]),
    st.sampled_from(["date: 2024-02-30", "tags: [a, b", "![alt](x.png){: .c}", "\r", "\u2028"]),
)
md_body = st.lists(md_line, max_size=30).map("\n".join)
# Half the documents open with a front matter block, where the YAML parser gets its turn.
front_matter = st.lists(md_line, max_size=6).map(lambda ls: "---\n" + "\n".join(ls) + "\n---\n")
markdownish = st.builds(lambda head, body: head + body, st.just("") | front_matter, md_body)

html_piece = st.one_of(
    plain_text,
    st.sampled_from(
        [
            "<!doctype html>",
            "<html>",
            "</html>",
            "<head>",
            "</head>",
            "<body>",
            "</body>",
            "<title>",
            "</title>",
            "<p>",
            "</p>",
            "<div>",
            "</div>",
            "<br>",
            "<pre>",
            "<h1>",
            "</h1>",
            "<script>",
            "</script>",
            "<style>",
            "<svg>",
            "<template>",
            "<table><tr><td>",
            '<meta property="og:title" content="',
            '">',
            "<!--",
            "-->",
            "<![CDATA[",
            "&amp;",
            "&#0;",
            "&#xD800;",
            "&#1114112;",
            "<article>",
            "<nav>",
        ]
    ),
    st.sampled_from(
        ["utf-8", "utf-7", "utf-16", "utf-32", "latin-1", "ascii", "x-bogus", "cp1252", "gbk"]
    ).map(lambda c: f'<meta charset="{c}">'),
)
htmlish = st.lists(html_piece, max_size=50).map("".join)

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text(), inner, max_size=3),
    max_leaves=6,
)
# Mostly records that could load (a string id, some text), so the fuzzing gets past the
# checks into what a loaded record carries; the rest breaks one rule or another.
some_text = any_text(min_size=1)
record = st.one_of(
    st.fixed_dictionaries(
        {"id": some_text | st.integers(), "text": some_text},
        optional={"title": any_text() | st.none(), "metadata": json_value, "extra": json_value},
    ),
    st.fixed_dictionaries(
        {"text": st.one_of(any_text(), st.integers(), st.none())},
        optional={
            "id": st.one_of(any_text(), st.integers(), st.booleans(), st.none()),
            "_id": st.one_of(any_text(), st.integers()),
            "title": st.one_of(any_text(), st.none(), st.integers()),
            "metadata": json_value,
        },
    ),
    json_value,
)


def json_line(value: object) -> tuple[object]:
    return (value,)


@st.composite
def jsonl_file(draw: st.DrawFn) -> bytes:
    lines = []
    deep_metadata = nested("[", "]").map(lambda m: f'{{"id": "d", "text": "t", "metadata": {m}}}')
    broken = st.one_of(st.sampled_from(["", "{", "nope"]), nested("[", "]"), deep_metadata)
    for item in draw(st.lists(st.one_of(record.map(json_line), broken), max_size=8)):
        if isinstance(item, tuple):  # a record: with \u escapes or raw characters
            item = json.dumps(item[0], ensure_ascii=draw(st.booleans()))
        lines.append(encode(item, "utf-8"))
    return b"\n".join(lines)


def _pdf_seed() -> bytes:
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pageCompression=0)  # plain content streams: mutable text
    pdf.setTitle("Seed")
    for text in ("First page of the seed.", "Second page, with more words."):
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


PDF_SEED = _pdf_seed()


@st.composite
def mutated_pdf(draw: st.DrawFn) -> bytes:
    """The seed with a few bytes overwritten and perhaps cut short: past the header, into
    the object and xref parsing where pypdf's own errors live."""
    data = bytearray(PDF_SEED)
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.just(len(data)) | st.integers(len(data) // 2, len(data)))
    return bytes(data[:cut])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz")


def run(data: bytes, name: str, folder: Path) -> None:
    exercise(data, name, folder, COUNTERS["minilm"], max_tokens=64, overlap=8)


@fuzz(300)
@given(data=st.binary(max_size=2048), name=st.sampled_from(NAMES))
def test_random_bytes_load_or_raise_loader_error(data: bytes, name: str, folder: Path) -> None:
    run(data, name, folder)


@fuzz(200)
@given(
    text=any_text(max_size=800),
    encoding=st.sampled_from(ENCODINGS),
    name=st.sampled_from(NAMES),
)
def test_text_in_any_encoding(text: str, encoding: str, name: str, folder: Path) -> None:
    run(encode(text, encoding), name, folder)


@fuzz(200)
@given(text=markdownish, name=st.sampled_from(["fuzz.md", "fuzz.txt", "fuzz", "fuzz.markdown"]))
def test_markdown_like_text(text: str, name: str, folder: Path) -> None:
    run(encode(text, "utf-8"), name, folder)


@fuzz(100)
@given(page=htmlish, encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_html_like_pages(page: str, encoding: str, folder: Path) -> None:
    run(encode(page, encoding), "fuzz.html", folder)


@fuzz(200)
@given(data=jsonl_file(), gz=st.booleans(), cut=st.integers(0, 64))
def test_jsonl_records(data: bytes, gz: bool, cut: int, folder: Path) -> None:
    if gz:  # and sometimes truncated: a download that stopped
        packed = gzip.compress(data)
        run(packed[: len(packed) - cut], "fuzz.jsonl.gz", folder)
    else:
        run(data, "fuzz.jsonl", folder)


@fuzz(100)
@given(data=mutated_pdf(), name=st.sampled_from(["fuzz.pdf", "fuzz"]))
def test_damaged_pdfs(data: bytes, name: str, folder: Path) -> None:
    run(data, name, folder)


@pytest.mark.parametrize("case", sorted(FOUND))
def test_what_fuzzing_found_loads_or_is_refused(case: str, folder: Path) -> None:
    name, data = FOUND[case]
    result = load_bytes(data, name, folder)  # the contract is checked inside
    if "nested" in case and name.endswith(".jsonl"):
        assert result is None  # the only record is too deep: refused, with the reason
    else:
        assert result is not None and result.documents[0].parts[0].text


def test_the_seeds_load(folder: Path) -> None:
    """The mutators start from inputs that load: otherwise they only test the error path."""
    pdf = load_bytes(PDF_SEED, "seed.pdf", folder)
    assert pdf is not None and len(pdf.documents[0].parts) == 2
    md = load_bytes(b"---\ntitle: T\n---\n# Head\n\nBody text.\n", "seed.md", folder)
    assert md is not None and md.documents[0].title == "T"
    record_file = json.dumps({"id": "r1", "text": "Record text."}).encode()
    records = load_bytes(gzip.compress(record_file), "seed.jsonl.gz", folder)
    assert records is not None and records.documents[0].id == "r1"


@fuzz(300)
@given(
    texts=st.lists(st.one_of(st.text(max_size=1500), markdownish), min_size=1, max_size=3),
    markdown=st.booleans(),
    title=st.none() | st.text(max_size=120),
    max_tokens=st.sampled_from([32, 64, 254]),
    overlap=st.integers(0, 16),
    counter=st.sampled_from(sorted(COUNTERS)),
)
def test_chunks_are_non_blank_fit_and_cover_the_text(
    texts: list[str],
    markdown: bool,
    title: str | None,
    max_tokens: int,
    overlap: int,
    counter: str,
) -> None:
    doc = Document(
        id="d",
        source="d",
        parts=tuple(Part(t) for t in texts),
        title=title,
        format="markdown" if markdown else "text",
    )
    check_chunks(doc, COUNTERS[counter], max_tokens, overlap)
