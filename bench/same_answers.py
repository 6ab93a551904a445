"""Show that a change keeps qa's answers: dump `qa ask --json -k 10` for every question of every suite corpus
(and of eval/*.jsonl on the seeds), in the default and the dense mode, with no scoring at all (the check
corpora stay unread), then compare two dumps.

    PYTHONPATH=<tree> .venv/bin/python bench/same_answers.py dump OUT.jsonl [--cache DIR]   # run in each tree
    .venv/bin/python bench/same_answers.py compare BEFORE.jsonl AFTER.jsonl [--ignore confidence]

Give each tree a fresh --cache folder so that both index the corpora with their own code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path


def dump(out: Path, cache: Path | None) -> None:
    from qa.embed import load_embedder
    from qa.settings import Settings
    from qa.suite import default_cache, load_suite, sessions

    root = Path.cwd()
    base = Settings.from_env()
    embedder = load_embedder(base.model, base.torch_threads)
    seeds_extra = [json.loads(line)["question"] for f in sorted((root / "eval").glob("*.jsonl"))
                   for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    with out.open("w", encoding="utf-8") as sink:
        for corpus, qa, items in sessions(load_suite(root / "eval" / "corpora"), base, embedder, cache or default_cache(),
                                          lambda m: print(m, file=sys.stderr)):
            questions = [it.question for it in items] + (seeds_extra if corpus.name == "seeds" else [])
            for question in questions:
                for mode in (None, "dense"):
                    record = qa.ask(question, k=10, mode=mode).to_json()
                    sink.write(json.dumps({"corpus": corpus.name, "mode": mode, **record}, ensure_ascii=False) + "\n")


def compare(before: Path, after: Path, ignore: list[str]) -> int:
    a = [json.loads(line) for line in before.read_text(encoding="utf-8").splitlines()]
    b = [json.loads(line) for line in after.read_text(encoding="utf-8").splitlines()]
    if len(a) != len(b):
        print(f"{len(a)} records before, {len(b)} after: not the same questions")
        return 1
    differ: Counter = Counter()
    for x, y in zip(a, b):
        for key in sorted(set(x) | set(y)):
            if key not in ignore and x.get(key) != y.get(key):
                differ[key] += 1
    print(f"{len(a)} answers compared; fields that differ: {dict(differ) or 'none'}"
          + (f" (ignored: {', '.join(ignore)})" if ignore else ""))
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--cache", type=Path, help="where the suite's indexes are built (default: the shared cache)")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--ignore", action="append", default=[], help="a field not compared (repeatable)")
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.cache)
        return 0
    return compare(args.before, args.after, args.ignore)


if __name__ == "__main__":
    sys.exit(main())
