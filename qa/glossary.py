"""An offline English → French glossary: dictionary translations of question words, for lexical matching.

An English question shares few words with a French article, and a French question few with an
English one. qa/query.py gives each question word the stems of its translations (English → French
here, French → English by inverting this table on the French stem), so BM25 and the ranker's
word-coverage features reach articles in the other language.

Two plain tab-separated files ship beside this module (an English headword, then its French
translations), merged on loading (see qa/data/GLOSSARY.md):
- glossary_en_fr.tsv: FreeDict's English–French and French–English dictionaries (GPL-2.0-or-later),
  converted by `python -m qa.glossary DICTD_DIR`. Old and small (travel vocabulary): it lacks
  everyday words such as "host", "store" or "provider" in their modern senses.
- common_en_fr.tsv: the project's own list for the 12,000 most frequent English words (wordfreq's
  ranking, names and function words left out), written for this project.
"""

from __future__ import annotations

import gzip
import re
import sys
from functools import lru_cache
from pathlib import Path

GLOSSARY_PATH = Path(__file__).parent / "data" / "glossary_en_fr.tsv"
COMMON_WORDS_PATH = Path(__file__).parent / "data" / "common_en_fr.tsv"
GLOSSARY_PATHS = (GLOSSARY_PATH, COMMON_WORDS_PATH)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Sense numbers ("1. aubergiste 2. hôte") and grammatical notes in parentheses are not translations.
_SENSE = re.compile(r"(?:^|\s)\d+\.\s")
_NOTE = re.compile(r"\([^)]*\)")
# An entry's first line is its headword, then its pronunciation between slashes.
_PRONUNCIATION = re.compile(r"\s/[^/]*/.*$")


@lru_cache(maxsize=1)
def _english_stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def english_key(word: str) -> str:
    """The lookup key of an English word: its lower-cased Snowball stem (hosting, hosted → host)."""
    return _english_stemmer().stemWord(word.lower())


@lru_cache(maxsize=4)
def load_glossary(paths: tuple[Path, ...] = GLOSSARY_PATHS) -> dict[str, tuple[str, ...]]:
    """English stem → French translations (words or short phrases) from the files given; a missing file adds none."""
    glossary: dict[str, list[str]] = {}
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            english, _, french = line.partition("\t")
            bucket = glossary.setdefault(english_key(english), [])
            bucket.extend(t for t in french.split("|") if t and t not in bucket)
    return {key: tuple(values) for key, values in glossary.items()}


def translations(word: str, paths: tuple[Path, ...] = GLOSSARY_PATHS) -> tuple[str, ...]:
    """The French translations the glossary gives for an English word (any inflection), or ()."""
    return load_glossary(paths).get(english_key(word), ())


def _decode_offset(text: str) -> int:
    """dictd's index stores offsets and lengths in its own base-64 digits."""
    value = 0
    for char in text:
        value = value * 64 + _B64.index(char)
    return value


def read_dictd(index_path: Path, dict_path: Path) -> dict[str, list[str]]:
    """Headword → translations of a dictd dictionary (FreeDict's format: headword line, then numbered senses)."""
    data = gzip.open(dict_path, "rb").read() if dict_path.suffix == ".dz" else dict_path.read_bytes()
    entries: dict[str, list[str]] = {}
    blocks = set()
    for line in index_path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        # dictd's own entries ("00-database-info", "00databaseinfo") describe the dictionary.
        if len(fields) < 3 or fields[0].startswith("00"):
            continue
        start, length = _decode_offset(fields[1]), _decode_offset(fields[2])
        # dictd also indexes an entry under its headword stripped of punctuation ("quelquun" for
        # "quelqu'un"): read each entry once, under the headword its own first line spells.
        if (start, length) in blocks:
            continue
        blocks.add((start, length))
        headword_line, *senses = data[start:start + length].decode("utf-8").split("\n")
        headword = _PRONUNCIATION.sub("", headword_line).strip().lower() or fields[0].strip().lower()
        body = " ".join(senses)
        found = entries.setdefault(headword, [])
        for sense in _SENSE.split(_NOTE.sub(" ", body)):
            for translation in sense.split(","):
                translation = " ".join(translation.split())
                if translation and translation not in found:
                    found.append(translation)
    return entries


def glossary_lines(dictd_dir: Path) -> list[str]:
    """The glossary file's lines from FreeDict's eng-fra and fra-eng dictionaries in `dictd_dir`.

    English → French entries are taken as they are; French → English ones are inverted where the
    English side is a single word, which adds translations the smaller eng-fra side lacks.
    """
    pairs: dict[str, list[str]] = {}

    def add(english: str, french: str) -> None:
        # Tabs and bars are the file's separators; "..." marks a slot ("... ago" → "il y a ..."), no word.
        if any(mark in text for text in (english, french) for mark in ("\t", "|", "...")):
            return
        bucket = pairs.setdefault(english, [])
        if french not in bucket:
            bucket.append(french)

    for english, french_list in read_dictd(dictd_dir / "freedict-eng-fra.index", dictd_dir / "freedict-eng-fra.dict.dz").items():
        for french in french_list:
            add(english, french)
    for french, english_list in read_dictd(dictd_dir / "freedict-fra-eng.index", dictd_dir / "freedict-fra-eng.dict.dz").items():
        for english in english_list:
            if re.fullmatch(r"[a-z][a-z'-]*", english):
                add(english, french)
    header = ["# English → French glossary derived from FreeDict eng-fra and fra-eng (GPL-2.0-or-later; qa/data/GLOSSARY.md).",
              "# Generated by: python -m qa.glossary DICTD_DIR. One English headword, a tab, French translations separated by |."]
    return header + [f"{english}\t{'|'.join(french)}" for english, french in sorted(pairs.items())]


def main(argv: list[str]) -> int:
    """Write qa/data/glossary_en_fr.tsv from the FreeDict dictd files in the folder given."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m qa.glossary DICTD_DIR  (the folder holding freedict-eng-fra.* and freedict-fra-eng.*)",
              file=sys.stderr)
        return 2
    lines = glossary_lines(Path(argv[0]))
    GLOSSARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    GLOSSARY_PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 2:,} English headwords to {GLOSSARY_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
