"""Offline evaluation: score answers against an evaluation set in the contract's format.

A citation matches a gold when it cites the same article and its [start, end) overlaps the gold
quote's span. Each gold span is credited once, to the best-ranked citation that covers it.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .records import Answer

LANGUAGES = ("fr", "en")
_KEYS = {"id": str, "lang": str, "question": str, "answerable": bool, "gold": list}


@dataclass(frozen=True)
class Gold:
    """A gold answer span: the quote's position in its article."""

    doc: str
    start: int
    end: int


@dataclass(frozen=True)
class EvalItem:
    """One question of an evaluation set, with gold quotes resolved to spans."""

    id: str
    lang: str
    question: str
    answerable: bool
    gold: tuple[Gold, ...]
    line: int


def load_eval_set(path: Path, article_text: Callable[[str], str | None]) -> list[EvalItem]:
    """Parse and validate an evaluation file; InputError naming the line for the first problem found."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    items, seen = [], set()
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 or \x85 may sit inside a JSON string
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputError(f"{where}: each line must be a JSON object")
        for key, kind in _KEYS.items():
            if key not in record:
                raise InputError(f"{where}: missing field {key!r}")
            if not isinstance(record[key], kind):
                raise InputError(f"{where}: field {key!r} must be {kind.__name__}")
        if record["lang"] not in LANGUAGES:
            raise InputError(f"{where}: lang must be one of {', '.join(LANGUAGES)}, got {record['lang']!r}")
        if record["id"] in seen:
            raise InputError(f"{where}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        if record["answerable"] != bool(record["gold"]):
            raise InputError(f"{where}: answerable questions need gold quotes and unanswerable ones none")
        golds = []
        for g in record["gold"]:
            if not isinstance(g, dict) or not isinstance(g.get("doc"), str) or not isinstance(g.get("quote"), str) or not g["quote"]:
                raise InputError(f"{where}: each gold must be {{\"doc\": str, \"quote\": non-empty str}}")
            text = article_text(g["doc"])
            if text is None:
                raise InputError(f"{where}: unknown article {g['doc']!r}")
            start = text.find(g["quote"])
            if start < 0:
                raise InputError(f"{where}: gold quote is not a verbatim substring of {g['doc']}: {g['quote'][:60]!r}")
            golds.append(Gold(g["doc"], start, start + len(g["quote"])))
        items.append(EvalItem(record["id"], record["lang"], record["question"], record["answerable"], tuple(golds), number))
    if not items:
        raise InputError(f"{path}: no questions")
    return items


def credited_ranks(citations: Iterable[tuple[str, int, int]], golds: tuple[Gold, ...]) -> list[int | None]:
    """For each citation (doc, start, end), the index of the gold span it newly covers, or None."""
    credited: set[int] = set()
    out: list[int | None] = []
    for doc, start, end in citations:
        match = None
        for i, g in enumerate(golds):
            if i not in credited and g.doc == doc and start < g.end and g.start < end:
                match = i
                break
        if match is not None:
            credited.add(match)
        out.append(match)
    return out


def overlaps_any(doc: str, start: int, end: int, golds: tuple[Gold, ...]) -> bool:
    """The contract's matching rule: same article and overlapping spans."""
    return any(g.doc == doc and start < g.end and g.start < end for g in golds)


def quotes_gold(quotes: Iterable[tuple[str, int, int]], golds: tuple[Gold, ...]) -> bool:
    """Quote accuracy for one answer: its quoted sentences hold at least half of some gold quote's characters."""
    for g in golds:
        covered = set()
        for doc, start, end in quotes:
            if doc == g.doc:
                covered.update(range(max(start, g.start), min(end, g.end)))
        if g.end > g.start and len(covered) * 2 >= g.end - g.start:
            return True
    return False


def question_metrics(citations: list[tuple[str, int, int]], golds: tuple[Gold, ...]) -> dict:
    """hit@1/3/5, MRR@10, nDCG@10 and recall@5 for one answerable question."""
    relevant = [overlaps_any(d, s, e, golds) for d, s, e in citations]
    first = next((i + 1 for i, r in enumerate(relevant) if r), None)
    credits = credited_ranks(citations, golds)
    dcg = sum(1 / math.log2(rank + 1) for rank, c in enumerate(credits[:10], start=1) if c is not None)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(golds), 10) + 1))
    return {
        "hit@1": float(first is not None and first <= 1),
        "hit@3": float(first is not None and first <= 3),
        "hit@5": float(first is not None and first <= 5),
        "mrr@10": 1 / first if first is not None and first <= 10 else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "recall@5": len({c for c in credits[:5] if c is not None}) / len(golds),
        "first_relevant_rank": first,
    }


RANKING_METRICS = ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@5")


def aggregate(rows: list[dict]) -> dict:
    """Mean metrics over a group of per-question rows (see `evaluate`)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    latencies = sorted(r["latency_ms"] for r in rows)
    out: dict = {"questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    for metric in RANKING_METRICS:
        out[metric] = _mean([r["metrics"][metric] for r in answerable])
    out["abstention_accuracy"] = _mean([float(not r["found"]) for r in unanswerable])
    out["false_abstention_rate"] = _mean([float(not r["found"]) for r in answerable])
    out["false_refusal_rate"] = out["false_abstention_rate"]
    out["quote_accuracy"] = _mean([float(r.get("quote_correct", False)) for r in answerable if r["found"]])
    out["latency_p50_ms"] = _percentile(latencies, 50)
    out["latency_p95_ms"] = _percentile(latencies, 95)
    return out


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 2)


def evaluate(items: list[EvalItem], ask: Callable[[str], Answer], progress: Callable[[int, int], None] = lambda _i, _n: None) -> dict:
    """Run every question through `ask` (the same path as `qa ask`) and score it; metrics overall and per language."""
    rows = []
    for i, item in enumerate(items, start=1):
        started = time.perf_counter()
        answer = ask(item.question)
        latency = (time.perf_counter() - started) * 1000
        cited = [(c.doc, c.start, c.end) for c in answer.citations]
        metrics = question_metrics(cited, item.gold) if item.answerable else {}
        quote_correct = quotes_gold(answer.quotes, item.gold)
        passed = (answer.found and metrics.get("hit@1") == 1.0) if item.answerable else not answer.found
        rows.append({
            "id": item.id, "lang": item.lang, "question": item.question, "answerable": item.answerable,
            "expected": [{"doc": g.doc, "start": g.start, "end": g.end} for g in item.gold],
            "found": answer.found, "language": answer.language,
            "cited": [{"n": c.n, "doc": c.doc, "start": c.start, "end": c.end, "quote": c.quote} for c in answer.citations],
            "first_relevant_rank": metrics.get("first_relevant_rank"), "metrics": metrics,
            "quoted": [{"doc": d, "start": s, "end": e} for d, s, e in answer.quotes], "quote_correct": quote_correct,
            "confidence": answer.confidence,
            "pass": passed, "latency_ms": latency, "evidence": answer.evidence,
        })
        progress(i, len(items))
    summary = {"overall": aggregate(rows)}
    for lang in LANGUAGES:
        group = [r for r in rows if r["lang"] == lang]
        if group:
            summary[lang] = aggregate(group)
    return {"metrics": summary, "rows": rows}
