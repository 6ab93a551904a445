#!/usr/bin/env python3
"""Load test of the running page through its `/ask` API, while articles are added with `qa add`.

    .venv/bin/python bench/load.py                       # 8 clients x 100 questions, then the queue-full flood
    .venv/bin/python bench/load.py --clients 4 --questions 20 --out /tmp/load.json

Why a real server in its own process: the numbers that matter to someone sharing the page (latency seen by
a client, the server's peak memory, what happens when the queue overflows) only exist there, and `qa add`
from another process is how articles reach a running page. What it does:

1. copies seeds/ into a scratch folder and starts `python app.py` on a free 127.0.0.1 port with the real
   model (the index of the copy is built at start);
2. 8 `gradio_client` clients ask 100 questions each (French, English and unanswerable ones from
   eval/dev.jsonl, made-up ones, invalid ones, questions about the articles being added) while another
   thread runs `qa add` twice: a new article and a new version of an indexed one (a replacement), then
   a third version of that one;
   clients keep asking until the additions are done, then each asks about the new articles;
3. checks every answer: the contract's JSON (keys, order, types), each citation a verbatim slice
   `quote == text[start:end]` of one index generation that was on disk (all citations of an answer
   from the same one), an error only for the invalid questions and only with their intended message;
   the page answers from the new articles afterwards;
4. floods the server (QUEUE_SIZE + 3x as many requests at once) and checks that the overflow gets
   Gradio's "Queue is full" (HTTP 503, gradio_client's QueueError), that the server survives and answers
   next, and records its RSS after each flood round;
5. writes bench/load.json: p50/p95/max latency, throughput, errors by kind, the server's peak RSS (VmHWM).

The same functions run in tests/test_reliability_load.py with smaller counts (correctness only, no speed).
Only 127.0.0.1 is contacted; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import cpu_busy  # noqa: E402  (bench/run.py: others' CPU load, noted beside timings)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEV_SET = ROOT / "eval" / "dev.jsonl"
CONTRACT_KEYS = ["question", "language", "found", "confidence", "answer", "citations"]
CITATION_KEYS = ["n", "doc", "title", "url", "date", "start", "end", "quote", "score", "lang", "date_inferred"]
# What the page answers to the invalid questions (qa/service.py validate_question): intended, clear errors.
INTENDED_ERRORS = ("please ask a question", "the question is too long", "the question must be text")

# ---------------------------------------------------------------- articles added during the run

NEW_DOC = "load_velo_lyon.txt"
REPLACED_DOC = "load_observatoire.txt"
ARTICLE_VELO = """# Lyon étend son réseau de pistes cyclables

Par Jeanne Dupont. Publié le 04 mars 2024 à 10h00

La métropole de Lyon a voté lundi un plan de 120 kilomètres de nouvelles pistes cyclables d’ici 2026. Le budget atteint 45 millions d’euros, financé à parts égales par la ville et la région.

Les commerçants de la presqu’île craignent une baisse de la fréquentation pendant les travaux, qui débuteront en septembre.
"""


def observatory(version: int) -> str:
    """Two versions of one article, with different facts at different offsets: a mixed answer would show."""
    filler = "Selon son directeur, " * version
    return (f"# L’observatoire du pic du Midi s’équipe\n\nPar Luc Marin | 12 mars 2024\n\n"
            f"{filler}L’observatoire du pic du Midi a installé un héliostat de {6 + 3 * version} mètres pour étudier "
            f"la couronne solaire. Les astronomes espèrent photographier les éruptions.\n\n"
            f"Le chantier a coûté {2 + version},5 millions d’euros, financés par le CNRS et la région Occitanie.\n")


NEW_QUESTIONS = {
    "Combien de kilomètres de pistes cyclables la métropole de Lyon a-t-elle votés ?": NEW_DOC,
    "How much did the Pic du Midi observatory heliostat project cost?": REPLACED_DOC,
    "Quel instrument l’observatoire du pic du Midi a-t-il installé ?": REPLACED_DOC,
}

MADE_UP = [
    "CNIL Azure ?", "hebergemnt donnees sante", "Qui a écrit l'article sur le Health Data Hub ?",
    "When did the CNIL authorise Microsoft?", "pourquoi pas un hébergeur français", "EMC2 entrepôt hôpitaux",
    "Quel est le budget annuel du Health Data Hub ?", "What is the boiling point of water?",
    "Le Conseil d’État a-t-il été saisi ?", "« Microsoft » et le Cloud Act", "Qui est Clarisse Treilles ?",
    "data hosting duration", "Quand did la CNIL dire oui ?",
]
INVALID = ["", "   ", "?!… ;;", "🙂🙂🙂", "https://www.cnil.fr/fr/sante", "\x00\x00\u200b", "12 34 56",
           "données " * 200]


def dev_questions() -> dict[str, list[str]]:
    """eval/dev.jsonl's questions by kind: French and English answerable ones, and unanswerable ones."""
    kinds: dict[str, list[str]] = {"fr": [], "en": [], "unanswerable": []}
    for line in DEV_SET.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            kinds[item["lang"] if item["answerable"] else "unanswerable"].append(item["question"])
    return kinds


def question_plan(clients: int, per_client: int, seed: int = 6) -> list[list[tuple[str, str]]]:
    """Each client's (kind, question) list, seeded: ~35 % French, 25 % English, 12 % unanswerable (dev set),
    12 % made-up, 10 % invalid, 6 % about the articles being added."""
    rng = random.Random(seed)
    dev = dev_questions()
    pools = [("fr", dev["fr"], 35), ("en", dev["en"], 25), ("unanswerable", dev["unanswerable"], 12),
             ("made-up", MADE_UP, 12), ("invalid", INVALID, 10), ("new", list(NEW_QUESTIONS), 6)]
    weights = [w for _k, _p, w in pools]
    plan = []
    for _ in range(clients):
        picks = rng.choices(pools, weights=weights, k=per_client)
        plan.append([(kind, rng.choice(pool)) for kind, pool, _w in picks])
    return plan


# ---------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict:
    """The environment of the server and of `qa add`: this checkout's qa first, no QA_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") or k == "QA_CACHE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def proc_status(pid: int, field_name: str) -> int:
    """A memory figure of a process from /proc/PID/status (VmRSS, VmHWM = peak RSS), in bytes; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Server:
    """`python app.py` over a scratch corpus and index on a free local port, its stderr kept in a log file."""

    def __init__(self, workdir: Path, queue_size: int | None = None, concurrency: int | None = None,
                 start_timeout: float = 400.0, articles: dict[str, str] | None = None):
        self.corpus = workdir / "corpus"
        self.index = workdir / "index"
        if not self.corpus.exists():
            shutil.copytree(SEEDS, self.corpus)
        for name, text in (articles or {}).items():
            (self.corpus / name).write_text(text, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / f"server-{self.port}.log"
        extra = {}
        if queue_size is not None:
            extra["QA_QUEUE_SIZE"] = str(queue_size)
        if concurrency is not None:
            extra["QA_CONCURRENCY"] = str(concurrency)
        self.queue_size = queue_size
        self._log = self.log_path.open("w", encoding="utf-8")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port),
             "--corpus", str(self.corpus), "--index", str(self.index)],
            cwd=ROOT, env=child_env(**extra), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.perf_counter() - started

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}) at start:\n{self.log()[-2000:]}")
            try:
                if httpx.get(self.url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log()[-2000:]}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        return proc_status(self.process.pid, "VmRSS")

    def peak_rss(self) -> int:
        return proc_status(self.process.pid, "VmHWM")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()


# ---------------------------------------------------------------- index generations, as written on disk

def snapshot(index_dir: Path) -> tuple[str, dict[str, dict]]:
    """(generation, {doc: {text, title, url, date}}) of the index on disk (read while no writer runs)."""
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    articles = {}
    with (index_dir / "articles.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                articles[record["doc"]] = {k: record[k] for k in ("text", "title", "url", "date")}
                if record.get("title_inferred"):  # a stand-in title is shown, but the JSON's title stays null
                    articles[record["doc"]]["title"] = None
    return manifest["generation"], articles


# The corpus the server starts with: seeds/ plus the first version of the article that gets replaced.
START_ARTICLES = {REPLACED_DOC: observatory(0)}
# What the writer adds, one `qa add` per step: a new article and a new version of an indexed one (a
# replacement); the benchmark adds a third version in a second step, for one more generation.
ONE_STEP = [{NEW_DOC: ARTICLE_VELO, REPLACED_DOC: observatory(1)}]
TWO_STEPS = ONE_STEP + [{REPLACED_DOC: observatory(2)}]


@dataclass
class Writer:
    """Adds articles while the clients ask, and records each generation written.

    By default with `qa add` in separate processes (the real CLI, which loads the model each time); given an
    `embedder`, with `qa.build.add_articles` in this process (the service API: the same writer, minus the
    model load, so the test suite stays short). Either way the server sees the index change on disk.
    It starts `start_after` seconds after `ready` is set (by ask_all, once every client has had an answer).
    """

    server: Server
    workdir: Path
    steps: list[dict[str, str]]
    start_after: float = 0.5
    embedder: object | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    generations: dict[str, dict[str, dict]] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    finished_at: float | None = None

    def __post_init__(self) -> None:
        generation, articles = snapshot(self.server.index)
        self.generations[generation] = articles

    @property
    def final_texts(self) -> dict[str, str]:
        """Each added article's text once every step is done."""
        return {name: text for step in self.steps for name, text in step.items()}

    def add(self, files: list[Path]) -> None:
        started = time.perf_counter()
        if self.embedder is None:
            run = subprocess.run([sys.executable, "-m", "qa", "add", "--replace", *map(str, files), "--corpus", str(self.server.corpus),
                                  "--index", str(self.server.index)], cwd=ROOT, env=child_env(), capture_output=True,
                                 text=True, timeout=400, stdin=subprocess.DEVNULL)
            rc, error = run.returncode, run.stderr.strip().splitlines()[-1:] if run.returncode else []
        else:
            from qa.build import add_articles
            from qa.settings import Settings

            settings = Settings(corpus_dir=self.server.corpus, index_dir=self.server.index, model=self.embedder.name)
            try:
                add_articles(files, settings, self.embedder, replace=True)
                rc, error = 0, []
            except Exception as exc:  # reported in runs, asserted by the caller
                rc, error = 1, [f"{exc.__class__.__name__}: {exc}"]
        generation, articles = snapshot(self.server.index)
        self.generations[generation] = articles
        self.runs.append({"files": [f.name for f in files], "rc": rc, "seconds": round(time.perf_counter() - started, 2),
                          "stderr": error, "generation": generation, "articles": len(articles),
                          "how": "qa add (subprocess)" if self.embedder is None else "add_articles (in process)"})

    def run(self) -> None:
        try:
            self.ready.wait(300)
            time.sleep(self.start_after)
            for n, step in enumerate(self.steps, start=1):
                folder = self.workdir / "incoming" / f"step{n}"
                folder.mkdir(parents=True, exist_ok=True)
                for name, text in step.items():
                    (folder / name).write_text(text, encoding="utf-8")
                self.add([folder / name for name in step])
        finally:
            self.finished_at = time.perf_counter()
            self.done.set()


# ---------------------------------------------------------------- clients and checks

@dataclass
class Result:
    client: int
    kind: str
    question: str
    phase: str  # "during" (a `qa add` was running or to come), "after" (all additions done)
    seconds: float
    answer: dict | None = None
    exception: str | None = None


def ask_all(url: str, plan: list[list[tuple[str, str]]], writer: Writer | None, after: int,
            max_extra: int = 300, deadline_s: float = 480.0, on_ready=lambda: None) -> tuple[list[Result], float]:
    """Each client (one thread, one gradio_client) asks its questions; keeps asking while the writer is at
    work (at most `max_extra` more, within the deadline); then asks `after` questions about the new articles.
    `on_ready` is called once the clients are connected, just before they start (to start the writer).
    Returns the results and the wall time of the whole run."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in plan]
    on_ready()
    stop_at = time.monotonic() + deadline_s
    new_questions = list(NEW_QUESTIONS)

    def one(c: int, client, kind: str, question: str, phase: str) -> Result:
        started = time.perf_counter()
        try:
            answer = client.predict(question, 5, "hybrid", api_name="/ask")
            return Result(c, kind, question, phase, time.perf_counter() - started, answer=answer)
        except Exception as exc:  # recorded and judged by check(): the run goes on
            return Result(c, kind, question, phase, time.perf_counter() - started,
                          exception=f"{exc.__class__.__name__}: {exc}"[:300])

    first_answers = threading.Semaphore(0)

    def worker(c: int) -> list[Result]:
        out = []
        questions = plan[c]
        for kind, question in questions:
            phase = "during" if writer is not None and not writer.done.is_set() else "after"
            out.append(one(c, clients[c], kind, question, phase))
            if len(out) == 1:
                first_answers.release()
        extra = 0
        while writer is not None and not writer.done.is_set() and extra < max_extra and time.monotonic() < stop_at:
            kind, question = questions[extra % len(questions)]
            out.append(one(c, clients[c], kind, question, "during"))
            extra += 1
        if writer is not None:
            writer.done.wait(max(0.0, stop_at - time.monotonic()))
        for i in range(after):
            out.append(one(c, clients[c], "new-after", new_questions[(c + i) % len(new_questions)], "after"))
        return out

    def all_answered_once() -> None:
        for _ in plan:
            first_answers.acquire(timeout=max(0.0, stop_at - time.monotonic()))
        if writer is not None:
            writer.ready.set()

    started = time.perf_counter()
    with ThreadPoolExecutor(len(plan) + 1) as pool:
        pool.submit(all_answered_once)
        results = [r for rs in pool.map(worker, range(len(plan))) for r in rs]
    wall = time.perf_counter() - started
    for client in clients:
        try:
            client.close()
        except Exception:
            pass
    return results, wall


def check(result: Result, generations: dict[str, dict[str, dict]]) -> list[str]:
    """What is wrong with one answer (empty list: nothing). Errors are right only for invalid questions."""
    q = result.question
    if result.exception is not None:
        return [f"{q[:60]!r}: exception {result.exception}"]
    a = result.answer
    if not isinstance(a, dict):
        return [f"{q[:60]!r}: not a JSON object: {str(a)[:100]}"]
    if "error" in a:
        problems = []
        if list(a) != ["question", "error"] or a["question"] != q:
            problems.append(f"{q[:60]!r}: malformed error object {str(a)[:200]}")
        if result.kind != "invalid":
            problems.append(f"{q[:60]!r}: a valid question got an error: {a.get('error')!r}")
        elif not str(a.get("error", "")).startswith(INTENDED_ERRORS):
            problems.append(f"{q[:60]!r}: unexpected error message {a.get('error')!r}")
        return problems
    problems = []
    if result.kind == "invalid":
        problems.append(f"{q[:60]!r}: an invalid question was answered")
    if list(a) != CONTRACT_KEYS:
        return problems + [f"{q[:60]!r}: keys {list(a)}"]
    if a["question"] != q or a["language"] not in ("fr", "en") or not isinstance(a["found"], bool) \
            or not isinstance(a["answer"], str) or not a["answer"] or not isinstance(a["citations"], list):
        problems.append(f"{q[:60]!r}: bad field types or values {str(a)[:200]}")
        return problems
    for n, c in enumerate(a["citations"], start=1):
        if list(c) != CITATION_KEYS or c["n"] != n or not all(isinstance(c[k], int) for k in ("start", "end")) \
                or not isinstance(c["quote"], str) or not isinstance(c["score"], (int, float)):
            problems.append(f"{q[:60]!r}: malformed citation {str(c)[:200]}")
            return problems
    # One generation must hold every citation, verbatim, with the article's own metadata.
    if not any(all(c["doc"] in arts and arts[c["doc"]]["text"][c["start"]:c["end"]] == c["quote"]
                   and all(arts[c["doc"]][k] == c[k] for k in ("title", "url", "date"))
                   for c in a["citations"]) for arts in generations.values()):
        problems.append(f"{q[:60]!r}: citations from no single index generation: "
                        + "; ".join(f"{c['doc']}[{c['start']}:{c['end']}]" for c in a["citations"]))
    return problems


def sees_new_articles(results: list[Result], final_texts: dict[str, str]) -> list[str]:
    """After the additions, each question about a new article cites it first, and quotes its latest version."""
    problems = []
    for r in results:
        if r.kind != "new-after":
            continue
        if r.answer is None or "error" in r.answer or not r.answer["citations"]:
            problems.append(f"{r.question!r} after the additions: no citation ({r.exception or r.answer})")
            continue
        first = r.answer["citations"][0]
        if first["doc"] != NEW_QUESTIONS[r.question]:
            problems.append(f"{r.question!r} after the additions: cites {first['doc']} first, not {NEW_QUESTIONS[r.question]}")
        for c in r.answer["citations"]:
            if c["doc"] in final_texts and final_texts[c["doc"]][c["start"]:c["end"]] != c["quote"]:
                problems.append(f"{r.question!r} after the additions: quotes an old version of {c['doc']}")
    return problems


# ---------------------------------------------------------------- queue full

def flood(url: str, requests: int, rounds: int, server: Server, question: str = "Qui a déposé un recours devant le Conseil d'État ?") -> dict:
    """`requests` questions sent at once (one gradio_client, many threads), `rounds` times; what came back."""
    from gradio_client import Client

    client = Client(url, verbose=False, max_workers=requests)
    outcome = {"requests_per_round": requests, "rounds": rounds, "answered": 0, "queue_full": 0, "other": [],
               "rss_after_round_mib": []}
    try:
        for _ in range(rounds):
            jobs = [client.submit(question, 5, "hybrid", api_name="/ask") for _ in range(requests)]
            for job in jobs:
                try:
                    answer = job.result(timeout=300)
                except Exception as exc:
                    text = f"{exc.__class__.__name__}: {exc}"
                    if exc.__class__.__name__ == "QueueError" and "Queue is full" in str(exc):
                        outcome["queue_full"] += 1
                    else:
                        outcome["other"].append(text[:200])
                    continue
                if isinstance(answer, dict) and list(answer) == CONTRACT_KEYS and answer["question"] == question:
                    outcome["answered"] += 1
                else:
                    outcome["other"].append(f"malformed answer {str(answer)[:200]}")
            outcome["rss_after_round_mib"].append(round(server.rss() / 2**20, 1))
        # Then the server must answer as usual.
        recovered = client.predict(question, 5, "hybrid", api_name="/ask")
        outcome["answers_after_flood"] = isinstance(recovered, dict) and list(recovered) == CONTRACT_KEYS
    finally:
        try:
            client.close()
        except Exception:
            pass
    outcome["server_alive"] = server.alive()
    return outcome


# ---------------------------------------------------------------- the whole run

def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def generations_used(results: list[Result], generations: dict[str, dict[str, dict]]) -> dict[str, int]:
    """How many answers only one generation explains (they cite an added or replaced article), per generation
    in the order written: proof that the page switched generations while it was being asked."""
    counts = {g: 0 for g in generations}
    for r in results:
        if r.answer is None or "error" in r.answer:
            continue
        fits = [g for g, arts in generations.items()
                if all(c["doc"] in arts and arts[c["doc"]]["text"][c["start"]:c["end"]] == c["quote"] for c in r.answer["citations"])]
        if len(fits) == 1:
            counts[fits[0]] += 1
    return counts


def summarize(results: list[Result], wall: float, problems: list[str]) -> dict:
    answered = [r for r in results if r.answer is not None]
    latency = [r.seconds * 1000 for r in results]
    by_phase = {}
    for phase in ("during", "after"):
        ms = [r.seconds * 1000 for r in results if r.phase == phase]
        by_phase[phase] = {"requests": len(ms), "p50_ms": round(percentile(ms, 0.5), 1), "p95_ms": round(percentile(ms, 0.95), 1)}
    kinds: dict[str, int] = {}
    for r in results:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    return {
        "requests": len(results),
        "answers": sum(1 for r in answered if "error" not in r.answer),
        "intended_errors": sum(1 for r in answered if "error" in r.answer and r.kind == "invalid"),
        "exceptions": sum(1 for r in results if r.exception is not None),
        "problems": len(problems),
        "problem_examples": problems[:10],
        "wall_s": round(wall, 2),
        "throughput_qps": round(len(results) / wall, 2),
        "latency_ms": {"p50": round(percentile(latency, 0.5), 1), "p95": round(percentile(latency, 0.95), 1),
                       "max": round(max(latency), 1), "mean": round(statistics.fmean(latency), 1)},
        "by_phase": by_phase,
        "questions_by_kind": kinds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--questions", type=int, default=100, help="questions per client (before the extra ones while `qa add` runs)")
    parser.add_argument("--after", type=int, default=3, help="questions per client about the new articles once added")
    parser.add_argument("--flood-rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "load.json")
    args = parser.parse_args(argv)

    from qa.web import CONCURRENCY, QUEUE_SIZE

    say = lambda m: print(f"[load] {m}", file=sys.stderr, flush=True)  # noqa: E731
    busy_before = cpu_busy()
    with tempfile.TemporaryDirectory(prefix="qa-load-") as scratch:
        workdir = Path(scratch)
        say(f"starting the server (queue {QUEUE_SIZE}, concurrency {CONCURRENCY}); other processes use {busy_before:.0%} of the CPUs")
        server = Server(workdir, articles=START_ARTICLES)
        try:
            say(f"up in {server.start_s:.1f} s at {server.url}; RSS {server.rss() / 2**20:.0f} MiB")
            rss_start = server.rss()
            writer = Writer(server, workdir, TWO_STEPS)
            thread = threading.Thread(target=writer.run)
            plan = question_plan(args.clients, args.questions, args.seed)
            samples: list[int] = []
            sampling = threading.Event()

            def sample():
                while not sampling.is_set():
                    samples.append(server.rss())
                    sampling.wait(0.25)

            sampler = threading.Thread(target=sample)
            sampler.start()
            say(f"{args.clients} clients x {args.questions} questions while `qa add` runs twice")
            load_started = time.perf_counter()
            results, wall = ask_all(server.url, plan, writer, args.after, on_ready=thread.start)
            thread.join()
            sampling.set()
            sampler.join()
            problems = [p for r in results for p in check(r, writer.generations)] + sees_new_articles(results, writer.final_texts)
            summary = summarize(results, wall, problems)
            summary["additions"] = writer.runs
            summary["generations_seen_on_disk"] = len(writer.generations)
            summary["answers_only_one_generation_explains"] = list(generations_used(results, writer.generations).values())
            summary["additions_done_after_s"] = round(writer.finished_at - load_started, 1)
            say(f"{summary['requests']} requests in {wall:.1f} s: p50 {summary['latency_ms']['p50']} ms, "
                f"p95 {summary['latency_ms']['p95']} ms, {summary['problems']} problems")
            rss_after_load = server.rss()
            flood_size = QUEUE_SIZE + 3 * QUEUE_SIZE
            say(f"flooding: {flood_size} requests at once, {args.flood_rounds} rounds")
            flooded = flood(server.url, flood_size, args.flood_rounds, server)
            say(f"flood: {flooded['answered']} answered, {flooded['queue_full']} 'queue full', {len(flooded['other'])} other")
            log = server.log()
            report = {
                "what": "bench/load.py: the page's /ask API under load while `qa add` runs (see bench/README.md)",
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "cpu_busy_before_run": busy_before, "cpu_busy_after_run": cpu_busy()},
                "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
                "server": {"queue_size": QUEUE_SIZE, "concurrency": CONCURRENCY, "start_s": round(server.start_s, 1),
                           "rss_start_mib": round(rss_start / 2**20, 1), "rss_after_load_mib": round(rss_after_load / 2**20, 1),
                           "rss_max_sampled_during_load_mib": round(max(samples, default=0) / 2**20, 1),
                           "peak_rss_mib": round(server.peak_rss() / 2**20, 1),
                           "tracebacks_in_log": log.count("Traceback"), "alive_at_end": server.alive()},
                "load": {"clients": args.clients, "questions_per_client": args.questions, "after_per_client": args.after,
                         "seed": args.seed, **summary},
                "queue_full": flooded,
            }
        finally:
            server.stop()
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"wrote {args.out}")
    ok = (report["load"]["problems"] == 0 and report["load"]["exceptions"] == 0 and flooded["queue_full"] > 0
          and not flooded["other"] and flooded["answers_after_flood"] and flooded["server_alive"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
