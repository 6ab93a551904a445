"""Text normalization shared by questions and indexed text: one definition of 'the same words'.

Articles use typographic apostrophes, « » quotes and non-breaking spaces; people type plain ones,
often without accents. Matching therefore happens on a folded form, while quotes are always
taken from the untouched article text.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

# Bumped whenever clean_input/fold/terms change what an indexed text becomes: the index records it
# (manifest params), so an index built with another normalization is rebuilt, never half-matched.
NORMALIZATION_VERSION = 4
# Control and format characters (zero-width spaces, soft hyphens, BOM, bidi marks, NUL, ESC...),
# lone surrogates, private-use and unassigned code points.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "«": '"', "»": '"', "“": '"', "”": '"', "„": '"'})
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
# Words with at least one letter (EMC2 counts, 2019 does not); apostrophes and hyphens split words,
# so "l’hébergement" gives "hébergement" and "a-t-elle" gives only stop words.
_CONTENT_WORD = re.compile(r"\w*[^\W\d_]\w*")
# Terminal escape sequences (colours, cursor moves, titles) pasted from a terminal: removed whole.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]{0,200}(?:\x07|\x1b\\))")


class _InvisibleTable(dict):
    """str.translate table built lazily: a code point maps to itself, to a space (tabs, line breaks) or to nothing."""

    def __missing__(self, code: int):
        ch = chr(code)
        value = " " if ch in "\t\n\r\v\f" else None if unicodedata.category(ch) in _INVISIBLE_CATEGORIES else ch
        if len(self) < 100_000:  # bounded: a flood of distinct rare characters must not grow memory
            self[code] = value
        return value


_INVISIBLE = _InvisibleTable()


def clean_input(text: str) -> str:
    """The one normalization of questions and of indexed text (never of the stored article text).

    Terminal escape sequences and control/format characters (NUL, ESC, zero-width spaces, soft
    hyphens, BOM, bidi marks), lone surrogates, private-use and unassigned code points are removed;
    then NFKC (ligatures, full-width letters, non-breaking spaces); then whitespace is collapsed.
    Idempotent. Quotes are always sliced from the untouched text, so this never moves an offset.
    """
    if "\x1b" in text:
        text = _ESCAPES.sub("", text)
    kept = text.translate(_INVISIBLE)
    normalized = unicodedata.normalize("NFKC", kept)
    if normalized != kept:  # NFKC can (rarely) produce characters the first pass removes
        normalized = normalized.translate(_INVISIBLE)
    return _SPACES.sub(" ", normalized).strip()


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible(text: str, keep: str = "") -> str:
    """Text safe to print on a terminal: control characters (but those in `keep`), bidi controls and lone
    surrogates are shown as escapes (`\\x1b`, `\\u202e`; a byte of a non-UTF-8 file name as `\\xe9`), so an
    article or a file name can neither drive the terminal (colours, window title) nor break a line.

    Only for display: JSON output and quotes keep the exact text. Idempotent on its own output.
    """
    if text.isprintable() and not (_BIDI_CONTROLS & set(text)):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in keep or (ch.isprintable() and ch not in _BIDI_CONTROLS) or ch == " ":
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:  # other non-printables (spaces such as NBSP, format characters): harmless on a terminal
            out.append(ch)
    return "".join(out)


def strip_accents(text: str) -> str:
    """'hébergement' → 'hebergement': people often type French without accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Texts up to this long (questions, passages, sentences) are folded and split into terms once and
# remembered: answering a question reads the same candidate passages many times (answer types, term
# overlaps, best sentence). Longer ones (whole articles) are not kept, so the caches stay small.
_CACHED_LENGTH = 2_000
_CACHE_SIZE = 8_192


def fold(text: str) -> str:
    """Case-, accent- and punctuation-variant-insensitive form used for every comparison of words.

    Built on clean_input, so a soft hyphen or zero-width space inside an article's word ("hé\u00adbergement")
    folds to the same word as the question's.
    """
    return _fold_cached(text) if len(text) <= _CACHED_LENGTH else _fold(text)


def _fold(text: str) -> str:
    return _SPACES.sub(" ", strip_accents(clean_input(text).translate(_APOSTROPHES)).lower()).strip()


_fold_cached = lru_cache(maxsize=_CACHE_SIZE)(_fold)


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


def content_words(text: str) -> list[str]:
    """Lower-cased words of three letters or more that are not stop words, in order, without repeats."""
    seen, out = set(), []
    for match in _CONTENT_WORD.finditer(text.lower()):
        word = match.group()
        if len(word) >= 3 and fold(word) not in stopwords() and word not in seen:
            seen.add(word)
            out.append(word)
    return out


_local = threading.local()
# Snowball analyzers by article language; a language without one is analyzed as French, the default.
STEMMERS = {"fr": "french", "en": "english"}


def _stemmer(lang: str = "fr"):
    """A Snowball stemmer per thread and language: PyStemmer's objects are not thread-safe."""
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    stemmer = stemmers.get(lang)
    if stemmer is None:
        import Stemmer

        stemmer = stemmers[lang] = Stemmer.Stemmer(STEMMERS.get(lang, "french"))
    return stemmer


def terms(text: str, lang: str = "fr") -> list[str]:
    """Index terms: words minus stop words, stemmed with the text's language's Snowball stemmer, then folded.

    The stemmer sees the accents (French Snowball needs them: "remportée" and "remporter" both give
    "remport"; folded first, "remportee" would stay "remporte"), and accents are stripped after it. A
    word with accents also gives the stem of its folded form ("données" → "don" and "donne"), which is
    what a question typed without accents ("donnees") makes of it, so both ways of typing meet."""
    return list(_terms_cached(text, lang) if len(text) <= _CACHED_LENGTH else _terms(text, lang))


def _terms(text: str, lang: str = "fr") -> tuple[str, ...]:
    stem = _stemmer(lang).stemWord
    lowered = _SPACES.sub(" ", clean_input(text).translate(_APOSTROPHES).lower())
    out = []
    for word in _WORD.findall(lowered):
        folded = strip_accents(word)
        if folded in stopwords() or (len(folded) == 1 and not folded.isdigit()):
            continue
        stemmed = strip_accents(stem(word))
        out.append(stemmed)
        if folded != word:
            plain = stem(folded)
            if plain != stemmed:
                out.append(plain)
    return tuple(out)


_terms_cached = lru_cache(maxsize=_CACHE_SIZE)(_terms)
