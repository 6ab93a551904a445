"""The answer as text in the page's interface language: the page's own words (LABELS), the answer's own
sentences swapped into that language, and the Markdown that "Copy for notes" and the .md download give.

Plain text only, no HTML: qa/web_html.py puts these into the page, escaped.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from . import dates
from .answer import MESSAGES
from .records import Answer, Citation

LABELS = {
    "fr": {
        "sources": "Sources",
        "nearest": "Passages les plus proches — ils ne répondent pas à la question",
        "nearest_badge": "proche, ne répond pas",
        "copy_all": "Copier pour mes notes",
        "copy_one": "Copier la citation",
        "copied": "Copié ✓",
        "copy_failed": "Échec de la copie",
        "download": "Télécharger (.md)",
        "open": "Lire l'article",
        "score": "score",
        "question": "Question",
        "error": "Impossible de répondre",
        "show_source": "Voir dans l'article",
        "show_source_title": "Afficher l'article entier, passage surligné",
        "close": "Fermer",
    },
    "en": {
        "sources": "Sources",
        "nearest": "Nearest passages — they do not answer the question",
        "nearest_badge": "nearest, does not answer",
        "copy_all": "Copy for notes",
        "copy_one": "Copy quote",
        "copied": "Copied ✓",
        "copy_failed": "Copy failed",
        "download": "Download (.md)",
        "open": "Read the article",
        "score": "score",
        "question": "Question",
        "error": "Cannot answer",
        "show_source": "Show in article",
        "show_source_title": "Show the whole article with the passage highlighted",
        "close": "Close",
    },
}


# The interface language setting: "auto" follows each question's language.
UI_LANGUAGES = {"auto": "Auto (suit la question · follows the question)", "fr": "Français", "en": "English"}


def labels(language: str) -> dict[str, str]:
    """The page's words in the question's language (English for any language but French)."""
    return LABELS.get(language, LABELS["en"])


def answer_text(answer: Answer, language: str | None = None) -> str:
    """The answer's Markdown with its own sentences (header, 'not found') in `language`; quotes untouched.

    The answer is composed in the question's language (qa/answer.py); only the sentence that is
    exactly one of its MESSAGES is swapped for the same message in the interface language.
    """
    language = language or answer.language
    source, target = MESSAGES.get(answer.language), MESSAGES.get(language, MESSAGES["en"])
    if not answer.found:
        if language == answer.language or source is None:
            return answer.answer
        return target["not_found"] if answer.answer.strip() == source["not_found"] else answer.answer
    text = answer.answer
    if language != answer.language and source is not None:
        first, newline, rest = text.partition("\n")
        if first.strip() == source["header"]:
            text = target["header"] + newline + rest
    # Quotes from an older year than the latest cited are marked with it ("(2020)"), undated ones too.
    return dates.mark_older_quotes(text, answer.citations, language)


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link, else None (never a javascript: or data: link)."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https") and parts.netloc and not any(c.isspace() or ord(c) < 32 for c in url):
        return url
    return None


# ---------------------------------------------------------------- Markdown for notes

def one_line(text: str) -> str:
    """Text on one line: runs of whitespace (newlines included) become one space."""
    return " ".join(text.split())


def notes_date(citation: Citation, language: str = "fr") -> str:
    """The date as notes give it: ISO ('2024-02-18'), '2020-10-08 (date déduite du texte)', or 'non daté' / 'undated'."""
    if not citation.date:
        return dates.undated_label(citation.year_hint, language)
    if citation.date_inferred:
        return f"{citation.date} ({dates.INFERRED.get(language, dates.INFERRED['en'])})"
    return citation.date


def source_line(citation: Citation, language: str = "fr") -> str:
    """'Title, author, date, URL' with what the article has (only http(s) URLs); its date always, or 'undated'."""
    parts = [citation.title or citation.doc, citation.author, notes_date(citation, language), safe_url(citation.url)]
    return ", ".join(one_line(p) for p in parts if p)


def citation_markdown(citation: Citation, language: str = "fr") -> str:
    """One citation for notes: the exact quote as a block quote, then '— Title, author, date, URL'."""
    quote = "\n".join(f"> {line}".rstrip() for line in citation.quote.strip().splitlines())
    return f"{quote}\n\n— {source_line(citation, language)}\n"


def notes_markdown(answer: Answer, language: str | None = None) -> str:
    """The whole answer for notes: the question, the answer's quoted sentences, then every source quoted.

    Its own words are in `language` (the interface language; the question's by default)."""
    language = language or answer.language
    lab = labels(language)
    parts = [f"**{lab['question']} :** {one_line(answer.question)}" if language == "fr"
             else f"**{lab['question']}:** {one_line(answer.question)}",
             answer_text(answer, language).strip()]
    if answer.citations:
        parts.append(f"**{lab['sources'] if answer.found else lab['nearest']}**")
        for c in answer.citations:
            parts.append(f"[{c.n}]\n{citation_markdown(c, language).rstrip()}")
    return "\n\n".join(parts) + "\n"


def notes_filename(answer: Answer) -> str:
    """A file name for the downloaded notes, from the question ('qa-pourquoi-le-maire-a-t-il-demissionne.md')."""
    folded = unicodedata.normalize("NFKD", answer.question).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:60].rstrip("-")
    return f"qa-{slug or 'answer'}.md"
