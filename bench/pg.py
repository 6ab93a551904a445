"""PostgreSQL + pgvector store beside the embedded store: dev-set quality, scale, and app processes under a writer.

    .venv/bin/python bench/pg.py --dev                  # dev set: embedded vs PostgreSQL (BM25 in SQL, and French FTS)
    .venv/bin/python bench/pg.py --scale 100k           # 100k passages in both stores (about 10 min on 2 cores)
    .venv/bin/python bench/pg.py --scale 1m             # 1M (long: the HNSW build dominates)
    .venv/bin/python bench/pg.py --load 1,2,4           # app processes reading one database while a writer replaces articles
    .venv/bin/python bench/pg.py --summary              # the Markdown tables, from bench/pg_results.json
    .venv/bin/python bench/pg.py --plots-only           # redraw bench/pg_scale.png

The server is pgserver's PostgreSQL 16 + pgvector 0.6 (the one the tests start), data in bench/_work/pg.
Scale: passages are ~250-character recombinations of seed sentences (bench/run.py's `Sentences`), 25 per
article; vectors are bench/run.py's `clustered` vectors (real e5 geometry); queries are the 113 dev questions
embedded by the real model (dense) and their terms (lexical). Exact search (NumPy, inner product) is the
ground truth for recall@10. Both stores run on the same machine; latency is one query at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as common  # noqa: E402  (bench/run.py: helpers, synthetic passages and vectors)

ROOT = common.ROOT
WORK = common.WORK
RESULTS = ROOT / "bench" / "pg_results.json"
PER_ARTICLE = 25


def load() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}


def save(results: dict) -> None:
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, RESULTS)


def pg_meta() -> dict:
    m = common.meta("working tree")
    import pgvector
    import psycopg

    m.update(psycopg=psycopg.__version__, pgvector_python=getattr(pgvector, "__version__", None))
    return m


_SERVER = None


def server():
    """pgserver's PostgreSQL in bench/_work/pg (kept between runs; stopped when this process exits)."""
    global _SERVER
    if _SERVER is None:
        import pgserver

        folder = Path("/tmp") / "qa-bench-pg"  # reachable by the `pgserver` system user when run as root
        folder.mkdir(exist_ok=True)
        _SERVER = pgserver.get_server(folder, cleanup_mode="stop")
        with _connect(_SERVER.get_uri()) as conn:
            conn.execute("ALTER SYSTEM SET maintenance_work_mem = '2GB'")
            conn.execute("ALTER SYSTEM SET max_parallel_maintenance_workers = 1")
            conn.execute("ALTER SYSTEM SET shared_buffers = '2GB'")
            conn.execute("SELECT pg_reload_conf()")
    return _SERVER


def _connect(url):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def fresh_database(name: str) -> str:
    srv = server()
    with _connect(srv.get_uri()) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
        version = conn.execute("SELECT version()").fetchone()[0]
        vector = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()[0]
    common.log(f"{version.split(' on ')[0]}, pgvector {vector}")
    return f"postgresql://postgres@/{name}?host={srv.pgdata}"


# ---------------------------------------------------------------- dev set

def section_dev() -> dict:
    from qa.evaluate import evaluate, load_eval_set
    from qa.service import QA

    embedded = common.get_qa()
    items = load_eval_set(ROOT / "eval" / "dev.jsonl", embedded.article_text)
    url = fresh_database("qa_bench_dev")
    out = {"meta": pg_meta(), "questions": len(items), "k": 10, "runs": {}}
    runs = [("embedded", embedded)]
    for lexical in ("bm25", "fts"):
        runs.append((f"postgresql-{lexical}", QA(embedded.settings.with_(store=url, pg_lexical=lexical), embedder=embedded.embedder,
                                                  progress=common.log)))
    for name, qa in runs:
        for mode in ("hybrid", "lexical"):
            metrics = evaluate(items, lambda q, qa=qa, mode=mode: qa.ask(q, k=10, mode=mode))["metrics"]
            out["runs"][f"{name}/{mode}"] = {lang: {k: metrics[lang][k] for k in
                                                    ("hit@1", "hit@3", "mrr@10", "ndcg@10", "recall@5", "abstention_accuracy",
                                                     "false_abstention_rate", "latency_p50_ms", "latency_p95_ms")}
                                             for lang in metrics}
            o = metrics["overall"]
            common.log(f"dev {name}/{mode}: hit@1 {o['hit@1']:.3f} mrr@10 {o['mrr@10']:.3f} p50 {o['latency_p50_ms']:.1f} ms")
    return out


# ---------------------------------------------------------------- scale

def synthetic_items(n: int, vectors: np.ndarray, seed: int):
    """Articles of 25 passages of recombined seed sentences, with their vectors, in `PgStore.write`'s format."""
    from qa.records import Article, Passage, Span

    s = common.sentences()
    rng = random.Random(seed)
    at = 0
    for a in range((n + PER_ARTICLE - 1) // PER_ARTICLE):
        count = min(PER_ARTICLE, n - at)
        title = f"Article synthétique numéro {a + 1}"
        texts = [s.passage(s.passage_ids(rng)) for _ in range(count)]
        body, spans, pos = title + "\n\n", [], len(title) + 2
        for t in texts:
            spans.append(Span(pos, pos + len(t)))
            body += t + "\n\n"
            pos += len(t) + 2
        doc = f"synthetic_{a:06d}.txt"
        article = Article(doc=doc, text=body, title=title, paragraphs=tuple(spans))
        passages = [Passage(id=0, doc=doc, start=sp.start, end=sp.end, para_start=sp.start, para_end=sp.end, text=t)
                    for sp, t in zip(spans, texts)]
        yield {"article": article, "sha256": f"{seed}-{a}", "passages": passages, "vectors": vectors[at:at + count]}
        at += count


def exact_top(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for i, q in enumerate(queries):
        scores = data @ q
        top = np.argpartition(-scores, k)[:k]
        out[i] = top[np.argsort(-scores[top])]
    return out


def timings(fn, queries, reps: int = 2) -> dict:
    for q in queries[:5]:
        fn(q)
    times = []
    for _ in range(reps):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t)
    return common.pcts(times)


def scale_embedded(n: int, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, query_terms: list[list[str]], seed: int) -> dict:
    """The embedded store at N: FAISS Flat (its default) and HNSW (M=16, efConstruction=64, efSearch=100, as pgvector), bm25s."""
    import tempfile

    import bm25s
    import faiss

    from qa.store import bm25_top
    from qa.text import terms

    out = {}
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    for name, make in (("faiss-flat", lambda: faiss.IndexFlatIP(data.shape[1])),
                       ("faiss-hnsw", lambda: faiss.IndexHNSWFlat(data.shape[1], 16, faiss.METRIC_INNER_PRODUCT))):
        index = make()
        if name == "faiss-hnsw":
            index.hnsw.efConstruction = 64
        t = time.perf_counter()
        index.add(data)
        build = time.perf_counter() - t
        if name == "faiss-hnsw":
            index.hnsw.efSearch = 100
        _d, found = index.search(queries, 10)
        faiss.omp_set_num_threads(1)
        # called here, before the `del index` below (which ruff reads as leaving the name undefined)
        lat = timings(lambda q: index.search(q.reshape(1, -1), 10), queries)  # noqa: F821
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        out[name] = {"build_s": round(build, 2), "bytes": common.faiss_bytes(index), "latency": lat,
                     "recall_at_10": round(common.recall_at(found, truth), 4)}
        common.log(f"scale N={n:,} {name}: build {build:.1f} s, p50 {lat['p50_ms']} ms, recall {out[name]['recall_at_10']}")
        del index
    corpus, t_tok = [], 0.0
    for item in synthetic_items(n, data, seed):
        t = time.perf_counter()
        corpus.extend(terms(p.text) or [""] for p in item["passages"])
        t_tok += time.perf_counter() - t
    bm25 = bm25s.BM25()
    t = time.perf_counter()
    bm25.index(corpus, show_progress=False)
    build = time.perf_counter() - t
    del corpus
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        bm25.save(tmp, show_progress=False)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    lat = timings(lambda q: bm25_top(bm25, q, 50), query_terms)
    out["bm25s"] = {"build_s": round(build + t_tok, 2), "tokenize_s": round(t_tok, 2), "bytes": size, "latency": lat}
    common.log(f"scale N={n:,} bm25s: build {build + t_tok:.1f} s, p50 {lat['p50_ms']} ms")
    return out


def scale_pg(n: int, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, query_terms: list[list[str]], seed: int,
             batch_articles: int = 400) -> dict:
    from qa.pgschema import migrate, schema_version
    from qa.pgstore import PgStore
    from qa.settings import Settings

    url = fresh_database(f"qa_bench_{n}")
    settings = Settings(corpus_dir=WORK / "no-corpus", index_dir=WORK / "no-index", model="bench-vectors", store=url)
    migrate(url, data.shape[1], "bench-vectors", {})
    store = PgStore(settings, url, "bench-vectors", data.shape[1])
    with _connect(url) as conn:
        conn.execute("DROP INDEX passages_embedding")  # bulk load first, then build HNSW once (timed apart)
        assert schema_version(conn) >= 2
    t0 = time.perf_counter()
    batch: list[dict] = []
    loaded = 0
    for item in synthetic_items(n, data, seed):
        batch.append(item)
        if len(batch) == batch_articles:
            store.write(batch)
            loaded += sum(len(i["passages"]) for i in batch)
            batch = []
            if loaded % 100_000 == 0:
                common.log(f"scale N={n:,} postgresql: {loaded:,} passages loaded in {time.perf_counter() - t0:.0f} s")
    if batch:
        store.write(batch)
    load_s = time.perf_counter() - t0
    with _connect(url) as conn:
        conn.execute("VACUUM ANALYZE")
        t = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)")
        build_s = time.perf_counter() - t
        sizes = {name: conn.execute(f"SELECT pg_total_relation_size('{name}')").fetchone()[0]
                 for name in ("passages", "postings", "terms", "articles")}
        sizes["hnsw_index"] = conn.execute("SELECT pg_relation_size('passages_embedding')").fetchone()[0]
        sizes["tsv_gin_index"] = conn.execute("SELECT pg_relation_size('passages_tsv')").fetchone()[0]
        sizes["database"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        first_id = conn.execute("SELECT min(id) FROM passages").fetchone()[0]
    common.log(f"scale N={n:,} postgresql: load {load_s:.0f} s, HNSW build {build_s:.0f} s, database {sizes['database'] / 2**20:.0f} MiB")
    out = {"load_s": round(load_s, 2), "hnsw_build_s": round(build_s, 2), "bytes": sizes}
    with store.snapshot() as view:
        found = np.array([[pid - first_id for pid, _ in view.dense_search(q, 10)] for q in queries])
        out["hnsw"] = {"recall_at_10": round(common.recall_at(found, truth), 4), "ef_search": store.ef_search,
                       "latency": timings(lambda q: view.dense_search(q, 10), queries)}
        out["bm25_sql"] = {"latency": timings(lambda t: view.lexical_search(t, 50), query_terms)}
    out["hnsw_sweep"] = hnsw_sweep(store, queries, truth, first_id)
    fts = PgStore(settings.with_(pg_lexical="fts"), url, "bench-vectors", data.shape[1])
    with fts.snapshot() as view:
        out["fts"] = {"latency": timings(lambda t: view.lexical_search(t, 50), query_terms)}
    store.close()
    fts.close()
    common.log(f"scale N={n:,} postgresql: HNSW p50 {out['hnsw']['latency']['p50_ms']} ms recall {out['hnsw']['recall_at_10']}, "
               f"BM25-SQL p50 {out['bm25_sql']['latency']['p50_ms']} ms, FTS p50 {out['fts']['latency']['p50_ms']} ms")
    return out


def hnsw_sweep(store, queries: np.ndarray, truth: np.ndarray, first_id: int, values=(40, 100, 200, 400, 800)) -> list[dict]:
    """pgvector HNSW recall@10 and latency against hnsw.ef_search (the store's default is 100)."""
    curve = []
    default = store.ef_search
    try:
        for ef in values:
            store.ef_search = ef
            with store.snapshot() as view:
                found = np.array([[pid - first_id for pid, _ in view.dense_search(q, 10)] for q in queries])
                lat = timings(lambda q: view.dense_search(q, 10), queries, reps=1)
            curve.append({"ef_search": ef, "recall_at_10": round(common.recall_at(found, truth), 4), "latency": lat})
            common.log(f"  ef_search {ef}: recall@10 {curve[-1]['recall_at_10']}, p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms")
    finally:
        store.ef_search = default
    return curve


def sweep_existing(n: int) -> list[dict]:
    """The ef_search sweep on the database a previous --scale run left (same vectors: same seed)."""
    from qa.pgstore import PgStore
    from qa.settings import Settings

    data, queries = common.make_vectors("clustered", n, 113, seed=n)
    truth = exact_top(data, queries)
    url = f"postgresql://postgres@/qa_bench_{n}?host={server().pgdata}"
    settings = Settings(corpus_dir=WORK / "no-corpus", index_dir=WORK / "no-index", model="bench-vectors", store=url)
    store = PgStore(settings, url, "bench-vectors", data.shape[1])
    with _connect(url) as conn:
        first_id = conn.execute("SELECT min(id) FROM passages").fetchone()[0]
    try:
        return hnsw_sweep(store, queries, truth, first_id)
    finally:
        store.close()


def section_scale(n: int) -> dict:
    from qa.text import terms

    common.WORK.mkdir(parents=True, exist_ok=True)
    data, queries = common.make_vectors("clustered", n, 113, seed=n)
    truth = exact_top(data, queries)
    query_terms = [[t for t in terms(row["question"])] for row in common.dev_questions()]
    query_terms = [q for q in query_terms if q]
    out = {"meta": pg_meta(), "n": n, "queries": len(queries)}
    out["embedded"] = scale_embedded(n, data, queries, truth, query_terms, seed=n)
    out["postgresql"] = scale_pg(n, data, queries, truth, query_terms, seed=n)
    return out


# ---------------------------------------------------------------- app processes under a writer

READER = r"""
import json, sys, time
from qa.service import QA
from qa.settings import Settings
qa = QA(Settings.from_env())
questions = [json.loads(l)["question"] for l in open("eval/dev.jsonl", encoding="utf-8") if l.strip()]
print("ready", flush=True)
sys.stdin.readline()
end = time.time() + float(sys.argv[1])
lat, i, errors = [], 0, []
while time.time() < end:
    t = time.perf_counter()
    try:
        q = questions[i % len(questions)]
        with qa.store.snapshot() as view:  # what QA.ask does, keeping the snapshot to check the quotes in it
            a = qa.answer(qa.prepare([q])[0], q, None, None, view)
            for c in a.citations:
                assert c.quote == view.article(c.doc).text[c.start:c.end], "quote is not a slice of the stored article"
    except Exception as exc:
        errors.append(f"{exc.__class__.__name__}: {exc}"[:300])
    lat.append(time.perf_counter() - t)
    i += 1
print(json.dumps({"n": i, "errors": errors, "lat": lat}), flush=True)
"""


def section_load(levels: list[int], seconds: float) -> dict:
    """P reader processes (each a whole app: model + store) ask dev questions for `seconds` while this process
    replaces one article every 0.5 s; questions/s, latency and errors per P."""
    import shutil

    from qa.service import QA

    qa = common.get_qa()
    url = fresh_database("qa_bench_load")
    corpus = WORK / "load" / "corpus"  # a copy: `add` copies the new version into the corpus folder
    if corpus.exists():
        shutil.rmtree(corpus)
    shutil.copytree(ROOT / "seeds", corpus)
    settings = qa.settings.with_(store=url, corpus_dir=corpus)
    pg = QA(settings, embedder=qa.embedder, progress=common.log)
    env = common.qa_env() | {"QA_STORE": url, "QA_CORPUS": str(corpus), "OMP_NUM_THREADS": "1"}
    doc = sorted(corpus.glob("*.txt"))[0]
    original = doc.read_text(encoding="utf-8")
    variant = WORK / "load" / "inbox" / doc.name
    variant.parent.mkdir(parents=True, exist_ok=True)
    out = {"meta": pg_meta(), "seconds": seconds, "writer_interval_s": 0.5, "levels": {}}
    for p in levels:
        procs = [subprocess.Popen([sys.executable, "-c", READER, str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT) for _ in range(p)]
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        writes, end = 0, time.time() + seconds
        while time.time() < end:
            variant.write_text(original + f"\nMise à jour numéro {writes}.\n", encoding="utf-8")
            try:
                pg.store.add([variant], qa.embedder, replace=True)
                writes += 1
            except Exception as exc:  # e.g. unchanged content: skip
                common.log(f"writer: {exc}")
            time.sleep(0.5)
        results = [json.loads(proc.stdout.readline()) for proc in procs]
        for proc in procs:
            proc.wait(60)
        lat = [x for r in results for x in r["lat"]]
        n = sum(r["n"] for r in results)
        errors = [e for r in results for e in r["errors"]]
        out["levels"][str(p)] = {"questions": n, "questions_per_s": round(n / seconds, 2), "errors": len(errors),
                                 "error_samples": errors[:5], "writes": writes, "latency": common.pcts(lat),
                                 "load_average_after": [round(x, 2) for x in os.getloadavg()]}
        common.log(f"load P={p}: {n / seconds:.1f} q/s, p50 {out['levels'][str(p)]['latency']['p50_ms']} ms, "
                   f"p95 {out['levels'][str(p)]['latency']['p95_ms']} ms, errors {out['levels'][str(p)]['errors']}, writes {writes}")
    pg.store.close()
    return out


# ---------------------------------------------------------------- report

def mb(x) -> str:
    return f"{x / 2**20:,.0f}"


def summary(results: dict) -> str:
    lines = []
    dev = results.get("dev")
    if dev:
        lines += ["| store / mode | hit@1 | MRR@10 | hit@1 fr | MRR@10 fr | hit@1 en | MRR@10 en | p50 ms | p95 ms |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in dev["runs"].items():
            o, fr, en = r["overall"], r.get("fr", {}), r.get("en", {})
            lines.append(f"| {name} | {o['hit@1']:.3f} | {o['mrr@10']:.3f} | {fr.get('hit@1', 0):.3f} | {fr.get('mrr@10', 0):.3f} | "
                         f"{en.get('hit@1', 0):.3f} | {en.get('mrr@10', 0):.3f} | {o['latency_p50_ms']:.1f} | {o['latency_p95_ms']:.1f} |")
        lines.append("")
    scales = sorted((v for k, v in results.items() if k.startswith("scale_")), key=lambda v: v["n"])
    if scales:
        lines += ["| N | store | load / build s | index build s | size MiB | dense p50 / p95 ms | recall@10 | lexical p50 / p95 ms (top 50) |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in scales:
            e, p = s["embedded"], s["postgresql"]
            flat, hnsw, bm = e["faiss-flat"], e["faiss-hnsw"], e["bm25s"]
            lines.append(f"| {s['n']:,} | embedded, FAISS Flat (exact; default up to 250k) + bm25s | {bm['build_s']} (bm25s) | {flat['build_s']} | "
                         f"{mb(flat['bytes'] + bm['bytes'])} | {flat['latency']['p50_ms']} / {flat['latency']['p95_ms']} | {flat['recall_at_10']} | "
                         f"{bm['latency']['p50_ms']} / {bm['latency']['p95_ms']} |")
            lines.append(f"| {s['n']:,} | embedded, FAISS HNSW M=16 ef=100 | – | {hnsw['build_s']} | {mb(hnsw['bytes'])} | "
                         f"{hnsw['latency']['p50_ms']} / {hnsw['latency']['p95_ms']} | {hnsw['recall_at_10']} | – |")
            lines.append(f"| {s['n']:,} | PostgreSQL, pgvector HNSW M=16 ef={p['hnsw']['ef_search']} + BM25 in SQL | {p['load_s']} | {p['hnsw_build_s']} | "
                         f"{mb(p['bytes']['database'])} | {p['hnsw']['latency']['p50_ms']} / {p['hnsw']['latency']['p95_ms']} | "
                         f"{p['hnsw']['recall_at_10']} | {p['bm25_sql']['latency']['p50_ms']} / {p['bm25_sql']['latency']['p95_ms']} |")
            lines.append(f"| {s['n']:,} | PostgreSQL, French FTS (ts_rank) | – | – | – | – | – | "
                         f"{p['fts']['latency']['p50_ms']} / {p['fts']['latency']['p95_ms']} |")
        lines.append("")
    sweeps = [(s["n"], s["postgresql"]["hnsw_sweep"]) for s in scales if s["postgresql"].get("hnsw_sweep")]
    if sweeps:
        lines += ["| N | pgvector hnsw.ef_search | recall@10 | p50 ms | p95 ms |", "|---|---|---|---|---|"]
        for n, curve in sweeps:
            for c in curve:
                lines.append(f"| {n:,} | {c['ef_search']} | {c['recall_at_10']} | {c['latency']['p50_ms']} | {c['latency']['p95_ms']} |")
        lines.append("")
    load_ = results.get("load")
    if load_:
        lines += ["| app processes | questions/s | p50 ms | p95 ms | errors | article replacements |", "|---|---|---|---|---|---|"]
        for p, r in load_["levels"].items():
            lines.append(f"| {p} | {r['questions_per_s']} | {r['latency']['p50_ms']} | {r['latency']['p95_ms']} | {r['errors']} | {r['writes']} |")
    return "\n".join(lines)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = sorted((v for k, v in results.items() if k.startswith("scale_")), key=lambda v: v["n"])
    if not scales:
        return
    ns = [s["n"] for s in scales]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    series = {
        "FAISS Flat (embedded default)": [s["embedded"]["faiss-flat"] for s in scales],
        "FAISS HNSW": [s["embedded"]["faiss-hnsw"] for s in scales],
        "pgvector HNSW": [dict(s["postgresql"]["hnsw"], build_s=s["postgresql"]["hnsw_build_s"]) for s in scales],
        "bm25s (embedded)": [s["embedded"]["bm25s"] for s in scales],
        "BM25 in SQL": [s["postgresql"]["bm25_sql"] for s in scales],
        "French FTS": [s["postgresql"]["fts"] for s in scales],
    }
    for name, rows in series.items():
        axes[0].plot(ns, [r["latency"]["p50_ms"] for r in rows], "o-", label=name)
        axes[1].plot(ns, [r["latency"]["p95_ms"] for r in rows], "o-", label=name)
        if "recall_at_10" in rows[0]:
            axes[3].plot(ns, [r["recall_at_10"] for r in rows], "o-", label=name)
    names = ["embedded: FAISS Flat + bm25s", "embedded: FAISS HNSW", "PostgreSQL (all tables + indexes)"]
    width = 0.25
    x = np.arange(len(ns))
    for i, (label, get) in enumerate([(names[0], lambda s: s["embedded"]["faiss-flat"]["bytes"] + s["embedded"]["bm25s"]["bytes"]),
                                      (names[1], lambda s: s["embedded"]["faiss-hnsw"]["bytes"]),
                                      (names[2], lambda s: s["postgresql"]["bytes"]["database"])]):
        axes[2].bar(x + (i - 1) * width, [get(s) / 2**20 for s in scales], width, label=label)
    axes[2].set_xticks(x, [f"{n:,}" for n in ns])
    axes[0].set(title="query p50 (ms, one at a time)", xscale="log", yscale="log", xlabel="passages")
    axes[1].set(title="query p95 (ms)", xscale="log", yscale="log", xlabel="passages")
    axes[2].set(title="size (MiB)", xlabel="passages")
    axes[3].set(title="dense recall@10 vs exact", xscale="log", xlabel="passages", ylim=(0.5, 1.01))
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    common._footer(fig, scales[-1]["meta"])
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(ROOT / "bench" / "pg_scale.png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dev", action="store_true")
    p.add_argument("--scale", default="", help="sizes, e.g. 100k or 100k,1m")
    p.add_argument("--load", default="", help="numbers of app processes, e.g. 1,2,4")
    p.add_argument("--load-seconds", type=float, default=20.0)
    p.add_argument("--sweep", default="", help="sizes whose existing database gets the ef_search sweep again")
    p.add_argument("--summary", action="store_true")
    p.add_argument("--plots-only", action="store_true")
    args = p.parse_args(argv)
    results = load()
    if args.summary:
        print(summary(results))
        return 0
    if args.dev:
        results["dev"] = section_dev()
        save(results)
    for size in filter(None, args.scale.split(",")):
        n = common.parse_size(size)
        results[f"scale_{n}"] = section_scale(n)
        save(results)
    for size in filter(None, args.sweep.split(",")):
        n = common.parse_size(size)
        results[f"scale_{n}"]["postgresql"]["hnsw_sweep"] = sweep_existing(n)
        save(results)
    if args.load:
        results["load"] = section_load([int(x) for x in args.load.split(",")], args.load_seconds)
        save(results)
    if results:
        plot(results)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
