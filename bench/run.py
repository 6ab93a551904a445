#!/usr/bin/env python3
"""Performance benchmark of qa: cold start, query latency by stage, throughput, ingestion, scale.

    .venv/bin/python bench/run.py                       # default: every section, scales 10k and 100k (~10 min, 2 cores)
    .venv/bin/python bench/run.py --full                # adds the 1M-passage scale runs
    .venv/bin/python bench/run.py --only scale --scale 1m --kinds random --no-bm25   # FAISS at 1M on random vectors

Writes bench/results.json (sections are merged into an existing file, so a section or a scale can be
re-run alone) and the figures bench/latency_breakdown.png, bench/scale.png, bench/throughput.png,
bench/ingest.png. Every section and figure records the CPU count, the library versions and the date.
Progress goes to stderr. Scratch files (a private index of seeds/, synthetic corpora) live in
bench/_work/ and are rebuilt when needed.

The query-latency stages are timed by calling, one after the other, the same functions the service
calls (embedder.encode_queries, qa.query.prepare, qa.rank.rank, qa.answer.compose); qa/ itself is not
instrumented.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "_work"
RESULTS = BENCH / "results.json"
SEED_INDEX = WORK / "index"
DIM = 384
CLUSTER_BANDWIDTH = 0.7
T0 = time.perf_counter()
SECTIONS = ("physical", "latency", "cold", "throughput", "ingest", "scale", "dense", "memory", "pipeline")
# Run only when asked for (--only pipeline, or --pipeline N): it builds a large corpus.
OPT_IN = ("pipeline",)


# ---------------------------------------------------------------- small helpers

def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """Current resident set size of this process (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_busy(seconds: float = 2.0) -> float:
    """Fraction of all CPUs busy over `seconds` (from /proc/stat); while this process sleeps, that is everyone else."""
    def read():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]
    total0, idle0 = read()
    time.sleep(seconds)
    total1, idle1 = read()
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to max_wait s) until other processes use less than `threshold` of the CPUs; returns the last reading."""
    deadline = time.perf_counter() + max_wait
    busy = cpu_busy()
    while busy >= threshold and time.perf_counter() < deadline:
        log(f"waiting for a quiet machine: other processes use {busy:.0%} of the CPUs")
        time.sleep(10)
        busy = cpu_busy()
    return busy


def ms(seconds) -> float:
    return round(float(seconds) * 1000, 3)


def pcts(samples_s: list[float]) -> dict:
    """p50/p95/p99/mean in milliseconds of samples given in seconds."""
    a = np.asarray(samples_s, dtype=float)
    if not len(a):
        return {}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50_ms": ms(p50), "p95_ms": ms(p95), "p99_ms": ms(p99), "mean_ms": ms(a.mean()), "n": int(len(a))}


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def git_state() -> dict:
    def run(*cmd):
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""
    dirty = run("git", "status", "--porcelain", "--", "qa")
    return {"commit": run("git", "rev-parse", "--short", "HEAD"), "qa_dirty": bool(dirty)}


def meta(code: str) -> dict:
    """What the numbers depend on: machine, versions, date, code state."""
    import faiss

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "faiss": getattr(faiss, "__version__", _version("faiss-cpu")),
        "faiss_omp_max_threads": faiss.omp_get_max_threads(),
        "bm25s": _version("bm25s"),
        "torch": _version("torch"),
        "sentence_transformers": _version("sentence-transformers"),
        "numpy": np.__version__,
        "gradio": _version("gradio"),
        "git": git_state(),
        "code": code,
    }


def meta_line(m: dict) -> str:
    return (f"{m['cpu_model']} · {m['cpu_count']} CPU · Python {m['python']} · faiss {m['faiss']} · bm25s {m['bm25s']} · "
            f"torch {m['torch']} · sentence-transformers {m['sentence_transformers']} · {m['date'][:10]}")


def load_results() -> dict:
    if RESULTS.exists():
        try:
            return json.loads(RESULTS.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log(f"{RESULTS} unreadable: starting a new one")
    return {}


def save_results(results: dict) -> None:
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, RESULTS)


def qa_env() -> dict:
    """Environment for child processes: same code as this process (a --snapshot goes first on the path)."""
    env = dict(os.environ)
    env.pop("QA_INDEX", None)
    env.pop("QA_CORPUS", None)
    env.pop("QA_MODEL", None)
    env["PYTHONPATH"] = os.pathsep.join([p for p in (os.environ.get("BENCH_CODE_PATH"), str(ROOT)) if p])
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


# ---------------------------------------------------------------- the service and the seeds

def seed_settings():
    from qa.settings import Settings

    return Settings.from_env(corpus_dir=str(ROOT / "seeds"), index_dir=str(SEED_INDEX))


_QA = None


def get_qa():
    """One QA over seeds/ with the real model and a private index in bench/_work/index (built if stale)."""
    global _QA
    if _QA is None:
        from qa.service import QA

        log("Loading the model and the seed index (building it if missing or stale)")
        _QA = QA(seed_settings(), progress=lambda m: log(f"  qa: {m}"))
    return _QA


def dev_questions() -> list[dict]:
    rows = []
    with (ROOT / "eval" / "dev.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


class Sentences:
    """The seeds' prose sentences and their BM25 terms, to recombine into synthetic French passages."""

    def __init__(self):
        from qa.chunk import split_sentences
        from qa.records import Span
        from qa.text import terms

        index = get_qa().index
        texts = []
        for p in index.passages:
            if p.kind != "text":
                continue
            text = index.articles[p.doc].text
            for s in split_sentences(text, Span(p.start, p.end)):
                sentence = re.sub(r"\s+", " ", text[s.start:s.end]).strip()
                if len(sentence) >= 20:
                    texts.append(sentence)
        self.texts = sorted(set(texts))
        self.lengths = np.array([len(t) for t in self.texts])
        self.terms = [terms(t) for t in self.texts]

    def passage_ids(self, rng: random.Random, target: int = 250) -> list[int]:
        """Random sentences joined to about `target` characters (within ±60 of a goal drawn in target ± 50)."""
        goal = rng.randint(target - 50, target + 50)
        first = rng.randrange(len(self.texts))
        ids, size = [first], int(self.lengths[first])
        for _ in range(30):
            if size >= goal - 60:
                break
            i = rng.randrange(len(self.texts))
            if size + 1 + self.lengths[i] <= goal + 60:
                ids.append(i)
                size += 1 + int(self.lengths[i])
        return ids

    def passage(self, ids: list[int]) -> str:
        return " ".join(self.texts[i] for i in ids)

    def passage_terms(self, ids: list[int]) -> list[str]:
        out: list[str] = []
        for i in ids:
            out.extend(self.terms[i])
        return out or [""]


_SENTENCES = None


def sentences() -> Sentences:
    global _SENTENCES
    if _SENTENCES is None:
        _SENTENCES = Sentences()
    return _SENTENCES


# ---------------------------------------------------------------- physical limit

_ST_REFERENCE_CHILD = r"""
import json, statistics, sys, time
from qa.embed import SentenceTransformerEmbedder, resolve_model
name, query, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
e = SentenceTransformerEmbedder(name, threads=threads, source=resolve_model(name))
load_s = time.perf_counter() - t
for _ in range(5):
    e.encode_queries([query])
times = []
for _ in range(50):
    t = time.perf_counter(); e.encode_queries([query]); times.append(time.perf_counter() - t)
print(json.dumps({"load_s": load_s, "encode_ms": 1000 * statistics.median(times), "vector": e.encode_queries([query])[0].tolist()}))
"""


def section_physical(args) -> dict:
    import torch

    from qa.embed import DirectBertEmbedder

    qa = get_qa()
    embedder = qa.embedder
    query = "Qui a déposé un recours ?"
    for _ in range(5):
        embedder.encode_queries([query])
    encode = [timed(embedder.encode_queries, [query])[1] for _ in range(50)]
    if isinstance(embedder, DirectBertEmbedder):
        backend = "direct"
        text = (embedder._query_prompt + query).strip()
        tokenize = lambda: embedder._tokenizer.encode(text)  # noqa: E731
        encoding = tokenize()
        ids = torch.tensor([encoding.ids])
        mask = torch.ones_like(ids)
        forward = lambda: embedder._weights.forward(ids, mask)  # noqa: E731
        n_tokens = len(encoding.ids)
    else:
        backend = "sentence-transformers"
        model = embedder._model
        text = (getattr(model, "prompts", {}) or {}).get("query", "") + query
        tokenizer = getattr(model, "preprocess", None) or model.tokenize
        features = tokenizer([text])
        tokenize = lambda: tokenizer([text])  # noqa: E731

        def forward():
            with torch.inference_mode():
                return model(dict(features))
        n_tokens = int(features["input_ids"].shape[1])
    threads = embedder._threads.threads

    def median_ms(fn, n=50):
        for _ in range(5):
            fn()
        return ms(statistics.median(timed(fn)[1] for _ in range(n)))
    # The direct encoder runs torch on its own thread; timing its pieces anywhere else would start a second
    # OpenMP team, which slows every later forward pass in this process (see Threads in bench/README.md).
    on_model_thread = (lambda fn, *a: embedder._runner.submit(fn, *a).result()) if backend == "direct" else (lambda fn, *a: fn(*a))
    tokenize_ms = median_ms(tokenize)

    def forward_by_threads():
        out = {}
        for nt in sorted({1, min(2, os.cpu_count() or 1), os.cpu_count() or 1}):
            torch.set_num_threads(nt)
            out[str(nt)] = median_ms(forward)
        torch.set_num_threads(threads)
        return out
    by_threads = on_model_thread(forward_by_threads)
    forward_ms = on_model_thread(median_ms, forward)
    # The page (gradio workers) and thread pools encode from threads other than the one that loaded the
    # model; encode_queries sets torch's thread count on the calling thread (qa.embed._Threads).
    calling = {"main_thread_encode_ms": median_ms(lambda: embedder.encode_queries([query]))}
    with ThreadPoolExecutor(1) as ex:
        calling["worker_thread_encode_ms"] = ex.submit(median_ms, lambda: embedder.encode_queries([query])).result()
        calling["worker_thread_torch_threads"] = ex.submit(torch.get_num_threads).result()
    calling["note"] = ("median encode_queries of the same query from the main thread, then from a new worker thread "
                       "of the same process (the thread count is set before every forward pass)")
    out = {
        "backend": backend, "query": query, "tokens": n_tokens, "torch_threads": threads,
        "model_forward_by_calling_thread": calling,
        "model_forward_median_ms_by_torch_threads": by_threads,
        "encode_queries_median_ms": ms(statistics.median(encode)),
        "tokenize_median_ms": tokenize_ms,
        "model_forward_median_ms": forward_ms,
        "note": "medians of 50 calls after 5 warm-up calls; model_forward = the encoder, mean pooling and "
                "normalization on pre-tokenized input; encode_queries = what qa calls (tokenize, forward, to numpy)",
    }
    if backend == "direct" and not args.no_reference:
        # The previous path, for comparison, in a child process (its torch team would slow this one's).
        child = subprocess.run([sys.executable, "-c", _ST_REFERENCE_CHILD, embedder.name, query, str(threads)],
                               capture_output=True, text=True, env=qa_env(), timeout=300)
        if child.returncode == 0:
            ref = json.loads(child.stdout.strip().splitlines()[-1])
            out["sentence_transformers_load_s"] = round(ref["load_s"], 2)
            out["sentence_transformers_encode_queries_median_ms"] = round(ref["encode_ms"], 3)
            out["cosine_direct_vs_sentence_transformers"] = round(float(embedder.encode_queries([query])[0] @ np.array(ref["vector"], dtype=np.float32)), 6)
        else:
            log(f"  sentence-transformers reference failed: {child.stderr[-300:]}")
    log(f"physical ({backend}): forward {forward_ms} ms, tokenize {tokenize_ms} ms, encode_queries "
        f"{out['encode_queries_median_ms']} ms ({n_tokens} tokens, {threads} torch threads); by threads {by_threads}; "
        f"worker thread {calling['worker_thread_encode_ms']} ms vs main {calling['main_thread_encode_ms']} ms"
        + (f"; sentence-transformers encode_queries {out['sentence_transformers_encode_queries_median_ms']} ms"
           if "sentence_transformers_encode_queries_median_ms" in out else ""))
    return out


# ---------------------------------------------------------------- query latency at seed scale

def section_latency(args) -> dict:
    """Per-question latency through QA.ask on seeds/, each distinct question asked once (what users meet:
    no answer cache; the model, index and the passages' term caches warm after the first question),
    then the same question's stages timed alone: validate, embed, query, rank (dense + lexical search,
    features, the learned ranker), compose (abstention, quoting, citations)."""
    from qa.answer import compose
    from qa.query import prepare
    from qa.rank import rank
    from qa.service import validate_question

    qa = get_qa()
    settings = qa.settings
    questions = list(dict.fromkeys(row["question"] for row in dev_questions()))
    log(f"latency: {len(questions)} distinct dev questions, each asked once (after 3 warm-up questions of another set)")
    for q in ("Bonjour ?", "What is this about?", "Quel est le sujet ?"):  # model, index, langdetect profiles
        qa.ask(q)
    stages = {s: [] for s in ("validate", "query_embedding", "query", "rank", "compose")}
    e2e, by_lang, stage_sum = [], {}, []
    for q in questions:
        answer, t_ask = timed(qa.ask, q)
        e2e.append(t_ask)
        by_lang.setdefault(answer.language, []).append(t_ask)
        text, t_val = timed(validate_question, q, settings)
        vectors, t_emb = timed(qa.embedder.encode_queries, [text])
        query, t_query = timed(prepare, text, vectors[0])
        with qa.store.snapshot() as view:
            ranking, t_rank = timed(rank, view, query, settings)
            _a, t_comp = timed(compose, view, query, ranking, settings, q)
        for name, value in (("validate", t_val), ("query_embedding", t_emb), ("query", t_query), ("rank", t_rank),
                            ("compose", t_comp)):
            stages[name].append(value)
        stage_sum.append(t_val + t_emb + t_query + t_rank + t_comp)
    import torch

    out = {
        "torch_threads_main_thread": torch.get_num_threads(),
        "questions": len(questions), "samples": len(e2e), "distinct": True,
        "passages": len(qa.index.passages), "k": settings.top_k, "mode": settings.mode,
        "end_to_end": pcts(e2e),
        "end_to_end_by_language": {lang: pcts(v) for lang, v in sorted(by_lang.items())},
        "stages": {name: pcts(v) for name, v in stages.items()},
        "sum_of_stages": pcts(stage_sum),
        "how": "QA.ask timed end to end, each distinct question once; then, for the same question, its stages "
               "each timed alone: validate_question; encode_queries (the question's embedding); qa.query.prepare "
               "(language, terms, translations, answer kind); qa.rank.rank (dense and lexical candidates, features, "
               "learned ranker); qa.answer.compose (abstention, quoting, citations).",
    }
    e = out["end_to_end"]
    log(f"latency: end to end p50 {e['p50_ms']} ms, p95 {e['p95_ms']} ms, p99 {e['p99_ms']} ms; stages p50: "
        + ", ".join(f"{k} {v['p50_ms']}" for k, v in out["stages"].items()))
    return out


# ---------------------------------------------------------------- cold start

_LIB_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from qa.service import QA
from qa.settings import Settings
from qa.embed import load_embedder
t1 = time.perf_counter()
settings = Settings.from_env(corpus_dir=sys.argv[1], index_dir=sys.argv[2])
embedder = load_embedder(settings.model)
t2 = time.perf_counter()
qa = QA(settings, embedder=embedder)
t3 = time.perf_counter()
answer = qa.ask(sys.argv[3])
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "model_load_s": t2 - t1, "index_load_s": t3 - t2, "first_ask_s": t4 - t3,
                  "found": answer.found}), flush=True)
"""


def run_child(cmd: list[str], stdin: bytes | None = None, timeout: float = 300) -> dict:
    """Run a child; wall time to its first stdout byte and to its exit, its peak RSS (getrusage via wait4)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=qa_env(), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if stdin is not None:
        def feed():
            try:
                p.stdin.write(stdin)
                p.stdin.close()
            except BrokenPipeError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    first = p.stdout.read(1)
    t_first = time.perf_counter() - start
    rest = p.stdout.read()
    _pid, status, usage = os.wait4(p.pid, 0)
    t_exit = time.perf_counter() - start
    timer.cancel()
    reader.join(5)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"first_output_s": t_first, "exit_s": t_exit, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "rc": p.returncode,
            "stdout": (first + rest).decode("utf-8", "replace"), "stderr": b"".join(err_chunks).decode("utf-8", "replace")}


# Peak RSS of a command, measured by a small parent: a child forked from this (large) benchmark process
# inherits the parent's RSS high-water mark, so wait4's ru_maxrss from here over-reports it.
_PEAK_RSS_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
                     "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
                     "sys.exit(rc)")


def peak_rss_mib(cmd: list[str]) -> float:
    """Peak RSS of one run of cmd, in MiB, through a fresh small parent process."""
    r = subprocess.run([sys.executable, "-c", _PEAK_RSS_WRAPPER, *cmd], cwd=ROOT, env=qa_env(), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=600)
    found = re.search(rb"PEAK_RSS_KIB (\d+)", r.stderr)
    if r.returncode != 0 or not found:
        raise RuntimeError(f"peak RSS run failed (rc {r.returncode}): {r.stderr[-300:]!r}")
    return round(int(found.group(1)) / 1024, 1)


def _summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3), "runs_s": [round(v, 3) for v in values]}


def section_cold(args) -> dict:
    get_qa()  # makes sure the private seed index is built and current before anything is timed
    question = "Qui a déposé un recours auprès du Conseil d'État ?"
    cli = [sys.executable, "-m", "qa", "ask", "--corpus", str(ROOT / "seeds"), "--index", str(SEED_INDEX), question]
    lib = [sys.executable, "-c", _LIB_CHILD, str(ROOT / "seeds"), str(SEED_INDEX), question]
    out = {"question": question, "runs": args.cold_runs,
           "note": "wall time from spawning the process to the first byte of the answer on stdout (and to exit); "
                   "the OS file cache is warm (one unmeasured run first, reported as first_run); peak RSS from one "
                   "more run under a small Python parent (getrusage of its children): wait4 from this benchmark "
                   "process over-reports it, since a forked child inherits its parent's RSS high-water mark."}
    for name, cmd in (("cli", cli), ("library", lib)):
        log(f"cold start: {name} x {args.cold_runs} (+1 unmeasured)")
        first = run_child(cmd)
        if first["rc"] != 0:
            raise RuntimeError(f"{name} cold start failed (rc {first['rc']}): {first['stderr'][-500:]}")
        runs = [run_child(cmd) for _ in range(args.cold_runs)]
        rebuilt = any("Building the index" in r["stderr"] for r in [first, *runs])
        entry = {
            "command": " ".join(cmd[:4] if name == "library" else cmd[:2] + ["qa", "ask", "QUESTION"]),
            "first_answer": _summary([r["first_output_s"] for r in runs]),
            "exit": _summary([r["exit_s"] for r in runs]),
            "peak_rss_mib": peak_rss_mib(cmd),
            "cpu_s": round(statistics.median(r["user_s"] + r["sys_s"] for r in runs), 2),
            "first_run": {"first_answer_s": round(first["first_output_s"], 3)},
            "index_rebuilt_during_runs": rebuilt,
        }
        if name == "library":
            phases = [json.loads(r["stdout"].strip().splitlines()[-1]) for r in runs]
            entry["phases_median_s"] = {k: round(statistics.median(p[k] for p in phases), 3)
                                        for k in ("import_s", "model_load_s", "index_load_s", "first_ask_s")}
            entry["command"] = "python -c 'import qa.service; QA(settings); qa.ask(question)'"
        out[name] = entry
        log(f"cold start {name}: median {entry['first_answer']['median_s']} s to the answer, "
            f"peak RSS {entry['peak_rss_mib']} MiB")
    return out


# ---------------------------------------------------------------- throughput

def _gradio_throughput(qa, questions: list[str], levels: list[int], per_level_s: float, per_level_max: int) -> dict:
    """Requests/s through the page's /ask API with 1..8 concurrent gradio_client clients (in-process server)."""
    from gradio_client import Client

    from qa import web, web_server

    port = free_port()
    demo = web.build_app(qa)
    t = time.perf_counter()
    web_server.launch(demo, "127.0.0.1", port, None, block=False)
    url = f"http://127.0.0.1:{port}/"
    out = {"url": "http://127.0.0.1:<free port>/", "server_start_s": round(time.perf_counter() - t, 2),
           "server_concurrency_limit": getattr(web, "CONCURRENCY", None), "queue_size": getattr(web, "QUEUE_SIZE", None),
           "levels": []}
    try:
        def make_client():
            try:
                return Client(url, verbose=False)
            except TypeError:
                return Client(url)
        probe = make_client()
        probe.predict(questions[0], 5, "hybrid", api_name="/ask")
        for clients in levels:
            pool = [make_client() for _ in range(clients)]
            counter = iter(range(10**9))
            lock = threading.Lock()
            latencies: list[float] = []
            errors: list[str] = []
            deadline = time.perf_counter() + per_level_s

            def worker(client):
                while time.perf_counter() < deadline:
                    with lock:
                        i = next(counter)
                    if i >= per_level_max:
                        return
                    q = questions[i % len(questions)]
                    t0 = time.perf_counter()
                    try:
                        result = client.predict(q, 5, "hybrid", api_name="/ask")
                        if not isinstance(result, dict):
                            raise ValueError(f"unexpected result {type(result).__name__}")
                    except Exception as exc:  # noqa: BLE001 - recorded, the level goes on
                        errors.append(f"{exc.__class__.__name__}: {exc}"[:200])
                        continue
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as ex:
                list(ex.map(worker, pool))
            elapsed = time.perf_counter() - start
            level = {"clients": clients, "requests": len(latencies), "errors": len(errors), "elapsed_s": round(elapsed, 2),
                     "qps": round(len(latencies) / elapsed, 2), "latency": pcts(latencies)}
            if errors:
                level["first_error"] = errors[0]
            out["levels"].append(level)
            log(f"throughput gradio: {clients} client(s) {level['qps']} q/s, p50 {level['latency'].get('p50_ms')} ms")
            for c in pool:
                try:
                    c.close()
                except Exception:
                    pass
    finally:
        try:
            demo.close()
        except Exception:
            pass
    return out


def section_throughput(args) -> dict:
    qa = get_qa()
    questions = [row["question"] for row in dev_questions()]
    batch = (questions * (args.batch // len(questions) + 1))[:args.batch]
    out: dict = {"questions_per_batch": len(batch)}
    # CLI batch: qa ask --json over stdin.
    log(f"throughput: qa ask --json over {len(batch)} questions on stdin")
    cmd = [sys.executable, "-m", "qa", "ask", "--json", "--corpus", str(ROOT / "seeds"), "--index", str(SEED_INDEX)]
    one = run_child(cmd, stdin=(questions[0] + "\n").encode())
    r = run_child(cmd, stdin=("\n".join(batch) + "\n").encode(), timeout=900)
    lines = [line for line in r["stdout"].splitlines() if line.strip()]
    answered = sum(1 for line in lines if "error" not in json.loads(line))
    steady = (len(batch) - 1) / max(1e-9, r["exit_s"] - one["exit_s"])
    out["cli_batch"] = {
        "command": "python -m qa ask --json < questions", "questions": len(batch), "answered": answered,
        "wall_s": round(r["exit_s"], 2), "one_question_wall_s": round(one["exit_s"], 2),
        "qps_including_startup": round(len(batch) / r["exit_s"], 2),
        "qps_excluding_startup": round(steady, 2), "peak_rss_mib": r["peak_rss_mib"],
        "note": "excluding startup = (N - 1) / (wall(N questions) - wall(1 question)); ask_many embeds all questions in one pass",
    }
    log(f"throughput cli: {out['cli_batch']['qps_including_startup']} q/s with startup, "
        f"{out['cli_batch']['qps_excluding_startup']} q/s steady")
    # In-process: ask_many (batched embedding) and QA.ask from 1, 2, 4 threads.
    for q in questions[:20]:
        qa.ask(q)
    _res, t_many = timed(qa.ask_many, batch)
    out["library_ask_many"] = {"questions": len(batch), "wall_s": round(t_many, 2), "qps": round(len(batch) / t_many, 2)}
    log(f"throughput ask_many: {out['library_ask_many']['qps']} q/s")
    import torch

    thread_batch = batch[:args.thread_batch]
    out["torch_threads_main_thread"] = torch.get_num_threads()
    with ThreadPoolExecutor(1) as ex:
        out["torch_threads_worker_thread"] = ex.submit(torch.get_num_threads).result()
    out["library_threads"] = []
    for threads in (1, 2, 4):
        lat: list[float] = []

        def one_ask(q):
            _a, t = timed(qa.ask, q)
            lat.append(t)

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(one_ask, thread_batch))
        elapsed = time.perf_counter() - start
        row = {"threads": threads, "questions": len(thread_batch), "wall_s": round(elapsed, 2),
               "qps": round(len(thread_batch) / elapsed, 2), "latency": pcts(lat)}
        out["library_threads"].append(row)
        log(f"throughput QA.ask x {threads} thread(s): {row['qps']} q/s, p50 {row['latency']['p50_ms']} ms")
    # The page's API through gradio_client.
    if args.no_gradio:
        out["gradio"] = {"skipped": "--no-gradio"}
    else:
        try:
            import importlib

            importlib.import_module("qa.web")
            log("throughput: starting the page in-process for gradio_client")
            out["gradio"] = _gradio_throughput(qa, questions, [1, 2, 4, 8], args.gradio_seconds, args.gradio_requests)
        except Exception as exc:  # noqa: BLE001 - optional part
            out["gradio"] = {"skipped": f"{exc.__class__.__name__}: {exc}"[:300]}
            log(f"throughput gradio skipped: {out['gradio']['skipped']}")
    out["note"] = ("the embedder serializes encode calls with a lock and Python code holds the GIL, so threads add "
                   "little on 2 cores. torch's thread count is per calling thread: qa.dense sets faiss (and so torch, "
                   "same libgomp) to 1 thread in the thread that loads the index; new threads (ThreadPoolExecutor, "
                   "gradio workers) start with the default (all cores), see torch_threads_*")
    return out


# ---------------------------------------------------------------- ingestion

def synthetic_corpus(folder: Path, n_passages: int, seed: int, per_article: int = 25) -> None:
    """Article files whose paragraphs are ~250-character recombinations of seed sentences (one passage each)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    s = sentences()
    for a in range((n_passages + per_article - 1) // per_article):
        paragraphs = [s.passage(s.passage_ids(rng)) for _ in range(min(per_article, n_passages - a * per_article))]
        text = f"Article synthétique numéro {a + 1}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"synthetic_{a:05d}.txt").write_text(text, encoding="utf-8")


def synthetic_embeddings(n: int = 256) -> np.ndarray:
    """Real-model embeddings of n synthetic passages (cached in bench/_work; reused as cluster centres)."""
    path = WORK / f"synthetic_embeddings_{n}.npy"
    if path.exists():
        return np.load(path)
    s = sentences()
    rng = random.Random(1)
    texts = [s.passage(s.passage_ids(rng)) for _ in range(n)]
    vectors = get_qa().embedder.encode_documents(texts)
    np.save(path, vectors)
    return vectors


def section_ingest(args) -> dict:
    from qa.build import build_index

    qa = get_qa()
    s = sentences()
    rng = random.Random(1)
    texts = [s.passage(s.passage_ids(rng)) for _ in range(args.embed_batch)]
    qa.embedder.encode_documents(texts[:32])  # warm-up
    vectors, t = timed(qa.embedder.encode_documents, texts)
    if len(texts) == 256 and not (WORK / "synthetic_embeddings_256.npy").exists():
        np.save(WORK / "synthetic_embeddings_256.npy", vectors)  # reused as cluster centres by the scale section
    out = {"embedding": {"passages": len(texts), "mean_chars": round(float(np.mean([len(x) for x in texts])), 1),
                         "seconds": round(t, 2), "passages_per_s": round(len(texts) / t, 1), "batch_size": 32},
           "builds": []}
    log(f"ingest: {out['embedding']['passages_per_s']} passages/s embedded ({len(texts)} x ~{out['embedding']['mean_chars']:.0f} chars)")
    for n in args.ingest_sizes:
        corpus = WORK / "ingest" / f"corpus_{n}"
        synthetic_corpus(corpus, n, seed=n)
        settings = qa.settings.with_(corpus_dir=corpus, index_dir=WORK / "ingest" / f"index_{n}")
        marks: list[tuple[float, str]] = []
        start = time.perf_counter()
        index = build_index(settings, qa.embedder, progress=lambda m: marks.append((time.perf_counter(), m)))
        total = time.perf_counter() - start

        def at(prefix: str) -> float | None:
            return next((t for t, m in marks if m.startswith(prefix)), None)
        t_sent, t_done = at("Embedding the passages' sentences"), at("Index written")
        t_embed = next((t for t, m in marks if m.startswith("Embedding") and "sentences" not in m), None)
        row = {"passages": len(index.passages), "articles": len(index.articles), "build_s": round(total, 2),
               "passages_per_s": round(len(index.passages) / total, 1),
               "index_bytes": sum(p.stat().st_size for p in settings.index_dir.rglob("*") if p.is_file()),
               "sentences": len(index.sentences.owner)}
        if t_embed and t_sent and t_done:
            row["stages_s"] = {"read_clean_chunk": round(t_embed - start, 2), "embed_passages": round(t_sent - t_embed, 2),
                               "sentences_and_write": round(t_done - t_sent, 2)}
        out["builds"].append(row)
        log(f"ingest: {row['passages']} passages indexed in {row['build_s']} s ({row.get('stages_s')})")
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(settings.index_dir, ignore_errors=True)
    out["note"] = ("build_index end to end (read, clean, chunk, embed passages, embed their sentences, write "
                   "and fsync) on synthetic articles of 25 paragraphs, each ~250 characters of recombined seed "
                   "sentences")
    return out


# ---------------------------------------------------------------- scale

def unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_vectors(kind: str, n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        data = np.empty((n, DIM), dtype=np.float32)
        for i in range(0, n, 100_000):
            data[i:i + 100_000] = rng.standard_normal((min(100_000, n - i), DIM), dtype=np.float32)
        queries = rng.standard_normal((n_queries, DIM), dtype=np.float32)
        return unit_rows(data), unit_rows(queries)
    # "clustered": a Gaussian kernel density estimate of real e5 passage embeddings (the seeds' 45 passages
    # and 256 synthetic recombinations): a real embedding plus noise drawn with the real data's covariance
    # (times a bandwidth), re-normalized. It keeps the anisotropy and low effective dimension of real
    # embeddings. Queries: the dev questions embedded by the real model (query prompt), as in use.
    centres = np.vstack([get_qa().index.embeddings, synthetic_embeddings(256)]).astype(np.float32)
    _u, sv, vt = np.linalg.svd(centres - centres.mean(0), full_matrices=False)
    scale = (sv / np.sqrt(len(centres) - 1)).astype(np.float32) * CLUSTER_BANDWIDTH
    data = np.empty((n, DIM), dtype=np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        g = rng.standard_normal((m, len(sv)), dtype=np.float32)
        data[i:i + m] = centres[rng.integers(0, len(centres), m)] + (g * scale) @ vt
    return unit_rows(data), dev_query_vectors()[:n_queries]


def dev_query_vectors() -> np.ndarray:
    path = WORK / "dev_query_vectors.npy"
    if path.exists():
        return np.load(path)
    vectors = get_qa().embedder.encode_queries([row["question"] for row in dev_questions()])
    np.save(path, vectors)
    return vectors


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def single_query_latency(index, queries: np.ndarray, k: int = 10, n: int | None = None) -> dict:
    import faiss

    n = n or len(queries)
    faiss.omp_set_num_threads(1)
    try:
        for q in queries[:5]:
            index.search(q.reshape(1, -1), k)
        times = []
        for q in queries[:n]:
            t = time.perf_counter()
            index.search(q.reshape(1, -1), k)
            times.append(time.perf_counter() - t)
    finally:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
    return pcts(times)


def faiss_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def tune(index, queries, truth, setter, values, target: float) -> tuple[list[dict], dict | None]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    curve, chosen = [], None
    for v in values:
        setter(v)
        _d, ids = index.search(queries, 10)
        r = recall_at(ids, truth)
        curve.append({"value": v, "recall_at_10": round(r, 4)})
        if r >= target:
            chosen = curve[-1]
            break
    return curve, chosen


def scale_faiss(kind: str, n: int, args) -> dict:
    import faiss

    log(f"scale {kind} N={n:,}: generating vectors")
    data, queries = make_vectors(kind, n, args.queries, seed=n)
    gc.collect()
    out: dict = {"n": n, "dim": DIM, "queries": len(queries)}
    # Exact search: the ground truth, and the Flat index measured like the others.
    base = rss_bytes()
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    t_build = time.perf_counter() - t
    rss_delta = rss_bytes() - base
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _d, truth = flat.search(queries, 10)
    lat = single_query_latency(flat, queries, n=args.latency_queries)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t2 = []
    for q in queries[:args.latency_queries]:
        t = time.perf_counter()
        flat.search(q.reshape(1, -1), 10)
        t2.append(time.perf_counter() - t)
    out["flat"] = {"build_s": round(t_build, 3), "disk_bytes": faiss_bytes(flat), "rss_delta_bytes": rss_delta,
                   "latency_1_thread": lat, f"latency_{os.cpu_count()}_threads": pcts(t2), "recall_at_10": 1.0}
    log(f"scale {kind} N={n:,}: Flat p50 {lat['p50_ms']} ms (1 thread), build {t_build:.2f} s")
    if "hnsw" in args.indexes:
        gc.collect()
        base = rss_bytes()
        hnsw = faiss.IndexHNSWFlat(DIM, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        _r, t_build = timed(hnsw.add, data)
        rss_delta = rss_bytes() - base
        curve, chosen = tune(hnsw, queries, truth, lambda v: setattr(hnsw.hnsw, "efSearch", v),
                             [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096],
                             args.target_recall)
        best = chosen or max(curve, key=lambda c: c["recall_at_10"])
        hnsw.hnsw.efSearch = best["value"]
        lat = single_query_latency(hnsw, queries, n=args.latency_queries)
        out["hnsw"] = {"M": args.hnsw_m, "efConstruction": hnsw.hnsw.efConstruction, "build_s": round(t_build, 2),
                       "build_threads": os.cpu_count(), "disk_bytes": faiss_bytes(hnsw), "rss_delta_bytes": rss_delta,
                       "efSearch": best["value"], "recall_at_10": best["recall_at_10"], "target_reached": chosen is not None,
                       "latency_1_thread": lat, "curve": curve}
        log(f"scale {kind} N={n:,}: HNSW build {t_build:.1f} s, efSearch {best['value']} → recall {best['recall_at_10']}, "
            f"p50 {lat['p50_ms']} ms")
        del hnsw
    if "ivf" in args.indexes:
        gc.collect()
        nlist = max(16, int(round(4 * n ** 0.5)))
        train_n = min(n, 40 * nlist)
        base = rss_bytes()
        quantizer = faiss.IndexFlatIP(DIM)
        ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = 20
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        sample = data[np.random.default_rng(0).choice(n, train_n, replace=False)] if train_n < n else data
        _r, t_train = timed(ivf.train, sample)
        _r, t_add = timed(ivf.add, data)
        rss_delta = rss_bytes() - base
        values = sorted({v for v in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384,
                                             512, 768, 1024, 1536, 2048, 3072) if v < nlist} | {nlist})
        curve, chosen = tune(ivf, queries, truth, lambda v: setattr(ivf, "nprobe", v), values, args.target_recall)
        best = chosen or max(curve, key=lambda c: c["recall_at_10"])
        ivf.nprobe = best["value"]
        lat = single_query_latency(ivf, queries, n=args.latency_queries)
        out["ivf_flat"] = {"nlist": nlist, "train_points": train_n, "kmeans_iterations": 20,
                           "build_s": round(t_train + t_add, 2), "train_s": round(t_train, 2), "add_s": round(t_add, 2),
                           "build_threads": os.cpu_count(), "disk_bytes": faiss_bytes(ivf), "rss_delta_bytes": rss_delta,
                           "nprobe": best["value"], "recall_at_10": best["recall_at_10"], "target_reached": chosen is not None,
                           "latency_1_thread": lat, "curve": curve}
        log(f"scale {kind} N={n:,}: IVF-Flat nlist {nlist} build {t_train + t_add:.1f} s, nprobe {best['value']} → "
            f"recall {best['recall_at_10']}, p50 {lat['p50_ms']} ms")
        del ivf, quantizer
    del flat, data
    gc.collect()
    return out


def scale_bm25(n: int, args) -> dict:
    import bm25s

    from qa.store import bm25_top
    from qa.text import terms

    s = sentences()
    rng = random.Random(n)
    log(f"scale bm25 N={n:,}: making passages")
    gc.collect()
    base = rss_bytes()
    corpus = [s.passage_terms(s.passage_ids(rng)) for _ in range(n)]
    # The real tokenizer (qa.text.terms) on distinct passages, to extrapolate its cost at N.
    sample = [s.passage(s.passage_ids(rng)) for _ in range(2000)]
    _t, t_tok = timed(lambda: [terms(x) for x in sample])
    bm25 = bm25s.BM25()
    _r, t_index = timed(bm25.index, corpus, show_progress=False)
    del corpus
    gc.collect()
    rss_delta = rss_bytes() - base  # what the index keeps once the token lists are freed (approximate)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        bm25.save(tmp, show_progress=False)
        disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    # a StoreView's lexical side, used before the `del bm25` below (which ruff reads as leaving the name undefined)
    holder = SimpleNamespace(lexical_search=lambda q, k: bm25_top(bm25, q, k))  # noqa: F821
    queries = [[t for t in terms(row["question"]) if t in bm25.vocab_dict] for row in dev_questions()]
    queries = [q for q in queries if q]
    for q in queries[:5]:
        holder.lexical_search(q, 50)
    times = []
    for _ in range(2):
        for q in queries:
            t = time.perf_counter()
            holder.lexical_search(q, 50)
            times.append(time.perf_counter() - t)
    tok_rate = len(sample) / t_tok
    out = {"n": n, "index_s": round(t_index, 2), "tokenize_passages_per_s": round(tok_rate, 1),
           "tokenize_s_estimated": round(n / tok_rate, 2), "build_s": round(t_index + n / tok_rate, 2),
           "disk_bytes": disk, "rss_delta_bytes": rss_delta, "vocabulary": len(bm25.vocab_dict),
           "latency": pcts(times)}
    log(f"scale bm25 N={n:,}: index {t_index:.1f} s (+{n / tok_rate:.1f} s tokenizing), query p50 "
        f"{out['latency']['p50_ms']} ms")
    del bm25, holder
    gc.collect()
    return out


def section_scale(args, previous: dict | None) -> dict:
    out = previous if isinstance(previous, dict) else {}
    out["note"] = ("Only the index is measured here, not the model. 'random' = i.i.d. Gaussian vectors of dim 384 "
                   "normalized to unit length, queries likewise (the worst case for approximate search: no structure, "
                   "neighbours barely closer than anyone else). 'clustered' = a Gaussian kernel density estimate of "
                   "real e5 passage embeddings (the 45 seed passages and 256 synthetic recombinations): one of them "
                   f"plus noise with their covariance times {CLUSTER_BANDWIDTH}, re-normalized (keeps the anisotropy and "
                   "low effective dimension of real embeddings); queries = the dev questions embedded by the real "
                   "model. Ground truth: exact search (IndexFlatIP). Parameters tuned on the same queries (smallest "
                   "efSearch / nprobe with recall@10 >= target). Latency: one query at a time, "
                   "faiss.omp_set_num_threads(1) (a single query with 2 OpenMP threads is slower here, see the flat "
                   "entries); builds use all cores. bm25s: synthetic French passages (~250 characters) recombined "
                   "from seed sentences, tokens computed per sentence and concatenated (identical to qa.text.terms "
                   "on the passage); tokenizing cost extrapolated from qa.text.terms on 2,000 distinct passages; "
                   "queries = the dev questions' terms present in the vocabulary, through "
                   "a StoreView.lexical_search (top 50). A recombined corpus has a small vocabulary (the seeds'), "
                   "so postings are denser than in real news: bm25 latency is pessimistic. rss_delta_bytes = change "
                   "of VmRSS across the build: approximate (below ~32 MB glibc reuses freed heap and it can read 0); "
                   "a FAISS index's memory is about its disk_bytes.")
    out["target_recall_at_10"] = args.target_recall
    for kind in args.kinds:
        table = out.setdefault(kind, {})
        for n in args.scales:
            if kind == "clustered" and n > args.clustered_max:
                log(f"scale clustered N={n:,}: skipped (> --clustered-max {args.clustered_max:,})")
                continue
            table[str(n)] = scale_faiss(kind, n, args)
            table[str(n)]["meta"] = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                     "load_average": [round(x, 2) for x in os.getloadavg()]}
    if not args.no_bm25:
        table = out.setdefault("bm25", {})
        for n in args.scales:
            table[str(n)] = scale_bm25(n, args)
    return out


# ---------------------------------------------------------------- the automatic index choice (qa.dense.build_dense)

def section_dense(args) -> dict:
    """qa.dense.build_dense as qa runs it (auto, and IVF forced), on clustered vectors, checked with real questions."""
    import faiss

    from qa.dense import build_dense
    from qa.settings import Settings

    out: dict = {"note": "qa.dense.build_dense on 'clustered' vectors (see scale). The build tunes nprobe on 200 "
                         "query-side sentence vectors (as write_index does with the passages' sentences; here the seeds' "
                         "sentences, embedded by the real model); recall_at_10_dev_questions re-measures it with the 113 "
                         "dev questions embedded by the real model (a different distribution: questions, query prompt) "
                         "against exact search. Latency: one query at a time, 1 FAISS thread (what qa sets). build_s "
                         "includes training, adding and the recall sweep, on all cores.",
                 "runs": {}}
    WORK.joinpath("memory").mkdir(parents=True, exist_ok=True)
    # The probes qa's build uses: the passages' sentences embedded as queries; here the seeds' sentences.
    probes = np.asarray(get_qa().index.sentences.vectors, dtype=np.float32)
    for n in args.dense_scales:
        data, queries = make_vectors("clustered", n, args.queries, seed=n)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        _d, truth = faiss.knn(queries, data, 10, metric=faiss.METRIC_INNER_PRODUCT)
        for requested in (["auto"] if n > 250_000 else ["auto", "ivf"]):
            settings = Settings(index_type=requested)
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            gc.collect()
            t = time.perf_counter()
            dense, info = build_dense(data, settings, progress=lambda m: log(f"  dense: {m}"), queries=probes)
            build_s = time.perf_counter() - t
            _d, found = dense.search(queries, 10)
            row = {"n": n, "requested": requested, "built": info, "build_s": round(build_s, 2),
                   "recall_at_10_dev_questions": round(recall_at(found, truth), 4),
                   "latency_1_thread": single_query_latency(dense, queries, n=args.latency_queries),
                   "disk_bytes": faiss_bytes(dense)}
            faiss.omp_set_num_threads(1)
            out["runs"][f"{n}_{requested}"] = row
            log(f"dense N={n:,} {requested}: built {info['type']} ({ {k: info[k] for k in ('nlist', 'nprobe') if k in info} }) "
                f"in {build_s:.1f} s, recall@10 build {info.get('recall_at_10', 1.0)} / dev questions "
                f"{row['recall_at_10_dev_questions']}, p50 {row['latency_1_thread']['p50_ms']} ms")
            if n == max(args.dense_scales) and args.keep_for_memory:
                faiss.write_index(dense, str(WORK / "memory" / f"{info['type']}.faiss"))
                np.save(WORK / "memory" / "queries.npy", queries)
            del dense
        if n == max(args.dense_scales) and args.keep_for_memory:
            flat = faiss.IndexFlatIP(DIM)
            flat.add(data)
            faiss.write_index(flat, str(WORK / "memory" / "flat.faiss"))
            del flat
        del data
        gc.collect()
    return out


_MEMORY_CHILD = r"""
import json, sys, time
import numpy as np
import faiss
def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields
path, mmap, queries_path = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
queries = np.load(queries_path)
faiss.omp_set_num_threads(1)
before = status()
t = time.perf_counter()
index = faiss.read_index(path, (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY) if mmap else 0)
load_s = time.perf_counter() - t
after_load = status()
times = []
for q in queries:
    t = time.perf_counter()
    index.search(q.reshape(1, -1), 10)
    times.append(time.perf_counter() - t)
after_search = status()
print(json.dumps({"type": type(index).__name__, "load_s": load_s, "before": before, "after_load": after_load,
                  "after_search": after_search, "search_p50_ms": 1000 * float(np.median(times))}))
"""


def section_memory(args) -> dict:
    """RSS of a process holding the largest index of the dense section, read into memory or memory-mapped."""
    folder = WORK / "memory"
    files = sorted(folder.glob("*.faiss")) if folder.is_dir() else []
    if not files:
        raise RuntimeError("no index saved: run the dense section first (--only dense,memory)")
    out: dict = {"note": "a fresh process per row: faiss.read_index of the file, then the dev questions searched one at a "
                         "time (1 thread). RssAnon = private memory (a read copy); RssFile = file pages mapped from the "
                         "OS page cache (shared by every process mapping the file, evictable). Flags: "
                         "IO_FLAG_MMAP_IFC | IO_FLAG_READ_ONLY, as qa.dense opens it (Settings.index_mmap).",
                 "rows": []}
    for path in files:
        for mmap in (False, True):
            child = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), "1" if mmap else "0",
                                    str(folder / "queries.npy")], capture_output=True, text=True, env=qa_env(), timeout=900)
            if child.returncode != 0:
                raise RuntimeError(f"memory child failed: {child.stderr[-400:]}")
            r = json.loads(child.stdout.strip().splitlines()[-1])
            mib = lambda b: round(b / 2**20, 1)  # noqa: E731
            row = {"file": path.name, "file_mib": mib(path.stat().st_size), "mmap": mmap, "index": r["type"],
                   "load_s": round(r["load_s"], 3), "search_p50_ms": round(r["search_p50_ms"], 3)}
            for when in ("after_load", "after_search"):
                row[when] = {k: mib(r[when].get(k, 0) - (r["before"].get(k, 0) if k != "VmHWM" else 0))
                             for k in ("VmRSS", "RssAnon", "RssFile")}
            out["rows"].append(row)
            log(f"memory {path.name} mmap={mmap}: load {row['load_s']} s, after search RSS +{row['after_search']['VmRSS']} MiB "
                f"(anon +{row['after_search']['RssAnon']}, file +{row['after_search']['RssFile']}), p50 {row['search_p50_ms']} ms")
    return out


# ---------------------------------------------------------------- a large corpus through the real pipeline

class SyntheticDocumentEmbedder:
    """The real model for queries (questions, the passages' sentences); 'clustered' vectors for passages.

    Embedding a million passages with the model would take hours on 2 cores (see ingest), so passage
    vectors are drawn from the clustered model; everything else in build_index and QA.ask is qa's own code.
    """

    def __init__(self, real, seed: int):
        self.name, self.dim = real.name, real.dim
        self._real = real
        self._rng = np.random.default_rng(seed)
        self.seconds = 0.0

    def encode_queries(self, texts):
        return self._real.encode_queries(texts)

    def encode_documents(self, texts, progress=False):
        t = time.perf_counter()
        vectors, _q = make_vectors("clustered", len(texts), 1, seed=int(self._rng.integers(1 << 31)))
        self.seconds += time.perf_counter() - t
        return vectors


def section_pipeline(args) -> dict:
    """build_index and QA.ask on a synthetic corpus of args.pipeline passages (recombined seed sentences)."""
    from qa.build import build_index
    from qa.index import load_index
    from qa.service import QA
    from qa.store import EmbeddedView

    n = args.pipeline
    qa = get_qa()
    folder = WORK / "pipeline"
    corpus, index_dir = folder / f"corpus_{n}", folder / f"index_{n}"
    shutil.rmtree(index_dir, ignore_errors=True)
    log(f"pipeline N={n:,}: writing the synthetic corpus")
    t = time.perf_counter()
    synthetic_corpus(corpus, n, seed=n)
    corpus_s = time.perf_counter() - t
    settings = qa.settings.with_(corpus_dir=corpus, index_dir=index_dir)
    embedder = SyntheticDocumentEmbedder(qa.embedder, seed=n)
    marks: list[tuple[float, str]] = []

    def progress(message):
        marks.append((time.perf_counter(), message))
        log(f"  qa: {message}")
    gc.collect()
    rss0 = rss_bytes()
    start = time.perf_counter()
    built = build_index(settings, embedder, progress)
    build_s = time.perf_counter() - start
    dense_info = built.manifest["dense"]
    n_passages = len(built.passages)
    del built
    gc.collect()
    stages = {"read_clean_chunk_s": round(next(t for t, m in marks if m.startswith("Embedding ")) - start, 1),
              "passage_vectors_s (synthetic)": round(embedder.seconds, 1)}
    log(f"pipeline N={n_passages:,}: built in {build_s:.0f} s ({dense_info})")
    # A fresh load, as `qa ask` does: verify checksums, parse, open the vectors memory-mapped.
    gc.collect()
    rss_before_load = rss_bytes()
    t = time.perf_counter()
    index = load_index(index_dir, settings, embedder.name)
    load_s = time.perf_counter() - t
    view = EmbeddedView(index)
    rss_loaded = rss_bytes()
    session = QA(settings, embedder=qa.embedder, index=index)
    questions = [row["question"] for row in dev_questions()]
    for q in questions[:10]:
        session.ask(q)
    e2e, dense_t, bm25_t, prepare_t = [], [], [], []
    for _ in range(args.pipeline_reps):
        for q in questions:
            e2e.append(timed(session.ask, q)[1])
            (query,), t_prep = timed(session.prepare, [q])
            prepare_t.append(t_prep)
            dense_t.append(timed(view.dense_search, query.vector, 30)[1])
            bm25_t.append(timed(view.lexical_search, query.own_terms, 30)[1])
    out = {"passages": n_passages, "articles": len(index.articles), "corpus_write_s": round(corpus_s, 1),
           "build_s": round(build_s, 1), "build_stages": stages,
           "build_marks_s": {m[:60]: round(t - start, 1) for t, m in marks},
           "dense": dense_info, "index_bytes": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()),
           "load_s": round(load_s, 1), "rss_mib": {"before_build": round(rss0 / 2**20), "before_load": round(rss_before_load / 2**20),
                                                  "after_load": round(rss_loaded / 2**20), "after_questions": round(rss_bytes() / 2**20)},
           "end_to_end": pcts(e2e), "prepare": pcts(prepare_t), "dense_search": pcts(dense_t), "bm25": pcts(bm25_t),
           "questions": len(questions), "rounds": args.pipeline_reps,
           "note": "qa's build_index and QA.ask on synthetic articles of 25 paragraphs of ~250 characters recombined "
                   "from seed sentences; passage vectors drawn from the 'clustered' model (the real model would take "
                   "hours: see ingest), questions and the passages' sentences embedded by the real model. Default "
                   "settings: the index type is chosen automatically, vectors memory-mapped. RSS of this benchmark "
                   "process (which also holds the model and the seed index)."}
    log(f"pipeline N={n_passages:,}: load {load_s:.1f} s, end to end p50 {out['end_to_end']['p50_ms']} ms, p95 "
        f"{out['end_to_end']['p95_ms']} ms (dense {out['dense_search']['p50_ms']}, bm25 {out['bm25']['p50_ms']}, "
        f"prepare {out['prepare']['p50_ms']})")
    del session, index
    gc.collect()
    if not args.keep_pipeline:
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.rmtree(index_dir, ignore_errors=True)
    return out


# ---------------------------------------------------------------- recommendation

def recommendation(results: dict, budget_ms: float = 60.0) -> dict:
    scale = results.get("scale") or {}
    random_ = scale.get("random") or {}
    points = sorted((int(n), r["flat"]["latency_1_thread"]["p50_ms"]) for n, r in random_.items() if "flat" in r)
    if len(points) < 2:
        return {"note": "needs the scale section at two sizes or more"}
    ns = np.array([p[0] for p in points], float)
    ts = np.array([p[1] for p in points], float)
    slope, intercept = np.polyfit(ns, ts, 1)  # ms = intercept + slope * N (exact search is linear in N)
    out: dict = {"budget_p50_ms": budget_ms,
                 "flat_p50_model_ms": {"intercept_ms": round(float(intercept), 4), "per_100k_ms": round(float(slope) * 1e5, 3)}}
    out["flat_search_alone_max_n"] = int(max(0.0, (budget_ms - intercept) / slope)) if slope > 0 else None
    lat = results.get("latency") or {}
    bm25 = scale.get("bm25") or {}
    if lat and bm25:
        # End to end at N ~ seed-scale p50 - seed dense - seed BM25 + Flat(N) + BM25(N).
        rest = lat["end_to_end"]["p50_ms"] - lat["stages"]["rank"]["p50_ms"]  # rank holds both searches (an upper bound)
        bpts = sorted((int(n), r["latency"]["p50_ms"]) for n, r in bm25.items())
        b_slope, b_int = np.polyfit([p[0] for p in bpts], [p[1] for p in bpts], 1) if len(bpts) >= 2 else (0.0, bpts[0][1])
        per_n = slope + b_slope
        n_e2e = (budget_ms - rest - intercept - b_int) / per_n if per_n > 0 else None
        out["end_to_end_rest_p50_ms"] = round(rest, 2)
        out["bm25_p50_model_ms"] = {"intercept_ms": round(float(b_int), 4), "per_100k_ms": round(float(b_slope) * 1e5, 3)}
        out["flat_end_to_end_max_n"] = int(max(0.0, n_e2e)) if n_e2e is not None else None
    ann = {}
    for kind in ("random", "clustered"):
        for n, r in sorted(((int(n), r) for n, r in (scale.get(kind) or {}).items()), key=lambda x: x[0]):
            choices = []
            for name, key in (("hnsw", "efSearch"), ("ivf_flat", "nprobe")):
                if name in r and r[name].get("target_reached"):
                    choices.append({"index": name, key: r[name][key], "recall_at_10": r[name]["recall_at_10"],
                                    "p50_ms": r[name]["latency_1_thread"]["p50_ms"], "build_s": r[name]["build_s"],
                                    **({"M": r[name]["M"]} if name == "hnsw" else {"nlist": r[name]["nlist"]})})
            choices.sort(key=lambda c: c["p50_ms"])
            flat_p50 = r["flat"]["latency_1_thread"]["p50_ms"]
            faster = [c for c in choices if c["p50_ms"] < flat_p50]
            ann.setdefault(kind, {})[str(n)] = {"flat_p50_ms": flat_p50,
                                                "fastest_meeting_recall_and_faster_than_flat": faster[0] if faster else None,
                                                "all_meeting_recall": choices}
    out["ann"] = ann
    return out


# ---------------------------------------------------------------- figures

def _footer(fig, m: dict) -> None:
    fig.text(0.01, 0.005, meta_line(m), fontsize=7, color="#555555", ha="left", va="bottom")


def _save(fig, m: dict, name: str, top: float = 1.0) -> str:
    """Lay out a figure above its machine/versions footer, write bench/NAME and close it; returns NAME."""
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.03, 1, top))
    _footer(fig, m)
    fig.savefig(BENCH / name, dpi=120)
    plt.close(fig)
    return name


def plot_all(results: dict) -> list[str]:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    m = results.get("meta") or {}

    lat = results.get("latency")
    if lat and "stages" in lat:
        sm = (results.get("meta_by_section") or {}).get("latency", m)
        names = list(lat["stages"])
        p50 = [lat["stages"][s]["p50_ms"] for s in names]
        p95 = [lat["stages"][s]["p95_ms"] for s in names]
        fig, ax = plt.subplots(figsize=(10, 5.2))
        x = np.arange(len(names))
        ax.bar(x - 0.2, p50, 0.4, label="p50")
        ax.bar(x + 0.2, p95, 0.4, label="p95")
        ax.set_xticks(x, [s.replace("_", "\n") for s in names])
        ax.set_ylabel("ms per question")
        e = lat["end_to_end"]
        ax.axhline(e["p50_ms"], color="k", ls="--", lw=1, label=f"end to end p50 {e['p50_ms']:.1f} ms (p95 {e['p95_ms']:.1f}, p99 {e['p99_ms']:.1f})")
        phys = results.get("physical") or {}
        if "model_forward_median_ms" in phys:
            ax.axhline(phys["model_forward_median_ms"], color="tab:red", ls=":", lw=1,
                       label=f"one model forward pass {phys['model_forward_median_ms']:.1f} ms")
        for i, (a, _b) in enumerate(zip(p50, p95)):
            ax.text(i - 0.2, a, f"{a:.1f}", ha="center", va="bottom", fontsize=7)
        ax.set_title(f"Query latency by stage, seed corpus ({lat['passages']} passages, {lat['samples']} questions asked, "
                     f"hybrid, k={lat['k']})", fontsize=10)
        ax.legend(fontsize=8)
        written.append(_save(fig, sm, "latency_breakdown.png"))

    scale = results.get("scale")
    if scale and (scale.get("random") or scale.get("clustered")):
        sm = (results.get("meta_by_section") or {}).get("scale", m)
        fig, axes = plt.subplots(1, 3, figsize=(15, 5))
        styles = {"flat": ("Flat (exact)", "o"), "hnsw": ("HNSW M=32", "s"), "ivf_flat": ("IVF-Flat", "^")}
        for kind, ls in (("random", "-"), ("clustered", "--")):
            table = scale.get(kind) or {}
            ns = sorted(int(n) for n in table)
            if not ns:
                continue
            for name, (label, marker) in styles.items():
                pts = [(n, table[str(n)][name]) for n in ns if name in table[str(n)]]
                if not pts:
                    continue
                xs = [p[0] for p in pts]
                axes[0].plot(xs, [p[1]["latency_1_thread"]["p50_ms"] for p in pts], ls=ls, marker=marker, label=f"{label} · {kind}")
                missed = [(n, p) for n, p in pts if p.get("target_reached") is False]
                if missed:
                    axes[0].scatter([n for n, _ in missed], [p["latency_1_thread"]["p50_ms"] for _, p in missed], s=140,
                                    marker="x", color="k", zorder=5)
                    for n, p in missed:
                        axes[0].annotate(f"recall {p['recall_at_10']:.2f} < target", (n, p["latency_1_thread"]["p50_ms"]),
                                         fontsize=7, textcoords="offset points", xytext=(-95, 6))
                axes[1].plot(xs, [max(p[1]["build_s"], 1e-3) for p in pts], ls=ls, marker=marker, label=f"{label} · {kind}")
                if name != "flat":
                    axes[2].plot(xs, [p[1]["recall_at_10"] for p in pts], ls=ls, marker=marker, label=f"{label} · {kind}")
                    offset = {("hnsw", "random"): 8, ("ivf_flat", "random"): -12,
                              ("hnsw", "clustered"): 20, ("ivf_flat", "clustered"): -24}[(name, kind)]
                    for n, p in pts:
                        param = p.get("efSearch", p.get("nprobe"))
                        axes[2].annotate(("ef=" if "efSearch" in p else "nprobe=") + str(param), (n, p["recall_at_10"]),
                                         fontsize=7, textcoords="offset points", xytext=(4, offset),
                                         color=axes[2].lines[-1].get_color())
        bm = scale.get("bm25") or {}
        if bm:
            ns = sorted(int(n) for n in bm)
            axes[0].plot(ns, [bm[str(n)]["latency"]["p50_ms"] for n in ns], color="gray", marker="d", label="bm25s (lexical_ranking)")
            axes[1].plot(ns, [bm[str(n)]["build_s"] for n in ns], color="gray", marker="d", label="bm25s (tokenize + index)")
        axes[0].axhline(60, color="tab:red", ls=":", lw=1, label="60 ms")
        axes[0].set(xscale="log", yscale="log", xlabel="passages N", ylabel="p50 ms, one query, 1 thread", title="Query latency (at tuned parameters)")
        axes[1].set(xscale="log", yscale="log", xlabel="passages N", ylabel="seconds", title="Build time (all cores)")
        axes[2].axhline(scale.get("target_recall_at_10", 0.95), color="tab:red", ls=":", lw=1)
        axes[2].set(xscale="log", xlabel="passages N", ylabel="recall@10 vs exact", title="Recall@10 at the chosen parameter\n(smallest reaching the target, else the best tried)",
                    ylim=(min([0.85] + [y for line in axes[2].lines for y in line.get_ydata()]) - 0.03, 1.02))
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("FAISS index types vs corpus size (dim 384; solid = random vectors, dashed = clustered)", fontsize=10)
        written.append(_save(fig, sm, "scale.png", top=0.96))

    thr = results.get("throughput")
    if thr and "library_threads" in thr:
        sm = (results.get("meta_by_section") or {}).get("throughput", m)
        fig, ax = plt.subplots(figsize=(8, 5))
        rows = thr["library_threads"]
        ax.plot([r["threads"] for r in rows], [r["qps"] for r in rows], marker="o", label="QA.ask, in-process threads")
        levels = (thr.get("gradio") or {}).get("levels") or []
        if levels:
            ax.plot([r["clients"] for r in levels], [r["qps"] for r in levels], marker="s", label="page /ask via gradio_client")
        if "library_ask_many" in thr:
            ax.axhline(thr["library_ask_many"]["qps"], color="tab:green", ls="--", lw=1,
                       label=f"QA.ask_many batch ({thr['library_ask_many']['qps']:.0f} q/s)")
        if "cli_batch" in thr:
            c = thr["cli_batch"]
            ax.axhline(c["qps_including_startup"], color="tab:purple", ls=":", lw=1,
                       label=f"qa ask --json, {c['questions']} questions ({c['qps_including_startup']:.0f} q/s with startup)")
        ax.set(xscale="log", xlabel="concurrent threads / clients", ylabel="questions per second",
               title="Throughput on the seed corpus")
        ax.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(fig, sm, "throughput.png"))

    ing = results.get("ingest")
    if ing and ing.get("builds"):
        sm = (results.get("meta_by_section") or {}).get("ingest", m)
        fig, ax = plt.subplots(figsize=(8, 5))
        rows = ing["builds"]
        ax.plot([r["passages"] for r in rows], [r["build_s"] for r in rows], marker="o", label="build_index total")
        if all("stages_s" in r for r in rows):
            ax.plot([r["passages"] for r in rows], [r["stages_s"]["embed_passages"] for r in rows], marker="s", label="embedding passages")
        ax.set(xscale="log", yscale="log", xlabel="passages", ylabel="seconds",
               title=f"Index build with the real model ({ing['embedding']['passages_per_s']:.0f} passages/s embedded)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(fig, sm, "ingest.png"))
    return written


# ---------------------------------------------------------------- markdown summary

def summary_markdown(results: dict) -> str:
    """The key numbers of bench/results.json as Markdown tables (for bench/README.md)."""
    lines: list[str] = []
    m = results.get("meta") or {}
    lines.append(f"Machine: {m.get('cpu_model')}, {m.get('cpu_count')} CPU, {m.get('ram_gib')} GiB; Python {m.get('python')}, "
                 f"faiss {m.get('faiss')}, bm25s {m.get('bm25s')}, torch {m.get('torch')}, sentence-transformers "
                 f"{m.get('sentence_transformers')}; code {m.get('git', {}).get('commit')}; {m.get('date', '')[:10]}.")
    lat = results.get("latency") or {}
    if "end_to_end" in lat:
        lines += ["", f"Seed corpus ({lat['passages']} passages), {lat['questions']} dev questions x {lat['rounds']} rounds, hybrid, k={lat['k']}:",
                  "", "| stage | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|"]
        e = lat["end_to_end"]
        lines.append(f"| **end to end (QA.ask)** | **{e['p50_ms']:.1f}** | **{e['p95_ms']:.1f}** | **{e['p99_ms']:.1f}** |")
        for name, v in lat["stages"].items():
            lines.append(f"| {name.replace('_', ' ')} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} | {v['p99_ms']:.2f} |")
        for lang, v in lat.get("end_to_end_by_language", {}).items():
            lines.append(f"| end to end, {lang} questions | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | {v['p99_ms']:.1f} |")
    phys = results.get("physical") or {}
    if phys:
        by = phys.get("model_forward_median_ms_by_torch_threads", {})
        th = phys.get("model_forward_by_calling_thread", {})
        lines += ["", f"Physical limit: one forward pass of the model for a {phys['tokens']}-token query: "
                      f"{phys['model_forward_median_ms']:.1f} ms median ({', '.join(f'{k} thread(s) {v:.1f} ms' for k, v in by.items())}); "
                      f"encode_queries {phys['encode_queries_median_ms']:.1f} ms"
                      + (f"; the same forward from a worker thread: {th['worker_thread_ms']:.1f} ms (main thread {th['main_thread_ms']:.1f} ms)" if th else "")
                      + (f". End-to-end p50 = {lat['end_to_end']['p50_ms'] / phys['model_forward_median_ms']:.1f} x one forward pass." if "end_to_end" in lat else ".")]
    cold = results.get("cold_start") or {}
    if "cli" in cold:
        lines += ["", "| cold start (process start → answer) | median s | min–max s | peak RSS MiB |", "|---|---|---|---|"]
        for name in ("cli", "library"):
            c = cold[name]
            lines.append(f"| {name} | {c['first_answer']['median_s']:.2f} | {c['first_answer']['min_s']:.2f}–{c['first_answer']['max_s']:.2f} | {c['peak_rss_mib']:.0f} |")
        ph = cold["library"].get("phases_median_s")
        if ph:
            lines.append("")
            lines.append("Library phases (median s): " + ", ".join(f"{k[:-2].replace('_', ' ')} {v:.2f}" for k, v in ph.items()) + ".")
    thr = results.get("throughput") or {}
    if "cli_batch" in thr:
        c = thr["cli_batch"]
        lines += ["", "| throughput | questions/s |", "|---|---|",
                  f"| `qa ask --json`, {c['questions']} questions on stdin, including startup | {c['qps_including_startup']:.1f} |",
                  f"| same, excluding startup | {c['qps_excluding_startup']:.1f} |"]
        if "library_ask_many" in thr:
            lines.append(f"| `QA.ask_many` ({thr['library_ask_many']['questions']} questions, one process) | {thr['library_ask_many']['qps']:.1f} |")
        for r in thr.get("library_threads", []):
            lines.append(f"| `QA.ask` from {r['threads']} thread(s) (p50 {r['latency']['p50_ms']:.0f} ms) | {r['qps']:.1f} |")
        for r in (thr.get("gradio") or {}).get("levels", []):
            lines.append(f"| page `/ask` via gradio_client, {r['clients']} client(s) (p50 {r['latency'].get('p50_ms', 0):.0f} ms, {r['errors']} errors) | {r['qps']:.1f} |")
        if (thr.get("gradio") or {}).get("skipped"):
            lines.append(f"| page `/ask`: skipped ({thr['gradio']['skipped']}) | |")
    ing = results.get("ingest") or {}
    if "embedding" in ing:
        e = ing["embedding"]
        lines += ["", f"Ingestion: {e['passages_per_s']:.0f} passages/s embedded ({e['passages']} passages of ~{e['mean_chars']:.0f} characters).",
                  "", "| passages | build_index s | of which embedding s | passages/s | index on disk MB |", "|---|---|---|---|---|"]
        for r in ing.get("builds", []):
            lines.append(f"| {r['passages']:,} | {r['build_s']:.1f} | {r.get('stages_s', {}).get('embed_passages', float('nan')):.1f} | "
                         f"{r['passages_per_s']:.0f} | {r['index_bytes'] / 1e6:.1f} |")
    scale = results.get("scale") or {}
    rows = []
    for kind in ("random", "clustered"):
        for n, r in sorted(((int(n), r) for n, r in (scale.get(kind) or {}).items()), key=lambda x: x[0]):
            f = r["flat"]
            rows.append(f"| {kind} | {n:,} | Flat (exact) | – | 1.000 | {f['latency_1_thread']['p50_ms']:.2f} | {f['latency_1_thread']['p95_ms']:.2f} | "
                        f"{f['build_s']:.2f} | {f['disk_bytes'] / 1e6:.0f} | {f['rss_delta_bytes'] / 1e6:.0f} |")
            for name, label, key in (("hnsw", "HNSW M=32", "efSearch"), ("ivf_flat", "IVF-Flat", "nprobe")):
                if name in r:
                    x = r[name]
                    param = f"{key}={x[key]}" + (f" (nlist {x['nlist']})" if name == "ivf_flat" else "")
                    flag = "" if x["target_reached"] else " (target not reached)"
                    rows.append(f"| {kind} | {n:,} | {label} | {param} | {x['recall_at_10']:.3f}{flag} | {x['latency_1_thread']['p50_ms']:.2f} | "
                                f"{x['latency_1_thread']['p95_ms']:.2f} | {x['build_s']:.1f} | {x['disk_bytes'] / 1e6:.0f} | {x['rss_delta_bytes'] / 1e6:.0f} |")
    for n, r in sorted(((int(n), r) for n, r in (scale.get("bm25") or {}).items()), key=lambda x: x[0]):
        rows.append(f"| French text | {n:,} | bm25s | top 50 | – | {r['latency']['p50_ms']:.2f} | {r['latency']['p95_ms']:.2f} | "
                    f"{r['build_s']:.1f} | {r['disk_bytes'] / 1e6:.0f} | {r['rss_delta_bytes'] / 1e6:.0f} |")
    if rows:
        lines += ["", "| vectors | N | index | parameter | recall@10 | p50 ms | p95 ms | build s | disk MB | RSS Δ MB |",
                  "|---|---|---|---|---|---|---|---|---|---|", *rows]
    rec = results.get("recommendation") or {}
    if "flat_search_alone_max_n" in rec:
        lines += ["", f"Flat p50 ≈ {rec['flat_p50_model_ms']['intercept_ms']:.2f} + {rec['flat_p50_model_ms']['per_100k_ms']:.2f} ms per 100k passages "
                      f"→ ≤ {rec['budget_p50_ms']:.0f} ms up to N ≈ {rec['flat_search_alone_max_n']:,} (search alone)"
                      + (f"; end to end (the rest of the pipeline {rec['end_to_end_rest_p50_ms']:.1f} ms, BM25 "
                         f"+{rec['bm25_p50_model_ms']['per_100k_ms']:.2f} ms per 100k) up to N ≈ {rec['flat_end_to_end_max_n']:,}."
                         if rec.get("flat_end_to_end_max_n") is not None else ".")]
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    mult = 1
    if text.endswith("k"):
        mult, text = 1_000, text[:-1]
    elif text.endswith("m"):
        mult, text = 1_000_000, text[:-1]
    return int(float(text) * mult)


def snapshot_code() -> str:
    """Extract HEAD's qa/ into bench/_work/snapshot (for when the working tree is mid-edit)."""
    dest = WORK / "snapshot"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD", "qa"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return str(dest)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="10k,100k", help="scale sizes (comma-separated, e.g. 10k,100k)")
    p.add_argument("--full", action="store_true", help="add the 1M scale runs")
    p.add_argument("--only", default=",".join(s for s in SECTIONS if s not in OPT_IN), help=f"sections to run ({','.join(SECTIONS)})")
    p.add_argument("--kinds", default="random,clustered", help="vector kinds for the scale section")
    p.add_argument("--indexes", default="flat,hnsw,ivf", help="FAISS index types beyond Flat (hnsw, ivf)")
    p.add_argument("--no-bm25", action="store_true", help="skip bm25s in the scale section")
    p.add_argument("--clustered-max", type=parse_size, default=1_000_000, help="largest N for clustered vectors")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--queries", type=int, default=200, help="queries for recall")
    p.add_argument("--latency-queries", type=int, default=200, help="single queries timed per index")
    p.add_argument("--reps", type=int, default=3, help="rounds over the dev questions for query latency")
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--batch", type=int, default=500, help="questions in the CLI and ask_many batches")
    p.add_argument("--thread-batch", type=int, default=230, help="questions per thread-count level")
    p.add_argument("--no-gradio", action="store_true")
    p.add_argument("--gradio-seconds", type=float, default=12.0, help="time cap per concurrency level")
    p.add_argument("--gradio-requests", type=int, default=80, help="request cap per concurrency level")
    p.add_argument("--embed-batch", type=int, default=256)
    p.add_argument("--ingest-sizes", default="200,1k,2k")
    p.add_argument("--no-reference", action="store_true", help="physical: skip the sentence-transformers comparison")
    p.add_argument("--dense-scale", default="10k,100k", help="sizes for the dense section (--full adds 1m)")
    p.add_argument("--no-keep-for-memory", dest="keep_for_memory", action="store_false",
                   help="dense: do not save the largest indexes for the memory section")
    p.add_argument("--pipeline", type=parse_size, default=None, metavar="N",
                   help="run the pipeline section (real build_index and QA.ask) on N synthetic passages, e.g. 1m")
    p.add_argument("--pipeline-reps", type=int, default=2, help="rounds over the dev questions in the pipeline section")
    p.add_argument("--keep-pipeline", action="store_true", help="keep the pipeline section's corpus and index")
    p.add_argument("--snapshot", action="store_true", help="benchmark HEAD's qa/ instead of the working tree")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each section, wait up to SECONDS for other processes to use < 15%% of the CPUs")
    p.add_argument("--summary", action="store_true", help="print the key numbers of bench/results.json as Markdown")
    p.add_argument("--plots-only", action="store_true", help="redraw the figures from bench/results.json")
    args = p.parse_args(argv)
    args.scales = [parse_size(s) for s in args.scale.split(",") if s.strip()]
    if args.full and 1_000_000 not in args.scales:
        args.scales.append(1_000_000)
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    args.indexes = [k.strip() for k in args.indexes.split(",") if k.strip()]
    args.ingest_sizes = [parse_size(s) for s in args.ingest_sizes.split(",") if s.strip()]
    args.dense_scales = [parse_size(s) for s in args.dense_scale.split(",") if s.strip()]
    if args.full and 1_000_000 not in args.dense_scales:
        args.dense_scales.append(1_000_000)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if args.pipeline and "pipeline" not in only:
        only.append("pipeline")
    if "pipeline" in only and not args.pipeline:
        args.pipeline = 100_000
    unknown = set(only) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    WORK.mkdir(parents=True, exist_ok=True)
    code = "working tree"
    if args.snapshot:
        path = snapshot_code()
        sys.path.insert(0, path)
        os.environ["BENCH_CODE_PATH"] = path
        code = f"HEAD snapshot ({git_state()['commit']})"
    else:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    results = load_results()
    if args.plots_only:
        results["recommendation"] = recommendation(results)
        save_results(results)
        log("figures: " + ", ".join(plot_all(results)))
        return 0
    if args.summary:
        print(summary_markdown(results))
        return 0
    run_meta = meta(code)
    results["meta"] = run_meta
    results.setdefault("meta_by_section", {})
    log(f"{run_meta['cpu_count']} CPU ({run_meta['cpu_model']}), load {run_meta['load_average']}, code: {code}; "
        f"sections: {', '.join(only)}")
    failures = 0
    for section in SECTIONS:
        if section not in only:
            continue
        busy_before = wait_quiet(args.wait_quiet) if args.wait_quiet else cpu_busy()
        started = time.perf_counter()
        key = "cold_start" if section == "cold" else section
        try:
            if section == "scale":
                value = section_scale(args, results.get("scale"))
            elif section == "pipeline":  # one entry per corpus size, so 100k and 1M runs sit side by side
                previous = results.get("pipeline")
                value = {k: v for k, v in (previous or {}).items() if k.isdigit()} if isinstance(previous, dict) else {}
                value[str(args.pipeline)] = section_pipeline(args)
            else:
                value = globals()[f"section_{section}"](args)
        except Exception as exc:  # noqa: BLE001 - one failing section must not lose the others
            import traceback

            traceback.print_exc()
            failures += 1
            error = f"{exc.__class__.__name__}: {exc}"[:500]
            previous = results.get(key)
            value = {**previous, "error_last_run": error} if isinstance(previous, dict) else {"error": error}
            log(f"section {section} failed: {error}")
        results[key] = value
        results["meta_by_section"][section] = {**meta(code), "section_seconds": round(time.perf_counter() - started, 1),
                                               "other_processes_cpu_busy_before": busy_before,
                                               "other_processes_cpu_busy_after": cpu_busy()}
        results["recommendation"] = recommendation(results)
        save_results(results)
        log(f"section {section} done in {time.perf_counter() - started:.0f} s → {RESULTS.relative_to(ROOT)}")
    written = plot_all(results)
    log(f"figures: {', '.join(written)}; total {time.perf_counter() - T0:.0f} s")
    rec = results.get("recommendation") or {}
    if "flat_search_alone_max_n" in rec:
        log(f"recommendation: Flat search alone <= {rec['budget_p50_ms']} ms up to N ~ {rec['flat_search_alone_max_n']:,}"
            + (f"; end to end up to N ~ {rec['flat_end_to_end_max_n']:,}" if rec.get("flat_end_to_end_max_n") is not None else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
