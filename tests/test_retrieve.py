"""qa.retrieve: dense, lexical and weighted-RRF hybrid retrieval, with typo and cross-lingual term matching."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FakeEmbedder, make_settings, write_corpus
from qa.retrieve import (answer_type_weight, combine, discount_hubs, fuse, glossary_match, holds_specific_name, hub_weight, lexical_ranking, lexical_share, lexical_weight, match_words, retrieve,
                         spelled_match, spelling_for, standardized, TermMatch)
from qa.service import QA
from qa.settings import Settings
from qa.text import terms


def query(qa, text):
    return qa.prepare([text])[0]


def passage_with(qa, needle):
    [p] = [p for p in qa.index.passages if needle in p.text]
    return p


# ------------------------------------------------------------------ fusion

def test_fuse_weighted_rrf_exact_numbers():
    dense = [(10, 0.9), (20, 0.8), (30, 0.7)]
    lexical = [(20, 5.0), (40, 3.0)]
    fused = fuse([(dense, 1.0), (lexical, 0.5)], rrf_k=60)
    assert fused == pytest.approx({
        10: 1 / 61,
        20: 1 / 62 + 0.5 / 61,
        30: 1 / 63,
        40: 0.5 / 62,
    }, abs=1e-15)
    assert fused[20] == pytest.approx(0.024325753569539926)
    assert fused[40] == pytest.approx(0.008064516129032258)
    assert max(fused, key=fused.get) == 20


def test_fuse_scores_are_rank_based_not_score_based():
    a = fuse([([(1, 100.0), (2, 0.1)], 1.0)], rrf_k=1)
    b = fuse([([(1, 0.2), (2, 0.1)], 1.0)], rrf_k=1)
    assert a == b == {1: 1 / 2, 2: 1 / 3}


def test_fuse_empty_and_zero_weight():
    assert fuse([], 60) == {}
    assert fuse([([], 1.0), ([(3, 1.0)], 0.0)], 60) == {3: 0.0}


def test_lexical_weight_depends_on_the_question_language(qa):
    settings = qa.settings.with_(lexical_weight_fr=2.0, lexical_weight_en=0.25)
    assert lexical_weight(query(qa, "Quel est le budget des pistes cyclables ?"), settings) == 2.0
    assert lexical_weight(query(qa, "What is the budget of the bike lanes?"), settings) == 0.25


# ------------------------------------------------------------------ modes

@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("k", [1, 3])
def test_each_mode_returns_k_ranked_hits(qa, mode, k):
    q = query(qa, "budget des pistes cyclables de Lyon, écoles de Bordeaux et chantier de l’observatoire")
    hits = retrieve(qa.index, q, qa.settings, k=k, mode=mode)
    assert len(hits) == k
    assert len({h.passage.id for h in hits}) == k
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for h in hits:
        assert h.passage == qa.index.passages[h.passage.id]
        if mode == "dense":
            assert h.dense_rank is not None and h.lexical_rank is None and h.score == h.dense_score
        if mode == "lexical":
            assert h.lexical_rank is not None and h.dense_rank is None and h.score == h.lexical_score


def test_k_larger_than_the_index_returns_every_passage_at_most_once(qa):
    q = query(qa, "budget des pistes cyclables de Lyon")
    hits = retrieve(qa.index, q, qa.settings, k=100, mode="dense")
    ids = [h.passage.id for h in hits]
    assert len(ids) == len(set(ids)) and set(ids) <= set(range(len(qa.index.passages)))
    prose = [p.id for p in qa.index.passages if p.text not in {a.text[s.start:s.end] for a in qa.index.articles.values() for s in a.bylines}]
    assert set(prose) <= set(ids)  # every prose passage is reachable


def test_default_k_and_mode_come_from_settings(qa):
    q = query(qa, "budget des pistes cyclables de Lyon")
    hits = retrieve(qa.index, q, qa.settings.with_(top_k=2, mode="dense"))
    assert len(hits) == 2 and all(h.lexical_rank is None for h in hits)


def test_rrf_hybrid_score_is_the_weighted_fusion_of_both_rankings(qa):
    settings = qa.settings.with_(fusion="rrf", rrf_answer_type_boost=0.0)
    q = query(qa, "budget des pistes cyclables de Lyon")
    n = len(qa.index.passages)
    hits = retrieve(qa.index, q, settings, k=n, mode="hybrid")
    for h in hits:
        expected = 0.0
        if h.dense_rank:
            expected += 1.0 / (settings.rrf_k + h.dense_rank)
        if h.lexical_rank:
            expected += lexical_weight(q, settings) / (settings.rrf_k + h.lexical_rank)
        assert h.score == pytest.approx(expected)


def test_lexical_ranking_finds_the_passage_with_a_rare_word(qa):
    target = passage_with(qa, "héliostat")
    ranking = lexical_ranking(qa.index, terms("héliostat"), 10)
    assert [pid for pid, _score in ranking] == [target.id]
    for mode in ("lexical", "hybrid"):
        hits = retrieve(qa.index, query(qa, "À quoi sert l’héliostat ?"), qa.settings, k=3, mode=mode)
        assert hits[0].passage.id == target.id


def test_lexical_ranking_of_unknown_terms_is_empty(qa):
    assert lexical_ranking(qa.index, ["zzzzzz", "qqqqq"], 10) == []
    assert lexical_ranking(qa.index, [], 10) == []


def test_dense_ranking_finds_a_near_duplicate_question(qa):
    target = passage_with(qa, "héliostat")
    hits = retrieve(qa.index, query(qa, target.text), qa.settings, k=1, mode="dense")
    assert hits[0].passage.id == target.id
    assert hits[0].dense_score == pytest.approx(float(qa.index.embeddings[target.id] @ qa.embedder.encode_queries([target.text])[0]))


def test_retrieval_is_deterministic(qa):
    q = query(qa, "Que craignent les commerçants pendant les travaux ?")
    first = retrieve(qa.index, q, qa.settings, k=5)
    assert all(retrieve(qa.index, q, qa.settings, k=5) == first for _ in range(3))


# ------------------------------------------------------------------ term matching

def test_spelling_fixes_a_typo(qa):
    match = spelled_match(qa.index, "heliosatt")
    assert (match.term, match.how) == ("heliostat", "spelling")
    assert query(qa, "heliosatt").matched_terms == ("heliostat",)


def test_spelling_exact_and_stop_words(qa):
    assert spelled_match(qa.index, "Héliostat").how == "exact"
    assert spelled_match(qa.index, "les").how == "none"
    assert spelled_match(qa.index, "xylophone") is None  # left to the embedding bridge


@pytest.fixture
def hosting_qa(tmp_path):
    """An index whose corpus says 'hébergement', for the project's reference typo."""
    corpus = write_corpus(tmp_path / "corpus", {"h.txt": (
        "L’hébergement des données de santé chez un prestataire américain inquiète les hôpitaux. "
        "Le ministère promet une solution européenne.\n")})
    return QA(make_settings(corpus, tmp_path / "index"), embedder=FakeEmbedder())


def test_typo_hebergemnt_is_matched_by_spelling(hosting_qa):
    match = spelled_match(hosting_qa.index, "hebergemnt")
    assert match is not None and (match.term, match.how) == ("heberg", "spelling")


def test_embedding_bridge_maps_an_unknown_word_to_the_nearest_corpus_word(qa):
    lexicon = qa.index.lexicon
    i = lexicon.words.index("héliostat")
    # "sunmirror" gets exactly the vector of a corpus word; "qwzx" one pointing away from all of them.
    away = -lexicon.vectors.mean(axis=0)
    vectors = {"sunmirror": lexicon.vectors[i], "qwzx": away / np.linalg.norm(away)}
    bridged, missed = match_words(qa.index, ["sunmirror", "qwzx"], vectors, bridge_threshold=0.92)
    assert (bridged.term, bridged.how) == (lexicon.stems[i], "embedding")
    assert bridged.similarity == pytest.approx(1.0, abs=1e-5)
    assert (missed.term, missed.how) == (None, "none")


GLOSSARY = {"heatwave": ("vague de chaleur", "canicule"), "shut": ("faire", "fermer"), "bike": ("bicyclette",)}


@pytest.fixture
def made_up_glossary(monkeypatch):
    monkeypatch.setattr("qa.retrieve.translations", lambda word: GLOSSARY.get(word.lower(), ()))


def test_glossary_matches_the_translation_the_articles_use(qa, made_up_glossary):
    lexicon = qa.index.lexicon
    i = lexicon.words.index("canicule")
    match = glossary_match(qa.index, "heatwave", lexicon.vectors[i], threshold=0.9)
    assert (match.term, match.how) == (lexicon.stems[i], "glossary")
    assert match.similarity == pytest.approx(1.0, abs=1e-5)
    # The embedding vetoes a translation far from the word's meaning here.
    away = -lexicon.vectors[i]
    assert glossary_match(qa.index, "heatwave", away, threshold=0.9) is None
    # Translations the articles never use, and light verbs ("faire"), are no candidates.
    assert glossary_match(qa.index, "bike", lexicon.vectors[i], threshold=-1.0) is None
    j = lexicon.words.index("fermer")
    assert glossary_match(qa.index, "shut", lexicon.vectors[lexicon.words.index("faire")], threshold=-1.0).term == lexicon.stems[j]


def test_glossary_needs_less_resemblance_for_a_translation_the_nearby_passages_use(qa, made_up_glossary):
    lexicon = qa.index.lexicon
    i = lexicon.words.index("canicule")
    # A vector at cosine 0.85 from "canicule": below the plain bar (0.9), above the context bar (0.8).
    other = lexicon.vectors[lexicon.words.index("écoles")]
    orthogonal = other - (other @ lexicon.vectors[i]) * lexicon.vectors[i]
    vector = 0.85 * lexicon.vectors[i] + np.sqrt(1 - 0.85 ** 2) * orthogonal / np.linalg.norm(orthogonal)
    term = lexicon.stems[i]
    assert lexicon.term_similarity(vector, term) == pytest.approx(0.85, abs=1e-3)
    assert glossary_match(qa.index, "heatwave", vector, threshold=0.9) is None
    assert glossary_match(qa.index, "heatwave", vector, 0.9, context={"autre": 3}, context_threshold=0.8) is None
    match = glossary_match(qa.index, "heatwave", vector, 0.9, context={term: 2}, context_threshold=0.8)
    assert (match.term, match.how) == (term, "glossary")


def test_glossary_looks_up_a_misspelt_english_word_only_when_asked(qa, made_up_glossary, monkeypatch):
    monkeypatch.setattr("qa.retrieve.english_spelling", lambda word: {"heatwav": "heatwave"}.get(word))
    vector = qa.index.lexicon.vectors[qa.index.lexicon.words.index("canicule")]
    assert glossary_match(qa.index, "heatwav", vector, threshold=0.9) is None
    assert glossary_match(qa.index, "heatwav", vector, threshold=0.9, typo=True).term == "canicul"


def test_glossary_comes_before_a_spelling_match_for_english_questions(qa, made_up_glossary):
    vector = qa.index.lexicon.vectors[qa.index.lexicon.words.index("canicule")]
    look_alike = TermMatch("heatwave", "ecol", "spelling", 0.8)
    spelled = {"heatwave": look_alike}
    [french] = match_words(qa.index, ["heatwave"], {"heatwave": vector}, 0.92, spelled)
    assert french == look_alike
    [english] = match_words(qa.index, ["heatwave"], {"heatwave": vector}, 0.92, spelled, glossary_threshold=0.9)
    assert (english.term, english.how) == ("canicul", "glossary")
    # No translation the articles use, and the glossary knows the word: it is spelt right, so its French
    # look-alike is another word and the embedding bridge decides instead.
    # A French word an English expression put into the question ("come into force" → "entrer en vigueur")
    # is not looked up in the English glossary.
    [french_word] = match_words(qa.index, ["heatwave"], {"heatwave": vector}, 0.92, {"heatwave": None},
                                glossary_threshold=0.9, french=frozenset({"heatwave"}))
    assert french_word.how != "glossary"
    spelled = {"bike": TermMatch("bike", "ecol", "spelling", 0.8)}
    [bike] = match_words(qa.index, ["bike"], {"bike": vector}, 0.92, spelled, glossary_threshold=0.9)
    assert bike.how == "embedding" and bike.term == "canicul"
    # A word the glossary does not know (a misspelt name) keeps its spelling match.
    spelled = {"microsft": TermMatch("microsft", "ecol", "spelling", 0.8)}
    assert match_words(qa.index, ["microsft"], {"microsft": vector}, 0.92, spelled, glossary_threshold=0.9) == [spelled["microsft"]]


def test_glossary_is_consulted_for_english_questions_only(qa, made_up_glossary):
    english = query(qa, "What did the heatwave change for the schools in Bordeaux?")
    assert english.language == "en"
    loose = qa.settings.with_(glossary_threshold=-1.0)
    qa.settings = loose
    english = query(qa, "What did the heatwave change for the schools in Bordeaux?")
    assert [(m.term, m.how) for m in english.matches if m.word == "heatwave"] == [("canicul", "glossary")]
    french = query(qa, "Pourquoi la heatwave a-t-elle fermé les écoles de Bordeaux cette semaine ?")
    assert french.language == "fr"
    assert all(m.how != "glossary" for m in french.matches)
    qa.settings = loose.with_(use_glossary=False)
    assert all(m.how != "glossary" for m in query(qa, "What did the heatwave change for the schools in Bordeaux?").matches)


def test_query_coverage(qa):
    assert query(qa, "budget pistes cyclables").coverage == 1.0
    q = query(qa, "budget pistes zzkqwx")
    assert q.coverage == pytest.approx(2 / 3)
    assert [m.word for m in q.matches if m.term is None] == ["zzkqwx"]


def test_standardized_scores_by_hand():
    std = (2 / 3) ** 0.5  # population std of 1, 2, 3
    z = standardized({7: 3.0, 8: 1.0}, [7, 8, 9], missing=2.0)
    assert z == pytest.approx({7: 1 / std, 8: -1 / std, 9: 0.0})
    assert standardized({1: 5.0}, [1], missing=0.0) == {1: 0.0}  # one score: no spread, no preference


def test_combine_is_a_convex_combination_over_the_union_of_candidates():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]  # passage 4 missing: scores as the last one, 0.7
    lexical = [(3, 3.0), (4, 1.0)]          # passages 1 and 2 missing: BM25 0
    fused = combine(dense, lexical, 0.25)
    assert set(fused) == {1, 2, 3, 4}
    dense_values, lexical_values = [0.9, 0.8, 0.7, 0.7], [0.0, 0.0, 3.0, 1.0]
    import statistics
    def z(values, i):
        return (values[i] - statistics.fmean(values)) / statistics.pstdev(values)
    for i, pid in enumerate([1, 2, 3, 4]):
        assert fused[pid] == pytest.approx(0.75 * z(dense_values, i) + 0.25 * z(lexical_values, i))
    assert max(combine(dense, lexical, 0.0), key=combine(dense, lexical, 0.0).get) == 1
    assert max(combine(dense, lexical, 1.0), key=combine(dense, lexical, 1.0).get) == 3


def test_one_rare_word_matched_by_bm25_alone_still_counts():
    """A single lexical hit (a rare name) must weigh in, not be flattened by standardization."""
    dense = [(pid, 0.85 - pid * 0.001) for pid in range(50)]
    fused = combine(dense, [(30, 4.2)], 0.6)
    assert max(fused, key=fused.get) == 30


def test_lexical_share_follows_the_words_bm25_can_see(qa):
    settings = qa.settings.with_(lexical_weight_max=0.6)
    seen = query(qa, "budget pistes cyclables Lyon")
    assert all(m.how in ("exact", "spelling") for m in seen.matches)
    assert lexical_share(seen, settings) == pytest.approx(0.6)
    half = query(qa, "budget zorglub")
    assert [m.how for m in half.matches][0] == "exact" and half.matches[1].how != "exact"
    assert lexical_share(half, settings) == pytest.approx(0.3)


def test_cc_hybrid_score_is_the_combination_of_both_rankings(qa):
    settings = qa.settings.with_(fusion="cc", answer_type_boost=0.0)
    q = query(qa, "budget des pistes cyclables de Lyon")
    n = len(qa.index.passages)
    hits = retrieve(qa.index, q, settings, k=n, mode="hybrid")
    from qa.retrieve import dense_ranking
    dense = dense_ranking(qa.index, q.vector, settings.candidates)
    lexical = lexical_ranking(qa.index, list(q.matched_terms), settings.candidates)
    expected = combine(dense, lexical, lexical_share(q, settings))
    expected = {pid: s for pid, s in expected.items() if qa.index.passages[pid].kind != "byline"}
    assert [h.passage.id for h in hits] == sorted(expected, key=lambda pid: (-expected[pid], pid))[:n]
    for h in hits:
        assert h.score == pytest.approx(expected[h.passage.id])


def test_unknown_fusion_is_refused():
    from qa.errors import InputError
    from qa.settings import Settings
    with pytest.raises(InputError, match="unknown fusion"):
        Settings(fusion="max")
    with pytest.raises(InputError, match="lexical_weight_max"):
        Settings(lexical_weight_max=1.5)


class _Vectors:
    """A stand-in store view that only serves passage vectors."""

    def __init__(self, vectors):
        self._vectors = np.asarray(vectors, dtype=np.float32)

    def vectors(self, ids):
        return self._vectors[list(ids)]


def _unit(*values):
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_discount_hubs_demotes_the_passage_that_resembles_all_the_others():
    # Passages 1, 2, 3 point three ways; passage 0 (the hub) sits between them all.
    view = _Vectors([_unit(1, 1, 1), _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)])
    ranking = [(0, 0.90), (1, 0.88), (2, 0.50), (3, 0.40)]
    assert discount_hubs(view, ranking, 0.0, 2) == ranking
    rescored = discount_hubs(view, ranking, 0.6, 2)
    assert [pid for pid, _ in rescored][:2] == [1, 0]
    # cosine − 0.6 × mean cosine with its 2 nearest fellow candidates
    hub_centrality = (1 / np.sqrt(3) + 1 / np.sqrt(3)) / 2
    assert dict(rescored)[0] == pytest.approx(0.90 - 0.6 * hub_centrality, abs=1e-6)
    assert discount_hubs(view, ranking[:1], 0.6, 2) == ranking[:1]


def test_hub_discount_depends_on_the_question_language(qa):
    settings = qa.settings.with_(hub_discount_en=0.6, hub_discount_fr=0.0)
    assert hub_weight(query(qa, "What did the heatwave change for the schools in Bordeaux?"), settings) == 0.6
    assert hub_weight(query(qa, "Pourquoi Bordeaux a-t-elle fermé ses écoles cette semaine ?"), settings) == 0.0


def test_hits_keep_plain_cosines_when_hubs_are_discounted(qa):
    q = query(qa, "What did the heatwave change for the schools in Bordeaux?")
    settings = qa.settings.with_(hub_discount_en=0.6, hub_discount_fr=0.6)
    hits = retrieve(qa.index, q, settings, k=5, mode="dense")
    assert hits
    for hit in hits:
        assert hit.dense_score == pytest.approx(float(qa.index.embeddings[hit.passage.id] @ q.vector), abs=1e-5)


def test_a_common_french_word_is_not_corrected_to_another_word():
    found = {
        "ministre": TermMatch("ministre", "minister", "spelling", 0.8),      # ministère: another word
        "appelle": TermMatch("appelle", "apple", "spelling", 0.8),
        "hebergemnt": TermMatch("hebergemnt", "heberg", "spelling", 0.85),  # a typo: corrected
        "préside": TermMatch("préside", "president", "spelling", 0.8),      # the same family: kept
        "interdite": TermMatch("interdite", "interd", "spelling", 0.8),     # the same family, shorter stem
        "contrat": TermMatch("contrat", "contr", "spelling", 0.8),          # "contre": too short to be family
        "écoles": TermMatch("écoles", "ecol", "exact"),
    }
    words = list(found)
    zipf = Settings().known_word_zipf
    french = spelling_for(words, "fr", found, zipf)
    assert french["ministre"] is None and french["appelle"] is None and french["contrat"] is None
    assert french["hebergemnt"] == found["hebergemnt"] and french["préside"] == found["préside"]
    assert french["interdite"] == found["interdite"]
    assert french["écoles"] == found["écoles"]
    assert spelling_for(words, "en", found, zipf) == found          # English words go through the glossary
    assert spelling_for(words, "fr", found, None) == found


# ------------------------------------------------------------------ who a person is

def test_who_is_a_named_person_ranks_first_the_passage_saying_what_they_are(tmp_path):
    articles = {"a.txt": "# Le port\n\nLe port sera agrandi, a répété Jeanne Martin devant le port et la mairie du port.\n\n"
                         "Jeanne Martin, avocate du port, défend la mairie.\n\n"
                         "Le port de plaisance accueillera cent bateaux l'été prochain.\n"}
    qa = QA(make_settings(write_corpus(tmp_path / "c", articles), tmp_path / "i"), embedder=FakeEmbedder())
    query = qa.prepare(["Qui est Jeanne Martin ?"])[0]
    assert query.person_asked == frozenset(terms("Jeanne Martin"))
    hits = retrieve(qa.index, query, qa.settings, k=3)
    assert hits[0].passage.text.startswith("Jeanne Martin, avocate")
    # Only hybrid retrieval reorders; the answer's abstention signal for role questions is not involved.
    assert qa.ask("Qui est Jeanne Martin ?").evidence["role_named"] is None
    # Words that are not a name in the passages ("port") are not a person.
    assert qa.prepare(["Qui est port ?"])[0].person_asked == frozenset(terms("port"))
    port_hits = retrieve(qa.index, qa.prepare(["Qui est port ?"])[0], qa.settings, k=3)
    assert not port_hits[0].passage.text.startswith("Jeanne Martin, avocate")


def test_a_which_question_prefers_a_passage_naming_something_specific(tmp_path):
    articles = {"a.txt": "# Les hôpitaux\n\n"
                         "Quatre grands hôpitaux fournissent les données des patients au ministère cette année.\n\n"
                         "Les données viennent des hôpitaux : Hospices civils de Lyon et centre Léon Bérard.\n\n"
                         "Le ministère de la Santé publie les chiffres des hôpitaux chaque année.\n\n"
                         "Le ministère de la Santé répond aux questions.\n"}
    qa = QA(make_settings(write_corpus(tmp_path / "c", articles), tmp_path / "i", name_max_share=0.3),
            embedder=FakeEmbedder())
    query = qa.prepare(["Quels hôpitaux fournissent les données ?"])[0]
    assert query.kind == "name"
    index = qa.index
    named, unnamed, common = (passage_with(qa, "Hospices"), passage_with(qa, "Quatre grands"), passage_with(qa, "publie"))
    assert holds_specific_name(index, named.text, query, 0.3)
    assert not holds_specific_name(index, unnamed.text, query, 0.3)
    # "Santé" and "Ministère" are in two passages of five: not specific under a share of 0.3.
    assert not holds_specific_name(index, common.text, query, 0.3)
    boosted = {h.passage.id: h.score for h in retrieve(index, query, qa.settings, k=5)}
    flat = {h.passage.id: h.score for h in retrieve(index, query, qa.settings.with_(answer_type_boost=0.0), k=5)}
    # One candidate of the four passages names something specific: its boost is weighted by ln(4 / 1).
    assert len(boosted) == 4
    assert boosted[named.id] - flat[named.id] == pytest.approx(qa.settings.answer_type_boost * np.log(4))
    assert boosted[unnamed.id] == pytest.approx(flat[unnamed.id])


@pytest.mark.parametrize("holding, candidates, weight", [(1, 5, np.log(5)), (9, 45, np.log(5)), (45, 45, 0.0), (0, 45, 0.0)])
def test_answer_type_weight_is_the_idf_of_holding_the_type(holding, candidates, weight):
    assert answer_type_weight(holding, candidates) == pytest.approx(weight)


def test_spelling_matches_are_remembered_per_index(hosting_qa, monkeypatch):
    import qa.retrieve as retrieve_module

    calls = []
    real = retrieve_module._closest_spelling
    monkeypatch.setattr(retrieve_module, "_closest_spelling", lambda *args: calls.append(args[1]) or real(*args))
    first = spelled_match(hosting_qa.index, "hebergemnt")
    assert spelled_match(hosting_qa.index, "hebergemnt") == first and calls == ["hebergemnt"]
    assert hosting_qa.index.spelling_cache["hebergemnt"] == first
    # A word with no close spelling is remembered too (as None).
    assert spelled_match(hosting_qa.index, "zzzzzzzz") is None and calls == ["hebergemnt", "zzzzzzzz"]
    assert spelled_match(hosting_qa.index, "zzzzzzzz") is None and len(calls) == 2
