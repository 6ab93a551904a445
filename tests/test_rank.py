"""qa.rank: candidates from dense and lexical search, general features, the learned linear model, and
the plain baselines kept as modes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.errors import IndexStateError
from qa.rank import FEATURES, LinearModel, coverage, load_model, rank, word_weights

QUESTION = "Quel est le budget des pistes cyclables à Lyon ?"


def _ranking(qa, question=QUESTION, mode=None, settings=None):
    query = qa.prepare([question])[0]
    with qa.store.snapshot() as view:
        return view, query, rank(view, query, settings or qa.settings, mode)


def _model_file(path, weights: dict[str, float]):
    model = LinearModel(FEATURES, np.zeros(len(FEATURES)), np.ones(len(FEATURES)),
                        np.array([weights.get(f, 0.0) for f in FEATURES]), 0.0, {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    return path


def test_every_candidate_has_every_feature(qa):
    _view, _query, ranking = _ranking(qa)
    assert ranking.candidates
    for candidate in ranking.candidates:
        assert candidate.features.shape == (len(FEATURES),) and np.all(np.isfinite(candidate.features))
    assert list(ranking.scores) == sorted(ranking.scores, reverse=True)


def test_gap_features_are_relative_to_the_best_candidate(qa):
    _view, _query, ranking = _ranking(qa)
    x = np.stack([c.features for c in ranking.candidates])
    cos, cos_gap = FEATURES.index("cos"), FEATURES.index("cos_gap")
    assert x[:, cos_gap].max() == pytest.approx(0.0) and x[:, cos_gap] == pytest.approx(x[:, cos] - x[:, cos].max())


def test_dense_mode_orders_by_cosine(qa):
    _view, _query, ranking = _ranking(qa, mode="dense")
    cosines = [c.dense_score for c in ranking.candidates]
    assert cosines == sorted(cosines, reverse=True)


def test_lexical_mode_cites_only_passages_sharing_a_term(qa):
    from qa.rank import hits

    view, _query, ranking = _ranking(qa, "héliostat", mode="lexical")
    cited = hits(view, ranking, 10)
    assert cited and ranking.citable == len(cited) < len(ranking.candidates)
    assert all("héliostat" in h.passage.text for h in cited)


def test_the_learned_model_decides_the_order(qa, tmp_path):
    # A model that only weighs question-word coverage puts the passage holding most of the words first.
    settings = qa.settings.with_(ranker_model=_model_file(tmp_path / "ranker.json", {"coverage": 5.0}))
    view, _query, ranking = _ranking(qa, settings=settings)
    covered = [c.features[FEATURES.index("coverage")] for c in ranking.candidates]
    assert covered == sorted(covered, reverse=True)
    assert "budget" in view.passages([ranking.candidates[0].pid])[ranking.candidates[0].pid].text


def test_a_model_for_other_features_is_refused_with_a_clear_message(qa, tmp_path):
    path = tmp_path / "ranker.json"
    record = json.loads(_model_file(path, {}).read_text(encoding="utf-8"))
    record["features"] = record["features"][:-1]
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(IndexStateError, match="qa train"):
        load_model(path, FEATURES)


@pytest.mark.parametrize("content", ["not json", "{}", '{"format": "qa-linear-model", "version": 99}'])
def test_a_corrupt_model_file_is_refused(tmp_path, content):
    path = tmp_path / "m.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(IndexStateError, match="unusable"):
        load_model(path, FEATURES)


def test_missing_model_file_is_refused(tmp_path):
    with pytest.raises(IndexStateError, match="qa train"):
        load_model(tmp_path / "none.json", FEATURES)


def test_coverage_weighs_rare_words_more(qa):
    view, query, _unused = _ranking(qa, "Quel budget pour l’héliostat de Lyon ?")
    weights = word_weights(view, query)
    heliostat = next(w for t, w in weights if any("heliostat" in term for term in t))
    lyon = next(w for t, w in weights if "lyon" in t)
    assert heliostat > lyon > 0  # one passage holds "héliostat", several "Lyon"
    all_terms = set().union(*(t for t, _w in word_weights(view, query)))
    assert coverage(all_terms, word_weights(view, query)) == pytest.approx(1.0)
    assert coverage(set(), word_weights(view, query)) == 0.0


def test_a_word_no_article_holds_weighs_as_much_as_the_rarest(qa):
    view, query, _unused = _ranking(qa, "zébrules héliostat")
    weights = [w for _t, w in word_weights(view, query)]
    assert weights[0] >= weights[1] > 0


def test_query_hubness_and_coverage_anywhere(qa):
    _view, _query, ranking = _ranking(qa, "zébrules pirates")
    assert ranking.coverage_anywhere == 0.0
    _view, _query, ranking = _ranking(qa)
    assert 0 < ranking.coverage_anywhere <= 1 and -1 <= ranking.query_hubness <= 1


def test_names_coverage_is_the_share_of_the_questions_names_a_passage_holds(qa):
    view, _query, ranking = _ranking(qa, "Quel budget Lyon et Marseille consacrent-ils aux pistes cyclables ?")
    by_text = {view.passages([c.pid])[c.pid].text: c.feature("names_coverage") for c in ranking.candidates}
    lyon = [v for t, v in by_text.items() if "Lyon" in t]
    assert lyon and max(lyon) == pytest.approx(0.5)  # Lyon, not Marseille (no article names it)
    assert all(v == 0.0 for t, v in by_text.items() if "Lyon" not in t)


def test_same_language_feature_follows_the_article_language(qa):
    _view, _query, ranking = _ranking(qa)
    assert all(c.feature("same_language") == 1.0 for c in ranking.candidates)  # French question, French articles
    _view, _query, ranking = _ranking(qa, "What is the budget for cycle lanes in Lyon?")
    assert all(c.feature("same_language") == 0.0 for c in ranking.candidates)


@pytest.mark.parametrize("change, words", [({"scale": [0.0] * len(FEATURES)}, "scale"),
                                           ({"threshold": None}, "threshold"), ({"threshold": 1.5}, "threshold"),
                                           ({"intercept": float("nan")}, "intercept")])
def test_a_model_file_with_bad_numbers_is_refused(tmp_path, change, words):
    path = _model_file(tmp_path / "m.json", {"cos": 1.0})
    record = json.loads(path.read_text(encoding="utf-8")) | change
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(IndexStateError, match=words):
        load_model(path, FEATURES)


def test_far_off_logits_give_probabilities_without_warnings():
    import warnings

    model = LinearModel(FEATURES, np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.full(len(FEATURES), 1e4), 0.0, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = model.probabilities(np.array([[-1.0] * len(FEATURES), [1.0] * len(FEATURES)]))
    assert p[0] == pytest.approx(0.0) and p[1] == pytest.approx(1.0)


def test_abstention_and_quoting_models_must_come_with_their_ranker(tmp_path):
    from qa.rank import model

    ranker = _model_file(tmp_path / "ranker.json", {"cos": 1.0})
    other = json.loads(ranker.read_text(encoding="utf-8")) | {"ranker_sha256": "0" * 64}
    (tmp_path / "abstain.json").write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(IndexStateError, match="another ranker"):
        model(tmp_path / "abstain.json", FEATURES, ranker)
    model(tmp_path / "abstain.json", FEATURES)  # alone, it loads


def test_kept_candidates_are_searched_for_beyond_the_first_lists(qa, monkeypatch):
    """With a filter (a date window), candidates come from deeper in the searches when the first results are
    all filtered out: a narrow window still finds its passages."""
    import qa.rank as rank_module

    monkeypatch.setattr(rank_module, "CANDIDATES_PER_LIST", 1)
    settings = qa.settings.with_(top_k=1)
    query = qa.prepare(["Quel est le budget des pistes cyclables à Lyon ?"])[0]
    with qa.store.snapshot() as view:
        unfiltered = rank(view, query, settings)
        first = {c.pid for c in unfiltered.candidates}
        kept = rank(view, query, settings, keep=lambda p: p.id not in first)
        assert view.n_passages > len(first)
    assert kept.candidates and not first & {c.pid for c in kept.candidates}
    assert kept.query_hubness == unfiltered.query_hubness  # the question's neighbourhood is the whole store's
    with qa.store.snapshot() as view:
        assert rank(view, query, settings, keep=lambda p: False).candidates == ()


def test_title_features_read_each_passage_with_its_articles_title(qa):
    """title_cos is the question's cosine with the article title's vector; title_mix its cosine with the
    mean of the passage's and the title's vectors (a passage read with its headline)."""
    view, query, ranking = _ranking(qa)
    for c in ranking.candidates:
        doc = view.passages([c.pid])[c.pid].doc
        [title] = view.title_vectors([doc])
        passage = view.vectors([c.pid])[0]
        mean = (passage + title) / np.linalg.norm(passage + title)
        assert c.feature("title_cos") == pytest.approx(float(title @ query.vector), abs=1e-5)
        assert c.feature("title_mix") == pytest.approx(float(mean @ query.vector), abs=1e-5)
        # the question's words held by the passage and its title together: never fewer than by the passage
        assert c.feature("coverage") <= c.feature("title_coverage") <= 1.0


def test_titles_without_vectors_get_the_rankers_training_means(qa, tmp_path):
    """A database article stored before title vectors existed is neither favoured nor penalised."""
    model = LinearModel(FEATURES, np.arange(len(FEATURES), dtype=float), np.ones(len(FEATURES)), np.zeros(len(FEATURES)), 0.0, {})
    query = qa.prepare([QUESTION])[0]
    with qa.store.snapshot() as view:
        class NoTitles:
            def __getattr__(self, name):
                return getattr(view, name)

            def title_vectors(self, docs):
                return np.full((len(docs), view.index.embeddings.shape[1]), np.nan, np.float32)

        ranking = rank(NoTitles(), query, qa.settings, ranker=model)
    assert ranking.candidates
    for c in ranking.candidates:
        assert c.feature("title_cos") == FEATURES.index("title_cos")
        assert c.feature("title_mix") == FEATURES.index("title_mix")


def test_title_coverage_counts_the_words_the_headline_holds(qa, tmp_path):
    """A passage that never names its subject ("la ligne", "elle") is found by the words of its article's
    headline: title_coverage counts them, coverage does not."""
    from conftest import make_settings, write_corpus

    from qa.service import QA

    corpus = write_corpus(tmp_path / "tram-corpus", {
        "tram.txt": "Le tramway de Douai rouvre après six mois de travaux\n\n"
                    "La ligne a rouvert lundi matin, avec des rames neuves et des horaires élargis le soir.\n"})
    local = QA(make_settings(corpus, tmp_path / "tram-index"), embedder=qa.embedder)
    query = local.prepare(["Quand le tramway de Douai a-t-il rouvert ?"])[0]
    with local.store.snapshot() as view:
        [candidate] = rank(view, query, local.settings).candidates
    assert candidate.feature("title_coverage") > candidate.feature("coverage")
