"""The PostgreSQL + pgvector store against a real server (pgserver: PostgreSQL 16 + pgvector, started by
the session in conftest.pg_server, one fresh database per test): same answers as the embedded store,
whole-article replacements under concurrent readers, a writer killed mid-transaction, schema migrations,
and one-line errors for a wrong connection string or a database without pgvector. No mocks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from conftest import (
    FAKE_ARTICLES,
    FAKE_MODEL,
    ROOT,
    TESTS_DIR,
    FakeEmbedder,
    clean_env,
    make_settings,
    read_jsonl,
    run_qa,
    write_corpus,
)

from qa.errors import CorpusError, IndexStateError, StoreError
from qa.ingest import ingestion_digest
from qa.pgschema import SCHEMA_VERSION, connect, schema_version
from qa.pgstore import PgStore
from qa.service import QA
from qa.text import terms

QUESTIONS = [
    "Quel est le budget des pistes cyclables à Lyon ?",
    "Pourquoi les écoles de Bordeaux ferment-elles ?",
    "À quoi sert l’héliostat ?",
    "Who recommends that children drink every hour?",
    "combien de kilometres de pistes",
    "Quand les travaux débuteront-ils ?",
]


@pytest.fixture
def stores(tmp_path, pg_url):
    """(embedded QA, PostgreSQL QA) over the same made-up corpus, with the fake model."""
    corpus = write_corpus(tmp_path / "corpus")
    embedder = FakeEmbedder()
    embedded = QA(make_settings(corpus, tmp_path / "index"), embedder=embedder)
    pg = QA(make_settings(corpus, tmp_path / "unused-index", store=pg_url), embedder=embedder)
    yield embedded, pg
    pg.store.close()


def _ranked(answer):
    return [(c.doc, c.start, c.end, c.quote, round(c.score, 4)) for c in answer.citations]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_both_stores_give_the_same_answers(stores, mode):
    embedded, pg = stores
    assert not (Path(pg.settings.index_dir)).exists()  # PostgreSQL needs no index folder
    for question in QUESTIONS:
        a, b = embedded.ask(question, k=10, mode=mode), pg.ask(question, k=10, mode=mode)
        assert _ranked(a) == _ranked(b), question
        assert (a.found, a.answer) == (b.found, b.answer), question


def test_sql_bm25_equals_bm25s(stores):
    embedded, pg = stores
    query = terms("pistes cyclables Lyon vélo vélo budget héliostat canicule écoles") + ["absentterm"]
    with embedded.store.snapshot() as e, pg.store.snapshot() as p:
        vocabulary = [t for t in e.index.bm25.vocab_dict if t]
        assert e.n_passages == p.n_passages and sorted(vocabulary) == sorted(t for t in p.term_stats.df if t)
        assert all(e.document_frequency(t) == p.document_frequency(t) for t in vocabulary)
        ours, theirs = e.lexical_search(query, 50), p.lexical_search(query, 50)
        assert len(ours) == len(theirs) > 5
        # Passage ids differ between stores (PostgreSQL's are a sequence); compare the passages and scores.
        by_e = e.passages([i for i, _ in ours])
        by_p = p.passages([i for i, _ in theirs])
        assert [(by_e[i].doc, by_e[i].start) for i, _ in ours] == [(by_p[i].doc, by_p[i].start) for i, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-5)
        assert p.lexical_search(["absentterm"], 10) == [] and p.lexical_search([], 10) == []


def test_snapshot_is_a_repeatable_read_only_transaction(stores):
    _embedded, pg = stores
    with pg.store.snapshot() as view:
        assert view.conn.execute("SHOW transaction_isolation").fetchone()[0] == "repeatable read"
        assert view.conn.execute("SHOW transaction_read_only").fetchone()[0] == "on"


def test_every_quote_is_a_slice_of_the_stored_and_the_file_text(stores):
    _embedded, pg = stores
    for answer in pg.ask_many(QUESTIONS, k=10):
        for c in answer.citations:
            file_text = (pg.settings.corpus_dir / c.doc).read_text(encoding="utf-8")
            assert c.quote == file_text[c.start:c.end] == pg.article_text(c.doc)[c.start:c.end]


def test_add_replace_and_delete(stores, tmp_path):
    _embedded, pg = stores
    store = pg.store
    before = store.stats()
    new = tmp_path / "inbox" / "port.txt"
    new.parent.mkdir()
    new.write_text("# Marseille agrandit son port\n\nLe port de Marseille accueillera des paquebots de croisière "
                   "plus grands dès 2025, après deux ans de travaux sur la digue du large.\n", encoding="utf-8")
    store.add([new], pg.embedder)
    assert (pg.settings.corpus_dir / "port.txt").exists()  # copied into the corpus, as the embedded store does
    after = store.stats()
    assert after["n_articles"] == before["n_articles"] + 1 and after["generation"] == before["generation"] + 1
    assert pg.ask("Quand le port de Marseille accueillera-t-il des paquebots ?").citations[0].doc == "port.txt"
    with pytest.raises(CorpusError, match="unchanged"):
        store.add([pg.settings.corpus_dir / "port.txt"], pg.embedder)
    new.write_text("# Marseille agrandit son port\n\nLe port de Toulon, et non celui de Marseille, recevra les "
                   "sous-marins de nouvelle génération en 2031.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="--replace"):  # another file under the name of a corpus article
        store.add([new], pg.embedder)
    store.add([new], pg.embedder, replace=True)
    assert store.stats()["n_articles"] == after["n_articles"]
    assert "Toulon" in pg.article_text("port.txt") and "paquebots" not in pg.article_text("port.txt")
    with store.snapshot() as view:
        assert not view.has_term("paquebot") and view.has_term("toulon")  # statistics follow the replacement
    store.delete("port.txt")
    assert store.stats()["n_articles"] == before["n_articles"] and pg.article_text("port.txt") is None
    assert store.check()["n_passages"] == before["n_passages"]
    with pytest.raises(CorpusError, match="not in the database"):
        store.delete("port.txt")


def test_cli_init_index_ask_add_and_status(tmp_path, pg_url):
    corpus = write_corpus(tmp_path / "corpus")
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(corpus), QA_INDEX=str(tmp_path / "index"))
    init = run_qa(["db", "init", "--store", pg_url], env=env)
    assert init.returncode == 0, init.stderr
    assert f"schema version {SCHEMA_VERSION}" in init.stdout
    assert "already has" in run_qa(["db", "init", "--store", pg_url], env=env).stdout
    index = run_qa(["index", "--store", pg_url], env=env)
    assert index.returncode == 0 and "holds" in index.stderr, index.stderr
    assert "up to date" in run_qa(["index", "--store", pg_url], env=env).stderr
    env["QA_STORE"] = pg_url  # the environment variable chooses the store too
    asked = run_qa(["ask", "--json", "À quoi sert l’héliostat ?"], env=env)
    assert asked.returncode == 0, asked.stderr
    [record] = read_jsonl(asked.stdout)
    assert record["citations"] and record["citations"][0]["doc"] == "observatoire.txt"
    for c in record["citations"]:
        assert c["quote"] == (corpus / c["doc"]).read_text(encoding="utf-8")[c["start"]:c["end"]]
    changed = tmp_path / "observatoire.txt"
    changed.write_text(FAKE_ARTICLES["observatoire.txt"].replace("six mètres", "huit mètres"), encoding="utf-8")
    added = run_qa(["add", "--replace", str(changed)], env=env)
    assert added.returncode == 0 and "now holds" in added.stderr, added.stderr
    check = run_qa(["index", "--check"], env=env)
    assert check.returncode == 0 and "healthy" in check.stdout, check.stderr
    status = run_qa(["db", "status"], env=env)
    assert status.returncode == 0 and f'"schema_version": {SCHEMA_VERSION}' in status.stdout and '"n_articles": 3' in status.stdout


def test_migrate_from_version_1_backfills_the_lexical_tables(stores):
    embedded, pg = stores
    url = pg.settings.store
    query = terms("pistes cyclables Lyon héliostat écoles")
    with pg.store.snapshot() as view:
        expected = view.lexical_search(query, 20)
    with connect(url) as conn:  # what a version-1 database looks like: no terms, postings or tsv, no article language
        _add_lexicon_table(conn, pg.store.dim)
        conn.execute("DROP TABLE postings; DROP TABLE terms; ALTER TABLE passages DROP COLUMN tsv; "
                     "ALTER TABLE passages DROP COLUMN hubness, DROP COLUMN sentences, DROP COLUMN sentence_vectors; "
                     "ALTER TABLE articles DROP COLUMN lang, DROP COLUMN date_inferred, DROP COLUMN title_inferred, "
                     "DROP COLUMN year_hint, DROP COLUMN title_vector, DROP COLUMN ingestion; UPDATE articles SET title = NULL WHERE doc = 'observatoire.txt'; "
                     "DELETE FROM qa_schema WHERE version >= 2")
    pg.store.close()
    with pytest.raises(StoreError, match="schema version 1.*qa db migrate"):
        PgStore.open(pg.settings, pg.embedder)
    env = clean_env(QA_MODEL=FAKE_MODEL)
    migrated = run_qa(["db", "migrate", "--store", url], env=env)
    assert migrated.returncode == 0 and f"schema version 1 → {SCHEMA_VERSION}" in migrated.stdout, migrated.stderr
    again = run_qa(["db", "migrate", "--store", url], env=env)
    assert "nothing to migrate" in again.stdout
    with connect(url) as conn:
        assert conn.execute("SELECT to_regclass('lexicon')").fetchone()[0] is None  # migration 4
    store = PgStore.open(pg.settings, pg.embedder)
    with store.snapshot() as view:
        assert view.lexical_search(query, 20) == expected
        # Migration 3 read the stored articles' metadata again: language, title stand-in, flags.
        article = view.article("observatoire.txt")
        assert article.lang == "fr" and article.title_inferred and article.title.startswith("L’observatoire")
        assert view.article("velo_lyon.txt").date == "2024-03-04" and not view.article("velo_lyon.txt").date_inferred
    fts = PgStore(pg.settings.with_(pg_lexical="fts"), url, store.model, store.dim)
    with fts.snapshot() as view:
        assert view.lexical_search(terms("héliostat"), 5)  # the backfilled tsv answers full-text queries
    store.close()
    fts.close()


def _add_lexicon_table(conn, dim: int) -> None:
    """The lexicon table of schema versions 1 to 3 (corpus words and their vectors), with one row."""
    conn.execute(f"CREATE TABLE lexicon (word text PRIMARY KEY, stem text NOT NULL, vector vector({dim}) NOT NULL)")
    conn.execute("INSERT INTO lexicon VALUES ('pistes', 'pist', %s::vector)", (str([0.0] * dim),))


def test_migrate_from_version_3_drops_the_lexicon_and_adds_title_vectors(stores, tmp_path):
    """Version 3 → 5: the lexicon table goes (4); the articles get a title vector column (5), empty for those
    stored before — the ranker reads its training means for them, and answers go on — and filled by writes."""
    _embedded, pg = stores
    url = pg.settings.store
    question = "Quel est le budget des pistes cyclables à Lyon ?"
    with connect(url) as conn:  # a version-3 database: the lexicon table, no title vectors
        _add_lexicon_table(conn, pg.store.dim)
        conn.execute("ALTER TABLE articles DROP COLUMN title_vector, DROP COLUMN ingestion")
        conn.execute("DELETE FROM qa_schema WHERE version >= 4")
    pg.store.close()
    with pytest.raises(StoreError, match="schema version 3.*qa db migrate"):
        PgStore.open(pg.settings, pg.embedder)
    migrated = run_qa(["db", "migrate", "--store", url], env=clean_env(QA_MODEL=FAKE_MODEL))
    assert migrated.returncode == 0 and f"schema version 3 → {SCHEMA_VERSION}" in migrated.stdout, migrated.stderr
    with connect(url) as conn:
        assert conn.execute("SELECT to_regclass('lexicon')").fetchone()[0] is None
        assert schema_version(conn) == SCHEMA_VERSION == 5
    after = QA(pg.settings, embedder=pg.embedder)
    with after.store.snapshot() as view:
        assert np.isnan(view.title_vectors(["velo_lyon.txt"])).all()
    answer = after.ask(question)
    assert answer.citations and answer.citations[0].doc == "velo_lyon.txt"
    changed = tmp_path / "velo_lyon.txt"
    changed.write_text(FAKE_ARTICLES["velo_lyon.txt"].replace("Lyon", "Lyon (Rhône)", 1), encoding="utf-8")
    after.store.add([changed], pg.embedder, replace=True)
    with after.store.snapshot() as view:
        [vector] = view.title_vectors(["velo_lyon.txt"])
        assert np.allclose(vector, pg.embedder.encode_documents([view.article("velo_lyon.txt").title])[0])
    after.store.close()


def test_newer_schema_and_other_model_are_refused(stores):
    _embedded, pg = stores
    with pytest.raises(IndexStateError, match="model 'fake-hash', not 'other-model'"):
        other = FakeEmbedder()
        other.name = "other-model"
        PgStore.open(pg.settings.with_(model="other-model"), other)
    with connect(pg.settings.store) as conn:
        conn.execute("INSERT INTO qa_schema (version) VALUES (99)")
        assert schema_version(conn) == 99
    with pytest.raises(StoreError, match="schema version 99"):
        PgStore.open(pg.settings, pg.embedder)


# ---------------------------------------------------------------- concurrency and crashes

VERSION_A = "# Le code secret\n\nLe code secret du coffre de la mairie est alpha. " + " ".join(
    f"La phrase {i} du premier texte parle du coffre alpha." for i in range(30)) + "\n"
VERSION_B = "# Le code secret\n\nLe code secret du coffre de la mairie est bravo. " + " ".join(
    f"La ligne {i} du second texte décrit le coffre bravo et sa serrure." for i in range(45)) + "\n"


def _version_of(answer, texts: dict[str, str]) -> set[str]:
    """Which versions of secret.txt the answer's citations are slices of ({'A'}, {'B'}, or a mix)."""
    seen = set()
    for c in answer.citations:
        if c.doc != "secret.txt":
            continue
        matches = {name for name, text in texts.items() if text[c.start:c.end] == c.quote and c.quote in text}
        assert matches, f"quote {c.quote[:60]!r} is a slice of neither version"
        seen |= matches if len(matches) == 1 else set()
    return seen


def test_concurrent_readers_never_see_half_a_replacement(tmp_path, pg_url):
    corpus = write_corpus(tmp_path / "corpus", {**FAKE_ARTICLES, "secret.txt": VERSION_A})
    embedder = FakeEmbedder()
    settings = make_settings(corpus, tmp_path / "index", store=pg_url)
    writer = QA(settings, embedder=embedder)
    texts = {"A": VERSION_A, "B": VERSION_B}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[set[str]] = []

    def read():
        qa = QA(settings, embedder=FakeEmbedder())  # its own connections, as another app process would have
        try:
            while not stop.is_set():
                for answer in qa.ask_many(["Quel est le code secret du coffre ?", "coffre alpha bravo serrure"], k=10):
                    versions = _version_of(answer, texts)
                    seen.append(versions)
                    assert len(versions) <= 1, f"an answer mixed versions {versions}"
                with qa.store.snapshot() as view:  # counts and passages of one snapshot agree
                    total = view.conn.execute("SELECT count(*) FROM passages").fetchone()[0]
                    assert total == view.n_passages
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            qa.store.close()

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for round_ in range(8):
            name = "B" if round_ % 2 == 0 else "A"
            (inbox / "secret.txt").write_text(texts[name], encoding="utf-8")
            writer.store.add([inbox / "secret.txt"], embedder, replace=True)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in readers:
            t.join(60)
        writer.store.close()
    assert not errors, errors[0]
    assert {"A"} in seen and {"B"} in seen, "the readers should have seen both versions over the run"


KILLED_WRITER = r"""
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from conftest import FakeEmbedder, make_settings
from qa.clean import clean_article
from qa.load import file_digest, read_article
from qa.pgschema import connect, register_types
from qa.pgstore import PgStore

settings = make_settings(Path({corpus!r}), Path({index!r}), store={url!r})
embedder = FakeEmbedder()
store = PgStore.open(settings, embedder)
path = Path({new!r})
items = store.prepare([(clean_article(read_article(path, path.parent)), file_digest(path))], embedder)
conn = connect({url!r})
register_types(conn)
with conn.transaction():
    store.write(items, conn=conn)  # the old passages are deleted and the new ones written, not committed
    print("written", flush=True)
    time.sleep(120)
"""


def test_a_writer_killed_mid_transaction_leaves_the_previous_article(tmp_path, pg_url):
    corpus = write_corpus(tmp_path / "corpus", {**FAKE_ARTICLES, "secret.txt": VERSION_A})
    settings = make_settings(corpus, tmp_path / "index", store=pg_url)
    qa = QA(settings, embedder=FakeEmbedder())
    before = qa.store.stats()
    new = tmp_path / "inbox" / "secret.txt"
    new.parent.mkdir()
    new.write_text(VERSION_B, encoding="utf-8")
    script = KILLED_WRITER.format(tests=str(TESTS_DIR), corpus=str(corpus), index=str(tmp_path / "index"), url=pg_url, new=str(new))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env(), cwd=ROOT)
    try:
        line = child.stdout.readline()
        assert line.strip() == "written", child.stderr.read()
        # While the writer holds its transaction open, readers still get the old article, without waiting.
        assert qa.article_text("secret.txt") == VERSION_A
        assert {"A"} == _version_of(qa.ask("Quel est le code secret du coffre ?", k=10), {"A": VERSION_A, "B": VERSION_B})
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    # PostgreSQL notices the dead connection and rolls its transaction back.
    deadline = time.time() + 30
    while time.time() < deadline:
        with connect(pg_url) as conn:
            if not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'").fetchone()[0]:
                break
        time.sleep(0.2)
    assert qa.article_text("secret.txt") == VERSION_A
    assert qa.store.check()["n_passages"] == before["n_passages"]
    assert qa.store.stats()["generation"] == before["generation"]
    qa.store.add([new], qa.embedder, replace=True)  # the writer lock died with the writer: the next write goes through
    assert qa.article_text("secret.txt") == VERSION_B
    qa.store.close()


def test_sync_applies_the_corpus_rule_of_qa_index(tmp_path, pg_url):
    """Links out of the corpus, aliases and names that are not UTF-8 are skipped with a warning, as `qa index` does (issue 19)."""
    corpus = write_corpus(tmp_path / "corpus")
    (tmp_path / "secret.txt").write_text("Le mot de passe du serveur est dans ce fichier hors du corpus.\n", encoding="utf-8")
    (corpus / "h.txt").symlink_to(tmp_path / "secret.txt")
    (corpus / "alias.txt").symlink_to("observatoire.txt")
    with open(os.path.join(os.fsencode(corpus), b"caf\xe9.txt"), "wb") as f:
        f.write("La ville de Rennes a inauguré samedi une médiathèque.\n".encode())
    said: list[str] = []
    pg = QA(make_settings(corpus, tmp_path / "unused-index", store=pg_url), embedder=FakeEmbedder(), progress=said.append)
    try:
        assert pg.store.stats()["n_articles"] == 3
        warnings = [line for line in said if line.startswith("warning: skipped")]
        assert any("h.txt" in w and "outside the corpus" in w for w in warnings), said
        assert any("alias.txt" in w and "duplicate" in w for w in warnings), said
        assert any("caf\\xe9.txt" in w and "not valid UTF-8" in w for w in warnings), said
        with pytest.raises(CorpusError, match="outside the corpus"):
            pg.store.add([corpus / "h.txt"], pg.embedder)
    finally:
        pg.store.close()


def test_articles_read_by_another_version_of_qa_are_reported_then_reloaded(stores):
    """A database filled by a qa whose ingestion read articles differently (another cleaning or title
    rule) says so when opened, and `qa index --store URL` (sync) reloads those articles and only them."""
    _embedded, pg = stores
    url = pg.settings.store
    with connect(url) as conn:
        conn.execute("UPDATE articles SET ingestion = 'older-qa', title = 'Menu | Accueil | Sport' WHERE doc = 'velo_lyon.txt'")
        before = dict(conn.execute("SELECT doc, xmin::text FROM articles"))
    pg.store.close()
    said: list[str] = []
    store = PgStore.open(pg.settings, pg.embedder, said.append)
    try:
        assert any("1 of the 3 articles" in line and "another version of qa" in line for line in said), said
        said.clear()
        store.sync(pg.embedder, said.append)
        assert any("Loading 1 article(s)" in line and "1 unchanged but read by another version" in line for line in said), said
        with connect(url) as conn:
            after = dict(conn.execute("SELECT doc, xmin::text FROM articles"))
            assert conn.execute("SELECT count(*) FROM articles WHERE ingestion IS DISTINCT FROM %s",
                                (ingestion_digest(),)).fetchone()[0] == 0
            assert conn.execute("SELECT title FROM articles WHERE doc = 'velo_lyon.txt'").fetchone()[0] != "Menu | Accueil | Sport"
        assert {d for d in before if before[d] != after[d]} == {"velo_lyon.txt"}  # the others were not rewritten
        said.clear()
        PgStore.open(pg.settings, pg.embedder, said.append).close()
        assert not any("another version" in line for line in said), said
    finally:
        store.close()


# ---------------------------------------------------------------- one-line errors

def _one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_wrong_connection_strings_give_one_line(tmp_path):
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(write_corpus(tmp_path / "corpus")))
    refused = run_qa(["ask", "--store", "postgresql://nobody:s3cret@127.0.0.1:1/qa", "Qui ?"], env=env)
    assert refused.returncode == 1
    line = _one_line_error(refused)
    assert "cannot connect to PostgreSQL" in line and "s3cret" not in line and "***" in line
    malformed = run_qa(["ask", "--store", "postgresql://a b", "Qui ?"], env=env)
    assert malformed.returncode == 2 and "invalid PostgreSQL connection string" in _one_line_error(malformed)
    for command in (["db", "init"], ["db", "migrate"]):
        assert "--store" in _one_line_error(run_qa(command, env=env))


def test_database_without_pgvector_gives_one_line(tmp_path, pg_server):
    """A role that may not create extensions (pgvector is not a trusted extension), on its own database."""
    name = f"plain_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
        conn.execute(f"CREATE DATABASE {name} OWNER {name}")
    url = f"postgresql://{name}@/{name}?host={pg_server.pgdata}"
    env = clean_env(QA_MODEL=FAKE_MODEL, QA_CORPUS=str(write_corpus(tmp_path / "corpus")))
    for args in (["ask", "--store", url, "Qui ?"], ["db", "init", "--store", url]):
        result = run_qa(args, env=env)
        assert result.returncode == 1
        assert "no pgvector extension" in _one_line_error(result)


# ---------------------------------------------------------------- the dev set through both stores

@pytest.mark.model
def test_dev_set_through_both_stores(real_qa, real_embedder, dev_items, pg_server, tmp_path):
    """hit@1 and MRR@10 of the PostgreSQL store within 0.02 of the embedded store's (issue 8)."""
    import psycopg as pg

    from qa.evaluate import evaluate

    with pg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS qa_dev_set")
        conn.execute("CREATE DATABASE qa_dev_set")
    url = f"postgresql://postgres@/qa_dev_set?host={pg_server.pgdata}"
    pg_qa = QA(real_qa.settings.with_(store=url), embedder=real_embedder)
    results = {}
    for name, qa in (("embedded", real_qa), ("postgresql", pg_qa)):
        results[name] = evaluate(dev_items, lambda q, qa=qa: qa.ask(q, k=10))["metrics"]
    e, p = results["embedded"]["overall"], results["postgresql"]["overall"]
    print(f"\ndev set, hybrid k=10: embedded hit@1 {e['hit@1']:.3f} mrr@10 {e['mrr@10']:.3f}; "
          f"postgresql hit@1 {p['hit@1']:.3f} mrr@10 {p['mrr@10']:.3f}")
    assert abs(e["hit@1"] - p["hit@1"]) <= 0.02 and abs(e["mrr@10"] - p["mrr@10"]) <= 0.02
    assert e["hit@1"] > 0.5  # both stores actually answer (not two equal zeros)
    pg_qa.store.close()


def test_embedded_store_delete_and_stats(tmp_path):
    """The embedded implementation of the interface's delete: file and passages gone, the rest untouched."""
    corpus = write_corpus(tmp_path / "corpus")
    qa = QA(make_settings(corpus, tmp_path / "index"), embedder=FakeEmbedder())
    before = qa.store.stats()
    kept = {p.start: p for p in qa.index.passages if p.doc == "velo_lyon.txt"}
    qa.store.delete("observatoire.txt")
    after = qa.store.stats()
    assert after["n_articles"] == before["n_articles"] - 1 and not (corpus / "observatoire.txt").exists()
    assert qa.article_text("observatoire.txt") is None
    assert all(c.doc != "observatoire.txt" for c in qa.ask("À quoi sert l’héliostat ?", k=10).citations)
    assert {p.start: p.text for p in qa.index.passages if p.doc == "velo_lyon.txt"} == {s: p.text for s, p in kept.items()}
    fresh = QA(qa.settings, embedder=FakeEmbedder())  # the index on disk is current: nothing rebuilt
    assert fresh.store.stats()["n_passages"] == after["n_passages"]
    with pytest.raises(CorpusError, match="not in the index"):
        qa.store.delete("observatoire.txt")


def test_the_page_serves_from_the_pg_store(stores):
    """The page's own functions (header summary, answer, source viewer texts) over PostgreSQL."""
    from qa import web, web_html

    embedded, pg = stores
    assert web_html.corpus_summary(pg.store) == web_html.corpus_summary(embedded.store)
    with pg.store.snapshot() as view:
        answer = web.answer_for(pg, "À quoi sert l’héliostat ?", 5, "hybrid", view)
        texts = web.cited_articles(answer, view)
    assert texts and all(texts[c.doc][c.start:c.end] == c.quote for c in answer.citations if c.doc in texts)
    with embedded.store.snapshot() as view:
        assert web_html.answer_html(answer, texts) == web_html.answer_html(web.answer_for(embedded, "À quoi sert l’héliostat ?", 5, "hybrid", view),
                                                                 web.cited_articles(answer, view))


def test_passages_stored_without_sentences_rank_neutrally(stores):
    """A passage from before schema 3 has no sentence vectors nor hubness: the ranker reads the training mean
    (neither favoured nor penalised) and every feature stays finite."""
    import numpy as np

    from qa.rank import FEATURES, model, rank

    _embedded, pg = stores
    with connect(pg.settings.store) as conn:
        conn.execute("UPDATE passages SET hubness = NULL, sentences = NULL, sentence_vectors = NULL")
    query = pg.prepare(["Quel est le budget des pistes cyclables à Lyon ?"])[0]
    with pg.store.snapshot() as view:
        ids = [pid for pid, _s in view.dense_search(query.vector, 3)]
        assert np.isnan(view.hubness(ids)).all()
        assert all(spans == [] for spans, _v in view.sentences_of(ids).values())
        ranking = rank(view, query, pg.settings)
    hub = model(pg.settings.ranker_model, FEATURES).mean[FEATURES.index("hub")]
    assert all(c.feature("hub") == pytest.approx(hub) for c in ranking.candidates)
    assert all(np.isfinite(c.features).all() for c in ranking.candidates)
    answer = pg.ask("Quel est le budget des pistes cyclables à Lyon ?")
    assert 0.0 <= answer.confidence <= 1.0 and answer.citations


def test_connections_the_server_closed_are_replaced_unseen(stores, pg_url):
    """A server restart or an idle timeout closes the pool's connections: the next questions are answered
    anyway (each connection is checked as it is handed out), none fails."""
    _embedded, pg = stores
    first = pg.ask(QUESTIONS[0])
    with contextlib.closing(connect(pg_url)) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE pid <> pg_backend_pid() AND datname = current_database()")
    for _ in range(3):
        assert pg.ask(QUESTIONS[0]).citations == first.citations
