"""The corpus side of indexing, shared by both stores: the corpus state (each file's digest), the passages
and the text embedded for each, and `qa add`'s files planned, checked and copied into the corpus."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace as replace_fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from .chunk import chunk_article
from .clean import clean_article
from .errors import CorpusError
from .load import ARTICLE_SUFFIXES, PAGE_SUFFIXES, CorpusScan, doc_name, file_digest, name_problem, read_article, scan_corpus
from .pages import Staged, is_address, is_page
from .records import Article, Passage, Progress, quiet
from .settings import Settings
from .text import clean_input, visible

_PARTIAL_COPY = re.compile(r"\..+\.tmp-\d+-\d+")


def corpus_sources(corpus_dir: Path, scan: CorpusScan | None = None) -> dict[str, str]:
    """{doc: sha256} of every article file of the corpus (unreadable ones included, so they count too) and of
    its saved web pages (a new or changed page makes the index stale: its article is extracted then), and
    {name: "skipped: why"} of what `scan_corpus` leaves out with a reason (links out of the corpus, aliases,
    bad names): adding or removing one of those changes the corpus state, so it is reported at the next build.
    """
    scan = scan or scan_corpus(corpus_dir)
    sources = {}
    for doc, path in (*scan.articles, *scan.pages):
        try:
            sources[doc] = file_digest(path)
        except OSError as exc:  # no permission, or deleted meanwhile: read_article will say so when indexing
            sources[doc] = f"unreadable: {exc.__class__.__name__}"
    for name, reason in scan.skipped.items():
        sources.setdefault(name, f"skipped: {reason}")
    return sources


# The modules that turn article files into stored passages, vectors' inputs and BM25 terms: an index
# built while any of them read articles differently (a cleaning fix, another title rule) is rebuilt,
# and a database's articles read by them are reloaded, even though no setting changed.
INGESTION_MODULES = ("load", "clean", "pages", "frontmatter", "chunk", "dates", "lang", "text", "sentences", "ingest",
                     "build")


@lru_cache(maxsize=1)
def ingestion_digest() -> str:
    """A digest of the ingestion modules' source, recorded in the index manifest and with each article of a
    database."""
    digest = hashlib.sha256()
    for name in INGESTION_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def sources_hash(sources: dict[str, str]) -> str:
    """One digest of a corpus state; equal digests mean the same files with the same bytes."""
    h = hashlib.sha256()
    for doc in sorted(sources):
        h.update(f"{doc}\0{sources[doc]}\n".encode())
    return h.hexdigest()


def embedding_text(article: Article, passage: Passage, context: str = "none") -> str:
    """What the model embeds (and BM25 indexes) for a passage: the passage, with optional context.

    A byline ("écrit par Monique B | 18 février 2024") only means something next to its article's
    title, so bylines always carry it; prose may carry the title and heading too (`embed_context`,
    off by default: it lowered MRR on the dev set). The quote shown is always exactly the passage.
    """
    parts = []
    if (context in ("title", "title+heading") or passage.kind == "byline") and article.title:
        parts.append(article.title)
    if context == "title+heading" and passage.heading:
        parts.append(passage.heading)
    parts.append(passage.text)
    # The same normalization as questions get (qa.text.clean_input): no invisible characters, NFKC.
    return clean_input(" — ".join(parts))


def title_text(article: Article) -> str:
    """What the model embeds for an article's title (one vector per article, `titles.npy`): the ranker
    reads a passage's relevance in the light of its article's headline, which says who and what a
    passage's "the company" or "she" refers to."""
    return clean_input(article.title or "")


def title_vectors(embedder, articles: list[Article], known: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """One unit vector per article's title, in the articles' order; those in `known` (by doc) are reused."""
    if not articles:
        return np.zeros((0, embedder.dim), np.float32)
    vectors = dict(known or {})
    missing = [a for a in articles if a.doc not in vectors]
    if missing:
        vectors.update(zip([a.doc for a in missing], embedder.encode_documents([title_text(a) for a in missing])))
    return np.stack([vectors[a.doc] for a in articles]).astype(np.float32)


def embedding_texts(articles: list[Article], passages: list[Passage], settings: Settings) -> list[str]:
    """`embedding_text` of each passage (what is embedded and what BM25 indexes), in passage order."""
    by_doc = {a.doc: a for a in articles}
    return [embedding_text(by_doc[p.doc], p, settings.embed_context) for p in passages]


def chunk_articles(articles: list[Article], settings: Settings, first_id: int = 0) -> list[Passage]:
    """The articles' passages, numbered from `first_id` on; CorpusError if none holds prose."""
    passages: list[Passage] = []
    for article in articles:
        passages.extend(chunk_article(article, settings.passage_max_chars, first_id=first_id + len(passages)))
    if not passages:
        raise CorpusError("the articles contain no prose to index (only headings or page furniture)")
    return passages


def pages_in_corpus(staged: list[Staged], corpus_dir: Path) -> list[Path]:
    """The saved pages among `qa add`'s inputs that lie in the corpus folder (kept there beside their article)."""
    out = []
    for item in staged:
        page = Path(item.shown)
        if item.target is not None and is_page(page) and page.is_file():
            try:
                doc_name(page, corpus_dir)
            except ValueError:
                continue
            out.append(page)
    return out


def plan_additions(files: list, settings: Settings, stored_docs: Callable[[str], set[str]],
                   where: str, replace: bool = False) -> list[tuple[Path, Path, Article, str]]:
    """(source, target in the corpus, cleaned article, SHA-256) for each file, or CorpusError naming the first bad one.

    Shared by both stores' `add`: `stored_docs(digest)` names the articles already stored (in `where`,
    "the index" or "the database") with that content, to refuse unchanged files and duplicates.
    A file inside the corpus folder stays where it is, and must be one the corpus rule reads
    (`qa.load.scan_corpus`: not a link out of the corpus nor an alias); one outside is copied to the
    corpus folder under its name (read through a link if it is one: the copy is a plain file), which
    must not be taken by another file unless `replace`. A `qa.pages.Staged` input (an extracted page, a
    file given front matter) goes to its own target and is named in messages as the user gave it; a
    corpus file given front matter, or a page of the corpus whose article is written beside it, needs
    no `replace`.
    """
    corpus_dir = settings.corpus_dir
    scan: CorpusScan | None = None  # the corpus as every reader sees it, scanned once if a file lies in it
    planned: list[tuple[Path, Path, Article, str]] = []
    batch_docs: dict[str, str] = {}
    batch_digests: dict[str, str] = {}
    for item in files:
        staged = item if isinstance(item, Staged) else Staged(Path(item), None, str(item))
        path, shown = staged.path, visible(staged.shown)
        destination = staged.target or path
        problem = name_problem(destination.name) or name_problem(path.name)
        if problem:
            raise CorpusError(f"{shown}: {problem}")
        if staged.target is None and is_page(path):
            raise CorpusError(f"{shown}: a web page; `qa add` takes it in as its extracted article")
        if path.suffix.lower() not in ARTICLE_SUFFIXES or path.name.startswith("."):
            raise CorpusError(f"{shown}: not an article file (expected a visible {', '.join((*ARTICLE_SUFFIXES, *PAGE_SUFFIXES))} "
                              "file or an http(s) address)")
        # The file the user gave (a page or a file given front matter, when staged) and where its article goes:
        # each one that lies in the corpus must be one the corpus rule reads.
        given = None if is_address(staged.shown) else Path(staged.shown)
        mine = False  # whether the user gave a file of the corpus itself: its article stays or goes beside it
        for checked in dict.fromkeys(p for p in (given, destination) if p is not None):
            try:
                checked_doc = doc_name(checked, corpus_dir)
            except (ValueError, OSError):
                continue
            mine = mine or checked == given
            scan = _check_in_corpus(checked_doc, shown, corpus_dir, scan)
        try:
            doc, inside = doc_name(destination, corpus_dir), True
        except (ValueError, OSError):
            doc, inside = destination.name, False
        target = corpus_dir / doc
        if not inside and target.is_dir():
            raise CorpusError(f"{shown}: the corpus folder has a folder named {visible(doc)}; rename the file")
        try:
            article = read_article(path, path.parent)  # validates before anything is copied into the corpus
        except CorpusError as exc:
            raise CorpusError(str(exc).replace(visible(str(path)), shown, 1)) from None
        digest = file_digest(path)
        if doc in batch_docs:
            raise CorpusError(f"{shown}: given twice (as {batch_docs[doc]} too); each article once, please")
        if digest in batch_digests:
            raise CorpusError(f"{shown}: same content as {batch_digests[digest]} in this command (a duplicate)")
        stored = stored_docs(digest)
        if doc in stored:
            raise CorpusError(f"{shown}: already in {where} as {doc}, unchanged; nothing to add")
        if stored:
            raise CorpusError(f"{shown}: same content as {min(stored)}, already in {where} (a duplicate)")
        if (not mine and not replace and not _in_place(path, target) and (target.exists() or target.is_symlink())
                and not _same_bytes(target, digest) and not (staged.target is not None and _same_address(target, article))):
            raise CorpusError(f"{shown}: the corpus already has a different {visible(doc)}; add --replace to replace it "
                              "with this file")
        article = clean_article(replace_fields(article, doc=doc))
        if not chunk_article(article, settings.passage_max_chars):
            raise CorpusError(f"{shown}: no prose to index (only headings or page furniture)")
        batch_docs[doc], batch_digests[digest] = shown, shown
        planned.append((path, target, article, digest))
    return planned


def _check_in_corpus(doc: str, shown: str, corpus_dir: Path, scan: CorpusScan | None) -> CorpusScan | None:
    """Refuse a file of the corpus that its readers would not read (in a hidden or badly named folder, or
    left out by `scan_corpus`); returns the scan, made once per planning."""
    if any(part.startswith(".") for part in doc.split("/")):
        raise CorpusError(f"{shown}: in a hidden folder of the corpus, which is not indexed")
    problem = next((name_problem(part) for part in doc.split("/")[:-1] if name_problem(part)), None)
    if problem:
        raise CorpusError(f"{shown}: in a folder of the corpus whose name cannot be used: {problem.replace('file', 'folder')}")
    if scan is None and corpus_dir.is_dir():
        scan = scan_corpus(corpus_dir)
    if scan is not None and doc in scan.skipped:
        raise CorpusError(f"{shown}: {scan.skipped[doc]}")
    return scan


def _same_address(target: Path, article: Article) -> bool:
    """Whether the corpus file `target` and an extracted page's article have the same `url` in their front
    matter: the same article fetched or saved again (updated), which needs no `--replace`."""
    from .frontmatter import read_front_matter

    url = read_front_matter(article.text).fields.get("url")
    try:
        return bool(url) and not target.is_symlink() and read_front_matter(
            target.read_text(encoding="utf-8")).fields.get("url") == url
    except (OSError, UnicodeDecodeError):
        return False


def _same_bytes(path: Path, digest: str) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and file_digest(path) == digest
    except OSError:
        return False


def _in_place(source: Path, target: Path) -> bool:
    """Whether `source` is the corpus file `target` itself (its folder resolved, not its name: a link is itself)."""
    return source.parent.resolve() / source.name == target.parent.resolve() / target.name


@contextlib.contextmanager
def corpus_copies(planned: list[tuple[Path, Path, Article, str]], corpus_dir: Path, progress: Progress = quiet) -> Iterator[None]:
    """Copy the planned files from outside into the corpus folder (each atomically); if the block then
    fails, put back what each copy replaced, so that a failed `qa add` leaves the corpus as it was."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for partial in corpus_dir.glob(".*.tmp-*"):  # copies a killed `qa add` left half-done (see _copy_atomically)
        if partial.is_file() and _PARTIAL_COPY.fullmatch(partial.name):
            partial.unlink(missing_ok=True)
    undo: list[tuple[Path, tuple[str, object] | None]] = []
    try:
        for source, target, _article, _digest in planned:
            if _in_place(source, target):
                continue
            before = _saved(target)
            if before is not None:
                progress(f"Replacing {visible(target.name)} in {visible(str(corpus_dir))}/")
            _copy_atomically(source, target)
            undo.append((target, before))
        yield
    except BaseException:
        for target, before in reversed(undo):
            with contextlib.suppress(OSError):
                _restore(target, before)
        raise


def _saved(path: Path) -> tuple[str, object] | None:
    """What a corpus entry is before a copy replaces it: ("link", target), ("file", bytes), or None if absent."""
    if path.is_symlink():
        return "link", os.readlink(path)
    if path.is_file():
        return "file", path.read_bytes()
    return None


def _restore(path: Path, saved: tuple[str, object] | None) -> None:
    if saved is None:
        path.unlink(missing_ok=True)
        return
    kind, value = saved
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    if kind == "link":
        os.symlink(value, tmp)  # type: ignore[arg-type]
    else:
        tmp.write_bytes(value)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy a file into the corpus through a hidden temporary name, so a crash never leaves half an article."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
