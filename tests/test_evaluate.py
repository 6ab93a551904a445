"""qa.evaluate: the contract's metrics on hand-made cases, and evaluation-file validation naming the line."""

from __future__ import annotations

import json
import math

import pytest

from qa.errors import InputError
from qa.evaluate import Gold, aggregate, credited_ranks, evaluate, load_eval_set, question_metrics
from qa.records import Answer, Citation

ARTICLES = {
    "a.txt": "La CNIL a autorisé l'hébergement pour une durée de trois ans. Le recours a été déposé en février.",
    "b.txt": "Le Health Data Hub a été créé en 2019 par la loi santé.",
}


def article_text(doc):
    return ARTICLES.get(doc)


# ------------------------------------------------------------------ metrics by hand

G0 = Gold("a.txt", 100, 120)
G1 = Gold("b.txt", 50, 80)


def test_question_metrics_by_hand():
    citations = [
        ("c.txt", 0, 50),     # 1: another article
        ("a.txt", 110, 200),  # 2: overlaps G0 → credits G0
        ("a.txt", 115, 118),  # 3: inside G0 again: relevant, but G0 is already credited
        ("b.txt", 0, 50),     # 4: ends where G1 starts (end exclusive): no overlap
        ("b.txt", 79, 90),    # 5: overlaps G1 by one character → credits G1
        ("a.txt", 0, 10),     # 6
    ]
    m = question_metrics(citations, (G0, G1))
    assert m["first_relevant_rank"] == 2
    assert (m["hit@1"], m["hit@3"], m["hit@5"]) == (0.0, 1.0, 1.0)
    assert m["mrr@10"] == 0.5
    dcg = 1 / math.log2(2 + 1) + 1 / math.log2(5 + 1)
    idcg = 1 / math.log2(1 + 1) + 1 / math.log2(2 + 1)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg) == pytest.approx(0.6240505200038379)
    assert m["recall@5"] == 1.0
    assert credited_ranks(citations, (G0, G1)) == [None, 0, None, None, 1, None]


def test_question_metrics_perfect_and_partial_recall():
    perfect = question_metrics([("a.txt", 100, 120), ("b.txt", 60, 70)], (G0, G1))
    assert perfect == {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": pytest.approx(1.0),
                       "recall@5": 1.0, "first_relevant_rank": 1}
    # G1 is found only at rank 6: outside recall@5; nDCG counts it at rank 6.
    late = [("a.txt", 100, 101)] + [("x.txt", 0, 1)] * 4 + [("b.txt", 50, 51)]
    m = question_metrics(late, (G0, G1))
    assert m["recall@5"] == 0.5
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(7)) / (1 + 1 / math.log2(3)))


def test_question_metrics_relevant_only_after_rank_10():
    citations = [("x.txt", 0, 10)] * 10 + [("a.txt", 100, 120)]
    m = question_metrics(citations, (G0,))
    assert m["first_relevant_rank"] == 11
    assert (m["hit@1"], m["hit@5"], m["mrr@10"], m["ndcg@10"], m["recall@5"]) == (0.0, 0.0, 0.0, 0.0, 0.0)


def test_question_metrics_third_rank_single_gold():
    m = question_metrics([("x.txt", 0, 1), ("x.txt", 2, 3), ("a.txt", 90, 101)], (G0,))
    assert m["mrr@10"] == pytest.approx(1 / 3)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert (m["hit@1"], m["hit@3"]) == (0.0, 1.0)


def test_question_metrics_without_citations():
    m = question_metrics([], (G0,))
    assert m["first_relevant_rank"] is None
    assert all(m[k] == 0.0 for k in ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "recall@5"))


def _row(answerable, found, latency, lang="fr", **metrics):
    base = {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0, "recall@5": 0.0}
    return {"answerable": answerable, "found": found, "latency_ms": latency, "lang": lang,
            "metrics": ({**base, **metrics} if answerable else {})}


def test_aggregate_by_hand():
    rows = [
        _row(True, True, 10.0, **{"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0, "recall@5": 1.0}),
        _row(True, False, 20.0, **{"hit@3": 1.0, "hit@5": 1.0, "mrr@10": 0.5, "ndcg@10": 0.5, "recall@5": 0.5}),
        _row(False, False, 30.0),
        _row(False, True, 40.0),
        _row(False, False, 50.0),
    ]
    out = aggregate(rows)
    assert (out["questions"], out["answerable"], out["unanswerable"]) == (5, 2, 3)
    assert out["hit@1"] == 0.5 and out["hit@3"] == 1.0 and out["mrr@10"] == 0.75 and out["recall@5"] == 0.75
    assert out["abstention_accuracy"] == round(2 / 3, 4)
    assert out["false_abstention_rate"] == 0.5
    assert out["latency_p50_ms"] == 30.0  # nearest rank: ceil(0.5 × 5) = 3rd
    assert out["latency_p95_ms"] == 50.0


def test_aggregate_without_unanswerable_questions():
    out = aggregate([_row(True, True, 5.0, **{"hit@1": 1.0})])
    assert out["abstention_accuracy"] is None
    assert out["false_abstention_rate"] == 0.0


# ------------------------------------------------------------------ evaluate()

def _answer(question, found, cites):
    citations = tuple(Citation(n=i, doc=d, title=None, author=None, url=None, date=None, start=s, end=e,
                               quote=ARTICLES[d][s:e], score=0.9) for i, (d, s, e) in enumerate(cites, start=1))
    return Answer(question=question, language="fr", found=found, answer="…", citations=citations)


def test_evaluate_scores_each_question_and_groups_by_language(tmp_path):
    lines = [
        {"id": "q1", "lang": "fr", "question": "Pour combien de temps ?", "answerable": True,
         "gold": [{"doc": "a.txt", "quote": "trois ans"}]},
        {"id": "q2", "lang": "en", "question": "When was the hub created?", "answerable": True,
         "gold": [{"doc": "b.txt", "quote": "en 2019"}]},
        {"id": "q3", "lang": "fr", "question": "Quelle est la capitale de l'Australie ?", "answerable": False, "gold": []},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    items = load_eval_set(path, article_text)
    three = ARTICLES["a.txt"].index("trois ans")
    answers = {
        "Pour combien de temps ?": _answer("…", True, [("a.txt", three - 5, three + 20)]),
        "When was the hub created?": _answer("…", True, [("a.txt", 0, 10), ("b.txt", 0, 10)]),
        "Quelle est la capitale de l'Australie ?": _answer("…", False, [("b.txt", 0, 10)]),
    }
    result = evaluate(items, lambda q: answers[q])
    rows = {r["id"]: r for r in result["rows"]}
    assert rows["q1"]["pass"] is True and rows["q1"]["first_relevant_rank"] == 1
    assert rows["q2"]["pass"] is False and rows["q2"]["metrics"]["mrr@10"] == 0.0
    assert rows["q3"]["pass"] is True and rows["q3"]["metrics"] == {}
    metrics = result["metrics"]
    assert set(metrics) == {"overall", "fr", "en"}
    assert metrics["overall"]["hit@1"] == 0.5
    assert metrics["fr"]["abstention_accuracy"] == 1.0 and metrics["fr"]["hit@1"] == 1.0
    assert metrics["en"]["unanswerable"] == 0
    assert all(r["latency_ms"] >= 0 for r in result["rows"])


# ------------------------------------------------------------------ load_eval_set errors

GOOD_LINE = {"id": "ok1", "lang": "fr", "question": "Pour combien de temps ?", "answerable": True,
             "gold": [{"doc": "a.txt", "quote": "trois ans"}]}


def _write(tmp_path, bad: str, position: int = 3) -> tuple:
    lines = [json.dumps({**GOOD_LINE, "id": f"ok{i}"}, ensure_ascii=False) for i in range(1, 5)]
    lines.insert(position - 1, bad)
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, position


def _bad(**changes) -> str:
    record = {**GOOD_LINE, "id": "bad"}
    for key, value in changes.items():
        if value is _DROP:
            record.pop(key)
        else:
            record[key] = value
    return json.dumps(record, ensure_ascii=False)


_DROP = object()


@pytest.mark.parametrize("bad, words", [
    ('{"id": "x", "lang": "fr",', "not valid JSON"),
    ("[1, 2, 3]", "JSON object"),
    (_bad(question=_DROP), "missing field 'question'"),
    (_bad(gold=_DROP), "missing field 'gold'"),
    (_bad(answerable="yes"), "'answerable' must be bool"),
    (_bad(id=7), "'id' must be str"),
    (_bad(gold={"doc": "a.txt"}), "'gold' must be list"),
    (_bad(lang="de"), "lang must be one of"),
    (_bad(gold=[{"doc": "zzz.txt", "quote": "trois ans"}]), "unknown article 'zzz.txt'"),
    (_bad(gold=[{"doc": "a.txt", "quote": "quatre ans"}]), "not a verbatim substring"),
    (_bad(gold=[{"doc": "a.txt", "quote": "Trois Ans"}]), "not a verbatim substring"),
    (_bad(gold=[{"doc": "a.txt", "quote": ""}]), "each gold must be"),
    (_bad(gold=[{"doc": "a.txt"}]), "each gold must be"),
    (_bad(gold=[]), "answerable questions need gold"),
    (_bad(answerable=False), "unanswerable ones none"),
    (json.dumps({**GOOD_LINE, "id": "ok1"}), "duplicate id 'ok1'"),
])
def test_load_eval_set_errors_name_the_line(tmp_path, bad, words):
    path, line = _write(tmp_path, bad)
    with pytest.raises(InputError) as info:
        load_eval_set(path, article_text)
    message = str(info.value)
    assert f"{path}:{line}:" in message
    assert words in message
    assert "\n" not in message


def test_load_eval_set_resolves_gold_spans_and_skips_blank_lines(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text("\n" + json.dumps(GOOD_LINE) + "\n\n", encoding="utf-8")
    [item] = load_eval_set(path, article_text)
    [gold] = item.gold
    assert ARTICLES["a.txt"][gold.start:gold.end] == "trois ans"
    assert item.line == 2 and item.answerable and item.lang == "fr"


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    (b"", "no questions"),
    (b"\n  \n", "no questions"),
    ("caf\u00e9".encode("latin-1"), "not UTF-8"),
])
def test_load_eval_set_file_problems(tmp_path, content, words):
    path = tmp_path / "set.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=words):
        load_eval_set(path, article_text)
