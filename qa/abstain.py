"""Abstention: the calibrated probability that the articles answer a question, from general features of
its ranking, and the decision `found` taken from it.

The model (qa/data/abstain.json, written by `qa train`) is a logistic regression over how well the
best passages match — the ranker's score and margin, cosines of the passage and its best sentence
against the question's own neighbourhood (CSLS's r_q), how much of the question the passages and the
whole corpus hold — fitted on the tune corpora's answerable and unanswerable questions. Its operating
point, stored beside the weights, is the highest threshold that refused at most 5 % of answerable
questions in cross-validation; an isotonic map fitted on held-out predictions, also stored there, turns
its raw probability into a calibrated one.
"""

from __future__ import annotations

import numpy as np

from .answer_types import has_answer_type
from .errors import IndexStateError
from .query import Query
from .rank import Ranking, coverage, idf, model
from .settings import Settings
from .store import StoreView
from .text import terms

FEATURES = ("top_score", "score_margin", "top_cos", "top_sent_cos", "cos_over_neighbourhood", "query_hubness",
            "top_coverage", "best_coverage_top3", "coverage_anywhere", "top_type_match", "typed_sentence_coverage",
            "names_missing_top", "names_missing_top3")


def _missing_share(names: list[tuple[set[str], float]], held: set[str]) -> float:
    total = sum(w for _t, w in names)
    return sum(w for t, w in names if not (t & held)) / total if total > 0 else 0.0


def features(view: StoreView, query: Query, ranking: Ranking) -> np.ndarray:
    """The answerability features of one question's ranking (zeros when nothing was found).

    Besides how well the best passages match, two signals of a near miss: the best sentence that holds
    the kind of answer asked should also hold the question's words, and the names and numbers the
    question gives should be in the passages that answer it."""
    if not ranking.candidates:
        return np.zeros(len(FEATURES))
    ranking = ranking.learned()
    top3 = ranking.candidates[:3]
    passages = view.passages([c.pid for c in top3])
    sentences = view.sentences_of([c.pid for c in top3])
    weights = ranking.weights
    typed, held = 0.0, []
    for c in top3:
        passage = passages[c.pid]
        article = view.article(passage.doc)
        lang = (article.lang if article is not None else None) or "fr"
        held.append(set(terms(passage.text, lang)))
        for span in sentences[c.pid][0]:
            sentence = article.text[span.start:span.end]
            if not query.kind or has_answer_type(sentence, query.kind):
                typed = max(typed, coverage(set(terms(sentence, lang)), weights))
    # the best passage: its best sentence's cosine (its own cosine when it has no sentence vectors) and
    # whether it holds the kind of answer asked
    top = ranking.candidates[0]
    spans, vectors = sentences[top.pid]
    top_sentence_cos = float((vectors @ query.vector).max()) if len(spans) else top.feature("cos")
    top_type_match = bool(query.kind) and has_answer_type(passages[top.pid].text, query.kind)
    names = [(forms, max((idf(view, t) for t in forms), default=0.0) or 1.0) for forms in query.names]
    missing_top = _missing_share(names, held[0])
    missing_top3 = _missing_share(names, set().union(*held))
    return np.concatenate([_ranking_features(ranking, top_sentence_cos, top_type_match),
                           [typed, missing_top, missing_top3]])


def _ranking_features(ranking: Ranking, top_sentence_cos: float, top_type_match: bool) -> np.ndarray:
    top = ranking.candidates[0]
    scores = ranking.scores
    margin = float(scores[0] - scores[1]) if len(scores) > 1 else 0.0
    best_cos = max(c.feature("cos") for c in ranking.candidates)
    return np.array([
        float(scores[0]), margin, top.feature("cos"), top_sentence_cos, best_cos - ranking.query_hubness,
        ranking.query_hubness, top.feature("coverage"), max(c.feature("coverage") for c in ranking.candidates[:3]),
        ranking.coverage_anywhere, float(top_type_match),
    ], dtype=np.float64)


def confidence(view: StoreView, query: Query, ranking: Ranking, settings: Settings) -> float:
    """The probability (0–1) that the articles answer the question, as the abstention model estimates it."""
    if not ranking.candidates:
        return 0.0
    abstainer = model(settings.abstain_model, FEATURES, settings.ranker_model)
    raw = float(abstainer.probabilities(features(view, query, ranking)[None, :])[0])
    return float(calibrated(raw, abstainer.extra.get("calibration"), f"model file {settings.abstain_model}"))


def calibrated(raw, calibration: dict | None, source: str = "the model") -> np.ndarray:
    """Raw probabilities (one or an array) through the model's isotonic calibration (breakpoints fitted by
    `qa train` on held-out questions); unchanged without one. IndexStateError naming `source` if unusable."""
    if calibration is None:
        return raw
    try:
        xs = np.asarray(calibration["raw"], dtype=np.float64)
        ys = np.asarray(calibration["calibrated"], dtype=np.float64)
        valid = (xs.ndim == 1 and xs.shape == ys.shape and len(xs) >= 1 and np.all(np.diff(xs) >= 0)
                 and np.all(np.diff(ys) >= 0) and np.all((ys >= 0) & (ys <= 1)) and np.all(np.isfinite(xs)))
    except (KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        raise IndexStateError(f"{source} has an unusable calibration; retrain it with `qa train`")
    return np.interp(raw, xs, ys)


def threshold(settings: Settings) -> float:
    """The confidence below which the answer is 'not found': the setting, else the model's operating point."""
    if settings.min_confidence is not None:
        return settings.min_confidence
    return float(model(settings.abstain_model, FEATURES).extra.get("threshold", 0.5))
