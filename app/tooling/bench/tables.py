"""Markdown cells and tables for the benchmark report."""

from __future__ import annotations

from collections.abc import Sequence


def fmt(value: float) -> str:
    """Three significant-ish digits: 12,345 / 123 / 12.3 / 1.23 / 0.123."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def pct(share: float) -> str:
    """A share as a percentage, with decimals kept for the small ones (0.04%, not 0.0%)."""
    return f"{share:.2%}" if share < 0.1 else f"{share:.1%}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
