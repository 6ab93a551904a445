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
    empty = Ranking((), np.zeros(0), 0.0, 0.0, np.zeros(0), ())
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


def _zero_model(path, extra):
    n = len(FEATURES)
    model = LinearModel(FEATURES, np.zeros(n), np.ones(n), np.zeros(n), 0.0, extra)
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")


def test_confidence_goes_through_the_models_calibration(tmp_path, corpus_dir):
    path = tmp_path / "abstain.json"
    _zero_model(path, {"threshold": 0.5, "calibration": {"raw": [0.2, 0.6], "calibrated": [0.1, 0.9]}})
    qa = QA(make_settings(corpus_dir, tmp_path / "index", abstain_model=path), embedder=FakeEmbedder())
    answer = qa.ask("Quel est le budget des pistes cyclables à Lyon ?")
    assert answer.confidence == pytest.approx(0.7)  # raw 0.5, a quarter of the way from 0.6 down to 0.2
    assert answer.found is True


@pytest.mark.parametrize("calibration", [
    {"raw": [0.6, 0.2], "calibrated": [0.1, 0.9]},       # breakpoints out of order
    {"raw": [0.2, 0.6], "calibrated": [0.9, 0.1]},       # decreasing map
    {"raw": [0.2, 0.6], "calibrated": [0.1, 1.5]},       # not a probability
    {"raw": [0.2], "calibrated": [0.1, 0.9]},            # lengths differ
    {"raw": "x"},
])
def test_an_unusable_calibration_is_a_clear_error(tmp_path, corpus_dir, calibration):
    from qa.errors import IndexStateError

    path = tmp_path / "abstain.json"
    _zero_model(path, {"threshold": 0.5, "calibration": calibration})
    qa = QA(make_settings(corpus_dir, tmp_path / "index", abstain_model=path), embedder=FakeEmbedder())
    with pytest.raises(IndexStateError, match="calibration"):
        qa.ask("Quel est le budget des pistes cyclables à Lyon ?")


def test_calibration_is_strictly_increasing_and_follows_the_answerable_share():
    from qa.abstain import calibrated
    from qa.train import calibrate

    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 400)
    answerable = rng.uniform(0, 1, 400) < np.clip(raw + 0.3, 0, 1)   # under-stated at low scores
    fitted = calibrate(raw, answerable, np.array(["a", "b"] * 200))
    assert np.all(np.diff(fitted["raw"]) > 0) and np.all(np.diff(fitted["calibrated"]) > 0)
    mapped = calibrated(np.sort(raw), fitted)
    assert np.all(np.diff(mapped) >= 0)
    low = raw < 0.3
    assert calibrated(raw[low], fitted).mean() == pytest.approx(answerable[low].mean(), abs=0.1)
    assert raw[low].mean() < answerable[low].mean() - 0.2
