"""Split article prose into sentences and pack them into small quotable passages, keeping exact offsets."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .records import Article, Passage, Span

# Words that end with a period without ending the sentence (French and English).
_ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle mlles dr drs pr me st ste cf p pp vol art av bd no nº n° fig ch chap ed éd coll "
    "mr mrs ms prof sr jr vs inc ltd co corp dept gén gen col lt sgt jan janv fév févr feb apr avr aug sept oct nov déc dec "
    "env approx min max tél tel".split()
)
# A sentence ends at . ! ? or … (possibly repeated), optionally followed by closing quotes or markup,
# then whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"[.!?…]+(?:[ \u00a0\u202f]?[»”])?[»”\"’')\]*_]*(?=\s+[«“\"*_(\[\-–—]*\s*[A-ZÀ-ÖØ-Þ0-9])")
_EDGE_MARKUP = " \t\n\r\xa0*_#>"
# Passages never exceed this many times the target size: a 'sentence' this long is not prose.
_HARD_LIMIT_FACTOR = 3


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink `[start, end)` past whitespace and Markdown emphasis at the edges (never inside)."""
    while start < end and text[start] in _EDGE_MARKUP:
        start += 1
    while end > start and text[end - 1] in _EDGE_MARKUP:
        end -= 1
    return start, end


def split_sentences(text: str, span: Span) -> list[Span]:
    """Sentence spans inside `text[span.start:span.end]`, aware of French punctuation and abbreviations."""
    pieces: list[Span] = []
    start = span.start
    segment = text[span.start:span.end]
    for m in _BOUNDARY.finditer(segment):
        end = span.start + m.end()
        if m.group().startswith(".") and len(m.group().rstrip("»”\"’')]*_ \u00a0\u202f")) == 1:
            word = re.search(r"(\w+)$", text[start:span.start + m.start()])
            # 'M. Dupont', 'Dr. X', initials such as 'J. Doe' do not end a sentence.
            if word and (word.group(1).lower() in _ABBREVIATIONS or (len(word.group(1)) == 1 and word.group(1).isupper())):
                continue
        pieces.append(Span(start, end))
        start = end
    pieces.append(Span(start, span.end))
    trimmed = (Span(*_trim(text, p.start, p.end)) for p in pieces)
    return [p for p in trimmed if p.end > p.start and re.search(r"\w", text[p.start:p.end])]


def _hard_split(text: str, span: Span, limit: int) -> list[Span]:
    """Cut an overlong run of text at whitespace so no passage exceeds `limit` characters."""
    out, start = [], span.start
    while span.end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        out.append(Span(*_trim(text, start, cut)))
        start = cut
    out.append(Span(*_trim(text, start, span.end)))
    return [s for s in out if s.end > s.start]


def pack(sentences: list[Span], max_chars: int) -> list[Span]:
    """Group consecutive sentences into passages of at most `max_chars` (a longer sentence stands alone).

    A short last sentence joins the passage before it when that stays within 1.5 × max_chars,
    so no passage is a dangling fragment.
    """
    groups: list[list[Span]] = []
    for sentence in sentences:
        if groups and sentence.end - groups[-1][0].start <= max_chars:
            groups[-1].append(sentence)
        else:
            groups.append([sentence])
    if len(groups) > 1:
        last = groups[-1]
        if last[-1].end - last[0].start < max_chars // 4 and last[-1].end - groups[-2][0].start <= max_chars * 1.5:
            groups[-2].extend(groups.pop())
    return [Span(g[0].start, g[-1].end) for g in groups]


def chunk_article(article: Article, max_chars: int, first_id: int = 0) -> list[Passage]:
    """Passages of one cleaned article, each with its paragraph span and nearest preceding heading."""
    text = article.text
    passages: list[Passage] = [
        Passage(id=first_id + i, doc=article.doc, start=b.start, end=b.end, para_start=b.start, para_end=b.end,
                text=text[b.start:b.end], heading=article.title, kind="byline")
        for i, b in enumerate(article.bylines)
    ]
    for paragraph in article.paragraphs:
        sentences: list[Span] = []
        for sentence in split_sentences(text, paragraph):
            if sentence.end - sentence.start > max_chars * _HARD_LIMIT_FACTOR:
                sentences.extend(_hard_split(text, sentence, max_chars))
            else:
                sentences.append(sentence)
        heading = _heading_before(article, paragraph.start)
        for span in pack(sentences, max_chars):
            passages.append(Passage(
                id=first_id + len(passages), doc=article.doc, start=span.start, end=span.end,
                para_start=paragraph.start, para_end=paragraph.end, text=text[span.start:span.end], heading=heading,
            ))
    return passages


def _heading_before(article: Article, position: int) -> str | None:
    """The section heading that governs a paragraph, if any."""
    before = [h for h in article.headings if h.end <= position]
    return article.text[before[-1].start:before[-1].end] if before else None


def chunk_corpus(articles: Iterable[Article], max_chars: int) -> list[Passage]:
    """Passages of every article, numbered consecutively: passage id i is FAISS row i."""
    passages: list[Passage] = []
    for article in articles:
        passages.extend(chunk_article(article, max_chars, first_id=len(passages)))
    return passages
