"""Hybrid retrieval: dense and lexical (BM25) rankings fused by a convex combination of standardized
scores (or, as an option, weighted reciprocal rank fusion).

Everything here reads a `qa.store.StoreView` (the embedded index, or a PostgreSQL snapshot); a
loaded `Index` is accepted too and viewed through the embedded store.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .answer_types import (ANSWER_FRAME_WORDS, PROFESSION_WORDS, ROLE_WORDS, acronyms, asked_event,
                           asks_about_article, asks_role_holder, event_trigger_words, has_answer_type, identity_subject, name_terms, names_role, question_type,
                           with_aliases)
from .entities import described_entities
from .glossary import english_phrases, english_spelling, translations
from .lexicon import content_words
from .records import Hit
from .settings import Settings
from .store import StoreView, view_of
from .text import fold, terms, words


@dataclass(frozen=True)
class DescribedEntity:
    """An entity a question describes ("la plus haute juridiction administrative") and the articles name."""

    name: str
    name_terms: frozenset[str]
    # The question's terms that make up the description ("french", "cloud", "provider").
    description_terms: frozenset[str]
    # Whether few passages name it (OVH), so that its name is worth adding to the question's embedding.
    specific: bool


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
    # The entities the question describes without naming them ("a French cloud provider": OVH).
    entities: tuple[DescribedEntity, ...] = ()

    @property
    def entity_terms(self) -> list[str]:
        """The described entities' name terms that the question lacks: searched by BM25 beside
        matched_terms. Not the question's own words: passage coverage weighs the description's words
        instead (a passage naming the entity holds them)."""
        out: list[str] = []
        for entity in self.entities:
            out.extend(t for t in sorted(entity.name_terms) if t not in self.terms and t not in out)
        return out

    @cached_property
    def kind(self) -> str | None:
        """The kind of answer asked for (a date, a number, an amount, a person, a reason), read once per question."""
        return question_type(self.text)

    @cached_property
    def role_body(self) -> frozenset[str] | None:
        """For a question asking who holds a role ("Qui préside la CNIL ?"), the index terms of the body
        ("cnil"); None for other questions, or when the question names no body the articles know."""
        if not asks_role_holder(self.text, self.kind):
            return None
        return self.body_terms(ROLE_WORDS) or None

    def body_terms(self, trigger: frozenset[str]) -> frozenset[str]:
        """The index terms of what a role or event question is about: its surely matched words other than
        the `trigger` words and the answer-frame words, or, when it describes a body, that body's name
        ("the French data protection authority" is the CNIL, not "données" and "protection")."""
        if self.entities:
            return frozenset().union(*(entity.name_terms for entity in self.entities))
        return frozenset(m.term for m in self.matches if m.term and m.how in SURE_MATCHES
                         and fold(m.word) not in trigger and fold(m.word) not in ANSWER_FRAME_WORDS)

    @cached_property
    def event_asked(self) -> tuple[str, frozenset[str]] | None:
        """For a question asking when a body was created or ruled ("When was ISOC founded?", "Quand le
        Conseil d'État statuera-t-il ?"), the event and the index terms of the body; None for others."""
        text = english_phrases(self.text) if self.language == "en" else self.text  # "set up" → "créer"
        event = asked_event(text, self.kind)
        if event is None:
            return None
        body = self.body_terms(event_trigger_words(event))
        return (event, body) if body else None

    @cached_property
    def person_asked(self) -> frozenset[str] | None:
        """For "Qui est Nicolas Chagny ?", the index terms of the person's name; None for other questions."""
        subject = identity_subject(self.text)
        if subject is None:
            return None
        named = {m.term for m in self.matches if m.term and m.how in SURE_MATCHES and fold(m.word) in subject}
        return frozenset(named) or None

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


def names_role_of(index: StoreView, passage, body: frozenset[str], roles: frozenset[str] = ROLE_WORDS) -> bool:
    """Whether a passage names a role held in the body (under any name its article gives the body:
    "président d'ISOC" for "Who heads Internet Society France?")."""
    if not roles.intersection(words(passage.text)):
        return False  # most passages: no need to read the article (a query per passage in PostgreSQL)
    article = index.article(passage.doc)
    aliases = acronyms(article.text) if article is not None else {}
    return names_role(passage.text, with_aliases(body, aliases), roles)


def described_people(index: StoreView, query: Query, passages: Mapping[int, object], mode: str) -> set[int]:
    """The passages that say what the person of a "Qui est Nicolas Chagny ?" question is, or what roles
    they hold ("Nicolas Chagny, président de l'ISOC"; "France Charruyer, avocate associée"), and
    those naming the holder of the role a "Qui préside la CNIL ?" question asks about: such passages
    answer the question, so retrieval puts them first. Only when the words asked about are a name in
    the candidate passages ("Who is behind the appeal?" is not about a person named "appeal")."""
    if mode != "hybrid":
        return set()
    if query.role_body:
        body, roles = query.role_body, ROLE_WORDS
    elif query.person_asked and query.person_asked <= name_terms(p.text for p in passages.values()):
        body, roles = query.person_asked, ROLE_WORDS | PROFESSION_WORDS
    else:
        return set()
    return {pid for pid, passage in passages.items() if names_role_of(index, passage, body, roles)}


def described_entities_in(index: StoreView, question: str, max_share: float) -> tuple[DescribedEntity, ...]:
    """The entities a question describes without naming them ("a French cloud provider") whose whole
    name the articles use; `specific` when every name term is in under `max_share` of the passages.

    A name most passages hold (Microsoft, CNIL) adds nothing to the embedding's sense of the question
    but pulls it toward the passages that merely mention the name; a rare one (OVH) is the answer's
    only handle.
    """
    index = view_of(index)
    out = []
    for entity, description in described_entities(question):
        if not all(index.has_term(t) for t in entity.name_terms):
            continue  # a body the articles never name ("Scaleway"), or only in part ("conseil" without "État")
        specific = all(is_specific(index, t, max_share) for t in entity.name_terms)
        out.append(DescribedEntity(entity.name, entity.name_terms, frozenset(description), specific))
    return tuple(out)


def answer_type_weight(holding: int, candidates: int) -> float:
    """How much holding the kind of answer asked for says about a passage: ln(candidates / holding), as IDF
    weighs a term. A cause ("faute de", "parce que") is in a fifth of the candidates and says much; a
    name is in nearly all of them and says little."""
    return math.log(candidates / holding) if holding else 0.0


def holds_specific_name(index: StoreView, text: str, query: Query, max_share: float) -> bool:
    """Whether a text names something the question does not and few passages do (in under `max_share`
    of them): "Hospices civils de Lyon, centre Léon Bérard" answers "Which four hospitals…", while
    "quatre grands hôpitaux" and the names every article repeats (CNIL, Microsoft) do not."""
    asked = set(query.terms) | set(query.matched_terms)
    return any(term not in asked and is_specific(index, term, max_share) for term in name_terms([text]))


def is_specific(index: StoreView, term: str, max_share: float) -> bool:
    """Whether an index term occurs in fewer than `max_share` of the passages: it says what a passage is
    about, where a term nearly every passage holds (CNIL, Microsoft, données) only says it is on topic."""
    index = view_of(index)
    return index.has_term(term) and index.document_frequency(term) / max(index.n_passages, 1) < max_share


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
    cache = getattr(index, "spelling_cache", None)  # one per index generation; None for other views
    if cache is not None and word in cache:
        return cache[word]
    match = _closest_spelling(index, word, term)
    if cache is not None and len(cache) < SPELLING_CACHE_SIZE:
        cache[word] = match
    return match


# Spelling matches remembered per index generation, at most (the vocabulary search costs milliseconds).
SPELLING_CACHE_SIZE = 50_000


def _closest_spelling(index: StoreView, word: str, term: str) -> TermMatch | None:
    """The closest indexed spelling of a word that is not in the index as spelt, or None."""
    # Ratio ≥ 0.8 on terms, then ≥ 0.85 on whole words (a typo can derail the stemmer:
    # 'hebergemnt' stems to itself, far from 'heberg'), five letters or more: fixes typos
    # without inventing matches for short words.
    close = difflib.get_close_matches(term, index.vocabulary, n=1, cutoff=0.8)
    if close:
        return TermMatch(word, close[0], "spelling", 0.8)
    close = difflib.get_close_matches(fold(word), list(index.folded_words), n=1, cutoff=0.85)
    return TermMatch(word, index.folded_words[close[0]], "spelling", 0.85) if close else None


def _is_known_word(word: str, language: str, min_zipf: float) -> bool:
    """Whether a word is common in `language` (wordfreq's Zipf frequency ≥ `min_zipf`), so spelt right."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, language) >= min_zipf


def _same_family(stem: str, term: str) -> bool:
    """Whether two stems are of one word family: one extends the other ("presid" → "president"), over a
    shared start of five letters at least, six when the corpus's is the shorter ("contrat" ≠ "contr")."""
    return (len(stem) >= 5 and term.startswith(stem)) or (len(term) >= 6 and stem.startswith(term))


def _corrected_into_another_word(word: str, match: TermMatch | None) -> bool:
    """Whether a spelling match turned the word into a corpus word outside its family ("ministre" →
    "ministère", "green" → "revenu"): wrong whenever the word was spelt right in the first place."""
    return (match is not None and match.how == "spelling"
            and not _same_family((terms(word) or [""])[0], match.term))


def spelling_for(words: list[str], language: str, found: Mapping[str, TermMatch | None],
                 known_word_zipf: float | None) -> dict[str, TermMatch | None]:
    """A question's spelling matches (`found`: spelled_match of each word), kept or dropped for its language.

    In a French question a common French word (Zipf ≥ `known_word_zipf`) is spelt right, so its
    "correction" to another corpus word ("ministre" → "ministère", "appelle" → "Apple") is dropped and
    the word counts as missing, unless the two stems are of one family ("préside" → "président").
    English words go through the glossary instead (match_words); None keeps every correction.
    """
    if language != "fr" or known_word_zipf is None:
        return {w: found[w] for w in words}

    def other_word(word: str, match: TermMatch | None) -> bool:
        return _corrected_into_another_word(word, match) and _is_known_word(word, "fr", known_word_zipf)

    return {w: None if other_word(w, found[w]) else found[w] for w in words}


# Verbs that carry little meaning in glossary phrases ("faire appel", "être d'accord", "donner son accord").
LIGHT_VERBS = frozenset({"etre", "avoir", "faire", "aller", "mettre", "donner", "prendre", "devenir", "rendre", "tenir"})


def translation_terms(word: str, typo: bool = False) -> set[str]:
    """The index terms of an English word's French translations, the light verbs of phrases left out
    ("appeal" → recour, appel). With `typo`, a word the glossary lacks is looked up as the nearest
    glossary word ("lenght" → "length")."""
    french = translations(word)
    if not french and typo:
        corrected = english_spelling(word)
        french = translations(corrected) if corrected else ()
    return {term for phrase in french for french_word in content_words(phrase)
            if fold(french_word) not in LIGHT_VERBS for term in terms(french_word)}


def glossary_match(index: StoreView, word: str, vector: np.ndarray | None, threshold: float,
                   context: Mapping[str, int] | None = None, context_threshold: float | None = None,
                   typo: bool = False) -> TermMatch | None:
    """Match an English word through the glossary to one of its French translations that the articles use.

    The dictionary proposes the senses ("appeal" → "faire appel", "recours"); the embedding picks the
    one these articles use: the translation whose words' embeddings are nearest the word's, if that
    cosine reaches `threshold`. Word embeddings are dominated by spelling, so that bar is high; a
    translation that the passages nearest the question use (`context`: term → how many of them hold
    it) needs only `context_threshold`. With `typo`, a misspelt English word ("lenght") is looked up
    as the nearest glossary word.
    """
    index = view_of(index)
    candidates = {term for term in translation_terms(word, typo) if index.has_term(term)}
    if not candidates or vector is None:
        return None
    passing = []
    for term in candidates:
        similarity = index.lexicon.term_similarity(vector, term)
        in_context = context_threshold is not None and context and context.get(term)
        bar = min(threshold, context_threshold) if in_context else threshold
        if similarity >= bar:
            passing.append((similarity, term))
    if not passing:
        return None
    similarity, term = max(passing)
    return TermMatch(word, term, "glossary", similarity)


def match_words(index: StoreView, words: list[str], word_vectors: dict[str, np.ndarray], bridge_threshold: float,
                spelled: dict[str, TermMatch | None] | None = None,
                glossary_threshold: float | None = None, context: Mapping[str, int] | None = None,
                context_threshold: float | None = None, french: frozenset[str] = frozenset()) -> list[TermMatch]:
    """Map question words to index terms: as spelt, else a glossary translation (when `glossary_threshold`
    is given: English questions), else the closest spelling, else the nearest corpus word.

    Typos ("hebergemnt") and English words ("insurance") miss BM25's vocabulary. For an English
    question the glossary comes before the spelling search, which would match English words to
    French look-alikes ("provider" → "poids"). The corpus word whose embedding is nearest
    (`word_vectors` holds the question words' vectors) stands in for a word nothing else matched
    when the cosine reaches `bridge_threshold`, so unrelated words are not matched. `spelled` holds
    `spelled_match` results the caller already computed (the spelling search is the costly part);
    `context` counts the terms of the passages nearest the question (see glossary_match). Words in
    `french` (an English expression's French wording, qa.glossary.english_phrases) skip the glossary.
    """
    index = view_of(index)
    out = []
    for word in words:
        match = spelled[word] if spelled is not None and word in spelled else spelled_match(index, word)
        if glossary_threshold is not None and word not in french and (match is None or match.how == "spelling"):
            translated = glossary_match(index, word, word_vectors.get(word), glossary_threshold, context,
                                        context_threshold, typo=match is None)
            if translated is None and translations(word) and _corrected_into_another_word(word, match):
                # An English word the glossary knows is spelt right: its French look-alike is another
                # word ("green" → "revenu", "legal" → "égal", "doing" → "poing").
                match = None
            match = translated or match
        if match is None:
            _corpus_word, term, similarity = index.lexicon.nearest(word_vectors[word].reshape(1, -1))[0]
            ok = similarity >= bridge_threshold and index.has_term(term)
            match = TermMatch(word, term if ok else None, "embedding" if ok else "none", similarity)
        out.append(match)
    return out


def context_terms(index: StoreView, vector: np.ndarray, n: int) -> dict[str, int]:
    """Term → how many of the n passages nearest a query vector hold it: the senses the articles use there."""
    index = view_of(index)
    pids = [pid for pid, _score in index.dense_search(vector, n)]
    counts: dict[str, int] = {}
    for passage in index.passages(pids).values():
        for term in set(terms(passage.text)):
            counts[term] = counts.get(term, 0) + 1
    return counts


def dense_ranking(index: StoreView, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
    """(passage id, cosine) of the n nearest passages."""
    return view_of(index).dense_search(vector, n)


def discount_hubs(index: StoreView, ranking: list[tuple[int, float]], weight: float, neighbours: int) -> list[tuple[int, float]]:
    """The dense ranking re-scored as cosine − weight × centrality, best first.

    A passage's centrality is its mean cosine with its `neighbours` nearest fellow candidates. In
    cross-lingual retrieval, generic passages that resemble every other passage on the topic ("hubs":
    the one summing up the whole story) come out nearest to many questions they do not answer;
    CSLS (Conneau et al. 2018) discounts such hubs the same way. It is computed over the candidates
    only, so it costs one small matrix product and works on any store.
    """
    if weight == 0 or len(ranking) < 2:
        return ranking
    ids = [pid for pid, _score in ranking]
    vectors = view_of(index).vectors(ids)
    # einsum, not `@`: a BLAS matrix product wakes OpenBLAS's threads, which then spin on the cores the
    # embedding model needs for the next question (measured: +85 ms per English question on 2 cores).
    similarities = np.einsum("id,jd->ij", vectors, vectors)
    np.fill_diagonal(similarities, -np.inf)
    k = min(neighbours, len(ids) - 1)
    centrality = np.sort(similarities, axis=1)[:, -k:].mean(axis=1)
    rescored = [(pid, score - weight * float(c)) for (pid, score), c in zip(ranking, centrality)]
    return sorted(rescored, key=lambda item: (-item[1], item[0]))


def hub_weight(query: Query, settings: Settings) -> float:
    """How much hub discounting applies to this question: measured to help English questions (cross-lingual
    cosines favour hubs) and to change nothing for French ones (README, 'How it works', step 6)."""
    return settings.hub_discount_en if query.language == "en" else settings.hub_discount_fr


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
    lexical = (lexical_ranking(index, list(query.matched_terms) + list(query.entity_terms), n)
               if mode in ("hybrid", "lexical") else [])
    passages = index.passages(list(dict.fromkeys([pid for pid, _ in dense] + [pid for pid, _ in lexical])))
    # Ranks with hubs discounted; the hits keep the plain cosines (shown as scores, read by abstention).
    ranked_dense = discount_hubs(index, dense, hub_weight(query, settings), settings.hub_neighbours)
    if mode == "dense":
        fused = {pid: score for pid, score in ranked_dense}
    elif mode == "lexical":
        fused = {pid: score for pid, score in lexical}
    else:
        if settings.fusion == "rrf":
            fused = fuse([(ranked_dense, 1.0), (lexical, lexical_weight(query, settings))], settings.rrf_k)
            boost = settings.rrf_answer_type_boost
        else:
            fused = combine(ranked_dense, lexical, lexical_share(query, settings))
            boost = settings.answer_type_boost
        kind = query.kind
        if kind and boost:
            # A passage that holds the kind of answer asked for (a date for "quand", a cause for
            # "pourquoi", a name for "quels hôpitaux") moves up a few places among the candidates.
            typed = [pid for pid in fused
                     if (holds_specific_name(index, passages[pid].text, query, settings.name_max_share) if kind == "name"
                         else has_answer_type(passages[pid].text, kind))]
            for pid in typed:
                fused[pid] += boost * answer_type_weight(len(typed), len(fused))
    if not asks_about_article(query.text):
        # A byline only answers "who wrote the article / when was it published".
        fused = {pid: score for pid, score in fused.items() if passages[pid].kind != "byline"}
    cosines = dict(dense)
    dense_info = {pid: (rank, cosines[pid]) for rank, (pid, _score) in enumerate(ranked_dense, start=1)}
    lexical_info = {pid: (rank, score) for rank, (pid, score) in enumerate(lexical, start=1)}
    # "Who heads X?": passages naming a role of X ("président de X") answer it and come first, wherever
    # the question's words ranked them ("Who heads Internet Society France?" ranked it 11th).
    role_named = described_people(index, query, {pid: passages[pid] for pid in fused}, mode)
    ordered = sorted(fused.items(), key=lambda item: (item[0] not in role_named, -item[1], item[0]))[:k]
    hits = []
    for pid, score in ordered:
        d_rank, d_score = dense_info.get(pid, (None, None))
        l_rank, l_score = lexical_info.get(pid, (None, None))
        hits.append(Hit(passages[pid], score, d_score, d_rank, l_score, l_rank))
    return hits
