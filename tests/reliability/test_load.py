"""The bounded load test at CI size: a real `ragqa serve`, 8 clients for 12 s, echo generator."""

from __future__ import annotations

import pytest

from app.tooling.reliability.load import LoadOptions, run_load

pytestmark = [pytest.mark.server, pytest.mark.load]


def test_fast_load_has_no_5xx_and_flat_memory() -> None:
    # The real embedder (every search and upload embeds) and the echo generator, so asks
    # cost retrieval, not minutes of decoding. 12 s: RSS grows fastest in the first 4 s,
    # where the baseline is taken, and only 2-5% in the 8 s after (a leak of 50 KB a
    # request would add 10%); ~900 requests let every kind recur.
    report = run_load(LoadOptions(clients=8, seconds=12, generator="echo"))
    text = "\n".join(report.lines())
    print(text)
    assert report.failures() == [], text
    assert all(k.requests >= 10 for k in report.kinds), text  # every kind really ran
    assert report.server_errors == 0 and report.connection_errors == 0, text
    assert report.rate_limited == 0, text  # RAGQA_RATE_LIMIT=0 in the load server
    assert report.memory.samples >= 10 and report.memory.fraction < 0.10, text
