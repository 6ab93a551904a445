"""The index on disk: a folder of plain files, written atomically, checked on load.

Layout (txtai/bm25s style: FAISS row i is passage i, documents beside the vectors)::

    manifest.json      format version, model, dimension, settings, corpus sources, file checksums (written last)
    articles.jsonl     one article a line: doc, metadata, exact text, paragraph and heading spans
    passages.jsonl     one passage a line: id, doc, start, end, paragraph span, heading
    embeddings.npy     float32 passage vectors (kept so `qa add` never re-embeds unchanged articles)
    sentences.npy      float32 query-side vectors of every passage's sentences (qa.sentences)
    sentence_spans.npy int64 rows (owner passage, start, end) of those sentences
    hubness.npy        float32 hubness of each passage (mean cosine with its nearest sentences)
    dense.faiss        FAISS inner-product index over the unit vectors
    bm25/              bm25s index over accent-folded terms, stemmed in each article's language

Each write is a new generation, swapped in whole and checked on every load (qa.generation).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .clean import clean_article
from .dense import build_dense, dense_problem, limit_threads, open_vectors
from .embed import Embedder
from .errors import CorpusError, IndexStateError, one_line
from .ingest import (chunk_articles, corpus_copies, corpus_sources, embedding_texts, pages_in_corpus, plan_additions,
                     sources_hash)
from .generation import MANIFEST, commit_generation, new_generation, read_manifest, recover_index, verify_index, write_jsonl, writer_lock
from .load import (ARTICLE_SUFFIXES, PAGE_SUFFIXES, doc_name, file_digest, read_article,
                   scan_corpus)
from .pages import convert_corpus_pages, is_address, staged_inputs
from .records import Article, Passage, Span
from .sentences import Sentences
from .settings import Settings
from .text import NORMALIZATION_VERSION, terms, visible

FORMAT = "qa-index"
# 2: articles carry their language and whether their date and title were inferred (issue 17's metadata);
# an index of version 1 holds the older, month-table metadata and is rebuilt.
# 3: sentence spans and vectors and passage hubness (sentences.npy, sentence_spans.npy, hubness.npy);
# BM25 terms stemmed in each article's language.
# 4: no lexicon.json/lexicon.npy (the corpus's words embedded, read only by a retrieval since removed);
# an approximate dense index's search breadth is tuned on the passages' sentences instead.
FORMAT_VERSION = 4

Progress = Callable[[str], None]
def _quiet(_message: str) -> None:
    pass


@dataclass
class Index:
    """A loaded index: passages, their articles, vectors and the two search structures."""

    path: Path
    manifest: dict
    articles: dict[str, Article]
    passages: list[Passage]
    embeddings: np.ndarray
    dense: object  # faiss.Index
    bm25: object  # bm25s.BM25
    sentences: Sentences

    @cached_property
    def document_frequencies(self) -> np.ndarray:
        """Passages containing each BM25 term (indexed by term id)."""
        return np.diff(self.bm25.scores["indptr"])


def index_params(settings: Settings, model: str) -> dict:
    """What shapes the stored index (model, chunking, text normalization): recorded, and compared on load."""
    return settings.index_params() | {"model": model, "normalization": NORMALIZATION_VERSION}


# ---------------------------------------------------------------- building

def build_index(settings: Settings, embedder: Embedder, progress: Progress = _quiet) -> Index:
    """Read, clean, chunk and embed the whole corpus, then write a new index generation atomically.

    Unreadable files (not UTF-8, binary, empty, too big, an HTML page) and what the corpus rule leaves out
    (`qa.load.scan_corpus`: links out of the corpus, aliases, bad names) are skipped with a warning naming
    them; they are recorded in the manifest's `skipped` and `sources`, so they do not make the index look
    stale, while adding or removing one does.
    A duplicate (the same bytes as another article, under another name) gets a warning naming both but
    is indexed: the corpus folder is the source of truth, and the answer quotes a fact found in two
    articles once, citing both (`qa add` refuses a duplicate instead: there the user can act on it).
    """
    started = time.perf_counter()
    corpus_dir = settings.corpus_dir
    # Saved web pages first: each one's article is written beside it as Markdown, then indexed as such.
    page_problems = convert_corpus_pages(corpus_dir, progress) if corpus_dir.is_dir() else {}
    scan = scan_corpus(corpus_dir)
    sources = corpus_sources(corpus_dir, scan)
    if not any(Path(doc).suffix.lower() in ARTICLE_SUFFIXES for doc in sources):
        raise CorpusError(f"no article (.txt, .md or a web page) in {visible(str(corpus_dir))}")
    progress(f"Reading {len(scan.articles)} article file(s) from {visible(str(corpus_dir))}/")
    if scan.ignored:
        names = ", ".join(scan.ignored[:5]) + (f" and {len(scan.ignored) - 5} more" if len(scan.ignored) > 5 else "")
        progress(f"warning: ignored {names}: not article files ({', '.join((*ARTICLE_SUFFIXES, *PAGE_SUFFIXES))})")
    articles, skipped = [], dict(page_problems)
    for name, reason in scan.skipped.items():
        skipped[name] = reason
        progress(f"warning: skipped {visible(str(corpus_dir / name))}: {reason}")
    first_with: dict[str, str] = {}  # content digest → the first doc that has it
    for doc, path in scan.articles:
        try:
            article = clean_article(read_article(path, corpus_dir, doc))
        except CorpusError as exc:
            skipped[doc] = str(exc)
            progress(f"warning: skipped {exc}")
            continue
        digest = sources.get(doc)
        if digest in first_with:
            progress(f"warning: {visible(str(path))}: same content as {first_with[digest]} (a duplicate); both are indexed and cited together")
        elif digest is not None:
            first_with[digest] = doc
        articles.append(article)
    if not articles:
        raise CorpusError(f"no readable article in {visible(str(corpus_dir))} ({len(skipped)} skipped)")
    passages = chunk_articles(articles, settings)
    progress(f"Embedding {len(passages)} passages from {len(articles)} articles with {embedder.name}")
    embeddings = embedder.encode_documents(
        embedding_texts(articles, passages, settings), progress=len(passages) > 64)
    progress("Embedding the passages' sentences")
    sentences = Sentences.build(embedder, {a.doc: a.text for a in articles}, passages, embeddings)
    index = write_index(settings, embedder, articles, passages, embeddings, sources, skipped, sentences, progress)
    progress(f"Index written to {settings.index_dir}/ ({len(passages)} passages, {len(articles)} articles) "
             f"in {time.perf_counter() - started:.1f} s")
    return index


def add_articles(files: list, settings: Settings, embedder: Embedder, progress: Progress = _quiet,
                 metadata: dict[str, str] | None = None, replace: bool = False) -> Index:
    """Add or replace articles in an existing index, embedding only their passages.

    Files outside the corpus folder are copied into it, so the corpus stays the source of truth and the
    index is not judged stale afterwards. A web page (a saved .html file, or an http(s) address, fetched)
    goes in as its extracted article, a Markdown file with front matter (qa.pages); `metadata` (from
    `qa add --title …`) is written as front matter. All files are checked before anything changes: one
    bad file (unreadable, badly named, a link the corpus rule skips, no prose, a duplicate of an indexed
    article, unchanged, given twice, or another file under the name of one in the corpus without
    `replace`) refuses the whole command with a CorpusError naming it. The files are copied only once
    their passages are embedded, and put back as they were if the index cannot be written, so a failed
    command leaves the corpus and the index as they were.
    One writer at a time (see `writer_lock`), so two concurrent additions never lose one another.
    """
    corpus_dir = settings.corpus_dir
    with staged_inputs(list(files), corpus_dir, metadata, progress) as staged, writer_lock(settings.index_dir):
        index = load_index(settings.index_dir, settings, embedder_name=embedder.name)
        by_digest: dict[str, set[str]] = {}
        for doc, digest in index.manifest.get("sources", {}).items():
            if doc in index.articles:
                by_digest.setdefault(digest, set()).add(doc)
        planned = plan_additions(staged, settings, lambda digest: by_digest.get(digest, set()), "the index", replace)
        new_articles = [article for _source, _target, article, _digest in planned]
        for article in new_articles:
            progress(f"{'Replacing' if article.doc in index.articles else 'Adding'} {article.doc}")
        replaced = {a.doc for a in new_articles}
        kept_rows = [i for i, p in enumerate(index.passages) if p.doc not in replaced]
        articles = [a for doc, a in index.articles.items() if doc not in replaced] + new_articles
        kept = [index.passages[i] for i in kept_rows]
        fresh = chunk_articles(new_articles, settings, first_id=len(kept))
        progress(f"Embedding {len(fresh)} new passages ({len(kept)} kept as they were)")
        vectors = embedder.encode_documents(embedding_texts(new_articles, fresh, settings), progress=len(fresh) > 64)
        passages = [Passage(**{**asdict(p), "id": i}) for i, p in enumerate(kept)] + fresh
        embeddings = np.vstack([index.embeddings[kept_rows], vectors]).astype(np.float32)
        sources = dict(index.manifest["sources"])
        skipped = dict(index.manifest.get("skipped", {}))
        for _source, _target, article, digest in planned:
            sources[article.doc] = digest  # the copy into the corpus is byte for byte
            skipped.pop(article.doc, None)
        for page in pages_in_corpus(staged, corpus_dir):  # a page kept in the corpus counts as a source too
            sources[doc_name(page, corpus_dir)] = file_digest(page)
            skipped.pop(doc_name(page, corpus_dir), None)
        sentences = Sentences.build(embedder, {a.doc: a.text for a in articles}, passages, embeddings,
                                    known=index.sentences, kept_rows=kept_rows)
        with corpus_copies(planned, corpus_dir, progress):
            return write_index(settings, embedder, articles, passages, embeddings, sources, skipped, sentences, progress)


def check_additions(files: list, settings: Settings, replace: bool = False,
                    metadata: dict[str, str] | None = None) -> None:
    """The checks of `qa add` that need neither the model nor the writer lock, run before the model loads
    (seconds) so that a bad file is refused at once; the store checks them all again when it adds.

    Saved pages are extracted and `metadata` written as front matter, as the addition will (in temporary
    files); addresses are left to the addition, so that a page is fetched once. Duplicates and unchanged
    files are found from the index's manifest (the embedded store) or not at all here (a database: that
    needs a connection, made once the model is loaded).
    """
    from .urls import is_database_url

    local = [f for f in files if not is_address(str(f))]
    if not local:
        return
    by_digest: dict[str, set[str]] = {}
    if not is_database_url(settings.store):
        try:
            manifest = read_manifest(settings.index_dir, recover=False)
        except IndexStateError:
            manifest = None
        sources = manifest.get("sources") if isinstance(manifest, dict) else None
        skipped = manifest.get("skipped") if isinstance(manifest, dict) else None
        skipped = skipped if isinstance(skipped, dict) else {}
        for doc, digest in (sources.items() if isinstance(sources, dict) else ()):
            if doc not in skipped and isinstance(digest, str) and not digest.startswith(("skipped:", "unreadable:")):
                by_digest.setdefault(digest, set()).add(doc)
    where = "the database" if is_database_url(settings.store) else "the index"
    with staged_inputs(local, settings.corpus_dir, metadata) as staged:
        plan_additions(staged, settings, lambda digest: by_digest.get(digest, set()), where, replace)


def _by_doc(articles: list[Article]) -> dict[str, Article]:
    return {a.doc: a for a in articles}


def write_index(settings: Settings, embedder: Embedder, articles: list[Article], passages: list[Passage],
                embeddings: np.ndarray, sources: dict[str, str], skipped: dict[str, str], sentences: Sentences,
                progress: Progress = _quiet) -> Index:
    """Write every file of a new generation (qa.generation: a temporary sibling folder, fsynced, manifest
    last, swapped into place under the writer lock) and return it loaded."""
    import faiss

    dest = settings.index_dir
    with new_generation(dest) as tmp:
        write_jsonl(tmp / "articles.jsonl", (_article_record(a) for a in articles))
        write_jsonl(tmp / "passages.jsonl", (_passage_record(p) for p in passages))
        np.save(tmp / "embeddings.npy", embeddings)
        dense, dense_info = build_dense(embeddings, settings, progress, queries=sentences.vectors)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        by_doc = _by_doc(articles)
        bm25 = _bm25_index(embedding_texts(articles, passages, settings), [by_doc[p.doc].lang for p in passages])
        bm25.save(str(tmp / "bm25"), show_progress=False)
        np.save(tmp / "sentences.npy", sentences.vectors)
        np.save(tmp / "sentence_spans.npy", np.stack([sentences.owner, sentences.starts, sentences.ends], axis=1))
        np.save(tmp / "hubness.npy", sentences.hubness)
        manifest = commit_generation(tmp, dest, {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": embedder.name,
            "dim": int(embeddings.shape[1]),
            "params": index_params(settings, embedder.name),
            "corpus_hash": sources_hash(sources),
            "sources": sources,
            "skipped": skipped,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "generation": f"{time.time_ns()}-{os.getpid()}",
            "n_articles": len(articles),
            "n_passages": len(passages),
            "dense": dense_info,
        })
    return Index(dest, manifest, _by_doc(articles), passages, embeddings, dense, bm25, sentences)


def _bm25_index(texts: list[str], languages: list[str | None]):
    """BM25 over each passage's terms, stemmed in its article's language (French and English Snowball)."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([terms(text, lang or "fr") or [""] for text, lang in zip(texts, languages)], show_progress=False)
    return bm25


def _article_record(a: Article) -> dict:
    return {"doc": a.doc, "title": a.title, "author": a.author, "date": a.date, "url": a.url, "lang": a.lang,
            "date_inferred": a.date_inferred, "title_inferred": a.title_inferred, "year_hint": a.year_hint, "text": a.text,
            "paragraphs": [[s.start, s.end] for s in a.paragraphs], "headings": [[s.start, s.end] for s in a.headings],
            "bylines": [[s.start, s.end] for s in a.bylines]}


def _passage_record(p: Passage) -> dict:
    return {"id": p.id, "doc": p.doc, "start": p.start, "end": p.end, "para_start": p.para_start,
            "para_end": p.para_end, "heading": p.heading, "kind": p.kind}


# ---------------------------------------------------------------- loading

def index_problem(index_dir: Path, settings: Settings, embedder_name: str | None = None) -> str | None:
    """Why the index cannot be used as is for this corpus and model (None when it is current).

    Cheap: reads only the manifest and hashes the corpus files, so `qa ask` can decide to rebuild.
    """
    try:
        manifest = read_manifest(index_dir)
    except IndexStateError as exc:
        return str(exc).split(";")[0]
    if manifest is None:
        return f"no index in {index_dir}/"
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        return f"index in {index_dir}/ has format {manifest.get('format')} v{manifest.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}"
    model = embedder_name or settings.model
    if manifest.get("model") != model:
        return f"index in {index_dir}/ was built with model {manifest.get('model')!r}, not {model!r}"
    params = manifest.get("params")
    sources = manifest.get("sources")
    if not isinstance(params, dict) or not isinstance(sources, dict):
        return f"index in {index_dir}/ is corrupt: its manifest lacks its settings or sources"
    wanted = index_params(settings, model)
    if params.get("normalization") != wanted["normalization"]:
        built = params.get("normalization")
        return (f"index in {index_dir}/ was built with {'an older' if built is None else f'another (v{built})'} text normalization "
                f"(this qa uses v{wanted['normalization']})")
    if {k: v for k, v in params.items() if k != "model"} != {k: v for k, v in wanted.items() if k != "model"}:
        return f"index in {index_dir}/ was built with other chunking settings"
    unlike = dense_problem(manifest, settings)
    if unlike:
        return f"index in {index_dir}/ {unlike}"
    if settings.corpus_dir.is_dir():
        current = corpus_sources(settings.corpus_dir)
        if sources_hash(current) != manifest.get("corpus_hash"):
            return f"the corpus in {settings.corpus_dir}/ changed since the index was built ({_describe_change(sources, current)})"
    return None


def _describe_change(old: dict[str, str], new: dict[str, str]) -> str:
    added = len(new.keys() - old.keys())
    removed = len(old.keys() - new.keys())
    changed = sum(1 for d in new.keys() & old.keys() if new[d] != old[d])
    parts = [f"{n} {what}" for n, what in ((added, "added"), (removed, "removed"), (changed, "changed")) if n]
    return ", ".join(parts) or "files differ"


def _generation(index_dir: Path) -> tuple | None:
    """What identifies the generation in place: the folder's inode and the manifest's bytes (None if absent)."""
    try:
        st = os.stat(index_dir)
        return st.st_dev, st.st_ino, hashlib.sha256((index_dir / MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def disk_generation_key(index_dir: Path) -> tuple | None:
    """What changes whenever a writer swaps a new generation into `index_dir` (None while there is none).

    The folder's inode changes with every swap (a new folder is renamed into place) and the manifest's
    inode, size and mtime with every rewrite; stat only, so it can be called before every question
    (`_generation` hashes the manifest instead: certain, for torn-read checks, but not free at scale).
    """
    try:
        folder = os.stat(index_dir)
        manifest = os.stat(Path(index_dir) / MANIFEST)
    except OSError:
        return None
    return folder.st_dev, folder.st_ino, manifest.st_ino, manifest.st_size, manifest.st_mtime_ns


def load_index(index_dir: Path, settings: Settings | None = None, embedder_name: str | None = None) -> Index:
    """Open a verified index; IndexStateError if it is corrupt or made for another model or format.

    Readers take no lock: if a writer swaps in a new generation while this one is read, the read is
    thrown away and done again, so what is returned is always one whole generation.
    """
    for attempt in range(4):
        before = _generation(index_dir)
        try:
            index = _load_once(index_dir, embedder_name, settings or Settings())
        except IndexStateError:
            if attempt < 3 and _generation(index_dir) != before:
                continue  # a writer replaced the index while it was read: read the new one
            raise
        if _generation(index_dir) == before:
            return index
    raise IndexStateError(f"index in {index_dir}/ kept changing while it was read (another process is rewriting it); try again")


def _load_once(index_dir: Path, embedder_name: str | None, settings: Settings) -> Index:
    import bm25s
    import faiss

    manifest = verify_index(index_dir)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStateError(f"index in {index_dir}/ has format {str(manifest.get('format'))[:40]} v{str(manifest.get('format_version'))[:20]}, "
                              f"this qa reads {FORMAT} v{FORMAT_VERSION}; run `qa index` to rebuild it")
    if embedder_name and manifest.get("model") != embedder_name:
        raise IndexStateError(f"index in {index_dir}/ was built with {manifest.get('model')!r}, not {embedder_name!r}; run `qa index` to rebuild it")
    if not isinstance(manifest.get("params"), dict) or not isinstance(manifest.get("sources"), dict) or not isinstance(manifest.get("skipped", {}), dict):
        raise IndexStateError(f"index in {index_dir}/ is corrupt: its manifest lacks its settings or sources; run `qa index` to rebuild it")
    try:
        articles = {}
        for record in _read_jsonl(index_dir / "articles.jsonl"):
            article = Article(
                doc=record["doc"], text=record["text"], title=record["title"], author=record["author"],
                date=record["date"], url=record["url"], lang=record.get("lang"),
                date_inferred=record.get("date_inferred") is True, title_inferred=record.get("title_inferred") is True,
                year_hint=record.get("year_hint") if type(record.get("year_hint")) is int else None,
                paragraphs=tuple(Span(s, e) for s, e in record["paragraphs"]),
                headings=tuple(Span(s, e) for s, e in record["headings"]),
                bylines=tuple(Span(s, e) for s, e in record["bylines"]))
            if not isinstance(article.doc, str) or not isinstance(article.text, str) or article.doc in articles:
                raise ValueError(f"bad or repeated article record {str(article.doc)[:80]!r}")
            for span in (*article.paragraphs, *article.headings, *article.bylines):
                _check_span(span.start, span.end, article)
            articles[article.doc] = article
        passages = []
        for record in _read_jsonl(index_dir / "passages.jsonl"):
            article = articles[record["doc"]]
            _check_span(record["start"], record["end"], article)
            _check_span(record["para_start"], record["para_end"], article)
            passages.append(Passage(text=article.text[record["start"]:record["end"]], **record))
        embeddings, dense = open_vectors(index_dir, manifest, settings.index_mmap)
        bm25 = bm25s.BM25.load(str(index_dir / "bm25"), show_progress=False)
        spans = np.load(index_dir / "sentence_spans.npy", allow_pickle=False)
        sentence_vectors = np.load(index_dir / "sentences.npy", allow_pickle=False, mmap_mode="r" if settings.index_mmap else None)
        hub = np.load(index_dir / "hubness.npy", allow_pickle=False)
        if not (spans.ndim == 2 and spans.shape[1] == 3 and len(spans) == len(sentence_vectors) and len(hub) == len(passages)
                and (len(spans) == 0 or (np.all(np.diff(spans[:, 0]) >= 0) and spans[-1, 0] < len(passages)))):
            raise ValueError("sentence spans, vectors and hubness disagree with the passages")
        sentences = Sentences(spans[:, 0].copy(), spans[:, 1].copy(), spans[:, 2].copy(), sentence_vectors, hub)
        dim = manifest.get("dim")
        if not (embeddings.ndim == 2 and embeddings.dtype == np.float32 and embeddings.shape[1] == dim == dense.d):
            raise ValueError(f"vectors of dimension {embeddings.shape[1:]} / {dense.d}, manifest says {dim}")
        num_docs = getattr(bm25, "scores", {}).get("num_docs")
        if num_docs is not None and num_docs != len(passages):
            raise ValueError(f"BM25 holds {num_docs} passages, not {len(passages)}")
    except IndexStateError:
        raise
    except Exception as exc:  # checksums passed, so anything the files cannot give is corruption or incompatibility
        raise IndexStateError(f"index in {index_dir}/ is corrupt ({one_line(exc)}); run `qa index` to rebuild it") from None
    if not (len(passages) == dense.ntotal == embeddings.shape[0] == manifest.get("n_passages")) or any(p.id != i for i, p in enumerate(passages)):
        raise IndexStateError(f"index in {index_dir}/ is inconsistent (passage and vector counts differ); run `qa index` to rebuild it")
    if len(articles) != manifest.get("n_articles"):
        raise IndexStateError(f"index in {index_dir}/ is inconsistent (it holds {len(articles)} articles, its manifest says {manifest.get('n_articles')}); run `qa index` to rebuild it")
    limit_threads(faiss, settings.search_threads)
    return Index(index_dir, manifest, articles, passages, embeddings, dense, bm25, sentences)


def _check_span(start, end, article: Article) -> None:
    if not (type(start) is int and type(end) is int and 0 <= start <= end <= len(article.text)):
        raise ValueError(f"span [{start!r}, {end!r}) outside {article.doc} ({len(article.text)} characters)")


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    raise ValueError(f"{path.name} line {n} is not JSON") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path.name} line {n} is not an object")
                yield record


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress = _quiet) -> Index:
    """The current index for the settings: loaded if up to date, else rebuilt with a message saying why."""
    recover_index(settings.index_dir, progress)
    problem = index_problem(settings.index_dir, settings, embedder.name)
    if problem is None:
        try:
            return load_index(settings.index_dir, settings, embedder.name)
        except IndexStateError as exc:
            if not settings.corpus_dir.is_dir():
                raise
            problem = str(exc).split(";")[0]
    if not settings.corpus_dir.is_dir():
        raise CorpusError(f"{problem}, and the corpus folder {settings.corpus_dir}/ does not exist to build it from")
    progress(f"Building the index: {problem}")
    return build_index(settings, embedder, progress)
