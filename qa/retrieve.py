"""Hybrid retrieval: dense and lexical (BM25) rankings fused by a convex combination of standardized
scores (or, as an option, weighted reciprocal rank fusion).

Everything here reads a `qa.store.StoreView` (the embedded index, or a PostgreSQL snapshot); a
loaded `Index` is accepted too and viewed through the embedded store.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from .answer_types import asks_about_article, has_answer_type, question_type
from .glossary import translations
from .lexicon import content_words
from .records import Hit
from .settings import Settings
from .store import StoreView, view_of
from .text import fold, terms


@dataclass(frozen=True)
class Query:
    """A question ready for search: its cleaned text, language, query vector and index terms."""

    text: str
    language: str
    vector: np.ndarray
    terms: tuple[str, ...]
    # BM25 terms for the question's words: as spelt, corrected or translated ('insurance' → 'assur').
    matched_terms: tuple[str, ...]
    # How each content word of the question was matched (for abstention and explanations).
    matches: tuple = ()

    @property
    def coverage(self) -> float:
        """Share of the question's content words that the articles contain in some form."""
        return sum(m.term is not None for m in self.matches) / len(self.matches) if self.matches else 1.0


@dataclass(frozen=True)
class TermMatch:
    """How one question word was matched to the index: directly, by spelling, by embedding, or not at all."""

    word: str
    term: str | None
    how: str  # "exact", "spelling", "embedding" or "none"
    similarity: float = 1.0


# How a question word is matched when the match is known rather than guessed by resemblance (the
# embedding bridge): the words BM25 is trusted to see, and that abstention counts as present.
SURE_MATCHES = ("exact", "spelling", "glossary")


def spelled_match(index: StoreView, word: str) -> TermMatch | None:
    """Match a word by spelling alone: its term as is, or the closest indexed spelling; None if neither."""
    index = view_of(index)
    term = (terms(word) or [None])[0]
    if term is None:
        return TermMatch(word, None, "none", 0.0)
    if index.has_term(term):
        return TermMatch(word, term, "exact")
    if len(term) < 5:
        return None
    # Ratio ≥ 0.8 on terms, then ≥ 0.85 on whole words (a typo can derail the stemmer:
    # 'hebergemnt' stems to itself, far from 'heberg'), five letters or more: fixes typos
    # without inventing matches for short words.
    close = difflib.get_close_matches(term, index.vocabulary, n=1, cutoff=0.8)
    if close:
        return TermMatch(word, close[0], "spelling", 0.8)
    close = difflib.get_close_matches(fold(word), list(index.folded_words), n=1, cutoff=0.85)
    return TermMatch(word, index.folded_words[close[0]], "spelling", 0.85) if close else None


# Verbs that carry little meaning in glossary phrases ("faire appel", "être d'accord", "donner son accord").
LIGHT_VERBS = frozenset({"etre", "avoir", "faire", "aller", "mettre", "donner", "prendre", "devenir", "rendre", "tenir"})


def glossary_match(index: StoreView, word: str, vector: np.ndarray, threshold: float) -> TermMatch | None:
    """Match an English word through the glossary: of its French translations that the articles use, the one
    whose words' embeddings are nearest the word's, if that cosine reaches `threshold`; else None.

    The dictionary proposes the senses ("appeal" → "faire appel", "recours"), the embedding picks the
    one these articles use; the threshold, lower than the embedding bridge's, keeps a translation
    whose every sense is far from the word's meaning here from being matched.
    """
    index = view_of(index)
    candidates = {term for french in translations(word) for french_word in content_words(french)
                  if fold(french_word) not in LIGHT_VERBS for term in terms(french_word) if index.has_term(term)}
    if not candidates:
        return None
    similarity, term = max((index.lexicon.term_similarity(vector, term), term) for term in candidates)
    return TermMatch(word, term, "glossary", similarity) if similarity >= threshold else None


def match_words(index: StoreView, words: list[str], word_vectors: dict[str, np.ndarray], bridge_threshold: float,
                spelled: dict[str, TermMatch | None] | None = None,
                glossary_threshold: float | None = None) -> list[TermMatch]:
    """Map question words to index terms: as spelt, else the closest spelling, else a glossary translation
    (when `glossary_threshold` is given: English questions), else the nearest corpus word.

    Typos ("hebergemnt") and English words ("insurance") miss BM25's vocabulary; the corpus word whose
    embedding is nearest (`word_vectors` holds the question words' vectors) stands in for them when the
    cosine reaches `bridge_threshold`, so unrelated words are not matched. `spelled` holds
    `spelled_match` results the caller already computed (the spelling search is the costly part).
    """
    index = view_of(index)
    out = []
    for word in words:
        match = spelled[word] if spelled is not None and word in spelled else spelled_match(index, word)
        if match is None and glossary_threshold is not None:
            match = glossary_match(index, word, word_vectors[word], glossary_threshold)
        if match is None:
            _corpus_word, term, similarity = index.lexicon.nearest(word_vectors[word].reshape(1, -1))[0]
            ok = similarity >= bridge_threshold and index.has_term(term)
            match = TermMatch(word, term if ok else None, "embedding" if ok else "none", similarity)
        out.append(match)
    return out


def dense_ranking(index: StoreView, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
    """(passage id, cosine) of the n nearest passages."""
    return view_of(index).dense_search(vector, n)


def lexical_ranking(index: StoreView, query_terms: list[str], n: int) -> list[tuple[int, float]]:
    """(passage id, BM25 score) of the n best passages with a positive score."""
    return view_of(index).lexical_search(list(query_terms), n)


def lexical_weight(query: Query, settings: Settings) -> float:
    """How much the BM25 ranking counts in reciprocal rank fusion for this question (dense counts 1).

    BM25 runs over French text: it matches a French question's words, but for an English one only the
    shared names (CNIL, Microsoft, Conseil d'État) and the words the lexicon translates, so English
    questions weigh it less.
    """
    return settings.lexical_weight_en if query.language == "en" else settings.lexical_weight_fr


def lexical_share(query: Query, settings: Settings) -> float:
    """The lexical share of the convex-combination score for this question, between 0 and lexical_weight_max.

    BM25 can only be trusted as far as it sees the question: its share grows with the share of the
    question's content words found in the articles as spelt, with a typo fixed or translated by the
    glossary (words matched only through the embedding lexicon are guesses and do not count). This
    needs no language detection, which is unreliable on short questions.
    """
    if not query.matches:
        return settings.lexical_weight_max
    seen = sum(m.how in SURE_MATCHES for m in query.matches)
    return settings.lexical_weight_max * seen / len(query.matches)


def fuse(rankings: list[tuple[list[tuple[int, float]], float]], rrf_k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion: Σ weight / (rrf_k + rank), rank counted from 1."""
    fused: dict[int, float] = {}
    for ranking, weight in rankings:
        for rank, (pid, _score) in enumerate(ranking, start=1):
            fused[pid] = fused.get(pid, 0.0) + weight / (rrf_k + rank)
    return fused


def standardized(scores: dict[int, float], pids: list[int], missing: float) -> dict[int, float]:
    """Each passage's score as a z-score over `pids`; a passage absent from `scores` scores `missing`."""
    values = np.array([scores.get(pid, missing) for pid in pids], dtype=np.float64)
    std = values.std()
    z = (values - values.mean()) / (std if std > 0 else 1.0)
    return dict(zip(pids, z.tolist()))


def combine(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], lexical_share: float) -> dict[int, float]:
    """Convex combination of standardized dense and lexical scores over the union of both candidate lists.

    Cosines and BM25 scores live on different scales; standardizing both over the same candidates puts
    them on one. A passage missing from the lexical list has no question term (BM25 0); one missing
    from the dense list scores as its last one (its cosine is at most that).
    """
    pids = sorted({pid for pid, _s in dense} | {pid for pid, _s in lexical})
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    dense_z = standardized(dense_scores, pids, min(dense_scores.values(), default=0.0))
    lexical_z = standardized(lexical_scores, pids, 0.0)
    return {pid: (1 - lexical_share) * dense_z[pid] + lexical_share * lexical_z[pid] for pid in pids}


def retrieve(index: StoreView, query: Query, settings: Settings, k: int | None = None, mode: str | None = None) -> list[Hit]:
    """The k best passages for a query under the chosen mode (hybrid, dense or lexical)."""
    index = view_of(index)
    k = k or settings.top_k
    mode = mode or settings.mode
    n = max(settings.candidates, k)
    dense = dense_ranking(index, query.vector, n) if mode in ("hybrid", "dense") else []
    lexical = lexical_ranking(index, list(query.matched_terms), n) if mode in ("hybrid", "lexical") else []
    passages = index.passages(list(dict.fromkeys([pid for pid, _ in dense] + [pid for pid, _ in lexical])))
    if mode == "dense":
        fused = {pid: score for pid, score in dense}
    elif mode == "lexical":
        fused = {pid: score for pid, score in lexical}
    else:
        if settings.fusion == "rrf":
            fused = fuse([(dense, 1.0), (lexical, lexical_weight(query, settings))], settings.rrf_k)
            boost = settings.rrf_answer_type_boost
        else:
            fused = combine(dense, lexical, lexical_share(query, settings))
            boost = settings.answer_type_boost
        kind = question_type(query.text)
        if kind and boost:
            # A passage that holds the kind of answer asked for (a date for "quand", a cause for
            # "pourquoi") moves up a few places among the candidates.
            for pid in fused:
                if has_answer_type(passages[pid].text, kind):
                    fused[pid] += boost
    if not asks_about_article(query.text):
        # A byline only answers "who wrote the article / when was it published".
        fused = {pid: score for pid, score in fused.items() if passages[pid].kind != "byline"}
    dense_info = {pid: (rank, score) for rank, (pid, score) in enumerate(dense, start=1)}
    lexical_info = {pid: (rank, score) for rank, (pid, score) in enumerate(lexical, start=1)}
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    hits = []
    for pid, score in ordered:
        d_rank, d_score = dense_info.get(pid, (None, None))
        l_rank, l_score = lexical_info.get(pid, (None, None))
        hits.append(Hit(passages[pid], score, d_score, d_rank, l_score, l_rank))
    return hits
