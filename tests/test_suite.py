"""qa.suite and qa.train: an evaluation suite of corpora with a tune/check split, scored beside the plain
baselines, and the three small models trained on its tune corpora (made-up corpora, fake model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAKE_ARTICLES, FAKE_MODEL, FakeEmbedder, write_corpus

from qa.abstain import FEATURES as ABSTAIN_FEATURES
from qa.answer import QUOTE_FEATURES
from qa.cli import main
from qa.errors import InputError
from qa.rank import FEATURES, load_model
from qa.settings import Settings
from qa.suite import evaluate_suite, load_suite, macro_averages, sessions, suite_table, write_suite_report
from qa.train import collect, operating_point, train

QUESTIONS = [
    {"id": "q1", "lang": "fr", "question": "Quel est le budget des pistes cyclables ?", "answerable": True,
     "gold": [{"doc": "velo_lyon.txt", "quote": "Le budget atteint 45"}]},
    {"id": "q2", "lang": "fr", "question": "Pourquoi les écoles de Bordeaux ferment-elles ?", "answerable": True,
     "gold": [{"doc": "canicule_bordeaux.md", "quote": "en raison d’une canicule exceptionnelle"}]},
    {"id": "q3", "lang": "en", "question": "How much did the observatory work cost?", "answerable": True,
     "gold": [{"doc": "observatoire.txt", "quote": "Le chantier a coûté 2,5 millions d’euros"}]},
    {"id": "q4", "lang": "fr", "question": "Qui recommande de faire boire les enfants ?", "answerable": True,
     "gold": [{"doc": "canicule_bordeaux.md", "quote": "Le Dr. Sophie Marchand"}]},
    {"id": "q5", "lang": "en", "question": "What is the salary of the mayor of Lyon?", "answerable": False, "gold": []},
    {"id": "q6", "lang": "fr", "question": "Quel temps fera-t-il à Paris demain ?", "answerable": False, "gold": []},
]


def invoke_cli(runner, args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def make_suite(root, names=("alpha", "beta", "gamma"), split=None):
    for name in names:
        write_corpus(root / name / "articles", FAKE_ARTICLES)
        (root / name / "questions.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS),
                                                     encoding="utf-8")
    split = split or {"tune": ["alpha", "beta"], "check": ["gamma"]}
    (root / "split.json").write_text(json.dumps(split), encoding="utf-8")
    return root


@pytest.fixture
def suite(tmp_path):
    return make_suite(tmp_path / "suite")


@pytest.fixture
def base(tmp_path):
    return Settings(model=FAKE_MODEL, index_dir=tmp_path / "unused")


def test_load_suite_reads_corpora_and_their_roles(suite):
    corpora = load_suite(suite)
    assert [(c.name, c.role) for c in corpora] == [("alpha", "tune"), ("beta", "tune"), ("gamma", "check")]


def test_a_folder_without_corpora_is_not_a_suite(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no corpus"):
        load_suite(tmp_path / "empty")
    with pytest.raises(InputError, match="no such folder"):
        load_suite(tmp_path / "missing")


def test_a_broken_split_file_is_refused(suite):
    (suite / "split.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="split"):
        load_suite(suite)


def test_evaluate_suite_scores_every_corpus_and_every_baseline(suite, base, tmp_path):
    report = evaluate_suite(load_suite(suite), base, FakeEmbedder(), tmp_path / "cache", k=5)
    assert set(report["corpora"]) == {"alpha", "beta", "gamma"}
    for result in report["corpora"].values():
        assert set(result["modes"]) == {"hybrid", "dense", "lexical", "rrf"}
        overall = result["modes"]["hybrid"]["metrics"]["overall"]
        assert overall["questions"] == len(QUESTIONS) and overall["answerable"] == 4
        assert overall["quote_accuracy"] is None or 0 <= overall["quote_accuracy"] <= 1
    assert report["macro"]["check"]["corpora"] == ["gamma"] and report["macro"]["tune"]["corpora"] == ["alpha", "beta"]
    # identical corpora: the macro average is each corpus's value
    gamma = report["corpora"]["gamma"]["modes"]["dense"]["metrics"]["overall"]["hit@1"]
    assert report["macro"]["check"]["dense"]["overall"]["hit@1"] == pytest.approx(gamma)
    table = suite_table(report)
    assert "MACRO check" in table and "gamma" in table and "dense h@1" in table
    out = tmp_path / "report"
    write_suite_report(out, report)
    for name in ("summary.json", "summary.txt", "corpora.png", "reliability.png", "gamma/metrics.json",
                 "gamma/per_question.jsonl"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "gamma" / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4 * len(QUESTIONS) and {r["retriever"] for r in rows} == {"hybrid", "dense", "lexical", "rrf"}


def test_macro_averages_mean_over_corpora():
    def result(role, h1):
        metrics = {"overall": {"hit@1": h1}, "fr": {"hit@1": h1}, "en": {}}
        return {"role": role, "modes": {m: {"metrics": metrics} for m in ("hybrid", "dense", "lexical", "rrf")}}
    macro = macro_averages({"a": result("check", 0.2), "b": result("check", 0.6), "c": result("tune", 1.0)})
    assert macro["check"]["hybrid"]["overall"]["hit@1"] == pytest.approx(0.4)
    assert macro["tune"]["hybrid"]["overall"]["hit@1"] == pytest.approx(1.0)
    assert macro["all"]["hybrid"]["overall"]["hit@1"] == pytest.approx(0.6)
    assert macro["check"]["hybrid"]["en"]["hit@1"] is None


def test_operating_point_refuses_at_most_the_share_asked():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.05, 0.02])
    answerable = np.array([True] * 10 + [False] * 2)
    t = operating_point(p, answerable, 0.1)
    assert np.mean(p[answerable] < t) <= 0.1 and t == pytest.approx(0.2)
    assert operating_point(p, answerable, 0.0) == pytest.approx(0.1)


def test_operating_point_bounds_the_mean_refusal_rate_over_corpora():
    # corpus a: 2 answerable, corpus b: 8; refusing b's two lowest costs b 25 %, a nothing: mean 12.5 %
    p = np.array([0.9, 0.95, 0.1, 0.2, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9])
    groups = np.array(["a", "a"] + ["b"] * 8)
    answerable = np.ones(10, dtype=bool)
    assert operating_point(p, answerable, 0.125, groups) == pytest.approx(0.5)  # refuses b's 0.1 and 0.2: (0 + 25 %) / 2
    assert operating_point(p, answerable, 0.125) == pytest.approx(0.2)          # pooled, 2 of 10 would be 20 %
    assert operating_point(p, answerable, 0.06, groups) == pytest.approx(0.1)   # refusing 0.1 already costs 6.25 %


def test_train_writes_three_loadable_models(suite, base, tmp_path):
    corpora = [c for c in load_suite(suite) if c.role == "tune"]
    data = collect(sessions(corpora, base, FakeEmbedder(), tmp_path / "cache", lambda _m: None), lambda _m: None)
    assert {d.corpus for d in data} == {"alpha", "beta"} and len(data) == 2 * (len(QUESTIONS) + 4)
    assert sum(d.foreign for d in data) == 8 and all(not d.item.answerable for d in data if d.foreign)
    report = train(data, tmp_path / "models", 0.05, {"corpora": ["alpha", "beta"]}, lambda _m: None)
    assert set(report["corpora"]) == {"alpha", "beta"} and 0 <= report["threshold"] <= 1
    for name, features in (("ranker", FEATURES), ("abstain", ABSTAIN_FEATURES), ("quoter", QUOTE_FEATURES)):
        model = load_model(tmp_path / "models" / f"{name}.json", features)
        assert model.extra["trained_on"] == {"corpora": ["alpha", "beta"]}
    assert load_model(tmp_path / "models" / "abstain.json", ABSTAIN_FEATURES).extra["max_false_refusals"] == 0.05


def test_cli_eval_suite_and_train(fake_cli, suite, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QA_MODEL", FAKE_MODEL)
    result = invoke_cli(fake_cli, ["eval", "--suite", suite, "--out", tmp_path / "rep", "-k", "5"])
    assert result.exit_code == 0, result.stderr
    assert "MACRO check" in result.stdout and (tmp_path / "rep" / "summary.json").is_file()
    result = invoke_cli(fake_cli, ["eval", "--suite", suite, "--json"])
    assert set(json.loads(result.stdout)) == {"tune", "check", "all"}
    result = invoke_cli(fake_cli, ["train", "--suite", suite, "--out", tmp_path / "models"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "models" / "ranker.json").is_file()


def test_cli_eval_needs_a_file_or_a_suite(fake_cli):
    result = invoke_cli(fake_cli, ["eval"])
    assert result.exit_code == 2 and "--suite" in result.stderr


def test_cli_train_without_tune_corpora_is_refused(fake_cli, tmp_path):
    suite = make_suite(tmp_path / "s", split={"tune": [], "check": ["alpha", "beta", "gamma"]})
    result = invoke_cli(fake_cli, ["train", "--suite", suite, "--out", tmp_path / "m"])
    assert result.exit_code == 2 and "tune" in result.stderr


@pytest.mark.parametrize("split, words", [({"tune": ["alpha"], "check": ["alpha"]}, "twice"),
                                          ({"tune": ["alpha", "omega"]}, "not a corpus"),
                                          ({"tune": "alpha"}, "list"), ([1, 2], "object")])
def test_split_files_are_checked(suite, split, words):
    (suite / "split.json").write_text(json.dumps(split), encoding="utf-8")
    with pytest.raises(InputError, match=words):
        load_suite(suite)


def test_a_suite_without_a_split_reports_the_average_of_all(tmp_path, base):
    suite = make_suite(tmp_path / "s", names=("alpha", "beta"))
    (suite / "split.json").unlink()
    report = evaluate_suite(load_suite(suite), base, FakeEmbedder(), tmp_path / "cache", k=3)
    assert "MACRO all" in suite_table(report)


def test_a_corpus_without_answerable_questions_is_reported(tmp_path, base):
    suite = make_suite(tmp_path / "s", names=("alpha",), split={"tune": [], "check": ["alpha"]})
    unanswerable = [q for q in QUESTIONS if not q["answerable"]]
    (suite / "alpha" / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in unanswerable), encoding="utf-8")
    report = evaluate_suite(load_suite(suite), base, FakeEmbedder(), tmp_path / "cache", k=3, progress=lambda _m: None)
    assert report["corpora"]["alpha"]["modes"]["hybrid"]["metrics"]["overall"]["hit@1"] is None
    assert "alpha" in suite_table(report)


def test_train_needs_two_corpora_and_both_kinds_of_examples(suite, base, tmp_path):
    corpora = [c for c in load_suite(suite) if c.name == "alpha"]
    data = collect(sessions(corpora, base, FakeEmbedder(), tmp_path / "cache", lambda _m: None), lambda _m: None)
    with pytest.raises(InputError, match="two tune corpora"):
        train(data, tmp_path / "m", progress=lambda _m: None)
    from qa.train import fit

    with pytest.raises(InputError, match="one kind"):
        fit(np.zeros((3, 2)), np.array([True, True, True]), np.ones(3), ("a", "b"))


def test_a_held_out_corpus_is_not_trained_on_as_foreign_questions(suite, base, tmp_path):
    corpora = [c for c in load_suite(suite) if c.role == "tune"]
    data = collect(sessions(corpora, base, FakeEmbedder(), tmp_path / "cache", lambda _m: None), lambda _m: None)
    foreign = [d for d in data if d.foreign]
    assert foreign and all(d.source != d.corpus for d in foreign)
