"""qa.clean: metadata and prose spans of raw news files, the text itself never rewritten."""

from __future__ import annotations

import pytest
from conftest import ARTICLE_CANICULE, ARTICLE_OBSERVATOIRE, ARTICLE_VELO, FAKE_BOILERPLATE, SEEDS

from qa.clean import clean_article, parse_date
from qa.records import Article, Span

SEED_BOILERPLATE = [
    "TEST 15 JOURS", "© AFP - LOIC VENANCE", "CREDIT : Var Actu", "(Crédits : Reuters)", "Lecture 8 min.", "1453 mots",
    "Réagir", "Votre email ne sera pas affiché publiquement", "Tous les champs sont obligatoires",
    "Merci pour votre commentaire", "Besoin d’informations complémentaires ?", "Contactez",
    "le service d’études à la demande", "Lire aussi", "<https://", "écrit par Monique B",
    "Par Clarisse Treilles", "Mis à jour le 04 mars 2024",
]


def clean(text: str, doc: str = "a.txt") -> Article:
    return clean_article(Article(doc=doc, text=text))


def seed(name_prefix: str) -> Article:
    [path] = sorted(SEEDS.glob(f"{name_prefix}_*.txt"))
    return clean(path.read_text(encoding="utf-8"), path.name)


def spans_text(article: Article, spans) -> list[str]:
    return [article.text[s.start:s.end] for s in spans]


def assert_spans_sane(article: Article) -> None:
    """Every span lies inside the text, is trimmed, non-empty, and the spans of one kind are ordered and disjoint."""
    for kind in ("paragraphs", "headings", "bylines"):
        spans = getattr(article, kind)
        for s in spans:
            assert 0 <= s.start < s.end <= len(article.text), (kind, s)
            piece = article.text[s.start:s.end]
            assert piece == piece.strip(), (kind, piece[:40])
        for a, b in zip(spans, spans[1:]):
            assert a.end <= b.start, (kind, a, b)
    prose = sorted([*article.paragraphs, *article.headings], key=lambda s: (s.start, s.end))
    for a, b in zip(prose, prose[1:]):
        assert a.end <= b.start


# ------------------------------------------------------------------ made-up articles

def test_made_up_article_metadata():
    a = clean(ARTICLE_VELO, "velo_lyon.txt")
    assert a.title == "Lyon étend son réseau de pistes cyclables"
    assert a.author == "Jeanne Dupont"
    assert a.date == "2024-03-04"
    assert a.url == "https://www.exemple.fr/lyon/pistes-cyclables-2024"
    assert spans_text(a, a.bylines) == ["Par Jeanne Dupont. Publié le 04 mars 2024 à 10h00"]


def test_made_up_article_text_is_never_rewritten():
    for raw in (ARTICLE_VELO, ARTICLE_CANICULE, ARTICLE_OBSERVATOIRE):
        a = clean(raw)
        assert a.text == raw
        assert_spans_sane(a)


def test_made_up_article_boilerplate_is_not_prose():
    for raw in (ARTICLE_VELO, ARTICLE_CANICULE, ARTICLE_OBSERVATOIRE):
        a = clean(raw)
        for piece in spans_text(a, a.paragraphs) + spans_text(a, a.headings):
            for junk in FAKE_BOILERPLATE + ["Par Jeanne Dupont", "Publié le"]:
                assert junk not in piece


def test_paragraph_broken_mid_sentence_is_one_paragraph():
    a = clean(ARTICLE_VELO)
    joined = [p for p in spans_text(a, a.paragraphs) if "attendue depuis" in p]
    assert len(joined) == 1
    assert joined[0].startswith("Selon l’adjoint aux mobilités")
    assert joined[0].endswith("pour les vélos cargos.")
    assert "depuis\n\nlongtemps" in joined[0]


def test_typographic_characters_are_kept_as_is():
    a = clean(ARTICLE_VELO)
    prose = "".join(spans_text(a, a.paragraphs))
    assert "«\u00a0le vélo" in prose and "d’ici 2026" in prose and "45\u00a0millions" in prose


def test_markdown_article_with_section_heading_and_comment_footer():
    a = clean(ARTICLE_CANICULE, "canicule_bordeaux.md")
    assert a.title == "Canicule : Bordeaux ferme ses écoles plus tôt"
    assert a.author is None
    assert a.date == "2023-06-12"
    assert a.url is None
    assert spans_text(a, a.headings) == ["Les parents inquiets"]
    paragraphs = spans_text(a, a.paragraphs)
    assert len(paragraphs) == 2
    assert paragraphs[-1].endswith("trois gymnases climatisés.")
    # Nothing after the comment form's "Réagir" is article text.
    footer = a.text.index("Réagir")
    assert all(s.end <= footer for s in (*a.paragraphs, *a.headings, *a.bylines))


def test_article_without_metadata():
    a = clean(ARTICLE_OBSERVATOIRE)
    assert (a.author, a.date, a.url) == (None, None, None)
    # No title line: a stand-in from its first words, marked as such (never the file name).
    assert a.title_inferred and a.title.startswith("L’observatoire du pic du Midi a installé") and a.title.endswith("…")
    assert a.lang == "fr" and not a.date_inferred
    assert spans_text(a, a.paragraphs)[0].startswith("L’observatoire du pic du Midi")
    assert len(a.paragraphs) == 2


def test_soft_wrapped_long_lines_join_one_paragraph():
    text = ("# Travaux\n\nLe conseil municipal de la commune a voté hier soir, après un long débat, un budget de\n"
            "trois millions d'euros pour la rénovation des écoles du quartier nord, qui en avaient besoin.\n")
    a = clean(text)
    assert spans_text(a, a.paragraphs) == [text[text.index("Le conseil"):].strip()]


def test_hard_wrapped_paragraph_is_one_paragraph():
    body = ("Le conseil municipal a voté hier soir un budget de trois millions\n"
            "d'euros pour la rénovation des écoles du quartier nord, qui en avaient\n"
            "bien besoin après vingt ans sans entretien.")
    a = clean(f"# Travaux\n\n{body}\n")
    assert spans_text(a, a.paragraphs) == [body]
    assert a.headings == ()


def test_duplicated_lines_are_kept_once():
    line = "La préfecture a publié un arrêté qui interdit la baignade dans le lac jusqu'à nouvel ordre."
    a = clean(f"{line}\n\n{line}\n")
    assert len(a.paragraphs) == 1


def test_crlf_text_is_handled_without_rewriting():
    text = "# Titre de l'article\r\n\r\nPar Paul Durand. Publié le 2 mai 2023\r\n\r\nLe maire a inauguré la nouvelle médiathèque samedi matin.\r\n"
    a = clean(text)
    assert a.title == "Titre de l'article"
    assert a.author == "Paul Durand" and a.date == "2023-05-02"
    assert spans_text(a, a.paragraphs) == ["Le maire a inauguré la nouvelle médiathèque samedi matin."]


def test_only_headings_and_furniture_gives_no_paragraph():
    a = clean("# Un titre\n\nTEST 15 JOURS\n\n© AFP - X\n\nUn intertitre\n")
    assert a.paragraphs == ()


# ------------------------------------------------------------------ the real seeds

def test_seed_000_metadata():
    a = seed("000")
    assert a.title == "La CNIL autorise l'hébergement des données de santé françaises par Microsoft"
    assert a.author == "Monique B"
    assert a.date == "2024-02-18"
    assert a.url == ("https://www.francesoir.fr/societe-sante/"
                     "la-cnil-autorise-l-hbergement-des-donnees-de-sante-francaises-par-microsoft")


def test_seed_002_metadata():
    a = seed("002")
    assert a.title == "L’hébergement d’EMC2 par Azure : imbroglio juridique et technique"
    assert a.author == "Clarisse Treilles"
    assert a.date == "2024-03-04"
    assert a.url is None


@pytest.mark.parametrize("prefix, words", [("001", "Faute de prestataire local ou européen"),
                                            ("003", "La décision récente de la Commission")])
def test_seeds_without_title_or_date(prefix, words):
    a = seed(prefix)
    assert a.title.startswith(words) and a.title_inferred
    assert a.doc not in a.title
    assert a.date is None
    assert a.author is None


def test_seed_004_is_not_dated_by_a_guess():
    # "Jeudi 9 octobre" with 2019, the latest year it names: 9 October is a Wednesday in 2019 and a
    # Friday in 2020, so no date is inferred (the article is from 2020; never shown as 2024).
    a = seed("004")
    assert a.date is None and not a.date_inferred


def test_seed_004_title():
    assert seed("004").title.startswith("Health Data Hub")


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_seed_boilerplate_never_inside_prose(prefix):
    a = seed(prefix)
    assert a.paragraphs, "every seed has article prose"
    assert_spans_sane(a)
    for piece in spans_text(a, a.paragraphs) + spans_text(a, a.headings):
        for junk in SEED_BOILERPLATE:
            assert junk not in piece, (junk, piece[:80])


def test_seed_000_mid_sentence_break_is_one_paragraph():
    a = seed("000")
    joined = [p for p in spans_text(a, a.paragraphs) if "l'entreprise\n\naméricaine ne répond pas" in p]
    assert len(joined) == 1
    assert joined[0].startswith("Le fait que Health Data Hub se repose sur Microsoft Azure")


def test_seed_003_caption_before_photo_credit_is_dropped():
    a = seed("003")
    assert "données médicales menacées Microsoft" not in spans_text(a, a.headings)
    assert "Les craintes de la Cnil" in spans_text(a, a.headings)


def test_seed_004_footer_and_reading_time_are_dropped():
    a = seed("004")
    paragraphs = spans_text(a, a.paragraphs)
    assert paragraphs[0].startswith("Coup de tonnerre")
    assert paragraphs[-1].endswith("Il complète le...")


# ------------------------------------------------------------------ dates

@pytest.mark.parametrize("line, expected", [
    ("18 février 2024", "2024-02-18"),
    ("écrit par Monique B | 18 février 2024", "2024-02-18"),
    ("Publié le 04 mars 2024 à 15h28 - Mis à jour le 05 mars 2024", "2024-03-04"),
    ("le 1er mars 2024", "2024-03-01"),
    ("le 3 aout 2023", "2023-08-03"),
    ("le 3 août 2023", "2023-08-03"),
    ("LE 25 DÉCEMBRE 2022", "2022-12-25"),
    ("March 4, 2024", "2024-03-04"),
    ("published on 4 March 2024", "2024-03-04"),
    ("2024-03-04", "2024-03-04"),
    ("04/03/2024", "2024-03-04"),
    ("aucune date ici", None),
    ("le 31 janvier", None),
    ("32 mars 2024", None),
    ("2024-13-01", None),
    ("", None),
])
def test_parse_date(line, expected):
    assert parse_date(line) == expected


@pytest.mark.parametrize("line", ["31 février 2024", "2023-02-29", "31/04/2024"])
def test_parse_date_rejects_impossible_dates(line):
    assert parse_date(line) is None


def test_byline_without_date_is_not_a_byline():
    a = clean("Par ailleurs, la mairie a confirmé que les travaux commenceront en septembre prochain.\n")
    assert a.author is None and a.bylines == ()
    assert len(a.paragraphs) == 1


def test_span_type():
    a = clean(ARTICLE_VELO)
    assert all(isinstance(s, Span) for s in a.paragraphs)
