"""What a load run measured, the verdict on it, and the printed report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from app.tooling.bench.stats import percentile, rate
from app.tooling.reliability.clients import KINDS, Outcome
from app.tooling.reliability.rss import Growth

MIB = 1024 * 1024


@dataclass(frozen=True)
class KindSummary:
    kind: str
    requests: int
    statuses: dict[str, int]  # "200": 812, "conn": 1 (no HTTP response)
    # Latency of the requests sent after the warm-up, in ms; None if there were none.
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class LoadReport:
    clients: int
    load_s: float  # how long the clients sent requests
    seconds: float  # from the first request to the last response (the drain included)
    in_window: int  # requests answered within load_s
    warmup_s: float
    kinds: list[KindSummary]
    memory: Growth
    server_errors: int  # 5xx
    rate_limited: int  # 429
    unexpected: int  # other non-2xx: every request the clients send is valid
    connection_errors: int  # no HTTP response: refused, reset, timed out
    invalid: int  # a 2xx whose body or event stream broke the API's promise
    problems: list[str]  # the first few reasons behind the counts above
    max_growth: float
    limiter_on: bool

    @property
    def requests(self) -> int:
        return sum(k.requests for k in self.kinds)

    @property
    def requests_per_s(self) -> float:
        """Answered while all clients were sending: the drain, when only the slowest
        requests are still running, would dilute the rate."""
        return rate(self.in_window, self.load_s)

    def failures(self) -> list[str]:
        """Why this run fails; empty when it passes."""
        out = []
        if self.server_errors:
            out.append(f"{self.server_errors} responses were 5xx")
        if self.connection_errors:
            out.append(f"{self.connection_errors} requests got no HTTP response")
        if self.invalid:
            out.append(f"{self.invalid} 2xx responses broke the API contract")
        if self.unexpected:
            out.append(f"{self.unexpected} responses had an unexpected 4xx status")
        if self.rate_limited and not self.limiter_on:
            out.append(f"{self.rate_limited} responses were 429 with the rate limit off")
        if self.memory.fraction >= self.max_growth:
            out.append(
                f"server RSS grew {self.memory.fraction:.1%} after the warm-up "
                f"(limit {self.max_growth:.0%})"
            )
        return out

    def lines(self) -> list[str]:
        head = f"{'kind':<11}{'requests':>9}  {'p50 ms':>8}{'p95 ms':>9}{'p99 ms':>9}  statuses"
        rows = [head]
        for k in self.kinds:
            statuses = " ".join(f"{code}x{n}" for code, n in sorted(k.statuses.items()))
            rows.append(
                f"{k.kind:<11}{k.requests:>9}  {_ms(k.p50_ms):>8}{_ms(k.p95_ms):>9}"
                f"{_ms(k.p99_ms):>9}  {statuses}"
            )
        m = self.memory
        verdict = self.failures()
        return [
            f"clients {self.clients}, {self.load_s:.0f} s (+{self.seconds - self.load_s:.1f} s "
            f"drain), {self.requests} requests, {self.requests_per_s:.1f} requests/s; "
            f"latencies after the {self.warmup_s:.0f} s warm-up",
            *rows,
            f"5xx {self.server_errors}, 429 {self.rate_limited}, other 4xx {self.unexpected}, "
            f"no response {self.connection_errors}, broken 2xx {self.invalid}",
            f"server RSS {m.baseline / MIB:.0f} MiB after warm-up -> {m.end / MIB:.0f} MiB at "
            f"the end ({m.fraction:+.1%}, {m.samples} samples)",
            *(f"  {p}" for p in self.problems),
            "PASS" if not verdict else "FAIL: " + "; ".join(verdict),
        ]


def summarise(
    outcomes: Sequence[Outcome],
    *,
    clients: int,
    load_s: float,
    seconds: float,
    warmup_s: float,
    memory: Growth,
    max_growth: float,
    limiter_on: bool,
    server_log: Sequence[str] = (),
) -> LoadReport:
    """`server_log`: the errors the server logged (tracebacks' last lines), shown with the
    problems so a 5xx comes with its cause."""
    kinds = []
    for kind in KINDS:
        mine = [o for o in outcomes if o.kind == kind]
        statuses = Counter("conn" if o.status is None else str(o.status) for o in mine)
        # Latency of the warm run; a kind too rare to have any falls back to all of it.
        timed = [o.seconds * 1000 for o in mine if o.started >= warmup_s] or [
            o.seconds * 1000 for o in mine
        ]
        p50, p95, p99 = (percentile(timed, q) if timed else None for q in (50, 95, 99))
        kinds.append(KindSummary(kind, len(mine), dict(statuses), p50, p95, p99))
    codes = [o.status for o in outcomes if o.status is not None]
    problems = [f"{o.kind} {o.status}: {o.problem}" for o in outcomes if o.problem][:5]
    problems += [f"server log: {line}" for line in server_log[:5]]
    return LoadReport(
        clients=clients,
        load_s=load_s,
        seconds=seconds,
        in_window=sum(1 for o in outcomes if o.started + o.seconds <= load_s),
        warmup_s=warmup_s,
        kinds=kinds,
        memory=memory,
        server_errors=sum(1 for c in codes if c >= 500),
        rate_limited=sum(1 for c in codes if c == 429),
        unexpected=sum(1 for c in codes if 300 <= c < 500 and c != 429),
        connection_errors=sum(1 for o in outcomes if o.status is None),
        invalid=sum(1 for o in outcomes if o.status is not None and o.status < 300 and o.problem),
        problems=problems,
        max_growth=max_growth,
        limiter_on=limiter_on,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
