"""The PostgreSQL + pgvector store: the same passages, vectors and BM25 statistics in a database server.

Why a database: several app processes (or machines) can serve one corpus while a writer adds articles,
and the data can live in a managed, replicated, shardable PostgreSQL. The schema and connections are in
`qa.pgschema`, reading a snapshot in `qa.pgview`, the SQL of a write in `qa.pgwrite`; this module is the
store itself: opening a database, the readers' connection pool, statistics, and what writes what.

Consistency: a question reads one REPEATABLE READ, READ ONLY transaction (`snapshot`), so every query
it makes sees the same committed state. A write replaces whole articles in one transaction, under a
transaction-scoped advisory lock (one writer at a time); a writer that dies mid-way leaves nothing,
PostgreSQL rolls its transaction back. Readers never wait for the writer (MVCC).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from .chunk import chunk_article
from .clean import clean_article
from .errors import CorpusError, IndexStateError, StoreError
from .ingest import ingestion_digest
from .load import file_digest, read_article, scan_corpus
from .pgschema import (
    CONNECT_TIMEOUT,
    SCHEMA_VERSION,
    WRITER_LOCK,
    connect,
    has_vector,
    migrate,
    one_line,
    register_types,
    schema_version,
)
from .pgview import PgView, TermStats
from .pgwrite import prepare_articles, update_hubness, write_articles
from .records import Article, Progress, catalog_row, quiet
from .settings import Settings
from .text import visible
from .urls import redact

# At most this many read-only connections per store (one per question in flight); more questions wait.
READERS_MAX = 16
# The pool logs each failed attempt; unconfigured, Python would print those on stderr, where the CLI
# writes one line per error. An application that configures logging still receives them.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())


def _configure_reader(conn) -> None:
    """How the pool sets up each readers' connection: REPEATABLE READ, READ ONLY transactions, pgvector's types."""
    import psycopg

    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    register_types(conn)


class PgStore:
    """Passages in PostgreSQL + pgvector behind the store interface (see the module docstring)."""

    def __init__(self, settings: Settings, url: str, model: str, dim: int, ef_search: int | None = None):
        self.settings = settings
        self.url = url
        self.model = model
        self.dim = dim
        self.lexical = settings.pg_lexical
        self.ef_search = ef_search or settings.pg_ef_search
        self._readers = None  # psycopg_pool.ConnectionPool, opened by `_pool`
        self._lock = threading.Lock()
        self._stats: TermStats | None = None

    # -- opening

    @classmethod
    def open(cls, settings: Settings, embedder, progress: Progress = quiet, create: bool = True) -> PgStore:
        """Connect, check the schema and the model; create and fill an empty database from the corpus.

        Like the embedded index, a database with no qa schema (or no article) is built from the corpus
        folder when there is one, saying so; an older schema must be migrated on purpose (`qa db migrate`),
        since several app processes may share the database.
        """
        from .index import index_params

        url = settings.store
        with contextlib.closing(connect(url)) as conn:
            version = schema_version(conn) if has_vector(conn) else -1
        if version == -1 and not create:
            raise StoreError(f"the database at {redact(url)} has no pgvector extension; run `qa db init --store URL` "
                             "(the server must have pgvector installed)")
        if version <= 0:
            if not create:
                raise StoreError(f"the database at {redact(url)} has no qa schema; run `qa db init --store URL`")
            migrate(url, embedder.dim, embedder.name, index_params(settings, embedder.name), progress=progress)
            progress(f"Created the qa schema in {redact(url)}")
        elif version < SCHEMA_VERSION:
            raise StoreError(f"the database at {redact(url)} has schema version {version}, this qa needs {SCHEMA_VERSION}; run `qa db migrate --store URL`")
        elif version > SCHEMA_VERSION:
            raise StoreError(f"the database at {redact(url)} has schema version {version}; this qa knows up to {SCHEMA_VERSION} (upgrade qa)")
        with contextlib.closing(connect(url)) as conn:
            model, dim, params, n_articles, n_stale = conn.execute(
                "SELECT model, dim, params, (SELECT count(*) FROM articles), "
                "(SELECT count(*) FROM articles WHERE ingestion IS DISTINCT FROM %s) FROM qa_meta",
                (ingestion_digest(),)).fetchone()
        if model != embedder.name:
            raise IndexStateError(f"the database at {redact(url)} holds vectors of model {model!r}, not {embedder.name!r}; "
                                  "use that model or another database")
        wanted = index_params(settings, embedder.name)
        if params != wanted:
            raise IndexStateError(f"the database at {redact(url)} was built with other chunking or normalization settings; "
                                  "rebuild it with `qa index --store URL --force`")
        store = cls(settings, url, model, dim)
        if n_stale:
            # Not reloaded here: several processes share the database, and reloading is a write.
            progress(f"warning: {n_stale} of the {n_articles} articles in {redact(url)} were read by another version "
                     "of qa (it reads, cleans or splits articles differently now); `qa index --store URL` reloads them")
        if n_articles == 0 and create and settings.corpus_dir.is_dir():
            progress(f"Filling the database from {settings.corpus_dir}/ (it holds no article yet)")
            store.sync(embedder, progress)
        return store

    def describe(self) -> str:
        return redact(self.url)

    # -- connections

    def _pool(self):
        """The pool of read-only connections, opened at the first read (a store that only writes needs none)."""
        with self._lock:
            if self._readers is None:
                from psycopg_pool import ConnectionPool

                self._readers = ConnectionPool(
                    self.url, kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}, configure=_configure_reader,
                    # each connection is checked as it is handed out, so one the server closed (a restart, an
                    # idle timeout) is replaced instead of failing a question
                    check=ConnectionPool.check_connection,
                    min_size=1, max_size=READERS_MAX, timeout=CONNECT_TIMEOUT, name="qa-readers", open=True)
            return self._readers

    @contextlib.contextmanager
    def _reader(self) -> Iterator:
        """A read-only connection from the pool, or StoreError in one line when none can be had.

        The pool connects in the background and only says that it waited: when no connection comes within
        a second, a direct attempt tells an unreachable server (its reason, at once) from a busy pool."""
        from psycopg_pool import PoolTimeout

        pool = self._pool()
        try:
            conn = pool.getconn(timeout=1)
        except PoolTimeout:
            connect(self.url).close()
            try:
                conn = pool.getconn(timeout=CONNECT_TIMEOUT)
            except PoolTimeout:
                raise StoreError(f"no connection to PostgreSQL at {redact(self.url)} came free within "
                                 f"{CONNECT_TIMEOUT + 1} s ({READERS_MAX} in use)") from None
        try:
            yield conn
        finally:
            pool.putconn(conn)  # one closed after an error is replaced by the pool

    def close(self) -> None:
        """Close the readers' connections (a later read opens a new pool)."""
        with self._lock:
            readers, self._readers = self._readers, None
        if readers is not None:
            readers.close()

    def refresh(self, embedder_name: str) -> bool:
        """Nothing to pick up: every snapshot already sees the last committed articles."""
        return False

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PgView]:
        """One REPEATABLE READ, READ ONLY transaction for a question (or a batch of them)."""
        import psycopg

        with self._reader() as conn:
            try:
                with conn.transaction():
                    generation, n_passages = conn.execute("SELECT generation, n_passages FROM qa_meta").fetchone()
                    yield PgView(conn, self._term_stats(conn, generation), int(n_passages), self.dim, self.ef_search,
                                 self.lexical)
            except psycopg.Error as exc:
                conn.close()
                raise StoreError(f"PostgreSQL at {redact(self.url)} failed: {one_line(exc, self.url)}") from None

    def _term_stats(self, conn, generation: int) -> TermStats:
        """The document frequencies of this generation: read once per generation, inside the snapshot."""
        stats = self._stats
        if stats is not None and stats.generation == generation:
            return stats
        stats = TermStats(generation, dict(conn.execute("SELECT term, df FROM terms")))
        self._stats = stats
        return stats

    # -- statistics

    def stats(self) -> dict:
        with contextlib.closing(connect(self.url)) as conn:
            n_articles, n_passages, generation = conn.execute(
                "SELECT (SELECT count(*) FROM articles), n_passages, generation FROM qa_meta").fetchone()
            rows = conn.execute("SELECT date, date_inferred, lang FROM articles ORDER BY doc").fetchall()
            version = schema_version(conn)
        return {"store": "postgresql", "location": redact(self.url), "schema_version": version, "model": self.model,
                "n_articles": int(n_articles), "n_passages": int(n_passages), "generation": int(generation),
                "dates": [r[0] for r in rows], "dates_inferred": [bool(r[1]) for r in rows], "langs": [r[2] for r in rows]}

    def catalog(self) -> list[dict]:
        """Each stored article's metadata as citations will show it, and its number of passages (`qa articles`)."""
        with contextlib.closing(connect(self.url)) as conn:
            rows = conn.execute("""SELECT a.doc, a.title, a.title_inferred, a.author, a.date, a.date_inferred, a.url, a.lang,
                                          (SELECT count(*) FROM passages p WHERE p.doc = a.doc), a.year_hint
                                   FROM articles a ORDER BY a.doc""").fetchall()
        return [catalog_row(Article(doc=r[0], text="", title=r[1], title_inferred=bool(r[2]), author=r[3], date=r[4],
                                    date_inferred=bool(r[5]), url=r[6], lang=r[7], year_hint=r[9]), int(r[8])) for r in rows]

    def check(self) -> dict:
        """Verify the stored counts and that every passage is a slice of its stored article; stats, or IndexStateError."""
        with contextlib.closing(connect(self.url)) as conn:
            counted, recorded, length, recorded_length = conn.execute(
                "SELECT count(*), (SELECT n_passages FROM qa_meta), coalesce(sum(length), 0), (SELECT total_length FROM qa_meta) FROM passages").fetchone()
            bad = conn.execute("""SELECT p.id FROM passages p JOIN articles a USING (doc)
                                  WHERE p."end" > length(a.text) OR p.para_end > length(a.text) LIMIT 1""").fetchone()
        if counted != recorded or length != recorded_length:
            raise IndexStateError(f"the database at {redact(self.url)} is inconsistent: {counted} passages, qa_meta says {recorded}")
        if bad:
            raise IndexStateError(f"the database at {redact(self.url)} is inconsistent: passage {bad[0]} lies outside its article")
        return self.stats()

    # -- writing

    def add(self, files: list, embedder, progress: Progress = quiet, metadata: dict[str, str] | None = None,
            replace: bool = False) -> dict:
        """Add or replace articles (checked first; copied into the corpus folder once embedded, and put back
        if the database write fails), each replacement in one transaction.

        Web pages and http(s) addresses go in as their extracted articles (qa.pages); `metadata` is
        written as front matter of the one file given."""
        from .ingest import corpus_copies
        from .pages import staged_inputs

        corpus = self.settings.corpus_dir
        with staged_inputs(list(files), corpus, metadata, progress) as staged:
            planned = self._plan(staged, replace)
            items = self.prepare([(article, digest) for _source, _target, article, digest in planned], embedder, progress)
            with corpus_copies(planned, corpus, progress):
                self.write(items, progress=progress)
        return self.stats()

    def _plan(self, files: list, replace: bool = False) -> list[tuple[Path, Path, Article, str]]:
        from .ingest import plan_additions

        with contextlib.closing(connect(self.url)) as conn:
            def stored_docs(digest: str) -> set[str]:
                return {doc for (doc,) in conn.execute("SELECT doc FROM articles WHERE sha256 = %s", (digest,)).fetchall()}

            return plan_additions(list(files), self.settings, stored_docs, "the database", replace)

    def prepare(self, items: list[tuple[Article, str]], embedder, progress: Progress = quiet) -> list[dict]:
        """Chunk and embed articles (passages and their sentences), ready for `write`."""
        return prepare_articles(items, self.settings, self.dim, embedder, progress)

    def write(self, items: list[dict], delete: list[str] = (), progress: Progress = quiet, conn=None) -> None:
        """Replace the articles of `items` and delete the docs in `delete`, all in one transaction.

        With `conn`, the caller holds the transaction (tests use it to kill a writer before commit).
        """
        if conn is not None:
            write_articles(conn, items, delete, self.dim, self.settings.embed_context)
            return
        with contextlib.closing(connect(self.url)) as conn:
            register_types(conn)
            with conn.transaction():
                write_articles(conn, items, delete, self.dim, self.settings.embed_context)
        progress(f"Database now holds {self._count()} passages")

    def rescore_hubness(self) -> None:
        """Every passage's hubness against the whole database (after `sync` loaded a corpus in batches)."""
        with contextlib.closing(connect(self.url)) as conn:
            register_types(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                update_hubness(cur, self.dim, None)
                cur.execute("UPDATE qa_meta SET generation = generation + 1")

    def _count(self) -> int:
        with contextlib.closing(connect(self.url)) as conn:
            return int(conn.execute("SELECT n_passages FROM qa_meta").fetchone()[0])

    def delete(self, doc: str) -> None:
        """Remove an article and its passages in one transaction (its corpus file, if any, is left alone)."""
        with contextlib.closing(connect(self.url)) as conn:
            if conn.execute("SELECT 1 FROM articles WHERE doc = %s", (doc,)).fetchone() is None:
                raise CorpusError(f"{doc}: not in the database")
        self.write([], delete=[doc])

    def sync(self, embedder, progress: Progress = quiet, force: bool = False, batch: int = 64) -> dict:
        """Make the database hold the corpus folder: new and changed articles (re)loaded, vanished ones deleted.

        Each batch of articles is one transaction; unreadable files are skipped with a warning, as `qa index` does.
        """
        from .pages import convert_corpus_pages

        corpus = self.settings.corpus_dir
        if corpus.is_dir():
            convert_corpus_pages(corpus, progress)  # saved web pages: their articles written beside them first
        scan = scan_corpus(corpus)  # the corpus rule of `qa index`: links out of it, aliases, bad names skipped
        with contextlib.closing(connect(self.url)) as conn:
            rows = conn.execute("SELECT doc, sha256, ingestion IS DISTINCT FROM %s FROM articles",
                                (ingestion_digest(),)).fetchall()
        stored = {doc: digest for doc, digest, _old in rows}
        # articles read by another version of qa's ingestion are reloaded as if they had changed
        stale = {doc for doc, _digest, old in rows if old}
        for name, reason in scan.skipped.items():
            progress(f"warning: skipped {visible(str(corpus / name))}: {reason}")
        current = {}
        for doc, path in scan.articles:
            try:
                current[doc] = (path, file_digest(path))
            except OSError as exc:
                progress(f"warning: skipped {visible(str(path))}: {exc.__class__.__name__}")
        gone = sorted(set(stored) - set(current)) if not force else sorted(stored)
        todo = [(doc, path, digest) for doc, (path, digest) in current.items()
                if force or stored.get(doc) != digest or doc in stale]
        if not todo and not gone:
            progress(f"The database is up to date with {corpus}/ ({len(stored)} articles); nothing to do (--force reloads).")
            return self.stats()
        reread = sum(doc in stale and stored.get(doc) == digest for doc, _path, digest in todo) if not force else 0
        progress(f"Loading {len(todo)} article(s) from {corpus}/ into {self.describe()}, deleting {len(gone)}"
                 + (f" ({reread} unchanged but read by another version of qa)" if reread else ""))
        if gone:
            self.write([], delete=gone)
        for start in range(0, len(todo), batch):
            items = []
            for doc, path, digest in todo[start:start + batch]:
                try:
                    article = clean_article(read_article(path, corpus, doc))
                except CorpusError as exc:
                    progress(f"warning: skipped {exc}")
                    continue
                if chunk_article(article, self.settings.passage_max_chars):
                    items.append((article, digest))
            if items:
                self.write(self.prepare(items, embedder, progress))
        if todo:
            self.rescore_hubness()
        stats = self.stats()
        progress(f"Database {self.describe()} holds {stats['n_passages']} passages from {stats['n_articles']} articles")
        return stats

