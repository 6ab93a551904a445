"""The PostgreSQL store's connections and schema: connecting (one-line errors), the schema version, migrations.

Tables (`MIGRATIONS`, each version recorded in `qa_schema`):

    qa_meta     one row: model, dimension, index settings, generation counter, N and Σ passage length (BM25)
    articles    doc, SHA-256 of the file, exact text (every quote is a slice of it), metadata, spans,
                the title's vector, the digest of the ingestion code that read it
    passages    id, doc, [start, end), paragraph span, heading, kind, BM25 length, embedding vector(dim)
                (HNSW, inner product), tsv (French full-text vector, GIN), sentence spans and vectors, hubness
    terms       BM25 term → document frequency
    postings    (term, passage) → term frequency and passage length: BM25 computed in SQL
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter

from .clean import clean_article
from .errors import InputError, StoreError
from .records import Article, Passage, Progress, quiet
from .text import fold, terms
from .urls import redact, scrub

SCHEMA_VERSION = 5
# pg_advisory_xact_lock key held by writers ("qa" in ASCII): one writer at a time, released at commit.
WRITER_LOCK = 0x7161
# Seconds to wait for a connection: the server's answer to a new one, or a pooled reader coming free.
CONNECT_TIMEOUT = 10


def one_line(exc: BaseException, url: str | None = None) -> str:
    """A driver's error as one short line, with the connection URL's password scrubbed from it."""
    text = scrub(" ".join(str(exc).split()), url)
    return text[:240] or exc.__class__.__name__


def connect(url: str):
    """A psycopg connection (autocommit; transactions are explicit), or StoreError in one line."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.ProgrammingError as exc:  # the URL itself does not parse
        raise InputError(f"invalid PostgreSQL connection string {redact(url)!r}: {one_line(exc, url)}") from None
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {redact(url)}: {one_line(exc, url)}") from None
    return conn


def has_vector(conn) -> bool:
    """True if the pgvector extension is installed in the connection's database."""
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is not None


def register_types(conn) -> None:
    """Teach the connection pgvector's types (vectors in and out as numpy)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


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
        lexical = lexical_text(Article(doc=doc, text="", title=title), passage, context)
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


def _migration_5(cur, **_ignored) -> None:
    """A vector per article's title, read by the ranker; the version of qa's ingestion that read each article.

    Articles already stored have no title vector (it needs the model): the ranker reads its training
    means for them. Their ingestion is unknown, so `qa index --store URL` reloads them.
    """
    dim = cur.execute("SELECT dim FROM qa_meta").fetchone()[0]
    cur.execute(f"ALTER TABLE articles ADD COLUMN title_vector vector({int(dim)}), ADD COLUMN ingestion text")


MIGRATIONS = {1: _migration_1, 2: _migration_2, 3: _migration_3, 4: _migration_4, 5: _migration_5}


def migrate(url: str, dim: int | None = None, model: str | None = None, params: dict | None = None,
            target: int = SCHEMA_VERSION, progress: Progress = quiet) -> tuple[int, int]:
    """Bring the database's schema to `target`, one transaction per version; (before, after).

    Creating the schema (version 1) needs the model's name and dimension (the vector column is typed)
    and creates the pgvector extension, which the server must have installed.
    """
    with contextlib.closing(connect(url)) as conn:
        try:
            if not has_vector(conn):
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as exc:
            raise StoreError(f"the database at {redact(url)} has no pgvector extension and it cannot be created "
                             f"({one_line(exc, url)}); install pgvector on the server or use a managed PostgreSQL that offers it") from None
        register_types(conn)
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


def lexical_text(article: Article, passage: Passage, context: str) -> str:
    """What BM25 indexes for a passage: exactly what the embedded store indexes (`index.embedding_text`)."""
    from .ingest import embedding_text

    return embedding_text(article, passage, context)
