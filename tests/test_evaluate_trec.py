"""Cross-check qa's ranking metrics against trec_eval (pytrec_eval) on random span-matching cases."""

from __future__ import annotations

import random

import pytest

from qa.evaluate import Gold, credited_ranks, question_metrics

pytrec_eval = pytest.importorskip("pytrec_eval")


def _random_case(rng: random.Random):
    docs = ["a.txt", "b.txt", "c.txt"]
    golds = tuple(Gold(rng.choice(docs), s, s + rng.randint(5, 40)) for s in rng.sample(range(0, 400, 10), rng.randint(1, 4)))
    citations = []
    for _ in range(rng.randint(0, 12)):
        start = rng.randrange(0, 420)
        citations.append((rng.choice(docs), start, start + rng.randint(10, 120)))
    return citations, golds


def _trec_view(citations, golds):
    """The same question as trec_eval sees it: gold spans are the relevant 'documents', credited once."""
    qrel = {f"g{i}": 1 for i in range(len(golds))}
    credits = credited_ranks(citations[:10], golds)
    run = {(f"g{c}" if c is not None else f"n{rank}"): float(100 - rank) for rank, c in enumerate(credits)}
    return qrel, run


@pytest.mark.parametrize("seed", range(200))
def test_metrics_match_trec_eval(seed):
    rng = random.Random(seed)
    citations, golds = _random_case(rng)
    ours = question_metrics(citations, golds)
    qrel, run = _trec_view(citations, golds)
    if not run:
        assert ours["mrr@10"] == ours["ndcg@10"] == ours["recall@5"] == ours["hit@5"] == 0.0
        return
    evaluator = pytrec_eval.RelevanceEvaluator({"q": qrel}, {"recip_rank", "ndcg_cut.10", "recall.5", "success.1,3,5"})
    theirs = evaluator.evaluate({"q": run})["q"]
    assert ours["mrr@10"] == pytest.approx(theirs["recip_rank"])
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg_cut_10"])
    assert ours["recall@5"] == pytest.approx(theirs["recall_5"])
    for k in (1, 3, 5):
        assert ours[f"hit@{k}"] == pytest.approx(theirs[f"success_{k}"])
