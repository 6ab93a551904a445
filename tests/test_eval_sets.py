"""The evaluation files and the suite: one test per file, each failure naming the file and line.

eval/*.jsonl are question sets about seeds/; eval/corpora/<name>/ are the suite's corpora, each with its
articles and questions; eval/split.json says which corpora are tune and which are check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluate import load_eval_set

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT / "eval"
SEEDS_DIR = ROOT / "seeds"
SUITE = EVAL_DIR / "corpora"
SEED_SETS = sorted(EVAL_DIR.glob("*.jsonl"))
CORPORA = sorted(p for p in SUITE.iterdir() if p.is_dir())


def _reader(folder: Path):
    def text(doc: str) -> str | None:
        path = folder / doc
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return text


@pytest.mark.parametrize("path", SEED_SETS, ids=[p.name for p in SEED_SETS])
def test_seed_question_set_is_valid(path):
    items = load_eval_set(path, _reader(SEEDS_DIR))  # raises InputError naming the line of any problem
    assert len({i.id for i in items}) == len(items)


def test_dev_set_composition():
    items = load_eval_set(EVAL_DIR / "dev.jsonl", _reader(SEEDS_DIR))
    assert len(items) >= 80
    assert sum(i.lang == "fr" and i.answerable for i in items) >= 30
    assert sum(i.lang == "en" and i.answerable for i in items) >= 20
    assert sum(not i.answerable for i in items) >= 10


@pytest.mark.parametrize("corpus", CORPORA, ids=[p.name for p in CORPORA])
def test_suite_corpus_is_valid(corpus):
    articles = sorted(p for p in (corpus / "articles").iterdir() if p.is_file())
    items = load_eval_set(corpus / "questions.jsonl", _reader(corpus / "articles"))
    assert len(articles) >= 5, f"{corpus.name}: {len(articles)} articles"
    assert len(items) >= 50, f"{corpus.name}: {len(items)} questions"
    unanswerable = sum(not i.answerable for i in items) / len(items)
    assert unanswerable >= 0.15, f"{corpus.name}: {unanswerable:.0%} unanswerable"
    if corpus.name != "seeds":  # written for the suite: news-article lengths, many English questions
        for path in articles:
            n = len(path.read_text(encoding="utf-8"))
            assert 2000 <= n <= 5000, f"{path.relative_to(ROOT)}: {n} characters"
        english = sum(i.lang == "en" for i in items) / len(items)
        assert english >= 0.35, f"{corpus.name}: {english:.0%} English questions"


def test_split_declares_every_corpus_once():
    split = json.loads((EVAL_DIR / "split.json").read_text(encoding="utf-8"))
    tune, check = split["tune"], split["check"]
    names = {p.name for p in CORPORA}
    assert not set(tune) & set(check)
    assert set(tune) | set(check) == names, "every corpus is tune or check"
    assert "seeds" in tune and len(tune) >= 4 and len(check) >= 4
