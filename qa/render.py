"""Human-readable forms of answers and metrics (terminal text and Markdown for notes)."""

from __future__ import annotations

import textwrap

from .records import Answer, Citation
from .text import visible

_LABELS = {
    "fr": {"sources": "Sources", "chars": "caractères", "score": "score", "nearest": "Passages les plus proches (ils ne répondent pas) :"},
    "en": {"sources": "Sources", "chars": "characters", "score": "score", "nearest": "Nearest passages (they do not answer):"},
}


def source_line(citation: Citation) -> str:
    """'Title — Author, date, URL' with whatever the article has (the doc name when it has no title), on one
    line and with the article's control characters shown as escapes (see `answer_as_text`)."""
    parts = [citation.title or citation.doc]
    extra = ", ".join(x for x in (citation.author, citation.date, citation.url) if x)
    return visible(f"{parts[0]} — {extra}" if extra else parts[0])


def answer_as_text(answer: Answer) -> str:
    """The answer, then the numbered sources with their exact quotes, for the terminal.

    Article text can hold terminal escape sequences and other control characters (a colour code, a
    window title, a carriage return that hides the line): here they are shown as escapes (`\\x1b`), never
    sent raw, so an article cannot drive the terminal. Only this text form does that: JSON quotes are
    exact slices of the article.
    """
    labels = _LABELS.get(answer.language, _LABELS["en"])
    lines = [visible(answer.answer.replace("\r\n", "\n"), keep="\n\t"), ""]
    if answer.citations:
        lines.append(labels["sources"] if answer.found else labels["nearest"])
        for c in answer.citations:
            lines.append(f"[{c.n}] {source_line(c)}")
            lines.append(f"    {visible(c.doc)}, {labels['chars']} {c.start}–{c.end} · {labels['score']} {c.score:.3f}")
            quote = visible(" ".join(c.quote.split()))
            lines.extend(textwrap.wrap(f"« {quote} »", width=96, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines).rstrip() + "\n"


_TABLE_KEYS = ["questions", "hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@5",
               "abstention_accuracy", "false_abstention_rate", "latency_p50_ms", "latency_p95_ms"]
_SHORT = {"abstention_accuracy": "abstain", "false_abstention_rate": "false_abst", "latency_p50_ms": "p50_ms",
          "latency_p95_ms": "p95_ms", "questions": "n"}


def metrics_table(by_variant: dict[str, dict]) -> str:
    """Metrics as an aligned text table: one column per language for one configuration; for several
    (a comparison), one block per language with a row per configuration, so it stays readable."""
    if len(by_variant) == 1:
        metrics = next(iter(by_variant.values()))
        groups = [g for g in ("overall", "fr", "en") if g in metrics]
        rows = [("metric", *groups)] + [(key, *(_fmt(metrics[g].get(key)) for g in groups)) for key in _TABLE_KEYS]
        return _aligned(rows)
    blocks = []
    for group in ("overall", "fr", "en"):
        present = {name: m[group] for name, m in by_variant.items() if group in m}
        if not present:
            continue
        rows = [(group, *(_SHORT.get(k, k) for k in _TABLE_KEYS))]
        rows += [(name, *(_fmt(m.get(k)) for k in _TABLE_KEYS)) for name, m in present.items()]
        blocks.append(_aligned(rows))
    return "\n\n".join(blocks)


def _aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
                     for r in rows)


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)
