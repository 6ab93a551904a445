"""Abstention: the calibrated probability that the articles answer a question, from general features of
its ranking, and the decision `found` taken from it.

The model (qa/data/abstain.json, written by `qa train`) is a logistic regression over how well the
best passages match — the ranker's score and margin, cosines of the passage and its best sentence
against the question's own neighbourhood (CSLS's r_q), how much of the question the passages and the
whole corpus hold — fitted on the tune corpora's answerable and unanswerable questions. Its operating
point, stored beside the weights, is the highest threshold that refused at most 5 % of answerable
questions in cross-validation.
"""

from __future__ import annotations

import numpy as np

from .rank import Ranking, model
from .settings import Settings

FEATURES = ("top_score", "score_margin", "top_cos", "top_sent_cos", "cos_over_neighbourhood", "query_hubness",
            "top_coverage", "best_coverage_top3", "coverage_anywhere", "top_type_match")
# Columns of the ranker's features this module reads (see qa.rank.FEATURES).
_COS, _SENT, _COVERAGE, _TYPE = 0, 3, 7, 8


def features(ranking: Ranking) -> np.ndarray:
    """The answerability features of one question's ranking (zeros when nothing was found)."""
    if not ranking.candidates:
        return np.zeros(len(FEATURES))
    top = ranking.candidates[0].features
    scores = ranking.scores
    margin = float(scores[0] - scores[1]) if len(scores) > 1 else 0.0
    best_cos = max(c.features[_COS] for c in ranking.candidates)
    return np.array([
        float(scores[0]), margin, top[_COS], top[_SENT], best_cos - ranking.query_hubness, ranking.query_hubness,
        top[_COVERAGE], max(c.features[_COVERAGE] for c in ranking.candidates[:3]), ranking.coverage_anywhere,
        top[_TYPE],
    ], dtype=np.float64)


def confidence(ranking: Ranking, settings: Settings) -> float:
    """The probability (0–1) that the articles answer the question, as the abstention model estimates it."""
    if not ranking.candidates:
        return 0.0
    return float(model(settings.abstain_model, FEATURES).probabilities(features(ranking)[None, :])[0])


def threshold(settings: Settings) -> float:
    """The confidence below which the answer is 'not found': the setting, else the model's operating point."""
    if settings.min_confidence is not None:
        return settings.min_confidence
    return float(model(settings.abstain_model, FEATURES).extra.get("threshold", 0.5))
