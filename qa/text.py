"""Text normalization shared by questions and indexed text: one definition of 'the same words'.

Articles use typographic apostrophes, « » quotes and non-breaking spaces; people type plain ones,
often without accents. Matching therefore happens on a folded form, while quotes are always
taken from the untouched article text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Control and format characters (zero-width spaces, soft hyphens, BOM, bidi marks, NUL, ESC...).
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "«": '"', "»": '"', "“": '"', "”": '"', "„": '"'})
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def clean_input(text: str) -> str:
    """Strip control/format characters and lone surrogates, apply NFKC, collapse whitespace."""
    kept = "".join(" " if ch in "\t\n\r\v\f" else ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES or ch in "\t\n\r\v\f")
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", kept)).strip()


def strip_accents(text: str) -> str:
    """'hébergement' → 'hebergement': people often type French without accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Case-, accent- and punctuation-variant-insensitive form used for every comparison of words."""
    return _SPACES.sub(" ", strip_accents(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)).lower()).strip()


def words(text: str) -> list[str]:
    """The folded word tokens of a text (elided articles like l' and d' come out as their own tokens)."""
    return _WORD.findall(fold(text))


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """French and English stop words, folded: questions come in both languages and the corpus is mostly French."""
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    extra = {"quel", "quelle", "quels", "quelles", "qui", "quoi", "quand", "comment", "pourquoi", "combien", "ou",
             "est", "ce", "c", "l", "d", "j", "s", "n", "qu", "t", "y", "a", "what", "who", "when", "where", "why",
             "how", "which", "whom", "whose", "does", "did", "do", "is", "are", "was", "were", "many", "much",
             "has", "have", "had", "its", "it's", "been", "being", "would", "could", "should", "will", "shall", "can",
             "may", "might", "must", "also", "any", "some", "there", "their", "them", "they", "this", "that", "these",
             "those", "about", "into", "onto", "upon", "than", "then", "very", "just", "only", "own", "such"}
    return frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN, *extra))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("french")


def terms(text: str) -> list[str]:
    """Index terms: folded words minus stop words, French-stemmed (Snowball), as BM25 sees them."""
    stem = _stemmer().stemWord
    return [stem(w) for w in words(text) if w not in stopwords() and not (len(w) == 1 and not w.isdigit())]
