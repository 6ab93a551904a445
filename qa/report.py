"""Evaluation report folders, written atomically so an interrupted run leaves no half-written report."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

PLOTTED = ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@5", "abstention_accuracy")


def write_report(out: Path, results: dict[str, dict]) -> None:
    """Write metrics.json, per_question.jsonl (failures first) and metrics.png into `out`, replacing it whole.

    `results` maps a retriever name ("hybrid", "dense", "lexical") to what `evaluate` returned.
    """
    def fill(tmp: Path) -> None:
        metrics = {mode: result["metrics"] for mode, result in results.items()}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        rows = [dict(row, retriever=mode) for mode, result in results.items() for row in result["rows"]]
        rows.sort(key=lambda r: r["pass"])
        with (tmp / "per_question.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        plot_metrics(metrics, tmp / "metrics.png")

    write_folder_atomically(out, fill)


def write_folder_atomically(out: Path, fill: Callable[[Path], None]) -> None:
    """Have `fill` write a report into a temporary sibling folder, then swap it in place of `out` whole,
    so an interrupted run never leaves a half-written report (nor loses the previous one)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        fill(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def plot_metrics(metrics: dict[str, dict], path: Path) -> None:
    """Grouped bars: each metric per language (panels) and per retriever (bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in ("overall", "fr", "en") if any(g in m for m in metrics.values())]
    modes = list(metrics)
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), sharey=True, squeeze=False)
    width = 0.8 / len(modes)
    for ax, group in zip(axes[0], groups):
        for i, mode in enumerate(modes):
            values = [metrics[mode].get(group, {}).get(key) or 0 for key in PLOTTED]
            ax.bar([x + i * width for x in range(len(PLOTTED))], values, width, label=mode)
        ax.set_title(f"{group} ({metrics[modes[0]].get(group, {}).get('questions', 0)} questions)")
        ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(PLOTTED))], PLOTTED, rotation=45, ha="right")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    # Below the panels, not over the bars: a comparison has up to a dozen variants.
    columns = min(len(modes), 5)
    legend_rows = -(-len(modes) // columns)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=columns, frameon=False)
    fig.set_figheight(4 + 0.3 * legend_rows)
    fig.tight_layout(rect=(0, 0.3 * legend_rows / fig.get_figheight() + 0.02, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def aligned_table(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as text columns: the first left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
                     for r in rows)


def format_value(value) -> str:
    """A metric for a table: three decimals for a rate, one for a larger number (ms), a dash for none."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)
