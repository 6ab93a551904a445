"""The web page: a thin Gradio shell over `qa.service.QA` (see ../shared/CONTRACT.md).

Everything that turns an Answer into what the page shows is a pure function here (HTML of the
answer and its citation cards, Markdown for notes), so it is unit-tested without a server.
Every piece of article or question text put into HTML goes through `html.escape`: the page renders
that HTML as is (Gradio's gr.HTML does not sanitize), so nothing from a file or a user is markup.

Each cited article's exact text travels once with the answer (JSON in an attribute), so the source
viewer (a <dialog>) shows the whole article with the quote in a <mark> without another request; the
interface language setting (auto / français / English) picks the page's own words, never the quotes'.

`build_app` wires those functions to a Gradio Blocks page, and exposes the contract's JSON as the
API endpoint `/ask` (what `qa ask --json` prints, for gradio_client users). qa.web_server starts it.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# Before Gradio is imported anywhere: no telemetry, no version check, no hub calls.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from . import dates  # noqa: E402
from .errors import InputError  # noqa: E402
from .records import Answer, Citation  # noqa: E402
from .settings import RETRIEVAL_MODES  # noqa: E402
from .store import view_of  # noqa: E402
from .web_notes import (LABELS, UI_LANGUAGES, answer_text, citation_markdown, labels, notes_filename,  # noqa: E402
                        notes_markdown, safe_url)

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

    from .index import Index
    from .service import QA
    from .store import StoreView

log = logging.getLogger(__name__)

MAX_PASSAGES = 10
# Questions answered at once (a 2-core machine) and waiting at most; beyond that Gradio refuses with "busy".
# $QA_CONCURRENCY and $QA_QUEUE_SIZE override them when the page starts (a bigger machine, or a load test).
CONCURRENCY = 2
QUEUE_SIZE = 32

GENERIC_ERROR = "Something went wrong while answering; please try again. / Une erreur est survenue ; réessayez."


def ui_language(answer: Answer, language: object = None) -> str:
    """The language of the page's own words for this answer: the setting, or the question's with 'auto'."""
    return _language(language) or answer.language


# ---------------------------------------------------------------- small helpers

def esc(text: object) -> str:
    """Text made inert for HTML (element content and quoted attribute values alike)."""
    return html.escape("" if text is None else str(text), quote=True)


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
    return (
        '<header class="qa-header">'
        f'<h1>Questions sur {esc(fr_articles)}{esc(fr_when)}</h1>'
        '<p class="qa-intro">Posez une question en français ou en anglais : la réponse cite les articles mot pour mot, avec leurs sources.'
        f'<br><span lang="en">Ask about {esc(en_articles)}{esc(en_when)}, in French or English: '
        'answers quote the articles verbatim, with their sources.</span></p>'
        '</header>'
    )


# ---------------------------------------------------------------- HTML of an answer

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)\s*$")


def _markers_html(markers: str, known: set[int]) -> str:
    out = []
    for n in (int(x) for x in re.findall(r"\[(\d+)\]", markers)):
        if n in known:
            out.append(f'<a class="qa-ref" href="#qa-cite-{n}" data-qa-cite="{n}" '
                       f'aria-label="source {n}">[{n}]</a>')
        else:
            out.append(esc(f"[{n}]"))
    return "".join(out)


def answer_markdown_html(markdown: str, citation_numbers: Iterable[int] = ()) -> str:
    """The answer's Markdown as HTML, safely: paragraphs and `>` block quotes, [n] markers as links.

    Only that structure is interpreted; everything else in the text (HTML tags, Markdown links or
    emphasis from the articles or the question) is escaped and shows as the characters it is.
    """
    known = set(citation_numbers)
    blocks: list[list[str]] = [[]]
    for line in markdown.strip().splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    out = []
    for block in (b for b in blocks if b):
        if all(line.lstrip().startswith(">") for line in block):
            lines = []
            for line in block:
                text = re.sub(r"^\s*>\s?", "", line)
                m = _MARKERS.search(text)
                body, markers = (text[:m.start()], m.group(1)) if m else (text, "")
                lines.append(esc(body) + (" " + _markers_html(markers, known) if markers else ""))
            out.append(f"<blockquote>{'<br>'.join(lines)}</blockquote>")
        else:
            out.append(f"<p>{'<br>'.join(esc(line) for line in block)}</p>")
    return "\n".join(out)


def highlighted_context(citation: Citation) -> str:
    """The citation's paragraph as HTML, its quote in <mark>, located by offsets (never by searching)."""
    context, quote = citation.context, citation.quote
    start = citation.start - citation.context_start
    end = citation.end - citation.context_start
    if not context or not (0 <= start <= end <= len(context)) or context[start:end] != quote:
        return f"<mark>{esc(quote)}</mark>"
    return f"{esc(context[:start])}<mark>{esc(quote)}</mark>{esc(context[end:])}"


def _copy_button(markdown: str, text: str, done: str, failed: str, extra_class: str = "") -> str:
    """A button whose click copies `markdown` (held, escaped, in its data-qa-md attribute) in the browser."""
    classes = f"qa-btn {extra_class}".strip()
    return (f'<button type="button" class="{classes}" data-qa-action="copy" data-qa-md="{esc(markdown)}" '
            f'data-qa-done="{esc(done)}" data-qa-failed="{esc(failed)}">{esc(text)}</button>')


def utf16_offset(text: str, index: int) -> int:
    """A code-point index into `text` as a JavaScript (UTF-16) string index: astral characters count 2."""
    return index + sum(1 for ch in text[:index] if ord(ch) > 0xFFFF)


def _meta_html(citation: Citation, language: str) -> list[str]:
    """The card's metadata items: author, date, link to the original (http(s) only), doc name."""
    lab = labels(language)
    c = citation
    url = safe_url(c.url)
    meta = []
    if c.author:
        meta.append(f'<span class="qa-author">{esc(c.author)}</span>')
    if c.date and c.date_inferred:
        meta.append(f'<time class="qa-date qa-date-inferred" datetime="{esc(c.date)}">'
                    f'{esc(dates.date_label(c.date, True, language))}</time>')
    elif c.date:
        meta.append(f'<time class="qa-date" datetime="{esc(c.date)}">{esc(human_date(c.date, language))}</time>')
    else:
        meta.append(f'<span class="qa-date qa-undated">{esc(dates.date_label(None, False, language, c.year_hint))}</span>')
    if url:
        meta.append(f'<a class="qa-link" href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
                    f'{esc(lab["open"])} ({esc(url_host(url))}) ↗</a>')
    if c.title:  # without a title, the doc name is already the card's heading
        meta.append(f'<span class="qa-doc">{esc(c.doc)}</span>')
    return meta


def card_html(citation: Citation, language: str = "fr", nearest: bool = False, source: tuple[int, str] | None = None) -> str:
    """One source card: title (or doc name), author, date, link, the paragraph with the quote marked, score.

    `source` is (key, article text) when the article's whole text is on the page (`source_html`): the
    card's title and its "Show in article" button then open it, the quote highlighted. The card holds
    the quote's offsets as JavaScript string indices; they are given only when the quote is exactly
    that slice of the text, as the contract requires of every citation.
    """
    lab = labels(language)
    c = citation
    title = esc(c.title or c.doc)
    meta = _meta_html(c, language)
    viewable = source is not None and source[1][c.start:c.end] == c.quote and 0 <= c.start <= c.end
    data = ""
    if viewable:
        key, text = source  # type: ignore[misc]
        data = (f' data-qa-src="{key}" data-qa-from="{utf16_offset(text, c.start)}" '
                f'data-qa-to="{utf16_offset(text, c.end)}"')
        title = (f'<button type="button" class="qa-title-btn" data-qa-action="source" '
                 f'title="{esc(lab["show_source_title"])}">{title}</button>')
    parts = [
        f'<li class="qa-card{" qa-card-nearest" if nearest else ""}" id="qa-cite-{c.n}" data-n="{c.n}"{data}>',
        '<div class="qa-card-head">',
        f'<span class="qa-n">[{c.n}]</span>',
        f'<h3 class="qa-title" title="{esc(c.doc)}, {c.start}–{c.end}">{title}</h3>',
        f'<span class="qa-score">{esc(lab["score"])} {c.score:.2f}</span>',
        '</div>',
    ]
    if nearest:
        parts.append(f'<span class="qa-badge">{esc(lab["nearest_badge"])}</span>')
    if meta:
        parts.append(f'<div class="qa-meta">{" · ".join(meta)}</div>')
    parts += [
        f'<blockquote class="qa-context">{highlighted_context(c)}</blockquote>',
        '<div class="qa-card-actions">',
    ]
    if viewable:
        parts.append(f'<button type="button" class="qa-btn qa-btn-small qa-show-source" data-qa-action="source" '
                     f'title="{esc(lab["show_source_title"])}">{esc(lab["show_source"])}</button>')
    parts += [
        _copy_button(citation_markdown(c, language), lab["copy_one"], lab["copied"], lab["copy_failed"], "qa-btn-small"),
        '</div>',
        '</li>',
    ]
    return "".join(parts)


def source_html(key: int, citation: Citation, text: str, language: str = "fr") -> str:
    """One cited article's whole text, hidden until a card opens it in the viewer.

    The text travels as a JSON string in an attribute (escaped like any attribute): JSON.parse gives the
    browser the exact string, so the quote's offsets hold even where HTML parsing would change text
    (carriage returns, NUL). The viewer puts it in the page as text nodes, never as markup.
    """
    meta = _meta_html(citation, language)
    return (f'<div class="qa-src" data-qa-src-key="{key}" data-qa-doc="{esc(citation.doc)}" '
            f'data-qa-text="{esc(json.dumps(text, ensure_ascii=False))}" hidden>'
            f'<p class="qa-src-title">{esc(citation.title or citation.doc)}</p>'
            + (f'<div class="qa-meta">{" · ".join(meta)}</div>' if meta else "")
            + '</div>')


def viewer_html(language: str = "fr") -> str:
    """The (empty) dialog that shows a cited article; filled and opened in the browser (VIEWER_JS)."""
    lab = labels(language)
    return (
        '<dialog class="qa-viewer" aria-labelledby="qa-viewer-title">'
        '<div class="qa-viewer-box">'
        '<div class="qa-viewer-head">'
        '<span class="qa-n qa-viewer-n"></span>'
        '<h2 class="qa-viewer-title" id="qa-viewer-title"></h2>'
        f'<button type="button" class="qa-btn qa-btn-small qa-viewer-close" data-qa-action="close">'
        f'{esc(lab["close"])} ✕</button>'
        '</div>'
        '<div class="qa-viewer-meta"></div>'
        '<div class="qa-viewer-body"><div class="qa-article-text"></div></div>'
        '</div>'
        '</dialog>'
    )


def answer_html(answer: Answer, articles: Mapping[str, str] | None = None, language: str | None = None) -> str:
    """The answer as the page shows it: quoted sentences with [n] links (or the plain 'not found' sentence,
    then the nearest passages marked as such), copy/download buttons, one card per citation.

    `articles` (doc -> exact text) puts each cited article's text on the page once, for the source
    viewer; `language` is the interface language ('fr', 'en'; the question's when None): the page's own
    words, the header and 'not found' sentence follow it, the quotes stay as they are.
    """
    language = language or answer.language
    lab = labels(language)
    notes = notes_markdown(answer, language)
    numbers = [c.n for c in answer.citations] if answer.found else []
    state = "found" if answer.found else "not-found"
    sources: dict[str, int] = {}
    source_parts = []
    for c in answer.citations:
        if articles and c.doc in articles and c.doc not in sources:
            sources[c.doc] = len(sources)
            source_parts.append(source_html(sources[c.doc], c, articles[c.doc], language))
    parts = [
        f'<section class="qa-result qa-{state}" lang="{esc(language)}" data-language="{esc(answer.language)}" '
        f'data-found="{str(answer.found).lower()}" data-question="{esc(answer.question)}">',
        f'<div class="qa-answer">{answer_markdown_html(answer_text(answer, language), numbers)}</div>',
        '<div class="qa-actions">',
        _copy_button(notes, lab["copy_all"], lab["copied"], lab["copy_failed"], "qa-copy-all"),
        f'<button type="button" class="qa-btn qa-download" data-qa-action="download" data-qa-md="{esc(notes)}" '
        f'data-qa-filename="{esc(notes_filename(answer))}">{esc(lab["download"])}</button>',
        '</div>',
    ]
    if answer.citations:
        heading = lab["sources"] if answer.found else lab["nearest"]
        parts.append(f'<h2 class="qa-sources-title">{esc(heading)}</h2>')
        parts.append('<ol class="qa-cards">')
        parts.extend(card_html(c, language, nearest=not answer.found,
                               source=(sources[c.doc], articles[c.doc]) if c.doc in sources else None)  # type: ignore[index]
                     for c in answer.citations)
        parts.append('</ol>')
    if source_parts:
        parts.append('<div class="qa-sources-data" hidden>' + "".join(source_parts) + '</div>')
        parts.append(viewer_html(language))
    parts.append('</section>')
    return "\n".join(parts)


BUSY_MESSAGE = {
    "fr": "Le serveur est occupé (trop de questions attendent déjà leur réponse) ou injoignable : "
          "votre question n'a pas été traitée. Réessayez dans un instant.",
    "en": "The server is busy (too many questions are already waiting for an answer) or unreachable: "
          "your question was not processed. Please try again in a moment.",
}


def busy_html() -> str:
    """What the answer area shows when Gradio refuses a question (its queue is full) or cannot reach the server."""
    return ('<section class="qa-result qa-error qa-busy" role="alert" data-question="">'
            f'<p>⚠ {esc(BUSY_MESSAGE["fr"])}<br><span lang="en">{esc(BUSY_MESSAGE["en"])}</span></p></section>')


def error_html(message: str, question: object = "", language: object = None) -> str:
    """A readable error in place of the answer (no traceback, no internals), titled in the interface
    language ('fr', 'en'; both when it follows the question, as the question may be what failed)."""
    asked = esc(question if isinstance(question, str) else "")
    title = LABELS[language]["error"] if isinstance(language, str) and language in LABELS else f'{LABELS["fr"]["error"]} · {LABELS["en"]["error"]}'
    return (f'<section class="qa-result qa-error" role="alert" data-question="{asked}">'
            f'<p><strong>⚠ {esc(title)}</strong><br>{esc(message)}</p></section>')


# ---------------------------------------------------------------- the two handlers

def _passages(k: object, default: int) -> int:
    """The number of passages an API or page call asks for: a whole number from 1 to MAX_PASSAGES (an int, a
    float with no fraction such as the slider's 3.0, or such a number as text), the default when absent;
    InputError for anything else (infinity, NaN, 3.5, True, a list...), never an exception from converting it."""
    wrong = InputError(f"the number of passages must be a whole number between 1 and {MAX_PASSAGES}")
    if k is None or (isinstance(k, str) and not k.strip()):
        return default
    if isinstance(k, bool):
        raise wrong
    if isinstance(k, str):
        if len(k) > 40:
            raise wrong
        try:
            k = float(k.strip())
        except ValueError:
            raise wrong from None
    if isinstance(k, float):
        if not (math.isfinite(k) and k.is_integer()):
            raise wrong
        k = int(k)
    if not isinstance(k, int) or not 1 <= k <= MAX_PASSAGES:
        raise wrong
    return k


def _mode(mode: object) -> str | None:
    if mode in (None, ""):
        return None
    if not isinstance(mode, str) or mode not in RETRIEVAL_MODES:
        raise InputError(f"unknown retrieval mode {_shown(mode)}: choose one of {', '.join(RETRIEVAL_MODES)}")
    return mode


def _language(language: object) -> str | None:
    if language in (None, "", "auto"):
        return None
    if not isinstance(language, str) or language not in UI_LANGUAGES:
        raise InputError(f"unknown interface language {_shown(language)}: choose one of {', '.join(UI_LANGUAGES)}")
    return language


def _bound(value: object, option: str) -> str | None:
    """A date bound as an API or page call sends it: None or text of at most 40 characters (the box's
    limit), for `dates.parse_bound`; InputError for anything else, never silently ignored."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InputError(f"{option} {_shown(value)} is not a date (write YYYY, YYYY-MM or YYYY-MM-DD)")
    return value


def _shown(value: object) -> str:
    """A caller's value in an error message: its repr, cut short (an API caller can send anything, of any size)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def queue_limits() -> tuple[int, int]:
    """(concurrency, queue size): the module's defaults, or $QA_CONCURRENCY / $QA_QUEUE_SIZE (InputError if not whole numbers in range)."""
    values = []
    for name, default, low in (("QA_CONCURRENCY", CONCURRENCY, 1), ("QA_QUEUE_SIZE", QUEUE_SIZE, 0)):
        raw = os.environ.get(name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            raise InputError(f"${name} must be a whole number, not {raw[:40]!r}") from None
        if not low <= value <= 10_000:
            raise InputError(f"${name} must be between {low} and 10000, not {value}")
        values.append(value)
    return values[0], values[1]


def cited_articles(answer: Answer, index: "StoreView | Index") -> dict[str, str]:
    """The exact text of each article the answer cites (doc -> text), for the source viewer, from the
    snapshot that answered (`index`): a writer replacing an article meanwhile never shifts the offsets."""
    view = view_of(index)
    articles = {doc: view.article(doc) for doc in {c.doc for c in answer.citations}}
    return {doc: a.text for doc, a in articles.items() if a is not None}


def answer_for(qa: "QA", question: object, k: object = None, mode: object = None,
               index: "StoreView | Index | None" = None, since: object = None, until: object = None) -> Answer:
    """QA.ask with the page's settings checked (passages 1–10, a known mode, dates as YYYY[-MM[-DD]]);
    InputError when invalid."""
    since_date = dates.parse_bound(_bound(since, "since"), option="since")
    until_date = dates.parse_bound(_bound(until, "until"), end=True, option="until")
    dates.check_range(since_date, until_date)
    return qa.ask(question, k=_passages(k, min(qa.settings.top_k, MAX_PASSAGES)), mode=_mode(mode), index=index,  # type: ignore[arg-type]
                  since=since_date, until=until_date)


def refreshed(qa: "QA") -> "QA":
    """The session after picking up an index generation another process wrote (`qa add` while the page runs)."""
    try:
        qa.refresh()
    except Exception:  # never let looking for a new index cost an answer from the one in use
        log.exception("could not look for a new index generation")
    return qa


def ask_page(qa: "QA", question: object, k: object = None, mode: object = None, language: object = None,
             since: object = None, until: object = None) -> str:
    """The page's handler: the answer's HTML, or a readable error (InputError's message, else a generic one).

    `language` is the interface language setting: 'auto' (or None) follows the question, 'fr' or 'en';
    `since` / `until` keep only articles dated within them (YYYY, YYYY-MM or YYYY-MM-DD, blank for none)."""
    try:
        _language(language)
        with refreshed(qa).store.snapshot() as view:  # the answer and the viewer's articles from one snapshot
            answer = answer_for(qa, question, k, mode, view, since, until)
            return answer_html(answer, cited_articles(answer, view), ui_language(answer, language))
    except InputError as exc:
        return error_html(str(exc), question, language)
    except Exception:  # anything else is logged here and shown without internals
        log.exception("error while answering %r", question)
        return error_html(GENERIC_ERROR, question, language)


def ask_json(qa: "QA", question: object, k: object = None, mode: object = None) -> dict:
    """The API handler: the contract's JSON object (`qa ask --json`), or {"question", "error"}."""
    try:
        return answer_for(refreshed(qa), question, k, mode).to_json()
    except InputError as exc:
        return {"question": question, "error": str(exc)}
    except Exception:
        log.exception("error while answering %r", question)
        return {"question": question, "error": GENERIC_ERROR}


# ---------------------------------------------------------------- page assets

def static_text(name: str) -> str:
    """A file of qa/web_static/ (the page's CSS and JavaScript), as text."""
    return files("qa").joinpath("web_static", name).read_text(encoding="utf-8")


# The page's styles (Gradio scopes them to its content area), what goes in its <head> as is (outside that
# area), and the answer area's script (gr.HTML's js_on_load).
CSS = static_text("page.css")
HEAD = "<style>\n" + static_text("head.css") + "</style>"
ANSWER_JS = static_text("answer.js")


def build_app(qa: "QA") -> "gr.Blocks":
    """The page: title, question box (Enter submits), examples, settings, the answer; plus the /ask API."""
    import gradio as gr

    from .service import example_questions

    summary = corpus_summary(qa.store)
    examples_list = example_questions(qa.settings.corpus_dir, qa.store.catalog())
    default_k = min(qa.settings.top_k, MAX_PASSAGES)
    title = f"Questions · {summary['n_articles']} articles"
    concurrency, queue_size = queue_limits()

    def ask(question: str, k: int = default_k, mode: str = qa.settings.mode) -> dict:
        """Answer a question about the articles: the same JSON object as `qa ask --json` (or {"question", "error"})."""
        return ask_json(qa, question, k, mode)

    def page(question: str, k: float, mode: str, language: str, since: str = "", until: str = "") -> str:
        return ask_page(qa, question, k, mode, language, since, until)

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.HTML(header_html(summary), elem_id="qa-title", js_on_load=None)
        with gr.Row(elem_id="qa-ask-row", equal_height=False):
            question = gr.Textbox(
                label="Votre question · Your question",
                placeholder=examples_list[0] if examples_list else "Posez une question · Ask a question",
                lines=1, max_lines=4, max_length=qa.settings.max_question_chars * 2, autofocus=True,
                scale=5, min_width=300, elem_id="qa-question")
            button = gr.Button("Demander · Ask", variant="primary", scale=1, min_width=110, elem_id="qa-ask-btn")
        examples = gr.Examples(examples_list or ["?"], inputs=[question], label="Exemples · Examples",
                               elem_id="qa-examples", examples_per_page=max(1, len(examples_list)), visible=bool(examples_list))
        with gr.Accordion("Réglages · Settings", open=False, elem_id="qa-settings"):
            with gr.Row():
                k = gr.Slider(1, MAX_PASSAGES, value=default_k, step=1, label="Passages cités · Passages cited",
                              elem_id="qa-k")
                mode = gr.Radio(list(RETRIEVAL_MODES), value=qa.settings.mode, label="Recherche · Retrieval mode",
                                info="hybrid = sens + mots exacts · meaning + exact words", elem_id="qa-mode")
            language = gr.Radio([(label, value) for value, label in UI_LANGUAGES.items()], value="auto",
                                label="Langue de l'interface · Interface language",
                                info="les citations restent telles quelles · quotes stay as written",
                                elem_id="qa-ui-language")
            with gr.Row():
                since = gr.Textbox(label="Depuis · Since", placeholder="AAAA[-MM[-JJ]] · YYYY[-MM[-DD]]", max_lines=1,
                                   max_length=40, elem_id="qa-since",
                                   info="articles datés de ce jour ou après · articles dated on or after")
                until = gr.Textbox(label="Jusqu'au · Until", placeholder="AAAA[-MM[-JJ]] · YYYY[-MM[-DD]]", max_lines=1,
                                   max_length=40, elem_id="qa-until",
                                   info="les articles non datés sont alors écartés · undated articles are then left out")
        output = gr.HTML("", elem_id="qa-output", js_on_load=ANSWER_JS, min_height=40)

        common = dict(fn=page, inputs=[question, k, mode, language, since, until], outputs=output, api_visibility="private",
                      concurrency_limit=concurrency, concurrency_id="qa", show_progress_on=output)
        # When an event fails before reaching `page` (the queue is full: Gradio refuses it and shows its own
        # "currently busy" toast; or the server went away), the answer area says so too, in both languages.
        # A browser-only function (fn=None): it needs no free place in the queue.
        failed = dict(fn=None, js=f"() => {json.dumps(busy_html())}", outputs=output, queue=False,
                      show_progress="hidden", api_visibility="private")
        question.submit(**common).failure(**failed)
        button.click(**common).failure(**failed)
        examples.load_input_event.then(**common).failure(**failed)
        gr.api(ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="qa")
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    return demo
