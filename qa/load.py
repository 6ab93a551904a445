"""Read article files from a corpus folder, refusing what is not UTF-8 text with a message naming the file."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from .errors import CorpusError
from .records import Article

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")
MAX_ARTICLE_BYTES = 5_000_000
# A whole HTML page saved under a text name. Tags cannot be stripped for indexing (every quote must be
# an exact slice of the file), so such a file is refused (a .html file goes in through qa.pages, as its
# extracted article); inline tags in Markdown are kept as text.
_HTML_PAGE = re.compile(r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)


def doc_name(path: Path, corpus_dir: Path) -> str:
    """The contract's `doc`: the path relative to the corpus folder, with '/' separators."""
    return path.resolve().relative_to(corpus_dir.resolve()).as_posix()


def article_files(corpus_dir: Path) -> list[Path]:
    """Candidate article files under a corpus folder, sorted, hidden files and folders left out."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir}")
    return [p for p in _visible_files(corpus_dir) if p.suffix.lower() in ARTICLE_SUFFIXES]


def _visible_files(corpus_dir: Path) -> list[Path]:
    """Files under a corpus folder, sorted, hidden files and folders left out."""
    return sorted(
        p for p in corpus_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )


def ignored_files(corpus_dir: Path) -> list[Path]:
    """Visible files of a corpus that are not articles (.html, .pdf, images...): never indexed, worth a word."""
    if not corpus_dir.is_dir():
        return []
    return [p for p in _visible_files(corpus_dir) if p.suffix.lower() not in ARTICLE_SUFFIXES]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: what decides whether an article changed (read in blocks: files may be big)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def corpus_hash(corpus_dir: Path) -> str:
    """One digest of the corpus (names and contents), recorded in the index manifest to detect staleness."""
    h = hashlib.sha256()
    for path in article_files(corpus_dir):
        h.update(f"{doc_name(path, corpus_dir)}\0{file_digest(path)}\n".encode())
    return h.hexdigest()


def read_article(path: Path, corpus_dir: Path) -> Article:
    """One article as the contract reads it (`read_text(encoding="utf-8")`), or a CorpusError saying why not.

    Refused: a missing or empty file, one over MAX_ARTICLE_BYTES, a binary file (NUL bytes), bytes that
    are not UTF-8, only whitespace, and a whole HTML page (save the article as text or Markdown instead).
    """
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    try:
        size = path.stat().st_size
        if size == 0:
            raise CorpusError(f"{path}: empty file")
        if size > MAX_ARTICLE_BYTES:
            raise CorpusError(f"{path}: {size:,} bytes is more than the {MAX_ARTICLE_BYTES:,}-byte limit for one article")
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusError(f"{path}: UTF-16 text, not UTF-8 (save it as UTF-8)")
    if b"\0" in raw:
        raise CorpusError(f"{path}: binary file (contains NUL bytes), not an article")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text (invalid byte at position {exc.start})") from None
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise CorpusError(f"{path}: contains only whitespace")
    if _HTML_PAGE.match(text):
        raise CorpusError(f"{path}: an HTML page saved under a text name (quotes are exact slices of the file, so tags "
                          f"cannot be stripped in place): name it .html, and `qa add` or `qa index` take in its article")
    return Article(doc=doc_name(path, corpus_dir), text=text)


def load_corpus(corpus_dir: Path, warn: Callable[[str], None] = lambda _m: None) -> list[Article]:
    """Every readable article of a corpus; unreadable ones are skipped with a warning naming the file."""
    articles = []
    for path in article_files(corpus_dir):
        try:
            articles.append(read_article(path, corpus_dir))
        except CorpusError as exc:
            warn(f"skipped {exc}")
    if not articles:
        raise CorpusError(f"no readable article (.txt or .md, UTF-8) in {corpus_dir}")
    return articles
