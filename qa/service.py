"""The one API every shell uses (CLI, page, evaluation): open the index and model once, then answer questions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from .answer import compose
from .embed import Embedder, load_embedder
from .errors import InputError
from .index import Index, ensure_index
from .lang import detect_language
from .records import Answer
from .lexicon import content_words
from .retrieve import Query, match_words, retrieve, spelled_match
from .settings import Settings
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


class QA:
    """A question-answering session over one index: the model and index are loaded once and shared.

    Thread-safe for answering: the model and index are only read (encoding and language detection take
    their own locks), and each question is answered from the one index generation it started with,
    so swapping `self.index` for a new one (after `qa add`) while others ask never mixes the two.
    """

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 progress: Callable[[str], None] = lambda _m: None, index: Index | None = None):
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or load_embedder(self.settings.model, self.settings.torch_threads)
        self.index = index or ensure_index(self.settings, self.embedder, progress)

    def prepare(self, questions: list[str], index: Index | None = None) -> list[Query]:
        """Queries for already-validated questions: one embedding pass for the questions and their unknown words."""
        index = index or self.index
        words = [content_words(text) for text in questions]
        spelled = {w: spelled_match(index, w) for ws in words for w in ws}
        unknown = sorted(w for w, match in spelled.items() if match is None)
        vectors = self.embedder.encode_queries(questions + unknown) if questions else np.zeros((0, 1), np.float32)
        word_vectors = dict(zip(unknown, vectors[len(questions):]))
        queries = []
        for text, vector, question_words in zip(questions, vectors, words):
            matches = match_words(index, question_words, word_vectors, self.settings.bridge_threshold, spelled)
            question_terms = terms(text)
            matched = [m.term for m in matches if m.term] + [t for t in question_terms if t.isdigit()]
            queries.append(Query(text, detect_language(text), vector, tuple(question_terms), tuple(matched), tuple(matches)))
        return queries

    def answer(self, query: Query, question: str, k: int | None = None, mode: str | None = None,
               index: Index | None = None) -> Answer:
        """Retrieve and compose the answer for a prepared query (from `index`, by default the session's)."""
        index = index or self.index
        settings = self.settings if mode is None else replace(self.settings, mode=mode)
        hits = retrieve(index, query, settings, k=k)
        return compose(index, query, hits, settings, question)

    def ask(self, question: str, k: int | None = None, mode: str | None = None) -> Answer:
        """Answer one question; InputError if the question is not a usable question."""
        text = validate_question(question, self.settings)
        index = self.index  # one generation for the whole answer, even if another thread swaps it
        return self.answer(self.prepare([text], index)[0], question, k, mode, index)

    def ask_many(self, questions: Iterable[str], k: int | None = None, mode: str | None = None) -> list[Answer | InputError]:
        """Answer a batch (one embedding pass); an invalid question yields its InputError in its place."""
        questions = list(questions)
        index = self.index
        valid: dict[int, str] = {}
        results: list[Answer | InputError | None] = [None] * len(questions)
        for i, question in enumerate(questions):
            try:
                valid[i] = validate_question(question, self.settings)
            except InputError as exc:
                results[i] = exc
        for i, query in zip(valid, self.prepare(list(valid.values()), index)):
            results[i] = self.answer(query, questions[i], k, mode, index)
        return results  # type: ignore[return-value]
