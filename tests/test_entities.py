"""qa.entities: questions that describe a body or company instead of naming it, and how retrieval uses them."""

from __future__ import annotations

import pytest

from conftest import FakeEmbedder, make_settings, write_corpus
from qa.answer import _idf, best_sentence, passage_coverage
from qa.records import Hit
from qa.store import view_of
from qa.entities import ENTITIES_PATH, described_entities, description_held, holds, load_entities
from qa.retrieve import described_entities_in, retrieve
from qa.service import QA
from qa.text import terms

TABLE = (
    "# a comment line, then a blank one\n"
    "\n"
    "Brezhost\thébergeur breton|Breton host|Breton hosting|Breton hosting company\n"
    "Conseil d'État\tplus haute juridiction administrative|highest administrative court\n"
    "Nameless\t\n"
)


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "entities.tsv"
    path.write_text(TABLE, encoding="utf-8")
    return load_entities(path)


def test_table_lines_give_a_name_and_its_descriptions_as_index_terms(table):
    assert [e.name for e in table] == ["Brezhost", "Conseil d'État"]  # comments, blanks, no description: skipped
    brezhost = table[0]
    assert brezhost.name_terms == frozenset(terms("Brezhost"))
    assert brezhost.descriptions[0] == tuple(terms("hébergeur breton"))


def test_a_missing_table_holds_no_entity(tmp_path):
    assert load_entities(tmp_path / "absent.tsv") == ()


@pytest.mark.parametrize("question, description, expected", [
    ("french hosting company", "french hosting company", True),
    ("hébergeur cloud français", "hébergeur français", True),  # one word between two of its words
    ("hébergeur de cloud souverain français", "hébergeur français", False),  # two words between
    ("host French health data", "French host", False),  # the wrong order
    ("autre chose", "hébergeur", False),
    ("hébergeur", "hébergeur", True),
])
def test_a_description_is_held_in_order_with_at_most_one_word_between(question, description, expected):
    assert holds(terms(question), tuple(terms(description))) is expected


@pytest.mark.parametrize("question, names", [
    ("Quel hébergeur breton l'article cite-t-il ?", ["Brezhost"]),
    ("Which Breton hosting company is mentioned?", ["Brezhost"]),
    ("Qui a saisi la plus haute juridiction administrative ?", ["Conseil d'État"]),
    ("Who went to France's highest administrative court?", ["Conseil d'État"]),
    # Named already: nothing to add.
    ("Brezhost est-il un hébergeur breton ?", []),
    # The words, not the description: "host" does not follow "Breton".
    ("Will they host Breton health data?", []),
    ("Quelle est la capitale de l'Australie ?", []),
])
def test_questions_describing_an_entity(table, question, names):
    assert [entity.name for entity, _description in described_entities(question, table)] == names


def test_the_description_held_is_the_longest_that_matches(table):
    brezhost = table[0]
    # The French stemmer leaves "hosting" whole: "Breton host" is not held; of "Breton hosting" and
    # "Breton hosting company", the longer.
    assert description_held(terms("Which Breton hosting company?"), brezhost) == tuple(terms("Breton hosting company"))
    assert description_held(terms("Un hébergeur normand"), brezhost) is None
    # "Conseil" in the question is not the whole name: the description still counts.
    [(entity, _)] = described_entities("Quel conseil, la plus haute juridiction administrative ?", table)
    assert entity.name == "Conseil d'État"


@pytest.mark.parametrize("question, name", [
    ("What is the date of the French data protection authority's deliberation?", "CNIL"),
    ("Quelle organisation a saisi la plus haute juridiction administrative ?", "Conseil d'État"),
    ("Which French cloud provider does the article mention?", "OVH"),
    ("Why is hosting with an American company a risk?", "Microsoft"),
])
def test_the_shipped_table_knows_the_bodies_of_the_news(question, name):
    assert ENTITIES_PATH.is_file()
    assert name in [entity.name for entity, _description in described_entities(question)]


def test_the_shipped_table_leaves_plain_questions_alone():
    for question in ("How long will Microsoft be allowed to host French health data?",
                     "Quel risque court-on avec un hébergeur soumis à un droit extra-européen ?",
                     "pourquoi la CNIL a-t-elle accepté ?"):
        assert described_entities(question) == []


# ------------------------------------------------------------------ in retrieval

ARTICLES = {
    "a.txt": "Le ministère a retenu un géant américain pour les données de santé des patients.\n\n"
             "Les hôpitaux transmettent les données de santé chaque semaine au ministère.\n\n"
             "Ce n'est pas comme si Brezhost n'existait pas en Bretagne. Le port de Brest attend les bateaux.\n",
    "b.txt": "Le conseil municipal de Rennes, conseil breton s'il en est, vote le budget des écoles.\n\n"
             "Les élèves découvrent les métiers du numérique.\n\n"
             "La cantine propose des repas végétariens le jeudi.\n\n"
             "Le gymnase rouvrira ses portes après les travaux.\n",
}


@pytest.fixture
def described_qa(tmp_path, table, monkeypatch):
    monkeypatch.setattr("qa.retrieve.described_entities", lambda question: described_entities(question, table))
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    return QA(make_settings(corpus, tmp_path / "index"), embedder=FakeEmbedder())


def plain(query):
    """The same query without its described entities."""
    return query.__class__(query.text, query.language, query.vector, query.terms, query.matched_terms, query.matches)


def test_a_described_entity_is_searched_by_name(described_qa):
    question = "Quel hébergeur breton pour le ministère ?"
    [query] = described_qa.prepare([question])
    assert [e.name for e in query.entities] == ["Brezhost"]
    assert query.entity_terms == terms("Brezhost")
    assert not set(query.entity_terms) & set(query.matched_terms)
    hits = retrieve(described_qa.index, query, described_qa.settings, k=10, mode="lexical")
    assert any("Brezhost" in h.passage.text for h in hits[:2])
    # Without the entity's name, BM25 never finds it: it shares no word with the question.
    plain_hits = retrieve(described_qa.index, plain(query), described_qa.settings, k=10, mode="lexical")
    assert plain_hits and not any("Brezhost" in h.passage.text for h in plain_hits)


def test_a_passage_naming_the_described_entity_covers_the_description(described_qa):
    """Passage coverage (abstention) weighs the question's own words, the name standing in for its description."""
    [query] = described_qa.prepare(["Quel hébergeur breton pour le ministère ?"])
    index = view_of(described_qa.index)
    [named] = [p for p in described_qa.index.passages if "Brezhost" in p.text]
    hit = Hit(named, 1.0, None, None, None, None)
    described = {m.term for m in query.matches if m.word in ("hébergeur", "breton") and m.term}
    weights = {t: _idf(index, t) for t in query.matched_terms if index.has_term(t)}
    assert described == set(terms("breton"))  # the corpus says "breton" elsewhere, never "hébergeur"
    assert passage_coverage(index, plain(query), [hit]) == 0.0
    assert passage_coverage(index, query, [hit]) == pytest.approx(sum(weights[t] for t in described) / sum(weights.values()))


def test_only_a_rare_name_joins_the_query_embedding(described_qa):
    index = described_qa.index
    [entity] = described_entities_in(index, "Quel hébergeur breton ?", max_share=0.5)
    assert (entity.name, entity.specific) == ("Brezhost", True)
    assert entity.description_terms == frozenset(terms("hébergeur breton"))
    # In at least max_share of the passages, the name only says the passage is on topic.
    assert not described_entities_in(index, "Quel hébergeur breton ?", max_share=0.1)[0].specific
    # A name the articles never use in full adds nothing: they say "conseil", never "Conseil d'État".
    assert described_entities_in(index, "Qui saisit la plus haute juridiction administrative ?", 0.5) == ()
    # The question's embedding gets the rare name, its text stays the question.
    embedder = described_qa.embedder
    embedder.query_calls.clear()
    [query] = described_qa.prepare(["Quel hébergeur breton ?"])
    assert embedder.query_calls[0][0] == "Quel hébergeur breton ? (Brezhost)" and query.text == "Quel hébergeur breton ?"


def test_the_entity_table_can_be_switched_off(described_qa):
    described_qa.settings = described_qa.settings.with_(use_entities=False)
    [query] = described_qa.prepare(["Quel hébergeur breton ?"])
    assert query.entities == () and query.entity_terms == []
    assert described_qa.embedder.query_calls[-1][0] == "Quel hébergeur breton ?"


def test_the_quoted_sentence_is_the_one_naming_the_described_entity(described_qa):
    [query] = described_qa.prepare(["Quel hébergeur breton pour le port ?"])
    [passage] = [p for p in described_qa.index.passages if "Brezhost" in p.text]
    text = (described_qa.settings.corpus_dir / passage.doc).read_text(encoding="utf-8")
    hit = Hit(passage, 1.0, None, None, None, None)
    span = best_sentence(described_qa.index, hit, query)
    assert text[span.start:span.end] == "Ce n'est pas comme si Brezhost n'existait pas en Bretagne."
    # Without the entity, the sentence sharing the question's own word ("port") is quoted.
    span = best_sentence(described_qa.index, hit, plain(query))
    assert text[span.start:span.end] == "Le port de Brest attend les bateaux."


def test_a_role_or_event_question_about_a_described_body_is_about_its_name(described_qa):
    """"Quand l'hébergeur breton a-t-il été fondé ?" is about Brezhost, not about the words describing it."""
    [query] = described_qa.prepare(["Quand l'hébergeur breton a-t-il été fondé ?"])
    assert query.event_asked == ("creation", frozenset(terms("Brezhost")))
    [query] = described_qa.prepare(["Qui dirige l'hébergeur breton ?"])
    assert query.role_body == frozenset(terms("Brezhost"))
