"""A path parameter that takes any text, newlines included: document and model ids.

Starlette's `path` convertor is `.*`, which stops at a newline, and its route pattern's
`$` matches before a final newline: `GET /api/documents/a%0Ab` would find no route, and
`DELETE /api/documents/ab%0A` would delete `ab`. Ids come from JSONL records, so any
character is possible.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class AnyText(Convertor[str]):
    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", AnyText())
