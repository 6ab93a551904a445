"""The one API every shell uses (CLI, page, evaluation): open the index and model once, then answer questions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from .answer import compose
from .dates import in_range
from .embed import Embedder, load_embedder
from .errors import InputError
from .index import Index
from .query import Query, prepare
from .rank import rank
from .records import Answer
from .settings import Settings
from .store import EmbeddedStore, Store, StoreView, open_store
from .text import clean_input

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def validate_question(question: object, settings: Settings) -> str:
    """The cleaned question, or InputError saying why it cannot be asked."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    if len(question) > settings.max_question_chars * 10:
        raise InputError(f"the question is too long ({len(question):,} characters; the limit is {settings.max_question_chars:,})")
    text = clean_input(question)
    if not re.search(r"[^\W\d_]", _URL.sub(" ", text)):
        raise InputError("please ask a question: it has no words")
    if len(text) > settings.max_question_chars:
        raise InputError(f"the question is too long ({len(text):,} characters; the limit is {settings.max_question_chars:,})")
    return text


class QA:
    """A question-answering session over one store: the model and store are opened once and shared.

    Thread-safe for answering: the model is only read (encoding and language detection take their own
    locks) and each question is answered from one store snapshot — one index generation for the
    embedded store (swapping `self.index` after `qa add` never mixes two), one REPEATABLE READ
    transaction for PostgreSQL (an article replaced meanwhile is seen whole, old or new).
    A long-lived session (the page) calls `refresh` to pick up index generations other processes
    wrote; PostgreSQL needs none (every snapshot sees the last committed articles).
    """

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 progress: Callable[[str], None] = lambda _m: None, index: Index | None = None,
                 store: Store | None = None):
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or load_embedder(self.settings.model, self.settings.torch_threads)
        if store is None and index is not None:
            store = EmbeddedStore(self.settings, index)
        self.store = store or open_store(self.settings, self.embedder, progress)

    def refresh(self) -> bool:
        """Pick up what other processes wrote since this session opened its store (see `Store.refresh`).

        Why: the page opens the store once and runs for days; without this, articles added with
        `qa add` while it runs would stay invisible until a restart. True if it switched.
        """
        return self.store.refresh(self.embedder.name)

    @property
    def index(self) -> Index:
        """The loaded index generation (embedded store only; PostgreSQL has no index folder)."""
        if not isinstance(self.store, EmbeddedStore):
            raise AttributeError("a PostgreSQL store has no index folder; use QA.store")
        return self.store.index

    @index.setter
    def index(self, index: Index) -> None:
        if not isinstance(self.store, EmbeddedStore):
            raise AttributeError("a PostgreSQL store has no index folder; use QA.store")
        self.store.index = index

    def article_text(self, doc: str) -> str | None:
        """An article's exact text as the store holds it (what every quote is sliced from), or None."""
        with self.store.snapshot() as view:
            article = view.article(doc)
        return article.text if article is not None else None

    def prepare(self, questions: list[str]) -> list[Query]:
        """Queries for already-validated questions (one embedding pass for all of them)."""
        if not questions:
            return []
        vectors = self.embedder.encode_queries(list(questions))
        return [prepare(text, vector) for text, vector in zip(questions, vectors)]

    def answer(self, query: Query, question: str, k: int | None = None, mode: str | None = None,
               view: StoreView | None = None, since: date | None = None, until: date | None = None) -> Answer:
        """Rank and compose the answer for a prepared query (from `view`, by default a fresh snapshot),
        from articles dated within [since, until] when a bound is given (qa.dates.in_range), searched for before ranking."""
        if view is None:
            with self.store.snapshot() as view:  # one snapshot for the whole answer, whatever writers do meanwhile
                return self.answer(query, question, k, mode, view, since, until)
        keep = None
        if since is not None or until is not None:
            keep = lambda passage: in_range(view.article(passage.doc).date, since, until)  # noqa: E731
        ranking = rank(view, query, self.settings, mode, keep)
        return compose(view, query, ranking, self.settings, question, k)

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            view: StoreView | None = None, since: date | None = None, until: date | None = None) -> Answer:
        """Answer one question (from `view`, by default a fresh snapshot); InputError if it is not a usable question.

        Pass a snapshot when the caller needs the articles of the very snapshot that answered (the page's source viewer)."""
        text = validate_question(question, self.settings)
        return self.answer(self.prepare([text])[0], question, k, mode, view, since, until)

    def ask_many(self, questions: Iterable[str], k: int | None = None, mode: str | None = None,
                 since: date | None = None, until: date | None = None) -> list[Answer | InputError]:
        """Answer a batch (one embedding pass); an invalid question yields its InputError in its place."""
        questions = list(questions)
        valid: dict[int, str] = {}
        results: list[Answer | InputError | None] = [None] * len(questions)
        for i, question in enumerate(questions):
            try:
                valid[i] = validate_question(question, self.settings)
            except InputError as exc:
                results[i] = exc
        queries = self.prepare(list(valid.values()))
        with self.store.snapshot() as view:
            for i, query in zip(valid, queries):
                results[i] = self.answer(query, questions[i], k, mode, view, since, until)
        return results  # type: ignore[return-value]



# What a corpus says about itself lives in its folder, in `.qa/` (a hidden folder: never indexed).
EXAMPLES_FILE = Path(".qa") / "examples.txt"
MAX_EXAMPLES = 8


def example_questions(corpus_dir: Path, catalog: list[dict], limit: int = MAX_EXAMPLES) -> list[str]:
    """The page's example questions: `<corpus>/.qa/examples.txt` (one per line, `#` comments), else the
    titles the articles state (a title is a fine keyword query), so the examples always fit the corpus."""
    path = Path(corpus_dir) / EXAMPLES_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        lines = []
    examples = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not examples:
        examples = [row["title"] for row in catalog if row.get("title") and row.get("title_from") == "stated"]
    return [clean_input(e)[:200] for e in examples if clean_input(e)][:limit]
