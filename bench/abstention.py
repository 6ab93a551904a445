"""Calibrate and measure the abstention signals on an evaluation set (README, 'Abstention').

Runs every question once, keeps the evidence the answer stage computed, then scores candidate
rules: abstention accuracy on unanswerable questions, false-abstention rate on answerable ones.

    .venv/bin/python bench/abstention.py [eval/dev.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

from qa.evaluate import load_eval_set
from qa.service import QA
from qa.settings import Settings

RULES = {
    "cosine >= 0.80 alone": lambda e: e["dense_top"] >= 0.80,
    "+ question words present in the articles": lambda e: e["dense_top"] >= 0.80 and e["term_coverage"] > 0,
    "+ words present + >= 30 % of the IDF weight in one passage":
        lambda e: e["dense_top"] >= 0.80 and e["term_coverage"] > 0 and e["passage_coverage"] >= 0.3,
    "+ a specific shared word when a question word is missing (shipped)":
        lambda e: e["dense_top"] >= 0.80 and e["term_coverage"] > 0 and e["passage_coverage"] >= 0.3
        and (not e["unsure_words"] or e["specific_overlap"]),
    "+ a specific shared word always":
        lambda e: e["dense_top"] >= 0.80 and e["term_coverage"] > 0 and e["passage_coverage"] >= 0.3
        and e["specific_overlap"],
    "+ answer type present in the top 3": lambda e: e["dense_top"] >= 0.80 and e["type_match"],
    "+ >= 40 % of the question's IDF weight in one passage": lambda e: e["dense_top"] >= 0.80 and e["passage_coverage"] >= 0.4,
    "+ no uncovered question word": lambda e: e["dense_top"] >= 0.80 and not e["uncovered"],
    "cosine >= 0.78 alone": lambda e: e["dense_top"] >= 0.78,
    "cosine >= 0.85 alone": lambda e: e["dense_top"] >= 0.85,
}


def main(path: str = "eval/dev.jsonl") -> None:
    qa = QA(Settings.from_env())
    items = load_eval_set(Path(path), lambda d: qa.index.articles[d].text if d in qa.index.articles else None)
    evidence = [(item.answerable, qa.ask(item.question).evidence) for item in items]
    answerable = [e for a, e in evidence if a]
    unanswerable = [e for a, e in evidence if not a]
    print(f"{len(answerable)} answerable, {len(unanswerable)} unanswerable questions from {path}")
    print("| rule | abstention accuracy | false-abstention rate |\n|---|---|---|")
    for name, found in RULES.items():
        accuracy = sum(not found(e) for e in unanswerable) / len(unanswerable)
        false_rate = sum(not found(e) for e in answerable) / len(answerable)
        print(f"| {name} | {accuracy:.2f} | {false_rate:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
