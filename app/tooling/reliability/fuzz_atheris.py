"""Coverage-guided fuzzing of load_file and the chunker with atheris (libFuzzer), by hand:

    python -m app.tooling.reliability.fuzz_atheris -runs=200000 [-max_total_time=300] [CORPUS_DIR]

The first input byte picks the file name's suffix, the rest is the file. Without a corpus
folder a temporary one is seeded with the test fixtures and a small PDF, so mutation starts
from files that load; without -dict, a dictionary of the formats' tokens is given. A crash
is any exception but LoaderError, or a ContractViolation (see loader_contract): libFuzzer
stops and writes the input to ./crash-<sha1> (or -artifact_prefix=DIR/).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    # Imported inside the block so atheris instruments them for coverage: our loaders and
    # chunker, and the pure-Python parsers they drive (lxml, lexbor and the tokenizer are
    # native code, invisible to it).
    import pypdf  # noqa: F401
    import trafilatura  # noqa: F401
    import yaml  # noqa: F401

    from app.tooling.reliability import loader_contract
    from ingest import loaders

NAMES = [f"fuzz{s}" for s in loaders.SUPPORTED_SUFFIXES] + ["fuzz", "fuzz.bin"]
FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"
_WORK = Path(tempfile.mkdtemp(prefix="ragqa-atheris-"))
# Tokens byte mutation rarely assembles by chance: JSON and YAML escapes that decode to
# lone surrogates, YAML tags and impossible dates, deep brackets, UTF-7, PDF keywords
# (DECISIONS.md, "Hypothesis in CI, atheris for long runs").
TOKENS = [
    "\\u",
    "\\ud800",
    "\\udc00",
    '"id": ',
    '"_id": ',
    '"text": ',
    '"title": ',
    '"metadata": ',
    "[[[[[[[[[[[[[[[[",
    "{a: {a: {a: ",
    "---\n",
    "\n---\n",
    "title: ",
    "date: ",
    "2024-02-30",
    "0000-01-01",
    "!!int ",
    "!!timestamp ",
    "!!binary ",
    "&a ",
    "*a",
    "```",
    "~~~",
    "\n# ",
    "<meta charset=",
    "utf-7",
    "+2AA-",
    "<title>",
    "<body>",
    "<script>",
    "&#xD800;",
    "%PDF-1.4",
    " obj",
    "endobj",
    "stream\n",
    "endstream",
    "xref",
    "trailer",
    "/Root",
    "/Encrypt",
    "/ToUnicode",
    "/FlateDecode",
    "startxref",
]
_COUNT = loader_contract.bundled_token_counter()


def one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    loader_contract.exercise(data[1:], name, _WORK, _COUNT, max_tokens=64, overlap=8)


def seed_corpus(folder: Path) -> None:
    """Each fixture file (and a two-page PDF) as an input: its suffix byte, then its bytes."""
    files = [p for p in FIXTURES.iterdir() if p.is_file()] if FIXTURES.is_dir() else []
    seeds = {p.name: p.read_bytes() for p in files}
    pdf = _pdf()
    if pdf is not None:
        seeds["seed.pdf"] = pdf
    for name, data in seeds.items():
        suffix = loaders.suffix_of(name)
        index = NAMES.index(f"fuzz{suffix}") if suffix else NAMES.index("fuzz")
        (folder / name).write_bytes(bytes([index]) + data)


def _pdf() -> bytes | None:
    try:  # a dev dependency; without it the fuzzer finds PDF structure more slowly
        import io

        from reportlab.pdfgen import canvas
    except ImportError:
        return None
    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawString(72, 720, "A page of the seed PDF.")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def write_dictionary(path: Path) -> None:
    """TOKENS in libFuzzer's dictionary format: one quoted string a line, hex escapes."""
    lines = ['"' + "".join(f"\\x{b:02x}" for b in t.encode()) + '"' for t in TOKENS]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="ragqa-atheris-corpus-"))
        seed_corpus(corpus)
        argv = [*argv, str(corpus)]
        print(f"corpus: {corpus} (seeded from {FIXTURES})", file=sys.stderr)
    if not any(a.startswith("-dict=") for a in argv[1:]):
        write_dictionary(_WORK / "formats.dict")
        argv = [*argv, f"-dict={_WORK / 'formats.dict'}"]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
