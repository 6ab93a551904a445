"""Find the article prose inside a raw news file, and its metadata, without rewriting a character.

News pages copied to text carry bylines, photo credits, subscription banners, reading times,
comment forms and duplicated lines. Cleaning classifies each line and returns the spans of the real
paragraphs; the text itself stays as read, so every later quote is an exact slice of the file.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import replace

from .records import Article, Span
from .text import fold

_MONTHS = {
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
    "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
}
_MONTH_NAMES = "|".join(_MONTHS)
_DATE_DMY = re.compile(rf"\b(\d{{1,2}})(?:er)?\s+({_MONTH_NAMES})\s+(\d{{4}})\b")
_DATE_MDY = re.compile(rf"\b({_MONTH_NAMES})\s+(\d{{1,2}}),?\s+(\d{{4}})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_NUMERIC = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")

_URL_LINE = re.compile(r"^<?(https?://[^\s<>]+)>?$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_BYLINE = re.compile(r"^(?:(?:ecrit|redige|publie)\s+)?(?:par|by)\s+(?P<author>[^|.,–—\-]+?)\s*(?:[|.,–—\-]|$)")
_PUBLISHED = re.compile(r"^(?:publie|mis a jour|published|updated)\b")

# Lines that are page furniture, never article text (matched on the folded line).
_BOILERPLATE = [re.compile(p) for p in (
    r"^test \d+ jours?$", r"^(?:je m.)?abonne", r"^abonnez", r"^subscribe", r"^s.inscrire",
    r"^©", r"\bcredits?\s*:", r"^\(?credits?\b", r"^photo\s*:", r"^\(?photo\b.*\)$", r"\b(?:afp|reuters|getty)\)?$",
    r"^lecture\s*:?\s*\d+\s*min", r"^\d+\s*min(?:utes)? de lecture", r"\b\d+\s+mots$", r"^\W*\d+\s*(?:min|mots)\b",
    r"^lire aussi\b", r"^a lire aussi\b", r"^read also\b", r"^read more\b", r"^voir aussi\b", r"^partager\b", r"^share\b",
)]
# Lines after which the rest of the file is page footer (contact blurbs, comment forms).
_FOOTER = [re.compile(p) for p in (
    r"^besoin d.informations? complementaires", r"^reagir$", r"^commentaires?$", r"^laisser un commentaire",
    r"^votre (?:e-?mail|adresse)", r"^tous les champs sont obligatoires", r"^merci pour votre commentaire",
    r"^leave a (?:reply|comment)", r"^your email address will not be published",
)]
_TERMINAL = ".!?…:;»\"”)"


def parse_date(text: str) -> str | None:
    """The first calendar date in a line, as ISO `YYYY-MM-DD` ('18 février 2024', 'March 4, 2024', '2024-03-04')."""
    folded = fold(text)
    for pattern, order in ((_DATE_ISO, "ymd"), (_DATE_DMY, "dmy"), (_DATE_MDY, "mdy"), (_DATE_NUMERIC, "dmy")):
        m = pattern.search(folded)
        if not m:
            continue
        parts = dict(zip(order, m.groups()))
        month = _MONTHS.get(parts["m"]) if not parts["m"].isdigit() else int(parts["m"])
        try:
            return datetime.date(int(parts["y"]), month, int(parts["d"])).isoformat()
        except (TypeError, ValueError):  # "31 février": not a date
            continue
    return None


def _lines(text: str) -> list[Span]:
    """Spans of every line, without its newline."""
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append(Span(pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _trim(text: str, span: Span) -> Span:
    """Shrink a span past surrounding whitespace."""
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def _is_junk(folded: str) -> bool:
    """A line with no word of three letters or more (' a le à :', ' |  | ') carries no prose."""
    return not re.search(r"[a-z0-9]{3,}", folded)


def _looks_like_heading(line: str) -> bool:
    """Short, unpunctuated (or a short question): a title, section heading or image caption, not prose."""
    n_words = len(re.findall(r"\w+", line))
    if line.endswith("?"):
        return n_words <= 14
    return n_words <= 16 and not line.rstrip("*_ ").endswith(tuple(_TERMINAL))


def clean_article(article: Article) -> Article:
    """Metadata and prose paragraphs of a raw article; the text is returned unchanged."""
    text = article.text
    title = author = date = url = None
    bylines: list[Span] = []
    kept: list[tuple[Span, str]] = []  # (span, kind) with kind 'body' or 'heading'
    blank_before: list[bool] = []
    seen: set[str] = set()
    previous_blank = True
    for raw in _lines(text):
        span = _trim(text, raw)
        line = text[span.start:span.end]
        folded = fold(line).strip("*_ ")
        if not folded:
            previous_blank = True
            continue
        url_match = _URL_LINE.match(line)
        if url_match:
            url = url or url_match.group(1)
        elif any(p.search(folded) for p in _FOOTER):
            break
        elif folded in seen or _is_junk(folded) or any(p.search(folded) for p in _BOILERPLATE):
            # A caption line right before a photo credit is part of the same image block.
            if kept and kept[-1][1] == "heading" and "credit" in folded:
                caption = fold(text[kept[-1][0].start:kept[-1][0].end])
                if folded.startswith(caption[: max(8, len(caption) // 2)]):
                    kept.pop(), blank_before.pop()
        elif (byline := _BYLINE.match(folded)) and len(line) < 200 and parse_date(line):
            author = author or line[byline.start("author"):byline.end("author")].strip()
            date = date or parse_date(line)
            bylines.append(span)
        elif _PUBLISHED.match(folded) and len(line) < 200 and parse_date(line):
            date = date or parse_date(line)
            bylines.append(span)
        elif heading := _MD_HEADING.match(line):
            if title is None and not any(kind == "body" for _, kind in kept):
                title = heading.group(1).strip()
            else:
                kept.append((Span(span.start + heading.start(1), span.start + heading.end(1)), "heading"))
                blank_before.append(previous_blank)
        else:
            kind = "heading" if _looks_like_heading(line) else "body"
            if kind == "heading" and title is None and not any(k == "body" for _, k in kept) and not kept:
                title = line.strip("*_ ")
            else:
                kept.append((span, kind))
                blank_before.append(previous_blank)
        seen.add(folded)
        previous_blank = False
    paragraphs, headings = _merge_broken_paragraphs(text, kept, blank_before)
    return replace(article, title=title, author=author, date=date, url=url,
                   paragraphs=tuple(paragraphs), headings=tuple(headings), bylines=tuple(bylines))


def _merge_broken_paragraphs(text: str, kept: list[tuple[Span, str]], blank_before: list[bool]):
    """Join lines that continue one sentence (soft wraps, or a paragraph broken mid-sentence)."""
    paragraphs: list[Span] = []
    headings: list[Span] = []
    open_sentence = False
    last = None  # where the previous kept line went: "body" or "heading"
    for (span, kind), blank in zip(kept, blank_before):
        line = text[span.start:span.end]
        starts_lower = line[:1].islower()
        if open_sentence and last == "body" and (not blank or starts_lower):
            paragraphs[-1] = Span(paragraphs[-1].start, span.end)
        elif open_sentence and last == "heading" and not blank and starts_lower:
            # A hard-wrapped paragraph whose first line was short enough to look like a heading.
            paragraphs.append(Span(headings.pop().start, span.end))
            last = "body"
        elif kind == "heading":
            headings.append(span)
            last = "heading"
        else:
            paragraphs.append(span)
            last = "body"
        open_sentence = not line.rstrip("*_ ").endswith(tuple(_TERMINAL))
    return paragraphs, headings
