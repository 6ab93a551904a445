"""Read article files from a corpus folder, refusing what is not UTF-8 text with a message naming the file."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError, QAError
from .records import Article
from .text import visible

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")
# Saved web pages: read through qa.pages, which writes each one's extracted article beside it.
PAGE_SUFFIXES = (".html", ".htm", ".xhtml")
MAX_ARTICLE_BYTES = 5_000_000
# A whole HTML page saved under a text name. Tags cannot be stripped for indexing (every quote must be
# an exact slice of the file), so such a file is refused (a .html file goes in through qa.pages, as its
# extracted article); inline tags in Markdown are kept as text.
_HTML_PAGE = re.compile(r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL)


def doc_name(path: Path, corpus_dir: Path) -> str:
    """The contract's `doc`: the path relative to the corpus folder, with '/' separators.

    The file's own name is not resolved: a symbolic link is named as the link, never as its target.
    ValueError when the file does not lie in the corpus folder.
    """
    return (path.parent.resolve() / path.name).relative_to(corpus_dir.resolve()).as_posix()


def name_problem(name: str) -> str | None:
    """Why a file or folder name cannot name an article (None when it can): every `doc` is printed, written
    to JSON and compared as text, so it must be valid UTF-8 without control characters (a line break in a
    name would break every progress line and log that shows it)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8 (rename the file)"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "its name holds a control character (a line break, a tab, an escape...; rename the file)"
    return None


@dataclass(frozen=True)
class CorpusScan:
    """What a corpus folder holds, by the one rule every reader applies (`scan_corpus`)."""

    articles: tuple[tuple[str, Path], ...]  # (doc, path to read), sorted by doc
    ignored: tuple[str, ...]               # visible files that are neither articles nor pages (.pdf, images...)
    skipped: dict[str, str]                # name (as `visible` shows it) → why it is not read
    pages: tuple[tuple[str, Path], ...] = ()  # saved web pages (PAGE_SUFFIXES), by the same rule, sorted by doc

    @property
    def docs(self) -> list[str]:
        return [doc for doc, _path in self.articles]


def scan_corpus(corpus_dir: Path) -> CorpusScan:
    """The article files of a corpus folder, and what is left out and why: the rule of `qa index`, `qa add`,
    `qa ask`, the page and the PostgreSQL sync alike.

    Hidden files and folders are left out silently, files that are neither articles nor saved web pages
    (`pages`, whose articles qa.pages extracts) are `ignored`. Left
    out with a reason (`skipped`): a name that is not valid UTF-8 or holds a control character (its folder
    too); a symbolic link to a folder (not followed); a symbolic link to a file outside the corpus folder,
    a broken one, or one to something that is not a regular file; a symbolic link to another article of
    the corpus (an alias: the same article twice under two names); and a file that is not a regular file
    (a FIFO would block a reader). A link to a file inside the corpus that is not an article by itself
    (in a hidden folder, say) is followed and indexed under the link's name.
    """
    if not corpus_dir.is_dir():
        if corpus_dir.exists():
            raise CorpusError(f"the corpus {visible(str(corpus_dir))} is not a folder (give the folder of the article files)")
        raise CorpusError(f"corpus folder not found: {visible(str(corpus_dir))}")
    root = corpus_dir.resolve()
    articles: list[tuple[str, Path]] = []
    pages: list[tuple[str, Path]] = []
    ignored: list[str] = []
    skipped: dict[str, str] = {}
    links: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(corpus_dir):
        folder = Path(dirpath)
        rel = folder.relative_to(corpus_dir)
        kept = []
        for name in sorted(dirnames):
            if name.startswith("."):
                continue
            doc = (rel / name).as_posix()
            problem = name_problem(name)
            if problem:
                skipped[visible(doc) + "/"] = problem.replace("the file", "the folder")
            elif (folder / name).is_symlink():
                skipped[visible(doc) + "/"] = "a symbolic link to a folder (links to folders are not followed)"
            else:
                kept.append(name)
        dirnames[:] = kept  # os.walk descends only into these
        for name in filenames:
            if name.startswith("."):
                continue
            doc = (rel / name).as_posix()
            path = folder / name
            suffix = Path(name).suffix.lower()
            if suffix not in ARTICLE_SUFFIXES and suffix not in PAGE_SUFFIXES:
                ignored.append(visible(doc))
                continue
            problem = name_problem(name)
            if problem:
                skipped[visible(doc)] = problem
            elif path.is_symlink():
                links.append((doc, path))
            elif not path.is_file():
                skipped[doc] = "not a regular file"
            else:
                (articles if suffix in ARTICLE_SUFFIXES else pages).append((doc, path))
    indexed = {doc for doc, _path in (*articles, *pages)}
    followed: dict[str, str] = {}  # link target (relative to the corpus) → the doc of the first link to it
    for doc, path in links:
        target = Path(os.path.realpath(path))
        if not target.exists():
            skipped[doc] = f"a broken symbolic link (to {visible(os.readlink(path))}, which does not exist)"
            continue
        try:
            inside = target.relative_to(root).as_posix()
        except ValueError:
            skipped[doc] = (f"a symbolic link to {visible(str(target))}, outside the corpus folder "
                            "(links are followed only inside it)")
            continue
        if not target.is_file():
            skipped[doc] = "a symbolic link to something that is not a regular file"
        elif inside in indexed or inside in followed:
            skipped[doc] = (f"a symbolic link to {followed.get(inside, inside)}, which is indexed under its own "
                            "name: the same article twice, skipped as a duplicate")
        else:
            followed[inside] = doc
            (articles if Path(doc).suffix.lower() in ARTICLE_SUFFIXES else pages).append((doc, path))
    articles.sort(key=lambda item: item[0])
    pages.sort(key=lambda item: item[0])
    return CorpusScan(tuple(articles), tuple(sorted(ignored)), dict(sorted(skipped.items())), tuple(pages))


def article_files(corpus_dir: Path) -> list[Path]:
    """The article files of a corpus folder, sorted by doc (see `scan_corpus` for what is left out)."""
    return [path for _doc, path in scan_corpus(corpus_dir).articles]


def ignored_files(corpus_dir: Path) -> list[Path]:
    """Visible files of a corpus that are neither articles nor web pages (.pdf, images...): never indexed,
    worth a word."""
    if not corpus_dir.is_dir():
        return []
    return [corpus_dir / name for name in scan_corpus(corpus_dir).ignored]


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
    for doc, path in scan_corpus(corpus_dir).articles:
        h.update(f"{doc}\0{file_digest(path)}\n".encode())
    return h.hexdigest()


def read_bounded(path: Path, limit: int, unit: str, error: type[QAError]) -> bytes:
    """A file's bytes, or `error` saying why not (missing, empty, over `limit` bytes, unreadable): the
    checks an article file and a saved web page share, each with its own limit and error."""
    shown = visible(str(path))
    try:
        size = path.stat().st_size
        if size == 0:
            raise error(f"{shown}: empty file")
        if size > limit:
            raise error(f"{shown}: {size:,} bytes is more than the {limit:,}-byte limit for one {unit}")
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{shown}: no such file") from None
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc.__class__.__name__})") from None


def read_article(path: Path, corpus_dir: Path, doc: str | None = None) -> Article:
    """One article as the contract reads it (`read_text(encoding="utf-8")`), or a CorpusError saying why not.

    Refused: a missing or empty file, a folder or anything but a regular file, one over MAX_ARTICLE_BYTES,
    a binary file (NUL bytes), bytes that are not UTF-8, only whitespace, and a whole HTML page saved under
    a text name (named .html, qa.pages extracts its article). `doc` is the article's name (by default its path in `corpus_dir`).
    """
    shown = visible(str(path))
    if not path.is_file():
        if path.is_dir():
            raise CorpusError(f"{shown}: a folder, not an article file")
        if path.exists():
            raise CorpusError(f"{shown}: not a regular file")
        raise CorpusError(f"{shown}: no such file" + (" (a broken symbolic link)" if path.is_symlink() else ""))
    raw = read_bounded(path, MAX_ARTICLE_BYTES, "article", CorpusError)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusError(f"{shown}: UTF-16 text, not UTF-8 (save it as UTF-8)")
    if b"\0" in raw:
        raise CorpusError(f"{shown}: binary file (contains NUL bytes), not an article")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{shown}: not UTF-8 text (invalid byte at position {exc.start})") from None
    text = path.read_text(encoding="utf-8")  # exactly as the contract reads it (newlines translated)
    if not text.strip():
        raise CorpusError(f"{shown}: contains only whitespace")
    if _HTML_PAGE.match(text):
        raise CorpusError(f"{shown}: an HTML page saved under a text name (quotes are exact slices of the file, so tags "
                          f"cannot be stripped in place): name it .html, and `qa add` or `qa index` take in its article")
    return Article(doc=doc if doc is not None else doc_name(path, corpus_dir), text=text)


def load_corpus(corpus_dir: Path, warn: Callable[[str], None] = lambda _m: None) -> list[Article]:
    """Every readable article of a corpus; what is skipped (unreadable files, links out of the corpus,
    aliases, bad names: see `scan_corpus`) gets a warning naming it."""
    scan = scan_corpus(corpus_dir)
    for name, reason in scan.skipped.items():
        warn(f"skipped {visible(str(corpus_dir / name))}: {reason}")
    articles = []
    for doc, path in scan.articles:
        try:
            articles.append(read_article(path, corpus_dir, doc))
        except CorpusError as exc:
            warn(f"skipped {exc}")
    if not articles:
        raise CorpusError(f"no readable article (.txt or .md, UTF-8) in {visible(str(corpus_dir))}")
    return articles
