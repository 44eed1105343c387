"""Tests for ingest.loaders: each format from real files, and each way a file can fail."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import trafilatura
from pypdf import PdfWriter
from reportlab.pdfgen import canvas

from ingest.document import Document, LoaderError, UnsupportedContent
from ingest.loaders import MAX_ERRORS, LoadResult, is_supported, load_file

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _one(result: LoadResult) -> Document:
    assert len(result.documents) == 1
    assert result.errors == [] and result.skipped == 0
    return result.documents[0]


def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _pdf(path: Path, pages: list[str | None], title: str | None = None) -> Path:
    """A real PDF with one page per entry; None makes a page with a drawing but no text."""
    pdf = canvas.Canvas(str(path))
    if title is not None:
        pdf.setTitle(title)
    for text in pages:
        if text is None:
            pdf.rect(100, 100, 200, 200, fill=1)
        else:
            pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return path


# --- choosing a loader ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "supported"),
    [
        ("a.md", True),
        ("A.MARKDOWN", True),
        ("notes.txt", True),
        ("page.htm", True),
        ("page.HTML", True),
        ("paper.pdf", True),
        ("corpus.jsonl", True),
        ("corpus.jsonl.gz", True),
        ("archive.gz", False),
        ("sheet.docx", False),
        ("Makefile", False),
    ],
)
def test_is_supported(name: str, supported: bool) -> None:
    assert is_supported(Path(name)) is supported


def test_unsupported_suffix_is_a_loader_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "sheet.docx", "PK not really")
    with pytest.raises(LoaderError, match="unsupported file type '.docx'"):
        load_file(path, "sheet.docx")


def test_missing_file_is_a_loader_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="cannot read file"):
        load_file(tmp_path / "gone.md", "gone.md")


@pytest.mark.parametrize("name", ["empty.md", "empty.txt", "empty.html", "empty.jsonl"])
def test_empty_file_is_a_loader_error(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, "  \n\n")
    with pytest.raises(LoaderError, match="empty file"):
        load_file(path, name)


# --- text and Markdown ---------------------------------------------------------------


def test_markdown_fixture(tmp_path: Path) -> None:
    doc = _one(load_file(FIXTURES / "sourdough.md", "fixtures/sourdough.md"))
    assert doc.id == doc.source == "fixtures/sourdough.md"
    assert doc.format == "markdown"
    assert doc.title == "Keeping a Sourdough Starter"
    assert doc.metadata == {"tags": ["baking", "fermentation"], "encoding": "utf-8"}
    assert doc.text.startswith("# Sourdough starter basics")
    assert "title:" not in doc.text and "---" not in doc.text
    assert "## Feeding schedule" in doc.text


def test_title_is_first_level_one_heading_outside_code(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "guide.md",
        "```python\n# not the title\n```\n\n## Section first\n\n# Real Title #\n\nBody.\n",
    )
    assert _one(load_file(path, "guide.md")).title == "Real Title"


def test_title_falls_back_to_the_stem_of_the_document_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "tmp123.txt", "Just a sentence about rivers.\n")
    doc = _one(load_file(path, "docs/river-notes.txt"))
    assert doc.title == "river-notes"
    assert doc.format == "text"
    assert doc.metadata == {"encoding": "utf-8"}


def test_utf8_bom_and_crlf_are_removed(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.txt", b"\xef\xbb\xbfFirst line\r\nSecond line\r\n")
    assert _one(load_file(path, "bom.txt")).text == "First line\nSecond line"


def test_korean_markdown_fixture_with_front_matter() -> None:
    doc = _one(load_file(FIXTURES / "kimchi-ko.md", "kimchi-ko.md"))
    assert doc.title == "김장 준비 노트"
    assert doc.metadata == {"lang": "ko", "encoding": "utf-8"}
    assert doc.text.startswith("# 김장 준비 노트")
    assert "## 배추 절이기" in doc.text


def test_txt_with_front_matter_and_headings_is_markdown(tmp_path: Path) -> None:
    # The shape of the blog notes in the shared corpus: Jekyll front matter that is not
    # valid YAML, image lines with kramdown attributes, Markdown in a .txt file.
    note = (
        "---\n"
        'title:  "[TIL] day 12: attention" \n'
        "categories: [TIL] notes\n"
        "tags:\n"
        "    - TIL\n"
        "    - LLM\n"
        "toc: true\n"
        "---\n"
        "\n"
        '![diagram](/assets/images/attn.png){: .align-center style="width:35%;"}\n'
        "\n"
        "## Self-attention\n"
        "Each token attends to every other token. See ![](https://x.test/a.png) here.\n"
    )
    doc = _one(load_file(_write(tmp_path / "note.txt", note), "note.txt"))
    assert doc.format == "markdown"
    assert doc.title == "[TIL] day 12: attention"
    assert doc.metadata["tags"] == ["TIL", "LLM"]
    assert doc.metadata["toc"] == "true"
    assert doc.text == (
        "diagram\n\n## Self-attention\nEach token attends to every other token. See  here."
    )


def test_yaml_front_matter_values_are_json_friendly(tmp_path: Path) -> None:
    text = "---\ntitle: 'Q'\ndate: 2024-03-29\nweight: 3\nnested: {a: 1}\n---\nBody text.\n"
    doc = _one(load_file(_write(tmp_path / "q.md", text), "q.md"))
    assert doc.title == "Q"
    assert doc.metadata == {"date": "2024-03-29", "weight": 3, "encoding": "utf-8"}
    json.dumps(doc.metadata)


def test_leading_rule_that_is_not_front_matter_is_kept(tmp_path: Path) -> None:
    text = "---\nA paragraph between two rules.\n---\n\nMore text.\n"
    doc = _one(load_file(_write(tmp_path / "rules.md", text), "rules.md"))
    assert doc.text == text.strip()


def test_front_matter_only_is_a_loader_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "fm.md", "---\ntitle: Nothing here\n---\n\n")
    with pytest.raises(LoaderError, match="no text"):
        load_file(path, "fm.md")


def test_cp949_korean_text_is_decoded(tmp_path: Path) -> None:
    text = (
        "조수 웅덩이에는 말미잘과 소라게가 산다. 물이 빠지면 말미잘은 촉수를 오므려 "
        "수분을 지키고, 소라게는 몸이 커질 때마다 더 큰 껍데기로 옮겨 간다.\n"
    )
    path = _write(tmp_path / "pools.txt", text.encode("cp949"))
    doc = _one(load_file(path, "pools.txt"))
    assert doc.text == text.strip()
    assert doc.metadata["encoding"] in {"cp949", "euc_kr"}


def test_latin1_text_is_decoded(tmp_path: Path) -> None:
    text = "Le café sert une crème brûlée. Sa façade est bleue, déjà vue à Noël.\n"
    path = _write(tmp_path / "cafe.txt", text.encode("latin-1"))
    doc = _one(load_file(path, "cafe.txt"))
    assert doc.text == text.strip()
    assert doc.metadata["encoding"] == "cp1252"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        bytes(range(256)) * 8,
        b"\x01\x02\x03\x04\x05\x06\x07\x08" * 100 + b"some words",
    ],
    ids=["png", "all-bytes", "control-characters"],
)
def test_binary_file_named_txt_is_a_loader_error(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path / "image.txt", data)
    with pytest.raises(LoaderError, match="looks binary|the file is a PNG image"):
        load_file(path, "image.txt")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("photo.md", b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        ("bundle.txt", b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive"),
        ("report.pdf", b"Just some text pretending to be a PDF.", "not a PDF"),
        ("notes.md", b"\x1f\x8b\x08\x00compressed", "gzip data"),
        ("setup.exe", b"plain words in an exe", "unsupported file type '.exe'"),
    ],
)
def test_content_decides_what_no_loader_reads(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = _write(tmp_path / "upload.bin", data)
    with pytest.raises(UnsupportedContent, match=reason):
        load_file(path, name)


def test_content_decides_the_loader(tmp_path: Path) -> None:
    # A PDF under a text name is read as a PDF; text without a known suffix as text.
    pdf = _pdf(tmp_path / "paper.txt", ["Photosynthesis turns light into sugar."])
    assert "Photosynthesis" in load_file(pdf, "paper.txt").documents[0].text
    notes = _write(tmp_path / "NOTES", "The lighthouse keeper logs every ship.")
    assert load_file(notes, "NOTES").documents[0].text.startswith("The lighthouse")
    page = _write(tmp_path / "page", "<!DOCTYPE html><html><body><p>Tide tables</p></body></html>")
    assert load_file(page, "page").documents[0].text == "Tide tables"


# --- HTML ----------------------------------------------------------------------------


def test_html_main_text_without_boilerplate() -> None:
    doc = _one(load_file(FIXTURES / "lighthouse.html", "lighthouse.html"))
    assert doc.title == "How Lighthouses Work"
    assert doc.format == "markdown"
    assert "## The Fresnel lens" in doc.text
    assert "concentric rings of glass prisms" in doc.text
    assert "trimming wicks" in doc.text
    for boilerplate in ("Subscribe", "Archive", "Copyright", "Privacy policy", "Cookie"):
        assert boilerplate not in doc.text
    assert "<p>" not in doc.text


def test_html_title_from_title_tag_and_declared_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
        "<title>등대 이야기</title></head><body><article><h1>등대</h1>"
        "<p>등대는 밤에 배가 안전하게 항구로 들어올 수 있도록 빛을 비춘다. 등대마다 "
        "깜빡이는 방식이 달라서 선원들은 해도를 보고 어느 등대인지 알아낸다.</p>"
        "</article></body></html>"
    )
    doc = _one(load_file(_write(tmp_path / "ko.html", page.encode("euc-kr")), "ko.html"))
    assert doc.title == "등대 이야기"
    assert doc.metadata["encoding"] == "euc_kr"
    assert "해도를 보고" in doc.text


@pytest.mark.parametrize(
    ("declared", "encoded_as", "expected"),
    [
        # Browsers read a Latin-1 label as windows-1252, where 0x92 is a quotation mark.
        ("iso-8859-1", "cp1252", "cp1252"),
        # A page wrong about its own encoding is detected instead of garbled.
        ("utf-8", "cp949", "cp949"),
    ],
)
def test_html_declared_charset_is_checked(
    tmp_path: Path, declared: str, encoded_as: str, expected: str
) -> None:
    body = (
        "The keeper’s log records every ship that passed the light in winter."
        if encoded_as == "cp1252"
        else "등대지기의 일지에는 겨울 동안 등대 앞을 지나간 모든 배가 기록되어 있다. "
        "날씨가 나쁜 날에는 안개 경적을 울린 시간도 함께 적었다."
    )
    page = f'<html><head><meta charset="{declared}"></head><body><p>{body}</p></body></html>'
    doc = _one(load_file(_write(tmp_path / "p.html", page.encode(encoded_as)), "p.html"))
    assert doc.metadata["encoding"] == expected
    assert body in doc.text


def test_html_falls_back_to_body_text_when_trafilatura_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # trafilatura gives up on very few real pages, so it is made to give up here.
    monkeypatch.setattr(trafilatura, "extract", lambda *args, **kwargs: None)
    page = (
        "<html><head><title>T</title><style>p { color: red }</style></head><body>"
        "<script>var hidden = 1;</script><p>First <b>bold</b> paragraph.</p>"
        "<ul><li>alpha</li><li>beta</li></ul></body></html>"
    )
    doc = _one(load_file(_write(tmp_path / "list.htm", page), "list.htm"))
    assert doc.format == "text"
    assert doc.text == "First bold paragraph.\nalpha\nbeta"
    assert doc.title == "T"


def test_html_without_any_text_is_a_loader_error(tmp_path: Path) -> None:
    page = "<html><head><title>x</title><script>var a = 1;</script></head><body></body></html>"
    with pytest.raises(LoaderError, match="no text in HTML"):
        load_file(_write(tmp_path / "blank.html", page), "blank.html")


def test_binary_file_named_html_is_a_loader_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.html", b"\x00\x01\x02<html>" * 50)
    with pytest.raises(LoaderError, match="looks binary"):
        load_file(path, "x.html")


# --- PDF -----------------------------------------------------------------------------


def test_pdf_has_one_part_per_page_with_text(tmp_path: Path) -> None:
    path = _pdf(
        tmp_path / "paper.pdf",
        ["Page one talks about tides.", None, "Page three talks about moons."],
        title="Tides and Moons",
    )
    doc = _one(load_file(path, "papers/paper.pdf"))
    assert doc.title == "Tides and Moons"
    assert [p.metadata for p in doc.parts] == [{"page": 1}, {"page": 3}]
    assert "tides" in doc.parts[0].text and "moons" in doc.parts[1].text
    assert doc.metadata == {"pages": 3}


def test_pdf_without_a_title_uses_the_stem(tmp_path: Path) -> None:
    doc = _one(load_file(_pdf(tmp_path / "a.pdf", ["Some text."]), "reports/q3.pdf"))
    assert doc.title == "q3"


def test_pdf_without_text_is_a_loader_error(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(LoaderError, match=r"no extractable text \(scanned PDF\?\)"):
        load_file(path, "scan.pdf")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\nthis is not a real pdf body\n", "malformed PDF"),
        (b"<html>not a pdf at all</html>", "not a PDF"),
    ],
)
def test_malformed_pdf_is_a_loader_error(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(LoaderError, match=reason):
        load_file(_write(tmp_path / "bad.pdf", data), "bad.pdf")


def test_truncated_pdf_is_a_loader_error(tmp_path: Path) -> None:
    data = _pdf(tmp_path / "whole.pdf", ["Text that will be cut off."]).read_bytes()
    path = _write(tmp_path / "cut.pdf", data[: len(data) // 3])
    with pytest.raises(LoaderError, match="PDF"):
        load_file(path, "cut.pdf")


def test_encrypted_pdf_needs_a_password(tmp_path: Path) -> None:
    source = _pdf(tmp_path / "plain.pdf", ["Secret text."])
    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password="hunter2", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(LoaderError, match="encrypted PDF"):
        load_file(tmp_path / "locked.pdf", "locked.pdf")


def test_pdf_encrypted_with_empty_password_opens(tmp_path: Path) -> None:
    source = _pdf(tmp_path / "plain.pdf", ["Readable text."])
    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    writer.write(tmp_path / "restricted.pdf")
    doc = _one(load_file(tmp_path / "restricted.pdf", "restricted.pdf"))
    assert doc.text == "Readable text."


# --- JSONL ---------------------------------------------------------------------------


def test_jsonl_fixture_one_document_per_record() -> None:
    result = load_file(FIXTURES / "records.jsonl", "fixtures/records.jsonl")
    assert result.errors == [] and result.skipped == 0
    assert [d.id for d in result.documents] == ["bees-1", "tea-1", "glacier-1"]
    bees, _, glacier = result.documents
    assert bees.source == "fixtures/records.jsonl"
    assert bees.title == "Honeybee waggle dance"
    assert bees.metadata == {"topic": "insects"}
    assert bees.text.startswith("Forager honeybees")
    assert glacier.title is None


def _records(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    return _write(path, gzip.compress(data) if gz else data)


def test_jsonl_gz_with_beir_ids(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "d1", "title": "", "text": "First.", "metadata": {}}),
        json.dumps({"_id": 7, "title": "Seven", "text": "Seventh.", "url": "https://x.test"}),
    ]
    result = load_file(_records(tmp_path / "corpus.jsonl.gz", lines, gz=True), "corpus.jsonl.gz")
    assert [(d.id, d.title, d.text) for d in result.documents] == [
        ("d1", None, "First."),
        ("7", "Seven", "Seventh."),
    ]
    assert result.documents[1].metadata == {"url": "https://x.test"}


def test_gzip_content_is_read_whatever_the_name(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "text": "Alpha."})]
    result = load_file(_records(tmp_path / "plain.jsonl", lines, gz=True), "plain.jsonl")
    assert [d.id for d in result.documents] == ["a"]


def test_jsonl_bad_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "Alpha."}),
        '{"id": "b", "text": ',
        "",
        json.dumps({"id": "c"}),
        json.dumps({"text": "no id"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "a", "text": "Alpha again."}),
        json.dumps({"id": "d", "text": "Delta.", "metadata": "oops"}),
        json.dumps({"id": "e", "text": "Echo.", "title": "Echo"}),
    ]
    result = load_file(_records(tmp_path / "mixed.jsonl", lines), "mixed.jsonl")
    assert [d.id for d in result.documents] == ["a", "e"]
    assert result.documents[0].text == "Alpha."  # the first of two records with one id
    assert result.skipped == 6
    assert result.errors[0].startswith("line 2: invalid JSON")
    assert [e.split(":")[0] for e in result.errors] == [
        "line 2",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert "duplicate id 'a' (first on line 1)" in result.errors[4]


def test_jsonl_error_messages_are_capped_but_counted(tmp_path: Path) -> None:
    lines = ["not json"] * (MAX_ERRORS + 5) + [json.dumps({"id": "ok", "text": "Fine."})]
    result = load_file(_records(tmp_path / "noisy.jsonl", lines), "noisy.jsonl")
    assert [d.id for d in result.documents] == ["ok"]
    assert result.skipped == MAX_ERRORS + 5
    assert len(result.errors) == MAX_ERRORS


def test_jsonl_without_any_good_record_is_a_loader_error(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "x", "text": "  "}), "{broken"]
    with pytest.raises(LoaderError, match=r"no valid records: line 1: no \"text\""):
        load_file(_records(tmp_path / "bad.jsonl", lines), "bad.jsonl")


def test_binary_file_named_jsonl_is_a_loader_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "blob.jsonl", b"\x00\x01\x02\x03" * 100)
    with pytest.raises(LoaderError, match="looks binary"):
        load_file(path, "blob.jsonl")


def test_truncated_gzip_keeps_the_records_read_before_the_damage(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"r{i}", "text": f"Record number {i}."}) for i in range(2000)]
    data = _records(tmp_path / "full.jsonl.gz", lines, gz=True).read_bytes()
    path = _write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2])
    result = load_file(path, "cut.jsonl.gz")
    assert 0 < len(result.documents) < 2000
    assert result.errors[-1].startswith(f"stopped reading after {len(result.documents)} records")


def test_corrupt_gzip_is_a_loader_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl.gz", b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(LoaderError, match="cannot read file"):
        load_file(path, "bad.jsonl.gz")
