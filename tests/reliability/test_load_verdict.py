"""The load test's verdict and memory figures, from made-up outcomes: no server."""

from __future__ import annotations

import json

from app.tooling.reliability.clients import KINDS, Outcome
from app.tooling.reliability.load import logged_errors
from app.tooling.reliability.load_report import LoadReport, summarise
from app.tooling.reliability.rss import Growth, Sample, growth

MIB = 1024 * 1024
FLAT = Growth(baseline=300 * MIB, end=303 * MIB, samples=12)


def report(outcomes: list[Outcome], memory: Growth = FLAT, limiter: bool = False) -> LoadReport:
    return summarise(
        outcomes,
        clients=2,
        load_s=12.0,
        seconds=12.5,
        warmup_s=4.0,
        memory=memory,
        max_growth=0.10,
        limiter_on=limiter,
    )


def ok(kind: str = "search", started: float = 5.0, seconds: float = 0.1) -> Outcome:
    return Outcome(kind, started, seconds, 204 if kind == "delete" else 200)


def test_a_clean_run_passes_with_warm_latencies_only() -> None:
    cold = [ok(started=0.5, seconds=9.0)]  # before the warm-up ended: not in the figures
    warm = [ok(seconds=s / 1000) for s in range(1, 101)]
    result = report(cold + warm + [ok(k) for k in KINDS])
    assert result.failures() == []
    search = next(k for k in result.kinds if k.kind == "search")
    assert search.requests == 102 and search.statuses == {"200": 102}
    assert search.p99_ms is not None and search.p99_ms < 200
    late = report([ok(started=11.95, seconds=0.5)])  # answered in the drain
    assert result.requests_per_s == result.requests / 12.0 and late.requests_per_s == 0


def test_each_kind_of_trouble_fails_the_run() -> None:
    cases = {
        "5xx": Outcome("ask", 5.0, 0.1, 500),
        "no HTTP response": Outcome("search", 5.0, 0.1, None, "ConnectError: refused"),
        "broke the API contract": Outcome("ask_stream", 5.0, 0.1, 200, "stream events []"),
        "unexpected 4xx": Outcome("upload", 5.0, 0.1, 422),
        "429": Outcome("search", 5.0, 0.1, 429),
    }
    for words, bad in cases.items():
        failures = report([ok(), bad]).failures()
        assert len(failures) == 1 and words in failures[0], (words, failures)


def test_429_is_expected_when_the_limiter_is_under_test() -> None:
    assert report([ok(), Outcome("search", 5.0, 0.1, 429)], limiter=True).failures() == []


def test_memory_growth_of_ten_percent_fails() -> None:
    grown = Growth(baseline=300 * MIB, end=330 * MIB, samples=12)
    assert "RSS grew 10.0%" in report([ok()], memory=grown).failures()[0]


def test_growth_takes_medians_after_warm_up_and_at_the_end() -> None:
    # Start-up growth before 4 s is not counted; one spike at the end decides nothing.
    rss = [100, 200, 290, 300, 310, 300, 300, 300, 305, 999, 306]
    samples = [Sample(float(t), r * MIB) for t, r in enumerate(rss)]
    measured = growth(samples, warmup_s=4.0)
    assert measured.baseline == 300 * MIB  # median of the samples at 2, 3 and 4 s
    assert measured.end == 306 * MIB and measured.samples == len(rss)


def test_the_errors_behind_a_5xx_are_taken_from_the_server_log() -> None:
    log = (
        "INFO:     127.0.0.1:1 - POST /api/search 200\n"
        "ERROR:    Exception in ASGI application\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "sqlite3.OperationalError: database is locked\n"
        "ERROR:    Exception in ASGI application\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "sqlite3.OperationalError: database is locked\n"
    )
    assert logged_errors(log) == [
        "ERROR:    Exception in ASGI application",
        "sqlite3.OperationalError: database is locked",
    ]


def test_errors_are_found_in_json_log_lines_too() -> None:
    record = {
        "level": "ERROR",
        "message": "Exception in ASGI application\n",
        "exception": "Traceback (most recent call last):\n  File ...\nIndexError: out of range",
    }
    log = '{"level": "INFO", "message": "POST /api/search 200"}\n' + json.dumps(record) + "\n"
    assert logged_errors(log) == ["Exception in ASGI application", "IndexError: out of range"]
