"""qa.text: one definition of 'the same words' for questions and articles."""

from __future__ import annotations

import pytest

from qa.text import clean_input, content_words, fold, strip_accents, terms, words


@pytest.mark.parametrize("raw, expected", [
    ("a\u200bb", "ab"),                      # zero-width space
    ("a\u200c\u200db", "ab"),                # zero-width (non-)joiners
    ("x\x00y", "xy"),                        # NUL
    ("\ufeffbonjour", "bonjour"),            # byte-order mark
    ("hé\u00adberge\u00adment", "hébergement"),  # soft hyphens
    ("\u202equi\u202c ?", "qui ?"),          # bidi override / pop
    ("\u200fsalut\u200e", "salut"),          # RTL / LTR marks
    ("\x1bred", "red"),                      # escape
    ("ﬁn", "fin"),                           # NFKC: ligature
    ("Ｔｅｓｔ", "Test"),                    # NFKC: full-width letters
    ("e\u0301t\u00e9", "été"),               # NFKC: combining accent composed
    ("  a \t\n b\r\n  c  ", "a b c"),         # whitespace collapsed and stripped
    ("a\u00a0b\u202fc", "a b c"),            # non-breaking spaces become plain spaces
    ("\u2028x\u2029y", "x y"),               # Unicode line/paragraph separators
    ("", ""),
    ("\u200b\u200b", ""),
])
def test_clean_input(raw, expected):
    assert clean_input(raw) == expected


def test_clean_input_is_idempotent():
    raw = "\ufeff  L’hé\u00adbergement\u200b  des\u00a0données ?\x00 "
    once = clean_input(raw)
    assert clean_input(once) == once


@pytest.mark.parametrize("a, b", [
    ("L’hébergement", "l'hebergement"),
    ("l‘État", "l'etat"),
    ("DONNÉES", "donnees"),
    ("«\u00a0Santé\u00a0»", '" sante "'),
    ("Conseil d’État", "conseil d'etat"),
])
def test_fold_treats_apostrophes_accents_and_case_alike(a, b):
    assert fold(a) == fold(b)


def test_strip_accents():
    assert strip_accents("hébergement à Noël, œuvre") == "hebergement a Noel, œuvre"


def test_words_split_elisions():
    assert words("L’hébergement d’EMC2") == ["l", "hebergement", "d", "emc2"]
    assert words("l'hébergement") == words("l’hébergement")


@pytest.mark.parametrize("a, b", [
    ("L’hébergement des données de santé", "l'hebergement des donnees de sante"),
    ("qu’aucun prestataire", "qu'aucun prestataire"),
    ("Conseil d’État", "conseil d'etat"),
    ("héberger", "HEBERGER"),
])
def test_terms_treat_apostrophes_and_accents_alike(a, b):
    # typed without accents or with other apostrophes, a text's terms are among those of its accented form
    assert terms(b) and set(terms(b)) <= set(terms(a))
    assert terms(a)


def test_terms_drop_stop_words_and_single_letters_but_keep_digits():
    assert terms("Quelle est la capitale de l'Australie ?") == terms("capitale Australie")
    assert "2024" in terms("le 31 janvier 2024")
    assert "l" not in terms("l’avis") and "d" not in terms("d’EMC2")


def test_terms_stem_french_inflections_together():
    assert terms("hébergement")[0] == terms("héberger")[0] == terms("hébergé")[0]


def test_content_words_keep_words_with_letters_once_without_stop_words():
    text = "Pourquoi l’hébergement a-t-il coûté 2019 euros à EMC2 ? L’hébergement, encore."
    assert content_words(text) == ["hébergement", "coûté", "euros", "emc2", "encore"]
