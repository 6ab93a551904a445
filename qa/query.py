"""A question becomes a `Query`, once: its language, vector, lexical terms in both analyzers, the
dictionary translations of its words, and the kind of answer it asks for.

Nothing here knows a corpus: the terms are Snowball stems (French and English, since an article in
either language may answer), the translations come from a general bilingual dictionary
(qa.glossary, both directions), and the answer kind from the question's interrogative words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .answer_types import question_type
from .glossary import load_glossary, translations
from .lang import detect_language
from .text import content_words, fold, stopwords, terms

# Translations kept per question word: the dictionary lists its senses roughly by frequency, and
# the rarer ones only add noise to the lexical search.
MAX_TRANSLATIONS = 4


@dataclass(frozen=True)
class QueryWord:
    """One content word of a question with every term that can stand for it in a passage."""

    word: str
    own: frozenset[str]           # its own stems, French and English analyzers
    translated: frozenset[str]    # stems of its dictionary translations into the other language


@dataclass(frozen=True, eq=False)
class Query:
    """A prepared question: everything ranking, abstention and quoting read about it."""

    text: str
    language: str
    vector: np.ndarray
    words: tuple[QueryWord, ...]
    kind: str | None
    # The names and numbers the question gives ("Dupont", "SNCF", "2019"), each as its possible terms.
    names: tuple[frozenset[str], ...] = ()

    @property
    def own_terms(self) -> list[str]:
        return sorted({t for w in self.words for t in w.own})

    @property
    def translated_terms(self) -> list[str]:
        return sorted({t for w in self.words for t in w.translated} - {t for w in self.words for t in w.own})


@lru_cache(maxsize=1)
def _french_to_english() -> dict[str, tuple[str, ...]]:
    """French stem → English stems, inverted from the English → French dictionary (one-word senses).

    Keyed by the French Snowball stem, so an inflected question word ("remportée", "prélevés") finds
    the entries of its dictionary form ("remporter", "prélever")."""
    inverted: dict[str, list[str]] = {}
    for english, frenches in load_glossary().items():
        for french in frenches:
            stems = terms(french, "fr") if " " not in french.strip() else []
            # the dictionary's English keys are already Snowball stems (qa.glossary.english_key): used as
            # terms as they are, except stop words and multi-word entries
            if len(stems) == 1 and " " not in english and fold(english) not in stopwords():
                bucket = inverted.setdefault(stems[0], [])
                if english not in bucket:
                    bucket.append(fold(english))
    return {k: tuple(v) for k, v in inverted.items()}


@lru_cache(maxsize=20_000)
def query_word(word: str, language: str) -> QueryWord:
    """The terms that can stand for one question word: its stems, and its translations' stems."""
    own = frozenset(terms(word, "fr")) | frozenset(terms(word, "en"))
    translated: set[str] = set()
    if language == "en":
        for french in translations(word)[:MAX_TRANSLATIONS]:
            translated.update(terms(french, "fr"))
    else:
        for stem in terms(word, "fr")[:1]:
            translated.update(_french_to_english().get(stem, ())[:MAX_TRANSLATIONS])
    return QueryWord(word, own, frozenset(translated - own))


# A name or number a question gives: a capitalised word after its first, an acronym, a number.
_NAME = re.compile(r"(?:(?<=\S )|(?<=\S['’]))[A-ZÀ-Ý][\w'’-]+|\b[A-Z]{2,}\b|\b\d[\d.,]*\b")


def question_names(text: str) -> list[str]:
    """The names and numbers a question gives, as written ("l'Élysée" gives "Élysée"). A question typed
    in capitals gives only its numbers: its capitalised words say nothing."""
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 8 and sum(c.isupper() for c in letters) > 0.6 * len(letters)
    names = (m.group(0) for m in _NAME.finditer(text))
    return list(dict.fromkeys(n for n in names if not shouting or n[0].isdigit()))


def prepare(text: str, vector: np.ndarray, language: str | None = None) -> Query:
    """The Query of a validated question and its embedding."""
    language = language or detect_language(text)
    words = tuple(query_word(w, language) for w in content_words(text))
    # Numbers are content too ("2019", "45"): content_words keeps only words with letters.
    numbers = tuple(QueryWord(t, frozenset({t}), frozenset()) for t in dict.fromkeys(terms(text)) if t.isdigit())
    names = tuple(forms for forms in (frozenset(terms(n, "fr")) | frozenset(terms(n, "en")) for n in question_names(text))
                  if forms)
    return Query(text, language, np.asarray(vector, dtype=np.float32), words + numbers, question_type(text), names)
