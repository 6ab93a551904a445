"""The store interface retrieval talks to, and its embedded implementation (the files in `index/`).

Retrieval and answering never touch FAISS, bm25s or SQL: they read one consistent `StoreView` — a
snapshot of the corpus — through a handful of calls (dense search, lexical search, passages by id,
their vectors, an article, term statistics). Two stores provide it:

- `EmbeddedStore` (this module): the index folder of `qa.index`, the default, nothing to install.
  A view is one loaded `Index` generation, which never changes once loaded.
- `PgStore` (`qa.pgstore`): PostgreSQL + pgvector, chosen with `--store postgresql://…` or `$QA_STORE`.
  A view is one REPEATABLE READ transaction, so a question never sees half of an article's replacement.

Writes go through the store too (`add` replaces whole articles, `delete` removes one) so the CLI and
the page do not care which store they serve from.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from .records import Article, Passage, Progress, Span, quiet
from .sentences import Sentences
from .settings import Settings
from .urls import DATABASE_SCHEMES, check_store, is_database_url, passwords_in, redact, scrub  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)
_NOW = object()  # EmbeddedStore's default disk key: read it at construction


class StoreView(Protocol):
    """One consistent snapshot of a store: everything a question needs, read as of one moment."""

    n_passages: int

    def has_term(self, term: str) -> bool: ...
    def document_frequency(self, term: str) -> int: ...
    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]: ...
    def lexical_search(self, query_terms: list[str], n: int) -> list[tuple[int, float]]: ...
    def passages(self, ids: list[int]) -> dict[int, Passage]: ...
    def vectors(self, ids: list[int]) -> np.ndarray: ...
    def article(self, doc: str) -> Article | None: ...
    def sentences(self, pid: int) -> tuple[list[Span], np.ndarray]: ...
    def sentences_of(self, ids: list[int]) -> dict[int, tuple[list[Span], np.ndarray]]: ...
    def hubness(self, ids: list[int]) -> np.ndarray: ...
    def title_vectors(self, docs: list[str]) -> np.ndarray: ...


class Store(Protocol):
    """Where the passages live: a snapshot to read from, whole-article writes, corpus statistics."""

    def snapshot(self) -> contextlib.AbstractContextManager[StoreView]: ...
    def refresh(self, embedder_name: str) -> bool: ...
    def add(self, files: list, embedder, progress: Progress = quiet, metadata: dict[str, str] | None = None,
            replace: bool = False) -> dict: ...
    def delete(self, doc: str) -> None: ...
    def stats(self) -> dict: ...
    def describe(self) -> str: ...
    def catalog(self) -> list[dict]: ...


class EmbeddedView:
    """The StoreView of one loaded index generation (immutable, so the snapshot is free)."""

    def __init__(self, index):
        self.index = index
        self.n_passages = len(index.passages)

    def has_term(self, term: str) -> bool:
        return term in self.index.bm25.vocab_dict

    def document_frequency(self, term: str) -> int:
        return int(self.index.document_frequencies[self.index.bm25.vocab_dict[term]])

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        n = min(n, self.index.dense.ntotal)
        if n <= 0:
            return []
        scores, ids = self.index.dense.search(vector.reshape(1, -1).astype(np.float32), n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical_search(self, query_terms: list[str], n: int) -> list[tuple[int, float]]:
        return bm25_top(self.index.bm25, query_terms, n)

    def passages(self, ids: list[int]) -> dict[int, Passage]:
        return {i: self.index.passages[i] for i in ids}

    def vectors(self, ids: list[int]) -> np.ndarray:
        return self.index.embeddings[list(ids)]

    def article(self, doc: str) -> Article | None:
        return self.index.articles.get(doc)

    def sentences(self, pid: int) -> tuple[list[Span], np.ndarray]:
        """A passage's sentence spans and their query-side vectors (qa.sentences)."""
        table = self.index.sentences
        rows = table.rows(pid)
        return table.spans(pid), np.asarray(table.vectors[rows.start:rows.stop], dtype=np.float32)

    def sentences_of(self, ids: list[int]) -> dict[int, tuple[list[Span], np.ndarray]]:
        """The sentences of several passages (one call, as the PostgreSQL store needs)."""
        return {i: self.sentences(i) for i in ids}

    def hubness(self, ids: list[int]) -> np.ndarray:
        """Each passage's hubness (its mean cosine with its nearest sentences of other passages)."""
        return np.asarray(self.index.sentences.hubness[list(ids)], dtype=np.float32)

    def title_vectors(self, docs: list[str]) -> np.ndarray:
        """The vector of each doc's article title (qa.ingest.title_vectors), a row per doc."""
        rows = self.index.title_rows
        return np.asarray(self.index.titles[[rows[d] for d in docs]], dtype=np.float32).reshape(len(docs), -1)


def bm25_top(bm25, query_terms: list[str], n: int) -> list[tuple[int, float]]:
    """(row, score) of the n best rows of a bm25s index with a positive score, best first (ties: lower row)."""
    ids = bm25.get_tokens_ids(query_terms)
    if not ids or n <= 0:
        return []
    scores = bm25.get_scores_from_ids(ids)
    n = min(n, len(scores))
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class EmbeddedStore:
    """The index folder (`qa.index`) behind the store interface: FAISS + bm25s files, one generation at a time.

    `index` is swapped as a whole after a write, and a snapshot holds the generation it started with,
    so a reader never mixes two generations.
    """

    def __init__(self, settings: Settings, index, disk_key: tuple | None | object = _NOW):
        from .index import disk_generation_key

        self.settings = settings
        self.index = index
        # What `refresh` compares with: taken before loading by `open`, so a generation swapped in while
        # this one loads is seen as new.
        self._disk_key = disk_generation_key(settings.index_dir) if disk_key is _NOW else disk_key
        self._refresh_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, embedder, progress: Progress = quiet) -> EmbeddedStore:
        from .build import ensure_index
        from .index import disk_generation_key

        disk_key = disk_generation_key(settings.index_dir)
        return cls(settings, ensure_index(settings, embedder, progress), disk_key)

    def refresh(self, embedder_name: str) -> bool:
        """Switch to the index generation on disk if another process (`qa add`, `qa index`) wrote a new one.

        Costs two `stat` calls when nothing changed. Only one thread loads; the others keep answering
        from the generation they have, and a question already started finishes on its own snapshot. A
        generation that cannot be loaded (corrupt, another model) is logged and skipped: the store
        keeps the one it has. True if it switched.
        """
        from .errors import QAError
        from .index import disk_generation_key, load_index

        key = disk_generation_key(self.settings.index_dir)
        if key is None or key == self._disk_key:
            return False  # unchanged, or mid-swap (no folder for an instant): look again next time
        if not self._refresh_lock.acquire(blocking=False):
            return False  # another thread is loading it
        try:
            if key == self._disk_key:
                return False
            try:
                index = load_index(self.settings.index_dir, self.settings, embedder_name)
            except QAError as exc:
                log.warning("keeping the index in use: the new one on disk cannot be loaded (%s)", exc)
                self._disk_key = key
                return False
            self._disk_key = key
            if index.manifest.get("generation") == self.index.manifest.get("generation"):
                return False
            self.index = index
            log.info("switched to index generation %s (%d articles)", index.manifest.get("generation"), len(index.articles))
            return True
        finally:
            self._refresh_lock.release()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[EmbeddedView]:
        yield EmbeddedView(self.index)

    def add(self, files: list, embedder, progress: Progress = quiet, metadata: dict[str, str] | None = None,
            replace: bool = False) -> dict:
        from .build import add_articles

        self.index = add_articles(list(files), self.settings, embedder, progress, metadata=metadata, replace=replace)
        return self.stats()

    def delete(self, doc: str) -> None:
        """Remove an article: its file leaves the corpus folder (the embedded store's source of truth) and the index."""
        from dataclasses import replace

        from .build import write_index
        from .errors import CorpusError
        from .generation import writer_lock
        from .index import load_index

        with writer_lock(self.settings.index_dir):
            index = load_index(self.settings.index_dir, self.settings)
            if doc not in index.articles:
                raise CorpusError(f"{doc}: not in the index")
            (self.settings.corpus_dir / doc).unlink(missing_ok=True)
            kept = [p for p in index.passages if p.doc != doc]
            passages = [replace(p, id=i) for i, p in enumerate(kept)]
            articles = [a for d, a in index.articles.items() if d != doc]
            embeddings = index.embeddings[[p.id for p in kept]]
            model = _NamedOnly(index.manifest["model"], index.embeddings.shape[1])
            # every kept passage's sentences are reused (nothing is embedded); hubness is recomputed
            sentences = Sentences.build(model, {a.doc: a.text for a in articles}, passages, embeddings,
                                        known=index.sentences, kept_rows=[p.id for p in kept])
            self.index = write_index(
                self.settings, model, articles, passages, embeddings,
                {d: s for d, s in index.manifest["sources"].items() if d != doc},
                dict(index.manifest.get("skipped", {})), sentences, updates=index.manifest,
                titles=index.titles[[index.title_rows[a.doc] for a in articles]])

    def stats(self) -> dict:
        return {"store": "embedded", "location": str(self.settings.index_dir),
                "n_articles": len(self.index.articles), "n_passages": len(self.index.passages),
                "dates": [a.date for a in self.index.articles.values()],
                "dates_inferred": [a.date_inferred for a in self.index.articles.values()],
                "langs": [a.lang for a in self.index.articles.values()]}

    def describe(self) -> str:
        return f"{self.settings.index_dir}/"

    def catalog(self) -> list[dict]:
        """Each indexed article's metadata as citations will show it, and its number of passages (`qa articles`)."""
        from collections import Counter

        from .records import catalog_row

        counts = Counter(p.doc for p in self.index.passages)
        return [catalog_row(a, counts[doc]) for doc, a in sorted(self.index.articles.items())]


class _NamedOnly:
    """What `write_index` needs of an embedder when nothing is embedded (a deletion): its name and dimension."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim


def open_store(settings: Settings, embedder, progress: Progress = quiet) -> Store:
    """The store the settings name: PostgreSQL for a `postgresql://` URL, else the index folder."""
    if is_database_url(settings.store):
        from .pgstore import PgStore

        return PgStore.open(settings, embedder, progress)
    return EmbeddedStore.open(settings, embedder, progress)
