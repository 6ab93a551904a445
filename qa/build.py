"""Building and updating the index folder: `qa index` reads, cleans, chunks and embeds the whole corpus, `qa add`
embeds only the new articles, and `ensure_index` rebuilds a stale index before a question. Every write is
one new generation (qa.generation) of the files qa.index reads."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .clean import clean_article
from .dense import build_dense
from .embed import Embedder
from .errors import CorpusError, IndexStateError
from .generation import commit_generation, new_generation, read_manifest, recover_index, write_jsonl, writer_lock
from .index import FORMAT, FORMAT_VERSION, Index, index_params, index_problem, ingestion_digest, load_index
from .ingest import (
    chunk_articles,
    corpus_copies,
    corpus_sources,
    embedding_texts,
    pages_in_corpus,
    plan_additions,
    sources_hash,
    title_vectors,
)
from .load import ARTICLE_SUFFIXES, PAGE_SUFFIXES, doc_name, file_digest, read_article, scan_corpus
from .pages import convert_corpus_pages, is_address, staged_inputs
from .records import Article, Passage, Progress, quiet
from .sentences import Sentences
from .settings import Settings
from .text import terms, visible


def build_index(settings: Settings, embedder: Embedder, progress: Progress = quiet) -> Index:
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
    progress("Embedding the passages' sentences and the articles' titles")
    sentences = Sentences.build(embedder, {a.doc: a.text for a in articles}, passages, embeddings)
    titles = title_vectors(embedder, articles)
    index = write_index(settings, embedder, articles, passages, embeddings, sources, skipped, sentences, progress,
                        titles=titles)
    progress(f"Index written to {settings.index_dir}/ ({len(passages)} passages, {len(articles)} articles) "
             f"in {time.perf_counter() - started:.1f} s")
    return index


def add_articles(files: list, settings: Settings, embedder: Embedder, progress: Progress = quiet,
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
        titles = title_vectors(embedder, articles, {doc: index.title_vector(doc) for doc in index.articles if doc not in replaced})
        with corpus_copies(planned, corpus_dir, progress):
            return write_index(settings, embedder, articles, passages, embeddings, sources, skipped, sentences, progress,
                               updates=index.manifest, titles=titles)


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


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress = quiet) -> Index:
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


def write_index(settings: Settings, embedder: Embedder, articles: list[Article], passages: list[Passage],
                embeddings: np.ndarray, sources: dict[str, str], skipped: dict[str, str], sentences: Sentences,
                progress: Progress = quiet, updates: dict | None = None, titles: np.ndarray | None = None) -> Index:
    """Write every file of a new generation (qa.generation: a temporary sibling folder, fsynced, manifest
    last, swapped into place under the writer lock); the `Index` it holds.

    `updates` is the manifest of the generation this one updates (`qa add`, a deletion): its kept
    passages were read by the code recorded there, so its ingestion digest is carried over and an index
    that was stale stays stale (the next `qa ask` rebuilds it) instead of looking current. `titles` holds
    one vector per article, in the order of `articles`."""
    import faiss

    dest = settings.index_dir
    if titles is None or titles.shape != (len(articles), embeddings.shape[1]):
        raise ValueError(f"{len(articles)} articles need as many title vectors of dimension {embeddings.shape[1]}")
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
        np.save(tmp / "titles.npy", np.asarray(titles, dtype=np.float32))
        manifest = commit_generation(tmp, dest, {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": embedder.name,
            "dim": int(embeddings.shape[1]),
            "params": index_params(settings, embedder.name),
            "ingestion": ingestion_digest() if updates is None else updates.get("ingestion"),
            "corpus_hash": sources_hash(sources),
            "sources": sources,
            "skipped": skipped,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "generation": f"{time.time_ns()}-{os.getpid()}",
            "n_articles": len(articles),
            "n_passages": len(passages),
            "dense": dense_info,
        })
    return Index(dest, manifest, _by_doc(articles), passages, embeddings, dense, bm25, sentences,
                 np.asarray(titles, dtype=np.float32))


def _bm25_index(texts: list[str], languages: list[str | None]):
    """BM25 over each passage's terms, stemmed in its article's language (French and English Snowball)."""
    import bm25s
    from bm25s.tokenization import Tokenized

    documents = [terms(text, lang or "fr") or [""] for text, lang in zip(texts, languages)]
    # The vocabulary numbered in sorted order: bm25s numbers it in set order, which changes with Python's
    # hash seed, so the same corpus would give different files on every build.
    vocab = {term: i for i, term in enumerate(sorted({t for doc in documents for t in doc}))}
    bm25 = bm25s.BM25()
    bm25.index(Tokenized([[vocab[t] for t in doc] for doc in documents], vocab), show_progress=False)
    return bm25


def _article_record(a: Article) -> dict:
    return {"doc": a.doc, "title": a.title, "author": a.author, "date": a.date, "url": a.url, "lang": a.lang,
            "date_inferred": a.date_inferred, "title_inferred": a.title_inferred, "year_hint": a.year_hint, "text": a.text,
            "paragraphs": [[s.start, s.end] for s in a.paragraphs], "headings": [[s.start, s.end] for s in a.headings],
            "bylines": [[s.start, s.end] for s in a.bylines]}


def _passage_record(p: Passage) -> dict:
    return {"id": p.id, "doc": p.doc, "start": p.start, "end": p.end, "para_start": p.para_start,
            "para_end": p.para_end, "heading": p.heading, "kind": p.kind}


def _by_doc(articles: list[Article]) -> dict[str, Article]:
    return {a.doc: a for a in articles}
