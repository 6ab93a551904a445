"""Find the article prose inside a raw news file, and its metadata, without rewriting a character.

News pages copied to text carry bylines, photo credits, subscription banners, reading times,
comment forms and duplicated lines. Cleaning classifies each line and returns the spans of the real
paragraphs; the text itself stays as read, so every later quote is an exact slice of the file.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .dates import find_dates, infer_date, latest_year, parse_date
from .frontmatter import read_front_matter
from .records import Article, Span
from .text import fold

__all__ = ["clean_article", "parse_date", "title_standin"]

_URL_LINE = re.compile(r"^<?(https?://[^\s<>]+)>?$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
# The author runs to a separator: '|', '.', ',', a dash, or a hyphen between spaces ("Par Jean Roe - Lyon"); a
# hyphen inside a word is part of the name ("Par Marie Saint-Amand"). Matched on the folded line (_BYLINE) and
# on the line as written, to keep the author's accents (_BYLINE_AS_WRITTEN).
_AUTHOR = r"(?P<author>[^|.,–—]+?)\s*(?:[|.,–—]|\s-\s|-$|$)"
_BYLINE = re.compile(r"^(?:(?:ecrit|redige|publie)\s+)?(?:par|by)\s+" + _AUTHOR)
_BYLINE_AS_WRITTEN = re.compile(r"^\W*(?:(?:[ée]crit|r[ée]dig[ée]|publi[ée])\s+)?(?:par|by)\s+" + _AUTHOR, re.IGNORECASE)
# A reading time ("5 min read", "Lecture : 4 min", "4 min de lecture", "Temps de lecture : 4 minutes"),
# matched on the folded line: page furniture, even beside a byline's date.
_READING_TIME = re.compile(r"(?:temps de )?lecture\s*:?\s*\d+\s*min(?:ute)?s?|\d+\s*min(?:ute)?s?(?:\s+(?:de lecture|read))?")
_PUBLISHED = re.compile(r"^(?:publie|mis a jour|mis en ligne|modifie|actualise|published|updated|posted|last updated)\b")
# A name: one to five capitalized words, with the particles of French, Dutch, German and Spanish names,
# several authors joined by 'et', 'and' or commas ("Jane Roe and John Doe", "Marie de La Tour").
_NAME = re.compile(r"^(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*|de|du|des|la|le|van|von|der|da|di|y|et|and|&|,)"
                   r"(?:\s+(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*|de|du|des|la|le|van|von|der|da|di|y|et|and|&|,))*$")

# Lines that are page furniture, never article text (matched on the folded line).
_BOILERPLATE = [re.compile(p) for p in (
    r"^test \d+ jours?$", r"^(?:je m.)?abonne", r"^abonnez", r"^subscribe", r"^s.inscrire",
    r"^©", r"(?:^\(?|[|/—–·(-]\s*)(?:photo\s+)?credits?(?:\s+photos?\b|\s*:)", r"^photo\s*:", r"^\(?photo\b.*\)$", r"\b(?:afp|reuters|getty)\)?$",
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


def _looks_like_heading(line: str, max_words: int = 16) -> bool:
    """Short, unpunctuated (or a short question): a title, section heading or image caption, not prose."""
    n_words = len(re.findall(r"\w+", line))
    if line.endswith("?"):
        return n_words <= 14
    return n_words <= max_words and not line.rstrip("*_ ").endswith(tuple(_TERMINAL))


# Separators of a site's menu or breadcrumb line ("News | Sport", "Accueil › Économie", "Home ▸ Deals").
_MENU_SEPARATORS = re.compile(r"\s[|›»▸•>/·]\s")


def _looks_like_menu(line: str) -> bool:
    """A site's menu or breadcrumb: two separators or more ("News | Sport | Culture"), or words laid out
    in columns by runs of spaces ("Accueil   Vivre ici   Agenda"), or a menu icon."""
    if find_dates(line, "fr") or find_dates(line, "en"):
        return False  # "Rédaction | 3 octobre 2024 | 4 min": a byline, whatever its separators
    return (len(_MENU_SEPARATORS.findall(f" {line} ")) >= 2 or len(re.findall(r"\S\s{2,}(?=\S)", line)) >= 2
            or "☰" in line)


def _looks_like_masthead(line: str) -> bool:
    """A page's masthead above its title: a menu or breadcrumb, or a short line in capitals (a site's
    name). Headlines are neither."""
    if _looks_like_menu(line):
        return True
    letters = [c for c in line if c.isalpha()]
    return 4 <= len(letters) <= 60 and 2 <= len(line.split()) <= 5 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def clean_article(article: Article) -> Article:
    """Metadata and prose paragraphs of a raw article; the text is returned unchanged.

    Metadata comes from the front matter first (what it says wins), then from the text: a Markdown
    heading or short first line as title, bylines ("Par X. Publié le 4 mars 2024", "By Jane Roe",
    "March 13, 2024") for author and date, else a date inferred from the text (marked as such), else
    none. The language is the front matter's `lang`, else detected from the prose. An article without
    a title line gets a stand-in made of its first words (`title_inferred`).
    """
    text = article.text
    front = read_front_matter(text)
    fields = front.fields
    lang = fields.get("lang") or _language(text[front.end:])
    title = author = date = url = None
    bylines: list[Span] = []
    kept: list[tuple[Span, str]] = []  # (span, kind) with kind 'body' or 'heading'
    blank_before: list[bool] = []
    marked: set[int] = set()  # where Markdown headings start: sections, even above the first paragraph
    below_menu = 0  # where the page's last menu line above the first paragraph ends
    seen: set[str] = set()
    previous_blank = True
    for raw in _lines(text):
        if raw.start < front.end:
            continue  # the front matter: metadata, never prose
        span = _trim(text, raw)
        line = text[span.start:span.end]
        folded = fold(line).strip("*_ ")
        if not folded:
            previous_blank = True
            continue
        in_header = not any(kind == "body" for _, kind in kept)
        url_match = _URL_LINE.match(line)
        if url_match:
            url = url or url_match.group(1)
        elif any(p.search(folded) for p in _FOOTER):
            break
        elif (in_header and date is None and len(line) < 200 and _READING_TIME.search(folded)
              and (found := _byline(line, folded, lang, in_header, True)) is not None and found[1]):
            # A reading time is furniture, but "Lecture 4 min — Publié le 13/10/2023" also dates the article.
            author, date = author or found[0], found[1]
            bylines.append(span)
        elif folded in seen or _is_junk(folded) or any(p.search(folded) for p in _BOILERPLATE):
            # A caption line right before a photo credit is part of the same image block.
            if kept and kept[-1][1] == "heading" and "credit" in folded:
                caption = fold(text[kept[-1][0].start:kept[-1][0].end])
                if folded.startswith(caption[: max(8, len(caption) // 2)]):
                    kept.pop(), blank_before.pop()
        elif len(line) < 200 and (found := _byline(line, folded, lang, in_header,
                                                   title is not None or bool(bylines) or bool(kept))) is not None:
            found_author, found_date = found
            author = author or found_author
            date = date or found_date
            if found_author or found_date:
                bylines.append(span)
        elif heading := _MD_HEADING.match(line):
            if title is None and in_header:
                title = heading.group(1).strip()
            else:
                marked.add(span.start + heading.start(1))
                kept.append((Span(span.start + heading.start(1), span.start + heading.end(1)), "heading"))
                blank_before.append(previous_blank)
        elif in_header and _looks_like_masthead(line):
            # A site's name or menu above the title ("THE DAILY NEWS", "News › Transport"): not prose. What
            # stands above a menu is the site's own header (its name, its motto), not the headline.
            if _looks_like_menu(line):
                below_menu = span.end
        else:
            # Headlines run longer than section headings: above the first paragraph of an article without a
            # Markdown title, a line of up to 24 words may be the headline.
            kind = "heading" if _looks_like_heading(line, 24 if in_header and title is None else 16) else "body"
            kept.append((span, kind))
            blank_before.append(previous_blank)
        seen.add(folded)
        previous_blank = False
    paragraphs, headings = _merge_broken_paragraphs(text, kept, blank_before)
    # Short plain lines above the first paragraph are the page's header (site name, section, headline),
    # not section headings: the headline among them is the title.
    first = paragraphs[0].start if paragraphs else len(text)
    header = [h for h in headings if h.start < first and h.start not in marked]
    headings = [h for h in headings if h not in header]
    headline = _headline([text[h.start:h.end].strip("*_ ") for h in header if h.start >= below_menu]
                         or [text[h.start:h.end].strip("*_ ") for h in header])
    title = fields.get("title") or title or headline
    title_inferred = False
    if not title and paragraphs:
        title, title_inferred = title_standin(text[paragraphs[0].start:paragraphs[0].end]), True
    date_inferred = False
    prose = "\n".join(text[p.start:p.end] for p in sorted((*paragraphs, *headings), key=lambda s: s.start))
    if fields.get("date"):
        date = fields["date"]
    elif date is None:
        date = infer_date(prose, lang)
        date_inferred = date is not None
    return replace(article, title=title, author=fields.get("author") or author, date=date,
                   url=fields.get("url") or url, lang=lang, date_inferred=date_inferred, title_inferred=title_inferred,
                   year_hint=latest_year(prose),
                   paragraphs=tuple(paragraphs), headings=tuple(headings), bylines=tuple(bylines))


def _language(body: str) -> str:
    """The article's language from its first few thousand characters (qa.lang)."""
    from .lang import detect_article_language

    return detect_article_language(body[:4000])


def _headline(header: list[str]) -> str | None:
    """The title among the short lines above an article's first paragraph: the first one of at least half
    as many words as the longest. A section ("SPORT") or a place ("Lyon > Économie") is short and comes
    before the headline; a standfirst, often longer, comes after it."""
    sizes = [len(re.findall(r"\w+", line)) for line in header]
    return next((line for line, size in zip(header, sizes) if 2 * size >= max(sizes)), None)


def _byline(line: str, folded: str, lang: str, in_header: bool, after_first: bool) -> tuple[str | None, str | None] | None:
    """(author, date) of a byline or publication line, or None for a line that is neither.

    Recognized: 'Par X | 18 février 2024', 'By Jane Roe', 'Publié le 04/03/2024', 'Updated March 13, 2024',
    and, above the first paragraph but not as the first line (a title such as 'Élections du 4 mars 2024'),
    a line that is only a date ('Mardi 12 mars 2024, 10:32'). A publication
    line whose date is relative ('Publié il y a 2 jours') is furniture: (None, None).
    """
    dates = find_dates(line, lang)
    date = dates[0][2] if dates else None
    byline = _BYLINE.match(folded)
    if byline:
        # The author as written (not folded): the same span, since folding keeps the line's words in place.
        raw = _BYLINE_AS_WRITTEN.match(line.strip("*_ "))
        author = raw.group("author").strip("*_ ") if raw else None
        if date:
            return author, date
        # Without a date, only a short line naming someone ('By Jane Roe', 'Par Marie de La Tour, à Lyon').
        if in_header and author and len(line) < 100 and _NAME.match(author) and any(ch.isupper() for ch in author):
            return author, None
        return None
    if _PUBLISHED.match(folded):
        return (None, date) if date else (None, None)
    if in_header and after_first and dates and len(line) < 80:
        rest = _READING_TIME.sub(" ", fold(line[:dates[0][0]] + line[dates[0][1]:]))
        if len(re.findall(r"[^\W\d_]{3,}", rest)) <= 3:
            return None, date
    return None


def title_standin(paragraph: str, limit: int = 80) -> str:
    """A readable stand-in title from an article's first words: its first sentence when short, else the words
    that fit in `limit` characters followed by '…'."""
    flat = " ".join(paragraph.replace("*", " ").replace("_", " ").split())
    sentence = re.match(r"(.+?[.!?…])(?:\s|$)", flat)
    if sentence and len(sentence.group(1)) <= limit + 10:
        return sentence.group(1).rstrip(".")
    if len(flat) <= limit:
        return flat
    cut = flat[:limit + 1].rsplit(" ", 1)[0] if " " in flat[:limit + 1] else flat[:limit]
    return cut.rstrip(" ,;:–—-") + "…"


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
