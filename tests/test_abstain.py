"""qa.abstain: the answerability features of a ranking, the calibrated confidence, and the operating point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FakeEmbedder, make_settings
from qa.abstain import FEATURES, confidence, features, threshold
from qa.query import prepare, question_names
from qa.rank import LinearModel, Ranking, rank
from qa.service import QA


def _ranked(qa, question):
    query = qa.prepare([question])[0]
    with qa.store.snapshot() as view:
        return view, query, rank(view, query, qa.settings)


def test_features_are_finite_and_complete(qa):
    view, query, ranking = _ranked(qa, "Quel est le budget des pistes cyclables à Lyon ?")
    x = features(view, query, ranking)
    assert x.shape == (len(FEATURES),) and np.all(np.isfinite(x))
    assert x[FEATURES.index("top_score")] == pytest.approx(ranking.scores[0])


def test_no_candidate_means_no_confidence(qa):
    view, query, _ranking = _ranked(qa, "budget")
    empty = Ranking((), np.zeros(0), 0.0, 0.0)
    assert features(view, query, empty).tolist() == [0.0] * len(FEATURES)
    assert confidence(view, query, empty, qa.settings) == 0.0


@pytest.mark.parametrize("question, names", [
    ("Quand Jeanne Dupont a-t-elle été élue ?", ["Jeanne", "Dupont"]),
    ("What did the SNCF pay in 2019?", ["SNCF", "2019"]),
    ("Pourquoi le budget augmente-t-il ?", []),
])
def test_question_names(question, names):
    assert question_names(question) == names
    assert len(prepare(question, np.zeros(2)).names) == len(names)


def test_a_name_missing_from_the_best_passages_is_noticed(qa):
    view, query, ranking = _ranked(qa, "Quel est le budget de Marseille pour ses pistes cyclables ?")
    x = features(view, query, ranking)
    assert x[FEATURES.index("names_missing_top")] == 1.0  # no article names Marseille
    view, query, ranking = _ranked(qa, "Quel est le budget de Lyon pour ses pistes cyclables ?")
    assert features(view, query, ranking)[FEATURES.index("names_missing_top")] == 0.0


def test_threshold_comes_from_the_model_unless_set(tmp_path, corpus_dir):
    path = tmp_path / "abstain.json"
    model = LinearModel(FEATURES, np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.zeros(len(FEATURES)), 0.0,
                        {"threshold": 0.37})
    path.write_text(json.dumps(model.to_json() | {"threshold": 0.37}), encoding="utf-8")
    settings = make_settings(corpus_dir, tmp_path / "index", abstain_model=path)
    assert threshold(settings) == pytest.approx(0.37)
    assert threshold(settings.with_(min_confidence=0.9)) == 0.9
    qa = QA(settings, embedder=FakeEmbedder())
    answer = qa.ask("Quel est le budget des pistes cyclables à Lyon ?")
    assert answer.confidence == pytest.approx(0.5)  # all weights zero: the logistic of 0
    assert answer.found is True  # 0.5 >= 0.37
