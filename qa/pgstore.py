"""The PostgreSQL + pgvector store: the same passages, vectors and BM25 statistics in a database server.

Why a database: several app processes (or machines) can serve one corpus while a writer adds articles,
and the data can live in a managed, replicated, shardable PostgreSQL. Schema (`MIGRATIONS`, recorded in
`qa_schema`):

    qa_meta     one row: model, dimension, index settings, generation counter, N and Σ passage length (BM25)
    articles    doc, SHA-256 of the file, exact text (every quote is a slice of it), metadata, spans
    passages    id, doc, [start, end), paragraph span, heading, kind, BM25 length, embedding vector(dim)
                (HNSW, inner product), tsv (French full-text vector, GIN)
    terms       BM25 term → document frequency
    postings    (term, passage) → term frequency and passage length: BM25 computed in SQL

Consistency: a question reads one REPEATABLE READ, READ ONLY transaction (`snapshot`), so every query
it makes sees the same committed state. A write replaces whole articles in one transaction, under a
transaction-scoped advisory lock (one writer at a time); a writer that dies mid-way leaves nothing,
PostgreSQL rolls its transaction back. Readers never wait for the writer (MVCC).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .chunk import chunk_article
from .clean import clean_article
from .errors import CorpusError, IndexStateError, InputError, StoreError
from .load import file_digest, read_article, scan_corpus
from .records import Article, Passage, Span, catalog_row
from .sentences import HUB_SAMPLE, embed_sentences, hubness, sentence_table
from .settings import Settings
from .urls import redact, scrub

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass
from .text import fold, terms, visible

SCHEMA_VERSION = 4
# pg_advisory_xact_lock key held by writers ("qa" in ASCII): one writer at a time, released at commit.
WRITER_LOCK = 0x7161
# bm25s' defaults (method "lucene"), so both stores rank lexically the same way.
BM25_K1, BM25_B = 1.5, 0.75


def _one_line(exc: BaseException, url: str | None = None) -> str:
    """A driver's error as one short line, with the connection URL's password scrubbed from it."""
    text = scrub(" ".join(str(exc).split()), url)
    return text[:240] or exc.__class__.__name__


def connect(url: str, read_only: bool = False):
    """A psycopg connection (autocommit; transactions are explicit), or StoreError in one line."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.ProgrammingError as exc:  # the URL itself does not parse
        raise InputError(f"invalid PostgreSQL connection string {redact(url)!r}: {_one_line(exc, url)}") from None
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {redact(url)}: {_one_line(exc, url)}") from None
    if read_only:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    return conn


def _has_vector(conn) -> bool:
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is not None


def _register(conn) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


def _array(value) -> np.ndarray:
    """A pgvector value (pgvector's Vector, or a numpy array in older versions) as float32 numpy."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


def schema_version(conn) -> int:
    """The schema version recorded in the database (0 when qa's tables are not there)."""
    if conn.execute("SELECT to_regclass('qa_schema')").fetchone()[0] is None:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM qa_schema").fetchone()[0])


def describe(url: str) -> dict:
    """What `qa db status` reports: the schema version (0: none yet), the latest one, and, once the
    schema exists, the model and how many articles and passages the database holds."""
    with connect(url) as conn:
        version = schema_version(conn)
        counts = conn.execute("SELECT model, n_passages, (SELECT count(*) FROM articles) FROM qa_meta").fetchone() if version else None
    record = {"store": redact(url), "schema_version": version, "latest_schema_version": SCHEMA_VERSION}
    if counts:
        record.update(model=counts[0], n_passages=int(counts[1]), n_articles=int(counts[2]))
    return record


# ---------------------------------------------------------------- schema and migrations

def _migration_1(cur, dim: int, model: str, params: dict) -> None:
    """Articles, passages with their vectors (HNSW), the lexicon (dropped by migration 4), and the metadata row."""
    cur.execute("""
        CREATE TABLE qa_meta (
            id int PRIMARY KEY CHECK (id = 1),
            model text NOT NULL, dim int NOT NULL, params jsonb NOT NULL,
            generation bigint NOT NULL DEFAULT 0,
            n_passages bigint NOT NULL DEFAULT 0, total_length bigint NOT NULL DEFAULT 0)""")
    cur.execute("INSERT INTO qa_meta (id, model, dim, params) VALUES (1, %s, %s, %s)", (model, dim, json.dumps(params)))
    cur.execute("""
        CREATE TABLE articles (
            doc text PRIMARY KEY, sha256 text NOT NULL, text text NOT NULL,
            title text, author text, date text, url text,
            paragraphs jsonb NOT NULL, headings jsonb NOT NULL, bylines jsonb NOT NULL)""")
    cur.execute("CREATE INDEX articles_sha256 ON articles (sha256)")
    cur.execute(f"""
        CREATE TABLE passages (
            id bigserial PRIMARY KEY,
            doc text NOT NULL REFERENCES articles (doc) ON DELETE CASCADE,
            start int NOT NULL, "end" int NOT NULL, para_start int NOT NULL, para_end int NOT NULL,
            heading text, kind text NOT NULL, length int NOT NULL,
            embedding vector({int(dim)}) NOT NULL,
            CHECK (0 <= start AND start <= "end"))""")
    cur.execute("CREATE INDEX passages_doc ON passages (doc)")
    cur.execute("CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)")
    cur.execute(f"CREATE TABLE lexicon (word text PRIMARY KEY, stem text NOT NULL, vector vector({int(dim)}) NOT NULL)")


def _migration_2(cur, **_ignored) -> None:
    """Lexical search: BM25 term statistics and postings, and a French full-text vector per passage.

    Passages already stored (a version-1 database) get their postings and tsv computed here, from the
    stored article text, with the same tokenization as new passages.
    """
    cur.execute("CREATE TABLE terms (term text PRIMARY KEY, df int NOT NULL)")
    cur.execute("""
        CREATE TABLE postings (
            term text NOT NULL, passage_id bigint NOT NULL REFERENCES passages (id) ON DELETE CASCADE,
            tf int NOT NULL, dl int NOT NULL, PRIMARY KEY (term, passage_id))""")
    cur.execute("CREATE INDEX postings_passage ON postings (passage_id)")
    cur.execute("ALTER TABLE passages ADD COLUMN tsv tsvector")
    context = cur.execute("SELECT coalesce(params->>'embed_context', 'none') FROM qa_meta").fetchone()[0]
    rows = cur.execute("""SELECT p.id, p.doc, p.start, p."end", p.heading, p.kind, a.title, substr(a.text, p.start + 1, p."end" - p.start)
                          FROM passages p JOIN articles a USING (doc) ORDER BY p.id""").fetchall()
    df: Counter = Counter()
    for pid, doc, start, end, heading, kind, title, text in rows:
        passage = Passage(id=pid, doc=doc, start=start, end=end, para_start=start, para_end=end, text=text, heading=heading, kind=kind)
        lexical = _lexical_text(Article(doc=doc, text="", title=title), passage, context)
        tokens = terms(lexical)
        counts = Counter(tokens)
        df.update(counts.keys())
        for term, tf in counts.items():
            cur.execute("INSERT INTO postings VALUES (%s, %s, %s, %s)", (term, pid, tf, max(1, len(tokens))))
        cur.execute("UPDATE passages SET tsv = to_tsvector('french', %s) WHERE id = %s", (fold(lexical), pid))
    for term, n in df.items():
        cur.execute("INSERT INTO terms VALUES (%s, %s)", (term, n))
    cur.execute("CREATE INDEX passages_tsv ON passages USING gin (tsv)")


def _migration_3(cur, **_ignored) -> None:
    """Article language and inferred date and title flags; passages' sentence spans and vectors and hubness.

    The metadata of articles already stored is recomputed with this qa's cleaning (front matter,
    bylines parsed with dateparser, inferred dates, title stand-ins); their passages do not change.
    They have no sentence vectors (those need the model): answers quote from their passage vectors
    until `qa index --store URL --force` reloads them.
    """
    cur.execute("ALTER TABLE articles ADD COLUMN lang text, ADD COLUMN date_inferred boolean NOT NULL DEFAULT false, "
                "ADD COLUMN title_inferred boolean NOT NULL DEFAULT false, ADD COLUMN year_hint int")
    for doc, text in cur.execute("SELECT doc, text FROM articles ORDER BY doc").fetchall():
        a = clean_article(Article(doc=doc, text=text))
        cur.execute("UPDATE articles SET title = %s, author = %s, date = %s, url = %s, lang = %s, date_inferred = %s, "
                    "title_inferred = %s, year_hint = %s WHERE doc = %s",
                    (a.title, a.author, a.date, a.url, a.lang, a.date_inferred, a.title_inferred, a.year_hint, doc))
    # hubness stays NULL for passages stored before (they have no sentence vectors to compute it from): the
    # ranker then reads its training mean, so they are neither favoured nor penalised
    cur.execute("ALTER TABLE passages ADD COLUMN hubness real, ADD COLUMN sentences jsonb, "
                "ADD COLUMN sentence_vectors bytea")


def _migration_4(cur, **_ignored) -> None:
    """No lexicon table: the corpus's embedded words served a retrieval since removed."""
    cur.execute("DROP TABLE IF EXISTS lexicon")


MIGRATIONS = {1: _migration_1, 2: _migration_2, 3: _migration_3, 4: _migration_4}


def migrate(url: str, dim: int | None = None, model: str | None = None, params: dict | None = None,
            target: int = SCHEMA_VERSION, progress: Progress = _quiet) -> tuple[int, int]:
    """Bring the database's schema to `target`, one transaction per version; (before, after).

    Creating the schema (version 1) needs the model's name and dimension (the vector column is typed)
    and creates the pgvector extension, which the server must have installed.
    """
    with contextlib.closing(connect(url)) as conn:
        try:
            if not _has_vector(conn):
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as exc:
            raise StoreError(f"the database at {redact(url)} has no pgvector extension and it cannot be created "
                             f"({_one_line(exc, url)}); install pgvector on the server or use a managed PostgreSQL that offers it") from None
        _register(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            before = schema_version(conn)
        if before > SCHEMA_VERSION:
            raise StoreError(f"the database at {redact(url)} has schema version {before}; this qa knows up to {SCHEMA_VERSION} (upgrade qa)")
        if before == 0 and (dim is None or model is None):
            raise StoreError(f"the database at {redact(url)} has no qa schema; run `qa db init --store URL` first")
        version = before
        for version in range(before + 1, target + 1):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                if schema_version(conn) >= version:  # another process migrated meanwhile
                    continue
                with conn.cursor() as cur:
                    if version == 1:
                        cur.execute("CREATE TABLE qa_schema (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                    MIGRATIONS[version](cur, dim=dim, model=model, params=params or {})
                    cur.execute("INSERT INTO qa_schema (version) VALUES (%s)", (version,))
            progress(f"Applied schema migration {version}: {MIGRATIONS[version].__doc__.splitlines()[0]}")
        return before, max(before, min(target, SCHEMA_VERSION))


def _lexical_text(article: Article, passage: Passage, context: str) -> str:
    """What BM25 indexes for a passage: exactly what the embedded store indexes (`index.embedding_text`)."""
    from .ingest import embedding_text

    return embedding_text(article, passage, context)


# ---------------------------------------------------------------- reading

class _TermStats:
    """The corpus-wide document frequencies of one generation, cached between snapshots."""

    def __init__(self, generation: int, df: dict[str, int]):
        self.generation = generation
        self.df = df


class PgView:
    """A StoreView over one REPEATABLE READ transaction: every call sees the same committed state."""

    def __init__(self, store: "PgStore", conn, stats: _TermStats, n_passages: int):
        self.store, self.conn, self.term_stats = store, conn, stats
        self.n_passages = n_passages
        self._articles: dict[str, Article | None] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._sentences: dict[int, tuple[list[Span], np.ndarray]] = {}

    def has_term(self, term: str) -> bool:
        return term in self.term_stats.df

    def document_frequency(self, term: str) -> int:
        return self.term_stats.df[term]

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The n nearest passages by inner product, from the HNSW index (ef_search ≥ n, so it can return n)."""
        if n <= 0:
            return []
        self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(self.store.ef_search, min(int(n), 1000))}")
        rows = self.conn.execute("SELECT id, embedding <#> %s AS d FROM passages ORDER BY d LIMIT %s",
                                 (np.asarray(vector, dtype=np.float32), int(n))).fetchall()
        return [(int(pid), -float(d)) for pid, d in rows]

    def lexical_search(self, query_terms: list[str], n: int) -> list[tuple[int, float]]:
        known = [t for t in query_terms if t in self.term_stats.df]
        if not known or n <= 0:
            return []
        if self.store.lexical == "fts":
            query = " | ".join(sorted({t for t in known if t.isalnum()}))
            if not query:
                return []
            rows = self.conn.execute(
                "SELECT id, ts_rank(tsv, q, 1) AS s FROM passages, to_tsquery('simple', %s) q "
                "WHERE tsv @@ q ORDER BY s DESC, id LIMIT %s", (query, int(n))).fetchall()
        else:
            # BM25 exactly as bm25s scores it (method "lucene": idf = ln(1 + (N - df + 0.5)/(df + 0.5)),
            # tf part = tf / (tf + k1·(1 - b + b·dl/avgdl))); a term asked twice counts twice, as there.
            rows = self.conn.execute(f"""
                WITH q AS (SELECT term, count(*)::float8 AS qn FROM unnest(%s::text[]) AS term GROUP BY term),
                     m AS (SELECT n_passages::float8 AS n, total_length::float8 / greatest(n_passages, 1) AS avgdl FROM qa_meta)
                SELECT p.passage_id,
                       sum(q.qn * ln(1 + (m.n - t.df + 0.5) / (t.df + 0.5))
                           * p.tf / (p.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * p.dl / m.avgdl))) AS s
                FROM q JOIN terms t ON t.term = q.term JOIN postings p ON p.term = q.term CROSS JOIN m
                GROUP BY p.passage_id ORDER BY s DESC, p.passage_id LIMIT %s""", (known, int(n))).fetchall()
        return [(int(pid), float(s)) for pid, s in rows if s > 0]

    def passages(self, ids: list[int]) -> dict[int, Passage]:
        if not ids:
            return {}
        rows = self.conn.execute("""
            SELECT p.id, p.doc, p.start, p."end", p.para_start, p.para_end, p.heading, p.kind,
                   substr(a.text, p.start + 1, p."end" - p.start)
            FROM passages p JOIN articles a USING (doc) WHERE p.id = ANY(%s)""", (list(ids),)).fetchall()
        found = {int(r[0]): Passage(id=int(r[0]), doc=r[1], start=r[2], end=r[3], para_start=r[4], para_end=r[5],
                                    heading=r[6], kind=r[7], text=r[8]) for r in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise IndexStateError(f"passage {missing[0]} is not in the database (it changed outside a transaction?)")
        return found

    def vectors(self, ids: list[int]) -> np.ndarray:
        wanted = [i for i in ids if i not in self._vectors]
        if wanted:
            for pid, vec in self.conn.execute("SELECT id, embedding FROM passages WHERE id = ANY(%s)", (wanted,)):
                self._vectors[int(pid)] = _array(vec)
        return np.array([self._vectors[i] for i in ids], dtype=np.float32).reshape(len(ids), self.store.dim)

    def article(self, doc: str) -> Article | None:
        if doc not in self._articles:
            row = self.conn.execute("SELECT doc, text, title, author, date, url, paragraphs, headings, bylines, "
                                    "lang, date_inferred, title_inferred, year_hint FROM articles WHERE doc = %s", (doc,)).fetchone()
            self._articles[doc] = None if row is None else Article(
                doc=row[0], text=row[1], title=row[2], author=row[3], date=row[4], url=row[5],
                paragraphs=tuple(Span(*s) for s in row[6]), headings=tuple(Span(*s) for s in row[7]),
                bylines=tuple(Span(*s) for s in row[8]), lang=row[9], date_inferred=bool(row[10]),
                title_inferred=bool(row[11]), year_hint=row[12])
        return self._articles[doc]

    def sentences(self, pid: int) -> tuple[list[Span], np.ndarray]:
        """A passage's sentence spans and query-side vectors (none for a passage stored before schema 3)."""
        return self.sentences_of([pid])[pid]

    def sentences_of(self, ids: list[int]) -> dict[int, tuple[list[Span], np.ndarray]]:
        """The sentences of several passages, read in one query (and remembered for this snapshot)."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._sentences]
        if wanted:
            for pid, spans, blob in self.conn.execute(
                    "SELECT id, sentences, sentence_vectors FROM passages WHERE id = ANY(%s)", (wanted,)):
                if spans is None or blob is None:
                    self._sentences[int(pid)] = ([], np.zeros((0, self.store.dim), np.float32))
                else:
                    vectors = np.frombuffer(bytes(blob), dtype=np.float32).reshape(len(spans), self.store.dim)
                    self._sentences[int(pid)] = ([Span(*x) for x in spans], vectors)
            for pid in wanted:
                self._sentences.setdefault(pid, ([], np.zeros((0, self.store.dim), np.float32)))
        return {i: self._sentences[i] for i in ids}

    def hubness(self, ids: list[int]) -> np.ndarray:
        """Each passage's hubness; NaN for one stored before schema 3 (qa.rank then reads its training mean)."""
        found = dict(self.conn.execute("SELECT id, hubness FROM passages WHERE id = ANY(%s)", (list(ids),)).fetchall())
        return np.array([np.nan if found.get(i) is None else found[i] for i in ids], dtype=np.float32)


# ---------------------------------------------------------------- the store

class PgStore:
    """Passages in PostgreSQL + pgvector behind the store interface (see the module docstring)."""

    def __init__(self, settings: Settings, url: str, model: str, dim: int, ef_search: int | None = None):
        self.settings = settings
        self.url = url
        self.model = model
        self.dim = dim
        self.lexical = settings.pg_lexical
        self.ef_search = ef_search or settings.pg_ef_search
        self._idle: list = []
        self._lock = threading.Lock()
        self._stats: _TermStats | None = None

    # -- opening

    @classmethod
    def open(cls, settings: Settings, embedder, progress: Progress = _quiet, create: bool = True) -> "PgStore":
        """Connect, check the schema and the model; create and fill an empty database from the corpus.

        Like the embedded index, a database with no qa schema (or no article) is built from the corpus
        folder when there is one, saying so; an older schema must be migrated on purpose (`qa db migrate`),
        since several app processes may share the database.
        """
        from .index import index_params

        url = settings.store
        with contextlib.closing(connect(url)) as conn:
            version = schema_version(conn) if _has_vector(conn) else -1
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
            model, dim, params, n_articles = conn.execute(
                "SELECT model, dim, params, (SELECT count(*) FROM articles) FROM qa_meta").fetchone()
        if model != embedder.name:
            raise IndexStateError(f"the database at {redact(url)} holds vectors of model {model!r}, not {embedder.name!r}; "
                                  "use that model or another database")
        wanted = index_params(settings, embedder.name)
        if params != wanted:
            raise IndexStateError(f"the database at {redact(url)} was built with other chunking or normalization settings; "
                                  "rebuild it with `qa index --store URL --force`")
        store = cls(settings, url, model, dim)
        if n_articles == 0 and create and settings.corpus_dir.is_dir():
            progress(f"Filling the database from {settings.corpus_dir}/ (it holds no article yet)")
            store.sync(embedder, progress)
        return store

    def describe(self) -> str:
        return redact(self.url)

    # -- connections

    def _take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = connect(self.url, read_only=True)
        _register(conn)
        return conn

    def _give(self, conn) -> None:
        if conn.closed or conn.broken:
            return
        with self._lock:
            if len(self._idle) < 16:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def refresh(self, embedder_name: str) -> bool:
        """Nothing to pick up: every snapshot already sees the last committed articles."""
        return False

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PgView]:
        """One REPEATABLE READ, READ ONLY transaction for a question (or a batch of them)."""
        import psycopg

        conn = self._take()
        try:
            with conn.transaction():
                generation, n_passages = conn.execute("SELECT generation, n_passages FROM qa_meta").fetchone()
                yield PgView(self, conn, self._term_stats(conn, generation), int(n_passages))
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"PostgreSQL at {redact(self.url)} failed: {_one_line(exc, self.url)}") from None
        finally:
            self._give(conn)

    def _term_stats(self, conn, generation: int) -> _TermStats:
        """The document frequencies of this generation: read once per generation, inside the snapshot."""
        stats = self._stats
        if stats is not None and stats.generation == generation:
            return stats
        stats = _TermStats(generation, dict(conn.execute("SELECT term, df FROM terms")))
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

    def add(self, files: list, embedder, progress: Progress = _quiet, metadata: dict[str, str] | None = None,
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

    def prepare(self, items: list[tuple[Article, str]], embedder, progress: Progress = _quiet) -> list[dict]:
        """Chunk and embed articles (passages and their sentences), ready for `write`."""
        from .ingest import embedding_text

        out, texts = [], []
        for article, digest in items:
            passages = chunk_article(article, self.settings.passage_max_chars)
            out.append({"article": article, "sha256": digest, "passages": passages})
            texts.extend(embedding_text(article, p, self.settings.embed_context) for p in passages)
        progress(f"Embedding {len(texts)} passages from {len(items)} article(s) with {embedder.name}")
        vectors = embedder.encode_documents(texts, progress=len(texts) > 64) if texts else np.zeros((0, self.dim), np.float32)
        at = 0
        for item in out:
            item["vectors"] = vectors[at:at + len(item["passages"])]
            at += len(item["passages"])
            texts_by_doc = {item["article"].doc: item["article"].text}
            owner, starts, ends = sentence_table(texts_by_doc, item["passages"])
            sentence_vectors = embed_sentences(embedder, texts_by_doc, item["passages"], owner, starts, ends)
            item["sentences"] = [([[int(s), int(e)] for o, s, e in zip(owner, starts, ends) if o == row],
                                  np.asarray(sentence_vectors[owner == row], dtype=np.float32))
                                 for row in range(len(item["passages"]))]
        return out

    def write(self, items: list[dict], delete: list[str] = (), progress: Progress = _quiet, conn=None) -> None:
        """Replace the articles of `items` and delete the docs in `delete`, all in one transaction.

        With `conn`, the caller holds the transaction (tests use it to kill a writer before commit).
        """
        if conn is None:
            with contextlib.closing(connect(self.url)) as conn:
                _register(conn)
                with conn.transaction():
                    self.write(items, delete, progress, conn)
            progress(f"Database now holds {self._count()} passages")
            return
        from psycopg.types.json import Jsonb

        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            docs = [item["article"].doc for item in items] + list(delete)
            removed_n, removed_len = cur.execute(
                "SELECT count(*), coalesce(sum(length), 0) FROM passages WHERE doc = ANY(%s)", (docs,)).fetchone()
            cur.execute("""UPDATE terms t SET df = t.df - c.n FROM (
                               SELECT o.term, count(*) AS n FROM postings o JOIN passages p ON p.id = o.passage_id
                               WHERE p.doc = ANY(%s) GROUP BY o.term) c
                           WHERE t.term = c.term""", (docs,))
            cur.execute("DELETE FROM articles WHERE doc = ANY(%s)", (docs,))  # cascades to passages and postings
            added_n = added_len = 0
            df: Counter = Counter()
            # New passages go through a temporary table so each row is written once, with its French
            # full-text vector computed from the accent-folded text (what `unaccent` would give; folding
            # in Python also works on servers without the unaccent extension, such as pgserver's).
            cur.execute("""CREATE TEMP TABLE IF NOT EXISTS qa_new_passages (
                               id int8, doc text, start int4, "end" int4, para_start int4, para_end int4,
                               heading text, kind text, length int4, embedding vector, lexical text,
                               sentences jsonb, sentence_vectors bytea) ON COMMIT DROP""")
            for item in items:
                a = item["article"]
                cur.execute("INSERT INTO articles (doc, sha256, text, title, author, date, url, paragraphs, headings, "
                            "bylines, lang, date_inferred, title_inferred, year_hint) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", (
                    a.doc, item["sha256"], a.text, a.title, a.author, a.date, a.url,
                    json.dumps([[s.start, s.end] for s in a.paragraphs]), json.dumps([[s.start, s.end] for s in a.headings]),
                    json.dumps([[s.start, s.end] for s in a.bylines]), a.lang, a.date_inferred, a.title_inferred, a.year_hint))
            ids = [r[0] for r in cur.execute("SELECT nextval('passages_id_seq') FROM generate_series(1, %s)",
                                             (sum(len(item["passages"]) for item in items),))]
            next_id = iter(ids)
            postings: list[tuple] = []
            with cur.copy("COPY qa_new_passages FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "int4", "int4", "int4", "int4", "text", "text", "int4", "vector", "text",
                                "jsonb", "bytea"])
                for item in items:
                    a = item["article"]
                    sentences = item.get("sentences") or [([], np.zeros((0, self.dim), np.float32))] * len(item["passages"])
                    for p, vec, (spans, sentence_vectors) in zip(item["passages"], item["vectors"], sentences):
                        pid = next(next_id)
                        text = _lexical_text(a, p, self.settings.embed_context)
                        tokens = terms(text, a.lang or "fr")
                        counts = Counter(tokens)
                        dl = max(1, len(tokens))
                        df.update(counts.keys())
                        added_n += 1
                        added_len += dl
                        copy.write_row((pid, a.doc, p.start, p.end, p.para_start, p.para_end, p.heading, p.kind, dl,
                                        np.asarray(vec, dtype=np.float32), fold(text), Jsonb(spans),
                                        np.asarray(sentence_vectors, dtype=np.float32).tobytes()))
                        postings.extend((term, pid, tf, dl) for term, tf in counts.items())
            cur.execute("""INSERT INTO passages (id, doc, start, "end", para_start, para_end, heading, kind, length, embedding, tsv,
                                                 sentences, sentence_vectors)
                           SELECT id, doc, start, "end", para_start, para_end, heading, kind, length, embedding,
                                  to_tsvector('french', lexical), sentences, sentence_vectors FROM qa_new_passages""")
            with cur.copy("COPY postings (term, passage_id, tf, dl) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "int4", "int4"])
                for row in postings:
                    copy.write_row(row)
            cur.execute("TRUNCATE qa_new_passages")
            if df:
                cur.execute("""INSERT INTO terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[])
                               ON CONFLICT (term) DO UPDATE SET df = terms.df + excluded.df""",
                            (list(df), list(df.values())))
            cur.execute("DELETE FROM terms WHERE df <= 0")
            self._update_hubness(cur, ids)
            cur.execute("""UPDATE qa_meta SET generation = generation + 1,
                           n_passages = n_passages - %s + %s, total_length = total_length - %s + %s""",
                        (removed_n, added_n, removed_len, added_len))

    def _update_hubness(self, cur, targets: list[int] | None) -> None:
        """Compute the hubness of the passages `targets` (None: all of them) against the sentences of the
        whole database, as `qa.sentences.hubness` does for the index folder: a write scores its new
        passages only (the others keep theirs), `sync` rescores everything once it has loaded a corpus.

        The pool of sentences read is at most about HUB_SAMPLE passages' worth: every m-th passage by id
        (deterministic), so a write into a large database does not read every vector in it."""
        if targets is not None and not targets:
            return
        total = cur.execute("SELECT count(*) FROM passages WHERE sentence_vectors IS NOT NULL").fetchone()[0]
        if total == 0:
            return
        step = max(1, -(-total // HUB_SAMPLE))
        pool_rows = cur.execute("SELECT id, doc, sentence_vectors FROM passages WHERE sentence_vectors IS NOT NULL "
                                "AND id %% %s = 0 ORDER BY id", (step,)).fetchall() if step > 1 else \
            cur.execute("SELECT id, doc, sentence_vectors FROM passages WHERE sentence_vectors IS NOT NULL ORDER BY id").fetchall()
        if targets is None:
            target_rows = cur.execute("SELECT id, doc, embedding FROM passages ORDER BY id").fetchall()
        else:
            target_rows = cur.execute("SELECT id, doc, embedding FROM passages WHERE id = ANY(%s) ORDER BY id",
                                      (list(targets),)).fetchall()
        if not target_rows:
            return
        docs = {d: i for i, d in enumerate(dict.fromkeys([r[1] for r in pool_rows] + [r[1] for r in target_rows]))}
        pools = [np.frombuffer(bytes(r[2]), dtype=np.float32).reshape(-1, self.dim) for r in pool_rows]
        # rows 0..P-1 are the pool's passages, then the targets (a target also in the pool keeps its own row)
        row_of = {int(r[0]): i for i, r in enumerate(pool_rows)}
        article_of = [docs[r[1]] for r in pool_rows]
        target_index = []
        for r in target_rows:
            if int(r[0]) not in row_of:
                row_of[int(r[0])] = len(article_of)
                article_of.append(docs[r[1]])
            target_index.append(row_of[int(r[0])])
        owner = np.concatenate([np.full(len(v), row, dtype=np.int64) for row, v in enumerate(pools)]) if pools \
            else np.zeros(0, np.int64)
        vectors = np.array([_array(r[2]) for r in target_rows], dtype=np.float32).reshape(len(target_rows), self.dim)
        values = hubness(vectors, np.vstack(pools) if pools else np.zeros((0, self.dim), np.float32), owner,
                         sample=10 ** 9, passage_rows=np.array(target_index, dtype=np.int64),
                         article_of=np.array(article_of, dtype=np.int64))
        cur.execute("UPDATE passages p SET hubness = v.h FROM unnest(%s::int8[], %s::float4[]) AS v(id, h) WHERE p.id = v.id",
                    ([int(r[0]) for r in target_rows], [float(x) for x in values]))

    def rescore_hubness(self) -> None:
        """Every passage's hubness against the whole database (after `sync` loaded a corpus in batches)."""
        with contextlib.closing(connect(self.url)) as conn:
            _register(conn)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                self._update_hubness(cur, None)
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

    def sync(self, embedder, progress: Progress = _quiet, force: bool = False, batch: int = 64) -> dict:
        """Make the database hold the corpus folder: new and changed articles (re)loaded, vanished ones deleted.

        Each batch of articles is one transaction; unreadable files are skipped with a warning, as `qa index` does.
        """
        from .pages import convert_corpus_pages

        corpus = self.settings.corpus_dir
        if corpus.is_dir():
            convert_corpus_pages(corpus, progress)  # saved web pages: their articles written beside them first
        scan = scan_corpus(corpus)  # the corpus rule of `qa index`: links out of it, aliases, bad names skipped
        with contextlib.closing(connect(self.url)) as conn:
            stored = dict(conn.execute("SELECT doc, sha256 FROM articles"))
        for name, reason in scan.skipped.items():
            progress(f"warning: skipped {visible(str(corpus / name))}: {reason}")
        current = {}
        for doc, path in scan.articles:
            try:
                current[doc] = (path, file_digest(path))
            except OSError as exc:
                progress(f"warning: skipped {visible(str(path))}: {exc.__class__.__name__}")
        gone = sorted(set(stored) - set(current)) if not force else sorted(stored)
        todo = [(doc, path, digest) for doc, (path, digest) in current.items() if force or stored.get(doc) != digest]
        if not todo and not gone:
            progress(f"The database is up to date with {corpus}/ ({len(stored)} articles); nothing to do (--force reloads).")
            return self.stats()
        progress(f"Loading {len(todo)} article(s) from {corpus}/ into {self.describe()}, deleting {len(gone)}")
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

