"""Question language (French or English): langdetect, seeded, checked against stop-word evidence.

langdetect is random unless seeded and guesses wildly on a few words (a question of two proper nouns
came out Romanian), so it only decides when it is confident on a long enough question; otherwise function
words and accents decide, then (for keyword questions) how common the words are in each language
(wordfreq), and a question with no evidence either way is taken as French (the default).
"""

from __future__ import annotations

import re
import threading

from .text import fold

SUPPORTED = ("fr", "en")
DEFAULT_LANGUAGE = "fr"

_FR_WORDS = frozenset(
    "le la les un une des du de d l au aux et ou est sont a ont qui que qu quoi quel quelle quels quelles quand "
    "comment pourquoi combien ou dans sur pour par avec sans ce cette ces son sa ses leur leurs il elle ils elles "
    "on nous vous je ne pas plus y en se s c n t j-il a-t-il a-t-elle t-il t-elle donc mais car selon lors".split()
)
_EN_WORDS = frozenset(
    "the a an of to in on for by with from and or is are was were be been has have had who what when where why "
    "how which whom whose does did do will would can could should this that these those it its their they he she "
    "about after before many much any there than not".split()
)
_ACCENTS = re.compile(r"[éèêàùçôîûëïœ]", re.IGNORECASE)
_lock = threading.Lock()


def _vote(text: str) -> tuple[int, int]:
    """Counts of French-only and English-only function words (plus accented letters for French)."""
    tokens = re.findall(r"[\w'-]+", fold(text))
    fr = sum(t in _FR_WORDS and t not in _EN_WORDS for t in tokens) + len(_ACCENTS.findall(text))
    en = sum(t in _EN_WORDS and t not in _FR_WORDS for t in tokens)
    return fr, en


def detect_language(text: str) -> str:
    """'fr' or 'en' for a question (other languages get 'en', the lingua franca of the answer headers)."""
    fr, en = _vote(text)
    if fr != en and abs(fr - en) >= 2:
        return "fr" if fr > en else "en"
    guess, confidence = _langdetect(text)
    n_words = len(re.findall(r"\w+", text))
    if guess in SUPPORTED and confidence >= 0.9 and n_words >= 4:
        return guess
    if fr != en:
        return "fr" if fr > en else "en"
    # Keywords only ("data hosting duration", "hebergement donnees sante"): how common each word is
    # in English and in French text decides, when the difference is clear.
    lean = _word_frequency_lean(text)
    if abs(lean) >= 1.5:
        return "en" if lean > 0 else "fr"
    if guess and confidence >= 0.9 and n_words >= 6 and guess not in SUPPORTED:
        return "en"
    return DEFAULT_LANGUAGE


def detect_article_language(text: str) -> str:
    """An article's language code ('fr', 'en', 'de'…): langdetect when it is sure on enough prose (an
    article is long, unlike a question), else the question detector's French-or-English answer."""
    guess, confidence = _langdetect(text)
    if guess and confidence >= 0.95 and len(re.findall(r"\w+", text)) >= 30:
        return guess.split("-")[0]
    return detect_language(text) if text.strip() else DEFAULT_LANGUAGE


def _word_frequency_lean(text: str) -> float:
    """Σ over words of (Zipf frequency in English − in French), from wordfreq: > 0 leans English."""
    from wordfreq import zipf_frequency

    tokens = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) >= 3]
    return sum(zipf_frequency(w, "en") - zipf_frequency(w, "fr") for w in tokens)


def _langdetect(text: str) -> tuple[str | None, float]:
    """langdetect's best guess and its probability, deterministic (seeded, one call at a time)."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _lock:
        DetectorFactory.seed = 0
        try:
            best = detect_langs(text)[0]
        except LangDetectException:  # no letters at all: nothing to go on
            return None, 0.0
    return best.lang, best.prob

