"""Evaluation reports: a table on the terminal, Markdown and a PNG chart on disk."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from app.tooling.evaluation.runner import Scores

# Counts and rates that are not 0..1 scores stay out of the chart.
NOT_SCORES = ("queries/s", "questions", "off-topic questions")


def table(rows: Sequence[Scores]) -> str:
    """A Markdown table, one row per Scores, one column per figure."""
    columns = list(dict.fromkeys(k for r in rows for k in r.values))
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for r in rows:
        cells = [_fmt(r.values[c]) if c in r.values else "" for c in columns]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.1f}" if value > 1.5 else f"{value:.4f}"


def write_report(
    folder: Path, name: str, title: str, rows: Sequence[Scores], command: str, notes: str = ""
) -> Path:
    """Write `<name>-<time>.md`, `.png` and `.json` into `folder`; return the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    # Dots would be taken for a suffix ("KorQuAD_v1.0_dev" -> "KorQuAD_v1.md").
    safe = name.replace(".", "_")
    stem = folder / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
    chart = _chart(rows, stem.with_suffix(".png"), title)
    parts = [f"# {title}", "", "```sh", command, "```", "", table(rows), ""]
    if chart:
        parts += [f"![{title}]({chart.name})", ""]
    if notes:
        parts += [notes, ""]
    stem.with_suffix(".md").write_text("\n".join(parts), encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(summary(name, rows, command), indent=2))
    return stem.with_suffix(".md")


def summary(name: str, rows: Sequence[Scores], command: str) -> dict[str, object]:
    return {
        "set": name,
        "command": command,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": {r.name: {k: round(v, 4) for k, v in r.values.items()} for r in rows},
    }


def _chart(rows: Sequence[Scores], path: Path, title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display here or on servers
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metrics = [k for k in dict.fromkeys(k for r in rows for k in r.values) if k not in NOT_SCORES]
    if not metrics:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(metrics) * len(rows) / 2), 4))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [m + i * width for m in range(len(metrics))]
        ax.bar(xs, [row.values.get(k, 0.0) for k in metrics], width, label=row.name)
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
