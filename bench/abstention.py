"""Calibrate and measure the abstention signals on evaluation sets (README, 'Abstention').

Runs every question once, keeps the evidence the answer stage computed, then scores candidate
rules: abstention accuracy on unanswerable questions, false-abstention rate on answerable ones.
Several sets are pooled (the dev set alone is too small to tell rules apart).

    .venv/bin/python bench/abstention.py [eval/dev.jsonl eval/fresh.jsonl …]
"""

from __future__ import annotations

import sys
from pathlib import Path

from qa.answer import decide_found
from qa.evaluate import load_eval_set
from qa.service import QA
from qa.settings import Settings

SETTINGS = Settings.from_env()


def cosine_ok(e: dict, language: str) -> bool:
    """The shipped cosine thresholds (min_dense_score, min_dense_score_en for an English question)."""
    return e["dense_top"] >= (SETTINGS.min_dense_score_en if language == "en" else SETTINGS.min_dense_score)


def words_present(e: dict, language: str) -> bool:
    """The cosine, and the shipped share of the question's words found in the articles (a third)."""
    return cosine_ok(e, language) and e["term_coverage"] >= SETTINGS.min_term_coverage


def words_and_weight(e: dict, language: str) -> bool:
    return words_present(e, language) and e["passage_coverage"] >= SETTINGS.min_passage_coverage


def specific_when_missing(e: dict, language: str) -> bool:
    """The rules above, and a specific shared word when a question word is missing from the articles."""
    return words_and_weight(e, language) and (not e["unsure_words"] or e["specific_overlap"])


RULES = {
    "cosine alone": cosine_ok,
    "+ some question word present in the articles": lambda e, l: cosine_ok(e, l) and e["term_coverage"] > 0,
    "+ a third of the question's words present in the articles": words_present,
    "+ words present + >= 30 % of the IDF weight in one passage": words_and_weight,
    "+ a specific shared word when a question word is missing": specific_when_missing,
    "+ a specific shared word always": lambda e, l: words_and_weight(e, l) and e["specific_overlap"],
    "+ a 'how many X' question needs a number of X":
        lambda e, l: specific_when_missing(e, l) and e["counted"] is not False,
    "+ a money question needs an amount; a byline ranked first answers a question about the article":
        lambda e, l: decide_found(e, SETTINGS.with_(require_role=False, require_event=False), l),
    "+ 'who heads X' needs a passage naming a role next to X":
        lambda e, l: decide_found(e, SETTINGS.with_(require_event=False), l),
    "+ 'when was X founded / did the court rule' needs a passage reporting it next to X (shipped)":
        lambda e, l: decide_found(e, SETTINGS, l),
    "+ answer type present in the top 3": lambda e, l: decide_found(e, SETTINGS, l) and e["type_match"],
    "+ >= 40 % of the question's IDF weight in one passage":
        lambda e, l: decide_found(e, SETTINGS, l) and e["passage_coverage"] >= 0.4,
    "+ no uncovered question word": lambda e, l: decide_found(e, SETTINGS, l) and not e["uncovered"],
    "cosine >= 0.85 alone (either language)": lambda e, l: e["dense_top"] >= 0.85,
}


def main(*paths: str) -> None:
    paths = paths or ("eval/dev.jsonl",)
    qa = QA(SETTINGS)
    evidence = []
    for path in paths:
        items = load_eval_set(Path(path), lambda d: qa.index.articles[d].text if d in qa.index.articles else None)
        for item in items:
            answer = qa.ask(item.question)
            evidence.append((item.answerable, answer.evidence, answer.language))
    answerable = [(e, lang) for a, e, lang in evidence if a]
    unanswerable = [(e, lang) for a, e, lang in evidence if not a]
    print(f"{len(answerable)} answerable, {len(unanswerable)} unanswerable questions from {', '.join(paths)}")
    print("| rule | abstention accuracy | false-abstention rate |\n|---|---|---|")
    for name, found in RULES.items():
        accuracy = sum(not found(e, lang) for e, lang in unanswerable) / len(unanswerable)
        false_rate = sum(not found(e, lang) for e, lang in answerable) / len(answerable)
        print(f"| {name} | {accuracy:.2f} | {false_rate:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
