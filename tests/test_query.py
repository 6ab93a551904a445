"""qa.query: a question becomes a Query once — language, stems in both analyzers, dictionary translations
both ways, and the kind of answer asked."""

from __future__ import annotations

import numpy as np
import pytest

from qa.query import prepare, query_word
from qa.text import terms


def _query(text: str):
    return prepare(text, np.zeros(4, dtype=np.float32))


def test_words_carry_french_and_english_stems():
    word = query_word("hospitals", "en")
    assert set(terms("hospitals", "en")) <= word.own and set(terms("hospitals", "fr")) <= word.own


def test_an_english_word_is_translated_into_french_terms():
    # the dictionary gives French senses of "court" (cour, tribunal…): stems a French article holds
    assert {"tribunal", "cour"} & query_word("court", "en").translated


def test_a_french_word_is_translated_into_english_terms():
    assert "court" in query_word("tribunal", "fr").translated


def test_translations_never_repeat_the_words_own_terms():
    word = query_word("budget", "en")
    assert not (word.own & word.translated)


@pytest.mark.parametrize("question, language, kind", [
    ("Pourquoi le maire a-t-il démissionné ?", "fr", "reason"),
    ("When will the bridge reopen?", "en", "date"),
    ("Combien a coûté le stade ?", "fr", "money"),
    ("How many runners finished the race?", "en", "number"),
    ("Qui a signé le contrat ?", "fr", "person"),
    ("budget piscine municipale", "fr", None),
])
def test_language_and_answer_kind(question, language, kind):
    query = _query(question)
    assert (query.language, query.kind) == (language, kind)


def test_numbers_are_query_terms():
    query = _query("What happened in 2019 to the 45 workers?")
    assert {"2019", "45"} <= set(query.own_terms)


def test_stop_words_are_not_query_words():
    assert [w.word for w in _query("Who is the mayor of the town?").words] == ["mayor", "town"]


def test_translated_terms_exclude_own_terms():
    query = _query("Which court heard the appeal?")
    assert query.translated_terms and not set(query.translated_terms) & set(query.own_terms)
