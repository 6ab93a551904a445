"""qa.chunk: sentences and passages are exact slices of the article, aware of French punctuation."""

from __future__ import annotations

import pytest
from conftest import FAKE_ARTICLES, SEEDS

from qa.chunk import chunk_article, chunk_corpus, pack, split_sentences
from qa.clean import clean_article
from qa.records import Article, Span


def sentences(text: str) -> list[str]:
    return [text[s.start:s.end] for s in split_sentences(text, Span(0, len(text)))]


@pytest.mark.parametrize("text, expected", [
    ("Il pleut. Il vente.", ["Il pleut.", "Il vente."]),
    ("Vraiment ? Oui ! Non… Peut-être.", ["Vraiment ?", "Oui !", "Non…", "Peut-être."]),
    ("Il hésite... Puis il part.", ["Il hésite...", "Puis il part."]),
    ("Il a dit : « C'est fini.» Puis il est parti.", ["Il a dit : « C'est fini.»", "Puis il est parti."]),
    ("Il a cité « le droit des États-Unis » sans preuve. Le juge a tranché.",
     ["Il a cité « le droit des États-Unis » sans preuve.", "Le juge a tranché."]),
    ("Elle répond. « Nous irons jusqu'au bout », dit-elle.", ["Elle répond.", "« Nous irons jusqu'au bout », dit-elle."]),
    ("M. Dupont est venu. Il est reparti.", ["M. Dupont est venu.", "Il est reparti."]),
    ("Mme. Durand et Dr. Martin arrivent. Ils soignent.", ["Mme. Durand et Dr. Martin arrivent.", "Ils soignent."]),
    ("Le Dr Martin arrive. Il soigne.", ["Le Dr Martin arrive.", "Il soigne."]),
    ("La hausse est de 1,5 %. Elle continue.", ["La hausse est de 1,5 %.", "Elle continue."]),
    ("Le taux passe de 1.5 à 2.5 points. Fin.", ["Le taux passe de 1.5 à 2.5 points.", "Fin."]),
    ("Des pommes, des poires, etc. et des fraises. Fin.", ["Des pommes, des poires, etc. et des fraises.", "Fin."]),
    ("Des pommes, des poires, etc. Puis des fraises.", ["Des pommes, des poires, etc.", "Puis des fraises."]),
    ("J. R. R. Tolkien a écrit. Il est mort.", ["J. R. R. Tolkien a écrit.", "Il est mort."]),
    ("Selon J. Lefèvre, tout va bien. Fin.", ["Selon J. Lefèvre, tout va bien.", "Fin."]),
    ("Voir l'art. 3 du décret. Il s'applique.", ["Voir l'art. 3 du décret.", "Il s'applique."]),
    ("He said \"yes.\" Then he left.", ["He said \"yes.\"", "Then he left."]),
    ("Fin de phrase.\nNouvelle ligne.", ["Fin de phrase.", "Nouvelle ligne."]),
    ("*Texte en italique.* **Suite en gras.**", ["Texte en italique.", "Suite en gras."]),
    ("sans point final", ["sans point final"]),
    ("", []),
    ("  ...  ", []),
])
def test_split_sentences(text, expected):
    assert sentences(text) == expected


def test_split_sentences_french_spaced_closing_guillemet():
    text = "Il a dit : « C'est fini. » Puis il est parti."
    assert sentences(text) == ["Il a dit : « C'est fini. »", "Puis il est parti."]


def test_split_sentences_respects_the_span():
    text = "Avant. Le milieu ici. Encore. Après."
    span = Span(text.index("Le milieu"), text.index("Après") - 1)
    got = split_sentences(text, span)
    assert [text[s.start:s.end] for s in got] == ["Le milieu ici.", "Encore."]
    assert all(span.start <= s.start < s.end <= span.end for s in got)


def test_pack_groups_up_to_max_chars_and_keeps_long_sentences_whole():
    spans = [Span(0, 40), Span(41, 80), Span(81, 300), Span(301, 340), Span(341, 380)]
    assert pack(spans, 100) == [Span(0, 80), Span(81, 300), Span(301, 380)]


def test_pack_attaches_a_short_last_sentence():
    # The last sentence (10 chars) is less than max/4: it joins the passage before (within 1.5 × max).
    assert pack([Span(0, 90), Span(91, 101)], 100) == [Span(0, 101)]
    assert pack([], 100) == []


# ------------------------------------------------------------------ invariants of whole articles

def _articles():
    out = [clean_article(Article(doc=name, text=text)) for name, text in FAKE_ARTICLES.items()]
    out += [clean_article(Article(doc=p.name, text=p.read_text(encoding="utf-8"))) for p in sorted(SEEDS.glob("*.txt"))]
    return out


ARTICLES = _articles()


def assert_passages_valid(article: Article, passages, max_chars: int) -> None:
    for p in passages:
        assert p.doc == article.doc
        assert p.text == article.text[p.start:p.end], "a passage is an exact slice of the article"
        assert p.text.strip() == p.text and p.text, "no empty or untrimmed passage"
        assert p.para_start <= p.start < p.end <= p.para_end
        assert Span(p.para_start, p.para_end) in (*article.paragraphs, *article.bylines)
        if Span(p.start, p.end) in article.bylines:
            continue  # a byline is quoted whole, whatever its length
        n_sentences = len(split_sentences(article.text, Span(p.start, p.end)))
        if p.end - p.start > max_chars:
            # Longer than the target only as one (not hard-split) sentence, or as the short tail joined to
            # the last passage of its paragraph (at most 1.5 × max_chars; see chunk.pack).
            single = n_sentences == 1 and p.end - p.start <= 3 * max_chars
            last_of_paragraph = not any(q.para_start == p.para_start and q.start > p.start for q in passages)
            tail = last_of_paragraph and p.end - p.start <= 1.5 * max_chars
            assert single or tail, (p.end - p.start, p.text[:60])


@pytest.mark.parametrize("max_chars", [50, 120, 320, 1000])
@pytest.mark.parametrize("article", ARTICLES, ids=[a.doc for a in ARTICLES])
def test_passages_are_slices_within_their_paragraph(article, max_chars):
    passages = chunk_article(article, max_chars)
    assert passages, "every test article has prose"
    assert_passages_valid(article, passages, max_chars)
    assert [p.id for p in passages] == list(range(len(passages)))
    # Passages do not overlap, and together they hold every word of the prose.
    ordered = sorted(passages, key=lambda p: p.start)
    for a, b in zip(ordered, ordered[1:]):
        assert a.end <= b.start
    covered = bytearray(len(article.text))
    for p in passages:
        covered[p.start:p.end] = b"\1" * (p.end - p.start)
    for paragraph in article.paragraphs:
        for i in range(paragraph.start, paragraph.end):
            if article.text[i].isalnum():
                assert covered[i], article.text[max(0, i - 30):i + 30]


def test_passage_heading_is_the_section_heading_before_it():
    article = next(a for a in ARTICLES if a.doc == "canicule_bordeaux.md")
    passages = chunk_article(article, 320)
    by_text = {p.text[:20]: p.heading for p in passages}
    assert by_text["La préfecture de la "] is None
    assert by_text["Le Dr. Sophie Marcha"] == "Les parents inquiets"


def test_bylines_are_their_own_passages():
    article = next(a for a in ARTICLES if a.doc == "velo_lyon.txt")
    passages = chunk_article(article, 320)
    assert passages[0].text == "Par Jeanne Dupont. Publié le 04 mars 2024 à 10h00"


def test_chunk_corpus_numbers_passages_consecutively():
    passages = chunk_corpus(ARTICLES, 200)
    assert [p.id for p in passages] == list(range(len(passages)))
    assert {p.doc for p in passages} == {a.doc for a in ARTICLES}


def test_first_id_offsets_ids():
    article = ARTICLES[0]
    assert [p.id for p in chunk_article(article, 320, first_id=7)] == list(range(7, 7 + len(chunk_article(article, 320))))


# ------------------------------------------------------------------ edge cases

def _cleaned(text: str) -> Article:
    return clean_article(Article(doc="x.txt", text=text))


def test_megabyte_single_line_sentence_is_hard_split():
    text = "mot " * 250_000 + "fin."
    assert len(text) > 1_000_000
    article = Article(doc="big.txt", text=text, paragraphs=(Span(0, len(text)),))
    passages = chunk_article(article, 320)
    assert len(passages) > 1_000_000 // 320 // 2
    for p in passages:
        assert p.text == text[p.start:p.end] and p.text
        assert p.end - p.start <= 480  # max_chars, or 1.5 × for the tail joined to the last one
    assert sum(p.end - p.start <= 320 for p in passages) >= len(passages) - 1


def test_megabyte_line_without_spaces_is_cut_anyway():
    text = "x" * 1_000_000
    article = Article(doc="blob.txt", text=text, paragraphs=(Span(0, len(text)),))
    passages = chunk_article(article, 500)
    assert all(p.end - p.start <= 750 for p in passages)
    assert passages[0].start == 0 and passages[-1].end == len(text)
    assert "".join(p.text for p in passages) == text


def test_megabyte_article_through_clean_and_chunk():
    text = "# Titre\n\n" + "Le texte continue sans jamais finir " * 30_000 + "et s'arrête enfin.\n"
    article = _cleaned(text)
    passages = chunk_article(article, 320)
    assert passages and all(p.end - p.start <= 480 for p in passages)


def test_empty_paragraph_list_gives_no_passage():
    assert chunk_article(Article(doc="e.txt", text="Quelque chose."), 320) == []


def test_only_headings_gives_no_passage():
    article = _cleaned("# Titre\n\nUn intertitre\n\nUn autre intertitre\n")
    assert article.paragraphs == ()
    assert chunk_article(article, 320) == []


def test_mixed_french_and_english_text():
    text = ("Le ministre a déclaré : « Nous continuerons. » The minister also said in English: we will keep going. "
            "Mr. Smith disagreed. M. Durand aussi.\n")
    article = _cleaned(text)
    passages = chunk_article(article, 60)
    assert_passages_valid(article, passages, 60)
    got = [s for p in passages for s in sentences(p.text)]
    assert "Mr. Smith disagreed." in got and "M. Durand aussi." in got


def test_paragraph_of_only_punctuation_gives_no_passage():
    article = Article(doc="p.txt", text="... --- !!!", paragraphs=(Span(0, 11),))
    assert chunk_article(article, 320) == []
