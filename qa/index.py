"""The index on disk as read: a folder of plain files, checked on load into an `Index`, and whether it is current.

Layout (txtai/bm25s style: FAISS row i is passage i, documents beside the vectors)::

    manifest.json      format version, model, dimension, settings, ingestion code digest, corpus sources,
                       file checksums (written last)
    articles.jsonl     one article a line: doc, metadata, exact text, paragraph and heading spans
    passages.jsonl     one passage a line: id, doc, start, end, paragraph span, heading
    embeddings.npy     float32 passage vectors (kept so `qa add` never re-embeds unchanged articles)
    sentences.npy      float32 query-side vectors of every passage's sentences (qa.sentences)
    sentence_spans.npy int64 rows (owner passage, start, end) of those sentences
    hubness.npy        float32 hubness of each passage (mean cosine with its nearest sentences)
    titles.npy         float32 vector of each article's title, in articles.jsonl's order
    dense.faiss        FAISS inner-product index over the unit vectors
    bm25/              bm25s index over accent-folded terms, stemmed in each article's language

Written by qa.build, one whole generation at a time, swapped in atomically (qa.generation).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .dense import dense_problem, limit_threads, open_vectors
from .errors import IndexStateError, one_line
from .generation import MANIFEST, read_manifest, verify_index
from .ingest import corpus_sources, ingestion_digest, sources_hash
from .records import Article, Passage, Span
from .sentences import Sentences
from .settings import Settings
from .text import NORMALIZATION_VERSION

FORMAT = "qa-index"
# 2: articles carry their language and whether their date and title were inferred (issue 17's metadata);
# an index of version 1 holds the older, month-table metadata and is rebuilt.
# 3: sentence spans and vectors and passage hubness (sentences.npy, sentence_spans.npy, hubness.npy);
# BM25 terms stemmed in each article's language.
# 4: no lexicon.json/lexicon.npy (the corpus's words embedded, read only by a retrieval since removed);
# an approximate dense index's search breadth is tuned on the passages' sentences instead.
# 5: a vector per article's title (titles.npy), read by the ranker.
FORMAT_VERSION = 5


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
    titles: np.ndarray  # one vector per article's title, in the order of `articles`

    @cached_property
    def title_rows(self) -> dict[str, int]:
        """Each article's row in `titles`."""
        return {doc: i for i, doc in enumerate(self.articles)}

    def title_vector(self, doc: str) -> np.ndarray:
        return self.titles[self.title_rows[doc]]

    @cached_property
    def document_frequencies(self) -> np.ndarray:
        """Passages containing each BM25 term (indexed by term id)."""
        return np.diff(self.bm25.scores["indptr"])



def index_params(settings: Settings, model: str) -> dict:
    """What shapes the stored index (model, chunking, text normalization): recorded, and compared on load."""
    return settings.index_params() | {"model": model, "normalization": NORMALIZATION_VERSION}


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
    if manifest.get("ingestion") != ingestion_digest():
        return f"index in {index_dir}/ was built by another version of qa (it reads, cleans or splits articles differently now)"
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
        titles = np.load(index_dir / "titles.npy", allow_pickle=False)
        if not (titles.dtype == np.float32 and titles.shape == (len(articles), dim)):
            raise ValueError(f"title vectors of shape {titles.shape}, not one per article of dimension {dim}")
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
    return Index(index_dir, manifest, articles, passages, embeddings, dense, bm25, sentences, titles)


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


