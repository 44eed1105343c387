"""HTML files: the main text as Markdown, without navigation and other boilerplate."""

from __future__ import annotations

import codecs
import re

from selectolax.lexbor import LexborHTMLParser

from ingest.document import Document, LoaderError, Part
from ingest.load_text import decode_text
from ingest.surrogates import replace_surrogates

# Where the HTML Standard looks for a declared encoding: the first 1024 bytes.
_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
# Browsers read these labels as windows-1252, and so do the pages that declare them.
_WHATWG_ALIASES = {"ascii": "cp1252", "iso8859-1": "cp1252"}
_BLOCKS = "p, li, div, h1, h2, h3, h4, h5, h6, pre, blockquote, tr, br, section, article, dd, dt"
_NOT_TEXT = ["script", "style", "noscript", "template", "svg"]
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def load_html(data: bytes, doc_id: str, stem: str) -> Document:
    """An .html/.htm file as one Document.

    trafilatura finds the article and renders it as Markdown (format="markdown", so the
    chunker follows its headings); when it finds nothing, the whole body's text is used
    (format="text").
    """
    html, encoding = _decode_html(data)
    tree = LexborHTMLParser(html)
    title = _title(tree) or stem
    text = _main_text(html)
    format_ = "markdown"
    if not text:
        text = _body_text(tree)
        format_ = "text"
    if not text:
        raise LoaderError("no text in HTML")
    return Document(
        id=doc_id,
        source=doc_id,
        parts=(Part(text),),
        title=title,
        metadata={"encoding": encoding},
        format=format_,
    )


def _decode_html(data: bytes) -> tuple[str, str]:
    declared = _CHARSET.search(data[:1024])
    if declared is not None and b"\x00" not in data:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii", errors="ignore")).name
            encoding = _WHATWG_ALIASES.get(encoding, encoding)
            # A page may declare UTF-7, which decodes "+2AA-" to a lone surrogate.
            return replace_surrogates(data.decode(encoding).lstrip("\ufeff")), encoding
        except (LookupError, UnicodeDecodeError):
            pass  # an unknown label, or a page wrong about itself: detect instead
    return decode_text(data)


def _title(tree: LexborHTMLParser) -> str | None:
    # og:title is the article's own title; <title> often carries " | Site name" too.
    og = tree.css_first('meta[property="og:title"]')
    if og is not None and (content := (og.attributes.get("content") or "").strip()):
        return content
    node = tree.css_first("title")
    if node is not None and (text := node.text(strip=True)):
        return text
    return None


def _main_text(html: str) -> str:
    # Imported here: trafilatura pulls in lxml, justext and htmldate, which nothing else
    # needs, and importing it costs about half a second.
    import trafilatura

    text = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        # Documentation pages lose short sections and code under the precision default.
        favor_recall=True,
    )
    return (text or "").strip()


def _body_text(tree: LexborHTMLParser) -> str:
    body = tree.body
    if body is None:
        return ""
    tree.strip_tags(_NOT_TEXT)
    # Inline elements stay on one line; a newline after each block keeps paragraphs apart.
    for node in tree.css(_BLOCKS):
        node.insert_after("\n")
    lines = (" ".join(line.split()) for line in body.text().split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
