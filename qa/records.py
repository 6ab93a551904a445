"""Typed handoffs between the pipeline stages: load → clean → chunk → embed → index → query → rank → abstain → answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# How long work reports progress: one human-readable line at a time (the CLI prints them on stderr).
Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """The progress callback that says nothing."""


@dataclass(frozen=True)
class Span:
    """A `[start, end)` slice of an article's text, in code points, as the contract defines positions."""

    start: int
    end: int


@dataclass(frozen=True)
class Article:
    """One article file: its exact text (never rewritten) plus metadata and the spans that hold article prose."""

    doc: str
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None
    # The article's language ("fr", "en"): its front matter's `lang`, else detected from its prose at index time.
    lang: str | None = None
    # True when `date` was inferred from evidence in the text (qa.dates.infer_date), not stated by it or its front matter.
    date_inferred: bool = False
    # True when `title` is a stand-in made of the article's first words (it has no title line).
    title_inferred: bool = False
    # The latest year the text mentions (not after today): evidence shown beside an undated article, never its date.
    year_hint: int | None = None
    # Paragraph spans that are real article text (boilerplate, bylines, credits left out).
    paragraphs: tuple[Span, ...] = ()
    # Section headings, kept apart from the prose: they give passages context without being quoted.
    headings: tuple[Span, ...] = ()
    # Byline lines ("Par X. Publié le …"): citable for "who wrote it / when", not prose.
    bylines: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Passage:
    """A quotable unit: one to a few sentences, a slice `text[start:end]` of its article, with its paragraph."""

    id: int
    doc: str
    start: int
    end: int
    para_start: int
    para_end: int
    text: str
    heading: str | None = None
    # "text" for prose, "byline" for an author/date line (searched together with its article's title).
    kind: str = "text"


@dataclass(frozen=True)
class Hit:
    """A passage retrieved for a question, with the evidence that ranked it."""

    passage: Passage
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None


@dataclass(frozen=True)
class Citation:
    """A numbered source shown to the user; `quote == article.text[start:end]` always holds."""

    n: int
    doc: str
    title: str | None
    author: str | None
    url: str | None
    date: str | None
    start: int
    end: int
    quote: str
    score: float
    context: str = ""
    context_start: int = 0
    lang: str | None = None
    date_inferred: bool = False
    # A title made of the article's first words: shown to people, but `null` in the JSON (the article has none).
    title_inferred: bool = False
    year_hint: int | None = None

    def to_json(self) -> dict:
        """The contract's citation object (version 2: its keys in its order, then `lang` and `date_inferred`)."""
        return {
            "n": self.n,
            "doc": self.doc,
            "title": None if self.title_inferred else self.title,
            "url": self.url,
            "date": self.date,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 4),
            "lang": self.lang,
            "date_inferred": self.date_inferred if self.date else False,
        }


@dataclass(frozen=True)
class Answer:
    """What `ask` returns for one question: the Markdown answer, its citations, and whether the articles answer it."""

    question: str
    language: str
    found: bool
    answer: str
    citations: tuple[Citation, ...] = ()
    # Why `found` was decided as it was: the measured signals, for debugging and evaluation.
    evidence: dict = field(default_factory=dict, compare=False)
    # The calibrated probability that the articles answer the question (contract v2), None if not computed.
    confidence: float | None = None
    # (doc, start, end) of each sentence quoted in `answer`, in order: what quote accuracy is scored on.
    quotes: tuple[tuple[str, int, int], ...] = ()

    def to_json(self) -> dict:
        """The contract's `qa ask --json` object."""
        return {
            "question": self.question,
            "language": self.language,
            "found": self.found,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
        }


def catalog_row(article: Article, n_passages: int) -> dict:
    """One line of `qa articles`: what a citation of this article will show, and how it was found."""
    return {
        "doc": article.doc,
        "title": article.title,
        "title_from": "first words" if article.title_inferred else ("stated" if article.title else "none"),
        "author": article.author,
        "date": article.date,
        "date_status": "none" if not article.date else ("inferred" if article.date_inferred else "stated"),
        "year_hint": article.year_hint,
        "lang": article.lang,
        "url": article.url,
        "passages": n_passages,
    }
