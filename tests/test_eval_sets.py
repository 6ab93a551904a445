"""Checks the evaluation sets in eval/*.jsonl against the format in CONTRACT.md.

Standard library + pytest only. Every line of every eval/*.jsonl file is a
separate test case; per-file checks (unique ids, dev.jsonl composition) are
separate tests.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT / "eval"
SEEDS_DIR = ROOT / "seeds"

KEYS = ["id", "lang", "question", "answerable", "gold"]
LANGS = {"fr", "en"}

EVAL_FILES = sorted(EVAL_DIR.glob("*.jsonl"))

# Minimum composition of eval/dev.jsonl.
DEV_MIN_TOTAL = 80
DEV_MIN_FR_ANSWERABLE = 30
DEV_MIN_EN_ANSWERABLE = 20
DEV_MIN_UNANSWERABLE = 10


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def _line_cases():
    cases = []
    for path in EVAL_FILES:
        for lineno, line in enumerate(_lines(path), 1):
            cases.append(pytest.param(path, lineno, line, id=f"{path.name}:{lineno}"))
    return cases


_doc_cache = {}


def _doc_text(name):
    if name not in _doc_cache:
        _doc_cache[name] = (SEEDS_DIR / name).read_text(encoding="utf-8")
    return _doc_cache[name]


def _records(path):
    return [json.loads(line) for line in _lines(path)]


def test_eval_files_exist():
    assert EVAL_FILES, f"no *.jsonl files in {EVAL_DIR}"
    assert (EVAL_DIR / "dev.jsonl") in EVAL_FILES


@pytest.mark.parametrize("path,lineno,line", _line_cases())
def test_line(path, lineno, line):
    where = f"{path.name}:{lineno}"
    assert line.strip(), f"{where}: blank line"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{where}: invalid JSON: {exc}")
    assert isinstance(obj, dict), f"{where}: not a JSON object"
    assert list(obj) == KEYS, f"{where}: keys {list(obj)} != {KEYS}"

    assert isinstance(obj["id"], str) and obj["id"].strip(), f"{where}: bad id"
    assert obj["lang"] in LANGS, f"{where}: lang {obj['lang']!r} not in {sorted(LANGS)}"
    assert isinstance(obj["question"], str) and obj["question"].strip(), f"{where}: empty question"
    assert isinstance(obj["answerable"], bool), f"{where}: answerable must be true/false"
    gold = obj["gold"]
    assert isinstance(gold, list), f"{where}: gold must be a list"

    if obj["answerable"]:
        assert gold, f"{where}: answerable question without gold"
    else:
        assert gold == [], f"{where}: unanswerable question must have gold: []"

    for i, g in enumerate(gold):
        gw = f"{where} gold[{i}]"
        assert isinstance(g, dict), f"{gw}: not an object"
        assert set(g) == {"doc", "quote"}, f"{gw}: keys {sorted(g)} != ['doc', 'quote']"
        assert isinstance(g["doc"], str) and g["doc"], f"{gw}: bad doc"
        assert isinstance(g["quote"], str) and g["quote"].strip(), f"{gw}: empty quote"
        doc_path = SEEDS_DIR / g["doc"]
        assert doc_path.is_file(), f"{gw}: doc {g['doc']!r} not found in seeds/"
        assert g["quote"] in _doc_text(g["doc"]), (
            f"{gw}: quote is not a verbatim substring of {g['doc']}: {g['quote']!r}"
        )


@pytest.mark.parametrize("path", EVAL_FILES, ids=[p.name for p in EVAL_FILES])
def test_ids_unique(path):
    ids = [r["id"] for r in _records(path)]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"{path.name}: duplicate ids {dupes}"


def test_dev_composition():
    records = _records(EVAL_DIR / "dev.jsonl")
    fr_ans = sum(1 for r in records if r["lang"] == "fr" and r["answerable"])
    en_ans = sum(1 for r in records if r["lang"] == "en" and r["answerable"])
    unans = [r for r in records if not r["answerable"]]
    assert len(records) >= DEV_MIN_TOTAL, f"only {len(records)} questions"
    assert fr_ans >= DEV_MIN_FR_ANSWERABLE, f"only {fr_ans} French answerable questions"
    assert en_ans >= DEV_MIN_EN_ANSWERABLE, f"only {en_ans} English answerable questions"
    assert len(unans) >= DEV_MIN_UNANSWERABLE, f"only {len(unans)} unanswerable questions"
    assert {r["lang"] for r in unans} == LANGS, "unanswerable questions must exist in both languages"


def test_dev_covers_every_seed():
    records = _records(EVAL_DIR / "dev.jsonl")
    cited = {g["doc"] for r in records for g in r["gold"]}
    seeds = {p.name for p in SEEDS_DIR.iterdir() if p.is_file()}
    assert seeds <= cited, f"seeds without any gold in dev.jsonl: {sorted(seeds - cited)}"
