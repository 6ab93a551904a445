"""Extractive answers: choose the sentences that answer, quote them exactly, cite them, or say the
articles do not answer.

The sentence quoted is chosen by a learned scorer (qa/data/quoter.json, `qa train`) over general
features of each sentence of the best passages — its cosine with the question, how its passage
ranked, whether it holds the kind of answer asked (a date for "when", a cause for "why"), how much
of the question it holds — not by counting shared words, which picks the sentence restating the
question rather than the one answering it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .abstain import confidence, threshold
from .answer_types import has_answer_type
from .dates import as_date
from .query import Query
from .rank import Ranking, coverage, hits, model
from .records import Answer, Citation, Hit, Span
from .settings import Settings
from .store import StoreView
from .text import terms, words

MESSAGES = {
    "fr": {
        "header": "D'après les articles :",
        "not_found": "Les articles ne permettent pas de répondre à cette question.",
    },
    "en": {
        "header": "According to the articles:",
        "not_found": "The articles do not answer this question.",
    },
}
QUOTE_FEATURES = ("sent_cos", "sent_gap", "passage_gap", "passage_rank", "type_match", "coverage", "passage_best",
                  "log_length")
# Passages whose sentences may be quoted (the best few: lower ones rarely hold the answer).
QUOTED_PASSAGES = 3
# A sentence this short ("Une première.") means little quoted alone: its neighbour comes with it.
MIN_QUOTE_WORDS = 4


@dataclass(frozen=True)
class SentenceChoice:
    """A sentence of one of the best passages, with its quoting features and the span quoted for it (the
    sentence, or with its neighbour when it is very short)."""

    hit: int          # position of its passage among the hits (0 = best)
    span: Span
    features: np.ndarray
    quoted: Span


def sentence_choices(view: StoreView, query: Query, ranking: Ranking, passages: int = QUOTED_PASSAGES) -> list[SentenceChoice]:
    """Every sentence of the best `passages` passages (those cited) with its features, for the quoter and
    for training it. The passage's score feature is the learned ranker's logit, whatever the mode."""
    top = ranking.candidates[:passages]
    if not top:
        return []
    logits = ranking.logits
    weights = ranking.weights
    passages = view.passages([c.pid for c in top])
    sentences = view.sentences_of([c.pid for c in top])
    rows: list[tuple[int, Span, Span, list[float]]] = []
    for position, candidate in enumerate(top):
        passage = passages[candidate.pid]
        article = view.article(passage.doc)
        lang = (article.lang if article is not None else None) or "fr"
        spans, vectors = sentences[candidate.pid]
        if not spans:
            spans, sims = [Span(passage.start, passage.end)], np.array([candidate.feature("cos")])
        else:
            sims = vectors @ query.vector
        best = int(np.argmax(sims))
        for i, (span, sim) in enumerate(zip(spans, sims.tolist())):
            text = article.text[span.start:span.end]
            rows.append((position, span, _readable(article.text, span, spans),
                         [sim, 0.0, float(logits[position] - max(logits[:len(top)])), position + 1,
                                          float(bool(query.kind) and has_answer_type(text, query.kind)),
                                          coverage(set(terms(text, lang)), weights), float(i == best),
                                          math.log(1 + len(text))]))
    top_sim = max(r[3][0] for r in rows)
    for row in rows:
        row[3][1] = row[3][0] - top_sim
    return [SentenceChoice(p, s, np.array(f, dtype=np.float64), q) for p, s, q, f in rows]


def choose_quotes(view: StoreView, query: Query, ranking: Ranking, settings: Settings,
                  passages: int = QUOTED_PASSAGES) -> list[SentenceChoice]:
    """The sentences to quote, best first, as the quoter rates them (at most `answer_sentences`, never two
    whose quoted spans overlap), from the best `passages` passages."""
    choices = sentence_choices(view, query, ranking, passages)
    if not choices:
        return []
    scores = model(settings.quote_model, QUOTE_FEATURES, settings.ranker_model).probabilities(
        np.stack([c.features for c in choices]))
    order = sorted(range(len(choices)), key=lambda i: (-scores[i], choices[i].hit, choices[i].span.start))
    chosen = [choices[order[0]]]
    for i in order[1:]:
        if len(chosen) >= settings.answer_sentences:
            break
        if all(not _overlap(choices[i], c) for c in chosen):
            chosen.append(choices[i])
    return chosen


def _overlap(a: SentenceChoice, b: SentenceChoice) -> bool:
    return a.hit == b.hit and a.quoted.start < b.quoted.end and b.quoted.start < a.quoted.end


def _readable(text: str, span: Span, sentences: list[Span]) -> Span:
    """A very short sentence is quoted with its neighbour (still one exact slice of the article)."""
    if len(words(text[span.start:span.end])) >= MIN_QUOTE_WORDS or len(sentences) < 2:
        return span
    i = next((n for n, s in enumerate(sentences) if s == span), None)
    if i is None:
        return span
    neighbour = sentences[i - 1] if i > 0 else sentences[i + 1]
    return Span(min(span.start, neighbour.start), max(span.end, neighbour.end))


def citations_for(view: StoreView, hits_: list[Hit]) -> list[Citation]:
    """Numbered citations, best first; each quote is exactly its slice of the article text."""
    out = []
    for n, hit in enumerate(hits_, start=1):
        p = hit.passage
        article = view.article(p.doc)
        out.append(Citation(
            n=n, doc=p.doc, title=article.title, author=article.author, url=article.url, date=article.date,
            start=p.start, end=p.end, quote=article.text[p.start:p.end],
            score=float(hit.dense_score if hit.dense_score is not None else hit.score),
            context=article.text[p.para_start:p.para_end], context_start=p.para_start,
            lang=article.lang, date_inferred=article.date_inferred, title_inferred=article.title_inferred,
            year_hint=article.year_hint,
        ))
    return out


def compose(view: StoreView, query: Query, ranking: Ranking, settings: Settings, question: str,
            k: int | None = None) -> Answer:
    """The Answer for a question: quoted sentences with [n] markers, or a plain 'not answered' sentence."""
    k = k or settings.top_k
    top_hits = hits(view, ranking, k)
    citations = citations_for(view, top_hits)
    probability = confidence(view, query, ranking, settings)
    found = bool(top_hits) and probability >= threshold(settings)
    messages = MESSAGES.get(query.language, MESSAGES["en"])
    evidence = {"confidence": probability}
    if not found:
        return Answer(question, query.language, False, messages["not_found"], tuple(citations), evidence,
                      confidence=probability)
    lines = [messages["header"], ""]
    quoted = []
    for choice in newest_first(choose_quotes(view, query, ranking, settings, min(QUOTED_PASSAGES, len(citations))),
                               citations):
        citation = citations[choice.hit]
        text = view.article(citation.doc).text
        span = choice.quoted
        quoted.append((citation.doc, span.start, span.end))
        lines.append(f"> {_one_line(text[span.start:span.end])} [{citation.n}]")
        lines.append("")
    return Answer(question, query.language, True, "\n".join(lines).rstrip(), tuple(citations), evidence,
                  confidence=probability, quotes=tuple(quoted))


def newest_first(choices: list[SentenceChoice], citations: list[Citation]) -> list[SentenceChoice]:
    """The quotes, newest source first when their sources are not all of one year (a fact may have changed
    since the older article), undated ones last; in the quoter's order otherwise and within a year."""
    years = [(as_date(citations[c.hit].date).year if as_date(citations[c.hit].date) else None) for c in choices]
    if len({y for y in years if y is not None}) < 2:
        return choices
    order = sorted(range(len(choices)), key=lambda i: (years[i] is None, -(years[i] or 0), i))
    return [choices[i] for i in order]


def _one_line(text: str) -> str:
    """A quote as one Markdown line: its internal line breaks become spaces (the citation keeps the exact text)."""
    return re.sub(r"\s*\n\s*", " ", text)
