"""Chunking: headings, paragraphs, sentences, token limits, overlap, Korean."""

from __future__ import annotations

import pytest

from ingest.chunking import chunk_document
from ingest.document import Document, Part
from vectorstore.embedders.hashing import HashEmbedder

COUNT = HashEmbedder().count_tokens


def doc(text: str, fmt: str = "markdown", title: str | None = "Guide") -> Document:
    return Document(id="d", source="d", parts=(Part(text),), title=title, format=fmt)


def test_follows_headings_and_keeps_the_heading_path() -> None:
    text = (
        "# Guide\n\nIntro words here.\n\n## Install\n\nRun make install.\n\n"
        "### Offline\n\nNo network."
    )
    chunks = chunk_document(doc(text), COUNT, max_tokens=50, overlap=5)
    assert [c.context for c in chunks] == ["Guide", "Guide › Install", "Guide › Install › Offline"]
    assert chunks[1].text == "Run make install."
    assert chunks[2].indexed_text == "Guide › Install › Offline\nNo network."


def test_heading_inside_code_fence_is_not_a_heading() -> None:
    text = "# Guide\n\n```bash\n# not a heading\necho hi\n```\n"
    chunks = chunk_document(doc(text), COUNT, max_tokens=50, overlap=5)
    assert len(chunks) == 1 and "# not a heading" in chunks[0].text


def test_no_chunk_exceeds_the_limit_and_no_text_is_lost() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(200)]
    text = " ".join(sentences) + "\n\n" + "x" * 5000  # one huge 'word' too
    chunks = chunk_document(doc(text, "text", None), COUNT, max_tokens=40, overlap=8)
    assert max(COUNT([c.indexed_text for c in chunks])) <= 40
    joined = " ".join(c.text for c in chunks)
    for s in sentences[::17]:
        assert s in joined
    assert sum(c.text.count("x") for c in chunks) >= 5000


def test_overlap_repeats_the_tail_of_the_previous_chunk() -> None:
    text = " ".join(f"Fact {i} is here." for i in range(40))
    chunks = chunk_document(doc(text, "text", None), COUNT, max_tokens=30, overlap=10)
    assert len(chunks) > 2
    last_sentence = chunks[0].text.split(". ")[-1]
    assert last_sentence.rstrip(".") in chunks[1].text


def test_korean_splits_on_sentences_and_fits() -> None:
    text = "## 소개\n\n" + " ".join(f"대규모 언어 모델은 {i}번째 문장입니다." for i in range(60))
    chunks = chunk_document(doc(text, title="한국어 문서"), COUNT, max_tokens=30, overlap=6)
    assert len(chunks) > 3
    assert all(c.context == "한국어 문서 › 소개" for c in chunks)
    assert all(c.text.endswith("다.") for c in chunks)
    assert max(COUNT([c.indexed_text for c in chunks])) <= 30


def test_a_hard_wrapped_paragraph_is_cut_between_sentences_not_at_its_wraps() -> None:
    sentences = [
        f"Sentence number {i} says a few words about chunking wrapped text." for i in range(12)
    ]
    # Wrapped every six words, as an editor wraps Markdown: most wraps fall mid-sentence.
    words = " ".join(sentences).split(" ")
    text = "\n".join(" ".join(words[i : i + 6]) for i in range(0, len(words), 6))
    chunks = chunk_document(doc(text), COUNT, max_tokens=40, overlap=0)
    assert len(chunks) > 2
    for c in chunks:
        assert c.text.startswith("Sentence number") and c.text.endswith("text."), c.text
    # List items keep their own lines: a paragraph of items is still cut between them.
    items = "\n".join(f"- item {i} has no full stop" for i in range(30))
    listed = chunk_document(doc(items), COUNT, max_tokens=40, overlap=0)
    assert len(listed) > 2 and all(c.text.startswith("- item") for c in listed)
    # Notes written a line a thought, with no full stops: lines, not one long sentence.
    notes = "\n".join(f"note {i} has no full stop either" for i in range(30))
    noted = chunk_document(doc(notes), COUNT, max_tokens=40, overlap=0)
    assert len(noted) > 2 and all(c.text.startswith("note") for c in noted)


def test_pdf_pages_stay_separate_and_keep_their_page_numbers() -> None:
    d = Document(
        id="p.pdf",
        source="p.pdf",
        format="text",
        parts=(Part("First page text.", {"page": 1}), Part("Second page text.", {"page": 2})),
    )
    chunks = chunk_document(d, COUNT, max_tokens=50, overlap=5)
    assert [(c.text, c.metadata["page"]) for c in chunks] == [
        ("First page text.", 1),
        ("Second page text.", 2),
    ]


@pytest.mark.parametrize("text", ["", "   \n\n  ", "# Only a heading"])
def test_empty_sections_make_no_chunks(text: str) -> None:
    assert chunk_document(doc(text), COUNT, max_tokens=50, overlap=5) == []
