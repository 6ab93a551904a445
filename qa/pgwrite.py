"""Writing to the PostgreSQL store: articles chunked and embedded, then replaced in one transaction.

A write holds the writers' advisory lock for its transaction, deletes the replaced articles (their
passages and postings cascade, their term counts are taken back), COPYs the new passages and postings,
and scores the new passages' hubness; `qa_meta`'s generation moves so readers reload term statistics.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from .chunk import chunk_article
from .pgschema import WRITER_LOCK, lexical_text
from .pgview import as_array
from .records import Article, Progress, quiet
from .sentences import HUB_SAMPLE, embed_sentences, hubness, sentence_table
from .settings import Settings
from .text import fold, terms


def prepare_articles(items: list[tuple[Article, str]], settings: Settings, dim: int, embedder,
                     progress: Progress = quiet) -> list[dict]:
    """Chunk and embed articles (passages and their sentences), ready for `write_articles`."""
    from .ingest import embedding_text, title_vectors

    out, texts = [], []
    for article, digest in items:
        passages = chunk_article(article, settings.passage_max_chars)
        out.append({"article": article, "sha256": digest, "passages": passages})
        texts.extend(embedding_text(article, p, settings.embed_context) for p in passages)
    progress(f"Embedding {len(texts)} passages from {len(items)} article(s) with {embedder.name}")
    vectors = embedder.encode_documents(texts, progress=len(texts) > 64) if texts else np.zeros((0, dim), np.float32)
    titles = title_vectors(embedder, [item["article"] for item in out]) if out else np.zeros((0, dim), np.float32)
    at = 0
    for item, title in zip(out, titles):
        item["title_vector"] = title
        item["vectors"] = vectors[at:at + len(item["passages"])]
        at += len(item["passages"])
        texts_by_doc = {item["article"].doc: item["article"].text}
        owner, starts, ends = sentence_table(texts_by_doc, item["passages"])
        sentence_vectors = embed_sentences(embedder, texts_by_doc, item["passages"], owner, starts, ends)
        item["sentences"] = [([[int(s), int(e)] for o, s, e in zip(owner, starts, ends) if o == row],
                              np.asarray(sentence_vectors[owner == row], dtype=np.float32))
                             for row in range(len(item["passages"]))]
    return out


def write_articles(conn, items: list[dict], delete: list[str], dim: int, embed_context: str) -> None:
    """Inside the caller's transaction on `conn`: replace the articles of `items` (from `prepare_articles`)
    and delete the docs in `delete` — passages, postings, term counts, hubness and qa_meta's totals."""
    from psycopg.types.json import Jsonb

    from .ingest import ingestion_digest

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
            title = item.get("title_vector")
            cur.execute("INSERT INTO articles (doc, sha256, text, title, author, date, url, paragraphs, headings, "
                        "bylines, lang, date_inferred, title_inferred, year_hint, title_vector, ingestion) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", (
                a.doc, item["sha256"], a.text, a.title, a.author, a.date, a.url,
                json.dumps([[s.start, s.end] for s in a.paragraphs]), json.dumps([[s.start, s.end] for s in a.headings]),
                json.dumps([[s.start, s.end] for s in a.bylines]), a.lang, a.date_inferred, a.title_inferred, a.year_hint,
                None if title is None else np.asarray(title, dtype=np.float32), ingestion_digest()))
        ids = [r[0] for r in cur.execute("SELECT nextval('passages_id_seq') FROM generate_series(1, %s)",
                                         (sum(len(item["passages"]) for item in items),))]
        next_id = iter(ids)
        postings: list[tuple] = []
        with cur.copy("COPY qa_new_passages FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text", "int4", "int4", "int4", "int4", "text", "text", "int4", "vector", "text",
                            "jsonb", "bytea"])
            for item in items:
                a = item["article"]
                sentences = item.get("sentences") or [([], np.zeros((0, dim), np.float32))] * len(item["passages"])
                for p, vec, (spans, sentence_vectors) in zip(item["passages"], item["vectors"], sentences):
                    pid = next(next_id)
                    text = lexical_text(a, p, embed_context)
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
        update_hubness(cur, dim, ids)
        cur.execute("""UPDATE qa_meta SET generation = generation + 1,
                       n_passages = n_passages - %s + %s, total_length = total_length - %s + %s""",
                    (removed_n, added_n, removed_len, added_len))


def update_hubness(cur, dim: int, targets: list[int] | None) -> None:
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
    pools = [np.frombuffer(bytes(r[2]), dtype=np.float32).reshape(-1, dim) for r in pool_rows]
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
    vectors = np.array([as_array(r[2]) for r in target_rows], dtype=np.float32).reshape(len(target_rows), dim)
    values = hubness(vectors, np.vstack(pools) if pools else np.zeros((0, dim), np.float32), owner,
                     sample=10 ** 9, passage_rows=np.array(target_index, dtype=np.int64),
                     article_of=np.array(article_of, dtype=np.int64))
    cur.execute("UPDATE passages p SET hubness = v.h FROM unnest(%s::int8[], %s::float4[]) AS v(id, h) WHERE p.id = v.id",
                ([int(r[0]) for r in target_rows], [float(x) for x in values]))
