"""Crash test (after SQLite's): kill -9 `qa index --force` and `qa add` at seeded random moments.

Each round starts the real CLI in a subprocess (fake model, and a "slow disk" that sleeps a little after
each fsync and rename, so kills land inside writes and between the two renames of a swap, not only
during start-up), sends it SIGKILL after a seeded random delay, then checks:

* no torn index is ever in place: the index folder, if present, passes its checksums as it lies;
* at most one temporary and one previous generation lie beside it (a write removes older leftovers);
* `qa index --check` reports it healthy, or it is stale/missing and the next `qa ask` rebuilds it;
* `qa ask --json` answers, every quote an exact slice of the article file, from the previous
  generation, the one being written, or a rebuild: never from a mix;
* after any write that completes, nothing at all is left beside the index.

15 kills by default; QA_CRASH_RUNS=100 for the full run (marked slow); QA_CRASH_SEED picks the seed.
Rounds whose child finished before its kill time are checked the same way and do not count as kills.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import FAKE_MODEL, FAKE_QA_BOOTSTRAP, clean_env, read_jsonl, write_corpus

from qa.cli import main
from qa.errors import IndexStateError
from qa.generation import MANIFEST, _verify, leftovers

RUNS = int(os.environ.get("QA_CRASH_RUNS", "15"))
SEED = int(os.environ.get("QA_CRASH_SEED", "4242"))

# The CLI with the fake model and a slow disk: sleeps after every fsync and rename (test-only, in the child).
SLOW_DISK = (
    "import os, time\n"
    "_replace, _fsync = os.replace, os.fsync\n"
    "def _slow_replace(a, b):\n"
    "    _replace(a, b); time.sleep(0.03)\n"
    "def _slow_fsync(fd):\n"
    "    _fsync(fd); time.sleep(0.003)\n"
    "os.replace, os.fsync = _slow_replace, _slow_fsync\n"
)
CHILD = SLOW_DISK + FAKE_QA_BOOTSTRAP

QUESTION = "Quel est le budget des pistes cyclables à Lyon ?"


def extra_article(n: int) -> str:
    return (f"# La médiathèque numéro {n}\n\nLa commune de Villeneuve a inauguré samedi la médiathèque numéro {n}, "
            f"qui couvre {1000 + n} mètres carrés et a coûté {n + 3} millions d’euros. Elle ouvrira tous les jours "
            f"sauf le lundi, de 9 heures à 19 heures.\n\nLes habitants pourront y emprunter des livres, des jeux et "
            f"des instruments de musique, selon la maire, Mme Claire Vidal.\n")


def generation(index_dir) -> str | None:
    try:
        return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8")).get("generation")
    except (OSError, ValueError):
        return None


def invoke(runner, args, input=None):
    return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


class Child:
    """`python -m qa ARGS` (fake model, slow disk) whose stderr is watched for the start of the write phase."""

    def __init__(self, args, env, cwd):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)], env=env, cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.writing = threading.Event()
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace")
            self.stderr.append(line)
            if line.startswith("Embedding"):  # both `index` and `add` say so just before writing
                self.writing.set()
        self.writing.set()

    def kill_after(self, delay: float, after_write_starts: bool) -> bool:
        """SIGKILL after `delay` s (counted from the write phase's start if asked); False if it had exited."""
        if after_write_starts:
            self.writing.wait(timeout=60)
            deadline = time.perf_counter() + delay
        else:
            deadline = self.started + delay
        while time.perf_counter() < deadline and self.proc.poll() is None:
            time.sleep(0.001)
        killed = self.proc.poll() is None
        if killed:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return killed


def calibrate(args, env, cwd) -> tuple[float, float]:
    """(whole run, write phase) durations of one uninterrupted run."""
    child = Child(args, env, cwd)
    child.writing.wait(timeout=120)
    write_start = time.perf_counter()
    child.proc.wait(timeout=120)
    child.reader.join(timeout=10)
    assert child.proc.returncode == 0, "".join(child.stderr)
    end = time.perf_counter()
    return end - child.started, end - write_start


@pytest.mark.slow if RUNS > 15 else (lambda f: f)
def test_kill_9_at_random_moments_never_loses_or_tears_the_index(fake_cli, tmp_path, capsys):
    rng = random.Random(SEED)
    corpus = write_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    env = clean_env(QA_CORPUS=str(corpus), QA_INDEX=str(index_dir), QA_MODEL=FAKE_MODEL)
    opts = ["--corpus", corpus, "--index", index_dir, "--model", FAKE_MODEL]
    assert invoke(fake_cli, ["index", *opts]).exit_code == 0
    (incoming / "mediatheque.md").write_text(extra_article(0), encoding="utf-8")
    total_index, write_index = calibrate(["index", "--force"], env, tmp_path)
    total_add, write_add = calibrate(["add", "--replace", incoming / "mediatheque.md"], env, tmp_path)
    known = {generation(index_dir)}
    stats = collections.Counter()

    run = -1
    while stats["kills"] < RUNS and run < RUNS * 3:
        run += 1
        where = f"round {run} (QA_CRASH_SEED={SEED})"
        before = generation(index_dir)
        if rng.random() < 0.5:
            args, total, write = ["index", "--force"], total_index, write_index
        else:
            (incoming / "mediatheque.md").write_text(extra_article(run + 1), encoding="utf-8")
            args, total, write = ["add", "--replace", incoming / "mediatheque.md"], total_add, write_add
        in_write = rng.random() < 0.7
        delay = rng.uniform(0, write * 0.9) if in_write else rng.uniform(0, total)
        killed = Child(args, env, tmp_path).kill_after(delay, in_write)
        stats["kills" if killed else "completed before the kill"] += 1

        # What a reader finds, before anything recovers it.
        left = leftovers(index_dir)
        tmps = [p for p in left if ".tmp-" in p.name]
        olds = [p for p in left if ".old-" in p.name]
        assert len(tmps) <= 1 and len(olds) <= 1, f"{where}: leftovers pile up: {[p.name for p in left]}"
        if index_dir.exists():
            try:
                _verify(index_dir, recover=False)
            except IndexStateError as exc:
                pytest.fail(f"{where}: a torn index is in place: {exc}")
            now = generation(index_dir)
            stats["state: previous generation" if now == before else "state: new generation"] += 1
            known.add(now)
        else:
            assert olds, f"{where}: the index vanished without a previous generation to restore"
            stats["state: killed between the two renames"] += 1
        if tmps:
            stats["state: unfinished temporary generation left"] += 1

        # qa index --check: healthy, or stale; a half-swapped index is restored first; never a traceback.
        mid_swap = not index_dir.exists()
        check = invoke(fake_cli, ["index", "--check", *opts])
        assert "Traceback" not in check.stderr
        if mid_swap:
            assert index_dir.exists() and generation(index_dir) == before, f"{where}: not restored: {check.stderr}"
            stats["recoveries: previous generation restored from .old by qa index --check"] += 1
        if check.exit_code == 0:
            assert "healthy" in check.stdout
            stats["check: healthy"] += 1
        else:
            assert check.exit_code == 1 and "stale" in check.stderr, f"{where}: {check.stderr}"
            stats["check: stale (the killed add had copied its article)"] += 1
        assert generation(index_dir) in known, f"{where}: a generation nobody wrote is in place"

        # qa ask --json: answers from a whole generation (or rebuilds it first, saying so).
        ask = invoke(fake_cli, ["ask", "--json", *opts], input=f"{QUESTION}\nQuelle surface couvre la médiathèque ?\n")
        assert ask.exit_code == 0, f"{where}: {ask.stderr}"
        assert "Traceback" not in ask.stderr
        if check.exit_code != 0:
            assert "Building the index" in ask.stderr, f"{where}: a stale index was used without a rebuild"
            stats["recoveries: rebuilt by qa ask"] += 1
            assert leftovers(index_dir) == [], f"{where}: a completed write left {leftovers(index_dir)}"
        answers = read_jsonl(ask.stdout)
        assert len(answers) == 2
        for answer in answers:
            assert answer["citations"], where
            for c in answer["citations"]:
                text = (corpus / c["doc"]).read_text(encoding="utf-8")
                assert c["quote"] == text[c["start"]:c["end"]], f"{where}: quote is not the file's text"
        healthy = invoke(fake_cli, ["index", "--check", *opts])
        assert healthy.exit_code == 0 and "healthy" in healthy.stdout, f"{where}: {healthy.stderr}"
        known.add(generation(index_dir))

    # A last uninterrupted write cleans up whatever the kills left.
    assert invoke(fake_cli, ["index", "--force", *opts]).exit_code == 0
    assert leftovers(index_dir) == []
    assert not [p for p in corpus.iterdir() if p.name.startswith(".")], "half-copied articles left in the corpus"
    with capsys.disabled():
        print(f"\ncrash test, seed {SEED}: {run + 1} rounds; " + "; ".join(f"{k}: {v}" for k, v in sorted(stats.items())))
    assert stats["kills"] >= RUNS, stats
