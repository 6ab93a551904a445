"""qa.answer: the sentences quoted, with [n] markers that point at exact citations, or a plain 'not
answered'; and qa.answer_types, the kinds of answer a question asks for."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import ANSWER_KEYS, CITATION_KEYS, FakeEmbedder, make_settings, write_corpus

from qa.answer import MESSAGES, QUOTE_FEATURES, sentence_choices
from qa.answer_types import has_answer_type, question_type
from qa.rank import LinearModel, rank
from qa.service import QA

QUESTIONS = [
    "Quel est le budget des pistes cyclables à Lyon ?",
    "Pourquoi les écoles de Bordeaux ferment-elles ?",
    "Combien a coûté le chantier de l’observatoire ?",
    "Qui recommande de faire boire les enfants ?",
    "Quand les travaux débuteront-ils ?",
    "What do the shopkeepers fear?",
    "heliostat",
]
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture
def answering_qa(tmp_path, corpus_dir):
    """The made-up corpus with abstention off (min_confidence 0): every question gets a quoted answer."""
    return QA(make_settings(corpus_dir, tmp_path / "index", min_confidence=0.0), embedder=FakeEmbedder())


@pytest.fixture
def refusing_qa(tmp_path, corpus_dir):
    """The made-up corpus with a confidence bar no answer reaches: every answer is 'not found'."""
    return QA(make_settings(corpus_dir, tmp_path / "index", min_confidence=1.0), embedder=FakeEmbedder())


# ------------------------------------------------------------------ answer types

@pytest.mark.parametrize("question, kind", [
    ("Quand la CNIL a-t-elle décidé ?", "date"),
    ("À quelle date la décision a-t-elle été publiée ?", "date"),
    ("En quelle année le Health Data Hub a-t-il été créé ?", "date"),
    ("When was the decision published?", "date"),
    ("What is the date of the deliberation?", "date"),
    ("Quelle est la date de la délibération ?", "date"),
    ("Quel jour le recours a-t-il été annoncé ?", "date"),
    ("Combien d'hôpitaux participent ?", "number"),
    ("How many hospitals take part?", "number"),
    ("Quelle durée pour l'autorisation ?", "number"),
    ("Pourquoi la CNIL a-t-elle accepté ?", "reason"),
    ("Why did the CNIL accept?", "reason"),
    ("Qui a déposé un recours ?", "person"),
    ("Who filed an appeal?", "person"),
    ("Qui préside l'ISOC ?", "person"),
    ("Combien coûte le contrat ?", "money"),
    ("Combien Microsoft touche-t-il pour héberger les données ?", "money"),
    ("Quel est le budget annuel du Health Data Hub ?", "money"),
    ("Quelle amende la Cnil a-t-elle infligée ?", "money"),
    ("How much does Microsoft charge for hosting?", "money"),
    ("How big was the fine?", "money"),
    ("What is the salary of the president?", "money"),
    ("What fine did the CNIL impose?", "money"),
    ("How much data is stored?", "number"),
    ("Pourquoi le coût augmente-t-il ?", "reason"),
    ("Pourquoi la Cnil a-t-elle quand même dit oui ?", "reason"),
    ("La Cnil a-t-elle accepté quand bien même Microsoft est américain ?", None),
    ("Quand la Cnil a-t-elle quand même accepté ?", "date"),
    ("Que demande l'ISOC ?", None),
    ("What is EMC2?", None),
    ("hébergement Microsoft", None),
    ("Quels hôpitaux fournissent les données ?", "name"),
    ("Quels établissements hospitaliers vont envoyer leurs données ?", "name"),
    ("Which four hospitals are supplying patient data?", "name"),
    ("Which law firm is handling the appeal?", "name"),
    ("Comment s'appelle l'entrepôt de données ?", "name"),
    ("Quel est le nom officiel du Health Data Hub ?", "name"),
    ("What is the name of the warehouse?", "name"),
    ("Quelle exigence la Cnil posait-elle ?", None),            # a requirement, not a name
    ("What kind of hosting does the CNIL recommend?", None),
    ("What did the company say?", None),                        # "did the": no name asked
    ("Quelles données les hôpitaux fournissent-ils ?", None),
    ("What data do hospitals share?", None),
])
def test_question_type(question, kind):
    assert question_type(question) == kind


@pytest.mark.parametrize("text, kind, expected", [
    ("La décision date du 21 décembre 2023.", "date", True),
    ("Elle a été publiée hier.", "date", True),
    ("Elle a été publiée sans tarder.", "date", False),
    ("Quatre grands hôpitaux participent, pour trois ans.", "number", True),
    ("Le budget atteint 45 millions.", "number", True),
    ("Un hôpital participe.", "number", False),
    ("Faute d’une meilleure solution, la CNIL a accepté.", "reason", True),
    ("Elle a accepté parce qu'il n'y avait pas d'autre choix.", "reason", True),
    ("Elle a accepté la proposition.", "reason", False),
    ("Le recours a été déposé par Nicolas Chagny.", "person", True),
    ("L'ISOC a déposé un recours.", "person", True),
    ("un recours a été déposé hier.", "person", False),
    ("Le contrat s'élève à 2 millions d'euros.", "money", True),
    ("Un abonnement de 45 € par mois.", "money", True),
    ("It cost $3 billion.", "money", True),
    ("Le budget atteint 45 millions.", "money", False),     # a number, but of what?
    ("Le prix du contrat reste secret.", "money", False),
    ("N'importe quel texte.", None, True),
])
def test_has_answer_type(text, kind, expected):
    assert has_answer_type(text, kind) is expected


@pytest.mark.parametrize("text", [
    "Faute de prestataire local ou européen, la Cnil a validé l'hébergement.",
    "Elle a accepté parce que aucun concurrent européen n'offrait de garanties.",
    "Le projet a été retardé à cause de la loi américaine.",
    "Les données seront migrées afin de protéger les patients.",
    "Elle a accepté, puisque aucun autre prestataire n'était prêt.",
])
def test_has_answer_type_reason_with_unelided_connectives(text):
    assert has_answer_type(text, "reason") is True



# ------------------------------------------------------------------ citations, quotes and markers

def _check_citations(qa, answer, corpus_dir):
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        text = (corpus_dir / c.doc).read_text(encoding="utf-8")
        assert c.quote == text[c.start:c.end] == qa.index.articles[c.doc].text[c.start:c.end]
        assert c.quote.strip() == c.quote and c.quote
        article = qa.index.articles[c.doc]
        assert (c.title, c.author, c.url, c.date, c.lang) == (article.title, article.author, article.url, article.date,
                                                              article.lang)


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_citation_is_an_exact_slice(answering_qa, corpus_dir, question):
    answer = answering_qa.ask(question)
    assert answer.citations
    _check_citations(answering_qa, answer, corpus_dir)


@pytest.mark.parametrize("question", QUESTIONS)
def test_quotes_are_exact_sentences_of_cited_passages(answering_qa, corpus_dir, question):
    answer = answering_qa.ask(question)
    assert answer.found and answer.answer.startswith(MESSAGES[answer.language]["header"])
    lines = [line for line in answer.answer.splitlines() if line.startswith("> ")]
    assert lines and len(lines) == len(answer.quotes) <= answering_qa.settings.answer_sentences
    for line, (doc, start, end) in zip(lines, answer.quotes):
        [n] = [int(x) for x in MARKER.findall(line)]
        cited = answer.citations[n - 1]
        assert cited.doc == doc and cited.start <= start < end <= cited.end
        text = (corpus_dir / doc).read_text(encoding="utf-8")
        assert MARKER.sub("", line[2:]).strip() == re.sub(r"\s*\n\s*", " ", text[start:end])


def test_answer_json_has_exactly_the_contract_keys(answering_qa):
    data = answering_qa.ask(QUESTIONS[0]).to_json()
    assert list(data) == ANSWER_KEYS
    assert 0.0 <= data["confidence"] <= 1.0
    for c in data["citations"]:
        assert list(c) == CITATION_KEYS
        assert isinstance(c["score"], float) and isinstance(c["start"], int) and c["lang"] == "fr"
    json.dumps(data)


def test_citation_score_is_the_passage_cosine(answering_qa):
    answer = answering_qa.ask(QUESTIONS[0])
    q = answering_qa.embedder.encode_queries([QUESTIONS[0]])[0]
    for c in answer.citations:
        [p] = [p for p in answering_qa.index.passages if p.doc == c.doc and p.start == c.start]
        assert c.score == pytest.approx(float(answering_qa.index.embeddings[p.id] @ q), abs=1e-5)


@pytest.mark.parametrize("question, language", [
    ("Quelle est la capitale de l'Australie ?", "fr"),
    ("What is the capital of Australia?", "en"),
])
def test_not_found_answer_is_in_the_question_language(refusing_qa, corpus_dir, question, language):
    answer = refusing_qa.ask(question)
    assert answer.found is False and answer.language == language
    assert answer.answer == MESSAGES[language]["not_found"] and not answer.quotes
    assert 0.0 <= answer.confidence < 1.0
    _check_citations(refusing_qa, answer, corpus_dir)  # the nearest passages are still listed


def test_found_follows_the_confidence_bar(tmp_path, corpus_dir):
    qa = QA(make_settings(corpus_dir, tmp_path / "index"), embedder=FakeEmbedder())
    confidence = qa.ask(QUESTIONS[0]).confidence
    below = qa.settings.with_(min_confidence=max(0.0, confidence - 1e-6))
    above = qa.settings.with_(min_confidence=min(1.0, confidence + 1e-6))
    assert QA(below, embedder=FakeEmbedder()).ask(QUESTIONS[0]).found is True
    assert QA(above, embedder=FakeEmbedder()).ask(QUESTIONS[0]).found is False


# ------------------------------------------------------------------ choosing the sentence to quote

REASONS = {"usine.txt": (
    "# L’usine de Brest ferme\n\n"
    "L’usine de Brest ferme ses portes en juin. Elle ferme parce que les commandes de navires ont chuté de moitié. "
    "Deux cents salariés sont concernés.\n")}


def _quote_model(path, weights):
    model = LinearModel(QUOTE_FEATURES, np.zeros(len(QUOTE_FEATURES)), np.ones(len(QUOTE_FEATURES)),
                        np.array([weights.get(f, 0.0) for f in QUOTE_FEATURES]), 0.0, {})
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    return path


def test_a_why_question_quotes_the_sentence_holding_a_reason(tmp_path):
    settings = make_settings(write_corpus(tmp_path / "c", REASONS), tmp_path / "i", min_confidence=0.0, answer_sentences=1,
                             quote_model=_quote_model(tmp_path / "q.json", {"type_match": 3.0, "sent_cos": 1.0}))
    qa = QA(settings, embedder=FakeEmbedder())
    answer = qa.ask("Pourquoi l’usine de Brest ferme-t-elle ?")
    assert "parce que les commandes" in answer.answer
    assert "ferme ses portes en juin" not in answer.answer


def test_sentence_choices_describe_every_sentence_of_the_best_passages(tmp_path):
    settings = make_settings(write_corpus(tmp_path / "c", REASONS), tmp_path / "i")
    qa = QA(settings, embedder=FakeEmbedder())
    query = qa.prepare(["Pourquoi l’usine de Brest ferme-t-elle ?"])[0]
    with qa.store.snapshot() as view:
        ranking = rank(view, query, settings)
        choices = sentence_choices(view, query, ranking)
        text = view.article("usine.txt").text
    kinds = {text[c.span.start:c.span.end]: c.features[QUOTE_FEATURES.index("type_match")] for c in choices}
    assert kinds["Elle ferme parce que les commandes de navires ont chuté de moitié."] == 1.0
    assert kinds["L’usine de Brest ferme ses portes en juin."] == 0.0
    assert max(c.features[QUOTE_FEATURES.index("sent_gap")] for c in choices) == pytest.approx(0.0)


def test_a_very_short_sentence_is_quoted_with_its_neighbour(tmp_path):
    articles = {"parking.txt": "Le projet de parking souterrain a été refusé par le conseil municipal. Une première.\n"}
    settings = make_settings(write_corpus(tmp_path / "c", articles), tmp_path / "i", min_confidence=0.0,
                             answer_sentences=1, quote_model=_quote_model(tmp_path / "q.json", {"log_length": -5.0}))
    answer = QA(settings, embedder=FakeEmbedder()).ask("Est-ce une première ?")
    assert "> Le projet de parking souterrain a été refusé par le conseil municipal. Une première. [1]" in answer.answer


def test_with_one_passage_cited_the_quotes_come_from_it(answering_qa):
    answer = answering_qa.ask(QUESTIONS[1], k=1)
    assert len(answer.citations) == 1 and answer.quotes
    assert all(doc == answer.citations[0].doc for doc, _s, _e in answer.quotes)
    assert "[1]" in answer.answer and "[2]" not in answer.answer


def test_quoted_spans_never_overlap(tmp_path):
    articles = {"course.txt": ("Le vainqueur, Paul Durand, a couru en 2 h 10. Il pleuvait. La course a réuni "
                               "quatre mille coureurs venus de toute la région pour cette édition.\n")}
    settings = make_settings(write_corpus(tmp_path / "c", articles), tmp_path / "i", min_confidence=0.0, answer_sentences=3)
    answer = QA(settings, embedder=FakeEmbedder()).ask("Qui a gagné la course ?")
    spans = sorted((s, e) for _d, s, e in answer.quotes)
    assert all(a_end <= b_start for (_a, a_end), (b_start, _b) in zip(spans, spans[1:])), spans


@pytest.mark.parametrize("mode", ["dense", "lexical", "rrf"])
def test_baseline_modes_keep_the_learned_confidence(answering_qa, mode):
    # abstention was trained on the learned ranker's scores: a baseline ordering does not change it
    hybrid = answering_qa.ask(QUESTIONS[0])
    baseline = answering_qa.ask(QUESTIONS[0], mode=mode)
    assert baseline.confidence == pytest.approx(hybrid.confidence)


def test_quotes_from_different_years_come_newest_first(tmp_path):
    articles = {
        "a.md": "---\ntitle: Le pont en 2019\ndate: 2019-05-02\n---\n\nLe pont de Brest coûtera 30 millions d’euros selon le devis initial.\n",
        "b.md": "---\ntitle: Le pont en 2024\ndate: 2024-03-10\n---\n\nLe pont de Brest a finalement coûté 52 millions d’euros au total.\n",
    }
    settings = make_settings(write_corpus(tmp_path / "c", articles), tmp_path / "i", min_confidence=0.0)
    answer = QA(settings, embedder=FakeEmbedder()).ask("Combien coûte le pont de Brest ?")
    docs = [doc for doc, _s, _e in answer.quotes]
    assert set(docs) == {"a.md", "b.md"} and docs.index("b.md") < docs.index("a.md")
