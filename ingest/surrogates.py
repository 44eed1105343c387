"""Text every sink accepts: lone surrogates, which SQLite and UTF-8 refuse, replaced."""

from __future__ import annotations

import re
from typing import Any

# A lone surrogate is a valid Python str but no valid UTF-8: json.loads makes one from a
# "\ud800" escape, PyYAML from a quoted one, the UTF-7 codec from "+2AA-". Stored as is,
# it raises UnicodeEncodeError in SQLite's text binding: a 500 for the upload.
_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, as a decoder marks bad bytes."""
    return _SURROGATE.sub("\ufffd", text)


def replace_surrogates_in(value: Any) -> Any:
    """Strings anywhere in a JSON-like value (dict keys too), surrogates replaced. Callers
    bound the nesting (see load_jsonl.MAX_DEPTH), so the recursion is shallow."""
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, dict):
        return {replace_surrogates_in(k): replace_surrogates_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_surrogates_in(v) for v in value]
    return value
