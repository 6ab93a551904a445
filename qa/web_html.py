"""The page's HTML: an answer with its citation cards and source viewer, errors, the page's title; and the
page's CSS and JavaScript. Pure functions, unit-tested without a server.

Each function computes what its fragment shows and renders a Jinja2 template of qa/templates/ (read its
README for how they are written). The templates escape every value: the page shows this HTML as is
(Gradio's gr.HTML does not sanitize), so nothing from an article or a question is ever markup.

Each cited article's exact text travels once with the answer (JSON in an attribute), so the source viewer
(a <dialog>, driven by qa/web_static/answer.js) shows the whole article with the quote in a <mark> without
another request. The page's own words come from qa.web_notes.LABELS, in the interface language; quotes
stay as written.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from . import dates
from .records import Answer, Citation
from .web_notes import LABELS, answer_text, citation_markdown, labels, notes_filename, notes_markdown, safe_url

BUSY_MESSAGE = {
    "fr": "Le serveur est occupé (trop de questions attendent déjà leur réponse) ou injoignable : "
          "votre question n'a pas été traitée. Réessayez dans un instant.",
    "en": "The server is busy (too many questions are already waiting for an answer) or unreachable: "
          "your question was not processed. Please try again in a moment.",
}


def static_text(name: str) -> str:
    """A file of qa/web_static/ (the page's CSS and JavaScript), as text."""
    return files("qa").joinpath("web_static", name).read_text(encoding="utf-8")


# The page's styles (Gradio scopes them to its content area), what goes in its <head> as is (outside that
# area), and the answer area's script (gr.HTML's js_on_load).
CSS = static_text("page.css")
HEAD = "<style>\n" + static_text("head.css") + "</style>"
ANSWER_JS = static_text("answer.js")


# ---------------------------------------------------------------- templates

def esc(text: object) -> str:
    """Text made inert for HTML (element content and quoted attribute values alike)."""
    return html.escape("" if text is None else str(text), quote=True)


def _escaped(value: object) -> Markup:
    """What a template outputs for a value: HTML from another template or macro as is, anything else
    escaped by `esc` (None as nothing). Autoescaping would escape it too; this spells quotes as the
    page always has (&#x27;, &quot;), so the HTML stays byte for byte what it was."""
    return value if isinstance(value, Markup) else Markup(esc(value))


class _JoinedLines(Extension):
    """A template line ending in a backslash continues on the next, without the line break and the next
    line's indentation: one line of HTML written over several for reading."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\\\n[ \t]*", "", source)


_TEMPLATES = Environment(loader=PackageLoader("qa", "templates"), autoescape=True, finalize=_escaped,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, extensions=[_JoinedLines])


def _render(template: str, **values: object) -> Markup:
    return Markup(_TEMPLATES.get_template(template).render(**values))


def _macro(name: str):
    """A macro of parts.html, to call from Python."""
    return getattr(_TEMPLATES.get_template("parts.html").module, name)


# ---------------------------------------------------------------- the page's title

def url_host(url: str) -> str:
    """The host of a URL without 'www.', to name the link ('francesoir.fr')."""
    host = urlsplit(url).hostname or url
    return host[4:] if host.startswith("www.") else host


def human_date(iso: str | None, language: str = "fr") -> str | None:
    """'2024-02-18' as '18 février 2024' / '18 February 2024'; anything else as given (qa.dates)."""
    return dates.human_date(iso, language)


def date_range(dates: Iterable[str | None], language: str = "fr") -> str | None:
    """The span of the ISO dates given ('18 février – 4 mars 2024'); None when there is none."""
    known = sorted(d for d in dates if d and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d))
    if not known:
        return None
    first, last = known[0], known[-1]
    if first == last:
        return human_date(first, language)
    a, b = human_date(first, language), human_date(last, language)
    if first[:4] == last[:4]:
        a = a.rsplit(" ", 1)[0]  # the year once, at the end
    return f"{a} – {b}"


def corpus_summary(index) -> dict:
    """What the page's title says of the corpus (from an Index or a store): how many articles, the range of
    their dates, how many are undated or dated by inference, their languages."""
    if hasattr(index, "manifest"):
        articles = list(index.articles.values())
        found = [a.date for a in articles]
        inferred = [a.date_inferred for a in articles]
        langs = [a.lang for a in articles]
    else:
        stats = index.stats()
        found = stats["dates"]
        inferred = stats.get("dates_inferred") or [False] * len(found)
        langs = stats.get("langs") or [None] * len(found)
    return {
        "n_articles": len(found),
        "n_dated": sum(1 for d in found if d),
        "n_undated": sum(1 for d in found if not d),
        "n_inferred": sum(1 for d, i in zip(found, inferred) if d and i),
        "langs": sorted({lang for lang in langs if lang}),
        "range_fr": date_range(found, "fr"),
        "range_en": date_range(found, "en"),
    }


def header_html(summary: dict) -> str:
    """The page's title: what the corpus is (how many articles, from when, how many undated) and what the page does."""
    n = summary["n_articles"]
    french_only = summary.get("langs") == ["fr"]
    fr_articles = f"{n} article{'s' if n != 1 else ''} de presse" + (" français" if french_only else "")
    en_articles = f"{n}" + (" French" if french_only else "") + f" news article{'s' if n != 1 else ''}"
    undated, inferred = summary.get("n_undated", 0), summary.get("n_inferred", 0)
    fr_notes = [summary["range_fr"]] if summary.get("range_fr") else []
    en_notes = [summary["range_en"]] if summary.get("range_en") else []
    if inferred:
        fr_notes.append(f"{inferred} daté{'s' if inferred > 1 else ''} d'après le texte")
        en_notes.append(f"{inferred} dated from the text")
    if undated:
        fr_notes.append(f"{undated} non daté{'s' if undated > 1 else ''}" if undated < n else "aucun n'est daté")
        en_notes.append(f"{undated} undated" if undated < n else "none dated")
    fr_when = f" ({' ; '.join(fr_notes)})" if fr_notes else ""
    en_when = f" ({'; '.join(en_notes)})" if en_notes else ""
    return str(_render("header.html", fr_articles=fr_articles, fr_when=fr_when, en_articles=en_articles, en_when=en_when))


# ---------------------------------------------------------------- an answer

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)\s*$")


def answer_markdown_html(markdown: str, citation_numbers: Iterable[int] = ()) -> str:
    """The answer's Markdown as HTML, safely: paragraphs and `>` block quotes, [n] markers as links.

    Only that structure is interpreted; everything else in the text (HTML tags, Markdown links or
    emphasis from the articles or the question) is escaped and shows as the characters it is.
    """
    blocks: list[list[str]] = [[]]
    for line in markdown.strip().splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    shown = []
    for block in (b for b in blocks if b):
        if all(line.lstrip().startswith(">") for line in block):
            lines = []
            for line in block:
                text = re.sub(r"^\s*>\s?", "", line)
                m = _MARKERS.search(text)
                body, markers = (text[:m.start()], m.group(1)) if m else (text, "")
                lines.append({"text": body, "refs": [int(n) for n in re.findall(r"\[(\d+)\]", markers)]})
            shown.append({"tag": "blockquote", "lines": lines})
        else:
            shown.append({"tag": "p", "lines": [{"text": line, "refs": []} for line in block]})
    return str(_render("answer_text.html", blocks=shown, cited=set(citation_numbers)))


def highlighted_context(citation: Citation) -> str:
    """The citation's paragraph as HTML, its quote in <mark>, located by offsets (never by searching)."""
    context, quote = citation.context, citation.quote
    start = citation.start - citation.context_start
    end = citation.end - citation.context_start
    if not context or not (0 <= start <= end <= len(context)) or context[start:end] != quote:
        return str(_macro("marked")("", quote, ""))
    return str(_macro("marked")(context[:start], quote, context[end:]))


def utf16_offset(text: str, index: int) -> int:
    """A code-point index into `text` as a JavaScript (UTF-16) string index: astral characters count 2."""
    return index + sum(1 for ch in text[:index] if ord(ch) > 0xFFFF)


def citation_meta(citation: Citation, language: str) -> dict:
    """What a card (and the source viewer) says of a citation's article, for parts.html's `meta`: author,
    date in words (or 'undated'), link to the original (http(s) only), and the doc name when the title
    is the heading (without a title, the doc name already is)."""
    c = citation
    url = safe_url(c.url)
    if c.date and c.date_inferred:
        kind, text = "inferred", dates.date_label(c.date, True, language)
    elif c.date:
        kind, text = "stated", human_date(c.date, language)
    else:
        kind, text = "undated", dates.date_label(None, False, language, c.year_hint)
    return {"author": c.author, "date": c.date, "date_kind": kind, "date_text": text, "url": url,
            "host": url_host(url) if url else None, "link_text": labels(language)["open"],
            "doc": c.doc if c.title else None}


def card_html(citation: Citation, language: str = "fr", nearest: bool = False, source: tuple[int, str] | None = None) -> str:
    """One source card: title (or doc name), author, date, link, the paragraph with the quote marked, score.

    `source` is (key, article text) when the article's whole text is on the page (`source_html`): the
    card's title and its "Show in article" button then open it, the quote highlighted. The card holds
    the quote's offsets as JavaScript string indices; they are given only when the quote is exactly
    that slice of the text, as the contract requires of every citation.
    """
    c = citation
    viewable = source is not None and source[1][c.start:c.end] == c.quote and 0 <= c.start <= c.end
    shown_source = None
    if viewable:
        key, text = source  # type: ignore[misc]
        shown_source = {"key": key, "start": utf16_offset(text, c.start), "end": utf16_offset(text, c.end)}
    return str(_render("card.html", c=c, lab=labels(language), nearest=nearest, source=shown_source,
                       m=citation_meta(c, language), context=Markup(highlighted_context(c)),
                       markdown=citation_markdown(c, language)))


def source_html(key: int, citation: Citation, text: str, language: str = "fr") -> str:
    """One cited article's whole text, hidden until a card opens it in the viewer.

    The text travels as a JSON string in an attribute (escaped like any attribute): JSON.parse gives the
    browser the exact string, so the quote's offsets hold even where HTML parsing would change text
    (carriage returns, NUL). The viewer puts it in the page as text nodes, never as markup.
    """
    return str(_render("source.html", key=key, c=citation, text_json=json.dumps(text, ensure_ascii=False),
                       m=citation_meta(citation, language)))


def viewer_html(language: str = "fr") -> str:
    """The (empty) dialog that shows a cited article; filled and opened in the browser (answer.js)."""
    return str(_render("viewer.html", lab=labels(language)))


def answer_html(answer: Answer, articles: Mapping[str, str] | None = None, language: str | None = None) -> str:
    """The answer as the page shows it: quoted sentences with [n] links (or the plain 'not found' sentence,
    then the nearest passages marked as such), copy/download buttons, one card per citation.

    `articles` (doc -> exact text) puts each cited article's text on the page once, for the source
    viewer; `language` is the interface language ('fr', 'en'; the question's when None): the page's own
    words, the header and 'not found' sentence follow it, the quotes stay as they are.
    """
    language = language or answer.language
    numbers = [c.n for c in answer.citations] if answer.found else []
    sources: dict[str, int] = {}
    shown_sources = []
    for c in answer.citations:
        if articles and c.doc in articles and c.doc not in sources:
            sources[c.doc] = len(sources)
            shown_sources.append(Markup(source_html(sources[c.doc], c, articles[c.doc], language)))
    cards = [Markup(card_html(c, language, nearest=not answer.found,
                              source=(sources[c.doc], articles[c.doc]) if c.doc in sources else None))  # type: ignore[index]
             for c in answer.citations]
    return str(_render("answer.html", answer=answer, language=language, lab=labels(language),
                       body=Markup(answer_markdown_html(answer_text(answer, language), numbers)),
                       notes=notes_markdown(answer, language), filename=notes_filename(answer),
                       cards=cards, sources=shown_sources,
                       viewer=Markup(viewer_html(language)) if shown_sources else None))


# ---------------------------------------------------------------- instead of an answer

def busy_html() -> str:
    """What the answer area shows when Gradio refuses a question (its queue is full) or cannot reach the server."""
    return str(_render("busy.html", fr=BUSY_MESSAGE["fr"], en=BUSY_MESSAGE["en"]))


def error_html(message: str, question: object = "", language: object = None) -> str:
    """A readable error in place of the answer (no traceback, no internals), titled in the interface
    language ('fr', 'en'; both when it follows the question, as the question may be what failed)."""
    title = LABELS[language]["error"] if isinstance(language, str) and language in LABELS else f'{LABELS["fr"]["error"]} · {LABELS["en"]["error"]}'
    return str(_render("error.html", question=question if isinstance(question, str) else "", title=title, message=message))
