"""Human-readable forms of answers and metrics (terminal text and Markdown for notes)."""

from __future__ import annotations

import textwrap

from .dates import date_label, mark_older_quotes
from .records import Answer, Citation
from .report import aligned_table, format_value
from .text import visible

_LABELS = {
    "fr": {"sources": "Sources", "chars": "caractères", "score": "score", "nearest": "Passages les plus proches (ils ne répondent pas) :"},
    "en": {"sources": "Sources", "chars": "characters", "score": "score", "nearest": "Nearest passages (they do not answer):"},
}


def source_line(citation: Citation, language: str = "fr") -> str:
    """'Title — Author, date, URL' with whatever the article has; its date always: '18 février 2024',
    '8 octobre 2020 (date déduite du texte)' or 'non daté' (the words in `language`). On one line, with
    the article's control characters shown as escapes (see `answer_as_text`)."""
    title = citation.title or citation.doc
    date = date_label(citation.date, citation.date_inferred, language, citation.year_hint)
    extra = ", ".join(x for x in (citation.author, date, citation.url) if x)
    return visible(f"{title} — {extra}")


def answer_as_text(answer: Answer) -> str:
    """The answer (quotes from older years than the latest cited marked with theirs), then the numbered
    sources with their dates and exact quotes, for the terminal.

    Article text can hold terminal escape sequences and other control characters (a colour code, a
    window title, a carriage return that hides the line): here they are shown as escapes (`\\x1b`), never
    sent raw, so an article cannot drive the terminal. Only this text form does that: JSON quotes are
    exact slices of the article.
    """
    labels = _LABELS.get(answer.language, _LABELS["en"])
    text = mark_older_quotes(answer.answer, answer.citations, answer.language) if answer.found else answer.answer
    lines = [visible(text.replace("\r\n", "\n"), keep="\n\t"), ""]
    if answer.citations:
        lines.append(labels["sources"] if answer.found else labels["nearest"])
        for c in answer.citations:
            lines.append(f"[{c.n}] {source_line(c, answer.language)}")
            lines.append(f"    {visible(c.doc)}, {labels['chars']} {c.start}–{c.end} · {labels['score']} {c.score:.3f}")
            quote = visible(" ".join(c.quote.split()))
            lines.extend(textwrap.wrap(f"« {quote} »", width=96, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines).rstrip() + "\n"


def articles_text(rows: list[dict]) -> str:
    """`qa articles`: per article, what its citations will show (title, author, date and how each was
    found, language, passages), then a count of what is missing, so a user sees at a glance what to fix.
    Each line has the article's control characters shown as escapes, as in `answer_as_text`."""
    out = []
    for r in rows:
        out.append(f"{r['doc']}  ({r['lang'] or '?'}, {r['passages']} passage{'s' if r['passages'] != 1 else ''})")
        title = r["title"] or "—"
        if r["title_from"] == "first words":
            title += "  [no title line: its first words]"
        out.append(f"    title:  {title}")
        out.append(f"    author: {r['author'] or '—'}")
        hint = f"; the latest year it mentions is {r['year_hint']}" if r.get("year_hint") else ""
        date = {"stated": f"{r['date']} (stated)", "inferred": f"{r['date']} (inferred from the text)",
                "none": f"none (undated{hint})"}[r["date_status"]]
        out.append(f"    date:   {date}")
        if r.get("url"):
            out.append(f"    url:    {r['url']}")
    n = len(rows)
    count = {status: sum(1 for r in rows if r["date_status"] == status) for status in ("stated", "inferred", "none")}
    standins = sum(1 for r in rows if r["title_from"] == "first words")
    no_author = sum(1 for r in rows if not r["author"])
    out.append("")
    out.append(f"{n} article{'s' if n != 1 else ''}: {count['stated']} dated, {count['inferred']} dated by inference, "
               f"{count['none']} undated; {standins} titled from their first words; {no_author} without author. "
               "Front matter (title, author, date, url, lang) sets what detection missed (README, 'Articles and their metadata').")
    return "\n".join(visible(line) for line in out) + "\n"


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
        rows = [("metric", *groups)] + [(key, *(format_value(metrics[g].get(key)) for g in groups)) for key in _TABLE_KEYS]
        return aligned_table(rows)
    blocks = []
    for group in ("overall", "fr", "en"):
        present = {name: m[group] for name, m in by_variant.items() if group in m}
        if not present:
            continue
        rows = [(group, *(_SHORT.get(k, k) for k in _TABLE_KEYS))]
        rows += [(name, *(format_value(m.get(k)) for k in _TABLE_KEYS)) for name, m in present.items()]
        blocks.append(aligned_table(rows))
    return "\n\n".join(blocks)
