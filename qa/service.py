"""The one API every shell uses (CLI, page, evaluation): open the index and model once, then answer questions."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date

import numpy as np

from .answer import compose
from .dates import within_dates
from .embed import Embedder, load_embedder
from .errors import InputError
from .index import Index
from .lang import detect_language
from .records import Answer
from .lexicon import content_words
from .glossary import english_phrases, phrase_renderings, translations
from .retrieve import (Query, context_terms, described_entities_in, match_words, retrieve, spelled_match,
                       spelling_for)
from .settings import Settings
from .store import EmbeddedStore, Store, StoreView, open_store, view_of
from .text import clean_input, terms


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


class WordVectorCache:
    """The query vectors of question words already embedded by this session's model, at most `size` of
    them (the oldest go first); safe to share between the page's worker threads."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, words: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {w: self._vectors[w] for w in words if w in self._vectors}
            for word in found:
                self._vectors.move_to_end(word)
            return found

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._vectors.update(vectors)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)


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
        self._word_vectors = WordVectorCache()
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

    def prepare(self, questions: list[str], index: StoreView | Index | None = None) -> list[Query]:
        """Queries for already-validated questions: one embedding pass for the questions and the words that need a vector."""
        if index is None:
            with self.store.snapshot() as view:
                return self.prepare(questions, view)
        index = view_of(index)
        languages = [detect_language(text) for text in questions]
        words = [content_words(english_phrases(text) if language == "en" else text)
                 for text, language in zip(questions, languages)]
        found = {w: spelled_match(index, w) for ws in words for w in ws}
        spelled = [spelling_for(question_words, language, found, self.settings.known_word_zipf)
                   for question_words, language in zip(words, languages)]
        # The French wording of an English expression ("come into force" → "entrer en vigueur") is French:
        # a common French word is not "corrected" into another corpus word ("entrer" → "être").
        french_words = [frozenset(w for rendering in phrase_renderings(text) for w in content_words(rendering))
                        if language == "en" else frozenset() for text, language in zip(questions, languages)]
        for spelling, french in zip(spelled, french_words):
            spelling.update(spelling_for([w for w in spelling if w in french], "fr", found, self.settings.known_word_zipf))
        # A vector is needed for a word nothing matched (the embedding bridge, a glossary sense) and, in an
        # English question, for a word the glossary may translate instead of its spelling match.
        unknown = sorted({w for ws, language, spelling in zip(words, languages, spelled) for w in ws
                          if spelling[w] is None or (language == "en" and self.settings.use_glossary
                                                     and spelling[w].how == "spelling" and translations(w))})
        # A question describing a rare entity ("a French cloud provider") is embedded with its name ("(OVH)").
        described = [described_entities_in(index, text, self.settings.specific_term_max_share)
                     if self.settings.use_entities else () for text in questions]
        embedded = [text + "".join(f" ({e.name})" for e in entities if e.specific) for text, entities in zip(questions, described)]
        # Question words come back in question after question ("hosting", "approve"): their vectors are
        # remembered, so a question embeds only its new words with it (one forward pass either way).
        word_vectors = self._word_vectors.get_many(unknown)
        new_words = [w for w in unknown if w not in word_vectors]
        vectors = (self.embedder.encode_queries(embedded + new_words) if questions
                   else np.zeros((0, 1), np.float32))
        fresh = dict(zip(new_words, vectors[len(questions):]))
        self._word_vectors.put_many(fresh)
        word_vectors.update(fresh)
        queries = []
        for text, vector, question_words, language, spelling, entities, french in zip(
                questions, vectors, words, languages, spelled, described, french_words):
            # The glossary is English → French: a French word missing from the articles is not English.
            glossary = self.settings.glossary_threshold if language == "en" and self.settings.use_glossary else None
            context = (context_terms(index, vector, self.settings.glossary_context_passages)
                       if glossary is not None and self.settings.glossary_context_passages else None)
            matches = match_words(index, question_words, word_vectors, self.settings.bridge_threshold, spelling,
                                  glossary, context, self.settings.glossary_context_threshold, french)
            question_terms = terms(text)
            matched = [m.term for m in matches if m.term] + [t for t in question_terms if t.isdigit()]
            queries.append(Query(text, language, vector, tuple(question_terms), tuple(matched), tuple(matches),
                                 entities))
        return queries

    def answer(self, query: Query, question: str, k: int | None = None, mode: str | None = None,
               index: StoreView | Index | None = None, since: date | None = None, until: date | None = None) -> Answer:
        """Retrieve and compose the answer for a prepared query (from `index`, by default a fresh snapshot),
        from articles dated within [since, until] when a bound is given (qa.dates.within_dates)."""
        if index is None:
            with self.store.snapshot() as view:
                return self.answer(query, question, k, mode, view, since, until)
        settings = self.settings if mode is None else replace(self.settings, mode=mode)
        if since is None and until is None:
            hits = retrieve(index, query, settings, k=k)
        else:  # the whole candidate pool, then the k best of the articles within the dates
            wanted = k or settings.top_k
            pool = retrieve(index, query, settings, k=max(wanted, settings.candidates))
            article = view_of(index).article
            hits = within_dates(pool, lambda hit: article(hit.passage.doc).date, since, until)[:wanted]
        return compose(index, query, hits, settings, question)

    def ask(self, question: str, k: int | None = None, mode: str | None = None,
            index: StoreView | Index | None = None, since: date | None = None, until: date | None = None) -> Answer:
        """Answer one question (from `index`, by default a fresh snapshot); InputError if it is not a usable question.

        Pass a snapshot when the caller needs the articles of the very snapshot that answered (the page's source viewer)."""
        text = validate_question(question, self.settings)
        if index is not None:
            return self.answer(self.prepare([text], index)[0], question, k, mode, index, since, until)
        with self.store.snapshot() as view:  # one snapshot for the whole answer, whatever writers do meanwhile
            return self.answer(self.prepare([text], view)[0], question, k, mode, view, since, until)

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
        with self.store.snapshot() as view:
            for i, query in zip(valid, self.prepare(list(valid.values()), view)):
                results[i] = self.answer(query, questions[i], k, mode, view, since, until)
        return results  # type: ignore[return-value]

