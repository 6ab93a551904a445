"""The index on disk: a folder of plain files, written atomically, checked on load.

Layout (txtai/bm25s style: FAISS row i is passage i, documents beside the vectors)::

    manifest.json      format version, model, dimension, settings, corpus sources, file checksums (written last)
    articles.jsonl     one article a line: doc, metadata, exact text, paragraph and heading spans
    passages.jsonl     one passage a line: id, doc, start, end, paragraph span, heading
    embeddings.npy     float32 passage vectors (kept so `qa add` never re-embeds unchanged articles)
    lexicon.json/.npy  the corpus's distinct words and their vectors (cross-lingual term matching)
    dense.faiss        FAISS inner-product index over the unit vectors
    bm25/              bm25s index over French-stemmed, accent-folded terms
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .chunk import chunk_article
from .clean import clean_article
from .embed import Embedder
from .errors import CorpusError, IndexStateError
from .lexicon import Lexicon
from .load import ARTICLE_SUFFIXES, article_files, doc_name, file_digest, read_article
from .records import Article, Passage, Span
from .settings import Settings
from .text import fold, terms

FORMAT = "qa-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

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
    lexicon: Lexicon

    @cached_property
    def vocabulary(self) -> list[str]:
        """BM25's terms (stemmed, folded), for matching misspelt question words to real ones."""
        return [t for t in self.bm25.vocab_dict if t]

    @cached_property
    def folded_words(self) -> dict[str, str]:
        """Corpus words without accents → their BM25 term: typos are easier to spot on whole words than on stems."""
        return {fold(w): s for w, s in zip(self.lexicon.words, self.lexicon.stems) if s in self.bm25.vocab_dict}

    @cached_property
    def document_frequencies(self) -> np.ndarray:
        """Passages containing each BM25 term (indexed by term id)."""
        return np.diff(self.bm25.scores["indptr"])


def corpus_sources(corpus_dir: Path) -> dict[str, str]:
    """{doc: sha256} of every candidate article file in the corpus (unreadable ones included, so they count too)."""
    return {doc_name(p, corpus_dir): file_digest(p) for p in article_files(corpus_dir)}


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
    return " — ".join(parts)


# ---------------------------------------------------------------- building

def build_index(settings: Settings, embedder: Embedder, progress: Progress = _quiet) -> Index:
    """Read, clean, chunk and embed the whole corpus, then write a new index generation atomically."""
    started = time.perf_counter()
    corpus_dir = settings.corpus_dir
    sources = corpus_sources(corpus_dir)
    if not sources:
        raise CorpusError(f"no article (.txt or .md) in {corpus_dir}")
    progress(f"Reading {len(sources)} article file(s) from {corpus_dir}/")
    articles, skipped = [], {}
    for path in article_files(corpus_dir):
        try:
            articles.append(clean_article(read_article(path, corpus_dir)))
        except CorpusError as exc:
            skipped[doc_name(path, corpus_dir)] = str(exc)
            progress(f"warning: skipped {exc}")
    if not articles:
        raise CorpusError(f"no readable article in {corpus_dir} ({len(skipped)} skipped)")
    passages = _chunk(articles, settings)
    progress(f"Embedding {len(passages)} passages from {len(articles)} articles with {embedder.name}")
    embeddings = embedder.encode_documents(
        [embedding_text(_by_doc(articles)[p.doc], p, settings.embed_context) for p in passages], progress=len(passages) > 64)
    progress("Embedding the corpus vocabulary (for English and misspelt questions)")
    lexicon = Lexicon.build([p.text for p in passages], embedder)
    index = write_index(settings, embedder, articles, passages, embeddings, sources, skipped, lexicon)
    progress(f"Index written to {settings.index_dir}/ ({len(passages)} passages, {len(articles)} articles) "
             f"in {time.perf_counter() - started:.1f} s")
    return index


def add_articles(files: list[Path], settings: Settings, embedder: Embedder, progress: Progress = _quiet) -> Index:
    """Add or replace articles in an existing index, embedding only their passages.

    Files outside the corpus folder are copied into it first, so the corpus stays the source of truth
    and the index is not judged stale afterwards.
    """
    index = load_index(settings.index_dir, settings, embedder_name=embedder.name)
    corpus_dir = settings.corpus_dir
    corpus_dir.mkdir(parents=True, exist_ok=True)
    new_articles = []
    for file in files:
        path = Path(file)
        if path.suffix.lower() not in ARTICLE_SUFFIXES or path.name.startswith("."):
            raise CorpusError(f"{path}: not an article file (expected a visible {', '.join(ARTICLE_SUFFIXES)} file)")
        read_article(path, path.parent)  # validates before anything is copied into the corpus
        try:
            target = path.resolve()
            doc_name(target, corpus_dir)
        except ValueError:
            target = corpus_dir / path.name
            if target.exists() and target.read_bytes() != path.read_bytes():
                progress(f"Replacing {target.name} in {corpus_dir}/")
            shutil.copyfile(path, target)
        article = clean_article(read_article(target, corpus_dir))
        new_articles.append(article)
        progress(f"{'Replacing' if article.doc in index.articles else 'Adding'} {article.doc}")
    replaced = {a.doc for a in new_articles}
    kept_rows = [i for i, p in enumerate(index.passages) if p.doc not in replaced]
    articles = [a for doc, a in index.articles.items() if doc not in replaced] + new_articles
    kept = [index.passages[i] for i in kept_rows]
    fresh = _chunk(new_articles, settings, first_id=len(kept))
    progress(f"Embedding {len(fresh)} new passages ({len(kept)} kept as they were)")
    vectors = embedder.encode_documents([embedding_text(_by_doc(new_articles)[p.doc], p, settings.embed_context) for p in fresh],
                                        progress=len(fresh) > 64)
    passages = [Passage(**{**asdict(p), "id": i}) for i, p in enumerate(kept)] + fresh
    embeddings = np.vstack([index.embeddings[kept_rows], vectors]).astype(np.float32)
    sources = dict(index.manifest["sources"])
    skipped = dict(index.manifest.get("skipped", {}))
    for article in new_articles:
        sources[article.doc] = file_digest(corpus_dir / article.doc)
        skipped.pop(article.doc, None)
    lexicon = Lexicon.build([p.text for p in passages], embedder, known=index.lexicon)
    return write_index(settings, embedder, articles, passages, embeddings, sources, skipped, lexicon)


def _chunk(articles: list[Article], settings: Settings, first_id: int = 0) -> list[Passage]:
    passages: list[Passage] = []
    for article in articles:
        passages.extend(chunk_article(article, settings.passage_max_chars, first_id=first_id + len(passages)))
    if not passages:
        raise CorpusError("the articles contain no prose to index (only headings or page furniture)")
    return passages


def _by_doc(articles: list[Article]) -> dict[str, Article]:
    return {a.doc: a for a in articles}


def write_index(settings: Settings, embedder: Embedder, articles: list[Article], passages: list[Passage],
                embeddings: np.ndarray, sources: dict[str, str], skipped: dict[str, str], lexicon: Lexicon) -> Index:
    """Write every file into a temporary sibling folder, fsync, then swap it into place; manifest last."""
    import faiss

    dest = settings.index_dir
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write_jsonl(tmp / "articles.jsonl", (_article_record(a) for a in articles))
        _write_jsonl(tmp / "passages.jsonl", (_passage_record(p) for p in passages))
        np.save(tmp / "embeddings.npy", embeddings)
        dense = _dense_index(embeddings)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        by_doc = _by_doc(articles)
        bm25 = _bm25_index([embedding_text(by_doc[p.doc], p, settings.embed_context) for p in passages])
        bm25.save(str(tmp / "bm25"), show_progress=False)
        (tmp / "lexicon.json").write_text(json.dumps({"words": lexicon.words, "stems": lexicon.stems}, ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "lexicon.npy", lexicon.vectors)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": embedder.name,
            "dim": int(embeddings.shape[1]),
            "params": settings.index_params() | {"model": embedder.name},
            "corpus_hash": sources_hash(sources),
            "sources": sources,
            "skipped": skipped,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "n_articles": len(articles),
            "n_passages": len(passages),
            "files": {rel: _sha256(tmp / rel) for rel in _data_files(tmp)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _fsync_tree(tmp)
        _swap(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Index(dest, manifest, _by_doc(articles), passages, embeddings, dense, bm25, lexicon)


def _dense_index(embeddings: np.ndarray):
    import faiss

    dense = faiss.IndexFlatIP(embeddings.shape[1])
    dense.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    return dense


def _bm25_index(texts: list[str]):
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([terms(text) or [""] for text in texts], show_progress=False)
    return bm25


def _swap(tmp: Path, dest: Path) -> None:
    """Replace `dest` by `tmp` with renames; the old generation is removed only once the new one is in place."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _data_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_jsonl(path: Path, records) -> None:
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _article_record(a: Article) -> dict:
    return {"doc": a.doc, "title": a.title, "author": a.author, "date": a.date, "url": a.url, "text": a.text,
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
        manifest = _read_manifest(index_dir)
    except IndexStateError as exc:
        return str(exc).split(";")[0]
    if manifest is None:
        return f"no index in {index_dir}/"
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        return f"index in {index_dir}/ has format {manifest.get('format')} v{manifest.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}"
    model = embedder_name or settings.model
    if manifest.get("model") != model:
        return f"index in {index_dir}/ was built with model {manifest.get('model')!r}, not {model!r}"
    if {k: v for k, v in manifest.get("params", {}).items() if k != "model"} != {k: v for k, v in settings.index_params().items() if k != "model"}:
        return f"index in {index_dir}/ was built with other chunking settings"
    if settings.corpus_dir.is_dir():
        current = corpus_sources(settings.corpus_dir)
        if sources_hash(current) != manifest.get("corpus_hash"):
            return f"the corpus in {settings.corpus_dir}/ changed since the index was built ({_describe_change(manifest.get('sources', {}), current)})"
    return None


def _describe_change(old: dict[str, str], new: dict[str, str]) -> str:
    added = len(new.keys() - old.keys())
    removed = len(old.keys() - new.keys())
    changed = sum(1 for d in new.keys() & old.keys() if new[d] != old[d])
    parts = [f"{n} {what}" for n, what in ((added, "added"), (removed, "removed"), (changed, "changed")) if n]
    return ", ".join(parts) or "files differ"


def _read_manifest(index_dir: Path) -> dict | None:
    path = index_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexStateError(f"index in {index_dir}/ is corrupt: unreadable {MANIFEST} ({exc.__class__.__name__}); run `qa index` to rebuild it") from None
    if not isinstance(manifest, dict):
        raise IndexStateError(f"index in {index_dir}/ is corrupt: {MANIFEST} is not an object; run `qa index` to rebuild it")
    return manifest


def verify_index(index_dir: Path) -> dict:
    """Check the manifest and every file's checksum; the manifest, or IndexStateError naming the broken file."""
    manifest = _read_manifest(index_dir)
    if manifest is None:
        raise IndexStateError(f"no index in {index_dir}/; run `qa index` to build it")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexStateError(f"index in {index_dir}/ is corrupt: its manifest lists no files; run `qa index` to rebuild it")
    for rel, digest in files.items():
        path = index_dir / rel
        if not path.is_file():
            raise IndexStateError(f"index in {index_dir}/ is corrupt: {rel} is missing; run `qa index` to rebuild it")
        if _sha256(path) != digest:
            raise IndexStateError(f"index in {index_dir}/ is corrupt: {rel} does not match its checksum; run `qa index` to rebuild it")
    return manifest


def load_index(index_dir: Path, settings: Settings | None = None, embedder_name: str | None = None) -> Index:
    """Open a verified index; IndexStateError if it is corrupt or made for another model or format."""
    import bm25s
    import faiss

    manifest = verify_index(index_dir)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStateError(f"index in {index_dir}/ has format v{manifest.get('format_version')}, this qa reads v{FORMAT_VERSION}; run `qa index` to rebuild it")
    if embedder_name and manifest.get("model") != embedder_name:
        raise IndexStateError(f"index in {index_dir}/ was built with {manifest.get('model')!r}, not {embedder_name!r}; run `qa index` to rebuild it")
    try:
        articles = {}
        for record in _read_jsonl(index_dir / "articles.jsonl"):
            articles[record["doc"]] = Article(
                doc=record["doc"], text=record["text"], title=record["title"], author=record["author"],
                date=record["date"], url=record["url"],
                paragraphs=tuple(Span(s, e) for s, e in record["paragraphs"]),
                headings=tuple(Span(s, e) for s, e in record["headings"]),
                bylines=tuple(Span(s, e) for s, e in record["bylines"]))
        passages = []
        for record in _read_jsonl(index_dir / "passages.jsonl"):
            text = articles[record["doc"]].text
            passages.append(Passage(text=text[record["start"]:record["end"]], **record))
        embeddings = np.load(index_dir / "embeddings.npy", allow_pickle=False)
        dense = faiss.read_index(str(index_dir / "dense.faiss"))
        bm25 = bm25s.BM25.load(str(index_dir / "bm25"), show_progress=False)
        words = json.loads((index_dir / "lexicon.json").read_text(encoding="utf-8"))
        lexicon = Lexicon(words["words"], words["stems"], np.load(index_dir / "lexicon.npy", allow_pickle=False))
    except (KeyError, TypeError, ValueError, OSError, RuntimeError) as exc:
        raise IndexStateError(f"index in {index_dir}/ is corrupt ({exc.__class__.__name__}: {exc}); run `qa index` to rebuild it") from None
    if not (len(passages) == dense.ntotal == embeddings.shape[0] == manifest.get("n_passages")) or any(p.id != i for i, p in enumerate(passages)):
        raise IndexStateError(f"index in {index_dir}/ is inconsistent (passage and vector counts differ); run `qa index` to rebuild it")
    return Index(index_dir, manifest, articles, passages, embeddings, dense, bm25, lexicon)


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress = _quiet) -> Index:
    """The current index for the settings: loaded if up to date, else rebuilt with a message saying why."""
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
