"""Reading the PostgreSQL store: `PgView`, the StoreView of one REPEATABLE READ, READ ONLY transaction.

Every query of a question goes through one view, so dense search, lexical search (BM25 in SQL, or French
full-text search), passages, vectors and article texts all come from one committed state.
"""

from __future__ import annotations

import numpy as np

from .errors import IndexStateError
from .records import Article, Passage, Span

# bm25s' defaults (method "lucene"), so both stores rank lexically the same way.
BM25_K1, BM25_B = 1.5, 0.75


def as_array(value) -> np.ndarray:
    """A pgvector value (pgvector's Vector, or a numpy array in older versions) as float32 numpy."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


class TermStats:
    """The corpus-wide document frequencies of one generation, cached between snapshots."""

    def __init__(self, generation: int, df: dict[str, int]):
        self.generation = generation
        self.df = df


class PgView:
    """A StoreView over one REPEATABLE READ transaction: every call sees the same committed state."""

    def __init__(self, conn, stats: TermStats, n_passages: int, dim: int, ef_search: int, lexical: str):
        self.conn, self.term_stats, self.n_passages = conn, stats, n_passages
        self.dim, self.ef_search, self.lexical = dim, ef_search, lexical
        self._articles: dict[str, Article | None] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._titles: dict[str, np.ndarray] = {}
        self._sentences: dict[int, tuple[list[Span], np.ndarray]] = {}

    def has_term(self, term: str) -> bool:
        return term in self.term_stats.df

    def document_frequency(self, term: str) -> int:
        return self.term_stats.df[term]

    def dense_search(self, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The n nearest passages by inner product, from the HNSW index (ef_search ≥ n, so it can return n)."""
        if n <= 0:
            return []
        self.conn.execute(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, min(int(n), 1000))}")
        rows = self.conn.execute("SELECT id, embedding <#> %s AS d FROM passages ORDER BY d LIMIT %s",
                                 (np.asarray(vector, dtype=np.float32), int(n))).fetchall()
        return [(int(pid), -float(d)) for pid, d in rows]

    def lexical_search(self, query_terms: list[str], n: int) -> list[tuple[int, float]]:
        known = [t for t in query_terms if t in self.term_stats.df]
        if not known or n <= 0:
            return []
        if self.lexical == "fts":
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
                self._vectors[int(pid)] = as_array(vec)
        return np.array([self._vectors[i] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

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
                    self._sentences[int(pid)] = ([], np.zeros((0, self.dim), np.float32))
                else:
                    vectors = np.frombuffer(bytes(blob), dtype=np.float32).reshape(len(spans), self.dim)
                    self._sentences[int(pid)] = ([Span(*x) for x in spans], vectors)
            for pid in wanted:
                self._sentences.setdefault(pid, ([], np.zeros((0, self.dim), np.float32)))
        return {i: self._sentences[i] for i in ids}

    def title_vectors(self, docs: list[str]) -> np.ndarray:
        """The vector of each doc's article title; NaN rows for articles stored before schema 5."""
        wanted = sorted(set(docs) - self._titles.keys())
        if wanted:
            for doc, vec in self.conn.execute("SELECT doc, title_vector FROM articles WHERE doc = ANY(%s)", (wanted,)):
                self._titles[doc] = np.full(self.dim, np.nan, np.float32) if vec is None else as_array(vec)
        missing = np.full(self.dim, np.nan, np.float32)
        return np.stack([self._titles.get(d, missing) for d in docs]) if docs else np.zeros((0, self.dim), np.float32)

    def hubness(self, ids: list[int]) -> np.ndarray:
        """Each passage's hubness; NaN for one stored before schema 3 (qa.rank then reads its training mean)."""
        found = dict(self.conn.execute("SELECT id, hubness FROM passages WHERE id = ANY(%s)", (list(ids),)).fetchall())
        return np.array([np.nan if found.get(i) is None else found[i] for i in ids], dtype=np.float32)
